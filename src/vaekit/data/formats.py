"""File readers. Each checks what it reads and names the file and the fault in its error.

IDX (LeCun's MNIST format, also Fashion-MNIST): a 4-byte magic number -- two zero bytes, a
type code, the number of dimensions -- then one big-endian int32 per dimension, then the data.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaekit.errors import VaekitError

if TYPE_CHECKING:
    from vaekit.data.registry import DatasetSpec

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as err:
        # gzip raises BadGzipFile (an OSError) or EOFError for a cut-off stream.
        raise VaekitError(f"{path}: cannot read ({err})") from None


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Parse IDX bytes into an array of the stored type and shape."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        magic = data[:4].hex() if data else "empty file"
        raise VaekitError(f"{path}: not an IDX file (magic number {magic})")
    dtype = _IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise VaekitError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "too long"
        raise VaekitError(
            f"{path}: {what} IDX file: shape {shape} needs {expected} data bytes, found {found}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path: Path, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (.gz or not); with `sha256`, check the decompressed bytes first."""
    data = read_bytes(path)
    if sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise VaekitError(
                f"{path}: checksum mismatch (sha256 of the content is {digest[:16]}..., "
                f"expected {sha256[:16]}...): the file is corrupt or not the right one"
            )
    return parse_idx(data, path)


def read_idx_dataset(paths: dict[str, Path], spec: DatasetSpec | None) -> dict[str, np.ndarray]:
    """Read the IDX image/label pairs of a dataset and check they belong together."""
    sums = {f.role: f.sha256 for f in spec.files} if spec is not None else {}
    out: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        images = read_idx(images_path, sums.get(f"{split}_images"))
        labels = read_idx(labels_path, sums.get(f"{split}_labels"))
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
