"""Evaluate a VAE on a set of images: ELBO and its terms, the importance-weighted bound,
bits/dim where they mean something, reconstruction quality and latent health.

All numbers are per example in nats unless a key says otherwise ("_per_dim", "bits_per_dim").
D is the number of data dimensions (C * H * W).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vaekit.data.batches import ImageSet, batch_indices
from vaekit.models.importance import BLOCK, importance_terms
from vaekit.models.metrics import mse, psnr_from_mse
from vaekit.models.vae import VAE

# Called with (examples done, examples in all).
Progress = Callable[[int, int], None]

ACTIVE_THRESHOLD = 0.01  # Burda et al.'s criterion for an active unit
# The active units `vaekit train` counts at its end read at most this many test examples (the
# first): a variance over the examples, which 1,000 estimate to about 4.5%, while the posterior
# mean of a hierarchy (or of a flow posterior) costs 64 passes per example: an untrained hconv
# of 64-128 channels took 22.6 s for 200 Fashion-MNIST images on 2 cores, 19 minutes for the
# 10,000 of the test split.
CLOSING_UNITS_EXAMPLES = 1000
# Under this KL (nats per example) the latent carries almost nothing: the decoder models the
# data alone (posterior collapse), and the model is hardly a VAE any more.
LOW_KL_NATS = 1.0
DOMINATED_MIN_EXAMPLES = 20  # fewer examples: one may well hold most of the spread


@dataclass(frozen=True)
class EvalConfig:
    iw_samples: int = 1000  # K
    batch_size: int = 128  # examples encoded together
    chunk: int = BLOCK  # importance samples decoded together per example
    seed: int = 0
    active_threshold: float = ACTIVE_THRESHOLD
    per_example: bool = False  # the report also lists each example's -ELBO and NLL
    reconstruction: bool = True  # the posterior-mean reconstruction's MSE (one more decode)


def active_units(means: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int | None:
    """Latent dimensions whose posterior mean varies over the data (N, Z) by more than
    `threshold` (variance): the units the model uses (Burda et al. 2016). None for fewer than
    2 examples, whose variance is 0 whatever the model (not 0 units: no posterior collapse)."""
    if len(means) < 2:
        return None
    return int((means.var(0, unbiased=False) > threshold).sum())


def low_kl_warning(kl: float) -> str | None:
    """A warning for a KL under LOW_KL_NATS per example (None otherwise)."""
    if not kl < LOW_KL_NATS:  # NaN is reported elsewhere
        return None
    return (
        f"the KL is {kl:.2f} nats per example, under {LOW_KL_NATS:g}: the latent is barely "
        "used (posterior collapse) and the decoder models the data alone; try --kl-warmup, "
        "--free-bits, a smaller decoder or more latent dimensions"
    )


def dominated_warning(values: torch.Tensor, what: str) -> str | None:
    """A warning where one example's value (N,) alone holds more than half of the summed
    distance of the finite values from their median (at least DOMINATED_MIN_EXAMPLES of
    them): the mean then says more about that example than about the model (a hierarchical
    VAE unstable on one validation image has given a -ELBO of 1.7e29 against a median of
    234). None otherwise."""
    finite = torch.isfinite(values)
    if int(finite.sum()) < DOMINATED_MIN_EXAMPLES:
        return None
    median = values[finite].median()
    distance = torch.where(finite, (values - median).abs(), torch.zeros_like(values))
    i = int(distance.argmax())
    if not distance[i] > 0.5 * distance.sum():
        return None
    return (
        f"example {i}'s {what} is {float(values[i]):.4g} against a median of "
        f"{float(median):.4g}; it alone moves the mean by "
        f"{float(distance[i]) / len(values):.4g}: an outlier of the data, or an input the "
        "model is numerically unstable on; see each example's figures (--per-example)"
    )


def data_support(data: ImageSet) -> str:
    """What the pixels are, as the data's source declares them (ImageSet.pixels): "binary",
    "8-bit" (256 levels), "continuous" (floats), or "discrete" (another number of levels)."""
    return data.pixels


def nats_to_bits_per_dim(nats: float, dims: int) -> float:
    """Bits per dimension = nats / (D ln 2)."""
    return nats / (dims * math.log(2))


def bound_label(report: dict[str, Any]) -> str:
    """What a report's importance-weighted figure is, with its K: "NLL (IWAE, K=1000)", or
    "objective (IWAE, K=1000)" where the likelihood cannot model the data (so it is no
    log-likelihood; a report that does not say which is labelled an objective), and "... given
    the label" for a conditional model. The one wording of `vaekit eval`, report.html and the
    compare page."""
    name = "NLL" if report.get("kind") == "log-likelihood" else "objective"
    given = " given the label" if report.get("conditional_on_label") else ""
    if "label" in report["iwae"]:  # a family's own bound (evaluate_vae)
        return f"{name}{given} ({report['iwae']['label']})"
    return f"{name}{given} (IWAE, K={report['iwae']['k']})"


@dataclass
class _Scores:
    """Per-example numbers over N examples: bound, rec, kl, reconstruction MSE (N,), the
    closed-form KL per dimension (N, Z) or None, posterior means (N, Z)."""

    log_lik: torch.Tensor
    rec: torch.Tensor
    kl: torch.Tensor
    errors: torch.Tensor
    kl_dims: torch.Tensor | None
    means: torch.Tensor


def evaluate_vae(
    model: VAE, data: ImageSet, config: EvalConfig, progress: Progress | None = None
) -> tuple[dict[str, Any], torch.Tensor]:
    """Score `model` on `data`.

    Returns:
        (report, posterior means (N, Z) on the CPU). The report holds the numbers as floats and
        lists, ready for JSON.
    """
    # A family that bounds -log p(x) its own way (a VQ-VAE: -log p(x|z_q) - log p(z_q)) gives
    # its bound per example, the bound's label and its terms, in place of the IWAE's; its
    # posterior is a point, so the ELBO's pass needs one draw, not K.
    own = getattr(model, "own_bound", None)
    if own is not None:
        config = dataclasses.replace(config, iw_samples=1)
    scores = _score(model, data, config, progress)
    dims = math.prod(data.shape)
    support = data_support(data)
    model_support = getattr(model.likelihood, "support", None)
    is_likelihood = model_support == support
    nll = -scores.log_lik
    neg_elbo = scores.rec + scores.kl
    label, terms = None, None
    if own is not None:
        nll, label, terms = own(data, config.batch_size)
    report: dict[str, Any] = {
        "num_examples": len(data),
        "dims": dims,
        "data_support": support,
        "likelihood_support": model_support,
        "kind": "log-likelihood" if is_likelihood else "objective",
        "elbo": {
            "loss": float(neg_elbo.mean()),
            "rec": float(scores.rec.mean()),
            "kl": float(scores.kl.mean()),
            "loss_per_dim": float(neg_elbo.mean()) / dims,
            "stderr": _stderr(neg_elbo),
        },
        "iwae": {
            "k": config.iw_samples if own is None else None,  # None: the family's own bound
            "nll": float(nll.mean()),
            "stderr": _stderr(nll),
            "nll_per_dim": float(nll.mean()) / dims,
            **({} if label is None else {"label": label}),
        },
        "bits_per_dim": None,
        "reconstruction": _reconstruction(scores.errors) if config.reconstruction else None,
        "latents": _latents(model, scores, config.active_threshold),
        "seed": config.seed,
    }
    if terms is not None:
        discrete = is_likelihood and support in ("binary", "8-bit")
        report["bound_terms"] = [
            {**t, "bits_per_dim": nats_to_bits_per_dim(t["nats"], dims) if discrete else None}
            for t in terms
        ]
    if config.per_example:
        report["per_example"] = {"neg_elbo": neg_elbo.tolist(), "nll": nll.tolist()}
    # (one example that dominates the -ELBO mostly dominates the bound too: one warning)
    dominated = dominated_warning(neg_elbo, "-ELBO") or dominated_warning(nll, "bound")
    low_kl = low_kl_warning(report["elbo"]["kl"]) if model.uses_latent else None
    report["warnings"] = [w for w in (low_kl, dominated) if w]
    if is_likelihood and support == "8-bit":
        report["bits_per_dim"] = {
            "elbo": nats_to_bits_per_dim(report["elbo"]["loss"], dims),
            "iwae": nats_to_bits_per_dim(report["iwae"]["nll"], dims),
        }
    return report, scores.means


def _reconstruction(errors: torch.Tensor) -> dict[str, float]:
    """The mean of the examples' reconstruction MSEs (N,), and its PSNR."""
    mse_mean = errors.double().mean()
    return {"mse": float(mse_mean), "psnr_db": float(psnr_from_mse(mse_mean))}


@torch.no_grad()
def _score(model: VAE, data: ImageSet, config: EvalConfig, progress: Progress | None) -> _Scores:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    n = len(data)
    log_lik, rec, kl = (torch.empty(n) for _ in range(3))
    errors = torch.full((n,), math.nan)  # stays NaN where config.reconstruction is False
    kl_dims, means = [], []
    labels = data.labels if model.num_classes else None
    if model.num_classes and labels is None:
        raise ValueError("a conditional VAE is evaluated on labelled data")
    done = 0
    for index in batch_indices(n, config.batch_size, shuffle=False):
        x = data.scaled(index).to(device)
        y = labels[index].to(device) if labels is not None else None
        terms = importance_terms(
            model, x, index, config.iw_samples, config.seed, max(1, config.chunk), y
        )
        log_lik[index] = terms.log_likelihood.cpu()
        rec[index] = terms.rec.cpu()
        kl[index] = terms.kl.cpu()
        if terms.kl_per_dim is not None:
            kl_dims.append(terms.kl_per_dim.cpu())
        mean = model.posterior_mean(x, y)
        means.append(mean.cpu())
        if config.reconstruction:
            # model.reconstruct(x, y), without asking for the posterior mean a second time
            errors[index] = mse(model.mean_image(mean, y), x).cpu()
        done += len(index)
        if progress:
            progress(done, n)
    model.train(was_training)
    per_dim = torch.cat(kl_dims) if kl_dims else None
    return _Scores(log_lik, rec, kl, errors, per_dim, torch.cat(means))


def _latents(model: VAE, scores: _Scores, threshold: float) -> dict[str, Any]:
    """Latent health: the KL per dimension (only where the prior gives it in closed form) and
    per layer, and the active units (Burda et al. 2016)."""
    means = scores.means
    variances = means.var(0, unbiased=False) if len(means) > 1 else torch.zeros(means.shape[1])
    kl_per_dim = scores.kl_dims.mean(0) if scores.kl_dims is not None else None
    out: dict[str, Any] = {
        "kl_per_dim": kl_per_dim.tolist() if kl_per_dim is not None else None,
        "mean_variance": variances.tolist(),
        "active_units": active_units(means, threshold),
        "active_threshold": threshold,
        "latent_dim": int(means.shape[1]),
    }
    if len(model.layer_sizes) > 1 and kl_per_dim is not None:
        out["kl_layers"] = [float(t.sum()) for t in kl_per_dim.split(model.layer_sizes)]
    return out


def paired_difference(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """The mean of a - b over examples scored by both models, and its standard error (the
    per-example differences' standard deviation / sqrt(n)). On the same examples, this is far
    smaller than the two means' own standard errors combined: most of their spread is how hard
    each example is, which the difference cancels."""
    if len(a) != len(b):
        raise ValueError(f"paired values need the same examples: {len(a)} and {len(b)} given")
    d = torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)
    return float(d.mean()), _stderr(d)


def _stderr(values: torch.Tensor) -> float:
    if len(values) < 2:
        return float("nan")
    return float(values.std(unbiased=True) / math.sqrt(len(values)))
