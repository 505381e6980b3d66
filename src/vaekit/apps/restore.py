"""Uncertainty: thin functions over a VAE's posterior and decoder. (Denoising is the model's
own posterior-mean reconstruction, `VAE.reconstruct`; PSNR is `vaekit.models.metrics.psnr`.)

Inputs are images (B, C, H, W) in [0, 1] on the model's device; outputs are tensors.
"""

from __future__ import annotations

import math

import torch

from vaekit.models.vae import VAE


@torch.no_grad()
def predictive_spread(
    model: VAE, x: torch.Tensor, samples: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """How unsure the model is about each input.

    Returns:
        the posterior standard deviation (B, Z) (`VAE.posterior_std`); the mean of the
        decoded means over `samples` draws z ~ q(z|x) (`VAE.posterior_sample`), (B, C, H, W);
        and their per-pixel standard deviation (B, C, H, W): how much the reconstruction
        changes with the latent code the input leaves open.
    """
    total = torch.zeros_like(x)
    total_sq = torch.zeros_like(x)
    for _ in range(samples):  # one draw at a time: memory stays that of one batch
        images = model.mean_image(model.posterior_sample(x, n=1, generator=generator)[:, 0])
        total += images
        total_sq += images * images
    mean = total / samples
    var = (total_sq / samples - mean * mean).clamp_min(0) * samples / max(samples - 1, 1)
    return model.posterior_std(x), mean, var.sqrt()


def spread_to_image(spread: torch.Tensor) -> torch.Tensor:
    """Per-pixel spreads scaled to [0, 1] for display (by the largest one in the batch)."""
    top = float(spread.max())
    return spread / top if top > 0 and not math.isnan(top) else spread
