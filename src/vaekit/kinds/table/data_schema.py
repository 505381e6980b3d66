"""A table's schema: what a table (a .csv or .parquet file, read by vaekit.data.rows) becomes.

A table becomes feature vectors: one value per modelled column, float32, with NaN where the
value is missing. A numeric column is standardized, (value - mean) / std with the training
rows' mean and standard deviation (a constant column: 0); a categorical column holds the
index of its category in its sorted categories. The `TableSchema` (the columns, their kinds
and statistics, the target's classes, the id column) is JSON, saved with the model: what a
model writes comes back in the table's units and category names. N rows of F modelled
columns are stored as (N, 1, 1, F), every dataset's (C, H, W) layout, for splits, batches and
training."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vaekit.data.numbers import (
    FLOAT32_MAX,
    all_numbers,
    commas_refused,
    in_units,
    no_number,
    not_a_category,
    number,
    with_commas,
)
from vaekit.data.rows import MAX_COLUMNS, RawTable
from vaekit.errors import VaekitError

KINDS = ("numeric", "categorical")
# A categorical column with more categories than this is an identifier or free text, which a
# one-hot block cannot model; so is one whose every row has its own value.
MAX_CATEGORIES = 1000
# A --target column with more classes than this share of the rows (and more than
# MIN_CLASSES_CHECKED) is more like a measurement or an identifier than a class label, and so
# is one of fractional numbers: refused unless the user confirms it (--target-is-label).
MAX_CLASS_FRACTION = 0.05
MIN_CLASSES_CHECKED = 20


def _category_index(categories: Sequence[str]) -> dict[str, int]:
    """Each category's index; a boolean's also under its other spellings (Parquet's false,
    pandas' False), so that the same data is read alike from either; and a name with spaces
    around it also stripped (a run fitted on a .parquet file before its cells were stripped
    as a .csv's kept " ok ": its data's cells read "ok" now)."""
    index = {name: k for k, name in enumerate(categories)}
    booleans = [(n, k) for n, k in index.items() if n.lower() in ("true", "false")]
    stripped = {n.strip(): k for n, k in reversed(index.items()) if n != n.strip()}
    others = {s: k for n, k in booleans for s in (n.lower(), n.capitalize(), n.upper())}
    return {**stripped, **others, **index}


@dataclass(frozen=True)
class Column:
    """One modelled column: numeric (mean, std in the table's units; std 0 where constant in
    the training rows) or categorical (its categories, in the order of their indices)."""

    name: str
    kind: str
    mean: float = 0.0
    std: float = 1.0
    categories: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        """Numbers a one-hot encoding takes: 1 for a numeric column, K for K categories."""
        return len(self.categories) if self.kind == "categorical" else 1

    def to_json(self) -> dict[str, Any]:
        if self.kind == "numeric":
            return {"name": self.name, "kind": self.kind, "mean": self.mean, "std": self.std}
        return {"name": self.name, "kind": self.kind, "categories": list(self.categories)}


@dataclass(frozen=True)
class TableSchema:
    """The modelled columns, the target column and its classes, and the id column."""

    columns: tuple[Column, ...]
    target: str | None = None
    classes: tuple[str, ...] = ()
    id_column: str | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.kind == "numeric"]

    @property
    def categorical(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.kind == "categorical"]

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [c.to_json() for c in self.columns],
            "target": self.target,
            "classes": list(self.classes),
            "id_column": self.id_column,
        }

    # `where` names the record in messages ("table: expected columns, ..."); not a kind test.
    @classmethod
    def from_json(cls, value: Any, where: str = "table") -> TableSchema:
        """A schema from JSON (config.json: a user's file), every field checked."""
        if not isinstance(value, dict) or set(value) != {"columns", "target", "classes",
                                                           "id_column"}:  # fmt: skip
            raise VaekitError(f"{where}: expected columns, target, classes and id_column")
        raw = value["columns"]
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_COLUMNS:
            raise VaekitError(f"{where}.columns: expected 1 to {MAX_COLUMNS} columns")
        columns = tuple(_column_from_json(c, f"{where}.columns[{i}]") for i, c in enumerate(raw))
        if len({c.name for c in columns}) != len(columns):
            raise VaekitError(f"{where}.columns: a column is named twice")
        target, id_column = value["target"], value["id_column"]
        classes = value["classes"]
        if not all(v is None or isinstance(v, str) for v in (target, id_column)):
            raise VaekitError(f"{where}: target and id_column are column names or null")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise VaekitError(f"{where}.classes: expected a list of names")
        return cls(columns, target, tuple(classes), id_column)

    def encode(self, table: RawTable) -> np.ndarray:
        """The table's modelled columns (of rows as read) as values (N, F) float32: numeric
        ones standardized, categorical ones as category indices, NaN where missing (a number
        that is no number, or a category the schema does not know: a VaekitError)."""
        if not isinstance(table, RawTable):  # (a DataFrame: an AttributeError of pandas')
            raise VaekitError(
                f"expected a table's rows, got {type(table).__name__}: read_table("
                "path) for a file, vaekit.data.objects.dataframe_rows(df)"
            )
        out = np.full((len(table), len(self.columns)), np.nan, dtype=np.float32)
        for j, column in enumerate(self.columns):
            cells = table.column(column.name, "columns")
            fast = all_numbers(cells) if column.kind == "numeric" else None
            if fast is not None:  # every cell a number (the common case): at numpy's speed
                observed, values = fast
                z = (values - column.mean) / (column.std or 1.0)  # (a constant column: 0 std)
                if (np.abs(z) <= FLOAT32_MAX).all():
                    out[observed, j] = z
                    continue
            if column.kind == "numeric":  # (one by one, to name the cell that is not)
                for i, text in enumerate(cells):
                    if text is None:
                        continue
                    value = number(text)
                    z = None if value is None else (value - column.mean) / (column.std or 1.0)
                    if z is None or not abs(z) <= FLOAT32_MAX:
                        why = no_number(
                            text,
                            "is not a finite number within +-3.4e38, on "
                            "the column's scale (leave it empty or NA if missing)",
                        )
                        raise VaekitError(f"{table.path}: {table.where[i]}, numeric column "
                                          f"{column.name!r}: {text!r} {why}")  # fmt: skip
                    out[i, j] = z
            else:
                index = _category_index(column.categories)
                for i, text in enumerate(cells):
                    if text is None:
                        continue
                    if text not in index:
                        raise VaekitError(
                            f"{table.path}: {table.where[i]}, column {column.name!r}: category "
                            f"{text!r} was not seen in training (known: "
                            f"{', '.join(column.categories[:10])}"
                            f"{', ...' if len(column.categories) > 10 else ''})"
                        )
                    out[i, j] = index[text]
        return out

    def labels(self, table: RawTable, required: bool = True) -> np.ndarray | None:
        """The target's class indices (N,) int64; None where there is no target (or, unless
        `required`, where the table lacks the target column)."""
        if self.target is None or (not required and self.target not in table.names):
            return None
        index = _category_index(self.classes)
        out = np.empty(len(table), dtype=np.int64)
        for i, text in enumerate(table.column(self.target, "--target")):
            if text is None:
                raise VaekitError(
                    f"{table.path}: {table.where[i]}: the target column "
                    f"{self.target!r} is empty: fill it in, or leave the row out"
                )
            if text not in index:
                raise VaekitError(
                    f"{table.path}: {table.where[i]}: {self.target!r} value {text!r} is not "
                    f"one of the run's classes ({', '.join(self.classes[:10])})"
                )
            out[i] = index[text]
        return out

    def ids(self, table: RawTable) -> list[str]:
        """Each row's identifier: its id column's value, or its row number from 0."""
        if self.id_column is not None and self.id_column in table.names:
            return [text or "" for text in table.column(self.id_column, "--id-column")]
        return [str(i) for i in range(len(table))]

    def check_values(self, x: np.ndarray) -> str | None:
        """Why values (N, F) are not encoded rows of this schema, or None when they are:
        finite or NaN; a categorical column's values whole category indices."""
        if x.ndim != 2 or x.shape[1] != len(self.columns):
            return f"expected rows of {len(self.columns)} values, got shape {x.shape}"
        if np.isinf(x).any():
            return "values must be finite (NaN marks a missing one)"
        for j in self.categorical:
            codes = x[:, j][~np.isnan(x[:, j])]
            k = len(self.columns[j].categories)
            if len(codes) and (codes.min() < 0 or codes.max() >= k or (codes % 1).any()):
                return f"column {self.columns[j].name!r} holds category indices 0..{k - 1}"
        return None

    # Decoding: values (N, F) -> the table's units.

    def decode(self, x: np.ndarray) -> list[list[str]]:
        """Values (N, F) back in the table's units, as CSV cells: numbers un-standardized
        (6 significant digits), category indices as the category names (rounded to the
        nearest), "" where a value is NaN."""
        rows = []
        for row in np.asarray(x, dtype=np.float64):
            cells = []
            for value, column in zip(row, self.columns, strict=True):
                if math.isnan(value):
                    cells.append("")
                elif column.kind == "numeric":
                    cells.append(in_units(value, column.mean, column.std or 1.0))
                else:
                    k = min(max(round(value), 0), len(column.categories) - 1)
                    cells.append(column.categories[k])
            rows.append(cells)
        return rows


def _column_from_json(value: Any, where: str) -> Column:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        raise VaekitError(f"{where}: expected a column with a name")
    kind = value.get("kind")
    if kind == "numeric":
        if set(value) != {"name", "kind", "mean", "std"}:
            raise VaekitError(f"{where}: a numeric column has name, kind, mean and std")
        mean, std = value["mean"], value["std"]
        numbers = all(type(v) in (int, float) and math.isfinite(v) for v in (mean, std))
        if not numbers or std < 0:  # (0: a column constant in the training rows)
            raise VaekitError(f"{where}: mean and std must be finite numbers, std not negative")
        return Column(value["name"], kind, float(mean), float(std))
    if kind == "categorical":
        if set(value) != {"name", "kind", "categories"}:
            raise VaekitError(f"{where}: a categorical column has name, kind and categories")
        categories = value["categories"]
        if (
            not isinstance(categories, list)
            or not 0 < len(categories) <= MAX_CATEGORIES
            or not all(isinstance(c, str) for c in categories)
            or len(set(categories)) != len(categories)
        ):
            raise VaekitError(f"{where}: categories must be 1 to {MAX_CATEGORIES} distinct names")
        return Column(value["name"], kind, categories=tuple(categories))
    raise VaekitError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")


def fit_schema(
    table: RawTable,
    rows: np.ndarray,
    columns: Sequence[str] | None = None,
    target: str | None = None,
    id_column: str | None = None,
    target_is_label: bool = False,
) -> TableSchema:
    """The schema of `table`, its statistics taken from `rows` (the training rows).

    A column is numeric when at least half its values are numbers, and then every value must
    be one; otherwise categorical, its categories the distinct values of every row (sorted).
    A `target` that does not look like a class label (see `implausible_label`) is refused
    unless `target_is_label` confirms it.
    """
    for role, name in (("--target", target), ("--id-column", id_column)):
        if name is not None:
            table.column(name, role)
    if target is not None and target == id_column:
        raise VaekitError(f"--target and --id-column both name {target!r}")
    if columns is None:
        columns = [n for n in table.names if n not in (target, id_column)]
        if not columns:
            raise VaekitError(f"{table.path}: no columns left to model besides the target/id")
    for name in columns:
        table.column(name, "--columns")
        if name in (target, id_column):
            role = "--target" if name == target else "--id-column"
            raise VaekitError(f"--columns: {name!r} is the {role}, which is never a feature")
    built = tuple(_fit_column(table, name, rows) for name in columns)
    classes: tuple[str, ...] = ()
    if target is not None:
        values = table.column(target, "--target")
        present = {v for v in values if v is not None}
        classes = tuple(sorted(present, key=_sort_key))
        if len(classes) > MAX_CATEGORIES:
            raise VaekitError(
                f"--target {target!r}: {len(classes)} classes, more than {MAX_CATEGORIES} (is "
                "it a class label?)"
            )
        why = None if target_is_label else implausible_label(classes, len(table))
        if why:
            raise VaekitError(
                f"--target {target!r} does not look like a class label: {why}; give "
                "--target-is-label if it is one"
            )
    schema = TableSchema(built, target, classes, id_column)
    schema.labels(table)  # a missing target value is refused now
    return schema


def implausible_label(classes: Sequence[str], rows: int) -> str | None:
    """Why a column with these distinct values over `rows` rows is unlikely to be a class
    label (None where it may be one): fractional numbers are measurements, and more classes
    than MAX_CLASS_FRACTION of the rows (and than MIN_CLASSES_CHECKED) leave a probe too few
    examples per class to learn from."""
    numbers = [number(c) for c in classes]
    fractional = [c for c, v in zip(classes, numbers, strict=True) if v is not None and v % 1]
    if fractional and all(v is not None for v in numbers):
        return f"its values are continuous numbers (such as {fractional[0]})"
    if len(classes) > MIN_CLASSES_CHECKED and len(classes) > MAX_CLASS_FRACTION * rows:
        return f"{len(classes)} classes in {rows} rows, more than {MAX_CLASS_FRACTION:.0%} of them"
    return None


def _sort_key(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order, before names in text order."""
    value = number(text)
    return (0, value, "") if value is not None else (1, 0.0, text)


def _fit_column(table: RawTable, name: str, rows: np.ndarray) -> Column:
    cells = table.column(name, "--columns")
    fast = all_numbers(cells)
    if fast is not None and len(fast[1]):  # every cell a number (the common case)
        training = np.zeros(len(cells), dtype=bool)
        training[rows] = True
        return _numeric(table, name, fast[1][training[fast[0]]])
    present = [(i, text) for i, text in enumerate(cells) if text is not None]
    if not present:
        raise VaekitError(f"{table.path}: column {name!r} has no values (every one is missing)")
    numbers = [(i, number(text)) for i, text in present]
    if sum(v is not None for _, v in numbers) * 2 >= len(numbers):
        bad = next((i for i, v in numbers if v is None), None)
        if bad is not None:
            why = no_number(
                cells[bad],
                "is not a finite number within +-3.4e38 (leave it empty "
                "or NA if missing, or leave the column out with --columns)",
            )
            raise VaekitError(
                f"{table.path}: {table.where[bad]}, numeric column {name!r} (at least half its "
                f"values are numbers): {cells[bad]!r} {why}"
            )
        chosen = set(rows.tolist())
        return _numeric(table, name, np.array([v for i, v in numbers if i in chosen]))
    commas = [text for _, text in present if with_commas(text)]
    if commas and (len(commas) + sum(v is not None for _, v in numbers)) * 2 >= len(numbers):
        raise VaekitError(commas_refused(table.path, name, commas))
    categories = sorted({text for _, text in present}, key=_sort_key)
    if len(categories) > MAX_CATEGORIES or (len(categories) == len(table) > 20):
        raise VaekitError(
            f"{table.path}: column {name!r} has {len(categories)} distinct "
            f"values in {len(table)} rows: {not_a_category(name, categories)}"
        )
    return Column(name, "categorical", categories=tuple(categories))


def _numeric(table: RawTable, name: str, values: np.ndarray) -> Column:
    """A numeric column of the training rows' values (float64)."""
    if len(values) == 0:
        raise VaekitError(f"{table.path}: column {name!r} has no values in the training rows")
    return Column(name, "numeric", float(values.mean()), float(values.std()))


def table_checksum(values: np.ndarray, labels: np.ndarray | None, ids: list[str]) -> str:
    """SHA-256 of what a model sees of a table: the encoded values, labels and row ids."""
    h = hashlib.sha256(np.ascontiguousarray(values).tobytes())
    if labels is not None:
        h.update(labels.tobytes())
    h.update("\n".join(ids).encode())
    return h.hexdigest()
