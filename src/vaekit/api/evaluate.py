"""`vaekit.evaluate`: the numbers that judge a VAE, for a run on its own test split or on any
other data.

    report = vaekit.evaluate("runs/fm", iw_samples=1000)
    report["iwae"]["nll"], report["elbo"]["loss"], report["probe"]["accuracy"]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.api.card import write_model_card
from vaekit.api.inputs import model_dataset
from vaekit.api.model import Model, checked_count, checked_seed, load, resolve_device, run_path
from vaekit.api.run import EVAL_FILE, train_config_from
from vaekit.data.batches import ImageSet, binarize_once, is_binary, seeded_subset
from vaekit.data.datasets import Dataset, split_validation
from vaekit.data.dsprites import FACTOR_NAMES, known_factors
from vaekit.errors import VaekitError
from vaekit.evaluation.disentanglement import disentanglement_metrics
from vaekit.evaluation.evaluate import EvalConfig, Progress, evaluate_vae
from vaekit.evaluation.probe import probe_accuracy
from vaekit.files import write_json
from vaekit.models.posterior import posterior_moments_of
from vaekit.training.loop import TrainConfig
from vaekit.version import __version__

SPLITS = ("test", "val", "train")
CONDITIONAL_PROBE = (
    "conditional model: its features are computed from the label, so a probe would read the "
    "label back instead of measuring what the latents learned"
)


def evaluate(
    model: Model | str | Path,
    data: str | Path | np.ndarray | torch.Tensor | None = None,
    *,
    split: str = "test",
    iw_samples: int = 1000,
    max_examples: int | None = None,
    batch_size: int = 128,
    chunk: int = 64,
    seed: int | None = None,
    probe: bool = True,
    probe_examples: int = 10_000,
    device: str = "cpu",
    progress: Progress | None = None,
    per_example: bool = False,
    reconstruction: bool = True,
    factors: bool | str | Path | np.ndarray | None = None,
) -> dict[str, Any]:
    """Evaluate a model (or a run directory's model) on a split of its data or of `data`.

    Args:
        data: other data, or the run's own given again: what `vaekit.train` takes (a name, a
            path, an array, a torch Dataset, a DataFrame, a Hugging Face dataset); a run
            trained on an array or a dataset object needs it.
        split: "test" (default), "val" or "train". The test split is never used for model
            choice during training; the validation split is.
        iw_samples: K for the importance-weighted bound (the ELBO's terms use the same samples).
        max_examples: score a fixed, seeded subset of this many examples.
        chunk: importance samples decoded at once per example (memory, not results).
        seed: keys every random draw (noise, subset, one-off binarization); None: the run's
            own seed, with which the test line of its metrics.jsonl was computed, so that at
            K = 1 both give the same -ELBO (and at K = --iw-train the same -IWAE_K).
        probe: fit a logistic-regression probe on the training part's posterior means (at
            most `probe_examples` of them, never the validation or test examples) where the
            data has labels; not for split="train", which it would be scored on, nor for a
            conditional model, whose features are computed from the label.
        device: where a run directory's model is loaded ("cpu", "cuda", "auto").
        per_example: also return each example's numbers: report["per_example"] holds
            "index" (its position in the split), "neg_elbo", and "nll" where the bound is a
            log-likelihood (report["kind"]), else "neg_iwae". Two models scored with
            the same split, subset and seed see the same examples, so their per-example
            differences give a paired comparison (vaekit.evaluation.paired_difference).
        reconstruction: also score the posterior-mean reconstruction (report["reconstruction"]).
            False leaves it out: a PixelCNN decoder makes that reconstruction pixel by pixel,
            most of such a model's evaluation time.
        factors: also score the disentanglement of the posterior means (MIG, SAP, DCI, the
            FactorVAE score: vaekit.evaluation.disentanglement) against the data's known
            generative factors: True for data that has them (dSprites), or an (N, K) array
            of integer factor codes (or a .npy file of one) for the split, in its order.
            report["disentanglement"] holds them.

    Returns:
        A JSON-ready report: see `vaekit eval --help` for its fields.
    """
    if isinstance(model, Model):
        model.take_later_stages()  # a code prior fitted since it was loaded
    else:  # a run directory's path, or a Run
        model = load(run_path(model), str(resolve_device(device)))
    # (1e2 or 20.0 from a notebook: whole numbers, taken; 2.5 or "a": one line, not a raw
    # TypeError from deep inside)
    iw_samples = checked_count("iw_samples", iw_samples)
    batch_size, chunk = checked_count("batch_size", batch_size), checked_count("chunk", chunk)
    if max_examples is not None:
        max_examples = checked_count("max_examples", max_examples)
    train_config = train_config_from(model.run_config)
    seed = train_config.seed if seed is None else checked_seed(seed)
    dataset, train_part, chosen = _splits(model, data, split, train_config)
    codes = None if factors is None or factors is False else _factors(dataset, chosen, factors)
    report: dict[str, Any] = {
        "vaekit_version": __version__,
        "weights_sha256": model.weights_sha256,
        "data": dataset.info["name"],
        # Which examples, by content: an object's name ("<torch Dataset DS>") says too little.
        "data_sha256": dataset.info.get("sha256"),
        # Whether they are the run's own data (config.json's checksum), or other data.
        "data_is_the_runs": dataset.has_checksum(model.run_config.get("data", {}).get("sha256")),
        # "all": other series, whose every window is in the split that scores them
        "split": "all" if split == "test" and dataset.info.get("test_is_all") else split,
        "split_size": len(chosen),
        # A conditional model's numbers are log p(x|y): the label is given, not explained.
        "conditional_on_label": bool(model.num_classes),
    }
    probing = probe and split != "train" and chosen.labels is not None
    probing = probing and train_part.labels is not None
    if probing and model.num_classes:
        probing = False
        report["probe"] = {"skipped": CONDITIONAL_PROBE}
    if probe and split == "train" and chosen.labels is not None:
        report["probe"] = {"skipped": "the probe is fit on the training part: scoring it on "
                           "the training split would measure memory, not features"}  # fmt: skip
    if train_config.binarize and not is_binary(chosen):
        # The whole split, before any subset: a subset sees the same bits as the full split.
        chosen = binarize_once(chosen, seed)
        if probing:
            train_part = binarize_once(train_part, seed)
        report["binarized"] = {"seed": seed}
    index = torch.arange(len(chosen))
    if max_examples is not None and max_examples < len(chosen):
        index = seeded_subset(len(chosen), max_examples, seed)
        chosen = chosen.subset(index)
        codes = None if codes is None else codes[index.numpy()]
        report["subset"] = {"max_examples": max_examples, "seed": seed}

    # What is particular to the kind of data: its reconstruction figure, its own numbers.
    part = model.kind.part("evaluate")
    config = EvalConfig(iw_samples=iw_samples, batch_size=batch_size, chunk=chunk, seed=seed,
                        per_example=per_example,
                        reconstruction=reconstruction and part.RECONSTRUCTION_MSE)  # fmt: skip
    numbers, means = evaluate_vae(model.vae, chosen, config, progress)
    report.update(numbers)
    report["data_kind"] = model.data_kind
    if per_example:
        each = report.pop("per_example")
        # The bound is -log p(x) only where the likelihood models the data: else -IWAE_K,
        # named so here as in `vaekit eval --per-example`'s column and the report's table.
        bound = "nll" if report.get("kind") == "log-likelihood" else "neg_iwae"
        report["per_example"] = {"index": index.tolist(), "neg_elbo": each["neg_elbo"],
                                 bound: each["nll"]}  # fmt: skip
    part.figures(model.vae, chosen, model.schema, report, reconstruction)
    report["likelihood"] = model.config.likelihood
    if probing:
        report["probe"] = _probe(model, train_part, means, chosen, probe_examples, seed)
    if codes is not None:
        names = _factor_names(dataset, codes)
        report["disentanglement"] = disentanglement_metrics(
            means.numpy(), codes, seed=seed, factor_names=names
        )
    report["not_finite"] = not_finite(report)
    return report


def per_example_bound(each: dict[str, Any]) -> list[float]:
    """report["per_example"]'s bound, whichever its name ("nll" or "neg_iwae")."""
    return each["nll"] if "nll" in each else each["neg_iwae"]


def record_eval(rundir: str | Path, report: dict[str, Any], out: str | Path) -> Path | None:
    """Write `vaekit eval`'s report to `out`; where that is the run's own eval.json, also
    rewrite the run's model card (vaekit.api.card), which shows its figures, and return the
    card's path (else None)."""
    write_json(out, report)
    if Path(out).resolve() != (Path(rundir) / EVAL_FILE).resolve():
        return None
    return write_model_card(rundir, load(rundir))


def not_finite(report: Any, where: str = "") -> list[str]:
    """The dotted keys of the report's NaN and infinite numbers (JSON writes them as null),
    except a perfect reconstruction's infinite PSNR, which is its true value."""
    if isinstance(report, dict):
        found = []
        for key, value in report.items():
            found += not_finite(value, f"{where}.{key}" if where else str(key))
        return found
    if isinstance(report, list):
        return [k for i, v in enumerate(report) for k in not_finite(v, f"{where}[{i}]")]
    if isinstance(report, float) and not math.isfinite(report):
        return [] if where == "reconstruction.psnr_db" and report > 0 else [where]
    return []


def _splits(
    model: Model, data: Any, split: str, train_config: TrainConfig
) -> tuple[Dataset, ImageSet, ImageSet]:
    """(the dataset, its training part, the split to score), checked against the model."""
    if split not in SPLITS:
        raise VaekitError(f"unknown split {split!r}: choose from {', '.join(SPLITS)}")
    dataset = model_dataset(model, data)
    train_part, val_part = split_validation(dataset, train_config.val_fraction, train_config.seed)
    chosen = {"test": dataset.test, "val": val_part, "train": train_part}[split]
    if chosen is None:
        raise VaekitError("this run has no validation split (it was trained with val fraction 0)")
    if model.vae.num_classes and chosen.labels is None:
        raise VaekitError("this conditional model is evaluated on labelled data: it has none")
    return dataset, train_part, chosen


def _probe(
    model: Model, train: ImageSet, means: torch.Tensor, test: ImageSet, limit: int, seed: int
) -> dict[str, Any]:
    if limit < 2:
        return {"skipped": f"probe_examples {limit}: a probe learns from at least 2 examples"}
    if len(train) > limit:
        train = train.subset(seeded_subset(len(train), limit, seed))
    classes = len(torch.unique(train.labels))
    if classes < 2:  # a classifier needs two classes to tell apart (sklearn refuses one)
        return {"skipped": f"the training part's {len(train)} labelled examples hold "
                f"{classes} class: a probe needs at least 2"}  # fmt: skip
    features = posterior_moments_of(model.vae, train)[0]
    return probe_accuracy(features, train.labels, means, test.labels)


def _factors(dataset: Dataset, chosen: ImageSet, factors: Any) -> np.ndarray:
    """The factor codes (N, K) of the split to score: the data's own (True), or given."""
    if factors is True:
        codes = known_factors(dataset.info, chosen.rows, len(chosen))
        if codes is None:
            raise VaekitError(
                f"--factors: {dataset.info['name']} has no known generative factors (dsprites "
                "has); give them as --factors FILE.npy, integer codes (N, K) for the split"
            )
        return codes
    if isinstance(factors, str | Path):
        path = Path(factors).expanduser()
        if path.suffix.lower() != ".npy":
            raise VaekitError(f"--factors {factors}: expected a .npy array of integer codes")
        try:
            with open(path, "rb") as f:
                if f.read(6) != b"\x93NUMPY":
                    raise ValueError("not a .npy file")
            factors = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise VaekitError(f"--factors {factors}: cannot read a .npy array ({err})") from None
    codes = np.asarray(factors)
    if codes.ndim != 2 or len(codes) != len(chosen) or not np.issubdtype(codes.dtype, np.integer):
        raise VaekitError(
            f"--factors: expected integer factor codes shaped ({len(chosen)}, K) for the "
            f"{len(chosen)} examples of the split, got {codes.dtype} {codes.shape}"
        )
    if codes.shape[1] < 2:
        raise VaekitError(
            f"--factors: {codes.shape[1]} factor; disentanglement is measured between factors "
            "(with one, DCI disentanglement and the FactorVAE score are 1 whatever z is): give "
            "at least 2"
        )
    return codes.astype(np.int64)


def _factor_names(dataset: Dataset, codes: np.ndarray) -> list[str] | None:
    """The factors' names where the data is dSprites (its 5 factors); None otherwise."""
    named = known_factors(dataset.info, None, 1) is not None and codes.shape[1] == len(FACTOR_NAMES)
    return list(FACTOR_NAMES) if named else None
