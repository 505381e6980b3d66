"""The image kind's data part: see vaekit.kinds.protocol. Its sources (BUILTIN_KINDS in
vaekit.kinds.base): in-memory arrays, registered names, missing paths (refused), folders of
images and .npy/.npz files, opened by vaekit.data.image_dataset; its inputs are PNG/JPEG
files and .npy/.npz arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data import objects
from vaekit.data.batches import scale
from vaekit.data.dataset import Dataset, split_stats
from vaekit.data.datasets import OpenRequest, path_info, source_path
from vaekit.data.fetch import fetch_for, verify_files
from vaekit.data.folders import MAX_PIXELS, Decode, decode_image
from vaekit.data.formats import input_file, read_array_file
from vaekit.data.image_dataset import open_arrays, open_folder, open_spec
from vaekit.data.registry import DatasetSpec, get_spec, is_dataset_name
from vaekit.errors import VaekitError

ARRAY_SUFFIXES = (".npy", ".npz")
# What eval.json's "data_kind" says of images: "images", as it always has (the other kinds:
# their names).
DATA_KIND = "images"


def schema_from_json(record: dict[str, Any] | None) -> None:
    """Images have no schema: whatever config.json records, None."""
    return None


def _is_array(source: Any) -> bool:
    return isinstance(source, np.ndarray | torch.Tensor)


def _open_array(source: np.ndarray | torch.Tensor, asked: OpenRequest) -> Dataset:
    return open_arrays({"train_images": source}, {"source": "array", "name": "array"}, asked.opts)


# Datasets held in Python (vaekit.data.objects): a map-style torch Dataset of pictures, and a
# Hugging Face dataset with a column of them; each streamed into a memory-mapped array.
_is_torch_dataset = objects.is_torch_dataset
_is_hf_pixels = objects.is_hf_pixels


def _open_torch_dataset(source: Any, asked: OpenRequest) -> Dataset:
    return objects.open_torch_dataset(source, asked.opts)


def _open_hf_pixels(source: Any, asked: OpenRequest) -> Dataset:
    return objects.open_hf_pixels(source, asked.opts)


def _is_registered(source: Any) -> bool:
    """A spec, a registered name (a name wins over a same-named folder), or a string that does
    not look like a path: taken for a mistyped name, whose error lists the known names."""
    if isinstance(source, DatasetSpec):
        return True
    return is_dataset_name(source) or (isinstance(source, str) and not _looks_like_path(source))


def _open_registered(source: str | DatasetSpec, asked: OpenRequest) -> Dataset:
    """The registry is asked once (unless the caller did, and gave the spec); the spec is
    passed on to find or download the files and to check them."""
    spec = source if isinstance(source, DatasetSpec) else get_spec(source)
    paths = fetch_for(spec, asked.opts.progress)
    verify_files(spec, paths)
    return open_spec(spec, paths, {"source": "registry", "name": spec.name}, asked.opts)


def _is_missing(source: Any) -> bool:
    if not isinstance(source, str | Path):  # an object none of the sources took
        return False
    return not source_path(source).exists()


def _refuse_missing(source: str | Path, asked: OpenRequest) -> Dataset:
    raise VaekitError(f"{source_path(source)}: no such file or folder")


def _is_folder(source: Any) -> bool:
    if not isinstance(source, str | Path):
        return False
    return source_path(source).is_dir()


def _open_folder(source: str | Path, asked: OpenRequest) -> Dataset:
    return open_folder(source_path(source), path_info(source), asked.opts)


def _is_array_file(source: Any) -> bool:
    if not isinstance(source, str | Path):
        return False
    return source_path(source).suffix.lower() in ARRAY_SUFFIXES


def _open_array_file(source: str | Path, asked: OpenRequest) -> Dataset:
    return open_arrays(read_array_file(source_path(source)), path_info(source), asked.opts)


def _looks_like_path(source: str) -> bool:
    """A string that is not a registered name is a path if it looks like one; otherwise it is
    taken for a mistyped name (and the error lists the known names)."""
    path = Path(source)
    return "/" in source or source.startswith(".") or bool(path.suffix) or path.exists()


def describe(dataset: Dataset) -> dict[str, Any]:
    """What `vaekit data info` adds to a dataset's info: each split's size, whether it is
    labelled, and its value range and mean."""
    return {"splits": split_stats(dataset)}


def image_size_text(shape: tuple[int, int, int]) -> str:
    """'8x8 gray' or '32x32 color' for a (C, H, W) shape: width x height, as image tools say."""
    c, h, w = shape
    return f"{w}x{h} {'gray' if c == 1 else 'color'}"


def read_input(spec: str, schema: None, shape: tuple[int, int, int]) -> Any:
    """The images a file names: all of a .npy/.npz file's (as stored: integers are scaled by
    the model's value range when prepared; an array of one image's shape, (H, W) or the
    model's (C, H, W), is that one image), or a PNG/JPEG image's pixels as (1, C, H, W)
    floats in [0, 1], refused unless it has the model's size (and is gray for a gray model):
    resizing or cropping would hand the model pixels the user never gave it."""
    path = input_file(spec)
    if not _is_array_file(path):
        return _decode(path, shape)
    raw = read_array_file(path)["train_images"]
    if raw.ndim == 2 or tuple(raw.shape) == tuple(shape):  # one image: (H, W), (C, H, W)
        raw = raw[None]
    if raw.ndim > 0 and raw.shape[0] == 0:
        raise VaekitError(f"{path}: holds no images")
    return raw


def _decode(path: Path, shape: tuple[int, int, int]) -> torch.Tensor:
    """An image file's pixels at its own size as (1, C, H, W) float in [0, 1], refused
    unless they fit the model: its size, and gray for a gray model."""
    c, h, w = shape
    pixels = decode_image(path, Decode(None, "rgb", None), max_pixels=MAX_PIXELS)
    if pixels is None:
        raise VaekitError(f"{path}: not a readable PNG or JPEG image")
    x = torch.from_numpy(pixels)
    gray = bool((x[0] == x[1]).all() and (x[1] == x[2]).all())
    expected = f"this model takes {image_size_text(shape)} images"
    if c == 1 and not gray:
        raise VaekitError(f"{path}: a color image; {expected}: convert it to grayscale")
    if tuple(x.shape[1:]) != (h, w):
        got = f"{x.shape[2]}x{x.shape[1]}"
        raise VaekitError(f"{path}: a {got} image; {expected}: resize it to {w}x{h}")
    return scale(x[:c][None], 255)
