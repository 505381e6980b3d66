"""Generation and reconstruction.

Images come back as float tensors (B, C, H, W) clamped to [0, 1]: the likelihood's mean,
which for a Gaussian likelihood may stray slightly outside the pixel range.
"""

from __future__ import annotations

import torch

from vaekit.models.vae import VAE


@torch.no_grad()
def sample(
    model: VAE,
    n: int,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """n new images: the means of p(x|z) for z drawn from the prior (scaled by temperature),
    of classes y (n,) for a conditional VAE."""
    return model.sample(n, generator, temperature, y).mean.clamp(0, 1)


@torch.no_grad()
def reconstruct(model: VAE, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Reconstructions of x (B, C, H, W) in [0, 1] through the posterior mean of z."""
    return model.decode(model.encode(x, y).mean, y).mean.clamp(0, 1)
