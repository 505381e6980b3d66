"""Open images as a `Dataset`: a registered dataset's files, a folder (prepared, of a
registered dataset's files, or of PNG/JPEG images) or arrays.

Image files are prepared once and memory-mapped (vaekit.data.prepare); arrays are checked and
held in memory. Either way a source without an official test split gets one carved with the
seed, the splits are checked to agree, the pixel kind is declared, and `info` is completed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.batches import ImageSet, carve, only_zero_or_max, pixels_for
from vaekit.data.dataset import Dataset, OpenOptions
from vaekit.data.fetch import folder_layouts, match_folder
from vaekit.data.folders import SUFFIXES, Decode, list_images, settle
from vaekit.data.prepare import (
    content_checksum,
    fingerprint,
    is_prepared,
    open_prepared,
    prepare,
    prepared_path,
)
from vaekit.data.registry import DatasetSpec, ImageList
from vaekit.errors import VaekitError


def open_spec(
    spec: DatasetSpec, paths: dict[str, Path], info: dict[str, Any], opts: OpenOptions
) -> Dataset:
    """A registered dataset's files: as the registry entry, or as they are (without the
    registry's checks) when found in a folder given by path."""
    info.update(max_value=spec.max_value, pixels=spec.pixels)
    if spec.images is not None:
        return _open_images(spec.images(paths, opts.image_size), info, opts)
    raw = spec.reader(paths, spec if info["source"] == "registry" else None)
    dataset = _finish(_image_sets(raw, spec.max_value, info["name"]), info, opts)
    # What legends call the labels; not for a folder matched by its files' layout, whose
    # files may be another dataset's (MNIST's IDX files are named like Fashion-MNIST's).
    registered = info["source"] == "registry"
    if registered and spec.classes and dataset.train.labels is not None:
        dataset.info.setdefault("classes", list(spec.classes))
    return dataset


def open_folder(folder: Path, info: dict[str, Any], opts: OpenOptions) -> Dataset:
    """A prepared dataset, the files of a registered dataset, or image files, in this order;
    a folder holding none of them is an error saying what was looked for."""
    if is_prepared(folder):
        return _open_prepared_dataset(folder, info, opts)
    matched = match_folder(folder)
    if matched is not None:
        return open_spec(*matched, info, opts)
    try:
        files, labels, classes = list_images(folder)
    except VaekitError:
        looked = "; ".join(
            [
                "a prepared dataset (header.json)",
                *folder_layouts(),
                f"or PNG/JPEG images ({', '.join(sorted(SUFFIXES))}), in class subfolders or not",
            ]
        )
        raise VaekitError(
            f"{folder}: no dataset found in this folder; looked for {looked}"
        ) from None
    decode = Decode.for_folder(opts.image_size, opts.color, opts.crop)
    listing = ImageList(folder, files, labels, None, decode, tuple(classes))
    info.update(max_value=255, pixels="8-bit")
    return _open_images(listing, info, opts)


def open_arrays(raw: dict[str, Any], info: dict[str, Any], opts: OpenOptions) -> Dataset:
    """Images from arrays: uint8 (8-bit, values 0-255) or float in [0, 1] (continuous)."""
    for key in [k for k in raw if k.endswith("_images")]:
        which = "" if key == "train_images" else f", its {key.partition('_')[0]} images"
        raw[key] = _images_from_array(raw[key], f"{info['name']}{which}")
    uint8 = raw["train_images"].dtype == np.uint8
    info.update(max_value=255 if uint8 else 1, pixels="8-bit" if uint8 else "continuous")
    return _finish(_image_sets(raw, info["max_value"], info["name"]), info, opts)


def _open_images(listing: ImageList, info: dict[str, Any], opts: OpenOptions) -> Dataset:
    """Prepare (once) and memory-map an image dataset."""
    decode = settle(listing.files, listing.decode)
    fp = fingerprint(listing.root, listing.files, decode, listing.labels, listing.split)
    folder = prepared_path(f"{info['name']}", fp)

    def decoding(done: int, total: int) -> None:
        if opts.progress:
            opts.progress(f"prepare {Path(info['name']).name}", done, total)

    prepare(
        listing.root, listing.files, listing.labels, listing.split, decode, folder, fp,
        listing.classes, decoding,
    )  # fmt: skip
    info.update(image_size=decode.size, color=decode.color)
    if listing.decode.crop is None and decode.size is not None:
        info["crop"] = "none"
    return _open_prepared_dataset(folder, info, opts)


def _open_prepared_dataset(folder: Path, info: dict[str, Any], opts: OpenOptions) -> Dataset:
    images, labels, split, header = open_prepared(folder)
    storage_labels = torch.from_numpy(labels.astype(np.int64)) if labels is not None else None
    max_value = float(header.get("max_value", 255))
    full = ImageSet(images, storage_labels, max_value, mapped=True)
    if split is None:
        splits = {"train": full}
    else:
        splits = {
            name: full.subset(torch.from_numpy(np.flatnonzero(split == code)))
            for code, name in enumerate(("train", "val", "test"))
            if (split == code).any()
        }
    info.update(
        max_value=max_value,
        # Prepared before pixel kinds were recorded: what its uint8 range declares.
        pixels=header.get("pixels") or pixels_for(torch.uint8, max_value),
        # the content's hash (a dataset prepared before it was recorded gets it now)
        sha256=content_checksum(folder, header, labels, split),
        fingerprint=header["fingerprint"],
        prepared=str(folder),
        skipped=len(header["skipped"]),
    )
    if header["classes"]:
        info["classes"] = header["classes"]
    return _finish(splits, info, opts)


def _images_from_array(array: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    if isinstance(array, torch.Tensor):  # bfloat16 has no numpy type: float32 holds it
        tensor = array.detach().cpu()
        a = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    else:
        a = np.asarray(array)
    given = a.shape
    if a.size == 0:
        raise VaekitError(f"{what}: holds no images (shape {given})")
    if a.ndim == 4 and a.shape[1] not in (1, 3) and a.shape[3] in (1, 3):
        raise VaekitError(
            f"{what}: images shaped {given}, channels last: vaekit takes (N, C, H, W); save "
            "a.transpose(0, 3, 1, 2)"
        )
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise VaekitError(
            f"{what}: expected images shaped (N, H, W) or (N, C, H, W) with C 1 or 3, got {given}"
        )
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise VaekitError(f"{what}: float images must be finite and in [0, 1]")
        return np.ascontiguousarray(a, dtype=np.float32)
    raise VaekitError(f"{what}: images must be uint8 or float in [0, 1], got {a.dtype}")


def _finish(splits: dict[str, ImageSet], info: dict[str, Any], opts: OpenOptions) -> Dataset:
    """Carve a test split where there is none, check the splits agree, complete `info`."""
    max_value = float(info["max_value"])
    train, val = splits["train"], splits.get("val")
    if "test" in splits:
        test = splits["test"]
    else:
        if not 0 < opts.test_fraction < 1:
            raise VaekitError(f"test fraction must be in (0, 1), got {opts.test_fraction}")
        if len(train) < 3:
            raise VaekitError(
                f"{info['name']}: {len(train)} images are too few to carve a test split"
            )
        kept, carved = carve(len(train), opts.test_fraction, opts.seed)
        test, train = train.subset(carved), train.subset(kept)
        info["test_carved"] = {"fraction": opts.test_fraction, "seed": opts.seed}
    sets = [s for s in (train, val, test) if s is not None]
    if any(s.shape != train.shape for s in sets):
        raise VaekitError(f"{info['name']}: the splits' images differ in shape")
    if any(s.dtype != train.dtype for s in sets):
        raise VaekitError(f"{info['name']}: the splits' images differ in type")
    if not train.mapped and float(max(s.images.max() for s in sets)) > max_value:
        raise VaekitError(f"{info['name']}: pixel values above the maximum {max_value:g}")
    _declare_pixels(sets, info, opts.pixels)
    info.update(
        shape=list(train.shape),
        dtype=str(train.dtype).removeprefix("torch."),
        num_train=len(train),
        num_test=len(test),
        num_classes=int(train.labels.max()) + 1 if train.labels is not None else None,
        # A prepared (memory-mapped) dataset carries its source's fingerprint: no full read.
        sha256=info.get("sha256") or _checksum(*sets),
    )
    if val is not None:
        info["num_val"] = len(val)
    return Dataset(train, test, info, val)


def _declare_pixels(sets: list[ImageSet], info: dict[str, Any], wanted: str | None) -> None:
    """Give every set the source's declared pixel kind (info["pixels"]), or the user's
    `wanted` one when the data can hold it."""
    kind, dtype, top = wanted or info["pixels"], sets[0].dtype, float(info["max_value"])
    if kind != info["pixels"]:
        if kind == "8-bit" and (dtype != torch.uint8 or top != 255):
            why = "8-bit pixels are integers 0..255"
        elif kind == "discrete" and dtype != torch.uint8:
            why = "discrete pixels are integers"
        elif kind == "binary" and not all(only_zero_or_max(s) for s in sets):
            why = f"binary pixels are 0 or {top:g}, and these have other values"
        else:
            why = ""
        if why:
            stored = str(dtype).removeprefix("torch.")
            raise VaekitError(
                f"{info['name']}: pixels {kind!r} do not fit this data ({stored}, values "
                f"0..{top:g}, declared {info['pixels']}): {why}"
            )
    for s in sets:
        s.pixels = kind
    info["pixels"] = kind


def _image_sets(raw: dict[str, np.ndarray], max_value: float, name: str) -> dict[str, ImageSet]:
    return {
        split: _image_set(raw, split, float(max_value), name)
        for split in ("train", "val", "test")
        if f"{split}_images" in raw
    }


def _image_set(raw: dict[str, np.ndarray], split: str, max_value: float, name: str) -> ImageSet:
    images = torch.from_numpy(np.ascontiguousarray(raw[f"{split}_images"]))
    if images.numel() == 0:
        raise VaekitError(f"{name}: no {split} images (shape {tuple(images.shape)})")
    labels = raw.get(f"{split}_labels")
    if labels is None:
        return ImageSet(images, None, max_value)
    labels = np.asarray(labels)
    if (
        labels.ndim != 1
        or len(labels) != len(images)
        or not np.issubdtype(labels.dtype, np.integer)
        or (labels.size and labels.min() < 0)
    ):
        raise VaekitError(
            f"{name}: {split} labels: expected {len(images)} non-negative integers, "
            f"got {labels.dtype} {labels.shape}"
        )
    return ImageSet(images, torch.from_numpy(labels.astype(np.int64)), max_value)


def _checksum(*sets: ImageSet) -> str:
    h = hashlib.sha256()
    for s in sets:
        h.update(s.images.numpy().tobytes())
        if s.labels is not None:
            h.update(s.labels.numpy().tobytes())
    return h.hexdigest()
