"""The table kind's data part: see vaekit.kinds.protocol. Its source is a table file (.csv,
.parquet: vaekit.data.rows), opened as a `Dataset` of encoded rows; its inputs are table
files too, encoded with the model's schema."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data import objects
from vaekit.data.batches import ImageSet, carve
from vaekit.data.dataset import Dataset, OpenOptions
from vaekit.data.datasets import OpenRequest, path_info, source_path
from vaekit.data.numbers import all_numbers, number
from vaekit.data.rows import TABLE_SUFFIXES, RawTable, read_table
from vaekit.errors import VaekitError
from vaekit.kinds.table.data_schema import TableSchema, fit_schema, table_checksum

# A table's examples are of their own kind (ImageSet.pixels), never a pixel kind.
PIXELS = "table"


def is_table_path(source: Any) -> bool:
    """The source's recognizer (BUILTIN_KINDS): a .csv or .parquet path."""
    return isinstance(source, str | Path) and Path(source).suffix.lower() in TABLE_SUFFIXES


def schema_from_json(record: dict[str, Any] | None) -> TableSchema | None:
    """The model's columns, statistics and categories (TableSchema) from config.json."""
    return TableSchema.from_json(record) if record is not None else None


def open_table_file(source: str | Path, asked: OpenRequest) -> Dataset:
    return open_table(
        source_path(source), path_info(source), asked.opts, asked.columns, asked.target,
        asked.id_column, asked.schema, asked.target_is_label,
    )  # fmt: skip


def is_dataframe(source: Any) -> bool:
    return objects.is_dataframe(source)


def is_hf_dataset(source: Any) -> bool:
    """Any Hugging Face dataset: one with a column of pictures is taken by the image kind's
    source first (its order is lower), unless --kind table says to read its scalar columns."""
    return objects.is_hf_dataset(source)


def open_dataframe(source: Any, asked: OpenRequest) -> Dataset:
    """A pandas DataFrame, read as a .csv of its columns would be (vaekit.data.objects)."""
    return _open_rows(objects.dataframe_rows(source), "dataframe", source, asked)


def open_hf_table(source: Any, asked: OpenRequest) -> Dataset:
    """A Hugging Face dataset's scalar columns, read as a table (vaekit.data.objects)."""
    return _open_rows(objects.hf_rows(source), "hf-dataset", source, asked)


def _open_rows(raw: RawTable, form: str, source: Any, asked: OpenRequest) -> Dataset:
    return open_rows(
        raw, form, objects.object_info(source), asked.opts, asked.columns, asked.target,
        asked.id_column, asked.schema, asked.target_is_label,
    )  # fmt: skip


def describe(dataset: Dataset) -> dict[str, Any]:
    """What `vaekit data info` adds to a table's info: each column's kind and statistics."""
    return {"columns": dataset.schema.to_json()["columns"]}


# read_rows and read_input take a pandas DataFrame too (vaekit.kinds.protocol)
DATAFRAMES = True


def read_rows(spec: Any, schema: TableSchema) -> ImageSet:
    """A table file's rows (or a pandas DataFrame's, as its CSV's) encoded with the model's
    schema (N, 1, 1, F), with each row's id, and its labels where the file has the schema's
    target column."""
    if objects.is_dataframe(spec):
        raw, spec = objects.dataframe_rows(spec), objects.describe_object(spec)
    else:
        path = Path(spec)
        if not path.exists():
            raise VaekitError(f"{spec}: no such file (nor a test-split index)")
        if not path.is_file() or not is_table_path(path):
            raise VaekitError(f"{spec}: neither a test-split index nor a .csv/.parquet table file")
        raw = read_table(path)
    if schema.id_column is not None and schema.id_column not in raw.names:
        raise VaekitError(
            f"{spec}: no column {schema.id_column!r}, the run's --id-column, which names each "
            "row of the output: add it"
        )
    labels = _new_labels(schema, raw)
    return ImageSet(
        torch.from_numpy(schema.encode(raw)).reshape(len(raw), 1, 1, -1),
        torch.from_numpy(labels) if labels is not None else None,
        1.0,
        pixels=PIXELS,
        ids=schema.ids(raw),
    )


def read_input(spec: Any, schema: TableSchema, shape: tuple[int, int, int]) -> torch.Tensor:
    """A table file's rows (or a DataFrame's), encoded with the model's schema (`read_rows`)."""
    return read_rows(spec, schema).images


def open_table(
    path: Path,
    info: dict[str, Any],
    opts: OpenOptions,
    columns: tuple[str, ...] | None,
    target: str | None,
    id_column: str | None,
    table: dict[str, Any] | None,
    target_is_label: bool = False,
) -> Dataset:
    """A table (vaekit.data.rows): its rows as feature vectors (N, 1, 1, F), the test split
    carved with the seed, numeric columns standardized with the other (training) rows'
    statistics, or encoded with a model's schema `table`."""
    return open_rows(
        read_table(path), path.suffix.lower().lstrip("."), info, opts, columns, target,
        id_column, table, target_is_label,
    )  # fmt: skip


def open_rows(
    raw: RawTable,
    form: str,
    info: dict[str, Any],
    opts: OpenOptions,
    columns: tuple[str, ...] | None,
    target: str | None,
    id_column: str | None,
    table: dict[str, Any] | None,
    target_is_label: bool = False,
) -> Dataset:
    """open_table for rows already read (a file's, a DataFrame's): `form` is what info's
    "format" records ("csv", "dataframe")."""
    if len(raw) < 3:
        raise VaekitError(f"{raw.path}: {len(raw)} row{'' if len(raw) == 1 else 's'}: too few "
                          "to carve a test split (at least 3 are needed)")  # fmt: skip
    if not 0 < opts.test_fraction < 1:
        raise VaekitError(f"test fraction must be in (0, 1), got {opts.test_fraction}")
    kept, carved = carve(len(raw), opts.test_fraction, opts.seed)
    if table is None:
        schema = fit_schema(raw, kept.numpy(), columns, target, id_column, target_is_label)
        labels = schema.labels(raw)
    else:
        schema = TableSchema.from_json(table, "the model's table")
        labels = _new_labels(schema, raw)
    values = schema.encode(raw)
    ids = schema.ids(raw)
    if table is None and schema.id_column is not None:
        _warn_repeated_ids(raw.path, schema.id_column, ids)
    if table is None:
        _warn_merged_values(raw, schema, values)
    storage = torch.from_numpy(values).reshape(len(raw), 1, 1, -1)
    full = ImageSet(
        storage,
        torch.from_numpy(labels) if labels is not None else None,
        1.0,
        pixels=PIXELS,
        ids=ids,
    )
    train, test = full.subset(kept), full.subset(carved)
    missing = int(np.isnan(values).sum())
    info.update(
        kind="table",
        format=form,
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
    return Dataset(train, test, info, kind="table", schema=schema)


def _new_labels(schema: TableSchema, raw: RawTable) -> np.ndarray | None:
    """The labels of rows new to a run (its target column's classes), None where the table
    lacks the column or where a value in it is empty or no class of the run's: new data is
    often unlabelled or of new classes, and its rows are scored, reconstructed and embedded
    without labels then (with a warning), not refused. A conditional model, which reads the
    label, says it needs one."""
    if schema.target is None or schema.target not in raw.names:
        return None
    known = set(schema.classes)
    cells = raw.column(schema.target, "--target")
    odd = next((i for i, text in enumerate(cells) if text not in known), None)
    if odd is None:
        return schema.labels(raw, required=False)
    given = "empty" if cells[odd] is None else f"{cells[odd]!r}, no class of the run's"
    classes = ", ".join(schema.classes[:10])
    warnings.warn(f"{raw.path}: {raw.where[odd]}: the target column {schema.target!r} is "
                  f"{given} (classes: {classes}): the file's rows are all taken without "
                  "labels",
                  stacklevel=3)  # fmt: skip
    return None


def _warn_merged_values(raw: RawTable, schema: TableSchema, values: np.ndarray) -> None:
    """One warning for each numeric column whose distinct values become equal once
    standardized in float32, as the models read them: a spread set by a few extreme values
    (beside 5e9, 17.41 and 18.83 are one number), which the model cannot tell apart."""
    for j in schema.numeric:
        column = schema.columns[j]
        cells = raw.column(column.name, "--columns")
        fast = all_numbers(cells)
        read = [number(c) for c in cells if c is not None] if fast is None else fast[1]
        distinct = len(np.unique([v for v in read if v is not None]))
        kept = len(np.unique(values[:, j][~np.isnan(values[:, j])]))
        if kept < distinct:
            warnings.warn(f"{raw.path}: column {column.name!r}: its {distinct} distinct values "
                          f"are {kept} once standardized in float32 (its standard deviation, "
                          f"{column.std:.3g}, is set by extreme values), so the model cannot "
                          "tell them apart: a log scale, or the extreme rows left out, would "
                          "keep them", stacklevel=3)  # fmt: skip


def _warn_repeated_ids(path: Any, column: str, ids: list[str]) -> None:
    """One warning where --id-column's values repeat: outputs keyed by id would be ambiguous."""
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        warnings.warn(f"{path}: --id-column {column!r} repeats {len(repeated)} value(s), "
                      f"{repeated[0]!r} first: outputs keyed by id will hold it more than "
                      "once", stacklevel=3)  # fmt: skip
