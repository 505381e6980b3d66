"""The table kind's evaluate part: see vaekit.kinds.protocol.

Per-column reconstruction errors of a table's VAE, in the table's own units. For each modelled
column, over the rows where it is observed: a numeric column's RMSE of the posterior-mean
reconstruction (un-standardized: in the column's units) and a categorical column's error rate
(the most probable category is not the row's), with the mean -log p(x_j | E_q[z|x]) of both,
in nats (numeric columns in standardized units).
"""

from __future__ import annotations

from typing import Any

import torch

from vaekit.data.batches import ImageSet, batch_indices
from vaekit.kinds.table.data_schema import TableSchema
from vaekit.kinds.table.model import TableVAE, rows_of

# A row's MSE mixes units and category indices: the errors are per column instead.
RECONSTRUCTION_MSE = False


def figures(
    vae: TableVAE,
    examples: ImageSet,
    schema: TableSchema,
    report: dict[str, Any],
    reconstruction: bool,
) -> None:
    """The reconstruction section: per column, in the table's units (column_errors)."""
    if not reconstruction:
        report["reconstruction"] = {"skipped": "--no-reconstruction"}
    else:
        report["reconstruction"] = column_errors(vae, examples, schema)


@torch.no_grad()
def column_errors(
    model: TableVAE, data: ImageSet, schema: TableSchema, batch_size: int = 512
) -> dict[str, Any]:
    """{"columns": [{name, kind, observed, rmse | error_rate, nll}, ...]} over `data`."""
    device = next(model.parameters()).device
    f = len(schema.columns)
    squared, wrong, nll = (torch.zeros(f, dtype=torch.float64) for _ in range(3))
    observed = torch.zeros(f, dtype=torch.float64)
    for index in batch_indices(len(data), batch_size, shuffle=False):
        x = data.scaled(index).to(device)
        z = model.posterior_mean(x)
        px = model.decode(z)
        rows, recon = rows_of(x), rows_of(px.mean)
        seen = ~torch.isnan(rows)
        diff = torch.where(seen, recon - rows, torch.zeros_like(rows)).double().cpu()
        squared += diff.pow(2).sum(0)
        wrong += (diff != 0).double().sum(0)
        nll -= px.log_prob_per_column(x).double().sum(0).cpu()
        observed += seen.double().sum(0).cpu()
    out = []
    for j, column in enumerate(schema.columns):
        n = float(observed[j])
        entry: dict[str, Any] = {"name": column.name, "kind": column.kind, "observed": int(n)}
        if column.kind == "numeric":
            scale = column.std or 1.0  # (a constant column's values: offsets, in its units)
            entry["rmse"] = (float(squared[j]) / n) ** 0.5 * scale if n else None
        else:
            entry["error_rate"] = float(wrong[j]) / n if n else None
        entry["nll"] = float(nll[j]) / n if n else None
        out.append(entry)
    return {"columns": out}
