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


# Names under which an .npz file may hold its arrays, in order of preference.
NPZ_IMAGES = ("images", "x", "x_train", "train_images", "data")
NPZ_LABELS = ("labels", "y", "y_train", "train_labels", "targets")
NPZ_TEST_IMAGES = ("x_test", "test_images")
NPZ_TEST_LABELS = ("y_test", "test_labels")


def read_array_file(path: Path) -> dict[str, np.ndarray]:
    """Images (and optional labels, optional test split) from a .npy or .npz file.

    Loaded with allow_pickle=False: an object array in the file is refused, never unpickled.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise VaekitError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as err:
        raise VaekitError(f"{path}: not a readable .npy/.npz file ({err})") from None
    if isinstance(loaded, np.ndarray):
        return {"train_images": loaded}
    with loaded:
        arrays = {}
        try:
            for role, names in (
                ("train_images", NPZ_IMAGES),
                ("train_labels", NPZ_LABELS),
                ("test_images", NPZ_TEST_IMAGES),
                ("test_labels", NPZ_TEST_LABELS),
            ):
                name = next((n for n in names if n in loaded.files), None)
                if name is not None:
                    arrays[role] = loaded[name]
        except (ValueError, OSError, EOFError) as err:
            raise VaekitError(f"{path}: cannot read an array ({err})") from None
        found = ", ".join(loaded.files) or "none"
    if "train_images" not in arrays:
        raise VaekitError(
            f"{path}: no image array (looked for {', '.join(NPZ_IMAGES)}; the file has {found})"
        )
    return arrays
