"""The VAE: q(z|x) from the encoder, p(z) from the prior, p(x|z) from decoder + likelihood.

The per-example negative ELBO (Kingma & Welling, 2014) with one posterior sample:
    loss(x) = rec(x) + kl(x),  rec = -log p(x|z), z ~ q(z|x) reparameterized,
                               kl = KL(q(z|x) || p(z)) in closed form,
all in nats, shape (B,).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaekit.models.distributions import DiagonalGaussian


@dataclass
class LossOutput:
    """Per-example terms, each (B,), in nats: loss = rec + kl = -ELBO."""

    loss: torch.Tensor
    rec: torch.Tensor
    kl: torch.Tensor


class VAE(nn.Module):
    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, likelihood: nn.Module, prior: nn.Module
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """x: (B, C, H, W) float in [0, 1] -> q(z|x) over (B, Z)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor):
        """z: (B, Z) -> p(x|z), a distribution over (B, C, H, W)."""
        return self.likelihood(self.decoder(z))

    def loss(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        target: torch.Tensor | None = None,
    ) -> LossOutput:
        """Per-example -ELBO terms for x (B, C, H, W) in [0, 1]. With `target`, the encoder
        sees x and the likelihood scores target (a denoising VAE: x corrupted, target clean)."""
        qz = self.encode(x)
        z = qz.rsample(generator)
        rec = -self.decode(z).log_prob(x if target is None else target)
        kl = qz.kl(self.prior())
        return LossOutput(rec + kl, rec, kl)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> LossOutput:
        return self.loss(x, generator)

    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0):
        """p(x|z) for n draws z ~ p(z), the prior's spread scaled by `temperature`."""
        pz = self.prior(n)
        eps = torch.randn(pz.mean.shape, generator=generator, device=pz.mean.device)
        return self.decode(pz.mean + temperature * pz.std * eps)
