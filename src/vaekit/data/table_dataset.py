"""Open a table (.csv, .parquet: vaekit.data.tables) as a `Dataset`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.data.batches import ImageSet, carve
from vaekit.data.dataset import Dataset, OpenOptions
from vaekit.data.tables import TableSchema, fit_schema, read_table, table_checksum
from vaekit.errors import VaekitError


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
    return Dataset(train, test, info, kind="table", schema=schema)
