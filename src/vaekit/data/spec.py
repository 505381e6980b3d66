"""The description of a dataset (DatasetSpec: its files and their checksums, image shape,
value range and pixel kind, splits) and the table they are registered in (`register`).
Lookups by name are vaekit.data.registry's, which first registers the built-in sets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.data.batches import PIXEL_KINDS

# Image datasets (decoded from files into a prepared, memory-mapped array) are described by an
# `images` function instead: (located paths, image size or None) -> ImageList.
ImageLister = Callable[[dict[str, Path], "int | None"], "ImageList"]

# A reader turns the located files (role -> path) into raw arrays (given the spec for a
# registered dataset, None for a folder given by path, read as it is):
# {"train_images": (N, C, H, W) uint8, "train_labels": (N,), "test_images": ..., "test_labels": ...,
#  "val_images": ...}. Test arrays are absent for datasets without an official test split, labels
# for unlabelled ones, and val arrays for those without an official validation split.
Reader = Callable[[dict[str, Path], "DatasetSpec | None"], dict[str, np.ndarray]]


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset.

    `name` is the file's name uncompressed (a copy may also be stored as name + ".gz"); `url`
    is its canonical download address; `sha256` is of the decompressed bytes (Debian
    recompresses .gz files), or None where no checksum has been published.
    """

    role: str
    name: str
    sha256: str | None
    url: str = ""
    md5: str | None = None  # of the file as published, where only that is known
    optional: bool = False  # used when present (SVHN's extra split)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    shape: tuple[int, int, int]  # (C, H, W)
    max_value: int  # the largest pixel value; scaling divides by it
    reader: Reader | None = None
    files: tuple[FileSpec, ...] = ()
    system_dirs: tuple[str, ...] = ()
    classes: tuple[str, ...] = field(default=())
    find: Callable[[Path], dict[str, Path] | None] | None = None  # instead of `files`
    images: ImageLister | None = None  # an image dataset, prepared before use
    manual: str = ""  # where files that vaekit cannot download come from
    layout: str = ""  # what a folder of it holds, for messages (default: the file names)
    pixels: str = "8-bit"  # what its values are: one of batches.PIXEL_KINDS


@dataclass(frozen=True)
class ImageList:
    """The files of an image dataset, their labels and split (0 train, 1 val, 2 test) if any,
    how to decode them, and the class names."""

    root: Path
    files: list[Path]
    labels: Any
    split: Any
    decode: Any
    classes: tuple[str, ...] = ()


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"dataset {spec.name!r} is already registered")
    if spec.pixels not in PIXEL_KINDS:
        raise ValueError(f"dataset {spec.name!r}: pixels {spec.pixels!r} not in {PIXEL_KINDS}")
    _REGISTRY[spec.name] = spec
    return spec
