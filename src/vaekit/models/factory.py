"""ModelConfig -> VAE, through registries of network families, likelihoods and priors.

The config is everything needed to rebuild the model without the training code; it is saved
as the "model" section of config.json beside model.safetensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from vaekit.errors import VaekitError
from vaekit.models.likelihoods import BernoulliLikelihood, GaussianLikelihood
from vaekit.models.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from vaekit.models.priors import StandardNormal
from vaekit.models.vae import VAE


@dataclass(frozen=True)
class ModelConfig:
    shape: tuple[int, ...]  # (C, H, W) of the data
    family: str = "conv"
    latent_dim: int = 20
    hidden_dims: tuple[int, ...] = (400,)  # MLP widths
    channels: tuple[int, ...] = (32, 64)  # conv widths, one stride-2 stage each
    likelihood: str = "bernoulli"
    gaussian_std: float = 0.1
    prior: str = "standard-normal"

    def validate(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise VaekitError(f"model shape must be (C, H, W), got {self.shape}")
        if self.family not in FAMILIES:
            raise VaekitError(f"unknown model {self.family!r}: choose from {', '.join(FAMILIES)}")
        if self.likelihood not in LIKELIHOODS:
            raise VaekitError(
                f"unknown likelihood {self.likelihood!r}: choose from {', '.join(LIKELIHOODS)}"
            )
        if self.prior not in PRIORS:
            raise VaekitError(f"unknown prior {self.prior!r}: choose from {', '.join(PRIORS)}")
        if self.latent_dim < 1:
            raise VaekitError(f"latent dim must be at least 1, got {self.latent_dim}")
        if not self.hidden_dims or min(self.hidden_dims) < 1:
            raise VaekitError(f"hidden dims must be positive widths, got {self.hidden_dims}")
        if not self.channels or min(self.channels) < 1:
            raise VaekitError(f"channels must be positive widths, got {self.channels}")
        if self.gaussian_std <= 0:
            raise VaekitError(f"gaussian std must be positive, got {self.gaussian_std}")


# Registries: a config names a component, the registry builds it from the config.
# family -> (encoder builder, decoder builder); a decoder builder also gets P, the numbers per
# pixel that the likelihood needs.
Builder = Callable[..., nn.Module]
LIKELIHOODS: dict[str, Builder] = {
    "bernoulli": lambda c: BernoulliLikelihood(),
    "gaussian": lambda c: GaussianLikelihood(c.gaussian_std),
}
PRIORS: dict[str, Builder] = {"standard-normal": lambda c: StandardNormal(c.latent_dim)}
FAMILIES: dict[str, tuple[Builder, Builder]] = {
    "mlp": (
        lambda c: MLPEncoder(c.shape, c.latent_dim, c.hidden_dims),
        lambda c, p: MLPDecoder(c.shape, c.latent_dim, c.hidden_dims, p),
    ),
    "conv": (
        lambda c: ConvEncoder(c.shape, c.latent_dim, c.channels),
        lambda c, p: ConvDecoder(c.shape, c.latent_dim, c.channels, p),
    ),
}


def build_vae(config: ModelConfig) -> VAE:
    config.validate()
    make_encoder, make_decoder = FAMILIES[config.family]
    likelihood = LIKELIHOODS[config.likelihood](config)
    decoder = make_decoder(config, likelihood.params_per_channel)
    prior = PRIORS[config.prior](config)
    return VAE(make_encoder(config), decoder, likelihood, prior)
