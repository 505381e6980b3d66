"""Small files in each format the registry reads, written by the tests themselves."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.io import savemat

from vaekit.data import registry
from vaekit.data.fetch import file_md5
from vaekit.data.formats import content_sha256


def cifar_records(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """n CIFAR-10 binary records: (bytes, images (n, 3, 32, 32) uint8, labels (n,) uint8)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    records = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1)
    return records.tobytes(), images, labels


def write_cifar_bin(folder: Path, n: int = 4, test: bool = True) -> dict:
    """data_batch_1..5.bin (and test_batch.bin): batch name -> (images, labels)."""
    folder.mkdir(parents=True)
    batches = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + (["test_batch"] if test else [])
    for seed, name in enumerate(names):
        data, images, labels = cifar_records(n, seed)
        (folder / f"{name}.bin").write_bytes(data)
        batches[name] = (images, labels)
    return batches


def py_batch(n: int, seed: int) -> dict:
    """A CIFAR-10 python batch as the official pickles hold it."""
    _, images, labels = cifar_records(n, seed)
    return {b"data": images.reshape(n, -1), b"labels": labels.tolist(), b"batch_label": b"x"}


def write_cifar_py(folder: Path, n: int = 3, n_test: int = 2) -> Path:
    """data_batch_1..5 and test_batch, pickled (protocol 2, like the originals)."""
    folder.mkdir(parents=True)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(py_batch(n, i), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(py_batch(n_test, 9), protocol=2))
    return folder


def write_svhn(
    folder: Path, n_train: int = 5, n_test: int = 2, n_extra: int = 0, seed: int = 0
) -> np.ndarray:
    """train_32x32.mat and test_32x32.mat (and extra_32x32.mat) as SVHN stores them: X
    (32, 32, 3, N) uint8 and y (N, 1) with 10 for the digit 0. Returns the train X."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test), ("extra", n_extra)):
        if n:
            x = rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8)
            y = (np.arange(n) % 10 + 1).reshape(n, 1)  # 1..10
            savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
            if split == "train":
                train = x
    return train


def register_checksums(monkeypatch, name: str, folder: Path) -> None:
    """Make the registered `name` publish the checksums (MD5 or SHA-256, whichever it
    publishes) of the files in `folder`, as if they were the originals, for this test only."""
    spec = registry.get_spec(name)
    files = []
    for f in spec.files:
        path = folder / f.name
        if path.exists() and f.sha256 is not None:
            f = replace(f, sha256=content_sha256(path))
        elif path.exists():
            f = replace(f, md5=file_md5(path))
        files.append(f)
    monkeypatch.setitem(registry._REGISTRY, name, replace(spec, files=tuple(files)))


def amat_text(n: int, seed: int = 0) -> str:
    """n binarized 28x28 images in the .amat text format."""
    rng = np.random.default_rng(seed)
    return "".join(" ".join(map(str, row)) + "\n" for row in rng.integers(0, 2, (n, 784)))


def write_binarized_mnist(folder: Path, sizes: tuple[int, int, int] = (12, 5, 4)) -> Path:
    """binarized_mnist_{train,valid,test}.amat with `sizes` images."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (split, n) in enumerate(zip(("train", "valid", "test"), sizes, strict=True)):
        (folder / f"binarized_mnist_{split}.amat").write_text(amat_text(n, seed))
    return folder


def write_olivetti(folder: Path, n: int = 20) -> np.ndarray:
    """olivettifaces.mat: faces (4096, n) uint8, each column a 64x64 image stored column-major
    and marked at (row 5, column 40). Returns the images (n, 64, 64)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(0).integers(0, 200, (n, 64, 64)).astype(np.uint8)
    images[:, 5, 40] = 255
    faces = np.stack([im.flatten(order="F") for im in images], axis=1)
    savemat(folder / "olivettifaces.mat", {"faces": faces})
    return images
