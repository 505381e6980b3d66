"""Anomaly scores: higher means less like the training data.

- "elbo": the negative ELBO (nats), the reconstruction averaged over 8 posterior samples.
  Likelihoods favour simple images (Nalisnick et al., "Do Deep Generative Models Know What
  They Don't Know?", 2019), so plain -ELBO misranks inputs that are easy to compress.
- "nll": the importance-weighted -log p(x) (the IWAE bound, K samples); the same caveat.
- "complexity": -ELBO minus the input's complexity, its PNG-compressed length in nats (Serra
  et al., "Input Complexity and Out-of-distribution Detection with Likelihood-based Generative
  Models", 2020): a likelihood ratio against a generic image compressor.
- "latent": the Mahalanobis distance of the posterior mean from the training images'
  posterior means (a Gaussian fitted to them): a score in latent space. The posterior mean
  is the model's own (`VAE.posterior_mean`: exact, or Monte Carlo for a hierarchical VAE).
- "recon": the mean squared error of the posterior-mean reconstruction (for a table,
  -log p(x | E_q[z|x]) of its observed entries: `VAE.reconstruction_error`).

Inputs are images (B, C, H, W) in [0, 1] on the model's device, with their indices (which key
the random draws); outputs are scores (B,).
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

from vaekit.models.importance import importance_terms, sample_noise
from vaekit.models.tables import TableVAE
from vaekit.models.vae import VAE

SCORES = ("elbo", "nll", "complexity", "latent", "recon")
ELBO_SAMPLES = 8  # posterior samples behind the "elbo" score's reconstruction term


def png_nats(x: torch.Tensor) -> torch.Tensor:
    """Each image's PNG-compressed size (maximum compression) in nats: (B,)."""
    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    sizes = []
    for image in pixels:
        array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=9)
        sizes.append(len(buffer.getvalue()) * 8 * math.log(2))
    return torch.tensor(sizes, device=x.device)


def fit_gaussian(features: torch.Tensor, ridge: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (Z,) and precision (Z, Z) of features (N, Z), the covariance ridged for stability."""
    mean = features.mean(0)
    centred = features - mean
    cov = centred.T @ centred / max(len(features) - 1, 1)
    cov = cov + ridge * torch.eye(cov.shape[0], device=cov.device, dtype=cov.dtype)
    return mean, torch.linalg.inv(cov)


@torch.no_grad()
def anomaly_scores(
    model: VAE,
    x: torch.Tensor,
    indices: torch.Tensor,
    kind: str,
    seed: int = 0,
    iw_samples: int = 100,
    latent_gaussian: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Scores (B,) of kind `kind` (see SCORES); "latent" needs `latent_gaussian`."""
    if kind in ("elbo", "complexity"):
        terms = importance_terms(model, x, indices, ELBO_SAMPLES, seed)
        score = terms.rec + terms.kl
        return score - png_nats(x) if kind == "complexity" else score
    if kind == "nll":
        return -importance_terms(model, x, indices, iw_samples, seed).log_likelihood
    if kind == "latent":
        if latent_gaussian is None:
            raise ValueError("the latent score needs the training data's Gaussian")
        centre, precision = latent_gaussian
        d = model.posterior_mean(x) - centre
        return torch.einsum("bi,ij,bj->b", d, precision, d)
    if kind == "recon":
        return model.reconstruction_error(x)
    raise ValueError(f"unknown score {kind!r}")


@torch.no_grad()
def error_map(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel absolute reconstruction error, averaged over channels: (B, 1, H, W)."""
    return (model.reconstruct(x) - x).abs().mean(1, keepdim=True)


@torch.no_grad()
def column_contributions(
    model: TableVAE, x: torch.Tensor, indices: torch.Tensor, kind: str, seed: int = 0
) -> torch.Tensor:
    """Each column's part of the anomaly score of table rows x (B, 1, 1, F): -log p(x_j|z),
    0 where x_j is missing; (B, F).

    For "elbo" (and "nll"), averaged over the posterior samples behind the "elbo" score, the
    same draws: the columns add up to the score's reconstruction term, and the score is
    their sum plus the KL. For the others, at the posterior mean: for "recon" they add up to
    the score; for "latent" they say which columns the model reconstructs worst.
    """
    if kind not in ("elbo", "nll"):
        return model.column_errors(x)
    eps = sample_noise(seed, indices.cpu(), 0, ELBO_SAMPLES, model.latent_dim).to(x.device)
    z = model._posterior_given_noise(x, eps)
    b, n, dims = z.shape
    px = model.decode(z.reshape(b * n, dims))
    per_column = px.log_prob_per_column(x.repeat_interleave(n, dim=0))
    return -per_column.view(b, n, -1).mean(1)
