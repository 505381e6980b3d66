"""Importance-weighted estimates of log p(x), with the ELBO's terms from the same samples.

Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016): with z_k ~ q(z|x),
    log p(x) >= L_K = log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),
which increases with K toward log p(x); L_1 is the ELBO. Computed in chunks over K (a running
logsumexp) so memory stays bounded whatever K is.

Shapes: B examples, K importance samples (n of them per chunk), Z latent dims.

The noise of sample k of example i comes from a generator keyed by (seed, i, k // BLOCK), with
i the example's index in the evaluated set: the numbers do not depend on the batch size or the
chunk size, only on the model, the data and the seed.

Here, below evaluation and the apps, because both score with it: the bounds in `vaekit eval`,
the "elbo", "nll" and "complexity" anomaly scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaekit.errors import VaekitError
from vaekit.models.pixelcnn import AutoregressiveLikelihood
from vaekit.models.priors import Density
from vaekit.models.vae import VAE, Terms
from vaekit.randomness import step_generator

BLOCK = 64  # samples drawn per (example, block) generator
# Rows decoded at once on a CPU: a few examples' chunks together. Larger batches run slower
# per row once a conv decoder's activations spill out of the caches (a conv decoder at
# 28 x 28: 0.29 s per 8,192 decodes in batches of 512, 0.41-0.57 s in one batch of 8,192).
DECODE_ROWS = 1024
MAX_BLOCKS = 1 << 20  # so that (i, block) pairs never collide: K up to 64 * 2**20
MAX_K = BLOCK * MAX_BLOCKS  # more samples per example would reuse another example's noise
# On a CPU an autoregressive decoder's draws go through its PixelCNN in passes of as many rows
# as keep one (2 * width, H, W) activation under this many bytes per thread: passes that stay
# in a core's caches run several times faster per row (28 x 28, width 32, one thread: 2.4 s
# for 3,200 draws in passes of 5 rows, 4.7 s in passes of 80, 8.5 s in passes of 1,024).
# Since the 1 x 1 convolutions became matrix products (vaekit.models.pixelcnn.pointwise),
# 2 MiB did better than 1 MiB: the best Fashion-MNIST model's bound on 100 images, K=1000,
# 2 threads, two rounds: 5.52 and 5.44 s against 6.80 and 5.94 s; 4 MiB no better.
# A GPU takes the whole chunk at once.
AR_PASS_BYTES = 2 << 20


@dataclass
class ImportanceTerms:
    """Per-example estimates, each (B,), in nats."""

    log_likelihood: torch.Tensor  # L_K, the importance-weighted bound
    rec: torch.Tensor  # E_q[-log p(x|z)], averaged over the K samples
    kl: torch.Tensor  # KL(q(z|x) || p(z)): closed form, or averaged over the K samples
    kl_per_dim: torch.Tensor | None  # (B, Z), where the prior gives it in closed form


def sample_noise(
    seed: int, indices: torch.Tensor, first: int, count: int, latent_dim: int
) -> torch.Tensor:
    """Standard normal noise (B, count, Z) for samples first..first+count-1 of each example."""
    out = torch.empty(len(indices), count, latent_dim)
    for row, i in enumerate(indices.tolist()):
        k = first
        while k < first + count:
            block, offset = divmod(k, BLOCK)
            take = min(BLOCK - offset, first + count - k)
            g = step_generator(seed, i * MAX_BLOCKS + block)
            noise = torch.randn(BLOCK, latent_dim, generator=g)
            out[row, k - first : k - first + take] = noise[offset : offset + take]
            k += take
    return out


@torch.inference_mode()
def importance_terms(
    model: VAE,
    x: torch.Tensor,
    indices: torch.Tensor,
    k: int,
    seed: int = 0,
    chunk: int = BLOCK,
    y: torch.Tensor | None = None,
    share_image: bool = True,
) -> ImportanceTerms:
    """Importance-weighted bound with k samples and the ELBO's terms for a batch x (B, ...).

    Args:
        x: inputs in [0, 1], (B, C, H, W), on the model's device.
        indices: (B,) each example's index in the evaluated set (keys its noise).
        k: the number of importance samples K.
        chunk: samples per example decoded at once; on a CPU, examples are taken a few at a
            time so that at most DECODE_ROWS (or one example's chunk) are decoded together.
        y: the labels (B,), for a conditional model.
        share_image: for an autoregressive decoder, compute what reads x alone once per
            example and score the draws in cache-sized passes (`repeated_terms`); False
            decodes every draw in full, as `model.terms` does (kept to check and time the
            shared path against: the bound is the same up to float rounding).
    """
    if k > MAX_K:
        raise VaekitError(
            f"--iw-samples {k:,}: at most {MAX_K:,} importance samples per example (each "
            "example's noise has that many before it would repeat another's)"
        )
    if x.device.type == "cpu" and len(x) > 1 and len(x) * min(chunk, k) > DECODE_ROWS:
        group = max(1, DECODE_ROWS // min(chunk, k))
        parts = [
            importance_terms(
                model,
                x[i : i + group],
                indices[i : i + group],
                k,
                seed,
                chunk,
                None if y is None else y[i : i + group],
                share_image,
            )
            for i in range(0, len(x), group)
        ]
        kl_dims = [p.kl_per_dim for p in parts]
        return ImportanceTerms(
            log_likelihood=torch.cat([p.log_likelihood for p in parts]),
            rec=torch.cat([p.rec for p in parts]),
            kl=torch.cat([p.kl for p in parts]),
            kl_per_dim=None if kl_dims[0] is None else torch.cat(kl_dims),
        )
    device = x.device
    b = x.shape[0]
    log_sum = torch.full((b,), -math.inf, device=device)
    rec_sum = torch.zeros(b, device=device)
    kl_sum = torch.zeros(b, device=device)
    kl_dims_sum = torch.zeros(b, model.latent_dim, device=device)
    closed_form = True
    pz = model.prior_density()  # once for all chunks (a VampPrior encodes its pseudo-inputs)
    shared = share_image and shares_image(model)
    image_part = model.likelihood.image_part(x) if shared else None
    for first in range(0, k, chunk):
        n = min(chunk, k - first)
        eps = sample_noise(seed, indices, first, n, model.latent_dim).to(device)
        if shared:
            terms = repeated_terms(model, x, image_part, eps, y, pz)
        else:
            terms = model.terms(x, eps, y, pz=pz)
        log_sum = torch.logaddexp(log_sum, torch.logsumexp(terms.log_w, dim=1))
        rec_sum -= terms.log_px.sum(dim=1)
        kl_sum += terms.kl * n
        if terms.kl_dims is None:
            closed_form = False
        else:
            kl_dims_sum += terms.kl_dims.sum(dim=1)
    return ImportanceTerms(
        log_likelihood=log_sum - math.log(k),
        rec=rec_sum / k,
        kl=kl_sum / k,
        kl_per_dim=kl_dims_sum / k if closed_form else None,
    )


def shares_image(model: VAE) -> bool:
    """Whether `repeated_terms` can score `model`: a one-layer VAE (its own `terms`, not a
    hierarchy's) with an autoregressive likelihood."""
    return isinstance(model.likelihood, AutoregressiveLikelihood) and (
        type(model).terms is VAE.terms
    )


def repeated_terms(
    model: VAE,
    x: torch.Tensor,
    image_part: torch.Tensor,
    eps: torch.Tensor,
    y: torch.Tensor | None,
    pz: Density,
) -> Terms:
    """`model.terms(x, eps, y, pz=pz)` for a model that `shares_image`, computed the same way
    except for log p(x|z): the PixelCNN's work on x alone (`image_part`, from the likelihood's
    `image_part(x)`) is done once per example, not once per draw, and the B * n draws are
    decoded and scored in passes of at most `pass_rows` rows (each pass one example's draws,
    or the n draws of several examples). Equal to model.terms up to float rounding."""
    b, n, _ = eps.shape
    qz, z, log_qz = model.draw_latents(x, eps, y)
    log_pz = pz.log_prob(z).view(b, n)
    # The decoder's features of all B * n draws at once (a small batch would reread the
    # decoder's weights once per pass); then the PixelCNN, the bulk of the work, in passes.
    decoded = model.decode(z, None if y is None else y.repeat_interleave(n))
    features = decoded.features.view(b, n, *decoded.features.shape[1:])
    log_px = torch.empty(b, n, device=x.device)
    rows = pass_rows(image_part, n)
    group, per = max(1, rows // n), min(n, rows)  # examples, and draws of each, per pass
    for i in range(0, b, group):
        images = slice(i, i + group)
        for first in range(0, n, per):
            draws = slice(first, first + per)
            part = features[images, draws]
            count, m = part.shape[:2]
            dist = decoded.module(part.reshape(count * m, *part.shape[2:]))  # those rows'
            scored = dist.log_prob_repeated(x[images], image_part[images], m)
            log_px[images, draws] = scored.view(count, m)
    return Terms(log_px, log_pz, log_qz, model.kl_dims(qz, n))


def pass_rows(image_part: torch.Tensor, n: int) -> int:
    """Draws decoded in one pass for an autoregressive decoder whose image part is
    `image_part` (B, 2 * width, H, W): on a CPU, as many as keep one activation of that size
    under AR_PASS_BYTES per thread (at least 1); elsewhere all B * n at once."""
    b = image_part.shape[0]
    if image_part.device.type != "cpu":
        return b * n
    row_bytes = image_part[0].numel() * image_part.element_size()
    return max(1, AR_PASS_BYTES * torch.get_num_threads() // row_bytes)
