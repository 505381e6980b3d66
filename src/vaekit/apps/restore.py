"""Denoising and uncertainty: thin functions over a VAE's posterior and decoder.

Inputs are images (B, C, H, W) in [0, 1] on the model's device; outputs are tensors.
"""

from __future__ import annotations

import math

import torch

from vaekit.models.vae import VAE


@torch.no_grad()
def denoise(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """The reconstruction of (noisy) images through the posterior mean: (B, C, H, W)."""
    return model.decode(model.encode(x).mean).mean.clamp(0, 1)


def psnr(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image peak signal-to-noise ratio in dB for intensities in [0, 1]: (B,)."""
    mse = (x - reference).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-10))


@torch.no_grad()
def predictive_spread(
    model: VAE, x: torch.Tensor, samples: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """How unsure the model is about each input.

    Returns:
        posterior std (B, Z); the mean of the decoded means over `samples` draws z ~ q(z|x),
        (B, C, H, W); and their per-pixel standard deviation (B, C, H, W): how much the
        reconstruction changes with the latent code the input leaves open.
    """
    qz = model.encode(x)
    total = torch.zeros_like(x)
    total_sq = torch.zeros_like(x)
    for _ in range(samples):
        images = model.decode(qz.rsample(generator)).mean.clamp(0, 1)
        total += images
        total_sq += images * images
    mean = total / samples
    var = (total_sq / samples - mean * mean).clamp_min(0) * samples / max(samples - 1, 1)
    return qz.std, mean, var.sqrt()


def spread_to_image(spread: torch.Tensor) -> torch.Tensor:
    """Per-pixel spreads scaled to [0, 1] for display (by the largest one in the batch)."""
    top = float(spread.max())
    return spread / top if top > 0 and not math.isnan(top) else spread
