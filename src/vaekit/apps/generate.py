"""Generation: new images from the prior.

Images come back as float tensors (B, C, H, W) clamped to [0, 1]: the likelihood's mean
(`VAE.mean_image`). Reconstructions are the model's own `VAE.reconstruct`.
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
    return model.mean_image(model.sample_latents(n, generator, temperature), y)
