"""The series kind's evaluate part: see vaekit.kinds.protocol.

Per-channel reconstruction errors of a series VAE, in each channel's own units: over the
observed values of the examples' windows, the RMSE and mean absolute error of the
posterior-mean reconstruction, un-standardized with the training part's statistics.
"""

from __future__ import annotations

from typing import Any

import torch

from vaekit.data.batches import ImageSet, batch_indices
from vaekit.kinds.series.data import SeriesSchema
from vaekit.models.vae import VAE

# An MSE over standardized values of several channels mixes their units: per channel instead.
RECONSTRUCTION_MSE = False


def figures(
    vae: VAE, examples: ImageSet, schema: SeriesSchema, report: dict[str, Any],
    reconstruction: bool,
) -> None:  # fmt: skip
    """The reconstruction section: per channel, in its units (channel_errors)."""
    if not reconstruction:
        report["reconstruction"] = {"skipped": "--no-reconstruction"}
    else:
        report["reconstruction"] = channel_errors(vae, examples, schema)


@torch.no_grad()
def channel_errors(
    vae: VAE, data: ImageSet, schema: SeriesSchema, batch_size: int = 512
) -> dict[str, Any]:
    """{"channels": [{name, observed, rmse, mae}, ...]} over every value of `data`'s
    windows (a step inside several windows counts in each)."""
    device = next(vae.parameters()).device
    c = len(schema.channels)
    squared, absolute, observed = (torch.zeros(c, dtype=torch.float64) for _ in range(3))
    for index in batch_indices(len(data), batch_size, shuffle=False):
        x = data.scaled(index).to(device)
        made = vae.reconstruct(x)
        seen = ~torch.isnan(x)
        diff = torch.where(seen, made - x, torch.zeros_like(x)).double().cpu()  # (B, 1, C, W)
        squared += diff.pow(2).sum((0, 1, 3))
        absolute += diff.abs().sum((0, 1, 3))
        observed += seen.double().sum((0, 1, 3)).cpu()
    out = []
    for j, name in enumerate(schema.channels):
        n, std = float(observed[j]), schema.std[j]
        out.append({
            "name": name,
            "observed": int(n),
            "rmse": (float(squared[j]) / n) ** 0.5 * std if n else None,
            "mae": float(absolute[j]) / n * std if n else None,
        })  # fmt: skip
    return {"channels": out}
