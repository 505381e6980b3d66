"""Open a dataset from a registered name, a folder (of a registered dataset's files, in any
format the registry reads; prepared; or of images), a .npy/.npz file, a table (.csv,
.parquet: vaekit.data.rows), or an in-memory array.

Every source becomes a `Dataset`: a training and a test `ImageSet` (and an official validation
one where the source has it) plus a JSON-ready `info` (where it came from, shape, value range,
checksum of the pixels and labels). A source without an official test split gets one carved
with the seed; the fraction is recorded in `info`.

This module tells the sources apart, in one place (`recognize`, asking the registry of kinds,
vaekit.kinds.base, whose kinds name their tests and openers in their data parts,
vaekit.kinds.<kind>.data), and hands each to its opener with what it was asked
(`OpenRequest`); the `Dataset` they all return is in dataset. A registered name is looked up
once, and its spec is passed on to fetch and verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.batches import PIXEL_KINDS
from vaekit.data.dataset import (
    DEFAULT_TEST_FRACTION,
    Dataset,
    OpenOptions,
    Progress,
    split_validation,
)
from vaekit.data.folders import COLORS
from vaekit.data.registry import DatasetSpec, is_dataset_name
from vaekit.errors import VaekitError
from vaekit.kinds.base import Source, kind, kind_names, recognize_source

# open_dataset, and what the rest of the library imports from here of the modules it calls.
__all__ = [
    "DEFAULT_TEST_FRACTION",
    "Dataset",
    "OpenOptions",
    "OpenRequest",
    "Progress",
    "open_dataset",
    "path_info",
    "recognize",
    "source_path",
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
    target_is_label: bool = False,
    audio: dict[str, Any] | None = None,
    vocab_size: int = 10_000,
    max_length: int = 40,
    schema: dict[str, Any] | None = None,
    schema_kind: str | None = None,
    options: dict[str, Any] | None = None,
    of_kind: str | None = None,
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
            label column and the row-id column (see vaekit.kinds.table.data.open_table).
        target_is_label: take `target` as a class label even where its values look like
            measurements (the table kind's `implausible_label`), which is refused otherwise.
        audio: for a folder of .wav files (see vaekit.kinds.audio.data.open_audio): the
            spectrogram settings (clip_seconds, n_fft, hop_length, n_mels; None or missing:
            their defaults), the sample_rate (None: the most common), label_pattern and
            test_pattern.
        vocab_size, max_length: for a text file (.txt, one sentence per line; see
            vaekit.kinds.text.data.open_text): the vocabulary's size and the longest line
            kept, in tokens.
        schema, schema_kind: a model's schema record (config.json's model.schema) and the
            kind of data it is of (model.kind): a source of that kind is read with it, in
            place of what it would fit to its own training split (a table is encoded with
            the model's columns, statistics and categories, so columns, target and id_column
            go unused; audio takes the model's spectrogram settings and statistics; text the
            model's vocabulary). A source of another kind is opened as it is (and the caller
            refuses it), so that it is named as what it is rather than misread.
        options: each kind's own options by name (vaekit.kinds.<kind>.options; a time
            series' window, stride, ...), as given (None: not given), for the kind that
            opens the source to read its own.
        of_kind: the name of the kind of data the source holds (`--kind`), where its form
            does not say (a .npy array of time series rather than of images): only that
            kind's sources are tried (`recognize`). None: recognized from the source.
    """
    if color not in COLORS:
        raise VaekitError(f"unknown color {color!r}: choose from {', '.join(COLORS)}")
    if image_size is not None and image_size < 1:
        raise VaekitError(f"image size must be positive, got {image_size}")
    if pixels is not None and pixels not in PIXEL_KINDS:
        raise VaekitError(f"unknown pixels {pixels!r}: choose from {', '.join(PIXEL_KINDS)}")
    opts = OpenOptions(seed, test_fraction, image_size, color, crop, pixels, progress)
    found = recognize(source, of_kind)
    ours = schema_kind is not None and found in kind(schema_kind).sources
    asked = OpenRequest(
        opts, columns=columns, target=target, id_column=id_column,
        target_is_label=target_is_label, audio=audio, vocab_size=vocab_size,
        max_length=max_length, schema=schema if ours else None, options=dict(options or {}),
    )  # fmt: skip
    try:
        return found.load_opener()(source, asked)
    except VaekitError as err:
        if of_kind is not None:
            raise
        raise VaekitError(f"{err}{other_readings(source, found)}") from None


def other_readings(source: Any, found: Source) -> str:
    """Where a source that failed to open as what it was recognized for would be taken by
    another kind's source if the user said so (`--kind`: a .npy of time series, read as
    images by default): a clause naming those kinds; "" where none would."""
    if missing_path(source):
        return ""  # a missing file: no kind would read it
    read_as, others = None, []
    for name in kind_names():
        declared = kind(name)
        if found in declared.sources:
            read_as = declared.noun
            continue
        try:
            if any(s.suggested and s.load_recognizer()(source) for s in declared.sources):
                others.append(name)
        except (TypeError, ValueError, OSError):
            continue
    if not others or read_as is None:
        return ""
    # a Python object is given to vaekit.train, which takes kind=, not --kind
    say = "--kind {}" if isinstance(source, str | Path) else "kind={!r}"
    named = " or ".join(say.format(name) for name in others)
    return f" (read as {read_as}; if it holds another kind of data, say {named})"


@dataclass(frozen=True)
class OpenRequest:
    """What open_dataset was asked beyond its source, handed whole to the opener its source is
    recognized for, which takes what its kind needs (see open_dataset's arguments).

    schema: the model's schema record (config.json's model.schema) where the model is of the
    kind whose source this is, to be read by that kind's data part (`schema_from_json`);
    None otherwise."""

    opts: OpenOptions
    columns: tuple[str, ...] | None
    target: str | None
    id_column: str | None
    target_is_label: bool
    audio: dict[str, Any] | None
    vocab_size: int
    max_length: int
    schema: dict[str, Any] | None
    # Each kind's own options by name (vaekit.kinds.<kind>.options), as the user gave them
    # (None: not given); the opener of a kind reads its own.
    options: dict[str, Any]


def recognize(source: Any, of_kind: str | None = None) -> Source:
    """The source `source` is: the first kind of data's whose test holds, in the registry's
    order (vaekit.kinds.base: installed packages' kinds, unless they say otherwise, then
    BUILTIN_KINDS), so each test runs at most once; with `of_kind` (`--kind`), the first of
    that kind's sources. A source none of them takes is an error saying what is read."""
    found = recognize_source(source, of_kind)
    if found is not None:
        return found
    if of_kind is not None:
        raise VaekitError(_not_of_kind(source, of_kind))
    if not isinstance(source, str | Path):  # an object of Python's (vaekit.data.objects)
        raise VaekitError(
            f"{type(source).__name__} object: expected an array, a map-style torch Dataset, "
            "a pandas DataFrame or a Hugging Face datasets.Dataset"
        )
    raise VaekitError(
        f"{source_path(source)}: expected a dataset folder, a .npy/.npz file, a .csv/.parquet "
        "table, a .txt file of sentences or a dataset name"
    )


def _not_of_kind(source: Any, of_kind: str) -> str:
    """Why none of a kind's sources takes `source`: a missing path is named as missing;
    otherwise the message says what the kind reads (its data part's READS, where it has
    one; its noun otherwise)."""
    declared = kind(of_kind)
    if isinstance(source, str) and is_dataset_name(source):  # digits with --kind table
        return (f"{source} is a registered dataset (vaekit data list), not what --kind "
                f"{of_kind} reads: leave --kind out")  # fmt: skip
    if missing_path(source):
        return f"{source_path(source)}: no such file or folder"
    part = declared.part("data") if declared.package is not None else None
    reads = getattr(part, "READS", None) or declared.noun
    where = source_path(source) if isinstance(source, str | Path) else type(source).__name__
    return f"{where}: not {reads}, which is what --kind {of_kind} reads"


def missing_path(source: Any) -> bool:
    """Whether `source` names a file or folder that is not there (a registered dataset's
    name is no path)."""
    return (
        isinstance(source, str | Path)
        and not is_dataset_name(source)
        and not source_path(source).exists()
    )


def source_path(source: str | Path) -> Path:
    """A source given as a path, as a Path (with ~ expanded): what openers read."""
    return Path(source).expanduser()


def path_info(source: str | Path) -> dict[str, Any]:
    """The start of the info of a dataset opened from a path: where it came from."""
    return {"source": "path", "name": str(source_path(source).resolve())}
