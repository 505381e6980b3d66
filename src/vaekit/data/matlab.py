"""Datasets stored as MATLAB .mat files: SVHN's cropped digits and the Olivetti faces."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.errors import VaekitError


def load_mat(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The named variables of a .mat file (MATLAB v5; scipy reads it without running code)."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

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
