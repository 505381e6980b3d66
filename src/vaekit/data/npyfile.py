""".npy and .npz files read with every size checked before anything is allocated.

A .npy file is a magic string, a header (a Python literal: dtype, order, shape) and the raw
array bytes; an .npz file is a zip archive of them. numpy's own loader trusts the header:
a few bytes claiming shape (10**9,) make it allocate gigabytes before it finds the data
missing. Here the bytes the header claims must be exactly those the file (or the zip entry)
holds, an array of Python objects is refused (never unpickled), and the array is filled as
its bytes arrive, so that memory is only ever taken for data that is really there.
"""

from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from vaekit.errors import VaekitError

# Deflate expands at most 1032 to 1: an entry claiming more is damaged or a zip bomb.
MAX_DEFLATE_RATIO = 1032
_HEADER_READERS = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}
# What numpy's header parsing raises on a damaged header (it evaluates a Python literal).
_HEADER_ERRORS = (
    ValueError,
    TypeError,
    SyntaxError,
    tokenize.TokenError,
    RecursionError,
    MemoryError,
    KeyError,
    IndexError,
    OverflowError,
)


def read_npy(path: Path) -> np.ndarray:
    """The array in a .npy file."""
    try:
        with path.open("rb") as f:
            return read_array(f, os.fstat(f.fileno()).st_size, str(path))
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except OSError as err:
        raise VaekitError(f"{path}: cannot read ({err.strerror or err})") from None


def npz_names(path: Path) -> list[str]:
    """The names of the arrays an .npz file holds (its entries, without ".npy")."""
    with _npz(path) as archive:
        return [_array_name(m) for m in archive.infolist() if not m.is_dir()]


def read_npz(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays `names` of an .npz file (those it holds)."""
    with _npz(path) as archive:
        members = {_array_name(m): m for m in archive.infolist() if not m.is_dir()}
        return {
            name: _read_member(archive, members[name], f"{path}: {name}")
            for name in names
            if name in members
        }


@contextmanager
def _npz(path: Path) -> Iterator[zipfile.ZipFile]:
    """The open archive; whatever the zip layer raises becomes a VaekitError naming it."""
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,  # an unknown compression
        RuntimeError,  # an encrypted entry
    ) as err:
        raise VaekitError(f"{path}: not a readable .npz file ({_first_line(err)})") from None


def _array_name(member: zipfile.ZipInfo) -> str:
    return member.filename.removesuffix(".npy")


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, where: str) -> np.ndarray:
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise VaekitError(f"{where}: compressed with zip method {member.compress_type}")
    if member.file_size > MAX_DEFLATE_RATIO * member.compress_size + 1024:
        raise VaekitError(
            f"{where}: claims {member.file_size} bytes from {member.compress_size} "
            "compressed ones, more than deflate can expand to (damaged, or a zip bomb)"
        )
    with archive.open(member) as f:
        return read_array(f, member.file_size, where)


def read_array(f: BinaryIO, size: int, where: str) -> np.ndarray:
    """One array in .npy format from `f`, which holds `size` bytes in all."""
    try:
        version = npy_format.read_magic(f)
        reader = _HEADER_READERS.get(version)
        if reader is None:
            raise ValueError(f"format version {version[0]}.{version[1]} is not read here")
        shape, fortran, dtype = reader(f)
    except _HEADER_ERRORS as err:
        raise VaekitError(f"{where}: not a readable .npy array ({_first_line(err)})") from None
    if dtype.hasobject:
        raise VaekitError(
            f"{where}: not a readable array: it holds Python objects ({dtype}), which are "
            "refused since loading them could run code"
        )
    # Also refused: a shape with a 0 whose other sides numpy cannot index.
    extent = math.prod(max(d, 1) for d in shape) * dtype.itemsize
    if dtype.itemsize == 0 or any(d < 0 for d in shape) or extent >= 2**62:
        raise VaekitError(f"{where}: an array of {dtype} and shape {shape} cannot hold data")
    expected, held = math.prod(shape) * dtype.itemsize, size - f.tell()
    if expected != held:
        what = "truncated" if held < expected else "damaged (bytes after the array)"
        raise VaekitError(
            f"{where}: {what}: its header claims {dtype} {shape}, {expected} bytes, "
            f"and {held} follow it"
        )
    array = np.empty(math.prod(shape), dtype)  # pages are taken only as they are filled
    view = memoryview(array.view(np.uint8))
    done = 0
    while done < expected:
        got = f.readinto(view[done:])
        if not got:
            raise VaekitError(f"{where}: truncated: {done} of {expected} array bytes")
        done += got
    return array.reshape(shape, order="F" if fortran else "C")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__
