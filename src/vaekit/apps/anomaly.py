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
- "knn": the mean distance to the NEIGHBOURS nearest training images in the space of the
  posterior's moments, each image described by its posterior means and log standard
  deviations (2Z numbers), distances measured in the Mahalanobis metric of the training
  images' moments. A nearest-neighbour score follows a class made of several modes, which one
  Gaussian ("latent") blurs together; the log standard deviations add how sure the encoder
  is, which it is not of inputs unlike its training data.

Inputs are images (B, C, H, W) in [0, 1] on the model's device, with their indices (which key
the random draws); outputs are scores (B,).
"""

from __future__ import annotations

import hashlib
import io
import math

import numpy as np
import torch
from PIL import Image

from vaekit.models.importance import importance_terms, sample_noise
from vaekit.models.vae import VAE

# Each score, with what its number is (the page that shows one says so).
SCORE_UNITS = {
    "elbo": "-ELBO in nats",
    "nll": "-log p(x) in nats",
    "complexity": "-ELBO minus the PNG size, in nats",
    "latent": "squared Mahalanobis distance",
    "recon": "reconstruction error",
    "knn": "Mahalanobis distance",
}
SCORES = tuple(SCORE_UNITS)
ELBO_SAMPLES = 8  # posterior samples behind the "elbo" score's reconstruction term
NEIGHBOURS = 5  # the "knn" score's k


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


def moment_features(means: torch.Tensor, stds: torch.Tensor) -> torch.Tensor:
    """The "knn" score's description of images from their posterior means and standard
    deviations (B, Z) each: (B, 2Z), the means and the log standard deviations."""
    return torch.cat([means, stds.clamp_min(1e-12).log()], dim=1)


class Neighbours:
    """The "knn" score's reference: the training images' moment features, whitened (N, D),
    with the centre (D,) and whitening matrix (D, D) that map new features into that space,
    where Euclidean distance is the training features' Mahalanobis distance."""

    def __init__(self, reference: torch.Tensor, centre: torch.Tensor, whiten: torch.Tensor):
        self.reference, self.centre, self.whiten = reference, centre, whiten

    @classmethod
    def fit(cls, features: torch.Tensor) -> Neighbours:
        """From the training images' moment features (N, D), N > NEIGHBOURS."""
        if len(features) <= NEIGHBOURS:
            raise ValueError(
                f"the knn score needs more than {NEIGHBOURS} training images, got {len(features)}"
            )
        centre, precision = fit_gaussian(features.double())
        # precision = W W^T (Cholesky): |(f - c) W|^2 = (f - c)^T precision (f - c).
        whiten = torch.linalg.cholesky(precision).float()
        centre = centre.float()
        return cls((features - centre) @ whiten, centre, whiten)

    def to(self, device: torch.device) -> Neighbours:
        return Neighbours(*(t.to(device) for t in (self.reference, self.centre, self.whiten)))

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """The mean distance of each row of features (B, D) to its NEIGHBOURS nearest
        reference rows: (B,)."""
        points = (features - self.centre) @ self.whiten
        nearest = torch.cdist(points, self.reference).topk(NEIGHBOURS, largest=False).values
        return nearest.mean(1)


def content_keys(x: torch.Tensor) -> torch.Tensor:
    """A key (B,) for each example from its values alone (a 40-bit digest of its float32
    bytes), to key its posterior draws by: the same image or window then scores the same
    wherever it stands (another file, a chunk of a stream, the run's own test part, an
    upload), where a key by position gave one window scores 3 nats apart."""
    rows = x.detach().to("cpu", torch.float32).reshape(len(x), -1).numpy()
    digests = [hashlib.blake2b(row.tobytes(), digest_size=5).digest() for row in rows]
    keys = [int.from_bytes(d, "little") for d in digests]
    return torch.tensor(keys, dtype=torch.int64, device="cpu")  # sample_noise reads them there


@torch.no_grad()
def anomaly_scores(
    model: VAE,
    x: torch.Tensor,
    indices: torch.Tensor,
    kind: str,
    seed: int = 0,
    iw_samples: int = 100,
    latent_gaussian: tuple[torch.Tensor, torch.Tensor] | None = None,
    neighbours: Neighbours | None = None,
) -> torch.Tensor:
    """Scores (B,) of kind `kind` (see SCORES); "latent" needs `latent_gaussian`, "knn"
    `neighbours`. `indices` (B,) key each example's posterior draws (`content_keys`)."""
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
    if kind == "knn":
        if neighbours is None:
            raise ValueError("the knn score needs the training data's moment features")
        return neighbours.distances(moment_features(*model.posterior_moments(x)))
    raise ValueError(f"unknown score {kind!r}")


@torch.no_grad()
def error_map(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel absolute reconstruction error, averaged over channels: (B, 1, H, W)."""
    return (model.reconstruct(x) - x).abs().mean(1, keepdim=True)


@torch.no_grad()
def column_contributions(
    model: VAE, x: torch.Tensor, indices: torch.Tensor, kind: str, seed: int = 0
) -> torch.Tensor:
    """Each column's part of the anomaly score of rows x (B, 1, 1, F) of a model with columns
    (a table's, whose model part says `columns`; its VAE has `column_errors` and its
    likelihood `log_prob_per_column`): -log p(x_j|z), 0 where x_j is missing; (B, F).

    For "elbo" (and "nll"), averaged over the posterior samples behind the "elbo" score, the
    same draws: the columns add up to the score's reconstruction term, and the score is
    their sum plus the KL. For the others, at the posterior mean: for "recon" they add up to
    the score; for "latent" and "knn" they say which columns the model reconstructs worst.
    """
    if kind not in ("elbo", "nll"):
        return model.column_errors(x)
    eps = sample_noise(seed, indices.cpu(), 0, ELBO_SAMPLES, model.latent_dim).to(x.device)
    z = model._posterior_given_noise(x, eps)
    b, n, dims = z.shape
    px = model.decode(z.reshape(b * n, dims))
    per_column = px.log_prob_per_column(x.repeat_interleave(n, dim=0))
    return -per_column.view(b, n, -1).mean(1)
