"""The builders vaekit's own likelihoods and priors name in their declarations
(vaekit.components): each takes the ModelConfig and returns the module it describes. They are
imported, by path, only when a model is built (vaekit.models.factory)."""

from __future__ import annotations

from typing import Any

from torch import nn

from vaekit.models.likelihoods import (
    BernoulliLikelihood,
    DiscretizedLogisticLikelihood,
    DiscretizedLogisticMixtureLikelihood,
    GaussianLikelihood,
    LearnedGaussianLikelihood,
    PixelGaussianLikelihood,
)
from vaekit.models.priors import MixtureOfGaussians, StandardNormal, VampPrior

# Each builder is called with a vaekit.models.factory.ModelConfig, typed Any here: importing
# the factory for its name would make a cycle inside models/ (the factory calls these).


def bernoulli(config: Any) -> nn.Module:
    """p(x|z) Bernoulli, for intensities in [0, 1]."""
    return BernoulliLikelihood()


def gaussian(config: Any) -> nn.Module:
    """p(x|z) Gaussian, its standard deviation as --gaussian-variance says: fixed at
    --gaussian-std, one learned for all pixels (from --gaussian-std), or one per pixel."""
    if config.gaussian_variance == "global":
        return LearnedGaussianLikelihood(config.gaussian_std)
    if config.gaussian_variance == "pixel":
        return PixelGaussianLikelihood()
    return GaussianLikelihood(config.gaussian_std)


def logistic(config: Any) -> nn.Module:
    """p(x|z) a logistic discretized to 8-bit pixel values."""
    return DiscretizedLogisticLikelihood()


def logistic_mixture(config: Any) -> nn.Module:
    """p(x|z) a mixture of --mixtures discretized logistics per pixel and channel."""
    return DiscretizedLogisticMixtureLikelihood(config.mixtures)


def logistic_mixture_coupled(config: Any) -> nn.Module:
    """The mixture, each color channel's also depending on the previous channel's value."""
    return DiscretizedLogisticMixtureLikelihood(config.mixtures, coupled=True)


def standard_normal(config: Any) -> nn.Module:
    """p(z) = N(0, I) over --latent-dim dimensions."""
    return StandardNormal(config.latent_dim)


def mixture_of_gaussians(config: Any) -> nn.Module:
    """p(z) a learned mixture of --prior-components Gaussians."""
    return MixtureOfGaussians(config.latent_dim, config.prior_components)


def vamp(config: Any) -> nn.Module:
    """p(z) the VampPrior: --prior-components learned pseudo-inputs of the data's shape."""
    return VampPrior(config.latent_dim, tuple(config.shape), config.prior_components)
