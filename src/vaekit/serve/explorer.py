"""What the web page asks of a run, without HTTP: the latent map, decoding a point of it or a
latent vector, fresh samples, and an uploaded image's reconstruction, anomaly score and
uncertainty map. The model is loaded once and held in memory; `lock` lets one request at a
time use it. Every answer is plain JSON-ready data; images are PNG data: URIs. What the page
draws of decoded examples, and under which fields, is the kind of data's to say (its render
part's `served`, vaekit.kinds.protocol); a kind without one is not served.

Shapes: N map points, Z latent dims, (C, H, W) the model's images.
"""

from __future__ import annotations

import math
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaekit.api.anomaly import run_detector
from vaekit.api.model import Model
from vaekit.api.run import reopen_dataset
from vaekit.apps import latent
from vaekit.apps.anomaly import SCORE_UNITS
from vaekit.apps.projection import PLANE_MIN_POINTS, fit_plane
from vaekit.apps.restore import predictive_spread, spread_to_image
from vaekit.data.batches import ImageSet, seeded_subset
from vaekit.errors import VaekitError
from vaekit.models.posterior import posterior_moments_of
from vaekit.report.images import data_uri, png_bytes


@dataclass(frozen=True)
class Limits:
    """How much one request may ask for."""

    map_points: int = 2000
    sliders: int = 8
    samples: int = 16
    max_samples: int = 64
    uncertainty_samples: int = 16
    kl_examples: int = 1000
    latent_bound: float = 1e3  # |z| beyond this is a client's mistake, not a latent


class Explorer:
    """A loaded run ready to answer the page. Construction encodes the map's test images,
    ranks the latent dimensions by KL and calibrates the anomaly threshold if the run has
    none yet (RUNDIR/anomaly.json)."""

    def __init__(
        self,
        model: Model,
        rundir: str | Path,
        data: Any = None,
        seed: int = 0,
        limits: Limits = Limits(),
    ) -> None:
        model.require_unconditional("vaekit serve")
        # How the page draws decoded examples: the kind's fields of an answer.
        self.served = getattr(model.kind.part("render"), "served", None)
        self.uploads = bool(getattr(model.kind.part("render"), "uploads", False))
        if self.served is None:
            raise VaekitError(
                f"vaekit serve has no page for {model.kind.noun}: its kind of "
                "data does not say how to draw it"
            )
        if model.latent_dim < 2:
            raise VaekitError("vaekit serve maps a latent space of at least 2 dimensions")
        self.model, self.rundir, self.limits, self.seed = model, Path(rundir), limits, seed
        self.lock = threading.Lock()
        test = reopen_dataset(model.run_config, data).test
        shown = test
        if len(test) > limits.map_points:
            shown = test.subset(seeded_subset(len(test), limits.map_points, seed))
        if len(shown) < PLANE_MIN_POINTS:
            raise VaekitError(
                f"vaekit serve maps the test split, which holds {len(shown)} example(s): "
                f"it needs at least {PLANE_MIN_POINTS}"
            )
        means = posterior_moments_of(model.vae, shown)[0]
        self.plane = fit_plane(means)
        self.points = self.plane.to_plane(means.double()).float()
        self.labels = shown.labels
        self.start = self.plane.from_plane(self.points.double().mean(0, keepdim=True))[0].float()
        self.slider_dims, self.ranked_by = self._rank_dims(test, means)
        low, high = torch.quantile(means, 0.01, dim=0), torch.quantile(means, 0.99, dim=0)
        pad = (high - low).clamp_min(1.0) * 0.25
        self.ranges = torch.stack([low - pad, high + pad], dim=1)  # (Z, 2)
        self.detector, self.detector_note = run_detector(model, self.rundir)

    def _rank_dims(self, test: ImageSet, means: torch.Tensor) -> tuple[list[int], str]:
        """The latent dimensions for the sliders, most informative first: by KL over the
        first test images, or by the variance of the posterior means where the prior has no
        per-dimension KL."""
        vae = self.model.vae
        if vae.has_kl_per_dim:
            part = test.subset(torch.arange(min(len(test), self.limits.kl_examples)))
            generator = torch.Generator(self.model.device).manual_seed(self.seed)
            score, by = latent.kl_per_dimension_of(vae, part, generator), "KL (nats)"
        else:
            score, by = means.var(0), "variance of the posterior means"
        self.dim_scores = score
        # hvae decodes from its bottom layer: only those dimensions move the image (hconv's
        # decoder reads every layer).
        decoded = vae.layer_sizes[0] if vae.decodes_bottom_layer else vae.latent_dim
        if decoded < vae.latent_dim:
            by += "; the bottom layer's, which the decoder reads"
        order = sorted(range(decoded), key=lambda d: -float(score[d]))
        return order[: self.limits.sliders], by

    def info(self) -> dict[str, Any]:
        """Everything the page draws before its first request: the map, the sliders, the
        anomaly threshold."""
        cfg = self.model.config
        anomaly = self.detector
        return {
            "run": self.rundir.resolve().name,
            "model": f"{cfg.family} VAE, Z={self.model.latent_dim}, {cfg.likelihood} likelihood",
            "shape": list(self.model.shape),
            "latent_dim": self.model.latent_dim,
            "uploads": self.uploads,  # whether the page takes a file to examine
            "map": {
                "axes": list(self.plane.axes),
                "explained": [round(v, 4) for v in self.plane.explained],
                "points": [[round(float(u), 4), round(float(v), 4)] for u, v in self.points],
                "labels": None if self.labels is None else [int(v) for v in self.labels],
                # What the legend calls label i (None: the data names no classes).
                "class_names": None if self.labels is None else self.model.class_names,
            },
            "sliders": [
                {
                    "dim": d,
                    "score": round(float(self.dim_scores[d]), 4),
                    "low": round(float(self.ranges[d, 0]), 4),
                    "high": round(float(self.ranges[d, 1]), 4),
                }
                for d in self.slider_dims
            ],
            "ranked_by": self.ranked_by,
            "start": [round(float(v), 5) for v in self.start],
            "examples": getattr(self.model.kind.part("render"), "served_noun", "examples"),
            "anomaly": {
                "score": anomaly.score,
                "units": SCORE_UNITS[anomaly.score],
                "threshold": anomaly.threshold_,
                "quantile": anomaly.quantile,
                "note": self.detector_note,
            },
        }

    def _decoded(self, z: torch.Tensor) -> dict[str, str]:
        """The latents z (1, Z) decoded, as the fields the page draws."""
        with self.lock:
            return self.served(self.model, self.model.decode(z))

    def latent(self, values: Any, size: int) -> torch.Tensor:
        """A client's list of `size` finite numbers as a (1, size) tensor, or VaekitError."""
        if not isinstance(values, list) or len(values) != size:
            raise VaekitError(f"expected a list of {size} numbers")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise VaekitError(f"expected a list of {size} numbers")
        bound = self.limits.latent_bound
        if not all(math.isfinite(v) and abs(v) <= bound for v in values):
            raise VaekitError(f"each number must be finite and within ±{bound:g}")
        return torch.tensor([values], dtype=torch.float32)

    def decode_point(self, point: Any) -> dict[str, Any]:
        """A point (u, v) of the map -> its latent (through the plane: the test set's mean off
        it) and that latent's decoded image."""
        p = self.latent(point, 2)
        z = self.plane.from_plane(p.double()).float()
        return {"z": [round(float(v), 5) for v in z[0]], **self._decoded(z)}

    def decode_latent(self, values: Any) -> dict[str, Any]:
        """A latent vector (Z,) -> its decoded image and where it lies on the map."""
        z = self.latent(values, self.model.latent_dim)
        point = self.plane.to_plane(z.double())[0]
        return {"point": [round(float(v), 5) for v in point], **self._decoded(z)}

    def sample(self, n: int | None = None) -> dict[str, Any]:
        """n fresh prior samples (a new random seed each call, returned) as one grid."""
        n = self.limits.samples if n is None else n
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= self.limits.max_samples:
            raise VaekitError(f"n must be an integer from 1 to {self.limits.max_samples}")
        seed = secrets.randbelow(2**31)
        with self.lock:
            images = self.model.sample(n, seed=seed)
        return {"seed": seed, **self.served(self.model, images, math.ceil(math.sqrt(n)))}

    def examine(self, x: torch.Tensor, name: str) -> dict[str, Any]:
        """An uploaded image (1, C, H, W) in [0, 1]: its reconstruction, anomaly score against
        the run's threshold, and uncertainty map (the per-pixel spread of decodes of posterior
        samples, scaled to its largest value)."""
        detector = self.detector
        with self.lock, torch.no_grad():
            recon = self.model.reconstruct(x)
            score = float(detector.decision_function(x)[0])
            generator = torch.Generator(self.model.device).manual_seed(self.seed)
            x_on = x.to(self.model.device)
            spread = predictive_spread(
                self.model.vae, x_on, self.limits.uncertainty_samples, generator
            )[2].cpu()
        threshold = detector.threshold_
        return {
            "name": name,
            "input": _png(x),
            "reconstruction": _png(recon),
            "uncertainty": _png(spread_to_image(spread)),
            "spread_max": float(spread.max()),
            "score": score if math.isfinite(score) else None,
            "score_name": detector.score,
            "threshold": threshold,
            "anomalous": bool(threshold is not None and score > threshold),
        }


def _png(image: torch.Tensor) -> str:
    """One image (1, C, H, W) in [0, 1] as a PNG data: URI, without a border."""
    return data_uri(png_bytes(image, 1, pad=0))
