"""`vaekit report RUNDIR`: one self-contained page about a run, RUNDIR/report.html.

    vaekit.api.report.write_report("runs/fm")            # -> Path("runs/fm/report.html")

The run's configuration, its loss curves, the eval table (where `vaekit eval` wrote
eval.json), then pictures from the model: samples, reconstructions, an interpolation strip, a
latent traversal, the KL per latent dimension, a 2-D map of the test set's posterior means and,
for a 2-D latent space, the decoded manifold. A section a model cannot have (a conditional
model has no label-free latent map; a hierarchical one no traversal) says why in its place.

This module opens the run (its model, its test split, its files); the page itself is built
in the report layer, vaekit.report.page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vaekit.api.inputs import model_dataset
from vaekit.api.model import Model, load, reconstruct_first
from vaekit.api.run import (
    CURVES_FILE,
    EVAL_FILE,
    RECONSTRUCTIONS_FILE,
    REPORT_FILE,
    SAMPLES_FILE,
    read_metrics,
    reopen_dataset,
    wrapup_cut_short,
)
from vaekit.data.batches import ImageSet, binarize_once, is_binary
from vaekit.errors import VaekitError
from vaekit.files import atomic_write
from vaekit.models.io import read_config
from vaekit.report import page
from vaekit.report.view import RunView


def open_run(
    rundir: str | Path,
    model: Model | None = None,
    test: ImageSet | None = None,
    data: Any = None,
    seed: int | None = None,
    reopen: bool = True,
    device: str = "cpu",
) -> RunView:
    """A run directory read for a report. `model` and `test` stand in for loading them (a run
    just trained); `data` is the dataset for a run trained on an in-memory array; without
    `reopen` the test split is left unread (pictures that need it say so); `device` is where
    a model loaded here computes (as vaekit.load takes it)."""
    path = Path(rundir)
    config = model.run_config if model is not None else read_config(path)
    model = model if model is not None else load(path, device)
    records = read_metrics(path)
    history = [r for r in records if "epoch" in r and not r.get("final")]
    final = next((r for r in reversed(records) if r.get("final")), None)
    missing = None if reopen else "the test split was not read"
    if test is None and reopen and data is not None:
        # Data given by name: it must be read, and fit the model, or nothing is written
        # (not a page whose pictures each say that the data was wrong).
        test = model_dataset(model, data).test
    elif test is None and reopen:
        try:  # the run's own data, which may have moved: the page says what needs it
            test = reopen_dataset(config, data).test
        except (VaekitError, OSError) as err:
            missing = str(err)
    training = config.get("training", {})
    if test is not None and training.get("binarize") and not is_binary(test):
        # the bits eval scores (one binarization with the run's seed): the pictures' numbers
        # (KL per dimension, the latent map) are then of the data the model was trained on
        test = binarize_once(test, int(training.get("seed", 0)))
    if seed is None:
        seed = int(training.get("seed", 0))
    return RunView(path, model, config, history, final, test, missing, seed,
                   reconstruct_first=reconstruct_first)  # fmt: skip


def write_report(
    rundir: str | Path,
    *,
    model: Model | None = None,
    test: ImageSet | None = None,
    data: Any = None,
    map_method: str = "auto",
    seed: int | None = None,
    device: str = "cpu",
) -> Path:
    """Write RUNDIR/report.html and return its path.

    Args:
        model, test: the run's loaded Model and test split, where the caller has them.
        data: the data of a run trained on an in-memory array (else its own is reopened).
        map_method: the latent map: "auto" (the latents when Z = 2, else PCA), "pca" or "tsne".
        seed: seeds every random draw of the pictures (default: the run's seed).
        device: where the model computes the pictures, where it is loaded here ("cpu",
            "cuda", "auto", ...; as vaekit.load takes it).
    """
    page.check_map_method(map_method)
    return _write_page(open_run(rundir, model, test, data, seed, device=device), map_method)


def finish_run(
    rundir: str | Path,
    *,
    data: Any = None,
    map_method: str = "auto",
    seed: int | None = None,
    device: str = "cpu",
) -> dict[str, Path]:
    """`vaekit report`'s work: RUNDIR/report.html and, first, the run's pictures where its
    wrap-up was cut short before them (a finished run without curves.png: an interrupt
    after its last epoch). Returns the files written by name ("report", and "samples",
    "curves", ... where the pictures were missing). The arguments are write_report's."""
    page.check_map_method(map_method)
    run = open_run(rundir, data=data, seed=seed, device=device)
    written: dict[str, Path] = {}
    if run.final is not None and run.test is not None and wrapup_cut_short(run.path):
        written = write_pictures(run.path, run.model, run.test, run.history, run.seed)
    written["report"] = _write_page(run, map_method)
    return written


def _write_page(run: RunView, map_method: str) -> Path:
    page.check_map_fits(run, map_method)  # asked for by name: refused, not skipped
    html = page.report_page(run, map_method, eval_section)
    out = run.path / REPORT_FILE
    atomic_write(out, lambda p: p.write_text(html, encoding="utf-8"))
    return out


def write_pictures(
    path: Path, model: Model, test: ImageSet, history: list[dict[str, Any]], seed: int
) -> dict[str, Path]:
    """The pictures of a run, each as its kind draws it (its render part's `pictures`): for
    images samples.png (64 prior samples), reconstructions.png (inputs above outputs) and
    curves.png; for a table or text only curves.png (their examples are no pictures: `vaekit
    sample` and `reconstruct` write them as CSV or text)."""
    files = {"samples": path / SAMPLES_FILE, "reconstructions": path / RECONSTRUCTIONS_FILE,
             "curves": path / CURVES_FILE}  # fmt: skip
    return model.kind.part("render").pictures(model, test, history, files, seed)


def read_eval(path: Path) -> dict[str, Any] | None:
    """RUNDIR/eval.json, or None where there is none; a damaged one is an error."""
    file = path / EVAL_FILE
    if not file.exists():
        return None
    try:
        found = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise VaekitError(f"{file}: not JSON ({err})") from None
    if not isinstance(found, dict) or not all(
        isinstance(found.get(key), dict) for key in ("elbo", "iwae")
    ):
        raise VaekitError(f"{file}: not a vaekit eval file (no elbo and iwae numbers)")
    for section, keys in (("elbo", ("loss",)), ("iwae", ("k", "nll"))):
        missing = [k for k in keys if k not in found[section]]
        if missing:
            raise VaekitError(f"{file}: {section} has no {missing[0]!r}; run `vaekit eval` again")
    return found


def eval_section(run: RunView) -> str:
    """The report's Evaluation section: the run's eval.json as a table (vaekit.report.page),
    or why there is none."""
    found = read_eval(run.path)
    if found is None:
        raise VaekitError(f"no {EVAL_FILE} yet: `vaekit eval {run.path}` writes it")
    return page.eval_section(found, run.model)
