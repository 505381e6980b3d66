"""Files of rows: a .csv file (a header row of column names, then one row per line) or a
.parquet file, read as text cells (`RawTable`), each cell the text a .csv of the same columns
would hold; what the table and series kinds read their files with (vaekit.kinds), and
vaekit.data.objects a DataFrame. Nothing read runs code (CSV through `csv`, Parquet through
pyarrow)."""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.data.numbers import NOT_UTF8, refuse_other_separator
from vaekit.errors import VaekitError

TABLE_SUFFIXES = (".csv", ".parquet")
# Cells read as missing values, compared stripped and lowercased.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
MAX_COLUMNS = 10_000
CSV_FIELD_LIMIT = 1 << 20  # characters in one cell


@dataclass(frozen=True)
class RawTable:
    """A table as read: column names and, per column, each row's text (None: missing).
    `where[i]` names row i for messages ("line 7", "row 6")."""

    path: Path
    names: list[str]
    cells: list[list[str | None]]
    where: list[str]

    def __len__(self) -> int:
        return len(self.where)

    def column(self, name: str, role: str) -> list[str | None]:
        if name not in self.names:
            known = ", ".join(self.names[:20]) + (", ..." if len(self.names) > 20 else "")
            raise VaekitError(f"{role}: {self.path} has no column {name!r} (its columns: {known})")
        return self.cells[self.names.index(name)]


def read_table(path: str | Path) -> RawTable:
    """The table in a .csv or .parquet file; every fault is a VaekitError naming the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise VaekitError(f"{path}: no such file")
    table = _read_parquet(path) if path.suffix.lower() == ".parquet" else _read_csv(path)
    if not table.where:
        raise VaekitError(f"{path}: no rows below the header")
    return table


def _read_csv(path: Path) -> RawTable:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise VaekitError(f"{path}: an empty file (expected a header row of column names)")
            names = check_header(header, path)
            refuse_other_separator(names, path)
            cells: list[list[str | None]] = [[] for _ in names]
            where = []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip() and len(names) > 1):
                    continue  # a blank line
                if len(row) != len(names):
                    raise VaekitError(
                        f"{path}: line {reader.line_num} has {len(row)} fields, the header "
                        f"{len(names)}"
                    )
                for column, text in zip(cells, row, strict=True):
                    column.append(None if text.strip().lower() in MISSING else text.strip())
                where.append(f"line {reader.line_num}")
    except UnicodeDecodeError:
        raise VaekitError(NOT_UTF8.format(path=path)) from None
    except csv.Error as err:
        raise VaekitError(f"{path}: not a readable CSV file ({err})") from None
    except OSError as err:
        raise VaekitError(f"{path}: cannot read ({err.strerror or err})") from None
    return RawTable(path, names, cells, where)


def check_header(header: list[str], path: Path | str) -> list[str]:
    """A table's column names, as a file's header or a DataFrame's columns give them: at most
    MAX_COLUMNS, each named, each once; `path` names the table in the messages."""
    names = [name.strip() for name in header]
    if len(names) > MAX_COLUMNS:
        raise VaekitError(f"{path}: {len(names)} columns, more than {MAX_COLUMNS}")
    if any(not name for name in names):
        raise VaekitError(f"{path}: column {names.index('') + 1} of the header has no name")
    counts = Counter(names)  # (names.count in a loop took 1 s for 10,000 columns)
    repeated = next((name for name in names if counts[name] > 1), None)
    if repeated is not None:
        raise VaekitError(f"{path}: the header names column {repeated!r} twice")
    return names


def _read_parquet(path: Path) -> RawTable:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise VaekitError(
            f"{path}: reading .parquet needs pyarrow: pip install 'vaekit[tables]'"
        ) from None
    try:
        table = pq.read_table(str(path))
    except Exception as err:  # pyarrow's errors (ArrowInvalid, OSError, ...) have no common base
        raise VaekitError(f"{path}: not a readable Parquet file ({err})") from None
    names = check_header([str(name) for name in table.column_names], path)
    cells = [[_cell(v) for v in table.column(i).to_pylist()] for i in range(len(names))]
    return RawTable(path, names, cells, [f"row {i}" for i in range(table.num_rows)])


def _cell(value: Any) -> str | None:
    """A Parquet value as the text a CSV would hold, stripped as a CSV's cells are: None (or
    NaN) is missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    text = (repr(value) if isinstance(value, float) else str(value)).strip()
    return None if text.lower() in MISSING else text
