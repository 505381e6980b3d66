"""The audio kind's data part: see vaekit.kinds.protocol. Its source is a folder of WAV
recordings (data_wav.py), opened as a `Dataset` of log-mel spectrograms
(data_mel.py); its inputs are .wav files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.batches import ImageSet, carve
from vaekit.data.dataset import Dataset, OpenOptions, split_stats
from vaekit.data.datasets import OpenRequest, path_info, source_path
from vaekit.data.formats import input_file
from vaekit.data.prepare import is_prepared
from vaekit.errors import VaekitError
from vaekit.kinds.audio.data_mel import DEFAULTS as AUDIO_DEFAULTS
from vaekit.kinds.audio.data_mel import (
    AudioFeatures,
    check_settings,
    decibels_in_chunks,
    fit_features,
)
from vaekit.kinds.audio.data_wav import (
    is_audio_folder,
    labels_from_names,
    list_wavs,
    read_clips,
    test_rows,
)

DURATIONS = {"min": np.min, "median": np.median, "max": np.max}  # of recordings, in info


def schema_from_json(record: dict[str, Any] | None) -> AudioFeatures | None:
    """The model's spectrogram settings and statistics (AudioFeatures) from config.json."""
    return AudioFeatures.from_json(record) if record is not None else None


def _is_wav_folder(source: str | Path) -> bool:
    """A folder of .wav files, unless it is a prepared dataset (which is images)."""
    if not isinstance(source, str | Path):
        return False
    path = source_path(source)
    return path.is_dir() and not is_prepared(path) and is_audio_folder(path)


def _open_wav_folder(source: str | Path, asked: OpenRequest) -> Dataset:
    info = path_info(source)
    # Its settings: the kind's own options as `vaekit train` gives them (asked.options), or
    # as open_dataset's `audio` names them.
    settings = {**asked.options, **(asked.audio or {})}
    return open_audio(source_path(source), info, asked.opts, settings, asked.schema)


def describe(dataset: Dataset) -> dict[str, Any]:
    """What `vaekit data info` adds to a dataset's info: each split's size, whether it is
    labelled, and its value range and mean (of the standardized spectrograms)."""
    return {"splits": split_stats(dataset)}


def read_input(spec: str, schema: AudioFeatures, shape: tuple[int, int, int]) -> torch.Tensor:
    """A .wav file as the model's input (1, 1, M, T): resampled, fitted to the clip length
    and standardized as the model's `schema` says."""
    path = input_file(spec)
    if path.suffix.lower() != ".wav":
        raise VaekitError(f"{spec}: this run's model takes .wav files (or test indices)")
    return schema.read(path)


def open_audio(
    folder: Path,
    info: dict[str, Any],
    opts: OpenOptions,
    options: dict[str, Any],
    record: dict[str, Any] | None,
) -> Dataset:
    """A folder of WAV files (data_wav.py), each a standardized log-mel spectrogram
    (N, 1, M, T) named by its path in the folder; labels from the file names (the first group
    of `options["label_pattern"]`); the test split the files matching `test_pattern`, else
    carved with the seed. Statistics from the other (training) files, or the model's `record`."""
    features = schema_from_json(record)
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
        padded=int((seconds < settings["clip_seconds"]).sum()),
        test_pattern=options.get("test_pattern"),
        num_classes=len(classes) if labels is not None and classes else None,
        sha256=h.hexdigest(),
    )
    if labels is not None and classes:
        info["classes"] = classes
    return Dataset(train, test, info, kind="audio", schema=features)


def clip_names(specs: list[str], test_ids: Any) -> list[str]:
    """Each INPUT's name in the files `anomaly` and `embed` write: its file as given, and a
    test-split index the file of that clip (`test_ids()`: the test split's, read where asked)."""
    return [test_ids()[int(s)] if s.isdigit() else s for s in specs]
