"""Generation: new images from the prior.

Images come back as float tensors (B, C, H, W) clamped to [0, 1]: the likelihood's mean
(`VAE.mean_image`), or, for an autoregressive decoder, a draw from p(x|z) (its `mean` is only
a greedy decode, which shows the PixelCNN's most likely pixels rather than its images).
Reconstructions are the model's own `VAE.reconstruct`.
"""

from __future__ import annotations

import torch

from vaekit.models.pixelcnn import AutoregressiveLikelihood
from vaekit.models.vae import VAE


@torch.no_grad()
def sample(
    model: VAE,
    n: int,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    y: torch.Tensor | None = None,
) -> torch.Tensor:
    """n new images for z drawn from the prior (scaled by temperature), of classes y (n,) for a
    conditional VAE: the means of p(x|z), or draws x ~ p(x|z) (from `generator`, pixel by
    pixel) for an autoregressive decoder."""
    z = model.sample_latents(n, generator, temperature)
    if isinstance(model.likelihood, AutoregressiveLikelihood):
        return model.decode(z, y).sample(generator).clamp(0, 1)
    return model.mean_image(z, y)
