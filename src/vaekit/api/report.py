"""`vaekit report RUNDIR`: one self-contained page about a run, RUNDIR/report.html.

    vaekit.api.report.write_report("runs/fm")            # -> Path("runs/fm/report.html")

The run's configuration, its loss curves, the eval table (where `vaekit eval` wrote
eval.json), then pictures from the model: samples, reconstructions, an interpolation strip, a
latent traversal, the KL per latent dimension, a 2-D map of the test set's posterior means and,
for a 2-D latent space, the decoded manifold. A section a model cannot have (a conditional
model has no label-free latent map; a hierarchical one no traversal) says why in its place.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vaekit.api.model import Model, load, reconstruct_first
from vaekit.api.run import EVAL_FILE, REPORT_FILE, read_metrics, reopen_dataset
from vaekit.data.batches import ImageSet
from vaekit.errors import VaekitError
from vaekit.evaluation.evaluate import bound_label
from vaekit.files import atomic_write
from vaekit.models.io import read_config
from vaekit.report.html import Section, caption, flatten, image, render_page, table
from vaekit.report.images import data_uri
from vaekit.report.latent import MAP_POINTS, map_too_small, shared_sections
from vaekit.report.plots import loss_curves_png, term_series
from vaekit.report.view import Builder, RunView

MAP_METHODS = ("auto", "pca", "tsne")


def open_run(
    rundir: str | Path,
    model: Model | None = None,
    test: ImageSet | None = None,
    data: Any = None,
    seed: int | None = None,
    reopen: bool = True,
) -> RunView:
    """A run directory read for a report. `model` and `test` stand in for loading them (a run
    just trained); `data` is the dataset for a run trained on an in-memory array; without
    `reopen` the test split is left unread (pictures that need it say so)."""
    path = Path(rundir)
    config = model.run_config if model is not None else read_config(path)
    model = model if model is not None else load(path)
    records = read_metrics(path)
    history = [r for r in records if "epoch" in r and not r.get("final")]
    final = next((r for r in reversed(records) if r.get("final")), None)
    missing = None if reopen else "the test split was not read"
    if test is None and reopen:
        try:
            test = reopen_dataset(config, data).test
        except (VaekitError, OSError) as err:
            missing = str(err)
    if seed is None:
        seed = int(config.get("training", {}).get("seed", 0))
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
) -> Path:
    """Write RUNDIR/report.html and return its path.

    Args:
        model, test: the run's loaded Model and test split, where the caller has them.
        data: the data of a run trained on an in-memory array (else its own is reopened).
        map_method: the latent map: "auto" (the latents when Z = 2, else PCA), "pca" or "tsne".
        seed: seeds every random draw of the pictures (default: the run's seed).
    """
    if map_method not in MAP_METHODS:
        raise VaekitError(f"unknown map {map_method!r}: choose from {', '.join(MAP_METHODS)}")
    run = open_run(rundir, model, test, data, seed)
    if map_method == "tsne" and run.test is not None:  # asked for by name: refused, not skipped
        points = min(len(run.test), MAP_POINTS)
        too_small = map_too_small(points, map_method)
        if too_small:
            raise VaekitError(f"--map tsne: {too_small}")
    builders: list[tuple[str, Builder]] = [
        ("Configuration", config_section),
        ("Loss curves", curves_section),
        ("Evaluation", eval_section),
        *picture_sections(run, map_method),
    ]
    sections = [build_section(title, build, run) for title, build in builders]
    page = render_page(f"vaekit run {run.name}", summary_line(run), sections)
    out = run.path / REPORT_FILE
    atomic_write(out, lambda p: p.write_text(page, encoding="utf-8"))
    return out


def picture_sections(run: RunView, map_method: str) -> list[tuple[str, Builder]]:
    """(title, builder) of each picture, in page order: those of the model's kind of data
    (its render part's, vaekit.kinds.<kind>.render), with the ones every kind shares (the KL
    per latent dimension, the latent map: vaekit.report.latent) where the kind puts them."""
    render = run.model.kind.part("render")
    return render.report_sections(run.model, shared_sections(map_method))


def build_section(title: str, build: Builder, run: RunView) -> Section:
    """A section, or the reason it cannot be made: what the model or the run cannot do."""
    try:
        return Section(title, build(run))
    except VaekitError as err:
        return Section(title, missing=str(err))


def model_line(config: dict[str, Any]) -> str:
    """ "conv VAE, Z=20, bernoulli likelihood, standard-normal prior" from config.json."""
    m = config["model"]
    layers = {
        "hvae": f" x {m.get('layers')} layers",
        "hconv": f" channels x {m.get('layers')} maps per scale",
    }.get(m.get("family"), "")
    conditional = f", conditional on {m['num_classes']} classes" if m.get("num_classes") else ""
    return (
        f"{m['family']} VAE, Z={m['latent_dim']}{layers}, {m['likelihood']} likelihood, "
        f"{m.get('prior', 'standard-normal')} prior{conditional}"
    )


def summary_line(run: RunView) -> str:
    data = run.config.get("data", {}).get("name", "?")
    test = (run.final or {}).get("test") or {}
    score = term_series([{"test": test}], "test", "neg_elbo")[0]
    tested = f"; test -ELBO {score:.2f} nats per example" if score is not None else ""
    return f"{model_line(run.config)}, on {data}; {len(run.history)} epochs{tested}"


def config_section(run: RunView) -> str:
    """config.json's model, data and training sections, side by side."""
    render = run.model.kind.part("render")
    tables = []
    for section in ("model", "data", "training"):
        values = dict(run.config.get(section, {}))
        if "schema" in values:  # the kind's record of its data, as the kind shows it
            values["schema"] = render.schema_shown(values["schema"])
        rows = list(flatten(values).items())
        tables.append(f"<div>{table((section, 'value'), rows)}</div>")
    versions = [
        f"{k} {run.config[k]}" for k in ("vaekit_version", "torch_version") if k in run.config
    ]
    note = caption("config.json; " + ", ".join(versions))
    return note + '<div class="columns">' + "".join(tables) + "</div>"


def curves_section(run: RunView) -> str:
    if not run.history:
        raise VaekitError("metrics.jsonl holds no finished epoch")
    png = loss_curves_png(run.history, model_line(run.config))
    return image(data_uri(png), "loss curves", pixels=False) + final_table(run)


def final_table(run: RunView) -> str:
    """The last epoch's train and validation terms and the test line, in nats per example."""
    last = run.history[-1]
    parts = [("train", last.get("train")), ("validation", last.get("val"))]
    parts.append(("test", (run.final or {}).get("test")))
    k = (last.get("train") or {}).get("iwae_k")
    header = ["split", "-ELBO", "reconstruction", "KL"] + ([f"-IWAE (K={k})"] if k else [])
    rows = []
    for name, terms in parts:
        if not terms:
            continue
        row = [name] + [term_series([{"s": terms}], "s", t)[0] for t in ("neg_elbo", "rec", "kl")]
        rows.append(row + ([terms.get("neg_iwae")] if k else []))
    where = f"epoch {last['epoch']}"
    if run.final and run.final.get("best_epoch"):
        where += f"; test on the best validation epoch, {run.final['best_epoch']}"
    return caption(f"nats per example ({where})") + table(header, rows)


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


def eval_staleness(found: dict[str, Any], model: Model) -> str | None:
    """Why an eval.json's figures may not be the model's (None where they are): they judged
    other weights than model.safetensors now holds, or, written before eval.json recorded
    the weights, cannot say which. The one rule of report.html and the compare page."""
    judged = found.get("weights_sha256")
    if judged == model.weights_sha256:
        return None
    if judged is None:
        return "eval.json does not record which weights it judged"
    return "computed on other weights than the run's current ones"


def eval_section(run: RunView) -> str:
    found = read_eval(run.path)
    if found is None:
        raise VaekitError(f"no {EVAL_FILE} yet: `vaekit eval {run.path}` writes it")
    e, iw = found["elbo"], found["iwae"]
    kind = found.get("kind", "?")
    rows = [
        ("-ELBO", e["loss"], e.get("stderr"), "nats per example"),
        ("  distortion (rec)", e["rec"], None, ""),
        ("  rate (KL)", e["kl"], None, ""),
        (bound_label(found), iw["nll"], iw.get("stderr"), "nats per example"),
    ]
    bpd = found.get("bits_per_dim")
    if bpd:
        rows.append(("bits/dim", bpd["iwae"], None, f"ELBO: {bpd['elbo']:.4f}"))
    rec = found.get("reconstruction") or {}
    if isinstance(rec.get("mse"), float):
        psnr = rec.get("psnr_db")
        shown = "-" if psnr is None else "inf" if math.isinf(psnr) else f"{psnr:.2f}"
        rows.append(("reconstruction MSE", f"{rec['mse']:.5f}", None, f"PSNR {shown} dB"))
    if "skipped" in rec:
        rows.append(("reconstruction", "-", None, f"skipped ({rec['skipped']})"))
    if isinstance(rec.get("lsd_db"), float):  # audio's, in dB (vaekit.kinds.audio.evaluate)
        rows.append(("log-spectral distance", rec["lsd_db"], rec.get("lsd_db_stderr"), "dB"))
    lat = found.get("latents") or {}
    if "active_units" in lat:
        rows.append(("active units", lat["active_units"], None, f"of {lat.get('latent_dim')}"))
    probe = found.get("probe") or {}
    if "accuracy" in probe:
        rows.append(("probe accuracy", probe["accuracy"], None, "logistic regression"))
    columns = rec.get("columns")
    if isinstance(columns, list):  # a table's: per column, in its units
        for c in columns:
            if not isinstance(c, dict):
                continue
            if c.get("kind") == "numeric":
                error = ("RMSE", c.get("rmse"))
            else:
                error = ("error rate", c.get("error_rate"))
            nll = c.get("nll")
            shown = f"{nll:.3f}" if isinstance(nll, float) else "-"
            note = f"{error[0]}; -log p {shown} nats; {c.get('observed')} observed"
            rows.append((f"reconstruction: {c.get('name')}", error[1], None, note))
    note = f"{found.get('data')}, {found.get('split')} split, {found.get('num_examples')} examples;"
    note += f" the numbers are {'an' if kind == 'objective' else 'a'} {kind}"
    stale = eval_staleness(found, run.model)
    if stale:
        note += f" -- {stale}: run vaekit eval again"
    return caption(note) + table(("number", "value", "± stderr", "note"), rows)
