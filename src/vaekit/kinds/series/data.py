"""The series kind's data part: its sources (read by data_read: a series file, a folder of
them, a .npy array of series), its schema, and how each series is cut into the windows a
model sees.

A missing value is left out of the likelihood and the encoder sees the channel's mean there,
as a table's missing cells. Each channel is standardized with the training parts' mean and
standard deviation. The model sees windows of --window steps, (1, C, W): each training part's
every --stride steps, and each test part's each ending at one of its steps; the last tenth of
a training part (VAL_SHARE) gives the validation windows, wholly inside it. A test part is
the end of its series (what --train-part leaves), never rows drawn from everywhere: a window
of the test part would otherwise hold steps the model trained on. Where the data holds
several series (a folder's files, a .npy's series), each is split so, and no window crosses
two of them. Other series given to a model (`--data new.csv`) are scored at every step from
their first full window.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data import objects
from vaekit.data.batches import ImageSet
from vaekit.data.dataset import Dataset
from vaekit.data.rows import TABLE_SUFFIXES
from vaekit.errors import VaekitError
from vaekit.kinds.series.data_read import (
    NPY_SUFFIX,
    RawSeries,
    StepName,
    read_array,
    read_folder,
)
from vaekit.kinds.series.data_read import TIME_NAMES as TIME_NAMES
from vaekit.kinds.series.data_read import read_series as read_series

# What `--kind series` reads, for the message where a source is none of it.
READS = (
    "a .csv/.parquet series file (its first column its time), a folder of them or a .npy "
    "array (series, time, channels)"
)
KIND = "series"  # what Dataset.kind and config.json's model.kind say
DEFAULT_TRAIN_PART = 0.9  # --train-part's default: the first 90% of the steps train
# The end of the training part held out as validation windows (which never overlap the
# training windows: windows drawn at random among overlapping ones would share steps with
# them, and a threshold calibrated on them would sit too low).
VAL_SHARE = 0.1
# What a training part too short to hold out its end says (data info, and a warning at
# training): the shared split then draws validation windows among the training ones.
SHORT_VALIDATION = (
    "the training part is too short to hold out its end for validation (two windows' steps "
    "at least): validation windows are drawn from the training windows, which they overlap, "
    "so a validation score and an anomaly threshold calibrated on them are optimistic; raise "
    "--train-part or lower --window"
)
_WARNED_SHORT: set[str] = set()  # the checksums of the series warned about


@dataclass(frozen=True)
class SeriesSchema:
    """What a series model knows of its data (config.json's model.schema): the time column,
    the channels in order, the window and stride, each channel's training mean and standard
    deviation, and the interval between steps in seconds (None: rows taken as steps)."""

    time_column: str
    channels: tuple[str, ...]
    window: int
    stride: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    step_seconds: float | None
    sha256: str  # the series it was fitted on (series_checksum): its own, split as then

    @property
    def shape(self) -> tuple[int, int, int]:
        return (1, len(self.channels), self.window)

    def standardize(self, values: np.ndarray) -> np.ndarray:
        """(T, C) values in the data's units -> float32 standardized (NaN stays NaN)."""
        mean, std = np.asarray(self.mean), np.asarray(self.std)
        return ((values - mean) / std).astype(np.float32)

    def unstandardize(self, values: np.ndarray) -> np.ndarray:
        """Standardized values (..., C) -> the data's units."""
        return values * np.asarray(self.std) + np.asarray(self.mean)

    def to_json(self) -> dict[str, Any]:
        return {
            "time_column": self.time_column,
            "channels": list(self.channels),
            "window": self.window,
            "stride": self.stride,
            "mean": list(self.mean),
            "std": list(self.std),
            "step_seconds": self.step_seconds,
            "sha256": self.sha256,
        }

    @classmethod
    def from_json(cls, record: Any, where: str = "the model's series") -> SeriesSchema:
        keys = {"time_column", "channels", "window", "stride", "mean", "std", "step_seconds",
                "sha256"}  # fmt: skip
        if not isinstance(record, dict) or set(record) != keys:
            raise VaekitError(f"{where}: expected the keys {', '.join(sorted(keys))}")
        channels = record["channels"]
        if not isinstance(channels, list) or not channels:
            raise VaekitError(f"{where}: channels must be a list of column names")
        if not all(isinstance(c, str) for c in channels) or len(set(channels)) != len(channels):
            raise VaekitError(f"{where}: channels must be distinct column names")
        for key in ("window", "stride"):
            value = record[key]
            if type(value) is not int or value < (2 if key == "window" else 1):
                raise VaekitError(f"{where}: {key} must be an integer, at least 2 (window)")
        stats = []
        for key in ("mean", "std"):
            values = record[key]
            ok = isinstance(values, list) and len(values) == len(channels)
            if not ok or not all(_finite_number(v) for v in values):
                raise VaekitError(f"{where}: {key} must be one finite number per channel")
            stats.append(tuple(float(v) for v in values))
        if min(stats[1]) <= 0:
            raise VaekitError(f"{where}: std must be positive")
        step = record["step_seconds"]
        if step is not None and (not _finite_number(step) or step <= 0):
            raise VaekitError(f"{where}: step_seconds must be a positive number or null")
        if not isinstance(record["time_column"], str) or not isinstance(record["sha256"], str):
            raise VaekitError(f"{where}: time_column and sha256 must be strings")
        return cls(record["time_column"], tuple(channels), record["window"], record["stride"],
                   stats[0], stats[1], None if step is None else float(step),
                   record["sha256"])  # fmt: skip


def _finite_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def schema_from_json(record: dict[str, Any] | None) -> SeriesSchema | None:
    """The kind protocol's schema from config.json's record (None -> None)."""
    return None if record is None else SeriesSchema.from_json(record)


def fit_schema(
    parts: list[tuple[RawSeries, int]], window: int, stride: int, checksum: str
) -> SeriesSchema:
    """The schema of series whose first rows (for each, its count in `parts`) train: each
    channel's mean and standard deviation over all their training rows. The time column and
    the interval between steps are the first series'."""
    first = parts[0][0]
    values = np.concatenate([series.values[:rows] for series, rows in parts])
    mean, std = [], []
    for c, name in enumerate(first.channels):
        seen = values[:, c][~np.isnan(values[:, c])]
        if len(seen) == 0:
            raise VaekitError(f"{first.path}: column {name!r} has no value in the training part")
        mean.append(float(seen.mean()))
        spread = float(seen.std())
        std.append(spread if spread > 1e-12 else 1.0)  # a constant channel: left unscaled
    return SeriesSchema(first.time_column, first.channels, window, stride, tuple(mean),
                        tuple(std), first.step_seconds, checksum)  # fmt: skip


def windows(standardized: np.ndarray, window: int, ends: np.ndarray) -> torch.Tensor:
    """The windows (N, 1, C, W) ending at each step of `ends` (each at least window - 1).
    Where the ends are evenly spaced (every step, or every --stride steps), a view of the
    series (T, C) that holds each value once: copied window by window as batches are read,
    where a copy of every window took W times the series' memory."""
    every = torch.from_numpy(standardized).unfold(0, window, 1)  # (T - W + 1, C, W), a view
    starts = ends - (window - 1)
    step = int(starts[1] - starts[0]) if len(starts) > 1 else 1
    even = len(starts) and step > 0 and (starts == starts[0] + step * np.arange(len(starts))).all()
    cut = every[starts[0] :: step][: len(starts)] if even else every[torch.from_numpy(starts)]
    return cut[:, None]


def window_set(
    series: RawSeries,
    schema: SeriesSchema,
    ends: np.ndarray,
    name: str | None = None,
    source: str | None = None,
) -> ImageSet:
    """The windows ending at `ends`, each named by its last step's timestamp (after the
    series' `name`, where the data holds several: StepName), read from `source` (an INPUT)."""
    x = windows(schema.standardize(series.values), schema.window, ends)
    ids = [StepName(series.times[i], name, source) for i in ends]
    return ImageSet(x, None, 1.0, pixels="continuous", ids=ids)  # type: ignore[arg-type]


def joined(sets: list[ImageSet]) -> ImageSet:
    """Windows of several series as one set, in order (each window inside its series)."""
    if len(sets) == 1:
        return sets[0]
    ids = [i for s in sets for i in (s.ids or [])]
    return ImageSet(torch.cat([s.images for s in sets]), None, 1.0, pixels="continuous", ids=ids)


def series_checksum(series: RawSeries) -> str:
    digest = hashlib.sha256()
    digest.update(series.seconds.astype("<f8").tobytes())
    digest.update(np.nan_to_num(series.values, nan=np.inf).astype("<f8").tobytes())
    digest.update(repr(series.channels).encode())
    return digest.hexdigest()


def named_checksum(named: list[tuple[str | None, RawSeries]]) -> str:
    """The checksum of the series of a source: a single series' own (series_checksum), or,
    of several, one over each one's name and checksum, in order."""
    if len(named) == 1 and named[0][0] is None:
        return series_checksum(named[0][1])
    digest = hashlib.sha256()
    for name, series in named:
        digest.update(f"{name}\n{series_checksum(series)}\n".encode())
    return digest.hexdigest()


def split_ends(
    rows: int, window: int, stride: int, test_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train ends, validation ends, test ends): the last step of each window. The test part
    is the last `test_fraction` of the rows, a window ending at each of its steps. The end of
    the training part (VAL_SHARE of it, at least a window's steps) is held out for
    validation, a window ending at each step whose window lies wholly inside it; the rest
    trains, a window every `stride` steps. A training part too short for both has no
    validation windows (none: the shared code then carves them at random)."""
    first_test = rows - max(1, round(rows * test_fraction))
    if rows <= window:  # no --train-part helps
        raise VaekitError(f"{rows} rows, no more than one --window of {window}: lower --window")
    if first_test < window:
        raise VaekitError(
            f"{rows} rows hold a training part of {first_test} steps, fewer than one --window "
            f"of {window}: lower --window or raise --train-part"
        )
    test = np.arange(max(first_test, window - 1), rows)
    first_val = first_test - max(window, round(first_test * VAL_SHARE))
    if first_val < window:
        return np.arange(window - 1, first_test, stride), np.arange(0), test
    train = np.arange(window - 1, first_val, stride)
    return train, np.arange(first_val + window - 1, first_test), test


# --- the sources (vaekit.kinds.base, BUILTIN_KINDS: their recognizers are in data_read) ----


def open_series(source: str | Path, request: Any) -> Dataset:
    """A series file as a Dataset of windows (see the module docstring); with the run's
    schema (request.schema) where a model of a series reopens its data."""
    path = Path(source).expanduser()
    given, time_column, channels, irregular = _how(request)
    named = [(None, read_series(path, time_column, channels, irregular, model=bool(given)))]
    return _open_named(path, named, request, path.suffix.lower().lstrip("."))


def open_series_dataframe(source: Any, request: Any) -> Dataset:
    """A pandas DataFrame of one series, read as its .csv would be (vaekit.data.objects)."""
    _, time_column, channels, irregular = _how(request)
    name, series = _frame_series(source, time_column, channels, irregular)
    return _open_named(name, [(None, series)], request, "dataframe")


def _frame_series(
    source: Any, time_column: str | None, channels: Any, irregular: str, model: bool = False
) -> tuple[Path, RawSeries]:
    """A DataFrame's series, read as its CSV would be, and the name messages give it."""
    name = Path(objects.describe_object(source))
    raw = objects.dataframe_rows(source)
    return name, read_series(name, time_column, channels, irregular, raw, model=model)


def open_series_folder(source: str | Path, request: Any) -> Dataset:
    """A folder of series files, one series each (data_read.read_folder), as one Dataset of
    windows: each file split as a single series is, no window crossing two files."""
    path = Path(source).expanduser()
    _, time_column, channels, irregular = _how(request)
    found = read_folder(path, time_column, channels, irregular)
    return _open_named(path, [(s.path.name, s) for s in found], request, "folder")


def open_series_array(source: str | Path, request: Any) -> Dataset:
    """A .npy array of series (data_read.read_array), as a folder's files are: each series
    split alike, no window crossing two; named by their index where there are several."""
    path = Path(source).expanduser()
    given = _how(request)[0]
    found = read_array(path, given.channels if given else None)
    named = [(None if len(found) == 1 else str(i), s) for i, s in enumerate(found)]
    return _open_named(path, named, request, "npy")


def open_series_ndarray(source: np.ndarray, request: Any) -> Dataset:
    """An array of series in memory (`vaekit.train(array, kind="series")`), as a .npy of it
    is read; its run reopens it only where it is given again (data=), as an image array's."""
    given = _how(request)[0]
    found = read_array(source, given.channels if given else None)
    named = [(None if len(found) == 1 else str(i), s) for i, s in enumerate(found)]
    return _open_named(Path("array"), named, request, "array")


def _how(request: Any) -> tuple[SeriesSchema | None, str | None, tuple[str, ...] | None, str]:
    """(the run's schema or None, the time column, the value columns, irregular): how a
    source is read, by the run's schema where a model reopens its data, else by the
    options."""
    options = request.options
    given = SeriesSchema.from_json(request.schema) if request.schema is not None else None
    if given is not None:
        return given, given.time_column, given.channels, _irregular(given)
    irregular = options.get("irregular") or "refuse"
    return None, options.get("time_column"), options.get("value_columns"), irregular


def _irregular(schema: SeriesSchema) -> str:
    """How a model reads a series file: rows as steps where it was trained so, else its
    steps must be regular ("model": refused with a remedy for that case)."""
    return "keep" if schema.step_seconds is None else "model"


def _open_named(
    path: Path, named: list[tuple[str | None, RawSeries]], request: Any, form: str
) -> Dataset:
    """The Dataset of windows of the series `named` (a name each where there are several),
    each split into its training, validation and test parts."""
    options = request.options
    given = _how(request)[0]
    window = given.window if given else options.get("window") or 32
    stride = given.stride if given else options.get("stride") or 1
    if given is not None:  # the run's own split, recorded as test_carved when it trained
        fraction = request.opts.test_fraction
    else:
        fraction = 1 - (options.get("train_part") or DEFAULT_TRAIN_PART)
    splits = []
    for name, series in named:
        try:
            splits.append(split_ends(len(series.times), window, stride, fraction))
        except VaekitError as err:
            raise VaekitError(f"{_where(path, name, series)}: {err}") from None
    checksum = named_checksum(named)
    if given is None:  # the training part of each: the steps before its test part
        parts = [(s, int(test[0])) for (_, s), (_, _, test) in zip(named, splits, strict=True)]
        schema = fit_schema(parts, window, stride, checksum)
    else:
        schema = given
    other = given is not None and given.sha256 != checksum  # series not the model's own
    if other:
        for name, series in named:
            _check_step(_where(path, name, series), series, given)
        # Other series than the model's own: every step of each is scored (their training
        # parts stay, for what calibrates on them).
        splits = [(train, val, np.arange(window - 1, len(s.times)))
                  for (_, s), (train, val, _) in zip(named, splits, strict=True)]  # fmt: skip
    train, val, test = (
        joined([window_set(s, schema, ends[k], name)
                for (name, s), ends in zip(named, splits, strict=True)])
        for k in range(3)
    )  # fmt: skip
    if given is None and not len(val) and checksum not in _WARNED_SHORT:
        _WARNED_SHORT.add(checksum)  # once a process: a run reopens its data at its end
        warnings.warn(f"{path}: {SHORT_VALIDATION}", stacklevel=2)
    values = [s.values for _, s in named]
    info = {
        "source": "folder" if form == "folder" else "file",
        "name": str(path.resolve()),  # a run reopens it from wherever it is used
        **({"source": objects.SOURCE, "name": str(path)} if form == "dataframe" else {}),
        **({"source": "array", "name": "array"} if form == "array" else {}),
        "kind": KIND,
        "format": form,
        "max_value": 1,
        "shape": list(schema.shape),
        "dtype": "float32",
        "num_rows": sum(len(s.times) for _, s in named),
        "num_series": len(named),
        "channels": list(schema.channels),
        "window": window,
        "stride": stride,
        "step_seconds": named[0][1].step_seconds,
        # times written as numbers (epoch seconds, milliseconds, ...): of no known unit
        "time_is_number": _is_number(named[0][1].times[0]) if named[0][1].times else False,
        "num_train": len(train),
        "num_val": len(val) if len(val) else None,
        "num_test": len(test),
        "missing_values": int(sum(np.isnan(v).sum() for v in values)),
        "test_carved": {"fraction": fraction, "chronological": True},
        "sha256": checksum,
    }
    if other:  # what eval calls the split it scores
        info["test_is_all"] = True
    return Dataset(train, test, info, val=val if len(val) else None, kind=KIND, schema=schema)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _where(path: Path, name: str | None, series: RawSeries) -> str:
    """Where a message about one series of a source points: its file (a folder's), or the
    source and the series' index (a .npy's)."""
    if series.path != path or name is None:
        return str(series.path)
    return f"{path} (series {name})"


# --- the kind protocol's data part (see vaekit.kinds.protocol) ----------------------------


def describe(dataset: Dataset) -> dict[str, Any]:
    """What `vaekit data info` adds to a series' info: each channel's training statistics."""
    schema = dataset.schema
    # A channel constant in the training part is left unscaled (its std recorded as 1): its
    # standardized training values are then all 0.
    x = dataset.train.images  # a view of the series: read a few thousand windows at a time
    flat = [
        all(
            bool(torch.nan_to_num(x[i : i + 4096, 0, c]).eq(0).all())
            for i in range(0, len(x), 4096)
        )
        for c in range(len(schema.channels))
    ]
    return {
        "statistics": [
            {"channel": name, "mean": mean, "std": 0.0 if constant else std}
            for name, mean, std, constant in zip(
                schema.channels, schema.mean, schema.std, flat, strict=True
            )
        ]
    }


# read_rows and read_input take a pandas DataFrame too (vaekit.kinds.protocol)
DATAFRAMES = True


def read_rows(spec: Any, schema: SeriesSchema) -> ImageSet:
    """Every window of a series file, of a folder of them, of a .npy array of series or of a
    pandas DataFrame of one (as its CSV), each ending at one of its steps (from the window's
    last), standardized with the model's statistics and named by its last step's timestamp
    (after its series' name where there are several): a source given as INPUT is scored,
    reconstructed or embedded whole. The model's kind says what it is, so a .npy needs no
    --kind here."""
    if objects.is_dataframe(spec):
        if spec.index.name == schema.time_column and schema.time_column not in spec.columns:
            spec = spec.reset_index()  # (pandas' usual layout: the time as the index)
        path, series = _frame_series(spec, schema.time_column, schema.channels,
                                     _irregular(schema), model=True)  # fmt: skip
        named, spec = [(None, series)], str(path)
    elif not (path := Path(spec).expanduser()).exists():
        raise VaekitError(f"{spec}: no such file or folder (nor a test-split index)")
    elif path.is_dir():
        found = read_folder(path, schema.time_column, schema.channels, _irregular(schema))
        named = [(s.path.name, s) for s in found]
    elif path.is_file() and path.suffix.lower() == NPY_SUFFIX:
        found = read_array(path, schema.channels)
        named = [(None if len(found) == 1 else str(i), s) for i, s in enumerate(found)]
    elif path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
        named = [(None, read_series(path, schema.time_column, schema.channels,
                                    _irregular(schema), model=True))]  # fmt: skip
    else:
        raise VaekitError(
            f"{spec}: neither a test-split index nor a .csv/.parquet series file, a folder of "
            "them or a .npy array of series"
        )
    sets = []
    for name, series in named:
        if len(series.times) < schema.window:
            raise VaekitError(
                f"{_where(path, name, series)}: {len(series.times)} steps, fewer than the "
                f"model's window of {schema.window}"
            )
        ends = np.arange(schema.window - 1, len(series.times))
        sets.append(window_set(series, schema, ends, name, spec))
        _check_step(_where(path, name, series), series, schema)
    return joined(sets)


def _check_step(where: str, series: RawSeries, schema: SeriesSchema) -> None:
    """Warn where a series' steps are not the model's (5-minute steps scored by a model of
    1-minute ones): its windows then span another length of time."""
    step, trained = series.step_seconds, schema.step_seconds
    if step is not None and trained is not None and not math.isclose(step, trained, rel_tol=0.01):
        warnings.warn(
            f"{where}: one step every {step:g}, where the model was trained on one every "
            f"{trained:g} (seconds between dates; a time column of numbers in its own units): "
            "its windows span another length of time than the model's; resample it to the "
            "model's step",
            stacklevel=2,
        )


def read_input(spec: Any, schema: SeriesSchema, shape: tuple[int, int, int]) -> torch.Tensor:
    """Every window of a series source (see `read_rows`)."""
    return read_rows(spec, schema).images
