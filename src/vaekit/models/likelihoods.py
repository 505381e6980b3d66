"""Likelihoods p(x|z): turn the decoder's raw output into a distribution over pixels.

Each declares how many numbers it needs per pixel (`params_per_channel`), so the decoder's
output width follows from the likelihood, and swapping one for another is a constructor
argument. Each also declares the data it is a normalized likelihood of (`support`): "binary"
(pixels in {0, 1}), "continuous" (real-valued pixels: a density) or "8-bit" (the 256 values of
a byte, the discretized likelihoods): evaluation reports a log-likelihood only where the data
matches, and bits/dim only for "8-bit".
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.models.distributions import Bernoulli, Gaussian


class BernoulliLikelihood(nn.Module):
    """Bernoulli pixels with logits = decoder output."""

    params_per_channel = 1
    support = "binary"

    def forward(self, h: torch.Tensor) -> Bernoulli:
        return Bernoulli(h)


class GaussianLikelihood(nn.Module):
    """Gaussian pixels: mean = decoder output, a fixed standard deviation `std`."""

    params_per_channel = 1
    support = "continuous"

    def __init__(self, std: float = 0.1) -> None:
        super().__init__()
        if std <= 0:
            raise ValueError(f"gaussian std must be positive, got {std}")
        self.std = std

    def forward(self, h: torch.Tensor) -> Gaussian:
        return Gaussian(h, self.std)
