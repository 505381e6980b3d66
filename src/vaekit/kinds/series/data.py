"""The series kind's data part: how a time series file is recognized and read, its schema, and
how it is cut into the windows a model sees.

A series is a .csv or .parquet file whose first column is its time (named timestamp, time,
date, datetime or ds: that name is what tells a series from a table) and whose other columns
(or those --value-columns names) are its channels, one row per time step. Timestamps are
dates (ISO 8601, "2013-12-02 21:15:00") or numbers (seconds, or any count of steps); they must
increase, and by one interval throughout, unless --irregular keep says to take each row as
one step. An empty cell (or NA, NaN, null, ?) is a missing value: it is left out of the
likelihood and the encoder sees the channel's mean there, as a table's missing cells.

Each channel is standardized with the training part's mean and standard deviation. The model
sees windows of --window steps, (1, C, W): the training part's every --stride steps, and the
test part's each ending at one of its steps; the last tenth of the training part (VAL_SHARE)
gives the validation windows, wholly inside it. The test part is the end of the series (what
--train-part leaves), never rows drawn from everywhere: a window of the test part would
otherwise hold steps the model trained on. Another series given to a model (`--data new.csv`)
is scored at every step from its first full window.
"""

from __future__ import annotations

import csv
import hashlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.batches import ImageSet
from vaekit.data.dataset import Dataset
from vaekit.data.tables import MISSING, TABLE_SUFFIXES, RawTable, read_table
from vaekit.errors import VaekitError

# A first column of one of these names (any case) makes a .csv/.parquet file a series.
TIME_NAMES = ("timestamp", "time", "date", "datetime", "ds")
KIND = "series"  # what Dataset.kind and config.json's model.kind say
DEFAULT_TRAIN_PART = 0.9  # --train-part's default: the first 90% of the steps train
# The end of the training part held out as validation windows (which never overlap the
# training windows: windows drawn at random among overlapping ones would share steps with
# them, and a threshold calibrated on them would sit too low).
VAL_SHARE = 0.1


def is_series_path(source: Any) -> bool:
    """A .csv or .parquet file whose first column is named as a time (TIME_NAMES) and whose
    other columns hold numbers (in a CSV's first row: empty cells pass), so that a table of
    sales by date stays a table. Only the header and first row (a Parquet file's schema) are
    read; a file that cannot be read is not one here (the table reader says why)."""
    if not isinstance(source, str | Path):
        return False
    path = Path(source)
    if path.suffix.lower() not in TABLE_SUFFIXES or not path.is_file():
        return False
    try:
        names, numeric = _first_rows(path)
    except Exception:  # unreadable, not Parquet, no pyarrow: not recognized as a series
        return False
    return bool(names) and names[0].strip().lower() in TIME_NAMES and numeric


def _first_rows(path: Path) -> tuple[list[str], bool]:
    """The column names, and whether the columns after the first hold numbers."""
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(str(path))
        rest = [schema.field(i).type for i in range(1, len(schema.names))]
        return [str(n) for n in schema.names], all(
            pa.types.is_integer(t) or pa.types.is_floating(t) for t in rest
        )
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        rows = [next(reader, None), next(reader, None)]
    names = [n.strip() for n in rows[0]] if rows[0] else []
    first = rows[1][1:] if rows[1] else []
    return names, all(_number_or_missing(cell) for cell in first)


def _number_or_missing(cell: str) -> bool:
    text = cell.strip()
    if text.lower() in MISSING or not text:
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


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


@dataclass(frozen=True)
class RawSeries:
    """A series as read: each step's timestamp as written, its time in seconds (or its row
    number where rows are taken as steps), and its values (T, C), NaN where missing."""

    path: Path
    time_column: str
    times: list[str]
    seconds: np.ndarray
    values: np.ndarray
    channels: tuple[str, ...]
    step_seconds: float | None


def read_series(
    path: Path,
    time_column: str | None = None,
    value_columns: tuple[str, ...] | None = None,
    irregular: str = "refuse",
) -> RawSeries:
    """The series in a .csv/.parquet file (see the module docstring); every fault is a
    one-line VaekitError naming the file."""
    raw = read_table(path)
    time_name = time_column or raw.names[0]
    times = [t if t is not None else "" for t in raw.column(time_name, "--time-column")]
    if "" in times:
        raise VaekitError(f"{path}: {raw.where[times.index('')]} has no time ({time_name!r})")
    channels = value_columns or tuple(n for n in raw.names if n != time_name)
    if not channels:
        raise VaekitError(f"{path}: no value columns beside the time column {time_name!r}")
    if time_name in channels:
        raise VaekitError(f"--value-columns: {time_name!r} is the time column")
    values = np.stack([_numbers(raw, name) for name in channels], axis=1)
    seconds = _seconds(raw, times, time_name)
    step = _check_steps(path, raw, seconds, irregular)
    if step is None:
        seconds = np.arange(len(times), dtype=np.float64)
    return RawSeries(path, time_name, times, seconds, values, tuple(channels), step)


def _numbers(raw: RawTable, name: str) -> np.ndarray:
    out = np.full(len(raw), np.nan)
    for i, cell in enumerate(raw.column(name, "--value-columns")):
        if cell is None:
            continue
        try:
            value = float(cell)
        except ValueError:
            raise VaekitError(
                f"{raw.path}: {raw.where[i]}: {cell!r} in column {name!r} is not a number (a "
                "series' values are numbers; name its columns with --value-columns)"
            ) from None
        out[i] = value if math.isfinite(value) else np.nan
    return out


def _seconds(raw: RawTable, times: list[str], name: str) -> np.ndarray:
    """Each timestamp in seconds: numbers as they are, dates (ISO 8601) since the first."""
    try:
        return np.array([float(t) for t in times])
    except ValueError:
        pass
    parsed = []
    # numpy converts "+01:00" offsets to UTC with a deprecation warning the user can do
    # nothing about: the times are right, the warning is not shown.
    warnings.filterwarnings("ignore", "no explicit representation of timezones")
    for i, text in enumerate(times):
        try:
            parsed.append(np.datetime64(text.strip().rstrip("Z").replace(" ", "T"), "us"))
        except ValueError:
            raise VaekitError(
                f"{raw.path}: {raw.where[i]}: {text!r} in {name!r} is neither a date "
                "(2013-12-02 21:15:00) nor a number"
            ) from None
    micro = np.array(parsed).astype(np.int64)
    return (micro - micro[0]).astype(np.float64) / 1e6  # since the first: exact to 1 us


def _check_steps(path: Path, raw: RawTable, seconds: np.ndarray, irregular: str) -> float | None:
    """The one interval between steps, in seconds; None where rows are taken as steps
    (irregular "keep": in the file's order, whatever their times, which real logs repeat or
    set back now and then)."""
    if len(seconds) < 2:
        raise VaekitError(f"{path}: {len(seconds)} row; a series needs at least 2")
    if irregular == "keep":
        return None
    gaps = np.diff(seconds)
    if (gaps <= 0).any():
        i = int(np.argmax(gaps <= 0)) + 1
        raise VaekitError(
            f"{path}: {raw.where[i]}: its time does not come after the one before (give "
            "--irregular keep to take the rows as steps in the file's order)"
        )
    step = float(np.median(gaps))
    off = np.abs(gaps - step) > 1e-6 * step
    if off.any():
        i = int(np.argmax(off)) + 1
        raise VaekitError(
            f"{path}: {raw.where[i]}: {gaps[i - 1]:g} s after the step before, where the series "
            f"steps by {step:g} s ({_count(int(off.sum()), 'such gap')}); resample it, or give "
            "--irregular keep to take each row as one step"
        )
    return step


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def fit_schema(series: RawSeries, train_rows: int, window: int, stride: int) -> SeriesSchema:
    """The schema of a series whose first `train_rows` rows are for training."""
    part = series.values[:train_rows]
    mean, std = [], []
    for c, name in enumerate(series.channels):
        seen = part[:, c][~np.isnan(part[:, c])]
        if len(seen) == 0:
            raise VaekitError(f"{series.path}: column {name!r} has no value in the training part")
        mean.append(float(seen.mean()))
        spread = float(seen.std())
        std.append(spread if spread > 1e-12 else 1.0)  # a constant channel: left unscaled
    return SeriesSchema(series.time_column, series.channels, window, stride, tuple(mean),
                        tuple(std), series.step_seconds, series_checksum(series))  # fmt: skip


def windows(standardized: np.ndarray, window: int, ends: np.ndarray) -> torch.Tensor:
    """The windows (N, 1, C, W) ending at each step of `ends` (each at least window - 1)."""
    index = ends[:, None] - np.arange(window - 1, -1, -1)[None, :]  # (N, W) row numbers
    cut = standardized[index]  # (N, W, C)
    return torch.from_numpy(np.ascontiguousarray(cut.transpose(0, 2, 1)))[:, None]


def window_set(series: RawSeries, schema: SeriesSchema, ends: np.ndarray) -> ImageSet:
    """The windows ending at `ends`, each named by its last step's timestamp."""
    x = windows(schema.standardize(series.values), schema.window, ends)
    return ImageSet(x, None, 1.0, pixels="continuous", ids=[series.times[i] for i in ends])


def series_checksum(series: RawSeries) -> str:
    digest = hashlib.sha256()
    digest.update(series.seconds.astype("<f8").tobytes())
    digest.update(np.nan_to_num(series.values, nan=np.inf).astype("<f8").tobytes())
    digest.update(repr(series.channels).encode())
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


def open_series(source: str | Path, request: Any) -> Dataset:
    """A series file as a Dataset of windows (see the module docstring); with the run's
    schema (request.schema) where a model of a series reopens its data."""
    path = Path(source)
    options = request.options
    record = request.schema
    given = SeriesSchema.from_json(record) if record is not None else None
    series = read_series(
        path,
        given.time_column if given else options.get("time_column"),
        given.channels if given else options.get("value_columns"),
        "keep" if given and given.step_seconds is None else options.get("irregular", "refuse"),
    )
    window = given.window if given else options.get("window") or 32
    stride = given.stride if given else options.get("stride") or 1
    if given is not None:  # the run's own split, recorded as test_carved when it trained
        fraction = request.opts.test_fraction
    else:
        fraction = 1 - (options.get("train_part") or DEFAULT_TRAIN_PART)
    try:
        train_ends, val_ends, test_ends = split_ends(len(series.times), window, stride, fraction)
    except VaekitError as err:
        raise VaekitError(f"{path}: {err}") from None
    schema = given or fit_schema(series, int(test_ends[0]) if len(test_ends) else 0, window, stride)
    checksum = series_checksum(series)
    if given is not None and given.sha256 != checksum:
        # Another series than the model's own: every step of it is scored (its training part
        # stays, for what calibrates on it).
        test_ends = np.arange(window - 1, len(series.times))
    train, test = window_set(series, schema, train_ends), window_set(series, schema, test_ends)
    val = window_set(series, schema, val_ends) if len(val_ends) else None
    info = {
        "source": "file",
        "name": str(path),
        "kind": KIND,
        "format": path.suffix.lower().lstrip("."),
        "max_value": 1,
        "shape": list(schema.shape),
        "dtype": "float32",
        "num_rows": len(series.times),
        "channels": list(series.channels),
        "window": window,
        "stride": stride,
        "step_seconds": series.step_seconds,
        "num_train": len(train),
        "num_val": len(val) if val is not None else None,
        "num_test": len(test),
        "missing_values": int(np.isnan(series.values).sum()),
        "test_carved": {"fraction": fraction, "chronological": True},
        "sha256": checksum,
    }
    return Dataset(train, test, info, val=val, kind=KIND, schema=schema)


# --- the kind protocol's data part (see vaekit.kinds.protocol) ----------------------------


def describe(dataset: Dataset) -> dict[str, Any]:
    """What `vaekit data info` adds to a series' info: each channel's training statistics."""
    schema = dataset.schema
    return {
        "statistics": [
            {"channel": name, "mean": mean, "std": std}
            for name, mean, std in zip(schema.channels, schema.mean, schema.std, strict=True)
        ]
    }


def read_rows(spec: str, schema: SeriesSchema) -> ImageSet:
    """Every window of a series file, each ending at one of its steps (from the window's
    last), standardized with the model's statistics and named by its last step's timestamp:
    a file given as INPUT is scored, reconstructed or embedded whole."""
    path = Path(spec)
    if not path.is_file() or path.suffix.lower() not in TABLE_SUFFIXES:
        raise VaekitError(f"{spec}: neither a test-split index nor a .csv/.parquet series file")
    irregular = "keep" if schema.step_seconds is None else "refuse"
    series = read_series(path, schema.time_column, schema.channels, irregular)
    if len(series.times) < schema.window:
        raise VaekitError(
            f"{path}: {len(series.times)} steps, fewer than the model's window of {schema.window}"
        )
    return window_set(series, schema, np.arange(schema.window - 1, len(series.times)))


def read_input(spec: str, schema: SeriesSchema, shape: tuple[int, int, int]) -> torch.Tensor:
    """Every window of a series file (see `read_rows`)."""
    return read_rows(spec, schema).images
