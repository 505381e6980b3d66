"""Open a dataset from a registered name, a folder (of a registered dataset's files, in any
format the registry reads; prepared; or of images), a .npy/.npz file, a table (.csv,
.parquet: vaekit.data.tables), or an in-memory array.

Every source becomes a `Dataset`: a training and a test `ImageSet` (and an official validation
one where the source has it) plus a JSON-ready `info` (where it came from, shape, value range,
checksum of the pixels and labels). A source without an official test split gets one carved
with the seed; the fraction is recorded in `info`.

This module tells the sources apart, in one place (`recognize`, asking the registry of kinds,
vaekit.kinds.base, whose built-in kinds name the tests and openers below), and hands each to
its opener: image_dataset (registered datasets, folders, arrays), table_dataset,
audio_dataset and text_dataset; the `Dataset` they all return is in dataset. A registered name
is looked up once, and its spec is passed on to fetch and verify.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.audio import is_audio_folder
from vaekit.data.audio_dataset import DURATIONS, open_audio
from vaekit.data.batches import PIXEL_KINDS
from vaekit.data.dataset import (
    DEFAULT_TEST_FRACTION,
    Dataset,
    OpenOptions,
    Progress,
    split_validation,
)
from vaekit.data.fetch import fetch_for, verify_files
from vaekit.data.folders import COLORS
from vaekit.data.formats import read_array_file
from vaekit.data.image_dataset import open_arrays, open_folder, open_spec
from vaekit.data.prepare import is_prepared
from vaekit.data.registry import DatasetSpec, get_spec, is_dataset_name
from vaekit.data.table_dataset import open_table
from vaekit.data.text import Vocabulary
from vaekit.data.text_dataset import open_text
from vaekit.errors import VaekitError
from vaekit.kinds.base import recognize_source

# open_dataset, and what the rest of the library imports from here of the modules it calls.
__all__ = [
    "DEFAULT_TEST_FRACTION",
    "DURATIONS",
    "Dataset",
    "OpenOptions",
    "Progress",
    "open_audio",
    "open_dataset",
    "open_table",
    "open_text",
    "recognize",
    "split_validation",
]


def open_dataset(
    source: str | Path | np.ndarray | torch.Tensor | DatasetSpec,
    *,
    seed: int = 0,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    image_size: int | None = None,
    color: str = "auto",
    crop: str = "center",
    pixels: str | None = None,
    progress: Progress | None = None,
    columns: tuple[str, ...] | None = None,
    target: str | None = None,
    id_column: str | None = None,
    table: dict[str, Any] | None = None,
    target_is_label: bool = False,
    audio: dict[str, Any] | None = None,
    audio_features: dict[str, Any] | None = None,
    vocab_size: int = 10_000,
    max_length: int = 40,
    text: dict[str, Any] | None = None,
) -> Dataset:
    """Load `source`: into memory, or memory-mapped for image folders.

    Args:
        source: a registered name (see `vaekit data list`) or its spec, already looked up
            (vaekit.data.registry.get_spec); a folder holding the files of a
            registered dataset in any format the registry reads (the four IDX files
            train-images-idx3-ubyte, ... plain or .gz; CIFAR-10 binary or python batches;
            SVHN's train_32x32.mat and test_32x32.mat; binarized MNIST's .amat files;
            olivettifaces.mat; CelebA's img_align_celeba/ and list_eval_partition.txt), read
            as they are, without the registry's checksums; a prepared dataset (`vaekit data
            prepare`); any folder of PNG/JPEG images (subfolders = labels); a .npy file of
            images or an .npz file with an image array (and optional labels and test split);
            or an array of images shaped (N, H, W) or (N, C, H, W), uint8 or float in [0, 1].
        seed: carves the test split where the source has none.
        test_fraction: the share of examples carved for testing in that case.
        image_size, color, crop: how a folder's image files are decoded: the side of the
            square they become (None: as they are), "auto"/"gray"/"rgb", and "center" (crop
            the centre square, then resize) or "none" (resize the whole image).
        pixels: what the pixel values are, in place of what the source declares (None):
            "binary" (0 or the maximum), "8-bit" (0..255), "discrete" (integers 0..max) or
            "continuous" (floats in [0, 1]). Recorded as info["pixels"] and on every split
            (ImageSet.pixels); a kind the data cannot hold (8-bit floats, binary gray
            pixels) is an error.
        progress: called with (what, done, total) during downloads and image decoding.
        columns, target, id_column: for a table (.csv, .parquet): the modelled columns, the
            label column and the row-id column (see `open_table`).
        target_is_label: take `target` as a class label even where its values look like
            measurements (vaekit.data.tables.implausible_label), which is refused otherwise.
        table: a model's table schema (TableSchema JSON): the table is encoded with it
            instead of a schema fitted to its own rows; columns, target, id_column unused.
        audio: for a folder of .wav files (see `open_audio`): the spectrogram settings
            (clip_seconds, n_fft, hop_length, n_mels; None or missing: their defaults), the
            sample_rate (None: the most common), label_pattern and test_pattern.
        audio_features: a model's audio record (AudioFeatures JSON): its settings and
            statistics instead of those of `audio` and of the training split.
        vocab_size, max_length, text: for a text file (.txt, one sentence per line; see
            `open_text`): the vocabulary's size and the longest line kept, in tokens; or a
            model's text record (its vocabulary) to encode the lines with instead.
    """
    if color not in COLORS:
        raise VaekitError(f"unknown color {color!r}: choose from {', '.join(COLORS)}")
    if image_size is not None and image_size < 1:
        raise VaekitError(f"image size must be positive, got {image_size}")
    if pixels is not None and pixels not in PIXEL_KINDS:
        raise VaekitError(f"unknown pixels {pixels!r}: choose from {', '.join(PIXEL_KINDS)}")
    opts = OpenOptions(seed, test_fraction, image_size, color, crop, pixels, progress)
    asked = OpenRequest(
        opts, columns=columns, target=target, id_column=id_column, table=table,
        target_is_label=target_is_label, audio=audio, audio_features=audio_features,
        vocab_size=vocab_size, max_length=max_length, text=text,
    )  # fmt: skip
    return recognize(source)(source, asked)


@dataclass(frozen=True)
class OpenRequest:
    """What open_dataset was asked beyond its source, handed whole to the opener its source is
    recognized for, which takes what its kind needs (see open_dataset's arguments)."""

    opts: OpenOptions
    columns: tuple[str, ...] | None
    target: str | None
    id_column: str | None
    table: dict[str, Any] | None
    target_is_label: bool
    audio: dict[str, Any] | None
    audio_features: dict[str, Any] | None
    vocab_size: int
    max_length: int
    text: dict[str, Any] | None


# An opener: (the source as given, the request) -> its Dataset.
Opener = Callable[[Any, OpenRequest], Dataset]


def recognize(source: Any) -> Opener:
    """The opener for `source`: that of the first kind of data whose test holds, in the
    registry's order (vaekit.kinds.base: installed packages' kinds, unless they say otherwise,
    then BUILTIN_KINDS), so each test runs at most once; a source none of them takes is an
    error saying what is read."""
    found = recognize_source(source)
    if found is not None:
        return found.load_opener()
    raise VaekitError(
        f"{_path(source)}: expected a dataset folder, a .npy/.npz file, a .csv/.parquet table, "
        "a .txt file of sentences or a dataset name"
    )


def _is_array(source: Any) -> bool:
    return isinstance(source, np.ndarray | torch.Tensor)


def _open_array(source: np.ndarray | torch.Tensor, asked: OpenRequest) -> Dataset:
    return open_arrays({"train_images": source}, {"source": "array", "name": "array"}, asked.opts)


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


def _path(source: str | Path) -> Path:
    return Path(source).expanduser()


def _path_info(source: str | Path) -> dict[str, Any]:
    return {"source": "path", "name": str(_path(source).resolve())}


def _is_missing(source: str | Path) -> bool:
    return not _path(source).exists()


def _refuse_missing(source: str | Path, asked: OpenRequest) -> Dataset:
    raise VaekitError(f"{_path(source)}: no such file or folder")


def _is_wav_folder(source: str | Path) -> bool:
    """A folder of .wav files, unless it is a prepared dataset (which is images)."""
    path = _path(source)
    return path.is_dir() and not is_prepared(path) and is_audio_folder(path)


def _open_wav_folder(source: str | Path, asked: OpenRequest) -> Dataset:
    info = _path_info(source)
    return open_audio(_path(source), info, asked.opts, asked.audio or {}, asked.audio_features)


def _is_folder(source: str | Path) -> bool:
    return _path(source).is_dir()


def _open_folder(source: str | Path, asked: OpenRequest) -> Dataset:
    return open_folder(_path(source), _path_info(source), asked.opts)


def _is_array_file(source: str | Path) -> bool:
    return _path(source).suffix.lower() in (".npy", ".npz")


def _open_array_file(source: str | Path, asked: OpenRequest) -> Dataset:
    return open_arrays(read_array_file(_path(source)), _path_info(source), asked.opts)


def _open_table_file(source: str | Path, asked: OpenRequest) -> Dataset:
    return open_table(
        _path(source), _path_info(source), asked.opts, asked.columns, asked.target,
        asked.id_column, asked.table, asked.target_is_label,
    )  # fmt: skip


def _open_text_file(source: str | Path, asked: OpenRequest) -> Dataset:
    vocab = Vocabulary.from_json(asked.text) if asked.text is not None else None
    return open_text(
        _path(source), _path_info(source), asked.opts, asked.vocab_size, asked.max_length, vocab
    )


def _looks_like_path(source: str) -> bool:
    """A string that is not a registered name is a path if it looks like one; otherwise it is
    taken for a mistyped name (and the error lists the known names)."""
    path = Path(source)
    return "/" in source or source.startswith(".") or bool(path.suffix) or path.exists()
