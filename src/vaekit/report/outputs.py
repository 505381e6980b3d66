"""What the render parts of several kinds of data write alike (vaekit.kinds.<kind>.render):
`vaekit eval`'s bits/dim and skipped-reconstruction lines, `anomaly`'s CSV of scores by index
or file and its picture of error maps, and the pictures `vaekit train` writes beside a run.
Here, in the report layer, so that no kind imports another kind's package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vaekit.files import save_csv
from vaekit.report.curves import save_curves
from vaekit.report.images import pairs_grid, save_grid

# --- `vaekit eval`'s table ----------------------------------------------------------------


def bits_per_dim_line(report: dict) -> str:
    """`vaekit eval`'s bits/dim line: a dash where the likelihood is not a discretized 8-bit
    one."""
    bpd = report.get("bits_per_dim")
    if bpd:
        return f"  {'bits/dim':<24}{bpd['iwae']:10.4f}   (ELBO: {bpd['elbo']:.4f})"
    return f"  {'bits/dim':<24}{'—':>10}   (only for a discretized 8-bit likelihood)"


def skipped_lines(rec: dict) -> list[str]:
    """The line that says a report's reconstruction `rec` was skipped, and why; none where it
    was not."""
    if "skipped" not in rec:
        return []
    return [f"  {'reconstruction':<24}{'—':>10}   (skipped: {rec['skipped']})"]


# --- `vaekit anomaly` ---------------------------------------------------------------------


def write_index_scores(
    output: Path,
    scores: Any,
    flags: Any,
    labels: Any,
    ids: list[str] | None = None,
    id_header: str = "file",
) -> None:
    """A CSV of scores: index (or, where `ids` are given, `id_header`: each input's name),
    score, anomalous, label (where there are labels). Images' and audio's `write_scores`."""
    header = [id_header if ids else "index", "score", "anomalous"]
    header += ["label"] if labels is not None else []
    rows = []
    for i, (s, f) in enumerate(zip(scores, flags, strict=True)):
        # Formatted here, as f-strings have always written them (a flag as True/False).
        row = [ids[i] if ids else i, f"{s:.6g}", f"{f}"]
        rows.append([*row, f"{labels[i]}"] if labels is not None else row)
    save_csv(output, header, rows)


def draw_error_maps(
    model: Any,
    data: Any,
    top: Any,
    maps: Path,
    picture: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    | None = None,
) -> None:
    """The top-scoring inputs (`top`, indices into `data`) above their per-pixel
    reconstruction errors (brighter = worse), as the PNG `maps`, and a line saying so. With
    `picture`: (x, errors) -> what to draw of them (audio's spectrograms in dB, say)."""
    from vaekit.apps.anomaly import error_map

    x = data.scaled(torch.from_numpy(top.copy())).to(model.device)
    errors = error_map(model.vae, x)
    errors = (errors / errors.max().clamp_min(1e-8)).expand(-1, x.shape[1], -1, -1)
    if picture is not None:
        x, errors = picture(x, errors)
    save_grid(pairs_grid(x.cpu(), errors.cpu()), maps, ncols=8)
    print(f"top {len(top)} inputs above their error maps: {maps}")


# --- the pictures `vaekit train` writes beside a run (vaekit.api.report.write_pictures) -----


def draw_pictures(
    model: Any,
    test: Any,
    history: list[dict[str, Any]],
    files: dict[str, Path],
    seed: int,
    show: Callable[[torch.Tensor], torch.Tensor],
) -> dict[str, Path]:
    """files["samples"] (64 prior samples, seeded), files["reconstructions"] (the first 32
    test examples above their reconstructions) and files["curves"] (the training curves) of
    a Model `model` and its test split `test`, each grid of examples drawn as `show` makes
    them pictures (B, C, H, W) in [0, 1] (images as they are, audio's spectrograms in dB).
    Returns what it wrote by name."""
    # A conditional model draws one class per row.
    label = torch.arange(64) // 8 % model.num_classes if model.num_classes else None
    save_grid(show(model.sample(64, seed=seed, label=label)), files["samples"], ncols=8)
    inputs, outputs = model.reconstruct_first(test, 32)
    both = show(torch.cat([inputs, outputs]))
    save_grid(pairs_grid(both[: len(inputs)], both[len(inputs) :]), files["reconstructions"],
              ncols=8)  # fmt: skip
    given = ", conditional on the label" if model.num_classes else ""
    save_curves(history, files["curves"], title=f"{model.config.family} VAE{given}")
    return {name: files[name] for name in ("samples", "reconstructions", "curves")}
