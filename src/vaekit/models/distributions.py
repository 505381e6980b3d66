"""Distributions as values: the encoder returns q(z|x), the prior p(z), the decoder p(x|z).

Each has `mean`, `log_prob(x)` summed over its event dimensions (shape (B,)), and, for the
latent ones, `rsample(generator)` (the reparameterization trick of Kingma & Welling, 2014,
"Auto-Encoding Variational Bayes") and an analytic `kl(other)`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)
# Log-variance is clamped to a range where exp() neither overflows nor underflows in float32
# and gradients stay finite: std between about 2e-9 and 4.9e8.
LOGVAR_MIN, LOGVAR_MAX = -40.0, 40.0


def _sum_event(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


class DiagonalGaussian:
    """N(mean, diag(exp(logvar))) over (B, Z)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor) -> None:
        self.mean = mean
        self.logvar = logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def var(self) -> torch.Tensor:
        return torch.exp(self.logvar)

    def rsample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps, eps ~ N(0, I): differentiable in mean and logvar."""
        eps = torch.randn(
            self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype
        )
        return self.mean + self.std * eps

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return -0.5 * _sum_event(LOG_2PI + self.logvar + (z - self.mean) ** 2 / self.var)

    def kl(self, other: DiagonalGaussian) -> torch.Tensor:
        """KL(self || other) in closed form, summed over Z: (B,)."""
        return _sum_event(self.kl_per_dim(other))

    def kl_per_dim(self, other: DiagonalGaussian) -> torch.Tensor:
        return 0.5 * (
            other.logvar
            - self.logvar
            + (self.var + (self.mean - other.mean) ** 2) / other.var
            - 1.0
        )


class Bernoulli:
    """Independent Bernoulli pixels with logits (B, C, H, W).

    Its log_prob accepts x in [0, 1]: on gray pixels that is the usual objective, not a
    normalized likelihood (vaekit never reports it as a log-likelihood).
    """

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -_sum_event(F.binary_cross_entropy_with_logits(self.logits, x, reduction="none"))


class Gaussian:
    """Independent Gaussian pixels with mean (B, C, H, W) and a fixed standard deviation."""

    def __init__(self, mean: torch.Tensor, std: float) -> None:
        self.mean = mean
        self.std = std

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        return -0.5 * _sum_event(z * z) - x[0].numel() * (math.log(self.std) + 0.5 * LOG_2PI)
