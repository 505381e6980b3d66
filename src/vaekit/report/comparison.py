"""The compare page: several runs side by side, built from what a report reads of each run
(a RunView) and its eval.json. Opening the runs and reading their files is the api's
(vaekit.api.compare), which hands this module the opened runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.evaluation.evaluate import bound_label
from vaekit.kinds.base import kind
from vaekit.report.html import Section, caption, escape, flatten, image, render_page, table
from vaekit.report.images import data_uri
from vaekit.report.page import eval_staleness, model_line
from vaekit.report.plots import compare_curves_png, term_series
from vaekit.report.view import RunView

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
    "time (s)",
)
# eval.json's figures: which bound with which K ("NLL (IWAE, K=1000)", or "objective ..."
# where the likelihood cannot model the data), on which data, split and examples.
EVAL_HEADER = ("run", "bound (eval.json)", "nats per example", "± stderr", "bits/dim", "data",
               "split", "examples")  # fmt: skip
STALE = "stale: run `vaekit eval`"


@dataclass
class CompareTables:
    """What the compare page shows of the runs besides pictures: their names, the options that
    differ (key, one value per run), the final numbers (one row per run, as METRICS_HEADER),
    eval.json's figures (as EVAL_HEADER) and why the numbers may not compare."""

    names: list[str]
    differences: list[tuple[str, list[Any]]]
    metrics_rows: list[list[Any]]
    eval_rows: list[list[Any]]
    warnings: list[str]


def compare_tables(
    runs: Sequence[RunView], names: Sequence[str], evals: Sequence[dict[str, Any] | None]
) -> CompareTables:
    """The tables of the runs, named `names`, with their eval.json files (`evals`, None where
    a run has none)."""
    pairs = list(zip(runs, names, strict=True))
    differences = config_differences([r.config for r in runs])
    rows = [final_numbers(run, name) for run, name in pairs]
    eval_rows = [eval_row(run, name, f) for (run, name), f in zip(pairs, evals, strict=True)]
    warnings = data_warnings(names, [r.config for r in runs]) + eval_warnings(names, eval_rows)
    warnings += seed_warnings(names, evals, eval_rows)
    warnings += kept_epoch_notes(pairs)
    given = [name for run, name in pairs if run.config["model"].get("num_classes")]
    if given and len(given) < len(pairs):
        one = len(given) == 1
        warnings.append(
            f"{', '.join(given)} {'is' if one else 'are'} conditional on the label: "
            f"{'its' if one else 'their'} figures bound -log p(x|y), the others' -log p(x)"
        )
    warnings += [f"{name} has no record of its epochs (metrics.jsonl): its epochs, time and "
                 "train and validation figures are unknown" for run, name in pairs
                 if not run.history]  # fmt: skip
    return CompareTables(list(names), differences, rows, eval_rows, warnings)


def run_names(paths: Sequence[Path]) -> list[str]:
    """Each run's folder name, or the path as given where two runs share a folder name."""
    names = [p.resolve().name for p in paths]
    return [str(p) if names.count(n) > 1 else n for p, n in zip(paths, names, strict=True)]


def as_given(value: Any) -> Any:
    """A configuration value as the user gave it (1.001 is not "1.00", 1e-5 not "0.00")."""
    return f"{value:g}" if isinstance(value, float) else value


def config_differences(configs: Sequence[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """(dotted key, one value per config) for every key whose value is not the same in all
    (a key a config lacks shows as "-")."""
    flat = [flatten(_shown(c)) for c in configs]
    keys = sorted(set().union(*flat) - UNINFORMATIVE)
    out = []
    for key in keys:
        values = [f.get(key, "-") for f in flat]
        if any(v != values[0] for v in values):
            out.append((key, values))
    return out


def _shown(config: dict[str, Any]) -> dict[str, Any]:
    """A config's model, data and training sections as compared: the model's schema as its
    kind of data shows it with a checksum (a text model's vocabulary by its size and sha256,
    not its thousands of words)."""
    shown = {k: config.get(k, {}) for k in ("model", "data", "training")}
    model = shown["model"]
    if isinstance(model, dict) and "kind" in model and "schema" in model:
        render = kind(model["kind"]).part("render")
        shown["model"] = {**model, "schema": render.schema_shown(model["schema"], checksum=True)}
    return shown


def data_warnings(names: Sequence[str], configs: Sequence[dict[str, Any]]) -> list[str]:
    """Why the runs' numbers may not compare: they were trained on different data (the
    checksum of their splits differs), or their test splits were carved differently."""

    def values(key: str) -> list[Any]:
        return [c.get("data", {}).get(key) for c in configs]

    def listed(found: list[Any]) -> str:
        return ", ".join(f"{n} {v}" for n, v in zip(names, found, strict=True))

    # A run on an image folder recorded before its content was hashed recorded the files'
    # fingerprint, which newer runs on it record beside the content's checksum.
    newer = {f: s for f, s in zip(values("fingerprint"), values("sha256"), strict=True) if f}
    sums = [newer.get(s, s) for s in values("sha256")]
    if len(set(sums) - {None}) > 1:  # a run that did not record it cannot be told apart
        shown = [str(v)[:12] if v else "not recorded" for v in sums]
        return [
            "the runs were trained on different data (data.sha256, the checksum of the "
            f"splits: {listed(shown)}): their numbers are not on the same examples"
        ]
    carved = [json.dumps(v, sort_keys=True) if v else "-" for v in values("test_carved")]
    if len(set(carved)) > 1:
        return [
            "the runs' test splits were carved differently from the same data "
            f"(data.test_carved: {listed(carved)}): their test numbers are on different examples"
        ]
    return []


def eval_row(run: RunView, name: str, found: dict[str, Any] | None) -> list[Any]:
    """One row of EVAL_HEADER: the run's eval.json (`found`) bound where it judged the run's
    current weights; else why not (no eval.json, or stale)."""
    if found is None:
        return [name, "no eval.json: run `vaekit eval`", *[None] * 6]
    if eval_staleness(found, run.model):
        return [name, STALE, *[None] * 6]
    iw = found["iwae"]
    bpd = (found.get("bits_per_dim") or {}).get("iwae")
    where = [found.get("data"), found.get("split"), found.get("num_examples")]
    return [name, bound_label(found), iw["nll"], iw.get("stderr"), bpd, *where]


def eval_warnings(names: Sequence[str], rows: Sequence[list[Any]]) -> list[str]:
    """Where the runs' current eval.json figures were computed differently (another bound or
    K, data, split or number of examples), which makes them unfair to compare."""
    shown = [(n, r) for n, r in zip(names, rows, strict=True) if r[2] is not None]
    warnings = []
    for column, what in ((1, "bound"), (5, "data"), (6, "split"), (7, "number of examples")):
        if len({str(r[column]) for _, r in shown}) > 1:
            values = ", ".join(f"{n} {r[column]}" for n, r in shown)
            warnings.append(f"the eval.json figures differ in {what} ({values})")
    return warnings


def seed_warnings(
    names: Sequence[str], evals: Sequence[dict[str, Any] | None], rows: Sequence[list[Any]]
) -> list[str]:
    """Where current eval.json figures drew their examples (--max-examples) or binarized
    them with different --seed: the same counts of other examples or other bits."""
    drawn = [
        (n, f)
        for n, f, r in zip(names, evals, rows, strict=True)
        if f is not None and r[2] is not None and (f.get("subset") or f.get("binarized"))
    ]
    if len(drawn) < 2 or len({str(f.get("seed")) for _, f in drawn}) < 2:
        return []
    seeds = ", ".join(f"{n} {f.get('seed')}" for n, f in drawn)
    return [
        f"the eval.json figures were drawn with different --seed ({seeds}): other examples "
        "(--max-examples) or other binarized pixels; evaluate each with the same --seed"
    ]


def kept_epoch(run: RunView) -> dict[str, Any] | None:
    """The epoch record whose weights the run kept, where it is not the last: early stopping
    (--patience) tests and keeps the best validation epoch's (final's best_epoch)."""
    best = (run.final or {}).get("best_epoch")
    found = [r for r in run.history if r.get("epoch") == best]
    return found[0] if found and found[0] is not run.history[-1] else None


def kept_epoch_notes(pairs: Sequence[tuple[RunView, str]]) -> list[str]:
    return [
        f"{name} kept the weights of epoch {kept['epoch']} of {run.history[-1]['epoch']} (its "
        "best validation epoch, --patience): its train, val and test figures are of that epoch"
        for run, name in pairs
        if (kept := kept_epoch(run)) is not None
    ]


def final_numbers(run: RunView, name: str) -> list[Any]:
    """One row of METRICS_HEADER for a run: the epochs it trained, the train and validation
    figures of the epoch whose weights it kept (the last, or with early stopping the best)
    and its test line (metrics.jsonl)."""
    last = kept_epoch(run) or (run.history[-1] if run.history else {})
    trained = run.history[-1] if run.history else {}
    test = (run.final or {}).get("test") or {}

    def term(split_terms: dict[str, Any] | None, key: str) -> float | None:
        return term_series([{"s": split_terms or {}}], "s", key)[0]

    # No record of an epoch (metrics.jsonl deleted, or a run stopped before its first): the
    # epochs and time are unknown, not 0.
    seconds = sum(float(r.get("time_s", 0)) for r in run.history) if run.history else None
    return [
        name,
        int(trained["epoch"]) if "epoch" in trained else None,
        term(last.get("train"), "neg_elbo"),
        term(last.get("val"), "neg_elbo"),
        term(test, "neg_elbo"),
        term(test, "rec"),
        term(test, "kl"),
        None if seconds is None else float(seconds),  # shown as numbers are (0.039, not 0.00)
    ]


def _samples(run: RunView, name: str, seed: int) -> str:
    """A few samples of the run's model as one figure, drawn as its kind of data draws them
    (its render part's `compare_samples`: pictures, spectrograms, rows or sentences)."""
    return run.model.kind.part("render").compare_samples(run.model, name, seed)


def compare_page(runs: Sequence[RunView], tables: CompareTables, seed: int) -> str:
    """The whole compare page as HTML: the runs, their configuration differences, final
    numbers, eval figures, loss curves on shared axes and samples drawn with `seed`."""
    names = tables.names
    pairs = list(zip(runs, names, strict=True))
    summary = [(name, model_line(run.config)) for run, name in pairs]
    if tables.differences:
        diff_html = table(
            ("option", *names), [(k, *map(as_given, v)) for k, v in tables.differences]
        )
    else:
        diff_html = (
            "<p>The runs' configurations are the same (data checksums and devices aside).</p>"
        )
    curves = [(name, run.history) for run, name in pairs if run.history]
    given = [name for run, name in pairs if run.config["model"].get("num_classes")]
    warned = "".join(f'<p class="missing">Warning: {escape(w)}</p>' for w in tables.warnings)
    sections = [
        Section("Runs", warned + table(("run", "model"), summary)),
        Section("Configuration differences", diff_html),
        Section(
            "Final numbers",
            caption("nats per example, from the runs' metrics.jsonl")
            + table(METRICS_HEADER, tables.metrics_rows),
        ),
        Section(
            "Evaluation",
            caption(
                "eval.json's importance-weighted bound, where it judged the run's current "
                "weights: an NLL where the likelihood can model the data, else an objective"
            )
            + table(EVAL_HEADER, tables.eval_rows),
        ),
        Section(
            "Loss curves",
            image(data_uri(compare_curves_png(curves, given)), "loss curves", pixels=False)
            if curves
            else "",
            missing=None if curves else "no run has a finished epoch",
        ),
        Section(
            "Samples",
            caption(
                f"samples decoded from each run's prior, seed {seed} (16 images, clips or "
                "spectrograms; 4 rows, windows or sentences)"
            )
            + '<div class="runs">'
            + "".join(_samples(run, name, seed) for run, name in pairs)
            + "</div>",
        ),
    ]
    return render_page(f"vaekit: {len(runs)} runs compared", ", ".join(names), sections)
