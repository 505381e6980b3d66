"""Priors p(z) as modules that return a distribution."""

from __future__ import annotations

import torch
from torch import nn

from vaekit.models.distributions import DiagonalGaussian


class StandardNormal(nn.Module):
    """p(z) = N(0, I) over Z latent dimensions."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("_zero", torch.zeros(1, latent_dim), persistent=False)

    def forward(self, n: int = 1) -> DiagonalGaussian:
        """The prior for a batch of n: mean and logvar of shape (n, Z)."""
        zero = self._zero.expand(n, -1)
        return DiagonalGaussian(zero, zero)
