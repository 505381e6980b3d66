"""Datasets stored as MATLAB .mat files: SVHN's cropped digits and the Olivetti faces."""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from vaekit.data.npyfile import MAX_DEFLATE_RATIO
from vaekit.errors import VaekitError


def load_mat(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The named variables of a .mat file (MATLAB v5; scipy reads it without running code),
    each checked by `check_mat` before scipy allocates anything for it."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    check_mat(path, keys)
    try:
        content = loadmat(path, variable_names=list(keys))
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except (
        MatReadError,
        ValueError,
        TypeError,
        OSError,
        EOFError,
        IndexError,
        KeyError,
        NotImplementedError,
        zlib.error,
    ) as err:
        raise VaekitError(f"{path}: not a readable .mat file ({err})") from None
    missing = [k for k in keys if k not in content]
    if missing:
        raise VaekitError(f"{path}: no variable {missing[0]!r} in this .mat file")
    return content


# MATLAB v5 data types (the mi* codes) and their sizes in bytes; array classes (mx*).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4}
_MATRIX, _COMPRESSED = 14, 15
_NUMERIC_CLASSES = range(6, 16)  # double, single, int8 ... uint64
_COMPLEX = 0x0800


def check_mat(path: Path, keys: tuple[str, ...]) -> None:
    """Check a MATLAB v5 file's top-level variables against its size before scipy reads it:
    each fits in the file (a compressed one in what its bytes can expand to), and each named
    in `keys` is a real numeric array whose stored data is exactly what its dimensions need.
    scipy trusts these headers, and builds whatever array they claim."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(128)
            if len(head) < 128 or head[126:128] not in (b"IM", b"MI"):
                raise VaekitError(
                    f"{path}: not a readable .mat file (not MATLAB v5; v4 and v7.3/HDF5 "
                    "files are not read)"
                )
            order = "<" if head[126:128] == b"IM" else ">"
            at = 128
            while at + 8 <= size:
                f.seek(at)
                kind, nbytes = struct.unpack(f"{order}2I", f.read(8))
                if at + 8 + nbytes > size:
                    raise VaekitError(f"{path}: truncated (a variable runs past the end)")
                if kind in (_MATRIX, _COMPRESSED):
                    _check_variable(f, kind, nbytes, order, keys, path)
                at += 8 + nbytes
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except (OSError, zlib.error, struct.error) as err:
        raise VaekitError(f"{path}: not a readable .mat file ({err})") from None


def _check_variable(
    f: BinaryIO, kind: int, nbytes: int, order: str, keys: tuple[str, ...], path: Path
) -> None:
    """One top-level variable (`f` just after its tag)."""
    if kind == _COMPRESSED:
        inner = zlib.decompressobj().decompress(f.read(min(nbytes, 4096)), 1024)
        room = MAX_DEFLATE_RATIO * nbytes
    else:
        inner = struct.pack(f"{order}2I", kind, nbytes) + f.read(min(nbytes, 1024))
        room = nbytes + 8
    try:
        cls, flags, dims, name, data_type, data_bytes, header = _matrix_header(inner, order)
    except (struct.error, ValueError, KeyError) as err:
        raise VaekitError(f"{path}: a damaged variable header ({err})") from None
    if name not in keys:
        return
    if cls not in _NUMERIC_CLASSES or flags & _COMPLEX:
        raise VaekitError(f"{path}: variable {name!r} is not an array of real numbers")
    needed = math.prod(dims) * _TYPE_SIZES[data_type]
    if data_bytes != needed or header + data_bytes > room:
        raise VaekitError(
            f"{path}: variable {name!r} claims dimensions {dims} ({needed} bytes) and stores "
            f"{data_bytes} bytes, in {room - header} available (damaged)"
        )


def _matrix_header(inner: bytes, order: str) -> tuple[int, int, tuple, str, int, int, int]:
    """(class, flags, dims, name, data type, data bytes, header length) of a miMATRIX element
    whose first bytes are `inner` (from its tag on)."""
    kind, _ = struct.unpack_from(f"{order}2I", inner)
    if kind != _MATRIX:
        raise ValueError(f"element type {kind}, not a matrix")
    at = 8
    parts = []
    for _ in range(3):  # array flags, dimensions, name
        first, second = struct.unpack_from(f"{order}2I", inner, at)
        if first >> 16:  # the small element format: type and size in 4 bytes, data in 4
            data_type, size, start, at = first & 0xFFFF, first >> 16, at + 4, at + 8
        else:
            data_type, size, start = first, second, at + 8
            at = start + -(-size // 8) * 8
        if data_type not in _TYPE_SIZES or start + size > len(inner):
            raise ValueError("a sub-element is damaged")
        parts.append((data_type, inner[start : start + size]))
    (_, flags_bytes), (dims_type, dims_bytes), (_, name_bytes) = parts
    flags = struct.unpack_from(f"{order}I", flags_bytes)[0]
    count = len(dims_bytes) // 4
    if dims_type != 5 or count < 2:
        raise ValueError("dimensions are not int32")
    dims = struct.unpack_from(f"{order}{count}i", dims_bytes)
    if min(dims) < 0:
        raise ValueError(f"negative dimensions {dims}")
    data_type, data_bytes = struct.unpack_from(f"{order}2I", inner, at)
    if data_type >> 16:
        data_type, data_bytes = data_type & 0xFFFF, data_type >> 16
    if data_type not in _TYPE_SIZES:
        raise ValueError(f"unknown data type {data_type}")
    name = name_bytes.decode("latin-1")
    return flags & 0xFF, flags, dims, name, data_type, data_bytes, at + 8


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """SVHN cropped digits: X (32, 32, 3, N) uint8 and y (N, 1) with 10 meaning digit 0.

    Returns images (N, 3, 32, 32) uint8 and labels (N,) in 0..9.
    """
    content = load_mat(path, ("X", "y"))
    x, y = np.asarray(content["X"]), np.asarray(content["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        raise VaekitError(f"{path}: expected X of uint8 (32, 32, 3, N), got {x.dtype} {x.shape}")
    if len(y) != x.shape[3]:
        raise VaekitError(f"{path}: {len(y)} labels for {x.shape[3]} images")
    labels = y.astype(np.int64) % 10
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels


def read_svhn(paths: dict[str, Path], spec: object = None) -> dict[str, np.ndarray]:
    train, train_labels = read_svhn_mat(paths["train"])
    if "extra" in paths:
        extra, extra_labels = read_svhn_mat(paths["extra"])
        train, train_labels = (
            np.concatenate([train, extra]),
            np.concatenate([train_labels, extra_labels]),
        )
    raw = {"train_images": train, "train_labels": train_labels}
    if "test" in paths:
        raw["test_images"], raw["test_labels"] = read_svhn_mat(paths["test"])
    return raw


def read_olivetti(paths: dict[str, Path], spec: object = None) -> dict[str, np.ndarray]:
    """Olivetti faces: `faces` is 4096 x 400 uint8, each column a 64x64 image stored
    column-major; the person (0-39) is the label, 10 images each."""
    path = paths["faces"]
    faces = np.asarray(load_mat(path, ("faces",))["faces"])
    if faces.ndim != 2 or faces.shape[0] != 64 * 64:
        raise VaekitError(f"{path}: expected faces of shape (4096, N), got {faces.shape}")
    if faces.dtype != np.uint8:
        if faces.min() < 0 or faces.max() > 255:
            raise VaekitError(f"{path}: face pixels outside 0..255")
        faces = faces.astype(np.uint8)
    n = faces.shape[1]
    images = faces.T.reshape(n, 64, 64).transpose(0, 2, 1)  # column-major -> row-major
    return {
        "train_images": np.ascontiguousarray(images[:, None]),
        "train_labels": np.arange(n, dtype=np.int64) // 10,
    }
