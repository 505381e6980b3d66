"""`vaekit compare RUNDIR...`: several runs side by side on one self-contained page.

    result = vaekit.api.compare.compare_runs(["runs/a", "runs/b"], "compare.html")
    result.metrics_header, result.metrics_rows    # the tables `vaekit compare` prints
    result.eval_header, result.eval_rows
    result.warnings                               # e.g. runs trained on different data

The page holds the options in which the runs' configs differ, their final numbers, eval.json's
figures where they judged the run's current weights (each named with its bound and K), their
loss curves on shared axes, and samples from each.

This module opens the runs and reads their files; the page and its tables are built in the
report layer, vaekit.report.comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaekit.api.report import open_run, read_eval
from vaekit.errors import VaekitError
from vaekit.files import atomic_write
from vaekit.report.comparison import (
    EVAL_HEADER,
    METRICS_HEADER,
    compare_page,
    compare_tables,
    run_names,
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
    eval_header: tuple[str, ...] = EVAL_HEADER
    eval_rows: list[list[Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def compare_runs(
    rundirs: Sequence[str | Path], out: str | Path, seed: int = 0, device: str = "cpu"
) -> Comparison:
    """Write a page comparing the runs in `rundirs` (at least two) to `out` (.html); each
    run's samples are drawn on `device` (as vaekit.load takes it)."""
    if len(rundirs) < 2:
        raise VaekitError("compare needs at least two run directories")
    paths = [Path(r) for r in rundirs]
    runs = [open_run(p, reopen=False, device=device) for p in paths]
    tables = compare_tables(runs, run_names(paths), [read_eval(r.path) for r in runs])
    page = compare_page(runs, tables, seed)
    out = Path(out)
    atomic_write(out, lambda p: p.write_text(page, encoding="utf-8"))
    return Comparison(
        out,
        tables.names,
        tables.differences,
        METRICS_HEADER,
        tables.metrics_rows,
        EVAL_HEADER,
        tables.eval_rows,
        tables.warnings,
    )
