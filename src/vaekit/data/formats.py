"""File readers. Each checks what it reads and names the file and the fault in its error.

IDX (LeCun's MNIST format, also Fashion-MNIST): a 4-byte magic number -- two zero bytes, a
type code, the number of dimensions -- then one big-endian int32 per dimension, then the data.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from vaekit.data.npyfile import MAX_DEFLATE_RATIO, npz_names, read_npy, read_npz
from vaekit.errors import VaekitError

if TYPE_CHECKING:
    from vaekit.data.spec import DatasetSpec

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


# The most a .gz file is decompressed to in memory: far above any dataset file vaekit reads
# this way (MNIST's largest is 47 MB), far below what would exhaust a machine.
MAX_GZIP_BYTES = 1 << 32


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's content, decompressed when it ends in .gz (at most MAX_GZIP_BYTES); with
    `limit`, only its first `limit` bytes."""
    try:
        if path.suffix != ".gz":
            with path.open("rb") as f:
                return f.read() if limit is None else _read_upto(f, limit)
        # one byte past the most, so that a larger file is refused, not cut at the most
        most = MAX_GZIP_BYTES + 1 if limit is None else min(limit, MAX_GZIP_BYTES + 1)
        with gzip.open(path, "rb") as f:
            data = _read_upto(f, most)
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as err:
        # gzip raises BadGzipFile (an OSError) or EOFError for a cut-off stream.
        raise VaekitError(f"{path}: cannot read ({err})") from None
    if len(data) > MAX_GZIP_BYTES:
        raise VaekitError(f"{path}: decompresses to more than {MAX_GZIP_BYTES} bytes")
    return data


def _read_upto(f: BinaryIO, most: int) -> bytes:
    """Up to `most` bytes of `f`, read in pieces: memory grows only as data really comes."""
    data = bytearray()
    while len(data) < most and (piece := f.read(min(1 << 22, most - len(data)))):
        data += piece
    return bytes(data)


def _idx_header(data: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """(type, shape, header length) from an IDX file's first bytes."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        magic = data[:4].hex() if data else "empty file"
        raise VaekitError(f"{path}: not an IDX file (magic number {magic})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise VaekitError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if 0 in shape:
        raise VaekitError(f"{path}: an IDX file of shape {shape} holds nothing")
    return _IDX_TYPES[data[2]], shape, header


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Parse IDX bytes into an array of the stored type and shape."""
    dtype, shape, header = _idx_header(data, path)
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "too long"
        raise VaekitError(
            f"{path}: {what} IDX file: shape {shape} needs {expected} data bytes, found {found}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path: Path, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (.gz or not); with `sha256`, check the decompressed bytes first.

    Only as many bytes as the header claims (and one more, to tell a file that is too long)
    are read, and a .gz file whose header claims more than its size could expand to is
    refused unread.
    """
    dtype, shape, header = _idx_header(read_bytes(path, 4 + 4 * 255), path)
    claimed = header + math.prod(shape) * dtype.itemsize
    if path.suffix == ".gz" and claimed > MAX_DEFLATE_RATIO * _size(path) + 1024:
        raise VaekitError(
            f"{path}: its IDX header claims shape {shape}, more than this "
            f"{_size(path)}-byte .gz file can hold (a damaged header)"
        )
    data = read_bytes(path, None if sha256 else claimed + 1)
    if sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise VaekitError(
                f"{path}: checksum mismatch (sha256 of the content is {digest[:16]}..., "
                f"expected {sha256[:16]}...): the file is corrupt or not the right one"
            )
    return parse_idx(data, path)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as err:
        raise VaekitError(f"{path}: cannot read ({err.strerror})") from None


def read_idx_dataset(paths: dict[str, Path], spec: DatasetSpec | None) -> dict[str, np.ndarray]:
    """Read the IDX image/label pairs of a dataset and check they belong together (a
    registered dataset's checksums are checked before, by fetch.verify_files)."""
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        images = read_idx(images_path)
        labels = read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise VaekitError(
                f"{images_path}: expected uint8 images of shape (N, H, W), "
                f"found {images.dtype} {images.shape}"
            )
        if labels.ndim != 1:
            raise VaekitError(f"{labels_path}: expected one label per image, shape {labels.shape}")
        if len(labels) != len(images):
            raise VaekitError(
                f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
            )
        out[f"{split}_images"] = images[:, None, :, :]
        out[f"{split}_labels"] = labels.astype(np.int64)
    return out


def content_sha256(path: Path) -> str:
    """SHA-256 of a file's content, decompressed when it ends in .gz; streamed."""
    h = hashlib.sha256()
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except (OSError, EOFError, zlib.error) as err:
        raise VaekitError(f"{path}: cannot read ({err})") from None
    return h.hexdigest()


def read_amat(path: Path, side: int = 28) -> np.ndarray:
    """A binarized-MNIST .amat file: one image per line, side*side values 0 or 1 separated by
    spaces. Returns uint8 (N, 1, side, side)."""
    data = np.frombuffer(read_bytes(path), dtype=np.uint8)
    digits = (data == ord("0")) | (data == ord("1"))
    blank = (data == ord(" ")) | (data == ord("\n")) | (data == ord("\r")) | (data == ord("\t"))
    if not np.all(digits | blank):
        raise VaekitError(f"{path}: not a binarized MNIST .amat file (found values other than 0/1)")
    lines = [line for line in bytes(data).splitlines() if line.strip()]
    values = data[digits] - ord("0")
    per_image = side * side
    if not lines or values.size != len(lines) * per_image:
        raise VaekitError(
            f"{path}: expected {per_image} values on each of {len(lines)} lines, "
            f"found {values.size} in all (truncated or not a 28x28 .amat file)"
        )
    return values.reshape(len(lines), 1, side, side)


def read_amat_dataset(paths: dict[str, Path], spec: DatasetSpec | None) -> dict[str, np.ndarray]:
    return {f"{role}_images": read_amat(path) for role, path in paths.items()}


# Names under which an .npz file may hold its arrays, in order of preference: names users give
# their arrays (np.savez(f, images=...)), not kinds of data.
NPZ_IMAGES = ("images", "x", "x_train", "train_images", "data")
NPZ_LABELS = ("labels", "y", "y_train", "train_labels", "targets")
NPZ_TEST_IMAGES = ("x_test", "test_images")
NPZ_TEST_LABELS = ("y_test", "test_labels")


def read_array_file(path: Path) -> dict[str, np.ndarray]:
    """Images (and optional labels, optional test split) from a .npy or .npz file.

    Read by vaekit.data.npyfile: sizes checked before allocating, and an object array in the
    file is refused, never unpickled.
    """
    if path.suffix.lower() == ".npy":
        return {"train_images": read_npy(path)}
    roles = {
        "train_images": NPZ_IMAGES,
        "train_labels": NPZ_LABELS,
        "test_images": NPZ_TEST_IMAGES,
        "test_labels": NPZ_TEST_LABELS,
    }
    present = set(npz_names(path))
    chosen = {
        role: name
        for role, names in roles.items()
        if (name := next((n for n in names if n in present), None)) is not None
    }
    if "train_images" not in chosen:
        found = ", ".join(sorted(present)) or "none"
        raise VaekitError(
            f"{path}: no image array (looked for {', '.join(NPZ_IMAGES)}; the file has {found})"
        )
    arrays = read_npz(path, list(chosen.values()))
    return {role: arrays[name] for role, name in chosen.items()}


def input_file(spec: str) -> Path:
    """An input a user names by its path (not a test-split index), as a Path: a folder or a
    path that is not a file is a one-line VaekitError."""
    path = Path(spec)
    if path.is_dir():
        raise VaekitError(f"{spec}: a folder; give image files or test-split indices")
    if not path.is_file():
        raise VaekitError(f"{spec}: neither a test-split index nor an existing file")
    return path
