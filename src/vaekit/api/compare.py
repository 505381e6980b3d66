"""`vaekit compare RUNDIR...`: several runs side by side on one self-contained page.

    result = vaekit.api.compare.compare_runs(["runs/a", "runs/b"], "compare.html")
    result.metrics_header, result.metrics_rows    # the table `vaekit compare` prints

The page holds the options in which the runs' configs differ, their final numbers (and eval.json's
where there is one), their loss curves on shared axes, and samples from each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaekit.api.report import RunView, model_line, open_run, read_eval
from vaekit.errors import VaekitError
from vaekit.files import atomic_write
from vaekit.report.html import Section, caption, escape, flatten, image, render_page, table
from vaekit.report.images import data_uri, png_bytes
from vaekit.report.plots import compare_curves_png, term_series

# Keys that differ between any two runs without saying anything about them.
UNINFORMATIVE = {"data.sha256", "training.device", "vaekit_version", "torch_version"}
METRICS_HEADER = (
    "run",
    "epochs",
    "train -ELBO",
    "val -ELBO",
    "test -ELBO",
    "test rec",
    "test KL",
    "NLL (IWAE)",
    "bits/dim",
    "time (s)",
)


@dataclass
class Comparison:
    """What `compare_runs` wrote and found: the page, the runs' names, the options that differ
    (key, one value per run) and the final numbers (one row per run, as METRICS_HEADER)."""

    path: Path
    names: list[str]
    differences: list[tuple[str, list[Any]]]
    metrics_header: tuple[str, ...]
    metrics_rows: list[list[Any]]


def run_names(paths: Sequence[Path]) -> list[str]:
    """Each run's folder name, or the path as given where two runs share a folder name."""
    names = [p.resolve().name for p in paths]
    return [str(p) if names.count(n) > 1 else n for p, n in zip(paths, names, strict=True)]


def config_differences(configs: Sequence[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """(dotted key, one value per config) for every key whose value is not the same in all
    (a key a config lacks shows as "-")."""
    flat = [flatten({k: c.get(k, {}) for k in ("model", "data", "training")}) for c in configs]
    keys = sorted(set().union(*flat) - UNINFORMATIVE)
    out = []
    for key in keys:
        values = [f.get(key, "-") for f in flat]
        if any(v != values[0] for v in values):
            out.append((key, values))
    return out


def final_numbers(run: RunView, name: str) -> list[Any]:
    """One row of METRICS_HEADER for a run: its last epoch, test line and eval.json."""
    last = run.history[-1] if run.history else {}
    test = (run.final or {}).get("test") or {}

    def term(split_terms: dict[str, Any] | None, key: str) -> float | None:
        return term_series([{"s": split_terms or {}}], "s", key)[0]

    found = read_eval(run.path)
    nll = found["iwae"]["nll"] if found else None
    bpd = (found.get("bits_per_dim") or {}).get("iwae") if found else None
    seconds = sum(float(r.get("time_s", 0)) for r in run.history)
    return [
        name,
        int(last.get("epoch", 0)),
        term(last.get("train"), "neg_elbo"),
        term(last.get("val"), "neg_elbo"),
        term(test, "neg_elbo"),
        term(test, "rec"),
        term(test, "kl"),
        nll,
        bpd,
        round(seconds, 1),
    ]


def _samples(run: RunView, name: str, seed: int) -> str:
    model = run.model
    if model.vocab is not None:  # sentences: greedy decodings of prior draws
        lines = model.sample(4, seed=seed).reshape(4, -1).long().tolist()
        shown = table(("sample",), [(model.vocab.decode(line),) for line in lines])
        return f"<figure>{shown}<figcaption>{escape(name)}</figcaption></figure>"
    if model.table is not None:  # rows, not pictures: a few of them as a table
        rows = model.sample(4, seed=seed).reshape(4, -1).numpy()
        shown = table(model.table.names, model.table.decode(rows))
        return f"<figure>{shown}<figcaption>{escape(name)}</figcaption></figure>"
    label = torch.arange(16) // 4 % model.num_classes if model.num_classes else None
    images = model.sample(16, seed=seed, label=label)
    if model.audio is not None:  # spectrograms, drawn in dB
        images = model.audio.picture(images)
    return (
        f"<figure>{image(data_uri(png_bytes(images, 4)), f'samples of {name}')}"
        f"<figcaption>{escape(name)}</figcaption></figure>"
    )


def compare_runs(rundirs: Sequence[str | Path], out: str | Path, seed: int = 0) -> Comparison:
    """Write a page comparing the runs in `rundirs` (at least two) to `out` (.html)."""
    if len(rundirs) < 2:
        raise VaekitError("compare needs at least two run directories")
    paths = [Path(r) for r in rundirs]
    runs = [open_run(p, reopen=False) for p in paths]
    names = run_names(paths)
    differences = config_differences([r.config for r in runs])
    rows = [final_numbers(run, name) for run, name in zip(runs, names, strict=True)]
    summary = [(name, model_line(run.config)) for run, name in zip(runs, names, strict=True)]
    if differences:
        diff_html = table(("option", *names), [(k, *v) for k, v in differences])
    else:
        diff_html = (
            "<p>The runs' configurations are the same (data checksums and devices aside).</p>"
        )
    curves = [(name, run.history) for run, name in zip(runs, names, strict=True) if run.history]
    sections = [
        Section("Runs", table(("run", "model"), summary)),
        Section("Configuration differences", diff_html),
        Section("Final numbers", caption("nats per example") + table(METRICS_HEADER, rows)),
        Section(
            "Loss curves",
            image(data_uri(compare_curves_png(curves)), "loss curves", pixels=False)
            if curves
            else "",
            missing=None if curves else "no run has a finished epoch",
        ),
        Section(
            "Samples",
            caption(f"16 samples from each run, seed {seed}")
            + '<div class="runs">'
            + "".join(_samples(run, name, seed) for run, name in zip(runs, names, strict=True))
            + "</div>",
        ),
    ]
    page = render_page(f"vaekit: {len(runs)} runs compared", ", ".join(names), sections)
    out = Path(out)
    atomic_write(out, lambda p: p.write_text(page, encoding="utf-8"))
    return Comparison(out, names, differences, METRICS_HEADER, rows)
