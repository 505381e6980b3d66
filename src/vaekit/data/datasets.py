"""Open a dataset from a registered name, a folder (of a registered dataset's files, in any
format the registry reads; prepared; or of images), a .npy/.npz file, a table (.csv,
.parquet: vaekit.data.tables), or an in-memory array.

Every source becomes a `Dataset`: a training and a test `ImageSet` (and an official validation
one where the source has it) plus a JSON-ready `info` (where it came from, shape, value range,
checksum of the pixels and labels). A source without an official test split gets one carved
with the seed; the fraction is recorded in `info`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.audio import is_audio_folder, labels_from_names, list_wavs, read_clips, test_rows
from vaekit.data.batches import PIXEL_KINDS, ImageSet, carve, only_zero_or_max, pixels_for
from vaekit.data.fetch import fetch, folder_layouts, match_folder, verify_files
from vaekit.data.folders import COLORS, SUFFIXES, Decode, list_images, settle
from vaekit.data.formats import read_array_file
from vaekit.data.prepare import (
    fingerprint,
    is_prepared,
    open_prepared,
    prepare,
    prepared_path,
)
from vaekit.data.registry import DatasetSpec, ImageList, get_spec, is_dataset_name
from vaekit.data.spectrograms import DEFAULTS as AUDIO_DEFAULTS
from vaekit.data.spectrograms import (
    AudioFeatures,
    check_settings,
    decibels_in_chunks,
    fit_features,
)
from vaekit.data.tables import (
    TableSchema,
    fit_schema,
    is_table_path,
    read_table,
    table_checksum,
)
from vaekit.data.text import (
    MAX_LENGTH,
    Vocabulary,
    build_vocabulary,
    encode_corpus,
    is_text_path,
    read_lines,
)
from vaekit.errors import VaekitError

DEFAULT_TEST_FRACTION = 0.1
DURATIONS = {"min": np.min, "median": np.median, "max": np.max}  # of recordings, in info
# Called with (what, done, total or None): downloads count bytes, decoding counts images.
Progress = Callable[[str, int, "int | None"], None]


@dataclass
class Dataset:
    train: ImageSet
    test: ImageSet
    info: dict[str, Any]
    val: ImageSet | None = None  # an official validation split, where the source has one
    schema: TableSchema | None = None  # a table's columns (vaekit.data.tables)
    audio: AudioFeatures | None = None  # a WAV folder's spectrograms (vaekit.data.audio)
    vocab: Vocabulary | None = None  # a text file's vocabulary (vaekit.data.text)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.train.shape


@dataclass(frozen=True)
class _Options:
    """How open_dataset was asked to open its source."""

    seed: int
    test_fraction: float
    image_size: int | None
    color: str
    crop: str
    pixels: str | None
    progress: Progress | None


def open_dataset(
    source: str | Path | np.ndarray | torch.Tensor,
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
        source: a registered name (see `vaekit data list`); a folder holding the files of a
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
    opts = _Options(seed, test_fraction, image_size, color, crop, pixels, progress)
    if isinstance(source, np.ndarray | torch.Tensor):
        return _open_arrays({"train_images": source}, {"source": "array", "name": "array"}, opts)
    if is_dataset_name(source) or (isinstance(source, str) and not _looks_like_path(source)):
        spec = get_spec(source)
        paths = fetch(source, progress)
        verify_files(spec, paths)
        return _open_spec(spec, paths, {"source": "registry", "name": spec.name}, opts)
    path = Path(source).expanduser()
    info: dict[str, Any] = {"source": "path", "name": str(path.resolve())}
    if not path.exists():
        raise VaekitError(f"{path}: no such file or folder")
    if path.is_dir() and not is_prepared(path) and is_audio_folder(path):
        return open_audio(path, info, opts, audio or {}, audio_features)
    if path.is_dir():
        return _open_folder(path, info, opts)
    if path.suffix.lower() in (".npy", ".npz"):
        return _open_arrays(read_array_file(path), info, opts)
    if is_table_path(path):
        return open_table(path, info, opts, columns, target, id_column, table, target_is_label)
    if is_text_path(path):
        vocab = Vocabulary.from_json(text) if text is not None else None
        return open_text(path, info, opts, vocab_size, max_length, vocab)
    raise VaekitError(
        f"{path}: expected a dataset folder, a .npy/.npz file, a .csv/.parquet table, a .txt "
        "file of sentences or a dataset name"
    )


def open_text(
    path: Path,
    info: dict[str, Any],
    opts: _Options,
    vocab_size: int,
    max_length: int,
    vocab: Vocabulary | None,
) -> Dataset:
    """A text file (vaekit.data.text): its lines as token indices (N, 1, 1, max_length + 1),
    the test split carved with the seed from the non-blank lines, the vocabulary built from
    the other (training) lines, or a model's `vocab`. Each set's ids are its lines' text."""
    lines = read_lines(path)
    if len(lines) < 3:
        raise VaekitError(f"{path}: {len(lines)} lines are too few to carve a test split")
    if not 0 < opts.test_fraction < 1:
        raise VaekitError(f"test fraction must be in (0, 1), got {opts.test_fraction}")
    if not 1 <= max_length <= MAX_LENGTH:
        raise VaekitError(f"--max-length must be in 1..{MAX_LENGTH}, got {max_length}")
    kept, carved = carve(len(lines), opts.test_fraction, opts.seed)
    parts = [[lines[i] for i in index.tolist()] for index in (kept, carved)]
    if vocab is None:
        vocab = build_vocabulary(parts[0], vocab_size, max_length)
    train, test = (encode_corpus(part, vocab) for part in parts)
    if train.tokens and train.unknown_tokens > train.tokens / 2:
        raise VaekitError(
            f"--vocab-size {len(vocab) - 4}: {train.unknown_tokens / train.tokens:.0%} of the "
            "training tokens would be unknown; raise --vocab-size"
        )
    if not len(train.lines) or not len(test.lines):
        raise VaekitError(
            f"{path}: no {'training' if not len(train.lines) else 'test'} line has at most "
            f"--max-length {max_length} tokens; raise --max-length"
        )
    sets = [
        ImageSet(torch.from_numpy(c.rows), None, 1.0, pixels="text", ids=c.lines)
        for c in (train, test)
    ]
    info.update(
        kind="text",
        format="txt",
        max_value=1,
        shape=list(sets[0].shape),
        dtype="float32",
        num_lines=len(lines),
        num_train=len(sets[0]),
        num_test=len(sets[1]),
        num_classes=None,
        vocab_size=len(vocab),
        max_length=vocab.max_length,
        dropped_long={"train": train.dropped_long, "test": test.dropped_long},
        tokens={"train": train.tokens, "test": test.tokens},
        unknown_tokens={"train": train.unknown_tokens, "test": test.unknown_tokens},
        test_carved={"fraction": opts.test_fraction, "seed": opts.seed},
        sha256=hashlib.sha256(train.rows.tobytes() + test.rows.tobytes()).hexdigest(),
    )
    return Dataset(sets[0], sets[1], info, vocab=vocab)


def open_table(
    path: Path,
    info: dict[str, Any],
    opts: _Options,
    columns: tuple[str, ...] | None,
    target: str | None,
    id_column: str | None,
    table: dict[str, Any] | None,
    target_is_label: bool = False,
) -> Dataset:
    """A table (vaekit.data.tables): its rows as feature vectors (N, 1, 1, F), the test split
    carved with the seed, numeric columns standardized with the other (training) rows'
    statistics, or encoded with a model's schema `table`."""
    raw = read_table(path)
    if len(raw) < 3:
        raise VaekitError(f"{path}: {len(raw)} rows are too few to carve a test split")
    if not 0 < opts.test_fraction < 1:
        raise VaekitError(f"test fraction must be in (0, 1), got {opts.test_fraction}")
    kept, carved = carve(len(raw), opts.test_fraction, opts.seed)
    if table is None:
        schema = fit_schema(raw, kept.numpy(), columns, target, id_column, target_is_label)
        labels = schema.labels(raw)
    else:
        schema = TableSchema.from_json(table, "the model's table")
        labels = schema.labels(raw, required=False)
    values = schema.encode(raw)
    ids = schema.ids(raw)
    storage = torch.from_numpy(values).reshape(len(raw), 1, 1, -1)
    full = ImageSet(
        storage,
        torch.from_numpy(labels) if labels is not None else None,
        1.0,
        pixels="table",
        ids=ids,
    )
    train, test = full.subset(kept), full.subset(carved)
    missing = int(np.isnan(values).sum())
    info.update(
        kind="table",
        format=path.suffix.lower().lstrip("."),
        max_value=1,
        shape=list(full.shape),
        dtype="float32",
        num_rows=len(raw),
        num_train=len(train),
        num_test=len(test),
        num_classes=len(schema.classes) if labels is not None else None,
        missing_values=missing,
        test_carved={"fraction": opts.test_fraction, "seed": opts.seed},
        sha256=table_checksum(values, labels, ids),
    )
    if labels is not None:
        info["classes"] = list(schema.classes)
    return Dataset(train, test, info, schema=schema)


def open_audio(
    folder: Path,
    info: dict[str, Any],
    opts: _Options,
    options: dict[str, Any],
    record: dict[str, Any] | None,
) -> Dataset:
    """A folder of WAV files (vaekit.data.audio), each a standardized log-mel spectrogram
    (N, 1, M, T) named by its path in the folder; labels from the file names (the first group
    of `options["label_pattern"]`); the test split the files matching `test_pattern`, else
    carved with the seed. Statistics from the other (training) files, or the model's `record`."""
    features = AudioFeatures.from_json(record) if record is not None else None
    settings = dict(AUDIO_DEFAULTS)
    settings.update({k: v for k, v in options.items() if v is not None and k in settings})
    if features is not None:
        settings.update(clip_seconds=features.clip_seconds, n_fft=features.n_fft,
                        hop_length=features.hop_length, n_mels=features.n_mels)  # fmt: skip
    check_settings(settings)
    names = list_wavs(folder)
    rate = features.sample_rate if features is not None else options.get("sample_rate")
    clips, rate, rates, seconds = read_clips(folder, names, rate, settings["clip_seconds"])
    if clips.shape[1] <= settings["n_fft"] // 2:
        raise VaekitError(
            f"--clip-seconds {settings['clip_seconds']}: {clips.shape[1]} samples at {rate} "
            f"Hz, too short for --n-fft {settings['n_fft']}"
        )
    labels, classes = None, None
    if options.get("label_pattern") is not None:
        try:
            labels, classes = labels_from_names(names, options["label_pattern"])
        except VaekitError:
            if features is None:
                raise
            labels = None  # other recordings given to a model: names without its labels
        if (
            features is not None
            and features.classes is not None
            and classes != list(features.classes)
        ):
            classes = list(features.classes)
            labels = None  # other names: the model's classes do not number them
    if options.get("test_pattern") is not None:
        testing = test_rows(names, options["test_pattern"])
        kept = torch.from_numpy(np.flatnonzero(~testing))
        carved = torch.from_numpy(np.flatnonzero(testing))
    else:
        if len(names) < 3:
            raise VaekitError(f"{folder}: {len(names)} recordings are too few to carve a test set")
        if not 0 < opts.test_fraction < 1:
            raise VaekitError(f"test fraction must be in (0, 1), got {opts.test_fraction}")
        kept, carved = carve(len(names), opts.test_fraction, opts.seed)
        info["test_carved"] = {"fraction": opts.test_fraction, "seed": opts.seed}
    waves = torch.from_numpy(clips)
    if features is None:
        features, db = fit_features(waves, kept, rate, settings, classes)
    else:
        db = decibels_in_chunks(features, waves)
    values = features.standardize(db).contiguous()
    full = ImageSet(
        values,
        torch.from_numpy(labels) if labels is not None else None,
        1.0,
        pixels="continuous",
        ids=names,
    )
    train, test = full.subset(kept), full.subset(carved)
    h = hashlib.sha256(clips.tobytes())
    h.update(("\n".join(names) + repr(options.get("label_pattern"))).encode())
    info.update(
        kind="audio",
        format="wav",
        max_value=1,
        pixels="continuous",
        shape=list(full.shape),
        dtype="float32",
        num_files=len(names),
        num_train=len(train),
        num_test=len(test),
        sample_rate=rate,
        resampled=sum(r != rate for r in rates),
        clip_seconds=settings["clip_seconds"],
        durations_s={k: round(float(f(seconds)), 4) for k, f in DURATIONS.items()},
        cropped=int((seconds > settings["clip_seconds"]).sum()),
        test_pattern=options.get("test_pattern"),
        num_classes=len(classes) if labels is not None and classes else None,
        sha256=h.hexdigest(),
    )
    if labels is not None and classes:
        info["classes"] = classes
    return Dataset(train, test, info, audio=features)


def _open_spec(
    spec: DatasetSpec, paths: dict[str, Path], info: dict[str, Any], opts: _Options
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


def _open_folder(folder: Path, info: dict[str, Any], opts: _Options) -> Dataset:
    """A prepared dataset, the files of a registered dataset, or image files, in this order;
    a folder holding none of them is an error saying what was looked for."""
    if is_prepared(folder):
        return _open_prepared_dataset(folder, info, opts)
    matched = match_folder(folder)
    if matched is not None:
        return _open_spec(*matched, info, opts)
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


def _open_arrays(raw: dict[str, Any], info: dict[str, Any], opts: _Options) -> Dataset:
    """Images from arrays: uint8 (8-bit, values 0-255) or float in [0, 1] (continuous)."""
    for key in [k for k in raw if k.endswith("_images")]:
        raw[key] = _images_from_array(raw[key], f"{info['name']}: {key}")
    uint8 = raw["train_images"].dtype == np.uint8
    info.update(max_value=255 if uint8 else 1, pixels="8-bit" if uint8 else "continuous")
    return _finish(_image_sets(raw, info["max_value"], info["name"]), info, opts)


def _open_images(listing: ImageList, info: dict[str, Any], opts: _Options) -> Dataset:
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


def _open_prepared_dataset(folder: Path, info: dict[str, Any], opts: _Options) -> Dataset:
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
        sha256=header["fingerprint"],
        prepared=str(folder),
        skipped=len(header["skipped"]),
    )
    if header["classes"]:
        info["classes"] = header["classes"]
    return _finish(splits, info, opts)


def _looks_like_path(source: str) -> bool:
    """A string that is not a registered name is a path if it looks like one; otherwise it is
    taken for a mistyped name (and the error lists the known names)."""
    path = Path(source)
    return "/" in source or source.startswith(".") or bool(path.suffix) or path.exists()


def _images_from_array(array: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[1] not in (1, 3) or min(a.shape) == 0:
        raise VaekitError(
            f"{what}: expected images shaped (N, H, W) or (N, C, H, W) with C 1 or 3, got {a.shape}"
        )
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise VaekitError(f"{what}: float images must be finite and in [0, 1]")
        return np.ascontiguousarray(a, dtype=np.float32)
    raise VaekitError(f"{what}: images must be uint8 or float in [0, 1], got {a.dtype}")


def _finish(splits: dict[str, ImageSet], info: dict[str, Any], opts: _Options) -> Dataset:
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
