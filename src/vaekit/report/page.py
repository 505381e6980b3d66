"""The report page of one run (RUNDIR/report.html), built from what a report reads of the run
(a RunView) and its eval.json: the configuration, the loss curves, the eval table and the
pictures of its kind of data. Opening the run and reading its files is the api's
(vaekit.api.report), which hands this module the opened run.
"""

from __future__ import annotations

import math
from typing import Any

from vaekit.errors import VaekitError
from vaekit.evaluation.evaluate import bound_label
from vaekit.kinds.base import FAMILIES, Family
from vaekit.report.html import Section, caption, flatten, image, render_page, table
from vaekit.report.images import data_uri
from vaekit.report.latent import MAP_POINTS, map_too_small, shared_sections
from vaekit.report.plots import loss_curves_png, term_series
from vaekit.report.view import Builder, RunView

MAP_METHODS = ("auto", "pca", "tsne")


def check_map_method(map_method: str) -> None:
    """Refuse a latent map that is not one of MAP_METHODS, before any run is opened."""
    if map_method not in MAP_METHODS:
        raise VaekitError(f"unknown map {map_method!r}: choose from {', '.join(MAP_METHODS)}")


def check_map_fits(run: RunView, map_method: str) -> None:
    """Refuse a t-SNE map asked for by name that the run's test split is too small for (the
    "auto" map falls back instead; a run whose test split was not read is not refused)."""
    if map_method == "tsne" and run.test is not None:
        points = min(len(run.test), MAP_POINTS)
        too_small = map_too_small(points, map_method)
        if too_small:
            raise VaekitError(f"--map tsne: {too_small}")


def report_page(run: RunView, map_method: str, evaluation: Builder) -> str:
    """The whole report page of `run` as HTML. `evaluation` builds the Evaluation section
    (the api's, since it reads the run's eval.json: see `eval_section` for the table)."""
    builders: list[tuple[str, Builder]] = [
        ("Configuration", config_section),
        ("Loss curves", curves_section),
        ("Evaluation", evaluation),
        *picture_sections(run, map_method),
    ]
    sections = [build_section(title, build, run) for title, build in builders]
    return render_page(f"vaekit run {run.name}", summary_line(run), sections)


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
    """ "conv VAE, Z=20 (channels 32,64), bernoulli likelihood, standard-normal prior" from
    config.json: the family's own options (model.family_options) in brackets."""
    m = config["model"]
    own = m.get("family_options") or {}
    shown = [f"{k.replace('_', ' ')} {_value(v)}" for k, v in own.items()]
    sizes = f" ({', '.join(shown)})" if shown else ""
    conditional = f", conditional on {m['num_classes']} classes" if m.get("num_classes") else ""
    family = declared_family(m["family"])
    prior = (family.prior if family is not None else "") or (
        f"{m.get('prior', 'standard-normal')} prior"
    )
    return (
        f"{m['family']} VAE, Z={m['latent_dim']}{sizes}, {m['likelihood']} likelihood, "
        f"{prior}{conditional}"
    )


def declared_family(name: str) -> Family | None:
    """The family's declaration, or None where it is not installed here (a plug-in's run)."""
    try:
        return FAMILIES.get(name)
    except VaekitError:
        return None


def _value(value: Any) -> str:
    """An option's value as a flag takes it: widths joined by commas."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def summary_line(run: RunView) -> str:
    """The page's subtitle: the model, its data, its epochs and its test -ELBO."""
    data = run.config.get("data", {}).get("name", "?")
    test = (run.final or {}).get("test") or {}
    score = term_series([{"test": test}], "test", "neg_elbo")[0]
    given = " given the label" if run.config["model"].get("num_classes") else ""
    tested = f"; test -ELBO{given} {score:.2f} nats per example" if score is not None else ""
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
    """The loss curves of metrics.jsonl's epochs, then the last epoch's numbers."""
    if not run.history:
        raise VaekitError("metrics.jsonl holds no finished epoch")
    given = bool(run.config["model"].get("num_classes"))
    png = loss_curves_png(run.history, model_line(run.config), given)
    return image(data_uri(png), "loss curves", pixels=False) + final_table(run)


def train_note(vae: Any, config: dict[str, Any]) -> str | None:
    """Why a run's train figures are of other inputs or weights than its validation and test
    figures (None where they are not): corrupted inputs (--train-noise), a text decoder's
    input words dropped (--word-dropout, the model's `word_dropout`), the weights trained
    where the others are of their average (--ema)."""
    said = []
    noise = config.get("training", {}).get("train_noise")
    if noise:
        said.append(f"on inputs corrupted by --train-noise {noise}")
    dropped = getattr(vae, "word_dropout", 0.0)
    if dropped > 0:
        said.append(f"with each of the decoder's input words dropped with probability {dropped}")
    ema = config.get("training", {}).get("ema")
    if ema:
        said.append(f"of the weights as trained rather than their average (--ema {ema})")
    if not said:
        return None
    return "train figures (not validation's and test's) " + " and ".join(said)


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
    if run.config["model"].get("num_classes"):
        where += "; conditional on the label: -log p(x|y)"
    note = train_note(run.model.vae, run.config)
    if note:
        where += f"; {note}"
    return caption(f"nats per example ({where})") + table(header, rows)


def eval_staleness(found: dict[str, Any], model: Any) -> str | None:
    """Why an eval.json's figures may not be the model's (None where they are): they judged
    other weights than model.safetensors now holds, or, written before eval.json recorded
    the weights, cannot say which. The one rule of report.html and the compare page.
    `model` is the run's vaekit.api.model.Model (read: its weights_sha256)."""
    judged = found.get("weights_sha256")
    if judged == model.weights_sha256:
        return None
    if judged is None:
        return "eval.json does not record which weights it judged"
    return "computed on other weights than the run's current ones"


def eval_section(found: dict[str, Any], model: Any) -> str:
    """The Evaluation section's table from an eval.json (as vaekit.api.report.read_eval reads
    it): the bounds, then whichever figures the eval holds, and whether it is stale for
    `model` (the run's Model)."""
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
    rows += _reconstruction_rows(found.get("reconstruction") or {})
    lat = found.get("latents") or {}
    if lat.get("active_units") is not None:
        rows.append(("active units", lat["active_units"], None, f"of {lat.get('latent_dim')}"))
    probe = found.get("probe") or {}
    if "accuracy" in probe:
        rows.append(("probe accuracy", probe["accuracy"], None, "logistic regression"))
    rows += _column_rows(found.get("reconstruction") or {})
    own = getattr(model.kind.part("render"), "eval_rows", None)  # the kind's own figures
    rows += own(found) if own is not None else []
    note = f"{found.get('data')}, {found.get('split')} split, {found.get('num_examples')} examples;"
    note += f" the numbers are {'an' if kind == 'objective' else 'a'} {kind}"
    if "likelihood_support" in found and "data_support" in found:  # (older files lack them)
        note += f" of {model.kind.part('render').eval_nouns(found)[1]}"
    if found.get("conditional_on_label"):
        note += ", conditional on the label: -log p(x|y)"
    stale = eval_staleness(found, model)
    if stale:
        note += f" -- {stale}: run vaekit eval again"
    return caption(note) + table(("number", "value", "± stderr", "note"), rows)


def _reconstruction_rows(rec: dict[str, Any]) -> list[tuple[Any, ...]]:
    """eval.json's reconstruction figures that are one number each (MSE and PSNR, a skip's
    reason, audio's log-spectral distance), as rows of the eval table."""
    rows: list[tuple[Any, ...]] = []
    if isinstance(rec.get("mse"), float):
        psnr = rec.get("psnr_db")
        shown = "-" if psnr is None else "inf" if math.isinf(psnr) else f"{psnr:.2f}"
        rows.append(("reconstruction MSE", f"{rec['mse']:.5f}", None, f"PSNR {shown} dB"))
    if "skipped" in rec:
        rows.append(("reconstruction", "-", None, f"skipped ({rec['skipped']})"))
    if isinstance(rec.get("lsd_db"), float):  # audio's, in dB (vaekit.kinds.audio.evaluate)
        rows.append(("log-spectral distance", rec["lsd_db"], rec.get("lsd_db_stderr"), "dB"))
    return rows


def _column_rows(rec: dict[str, Any]) -> list[tuple[Any, ...]]:
    """eval.json's per-column reconstruction figures (a table's, each in its units), one row
    of the eval table per column."""
    rows: list[tuple[Any, ...]] = []
    columns = rec.get("columns")
    if not isinstance(columns, list):
        return rows
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
    return rows
