"""A run's model card: RUNDIR/README.md, in the layout model hubs read (config.json,
model.safetensors and README.md side by side), so that a run folder can be shared as it is.

The card says what the model was trained on (with the data's checksum), how it is configured,
its test figures and which bound each one is, what it is for, and its known limits, each
computed from the run (a likelihood that does not model the data's values, a fixed Gaussian
noise, inactive latent dimensions, the anomaly threshold's false-positive rate). Its YAML
front matter carries the keys hubs index (library_name, tags, datasets, metrics) and MARKER,
which says that vaekit wrote the file: a README.md without it is the user's and is kept; the
card then goes to MODEL_CARD.md beside it.

The same facts give a notebook's short HTML summary (`summary_html`, for `_repr_html_`).
Gathering them from a run directory is the api's (vaekit.api.card); this module only words
them.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.evaluation.evaluate import bound_label, nats_to_bits_per_dim
from vaekit.files import atomic_write
from vaekit.report.card_file import (  # (re-exported: where the card goes)
    BESIDE_FILE,
    CARD_FILE,
    MARKER,
    card_path,
    is_vaekit_card,
)
from vaekit.report.html import number
from vaekit.report.page import declared_family, eval_staleness, model_line
from vaekit.train_options import TRAIN_OPTIONS

CARD_VERSION = 1
# The training options every card lists; the others only where they differ from the default.
SHOWN_ALWAYS = ("epochs", "batch_size", "lr", "optimizer", "seed")
# Training options that say where or how a run was kept, not what was learned.
NOT_SHOWN = ("device", "report", "precision")
# The model options that model_line already shows.
IN_MODEL_LINE = ("family", "latent_dim", "likelihood", "prior")
# A run shared without metrics.jsonl: how long it trained is not known.
NO_RECORD = (
    " (its training record, metrics.jsonl, is not beside it: how long it trained is unknown)"
)
# How a card names the splits that files record by their short names.
SPLIT_NAMES = {"val": "validation", "train": "training"}


@dataclass
class CardFacts:
    """What a card says of one run, gathered by the api (vaekit.api.card).

    name: the run folder's name. model: its vaekit.api.model.Model. config: config.json.
    epochs_done: the epochs metrics.jsonl holds (None: there is none, as in a run shared as
    its three model files). final: its final record (the test figures at the end of
    training), None before there is one. evaluation: eval.json, where `vaekit
    eval` wrote one; evaluation_problem: why a damaged one is not shown. anomaly:
    anomaly.json, where `vaekit anomaly` calibrated a threshold. data_support: what the
    data's values are ("binary", "8-bit", "discrete", "continuous", ...; None: unknown).
    """

    name: str
    model: Any
    config: dict[str, Any]
    epochs_done: int | None = None
    final: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    evaluation_problem: str | None = None
    anomaly: dict[str, Any] | None = None
    data_support: str | None = None


@dataclass
class Figure:
    """One test figure: its name, its value (nats unless `unit` says), and what it is."""

    name: str
    value: float | None
    what: str
    unit: str = "nats per example"
    stderr: float | None = None

    def shown(self) -> str:
        if not isinstance(self.value, int | float) or not math.isfinite(self.value):
            return "not a finite number"  # eval.json writes NaN and infinities as null
        err = f" ± {self.stderr:.2f}" if isinstance(self.stderr, float) else ""
        return f"{self.value:.4g}{err}" if "bits" in self.unit else f"{self.value:.2f}{err}"


# --- the facts, worded ---------------------------------------------------------------------


def run_data(facts: CardFacts) -> dict[str, Any]:
    data = facts.config.get("data")
    return data if isinstance(data, dict) else {}


def data_name(facts: CardFacts) -> str:
    """How the card names the data: a registered name as it is; of a local file or folder
    only its last part (a shared card need not hold the trainer's paths), with its kind of
    source where it is no registered name."""
    data = run_data(facts)
    name, source = str(data.get("name", "?")), data.get("source")
    if source == "registry":
        return name
    if source == "array":
        return "an in-memory array"
    shown = Path(name).name or name
    return f"{shown} ({source or 'local data'})"


def is_likelihood(facts: CardFacts) -> bool | None:
    """Whether the model's likelihood is one of the data's values (its support is theirs,
    as `vaekit eval` judges it); None where either is unknown."""
    model_support = getattr(getattr(facts.model.vae, "likelihood", None), "support", None)
    if model_support is None or facts.data_support is None:
        return None
    return model_support == facts.data_support


def _values(facts: CardFacts) -> str:
    """What the data's values are: "discrete (0..16)", "binary", "8-bit (0..255)"."""
    support, top = facts.data_support, run_data(facts).get("max_value")
    if support is None:
        return "not recorded"
    if support in ("discrete", "8-bit") and isinstance(top, int | float):
        return f"{support} (0..{number(top)})"
    return support


NOT_FINITE = ("The test figures at the end of training are not finite numbers (null in "
              "metrics.jsonl): the model diverged, or the test data holds values it cannot "
              "score.")  # fmt: skip


def figures_of(facts: CardFacts) -> list[Figure]:
    """The figures of the end of training (metrics.jsonl's test line), then eval.json's,
    each saying which bound it is and on which examples."""
    figures: list[Figure] = []
    final = facts.final or {}
    test = final.get("test") if isinstance(final.get("test"), dict) else {}
    likelihood = is_likelihood(facts)
    given = " given the label" if facts.model.num_classes else ""
    bound = (
        f"an upper bound on -log p(x{given})"
        if likelihood
        else "no bound on the data's log-likelihood (see Limitations)"
        if likelihood is False
        else "a bound on -log p(x) where the likelihood models the data's values"
    )
    count = run_data(facts).get("num_test")
    examples = f"the {number(count)} examples of the test split" if count else "the test split"
    seed = facts.config.get("training", {}).get("seed")
    best = f"; the weights of the best validation epoch, {final.get('best_epoch')}"
    best = best if final.get("best_epoch") else ""
    if isinstance(test.get("neg_elbo"), float):
        point = "the posterior a point (the code nearest each encoding)"
        draws = point if point_posterior(facts) else f"one posterior sample each (seed {seed})"
        what = (
            f"-ELBO (reconstruction {test.get('rec', math.nan):.2f} + KL "
            f"{test.get('kl', math.nan):.2f}) at the end of training, on {examples}, "
            f"{draws}{best}: {bound}"
        )
        figures.append(Figure("test -ELBO", test["neg_elbo"], what))
        if likelihood and facts.data_support == "8-bit":  # as `vaekit eval` gives bits/dim
            dims = math.prod(facts.model.shape)
            bits = nats_to_bits_per_dim(test["neg_elbo"], dims)
            what = f"the -ELBO above per dimension, in bits ({dims} dimensions)"
            figures.append(Figure("test bits/dim", bits, what, "bits per dimension"))
    if isinstance(test.get("neg_iwae"), float):
        what = f"-IWAE with K={test.get('iwae_k')} importance samples, on {examples}{best}"
        figures.append(Figure(f"test -IWAE (K={test.get('iwae_k')})", test["neg_iwae"], what))
    return figures + eval_figures(facts)


def point_posterior(facts: CardFacts) -> bool:
    """Whether the model's posterior is a point and its KL a constant (vqvae)."""
    return bool(getattr(getattr(facts.model, "vae", None), "kl_is_constant", False))


def eval_figures(facts: CardFacts) -> list[Figure]:
    """eval.json's bounds, each with its K and its examples, and whether they are stale."""
    found = facts.evaluation
    if not found:
        return []
    e, iw = found["elbo"], found["iwae"]
    n, split = found.get("num_examples"), str(found.get("split", "?"))
    split = SPLIT_NAMES.get(split, split)
    where = (f"{number(n)} examples, every window of {found.get('data')}" if split == "all"
             else f"{number(n)} examples of the {split} split of {found.get('data')}")  # fmt: skip
    if isinstance(found.get("subset"), dict):
        where += f" (a seeded subset of {number(found['subset'].get('max_examples'))})"
    stale = eval_staleness(found, facts.model)
    note = f" -- {stale}: run vaekit eval again" if stale else ""
    given = " given the label" if facts.model.num_classes else ""
    kind = (
        f"an upper bound on -log p(x{given})"
        if found.get("kind") == "log-likelihood"
        else f"not a bound on -log p(x{given}) (see Limitations)"
    )
    # the importance-weighted bound, or a family's own (a VQ-VAE's, which has its label)
    bound = iw.get("label") or f"the importance-weighted bound with K={iw['k']} samples per example"
    figures = [
        Figure(
            "-ELBO (vaekit eval)", e["loss"], f"-ELBO on {where}: {kind}{note}",
            stderr=e.get("stderr"),
        ),
        Figure(
            bound_label(found), iw["nll"], f"{bound}, on the same {number(n)} examples{note}",
            stderr=iw.get("stderr"),
        ),
    ]  # fmt: skip
    bpd = found.get("bits_per_dim")
    if isinstance(bpd, dict) and isinstance(bpd.get("iwae"), float):
        per = "the same bound" if "label" in iw else f"the K={iw['k']} bound"
        figures.append(Figure("bits/dim (vaekit eval)", bpd["iwae"],
                              f"{per} per dimension, in bits{note}",
                              "bits per dimension"))  # fmt: skip
    return figures


def configuration(facts: CardFacts) -> list[tuple[str, str]]:
    """(option, value) rows: the model line, the model options not in it that differ from
    their defaults, then the training options that matter (SHOWN_ALWAYS, the resolved
    precision, and any other that differs from its default)."""
    model, training = facts.config.get("model", {}), facts.config.get("training", {})
    rows = [("model", model_line(facts.config))]
    for option in TRAIN_OPTIONS:
        key = option.config_key
        if option.section != "model" or key in IN_MODEL_LINE or key not in model:
            continue
        if model[key] != _default(option.default):
            rows.append((option.flag, _shown(model[key])))
    total = training.get("epochs")
    stopped = (facts.final or {}).get("stopped_by")
    if facts.epochs_done is None:
        done = f"not recorded here (no metrics.jsonl); {total} planned"
    else:
        done = f"{facts.epochs_done} of {total}" + (f" (stopped by {stopped})" if stopped else "")
    rows.append(("epochs trained", done))
    for option in TRAIN_OPTIONS:
        key = option.config_key
        if option.section != "training" or key not in training or key in NOT_SHOWN:
            continue
        if key == "epochs":
            continue
        if key in SHOWN_ALWAYS or training[key] != _default(option.default):
            rows.append((option.flag, _shown(training[key])))
    if "precision_resolved" in training:
        rows.append(("precision", str(training["precision_resolved"])))
    return rows


def _default(value: Any) -> Any:
    """A declared default as config.json records it (a tuple as a JSON list)."""
    return list(value) if isinstance(value, tuple) else value


def _shown(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def limits(facts: CardFacts) -> list[str]:
    """The known limits of this run's model, from what it records (its kind's own first)."""
    found: list[str] = list(getattr(facts.model.kind.part("render"), "card_limits", ()))
    model, training = facts.config.get("model", {}), facts.config.get("training", {})
    likelihood = getattr(facts.model.vae, "likelihood", None)
    support = getattr(likelihood, "support", None)
    if is_likelihood(facts) is False:
        gray = (
            ", not only 0 and 1 but the levels between (gray pixels)" if support == "binary" else ""
        )
        found.append(
            f"Its {model.get('likelihood')} likelihood is a distribution over {support} values, "
            f"but this data's values are {_values(facts)}{gray}: it is not a likelihood of "
            "the data, so its -ELBO and IWAE figures are not bounds on -log p(x), and "
            "compare only with models of the same likelihood on the same data (no bits/dim is "
            "given). Its samples and reconstructions show the likelihood's mean."
        )
    if training.get("binarize"):
        found.append(
            "It was trained and tested on binarized data (each value drawn as 0 or 1 with "
            "the value as its probability): its figures are of that binarized data."
        )
    std = getattr(likelihood, "std", None)
    # (a table's likelihood keeps --gaussian-std as its starting spread: fixed only with
    # --gaussian-variance fixed, which the config records for every Gaussian)
    if isinstance(std, float) and model.get("gaussian_variance", "fixed") == "fixed":
        found.append(
            f"Its Gaussian likelihood has a fixed standard deviation of {std:g} "
            "(--gaussian-std): the -ELBO depends on that choice as much as on the fit, so it "
            "compares only with models of the same deviation; samples show the decoder's "
            "mean, without that noise."
        )
    if not getattr(facts.model.vae, "uses_latent", True):
        found.append(
            "It is a language model (--language-model): its decoder ignores z, so it has no "
            "latent, its KL is 0 and its -ELBO is its exact negative log-likelihood; it is "
            "the baseline a VAE's NLL compares with, and its samples and reconstructions are "
            "not of any input."
        )
    latents = (facts.final or {}).get("latents") or {}
    active, dims = latents.get("active_units"), latents.get("latent_dim")
    counted = latents.get("active_units_examples")
    on = f"on {counted:,} test examples" if isinstance(counted, int) else "on the test split"
    if isinstance(active, int) and isinstance(dims, int) and active == 0:
        found.append(
            f"None of its {dims} latent dimensions is active {on}: its latents say nothing "
            "of the input (posterior collapse), and its reconstructions do not depend on it."
        )
    elif isinstance(active, int) and isinstance(dims, int) and active < dims:
        found.append(
            f"Only {active} of its {dims} latent dimensions are active {on} (carry "
            "information about the input): the others are ignored by the decoder."
        )
    if facts.model.num_classes:
        found.append(
            f"It is conditional on the label ({facts.model.num_classes} classes): its figures "
            "are of -log p(x|y), and sampling needs a class."
        )
    stopped = (facts.final or {}).get("stopped_by")
    if stopped:
        found.append(f"Training was stopped by its {stopped} before --epochs.")
    found.append(_anomaly_limit(facts))
    custom = model.get("custom")
    if isinstance(custom, dict) and custom:
        names = ", ".join(str(v.get("class", "?")) for v in custom.values() if isinstance(v, dict))
        found.append(f"Loading it needs your own modules importable where it is loaded: {names}.")
    return found


def _anomaly_limit(facts: CardFacts) -> str:
    """The anomaly threshold's false-positive rate: anomaly.json's, or how one is set."""
    a = facts.anomaly
    if not isinstance(a, dict) or not isinstance(a.get("quantile"), float):
        return (
            "No anomaly threshold is calibrated: vaekit anomaly sets one at a quantile q of "
            "the validation split's scores, so it flags about 1 - q of inputs like the "
            "training data (its false-positive rate; --quantile or --contamination choose q)."
        )
    q, calibration = a["quantile"], a.get("calibration") or {}
    split = str(calibration.get("split", "val"))
    stale = eval_staleness(a, facts.model)
    rate = f"{(1 - q) * 100:.3g}%"
    text = (
        f"Its anomaly threshold ({a.get('score')} score above {number(a.get('threshold'), 4)}) "
        f"is the {q:g} quantile of the scores of {number(calibration.get('examples'))} "
        f"{SPLIT_NAMES.get(split, split)} examples: it flags about {rate} of inputs "
        "like the training data (its false-positive rate); how many true anomalies it "
        "misses is not measured."
    )
    if stale:
        text += " It was calibrated on other weights: run vaekit anomaly again."
    return text


USES = (
    "drawing new examples like its training data (`model.sample`);",
    "reconstructing such examples and encoding them: posterior means as features "
    "(`model.posterior_mean`, `vaekit embed`);",
    "scoring how typical an input is under the model (`model.elbo`, `vaekit anomaly`), "
    "within the limits below;",
    "comparing models by their bounds on the same data (the same checksum) and split.",
)
NOT_FOR = (
    "It knows only data like its training data: inputs of another shape or value range are "
    "refused, and data from elsewhere is scored without any guarantee. It is no classifier "
    "and no basis for decisions about people."
)


# --- the card --------------------------------------------------------------------------------


def front_matter(facts: CardFacts) -> str:
    """The YAML block model hubs read, with MARKER. Every text is written as a JSON string,
    which YAML reads as it is, whatever it holds."""
    _yaml = json.dumps
    data = run_data(facts)
    metrics = ["neg_elbo"]
    if facts.evaluation:
        metrics.append("neg_iwae")
    if any("bits" in f.unit for f in figures_of(facts)):
        metrics.append("bits_per_dim")
    tags = ["vaekit", "vae", "variational-autoencoder", facts.model.kind.name,
            facts.config.get("model", {}).get("family", "?")]  # fmt: skip
    lines = ["---", "library_name: vaekit", "tags:"] + [f"- {_yaml(str(t))}" for t in tags]
    if data.get("source") == "registry":
        lines += ["datasets:", f"- {_yaml(str(data.get('name')))}"]
    lines += ["metrics:"] + [f"- {m}" for m in metrics]
    lines += [
        f"{MARKER}: {CARD_VERSION}",
        f"vaekit_version: {_yaml(str(facts.config.get('vaekit_version', '?')))}",
        f"data_sha256: {_yaml(str(data.get('sha256', '?')))}",
        f"weights_sha256: {_yaml(facts.model.weights_sha256)}",
        "---",
    ]
    return "\n".join(lines) + "\n"


def _md(value: Any) -> str:
    """Text for Markdown: HTML's special characters escaped (a hub renders raw HTML), no line
    breaks, and no `|` to end a table cell."""
    text = " ".join(str(value).split())
    return html.escape(text, quote=False).replace("|", "\\|").replace("`", "&#96;")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]


def needed_files(facts: CardFacts) -> str:
    """The files a copy of the run needs beside its card: the family's later stages' too."""
    family = declared_family(facts.config.get("model", {}).get("family", ""))
    later = f" (and {', '.join(family.files)}, once written)" if family and family.files else ""
    return f"config.json, model.safetensors{later}"


def card_text(facts: CardFacts) -> str:
    """The whole card: front matter, then Markdown."""
    data = run_data(facts)
    model = facts.model
    out = [front_matter(facts), f"# {_md(facts.name)}: a vaekit VAE", ""]
    done = facts.epochs_done
    epochs = NO_RECORD if done is None else f" for {done} epoch{'s' * (done != 1)}"
    out += [f"{_md(model_line(facts.config))}, trained on {_md(data_name(facts))}{epochs} "
            f"with vaekit {_md(facts.config.get('vaekit_version'))}.", ""]  # fmt: skip
    out += ["## Training data", ""]
    out.append(f"- Data: {_md(data_name(facts))}")
    out.append(f"- Checksum: sha256 `{_md(data.get('sha256', '?'))}` of the examples vaekit "
               "read (config.json's data.sha256; `vaekit.resume` checks it)")  # fmt: skip
    counts = [(data.get(k), w) for k, w in (("num_train", "training"), ("num_val", "validation"),
                                             ("num_test", "test"))]  # fmt: skip
    shown = ", ".join(f"{number(n)} {w}" for n, w in counts if isinstance(n, int))
    out.append(f"- Examples: {shown or 'not recorded'}; each of shape {tuple(model.shape)}, "
               f"{_md(model.kind.noun)}")  # fmt: skip
    out.append(f"- Values: {_md(_values(facts))}")
    classes = data.get("classes")
    if isinstance(classes, list) and classes:
        names = ", ".join(str(c) for c in classes[:12]) + (", ..." if len(classes) > 12 else "")
        out.append(f"- Classes: {len(classes)} ({_md(names)})")
    out += ["", "## Configuration", ""]
    out += _md_table(("option", "value"), configuration(facts))
    out += ["", "All options: config.json.", "", "## Evaluation", ""]
    figures = figures_of(facts)
    if figures:
        rows = [(f.name, f.shown(), f.unit, f.what) for f in figures]
        out += _md_table(("figure", "value", "unit", "what it is"), rows)
    else:  # finished, its test line without a finite -ELBO (null); or not finished
        out.append(NOT_FINITE if facts.final else "No test figures yet (the run has not finished).")
    if facts.evaluation_problem:
        out += ["", f"eval.json is not shown: {_md(facts.evaluation_problem)}"]
    if not facts.evaluation:
        adds = (
            "the bound -log p(x|z_q) - log p(z_q), under the code prior where `vaekit "
            "fit-prior` has fit one"
            if point_posterior(facts)
            else "the importance-weighted bound (K=1000 by default)"
        )
        out += ["", f"`vaekit eval RUNDIR` adds {adds}."]
    out += ["", "## Intended uses", ""] + [f"- {u}" for u in USES] + ["", NOT_FOR]
    out += ["", "## Limitations", ""] + [f"- {_md(text)}" for text in limits(facts)]
    out += ["", "## How to use", "", "```python", "import vaekit", "",
            'model = vaekit.load("path/to/this/folder")  # config.json + model.safetensors',
            "samples = model.sample(16, seed=0)", "```", "",
            f"This folder needs only {needed_files(facts)} and this README.md: "
            "sampling, reconstructing, encoding and scoring inputs you give work anywhere. "
            "`vaekit eval`, `vaekit anomaly` and `vaekit report` on the run's own splits read "
            "its training data again and check its checksum: a registered dataset is found by "
            "its name, other data is given with --data.", "",
            f"Weights: model.safetensors, sha256 `{model.weights_sha256}`.", ""]  # fmt: skip
    return "\n".join(out)


# --- the file --------------------------------------------------------------------------------


def write_card(rundir: str | Path, facts: CardFacts) -> Path:
    """Write the run's card (see `card_path`) and return its path. A card vaekit wrote as
    MODEL_CARD.md goes once README.md is its own again."""
    folder = Path(rundir)
    path = card_path(folder)
    text = card_text(facts)
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    beside = folder / BESIDE_FILE
    if path.name == CARD_FILE and beside.is_file() and is_vaekit_card(beside):
        beside.unlink()
    return path
