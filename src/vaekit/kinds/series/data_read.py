"""How the series kind reads its sources (the data layer, beside data.py): a .csv/.parquet
file of one series, a folder of such files (one series each) and a .npy array of series.

A series file's first column is its time (named timestamp, time, date, datetime or ds: that
name is what tells a series from a table) and its other columns (or those --value-columns
names) are its channels, one row per time step. Timestamps are dates (ISO 8601, "2013-12-02
21:15:00") or numbers (seconds, or any count of steps); they must increase, and by one
interval throughout, unless --irregular keep says to take each row as one step. An empty cell
(or NA, NaN, null, ?) is a missing value.

A folder holding only .csv/.parquet files, at least one of them a series file, is a folder of
series: every file is read alike (the first file's time column, or --time-column; every
column but the time, which must then be the same in every file, or --value-columns), each a
series of its own. A .npy array (series, time, channels), or (time, channels) for one series,
is read only where --kind series says so (a .npy is taken for images otherwise): its steps are
its indices along time, its channels channel_0, channel_1, ..., and a NaN (or an infinity) is
a missing value, as an empty cell is in a file.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.data import objects
from vaekit.data.numbers import FLOAT32_MAX
from vaekit.data.rows import MISSING, TABLE_SUFFIXES, RawTable, read_table
from vaekit.errors import VaekitError

# A first column of one of these names (any case) makes a .csv/.parquet file a series.
TIME_NAMES = ("timestamp", "time", "date", "datetime", "ds")
NPY_TIME = "step"  # the time column of a .npy's series: its steps are the array's indices
NPY_SUFFIX = ".npy"


class StepName(str):
    """The name of a window: the timestamp of its last step as written (`time`), after the
    name of the series it is of (`series`: a folder's file name, the index of a .npy's
    series) where the data holds several, so that no two windows share a name. A str, so that
    every command shows and writes it as it does any example's id; `vaekit anomaly` writes
    the two parts in columns of their own."""

    series: str | None
    time: str
    source: str | None  # the INPUT it was read from (read_rows), None for the run's own data

    def __new__(cls, time: str, series: str | None = None, source: str | None = None) -> StepName:
        named = super().__new__(cls, time if series is None else f"{series} {time}")
        named.series, named.time, named.source = series, time, source
        return named

    def place(self, sources: int, whole: bool = False) -> str | None:
        """The series this step is of, as `anomaly` writes it where several are scored: its
        series' name, after its INPUT's file name (its path as given, `whole`) where
        `sources` (more than one) were given; "test" for a step of the run's own test part
        among INPUT files."""
        if sources <= 1:
            return self.series
        named = self.source if whole else Path(self.source or "").name
        source = "test" if self.source is None else named
        return source if self.series is None else f"{source}/{self.series}"


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


def is_table_file(source: Any) -> bool:
    """Any .csv or .parquet file: the series source that `--kind series` reaches where
    `is_series_path` did not recognize the file (its time in another column than the first,
    named by --time-column); without --kind, the table source (tried first) takes it."""
    if not isinstance(source, str | Path):
        return False
    path = Path(source).expanduser()
    return path.suffix.lower() in TABLE_SUFFIXES and path.is_file()


def why_not_series(source: Any) -> str:
    """Why `is_series_path` does not take a .csv/.parquet file, or `is_series_folder` a
    folder holding one, as a clause ("" otherwise)."""
    if is_table_folder(source):
        return _why_not_series_folder(Path(source).expanduser())
    if not is_table_file(source):
        return ""
    try:
        names, numeric = _first_rows(Path(source).expanduser())
    except Exception:
        return ""
    if not names or names[0].strip().lower() not in TIME_NAMES:
        first = names[0] if names else ""
        return (f"its first column, {first!r}, is not named as a time: if it is a series, give "
                "--kind series and --time-column NAME")  # fmt: skip
    if not numeric:
        return (
            "a column after its time holds text in its first row: a series' values are "
            "numbers; give --kind series with --value-columns naming the ones to model"
        )
    return ""


def _why_not_series_folder(path: Path) -> str:
    """The first entry of a folder that keeps it from being a folder of series where it
    holds series files beside it, as a clause ("" otherwise: a folder of images, say)."""
    try:
        entries = sorted(e for e in path.iterdir() if not e.name.startswith("."))
    except OSError:
        return ""
    tables = [e for e in entries if _series_file(e)]
    others = [e for e in entries if e not in tables]
    if not others or not any(is_series_path(e) for e in tables):
        return ""
    return (f"it holds {others[0].name} beside its series files: a folder of series holds "
            "only .csv/.parquet files")  # fmt: skip


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


def _series_file(entry: os.DirEntry | Path) -> bool:
    """Whether a folder's entry is what a folder of series holds: a .csv/.parquet file (the
    one rule of is_series_folder, is_table_folder, folder_files and their refusal's why)."""
    return entry.is_file() and Path(entry.name).suffix.lower() in TABLE_SUFFIXES


def is_series_folder(source: Any) -> bool:
    """A folder holding only .csv/.parquet files (hidden ones aside), at least one of them a
    series file (`is_series_path`): a folder of series, one a file. A subfolder or any other
    file makes it no folder of series (an image folder, say); the listing stops there, so
    that a large folder of images costs one look."""
    if not isinstance(source, str | Path):
        return False
    path = Path(source).expanduser()
    if not path.is_dir():
        return False
    series = False
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if not _series_file(entry):
                return False
            series = series or is_series_path(entry.path)
    return series


def is_table_folder(source: Any) -> bool:
    """A folder with a .csv/.parquet file in it: the series source that `--kind series`
    reaches where `is_series_folder` did not take it (a file of another kind among the
    series), so that reading it names that file (`folder_files`)."""
    if not isinstance(source, str | Path) or not Path(source).expanduser().is_dir():
        return False
    with os.scandir(Path(source).expanduser()) as entries:
        return any(not e.name.startswith(".") and _series_file(e) for e in entries)


def is_series_ndarray(source: Any) -> bool:
    """An array in memory, (series, time, channels) or (time, channels): a series where
    kind="series" says so (the images' source takes arrays first otherwise)."""
    return isinstance(source, np.ndarray) and source.ndim in (2, 3)


def is_series_array(source: Any) -> bool:
    """A .npy file: a series array where --kind series says so (see the module docstring)."""
    if not isinstance(source, str | Path):
        return False
    path = Path(source).expanduser()
    return path.suffix.lower() == NPY_SUFFIX and path.is_file()


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


def is_series_dataframe(source: Any) -> bool:
    """A pandas DataFrame whose first column is named as a time (TIME_NAMES) and whose other
    columns hold numbers: what its .csv (`df.to_csv(index=False)`) would be recognized as."""
    if not objects.is_dataframe(source) or len(source.columns) < 2:
        return False
    import pandas  # loaded: `source` is a DataFrame

    first, rest = str(source.columns[0]).strip().lower(), source.dtypes.iloc[1:]
    return first in TIME_NAMES and all(pandas.api.types.is_numeric_dtype(t) for t in rest)


def is_any_dataframe(source: Any) -> bool:
    """Any DataFrame: the series source `--kind series` reaches where `is_series_dataframe`
    did not take it (its time in another column, named by --time-column)."""
    return objects.is_dataframe(source)


def read_series(
    path: Path,
    time_column: str | None = None,
    value_columns: tuple[str, ...] | None = None,
    irregular: str = "refuse",
    raw: RawTable | None = None,
    model: bool = False,
) -> RawSeries:
    """The series in a .csv/.parquet file (see the module docstring), or in the rows `raw`
    (a DataFrame's, named `path`); every fault is a one-line VaekitError naming it. `model`:
    the columns are a model's (its schema's), not options the user gave."""
    in_python = raw is not None  # a DataFrame's rows: its remedies are keywords, not flags
    raw = read_table(path) if raw is None else raw
    time_name = time_column or raw.names[0]
    roles = (("the model's time column", "the model's channels") if model
             else ("--time-column", "--value-columns"))  # fmt: skip
    times = [t if t is not None else "" for t in raw.column(time_name, roles[0])]
    if "" in times:
        raise VaekitError(f"{path}: {raw.where[times.index('')]} has no time ({time_name!r})")
    channels = value_columns or tuple(n for n in raw.names if n != time_name)
    if not channels:
        raise VaekitError(f"{path}: no value columns beside the time column {time_name!r}")
    if time_name in channels:
        raise VaekitError(f"--value-columns: {time_name!r} is the time column")
    values = np.stack([_numbers(raw, name, roles[1]) for name in channels], axis=1)
    seconds, numeric = _seconds(raw, times, time_name)
    step = _check_steps(path, raw, seconds, irregular, in_python, numeric)
    if step is None:
        seconds = np.arange(len(times), dtype=np.float64)
    return RawSeries(path, time_name, times, seconds, values, tuple(channels), step)


def _numbers(raw: RawTable, name: str, role: str = "--value-columns") -> np.ndarray:
    out = np.full(len(raw), np.nan)
    for i, cell in enumerate(raw.column(name, role)):
        if cell is None:
            continue
        try:
            value = float(cell)
        except ValueError:
            fix = ("leave it empty or NA where missing" if role.startswith("the model") else
                   "name its columns with --value-columns")  # fmt: skip
            raise VaekitError(
                f"{raw.path}: {raw.where[i]}: {cell!r} in column {name!r} is not a number (a "
                f"series' values are numbers; {fix})"
            ) from None
        if math.isfinite(value) and abs(value) > FLOAT32_MAX:
            raise VaekitError(
                f"{raw.path}: {raw.where[i]}: {cell!r} in column {name!r} is beyond +-3.4e38, "
                "the range vaekit computes in"
            )
        out[i] = value if math.isfinite(value) else np.nan
    return out


def _seconds(raw: RawTable, times: list[str], name: str) -> tuple[np.ndarray, bool]:
    """Each timestamp in seconds: numbers as they are (in the column's units), dates (ISO
    8601) since the first; and whether they were numbers."""
    try:
        return np.array([float(t) for t in times]), True
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
    return (micro - micro[0]).astype(np.float64) / 1e6, False  # since the first: exact to 1 us


def _check_steps(
    path: Path,
    raw: RawTable,
    seconds: np.ndarray,
    irregular: str,
    in_python: bool = False,
    numeric: bool = False,
) -> float | None:
    """The one interval between steps, in seconds; None where rows are taken as steps
    (irregular "keep": in the file's order, whatever their times, which real logs repeat or
    set back now and then)."""
    if len(seconds) < 2:
        raise VaekitError(f"{path}: {len(seconds)} row; a series needs at least 2")
    if irregular == "keep":
        return None
    # "model": read for a run whose model was trained on regular steps; no option of the
    # command reading it changes that, so the remedy is the file's (or a run trained so).
    keep = "irregular='keep'" if in_python else "--irregular keep"
    hint = (
        f"this run's model was trained on regular steps: resample the file, or train with {keep}"
        if irregular == "model"
        else f"give {keep} to take each row as one step, in the file's order"
    )
    gaps = np.diff(seconds)
    if (gaps <= 0).any():
        i = int(np.argmax(gaps <= 0)) + 1
        raise VaekitError(
            f"{path}: {raw.where[i]}: its time does not come after the one before ({hint})"
        )
    step = float(np.median(gaps))
    # Times read as numbers carry float64's rounding of their size (Unix times in tenths of
    # a second: 1704067200.1 is 2.4e-7 off), which the tolerance allows for.
    rounding = 4 * float(np.spacing(np.abs(seconds).max()))
    off = np.abs(gaps - step) > max(1e-6 * step, rounding)
    if off.any():
        i = int(np.argmax(off)) + 1
        unit, units = ("", " in the time column's units") if numeric else (" s", "")
        raise VaekitError(
            f"{path}: {raw.where[i]}: {gaps[i - 1]:g}{unit} after the step before, where the "
            f"series steps by {step:g}{unit}{units} ({_count(int(off.sum()), 'such gap')}); "
            f"{hint}"
        )
    return step


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def folder_files(path: Path) -> list[Path]:
    """A folder of series' files, in name order (hidden ones left out); a one-line
    VaekitError where it holds anything else or none."""
    files = []
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue
        if not _series_file(entry):
            raise VaekitError(
                f"{entry}: a folder of series holds only .csv/.parquet files, one series each"
            )
        files.append(entry)
    if not files:
        raise VaekitError(f"{path}: holds no .csv/.parquet series files")
    return files


def read_folder(
    path: Path,
    time_column: str | None = None,
    value_columns: tuple[str, ...] | None = None,
    irregular: str = "refuse",
) -> list[RawSeries]:
    """Every file of a folder of series, read alike (see the module docstring), in name
    order. A file whose columns or step are not the first file's is refused, naming both: the
    series of one model share their channels and their step."""
    files = folder_files(path)
    first = read_series(files[0], time_column, value_columns, irregular)
    found = [first]
    for file in files[1:]:
        series = read_series(file, first.time_column, value_columns, irregular)
        if series.channels != first.channels:
            raise VaekitError(
                f"{file}: its value columns {', '.join(series.channels)} are not those of "
                f"{files[0].name} ({', '.join(first.channels)}); the series of a folder share "
                "their columns (or name those to model with --value-columns)"
            )
        a, b = first.step_seconds, series.step_seconds
        if a is not None and b is not None and not math.isclose(a, b, rel_tol=0.01):
            raise VaekitError(
                f"{file}: one step every {b:g}, where {files[0].name} steps by {a:g}; the series "
                "of a folder share their step (a window spans one length of time): resample "
                "them alike, or give --irregular keep to take each row as one step"
            )
        found.append(series)
    return found


def read_array(path: Path | np.ndarray, channels: tuple[str, ...] | None = None) -> list[RawSeries]:
    """The series of a .npy array (see the module docstring), or of an array in memory (named
    "array"), named by `channels` where a model says what they are (their number must then
    agree), else channel_0, channel_1, ..."""
    if isinstance(path, np.ndarray):
        array, path = path, Path("array")
    else:
        try:
            array = np.load(path, allow_pickle=False, mmap_mode="r")
        except (ValueError, OSError, EOFError) as err:
            raise VaekitError(f"{path}: not a readable .npy array ({err})") from None
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise VaekitError(
            f"{path}: an array of shape {tuple(array.shape)}; a .npy of series is (series, time, "
            "channels), or (time, channels) for one"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
            or array.dtype == np.bool_):  # fmt: skip
        raise VaekitError(f"{path}: holds {array.dtype} values; a series' values are numbers")
    count, steps, width = array.shape
    if count == 0 or width == 0:
        raise VaekitError(f"{path}: an array of shape {tuple(array.shape)} holds no values")
    if steps < 2:
        raise VaekitError(f"{path}: {steps} step; a series needs at least 2")
    names = channels or tuple(f"channel_{j}" for j in range(width))
    if len(names) != width:
        raise VaekitError(
            f"{path}: {width} channels, where the model has {len(names)} ({', '.join(names)})"
        )
    times = [str(i) for i in range(steps)]
    seconds = np.arange(steps, dtype=np.float64)
    found = []
    for i in range(count):
        values = np.array(array[i], dtype=np.float64)
        values[~np.isfinite(values)] = np.nan  # missing, as an empty cell or an "inf" in a file
        if np.nanmax(np.abs(values), initial=0.0) > FLOAT32_MAX:
            raise VaekitError(f"{path}: series {i} holds values beyond +-3.4e38, the range "
                              "vaekit computes in")  # fmt: skip
        found.append(RawSeries(path, NPY_TIME, times, seconds, values, names, None))
    return found
