"""CIFAR-10 in its two official layouts.

Binary (cifar-10-batches-bin): data_batch_1..5.bin and test_batch.bin, each 10,000 records of
1 label byte and 3,072 pixel bytes (the R, G and B planes of a 32x32 image, row-major).
Python (cifar-10-batches-py): data_batch_1..5 and test_batch, pickled dicts with b"data"
(10000, 3072) uint8 and b"labels", read with the safe unpickler.
Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaekit.data.checksums import cached_digest
from vaekit.data.safe_pickle import load_safe_pickle
from vaekit.errors import VaekitError

RECORD = 1 + 3 * 32 * 32
TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
# SHA-256 of the official binary batches (computed here from byte-exact copies). The test
# batch's is not recorded: it is checked by its structure.
BIN_SHA256 = {
    "data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
    "data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
    "data_batch_3.bin": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
    "data_batch_4.bin": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
    "data_batch_5.bin": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
}


def find_cifar(folder: Path) -> dict[str, Path] | None:
    """role -> path for a CIFAR-10 folder (either layout, or its parent); None if not one.

    Roles: train_1..train_5, and test where test_batch(.bin) is present.
    """
    for root in (folder, folder / "cifar-10-batches-bin", folder / "cifar-10-batches-py"):
        for suffix in (".bin", ""):
            train = [root / f"{name}{suffix}" for name in TRAIN]
            if all(p.is_file() for p in train):
                found = {f"train_{i + 1}": p for i, p in enumerate(train)}
                if (root / f"test_batch{suffix}").is_file():
                    found["test"] = root / f"test_batch{suffix}"
                return found
    return None


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file of either layout: images (N, 3, 32, 32) uint8 and labels (N,)."""
    if path.suffix == ".bin":
        return _read_binary(path)
    batch = load_safe_pickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise VaekitError(f"{path}: not a CIFAR-10 python batch (no data and labels)")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape[1:] != (3072,):
        shown = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data)
        raise VaekitError(f"{path}: expected uint8 data of shape (N, 3072), got {shown}")
    # Labels are a list of ints (an integer array also does); anything else is refused
    # before numpy sees it: a list of shared references could stand for a huge array.
    if isinstance(labels, list) and all(type(v) is int and 0 <= v <= 9 for v in labels):
        labels = np.array(labels, dtype=np.int64) if labels else np.zeros(0, np.int64)
    if (
        not isinstance(labels, np.ndarray)
        or labels.shape != (len(data),)
        or not np.issubdtype(labels.dtype, np.integer)
    ):
        raise VaekitError(f"{path}: expected {len(data)} integer labels 0-9")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise VaekitError(f"{path}: labels outside the CIFAR-10 classes 0-9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_binary(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise VaekitError(f"{path}: cannot read ({err})") from None
    if raw.size == 0 or raw.size % RECORD:
        raise VaekitError(
            f"{path}: {raw.size} bytes is not a whole number of {RECORD}-byte CIFAR records "
            "(truncated or not a CIFAR-10 batch)"
        )
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise VaekitError(f"{path}: label {labels.max()} is not a CIFAR-10 class (0-9)")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def read_cifar(paths: dict[str, Path], spec: object = None) -> dict[str, np.ndarray]:
    """The dataset from find_cifar's files. Read as the registered `cifar10` (a spec given),
    the official binary batches are checked against their SHA-256 (hashed once, then cached);
    a folder given by path is read as it is, like a folder of IDX files."""
    for path in paths.values() if spec is not None else ():
        expected = BIN_SHA256.get(path.name)
        if expected and cached_digest(path, "sha256") != expected:
            raise VaekitError(f"{path}: checksum mismatch: the file is corrupt or not the original")
    parts = [read_cifar_batch(paths[f"train_{i}"]) for i in range(1, 6)]
    raw = {
        "train_images": np.concatenate([p[0] for p in parts]),
        "train_labels": np.concatenate([p[1] for p in parts]),
    }
    if "test" in paths:
        raw["test_images"], raw["test_labels"] = read_cifar_batch(paths["test"])
    return raw
