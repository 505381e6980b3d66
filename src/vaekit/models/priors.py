"""Priors p(z) as modules: `log_prob(z, encoder)` (B,) and `sample(n, generator, temperature,
encoder)` (n, Z).

The VampPrior is a mixture of the encoder's posteriors at learned pseudo-inputs, so these
methods take the model's encoder as an argument (the prior never holds it: the weights would
otherwise be stored twice). A prior with a closed-form KL against a diagonal Gaussian posterior
(`gaussian = True`) also returns itself as a DiagonalGaussian from `forward(n)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from vaekit.models.distributions import DiagonalGaussian

# What the VampPrior calls to get q(z|u) for pseudo-inputs u (K, C, H, W).
Encoder = Callable[[torch.Tensor], DiagonalGaussian]


class StandardNormal(nn.Module):
    """p(z) = N(0, I) over Z latent dimensions."""

    gaussian = True

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("_zero", torch.zeros(1, latent_dim), persistent=False)

    def forward(self, n: int = 1) -> DiagonalGaussian:
        """The prior for a batch of n: mean and logvar of shape (n, Z)."""
        zero = self._zero.expand(n, -1)
        return DiagonalGaussian(zero, zero)

    def log_prob(self, z: torch.Tensor, encoder: Encoder | None = None) -> torch.Tensor:
        return self(1).log_prob(z)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        encoder: Encoder | None = None,
    ) -> torch.Tensor:
        shape = (n, self.latent_dim)
        return temperature * torch.randn(shape, generator=generator, device=self._zero.device)


def _mixture_log_prob(z: torch.Tensor, means: torch.Tensor, logvars: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k N(z; means_k, diag(exp(logvars_k))) for z (B, Z), components (K, Z)."""
    k, dims = means.shape
    comp = DiagonalGaussian(
        means.unsqueeze(0).expand(len(z), k, dims).reshape(-1, dims),
        logvars.unsqueeze(0).expand(len(z), k, dims).reshape(-1, dims),
    )
    log_p = comp.log_prob(z.repeat_interleave(k, dim=0)).view(len(z), k)
    return torch.logsumexp(log_p, dim=1) - math.log(k)


def _mixture_sample(
    means: torch.Tensor,
    logvars: torch.Tensor,
    n: int,
    generator: torch.Generator | None,
    temperature: float,
) -> torch.Tensor:
    """n draws from the equal-weight mixture: a component each, then its Gaussian (spread scaled
    by temperature)."""
    pick = torch.randint(len(means), (n,), generator=generator, device=means.device)
    eps = torch.randn(n, means.shape[1], generator=generator, device=means.device)
    return means[pick] + temperature * torch.exp(0.5 * logvars[pick]) * eps


class MixtureOfGaussians(nn.Module):
    """p(z) = (1/K) sum_k N(mu_k, diag(sigma_k^2)) with learned means and variances (a learned
    mixture prior, as in Dilokthanakul et al. 2016 and Tomczak & Welling 2018's baselines).

    The means start spread out (standard normal draws) and the variances at 1, so the prior starts
    close to a broad standard normal.
    """

    gaussian = False

    def __init__(self, latent_dim: int, components: int = 10) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.means = nn.Parameter(torch.randn(components, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(components, latent_dim))

    def log_prob(self, z: torch.Tensor, encoder: Encoder | None = None) -> torch.Tensor:
        return _mixture_log_prob(z, self.means, self.logvars.clamp(-10, 10))

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        encoder: Encoder | None = None,
    ) -> torch.Tensor:
        return _mixture_sample(self.means, self.logvars.clamp(-10, 10), n, generator, temperature)


class VampPrior(nn.Module):
    """p(z) = (1/K) sum_k q(z | u_k): the encoder's posteriors at K learned pseudo-inputs u_k
    (Tomczak & Welling, "VAE with a VampPrior", 2018).

    The pseudo-inputs live in pixel space; they are stored unconstrained and squashed into
    [0, 1] with a sigmoid, starting near mid-gray with a little noise.
    """

    gaussian = False

    def __init__(self, latent_dim: int, shape: tuple[int, ...], components: int = 50) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.pseudo_inputs = nn.Parameter(0.1 * torch.randn(components, *shape))

    def _components(self, encoder: Encoder | None) -> DiagonalGaussian:
        if encoder is None:
            raise ValueError("the VampPrior needs the model's encoder")
        return encoder(torch.sigmoid(self.pseudo_inputs))

    def log_prob(self, z: torch.Tensor, encoder: Encoder | None = None) -> torch.Tensor:
        q = self._components(encoder)
        return _mixture_log_prob(z, q.mean, q.logvar)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        encoder: Encoder | None = None,
    ) -> torch.Tensor:
        q = self._components(encoder)
        return _mixture_sample(q.mean, q.logvar, n, generator, temperature)
