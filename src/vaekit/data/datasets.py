"""Open a dataset from a registered name, a folder of files, or an in-memory array.

Every source becomes a `Dataset`: a training and a test `ImageSet` plus a JSON-ready `info`
(where it came from, shape, value range, checksum of the pixels and labels). A source without
an official test split gets one carved with the seed; the fraction is recorded in `info`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.batches import ImageSet, carve
from vaekit.data.builtin import IDX_ROLES
from vaekit.data.fetch import find_in_dir, locate_files
from vaekit.data.formats import read_idx_dataset
from vaekit.data.registry import get_spec
from vaekit.errors import VaekitError

DEFAULT_TEST_FRACTION = 0.1


@dataclass
class Dataset:
    train: ImageSet
    test: ImageSet
    info: dict[str, Any]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]


def open_dataset(
    source: str | Path | np.ndarray | torch.Tensor,
    *,
    seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Dataset:
    """Load `source` into memory.

    Args:
        source: a registered name ("fashion-mnist", "digits"), a folder holding the four IDX
            files (train-images-idx3-ubyte, ... plain or .gz), or an array of images shaped
            (N, H, W) or (N, C, H, W), uint8 or float in [0, 1].
        seed: carves the test split where the source has none.
        test_fraction: the share of examples carved for testing in that case.
    """
    if isinstance(source, np.ndarray | torch.Tensor):
        images = _images_from_array(source)
        raw = {"train_images": images}
        info = {
            "source": "array",
            "name": "array",
            "max_value": 255 if images.dtype == np.uint8 else 1,
        }
    elif isinstance(source, str) and not _looks_like_path(source):
        spec = get_spec(source)
        raw = spec.reader(locate_files(source), spec)
        info = {"source": "registry", "name": spec.name, "max_value": spec.max_value}
    else:
        folder = Path(source).expanduser()
        if not folder.exists():
            raise VaekitError(f"{folder}: no such file or folder")
        if not folder.is_dir():
            raise VaekitError(f"{folder}: expected a folder of IDX files or a dataset name")
        paths = find_in_dir(folder, IDX_ROLES)
        if paths is None:
            wanted = ", ".join(f"{n}(.gz)" for n in IDX_ROLES.values())
            raise VaekitError(f"{folder}: expected the IDX files {wanted}")
        raw = read_idx_dataset(paths, None)
        info = {"source": "path", "name": str(folder.resolve()), "max_value": 255}
    return _assemble(raw, info, seed, test_fraction)


def _looks_like_path(source: str) -> bool:
    return "/" in source or source.startswith(".") or Path(source).exists()


def _images_from_array(array: np.ndarray | torch.Tensor) -> np.ndarray:
    a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3) or a.shape[0] == 0:
        raise VaekitError(
            f"expected images shaped (N, H, W) or (N, C, H, W) with C 1 or 3, got {a.shape}"
        )
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise VaekitError("float images must be finite and in [0, 1]")
        return np.ascontiguousarray(a, dtype=np.float32)
    raise VaekitError(f"images must be uint8 or float in [0, 1], got {a.dtype}")


def _assemble(
    raw: dict[str, np.ndarray], info: dict[str, Any], seed: int, test_fraction: float
) -> Dataset:
    max_value = info["max_value"]
    train_images = torch.from_numpy(np.ascontiguousarray(raw["train_images"]))
    train_labels = _labels(raw.get("train_labels"))
    train = ImageSet(train_images, train_labels, float(max_value))
    if "test_images" in raw:
        test = ImageSet(
            torch.from_numpy(np.ascontiguousarray(raw["test_images"])),
            _labels(raw.get("test_labels")),
            float(max_value),
        )
    else:
        if not 0 < test_fraction < 1:
            raise VaekitError(f"test fraction must be in (0, 1), got {test_fraction}")
        if len(train) < 3:
            raise VaekitError(f"{len(train)} images are too few to carve a test split")
        kept, carved = carve(len(train), test_fraction, seed)
        test, train = train.subset(carved), train.subset(kept)
        info["test_carved"] = {"fraction": test_fraction, "seed": seed}
    if int(train.images.max()) > max_value:
        raise VaekitError(f"pixel values above the dataset's maximum {max_value}")
    info.update(
        shape=list(train.images.shape[1:]),
        dtype=str(train.images.dtype).removeprefix("torch."),
        num_train=len(train),
        num_test=len(test),
        num_classes=int(train.labels.max()) + 1 if train.labels is not None else None,
        sha256=_checksum(train, test),
    )
    return Dataset(train, test, info)


def _labels(labels: np.ndarray | None) -> torch.Tensor | None:
    return None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64))


def _checksum(*sets: ImageSet) -> str:
    h = hashlib.sha256()
    for s in sets:
        h.update(s.images.numpy().tobytes())
        if s.labels is not None:
            h.update(s.labels.numpy().tobytes())
    return h.hexdigest()
