"""`vaekit.api.anomaly.AnomalyDetector`: a trained VAE as an anomaly detector, with the
conventions such tools share (PyOD's): `fit`, `decision_function` (higher = more anomalous),
`predict` (1 = anomaly), `threshold_`. The threshold is calibrated on the run's validation
split and saved in RUNDIR/anomaly.json with the settings and the weights (`weights_sha256`)
it was computed with (the knn score's reference beside it, in RUNDIR/anomaly.safetensors);
`load_or_fit` reuses it only while both are the same, and says why when it calibrates
again."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from vaekit.api.inputs import model_dataset
from vaekit.api.model import Model, checked_count, checked_seed
from vaekit.api.run import ANOMALY_FILE, ANOMALY_TENSORS_FILE, train_config_from
from vaekit.apps.anomaly import (
    SCORES,
    Neighbours,
    anomaly_scores,
    column_contributions,
    content_keys,
    fit_gaussian,
    moment_features,
)
from vaekit.data.batches import ImageSet, seeded_subset
from vaekit.data.datasets import split_validation
from vaekit.errors import VaekitError
from vaekit.files import atomic_write, write_json
from vaekit.models.io import DIGEST_KEY, read_safetensors, tensors_sha256
from vaekit.models.posterior import posterior_moments_of


class AnomalyDetector:
    def __init__(
        self,
        model: Model,
        score: str = "elbo",
        quantile: float | None = None,
        contamination: float | None = None,
        iw_samples: int = 100,
        seed: int = 0,
    ) -> None:
        model.require_unconditional("anomaly detection")
        if score not in SCORES:
            raise VaekitError(f"unknown score {score!r}: choose from {', '.join(SCORES)}")
        if score == "complexity" and not getattr(model.kind.part("model"), "COMPLEXITY", True):
            others = ", ".join(s for s in SCORES if s != "complexity")
            raise VaekitError(
                "--score complexity compares with a PNG's size, for images: for "
                f"{model.kind.noun} use one of {others}"
            )
        if quantile is not None and contamination is not None:
            raise VaekitError("give --quantile or --contamination, not both")
        for name, value in (("quantile", quantile), ("contamination", contamination)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, float | int)
            ):
                raise VaekitError(f"{name} must be a number in (0, 1), got {value!r}")
        iw_samples, seed = checked_count("iw_samples", iw_samples), checked_seed(seed)
        if contamination is not None and not 0 < contamination < 1:
            raise VaekitError(f"--contamination must be in (0, 1), got {contamination}")
        if contamination is not None:
            quantile = 1 - contamination
        quantile = 0.99 if quantile is None else quantile
        if not 0 < quantile < 1:
            raise VaekitError(f"--quantile must be in (0, 1), got {quantile}")
        self.model, self.score, self.quantile = model, score, quantile
        self.iw_samples, self.seed = iw_samples, seed
        self.threshold_: float | None = None
        self.latent_gaussian: tuple[torch.Tensor, torch.Tensor] | None = None
        self.neighbours: Neighbours | None = None
        self.calibration: dict[str, Any] = {}
        self.weights_sha256: str | None = None  # of the weights the threshold was fitted on
        self.saved_digest: Any = None  # as read from anomaly.json: its knn reference's digest

    def settings(self) -> dict[str, Any]:
        """What the scores and the threshold depend on, besides the data and the weights."""
        chosen = {"score": self.score, "quantile": self.quantile, "seed": self.seed}
        if self.score == "nll":
            chosen["iw_samples"] = self.iw_samples
        return chosen

    def differences(self, wanted: AnomalyDetector) -> list[str]:
        """How this (saved) detector differs from `wanted` in its settings or its model's
        weights, one phrase each; empty when it can stand in for `wanted`."""
        ours, theirs = self.settings(), wanted.settings()
        # (a setting of one score only, nll's iw_samples, goes with the score's difference)
        found = [
            f"{key} {ours[key]} (now {theirs[key]})"
            for key in sorted(set(ours) & set(theirs))
            if ours[key] != theirs[key]
        ]
        current = wanted.model.weights_sha256
        if self.weights_sha256 is None:
            found.append("weights it does not record")
        elif self.weights_sha256 != current:
            found.append(
                f"other weights (sha256 {self.weights_sha256[:12]}..., now {current[:12]}...)"
            )
        return found

    def fit(self, data: Any = None, max_examples: int = 10_000) -> AnomalyDetector:
        """Calibrate on the validation split of the run's data (or of `data`): the threshold
        is the `quantile` of its scores. The latent score also fits a Gaussian to the training
        part's posterior means (at most `max_examples` of them); the knn score keeps their
        moment features as its reference."""
        max_examples = checked_count("max_examples", max_examples)
        dataset = model_dataset(self.model, data)
        config = train_config_from(self.model.run_config)
        train, val = split_validation(dataset, config.val_fraction, config.seed)
        split = "val"
        if val is None:
            val, split = dataset.test, "test"  # a run without validation data
        if self.score in ("latent", "knn"):
            part = _at_most(train, max_examples, self.seed)
            means, stds = posterior_moments_of(self.model.vae, part)
            if self.score == "latent":
                self.latent_gaussian = fit_gaussian(means)
            else:
                try:
                    self.neighbours = Neighbours.fit(moment_features(means, stds))
                except ValueError as err:
                    raise VaekitError(str(err)) from None
        calibration = _at_most(val, max_examples, self.seed)
        scores = self._scores(calibration)
        scores = scores[~self._empty(calibration)]  # no values, no evidence: NaN, left out
        if not len(scores):
            raise VaekitError(
                f"none of the {len(calibration)} calibration examples ({split} split) has an "
                "observed value: no threshold (a stretch of missing values covers them all)"
            )
        self.threshold_ = float(np.quantile(scores, self.quantile))
        needed = math.ceil(1 / (1 - self.quantile))
        if len(scores) < needed:  # a 0.99 quantile of 37 scores is their largest, or near it
            warnings.warn(
                f"the threshold, the {self.quantile:g} quantile of the {split} split's scores, "
                f"rests on {len(scores)} examples, where such a quantile needs {needed}: the "
                "flags are unreliable (a lower --quantile or a --contamination, or more "
                "validation examples, would steady it)",
                stacklevel=2,
            )
        if not np.isfinite(self.threshold_):
            raise VaekitError(
                f"the {self.score} scores of the calibration examples are not all finite "
                f"numbers ({int((~np.isfinite(scores)).sum())} of {len(scores)}): no threshold"
            )
        self.weights_sha256 = self.model.weights_sha256
        self.calibration = {
            "split": split,
            "examples": len(calibration),
            "seed": self.seed,
            "score_mean": float(scores.mean()),
            "score_std": float(scores.std()),
        }
        return self

    def decision_function(self, images: np.ndarray | torch.Tensor | ImageSet) -> np.ndarray:
        """A score per image (higher = more anomalous), (B,). Images are taken as
        `Model.prepare` takes them: integers scaled by the data's value range (uint8 by
        255), floats already in [0, 1]."""
        if not isinstance(images, ImageSet):
            images = ImageSet(self.model.prepare(images).cpu(), None, 1.0)
        return self._scores(images)

    def contributions(self, rows: ImageSet, batch: int = 256) -> np.ndarray:
        """For a model of a kind with columns (a table's): each column's part of each row's
        score (N, F), in nats, NaN where the row's value is missing
        (vaekit.apps.anomaly.column_contributions: for elbo and recon they add up to the
        score, with the KL for elbo)."""
        columns = getattr(self.model.kind.part("model"), "columns", None)
        if columns is None:
            raise VaekitError("per-column contributions are for a table's model")
        out = []
        for start in range(0, len(rows), batch):
            x = rows.scaled(torch.arange(start, min(start + batch, len(rows))))
            x = x.to(self.model.device)  # (the draws keyed as the score's: content_keys)
            parts = column_contributions(self.model.vae, x, content_keys(x), self.score, self.seed)
            missing = torch.isnan(x.reshape(len(x), -1))
            out.append(parts.masked_fill(missing, float("nan")))  # to the host once, at the end
        if not out:
            return np.zeros((0, len(columns(self.model.schema))))
        return torch.cat(out).cpu().numpy()

    def predict(self, images: np.ndarray | torch.Tensor | ImageSet) -> np.ndarray:
        """1 for an anomaly (score above the threshold), 0 otherwise."""
        if self.threshold_ is None:
            raise VaekitError("the detector is not fitted: call fit() first")
        return (self.decision_function(images) > self.threshold_).astype(np.int64)

    def _scores(self, data: ImageSet, batch: int = 256) -> np.ndarray:
        device = self.model.device
        gaussian = None
        if self.latent_gaussian is not None:
            gaussian = tuple(t.to(device) for t in self.latent_gaussian)
        neighbours = self.neighbours.to(device) if self.neighbours is not None else None
        out = []
        for start in range(0, len(data), batch):
            x = data.scaled(torch.arange(start, min(start + batch, len(data)))).to(device)
            s = anomaly_scores(self.model.vae, x, content_keys(x), self.score, self.seed,
                               self.iw_samples, gaussian, neighbours)  # fmt: skip
            # An example with no observed value (a table's empty row, a window of a series
            # whose sensors were all out) has no likelihood to score: NaN, never flagged,
            # rather than the KL alone, which would rank it the most normal of all.
            empty = torch.isnan(x.reshape(len(x), -1)).all(1)
            out.append(s.masked_fill(empty, float("nan")))  # to the host once, at the end
        return torch.cat(out).cpu().numpy() if out else np.zeros(0)

    @staticmethod
    def _empty(data: ImageSet, batch: int = 1024) -> np.ndarray:
        """Which examples have no observed value (every one NaN), (N,)."""
        found = [torch.isnan(data.scaled(torch.arange(i, min(i + batch, len(data))))
                             .reshape(min(batch, len(data) - i), -1)).all(1)
                 for i in range(0, len(data), batch)]  # fmt: skip
        return torch.cat(found).numpy() if found else np.zeros(0, dtype=bool)

    def save(self, rundir: str | Path) -> Path:
        path = Path(rundir) / ANOMALY_FILE
        state: dict[str, Any] = {
            "score": self.score,
            "threshold": self.threshold_,
            "quantile": self.quantile,
            "iw_samples": self.iw_samples,
            "calibration": self.calibration,
            "weights_sha256": self.weights_sha256,
        }
        if self.latent_gaussian is not None:
            state["latent_gaussian"] = [t.tolist() for t in self.latent_gaussian]
        if self.neighbours is not None:
            # Written first: anomaly.json, written last, names the tensors it goes with.
            tensors = _neighbour_tensors(self.neighbours)
            digest = tensors_sha256(tensors)
            atomic_write(path.parent / ANOMALY_TENSORS_FILE,
                         lambda p: save_file(tensors, str(p), {DIGEST_KEY: digest}))  # fmt: skip
            state["neighbours_sha256"] = digest
        write_json(path, state)
        return path

    @classmethod
    def load(cls, model: Model, rundir: str | Path) -> AnomalyDetector | None:
        """The detector saved in RUNDIR/anomaly.json, or None if there is none. One calibrated
        on other weights than `model`'s (or on unrecorded ones) is an error."""
        path = Path(rundir) / ANOMALY_FILE
        detector = cls._read(model, path)
        if detector is not None and detector.weights_sha256 != model.weights_sha256:
            saved = str(detector.weights_sha256)[:12]
            raise VaekitError(
                f"{path} was calibrated on other weights (sha256 {saved}..., this model's "
                f"{model.weights_sha256[:12]}...): fit the detector again"
            )
        return detector

    @classmethod
    def _read(cls, model: Model, path: Path, reference: bool = True) -> AnomalyDetector | None:
        """The detector in anomaly.json at `path` (None where there is none); a knn detector
        with its reference from anomaly.safetensors unless `reference` is False (then
        `read_reference` reads it)."""
        if not path.exists():
            return None
        try:
            state = json.loads(path.read_text())
            detector = cls(model, state["score"], state["quantile"], None, state["iw_samples"],
                           state["calibration"]["seed"])  # fmt: skip
            detector.threshold_ = float(state["threshold"])
            detector.calibration = state["calibration"]
            numbers = [detector.threshold_, *state["calibration"].values()]
            if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                raise ValueError("its threshold or calibration is not a finite number")
            detector.weights_sha256 = state.get("weights_sha256")
            if "latent_gaussian" in state:
                mean, precision = state["latent_gaussian"]
                detector.latent_gaussian = (torch.tensor(mean), torch.tensor(precision))
            detector.saved_digest = state.get("neighbours_sha256")
        except (ValueError, KeyError, TypeError) as err:
            raise VaekitError(f"{path}: not a vaekit anomaly file ({err}); delete it") from None
        if reference:
            try:
                detector.read_reference(path)
            except VaekitError as err:
                raise VaekitError(f"{err}: delete {path} to calibrate again") from None
        return detector

    def read_reference(self, path: Path) -> None:
        """A knn detector's reference, from anomaly.safetensors beside `path` (anomaly.json)."""
        if self.score == "knn":
            self.neighbours = _read_neighbours(path, self.saved_digest)


def _neighbour_tensors(neighbours: Neighbours) -> dict[str, torch.Tensor]:
    return {
        "reference": neighbours.reference.cpu().contiguous(),
        "centre": neighbours.centre.cpu().contiguous(),
        "whiten": neighbours.whiten.cpu().contiguous(),
    }


def _read_neighbours(path: Path, digest: str | None) -> Neighbours:
    """The knn score's reference saved beside anomaly.json (`path`), which names its digest."""
    tensors_path = path.parent / ANOMALY_TENSORS_FILE
    if not isinstance(digest, str):
        raise VaekitError(f"{path}: a knn detector without its reference's digest")
    if not tensors_path.is_file():
        raise VaekitError(f"{tensors_path}: missing, and {path} needs it")
    # read_safetensors checks the tensors against the digest their file records.
    tensors, meta = read_safetensors(tensors_path, {}, what="vaekit anomaly reference")
    if meta.get(DIGEST_KEY) != digest or set(tensors) != {"reference", "centre", "whiten"}:
        raise VaekitError(f"{tensors_path} is not the reference {path} was calibrated with")
    return Neighbours(tensors["reference"], tensors["centre"], tensors["whiten"])


def load_or_fit(
    wanted: AnomalyDetector, rundir: str | Path, data: Any = None
) -> tuple[AnomalyDetector, str | None]:
    """The detector with `wanted`'s settings for the run in `rundir`.

    The one saved in RUNDIR/anomaly.json when it was calibrated with the same settings on the
    same weights; otherwise `wanted`, fitted and saved there. With `data`, `wanted` is fitted
    on that data's validation split and not saved.

    Returns the detector and a note saying why a saved one was not reused (else None).
    """
    if data is not None:
        return wanted.fit(data), None
    path = Path(rundir) / ANOMALY_FILE
    saved = AnomalyDetector._read(wanted.model, path, reference=False)
    reasons = saved.differences(wanted) if saved is not None else []
    why = f"{path} was calibrated with {'; '.join(reasons)}"
    if saved is not None and not reasons:
        try:
            saved.read_reference(path)
            return saved, None
        except VaekitError as err:  # the reference is derived data: make it again
            why = str(err)
    wanted.fit()
    wanted.save(rundir)
    if saved is None:
        return wanted, None
    return wanted, f"{why}: calibrated again"


def _at_most(data: ImageSet, count: int, seed: int) -> ImageSet:
    return data if len(data) <= count else data.subset(seeded_subset(len(data), count, seed))


def detection_quality(scores: np.ndarray, anomalous: np.ndarray) -> dict[str, float]:
    """AUROC and average precision of scores against the truth (1 = anomaly), over the inputs
    that have a score (one with no observed value has NaN: left out)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scored = ~np.isnan(scores)
    scores, anomalous = scores[scored], anomalous[scored]
    if len(anomalous) == 0 or anomalous.min() == anomalous.max():
        raise VaekitError("AUROC needs both normal and anomalous inputs among the labels")
    return {
        "auroc": float(roc_auc_score(anomalous, scores)),
        "average_precision": float(average_precision_score(anomalous, scores)),
    }


def run_detector(
    model: Model, rundir: str | Path, score: str = "elbo"
) -> tuple[AnomalyDetector, str | None]:
    """The detector of a run as `vaekit anomaly` last calibrated it: with the settings saved
    in RUNDIR/anomaly.json (calibrated again, and saved, where the weights have changed since),
    or, where there is none, with `score` and the default settings, calibrated on first use
    and saved (`load_or_fit`). Returns the detector and load_or_fit's note."""
    saved = AnomalyDetector._read(model, Path(rundir) / ANOMALY_FILE, reference=False)
    if saved is None:
        wanted = AnomalyDetector(model, score)
    else:
        wanted = AnomalyDetector(
            model, saved.score, saved.quantile, None, saved.iw_samples, saved.seed
        )
    return load_or_fit(wanted, rundir)
