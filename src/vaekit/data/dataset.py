"""The value every source is opened into: a `Dataset` of training and test splits (and an
official validation one where the source has it) with its JSON-ready `info`, how it was asked
to be opened (`OpenOptions`), and how its training split gives up a validation split.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vaekit.data.batches import ImageSet, carve
from vaekit.errors import VaekitError
from vaekit.kinds.base import DEFAULT_KIND

DEFAULT_TEST_FRACTION = 0.1
# Called with (what, done, total or None): downloads count bytes, decoding counts images.
Progress = Callable[[str, int, "int | None"], None]


@dataclass
class Dataset:
    train: ImageSet
    test: ImageSet
    info: dict[str, Any]
    val: ImageSet | None = None  # an official validation split, where the source has one
    # The kind of data (vaekit.kinds.base.Kind, by name) and its schema, the object its
    # parts read (a table's TableSchema, audio's AudioFeatures, text's Vocabulary; None for
    # images): what a model of this data records (`to_json`) in config.json. An opener that
    # names none opens images (vaekit.data.image_dataset).
    kind: str = DEFAULT_KIND
    schema: Any = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.train.shape

    def has_checksum(self, recorded: Any) -> bool:
        """Whether this is the data a run recorded as `recorded` (config.json's data.sha256).
        Runs on an image folder recorded, before its content was hashed, the fingerprint of
        its files' names, sizes and times: still accepted from them."""
        return recorded is not None and recorded in (
            self.info["sha256"],
            self.info.get("fingerprint"),
        )


@dataclass(frozen=True)
class OpenOptions:
    """How open_dataset was asked to open its source."""

    seed: int
    test_fraction: float
    image_size: int | None
    color: str
    crop: str
    pixels: str | None
    progress: Progress | None


def split_validation(
    dataset: Dataset, val_fraction: float, seed: int
) -> tuple[ImageSet, ImageSet | None]:
    """(train, validation): the official validation split where the source has one, else
    `val_fraction` of the training split carved with the seed (none when it is 0)."""
    if dataset.val is not None:
        return dataset.train, dataset.val
    if val_fraction == 0:
        return dataset.train, None
    kept, carved = carve(len(dataset.train), val_fraction, seed)
    if len(kept) == 0:
        raise VaekitError(f"val fraction {val_fraction} leaves no training examples")
    return dataset.train.subset(kept), dataset.train.subset(carved)


def split_stats(dataset: Dataset) -> dict[str, dict[str, Any]]:
    """Each split's size and shape, whether it is labelled, and its least, greatest and mean
    value (read a chunk at a time: a set may be memory-mapped): what `vaekit data info`
    shows of a dataset of images or spectrograms."""
    splits = {"train": dataset.train, "val": dataset.val, "test": dataset.test}
    # "images": the count and shape of the split's examples, a key `vaekit data info` has
    # always shown (whatever the examples are), not a kind.
    return {
        name: {"images": [len(s), *s.shape], "labels": s.labels is not None, **_stats(s)}
        for name, s in splits.items()
        if s is not None
    }


def _stats(s: ImageSet) -> dict[str, float]:
    """Min, max and mean value, a chunk at a time."""
    low, high, total = float("inf"), float("-inf"), 0.0
    for chunk in s.chunks():
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
        total += float(chunk.double().sum())
    return {"min": low, "max": high, "mean": total / (len(s) * math.prod(s.shape))}
