"""A run's model card, from its files: what vaekit.report.card words, gathered here (config,
metrics.jsonl's final record, eval.json, anomaly.json), and written at the end of training,
by `vaekit eval` and by `vaekit report`.

    vaekit.api.card.write_model_card("runs/fm", vaekit.load("runs/fm"))  # -> runs/fm/README.md

The model is always given (a vaekit.api.model.Model, typed Any here): vaekit.api.model
imports this module for the notebook summary, `Model._repr_html_`, so this one cannot import
it back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vaekit.api.run import ANOMALY_FILE, EVAL_FILE, METRICS_FILE, read_metrics
from vaekit.errors import VaekitError
from vaekit.report.card import CardFacts, write_card
from vaekit.report.html import escape
from vaekit.report.notebook import summary_html


def card_facts(rundir: str | Path, model: Any, data_support: str | None = None) -> CardFacts:
    """The facts a card says of the run at `rundir`. `model`: its loaded Model;
    `data_support`: what the data's values are, where the caller read the data (else
    config.json's data.pixels, else eval.json's)."""
    path = Path(rundir)
    config = model.run_config
    records = read_metrics(path)
    history = [r for r in records if "epoch" in r and not r.get("final")]
    final = next((r for r in reversed(records) if r.get("final")), None)
    evaluation, problem = _read_eval(path)
    if data_support is None:
        data_support = config.get("data", {}).get("pixels")
    if data_support is None and evaluation is not None:
        data_support = evaluation.get("data_support")
    if config.get("training", {}).get("binarize"):
        data_support = "binary"  # trained and tested on binarized values
    done = len(history) if (path / METRICS_FILE).exists() else None
    return CardFacts(path.resolve().name, model, config, done, final, evaluation,
                     problem, _read_anomaly(path), data_support)  # fmt: skip


def _read_eval(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(eval.json, None), (None, why it is not shown) where it cannot be read as one, or
    (None, None) where there is none. Lenient where vaekit.api.report.read_eval refuses: a
    damaged eval.json leaves a card without its figures, never without a card."""
    file = path / EVAL_FILE
    try:
        found = json.loads(file.read_text())
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as err:
        return None, f"{file}: not readable JSON ({err})"
    elbo, iwae = (found.get(k) if isinstance(found, dict) else None for k in ("elbo", "iwae"))
    if not (isinstance(elbo, dict) and isinstance(iwae, dict)) or not (
        "loss" in elbo and "k" in iwae and "nll" in iwae
    ):
        return None, f"{file}: not a vaekit eval file; run vaekit eval again"
    return found, None


def _read_anomaly(path: Path) -> dict[str, Any] | None:
    """anomaly.json, or None where there is none or it cannot be read (the card then says no
    threshold is calibrated; `vaekit anomaly` says why it cannot read it)."""
    try:
        found = json.loads((path / ANOMALY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def write_model_card(rundir: str | Path, model: Any, data_support: str | None = None) -> Path:
    """Write the run's model card (RUNDIR/README.md, or MODEL_CARD.md beside a README.md the
    user wrote) and return its path. `model`: the run's loaded Model."""
    return write_card(rundir, card_facts(rundir, model, data_support))


def model_html(
    model: Any,
    rundir: Path | None,
    records: list[dict[str, Any]] | None = None,
    name: str | None = None,
) -> str:
    """A notebook's summary of `model` (`Model._repr_html_`, `Run._repr_html_`): its card's
    configuration and test figures, read from its run directory where it has one (else from
    `records`, metrics.jsonl's as a Run holds them), and 16 samples as its kind draws them
    (the compare page's figure)."""
    if rundir is not None and rundir.is_dir():
        facts = card_facts(rundir, model)
    else:
        facts = CardFacts(name or "model", model, model.run_config)
        facts.data_support = model.run_config.get("data", {}).get("pixels")
        if records is not None:
            facts.final = next((r for r in reversed(records) if r.get("final")), None)
            facts.epochs_done = sum(1 for r in records if "epoch" in r and not r.get("final"))
    if name is not None:
        facts.name = name
    try:
        samples = model.kind.part("render").compare_samples(model, "16 samples, seed 0", 0)
    except VaekitError as err:
        samples = f"<p>No samples: {escape(err)}</p>"
    return summary_html(facts, samples)
