"""Priors p(z) as modules: `log_prob(z, encoder)` (B,) and `sample(n, generator, temperature,
encoder)` (n, Z), and `density(encoder)`, p(z) as a value with its own `log_prob(z)`, for a
caller that scores many batches of z against the same prior (the importance-sampled bounds).

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

from vaekit.models.distributions import LOG_2PI, DiagonalGaussian

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
        return DiagonalGaussian(zero, zero, is_standard=True)

    def density(self, encoder: Encoder | None = None) -> DiagonalGaussian:
        """p(z) as a value (its log_prob broadcasts over a batch of z)."""
        return self(1)

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


class GaussianMixture:
    """The equal-weight mixture (1/K) sum_k N(means_k, diag(exp(logvars_k))), components (K, Z).

    log_prob is a few matrix products: with w_k = 1 / var_k,
        sum_d (z_d - m_kd)^2 w_kd = (z^2) . w_k - 2 z . (m_k w_k) + m_k^2 . w_k,
    so no (sample, component, dimension) array is ever formed. The expansion subtracts large
    numbers where z lies close to a narrow component (w up to e^40 for an encoder's posterior),
    so z and the means are first centred on the components' average and the products run in
    float64 (float32 on Apple's MPS, which has no float64), outside any autocast. They are
    O(B K Z), small beside the decoder's work.
    """

    def __init__(self, means: torch.Tensor, logvars: torch.Tensor) -> None:
        self.means = means
        self.logvars = logvars

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for z (B, Z): (B,), in z's dtype."""
        k, dims = self.means.shape
        wide = torch.float32 if z.device.type == "mps" else torch.float64
        with torch.autocast(z.device.type, enabled=False):
            means, logvars = self.means.to(wide), self.logvars.to(wide)
            centre = means.mean(0).detach()
            x = z.to(wide) - centre
            m = means - centre
            w = torch.exp(-logvars)
            const = -0.5 * (dims * LOG_2PI + logvars.sum(1) + (m * m * w).sum(1))  # (K,)
            quad = (x * x) @ w.T - 2 * x @ (m * w).T  # (B, K)
            log_p = torch.logsumexp(const - 0.5 * quad, dim=1) - math.log(k)
        return log_p.to(z.dtype)

    def sample(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """n draws: a component each, then its Gaussian (spread scaled by temperature)."""
        means = self.means
        pick = torch.randint(len(means), (n,), generator=generator, device=means.device)
        eps = torch.randn(n, means.shape[1], generator=generator, device=means.device)
        return means[pick] + temperature * torch.exp(0.5 * self.logvars[pick]) * eps


class PriorAt:
    """A prior module that has only `log_prob(z, encoder)` (a user's own), as a value."""

    def __init__(self, prior: nn.Module, encoder: Encoder) -> None:
        self.prior, self.encoder = prior, encoder

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.prior.log_prob(z, self.encoder)


# p(z) as a value: what `density` returns.
Density = DiagonalGaussian | GaussianMixture | PriorAt


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

    def density(self, encoder: Encoder | None = None) -> GaussianMixture:
        """p(z) as a value (computed once, used for several batches of z)."""
        return GaussianMixture(self.means, self.logvars.clamp(-10, 10))

    def log_prob(self, z: torch.Tensor, encoder: Encoder | None = None) -> torch.Tensor:
        return self.density().log_prob(z)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        encoder: Encoder | None = None,
    ) -> torch.Tensor:
        return self.density().sample(n, generator, temperature)


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

    def density(self, encoder: Encoder | None = None) -> GaussianMixture:
        """p(z) as a value: the pseudo-inputs encoded once, for several batches of z."""
        if encoder is None:
            raise ValueError("the VampPrior needs the model's encoder")
        q = encoder(torch.sigmoid(self.pseudo_inputs))
        return GaussianMixture(q.mean, q.logvar)

    def log_prob(self, z: torch.Tensor, encoder: Encoder | None = None) -> torch.Tensor:
        return self.density(encoder).log_prob(z)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        encoder: Encoder | None = None,
    ) -> torch.Tensor:
        return self.density(encoder).sample(n, generator, temperature)
