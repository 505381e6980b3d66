"""ModelConfig -> VAE, through registries of network families, likelihoods and priors.

The config is everything needed to rebuild the model without the training code; it is saved
as the "model" section of config.json beside model.safetensors.

Users' own modules (an encoder, decoder, likelihood or prior) are recorded in `custom` by import
path ("package.module:Class") and keyword arguments (the module's `vaekit_kwargs` attribute, a
JSON-ready dict, or none), so that loading can rebuild them where that code is importable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from vaekit.errors import VaekitError
from vaekit.models.likelihoods import (
    BernoulliLikelihood,
    DiscretizedLogisticLikelihood,
    DiscretizedLogisticMixtureLikelihood,
    GaussianLikelihood,
    LearnedGaussianLikelihood,
    PixelGaussianLikelihood,
)
from vaekit.models.networks import (
    ConvDecoder,
    ConvEncoder,
    MLPDecoder,
    MLPEncoder,
    ResNetDecoder,
    ResNetEncoder,
)
from vaekit.models.priors import MixtureOfGaussians, StandardNormal, VampPrior
from vaekit.models.vae import VAE

COMPONENTS = ("encoder", "decoder", "likelihood", "prior")
GAUSSIAN_VARIANCES = ("fixed", "global", "pixel")


@dataclass(frozen=True)
class ModelConfig:
    shape: tuple[int, ...]  # (C, H, W) of the data
    family: str = "conv"
    latent_dim: int = 20  # Z; per stochastic layer for hvae
    hidden_dims: tuple[int, ...] = (400,)  # MLP widths (hvae: the first is its block width)
    channels: tuple[int, ...] = (32, 64)  # conv/resnet widths, one stride-2 stage each
    depth: int = 2  # resnet: residual blocks per stage
    layers: int = 2  # hvae: stochastic layers
    likelihood: str = "bernoulli"
    gaussian_std: float = 0.1  # the fixed std, or the learned one's starting value
    gaussian_variance: str = "fixed"
    mixtures: int = 5  # logistic-mixture components
    prior: str = "standard-normal"
    prior_components: int = 10  # mog components / vamp pseudo-inputs
    num_classes: int = 0  # > 0: a conditional VAE on that many classes
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise VaekitError(f"model shape must be (C, H, W), got {self.shape}")
        _choice("model", self.family, FAMILIES)
        _choice("likelihood", self.likelihood, LIKELIHOODS)
        _choice("prior", self.prior, PRIORS)
        _choice("gaussian variance", self.gaussian_variance, GAUSSIAN_VARIANCES)
        for name, value, least in (
            ("latent dim", self.latent_dim, 1),
            ("depth", self.depth, 0),
            ("mixtures", self.mixtures, 1),
            ("prior components", self.prior_components, 1),
            ("num classes", self.num_classes, 0),
        ):
            if value < least:
                raise VaekitError(f"{name} must be at least {least}, got {value}")
        if not self.hidden_dims or min(self.hidden_dims) < 1:
            raise VaekitError(f"hidden dims must be positive widths, got {self.hidden_dims}")
        if not self.channels or min(self.channels) < 1:
            raise VaekitError(f"channels must be positive widths, got {self.channels}")
        if self.gaussian_std <= 0:
            raise VaekitError(f"gaussian std must be positive, got {self.gaussian_std}")
        unknown = set(self.custom) - set(COMPONENTS)
        if unknown:
            raise VaekitError(f"custom: unknown component {sorted(unknown)[0]!r}")
        if self.family == "hvae":
            if self.layers < 2:
                raise VaekitError(f"hvae needs at least 2 layers, got {self.layers}")
            if self.prior != "standard-normal" or self.num_classes or self.custom:
                raise VaekitError(
                    "hvae has its own hierarchical prior: it takes no --prior, --conditional "
                    "or custom modules"
                )
        if self.prior == "vamp" and self.num_classes:
            raise VaekitError("--prior vamp and --conditional cannot be combined")


def _choice(what: str, value: str, known: Any) -> None:
    if value not in known:
        raise VaekitError(f"unknown {what} {value!r}: choose from {', '.join(known)}")


# Registries: a config names a component, the registry builds it from the config.
# family -> (encoder builder, decoder builder). An encoder builder gets the input shape (with the
# label planes of a conditional VAE); a decoder builder gets its input width and P, the numbers
# per pixel that the likelihood needs.
Builder = Callable[..., nn.Module]


def _gaussian(c: ModelConfig) -> nn.Module:
    if c.gaussian_variance == "global":
        return LearnedGaussianLikelihood(c.gaussian_std)
    if c.gaussian_variance == "pixel":
        return PixelGaussianLikelihood()
    return GaussianLikelihood(c.gaussian_std)


LIKELIHOODS: dict[str, Builder] = {
    "bernoulli": lambda c: BernoulliLikelihood(),
    "gaussian": _gaussian,
    "logistic": lambda c: DiscretizedLogisticLikelihood(),
    "logistic-mixture": lambda c: DiscretizedLogisticMixtureLikelihood(c.mixtures),
    "logistic-mixture-coupled": lambda c: DiscretizedLogisticMixtureLikelihood(
        c.mixtures, coupled=True
    ),
}
PRIORS: dict[str, Builder] = {
    "standard-normal": lambda c: StandardNormal(c.latent_dim),
    "mog": lambda c: MixtureOfGaussians(c.latent_dim, c.prior_components),
    "vamp": lambda c: VampPrior(c.latent_dim, tuple(c.shape), c.prior_components),
}
FAMILIES: dict[str, tuple[Builder, Builder] | None] = {
    "mlp": (
        lambda c, shape: MLPEncoder(shape, c.latent_dim, c.hidden_dims),
        lambda c, z, p: MLPDecoder(c.shape, z, c.hidden_dims, p),
    ),
    "conv": (
        lambda c, shape: ConvEncoder(shape, c.latent_dim, c.channels),
        lambda c, z, p: ConvDecoder(c.shape, z, c.channels, p),
    ),
    "resnet": (
        lambda c, shape: ResNetEncoder(shape, c.latent_dim, c.channels, c.depth),
        lambda c, z, p: ResNetDecoder(c.shape, z, c.channels, c.depth, p),
    ),
    "hvae": None,  # built whole by HierarchicalVAE
}


def build_vae(config: ModelConfig, modules: dict[str, nn.Module] | None = None) -> VAE:
    """The VAE a config describes. `modules` gives user modules for components that `custom`
    records; any it lacks are imported and constructed from their recorded import paths."""
    from vaekit.models.hvae import HierarchicalVAE

    config.validate()
    given = dict(modules or {})
    parts = {
        name: given[name] if given.get(name) is not None else _rebuild(name, record)
        for name, record in config.custom.items()
    }

    def part(name: str, build: Callable[[], nn.Module]) -> nn.Module:
        return parts[name] if name in parts else build()

    likelihood = part("likelihood", lambda: LIKELIHOODS[config.likelihood](config))
    if config.family == "hvae":
        return HierarchicalVAE(
            config.shape, config.latent_dim, config.layers, config.hidden_dims, likelihood
        )
    make_encoder, make_decoder = FAMILIES[config.family]  # type: ignore[misc]
    c, h, w = config.shape
    encoder = part("encoder", lambda: make_encoder(config, (c + config.num_classes, h, w)))
    decoder = part(
        "decoder",
        lambda: make_decoder(
            config, config.latent_dim + config.num_classes, likelihood.params_per_channel
        ),
    )
    prior = part("prior", lambda: PRIORS[config.prior](config))
    return VAE(encoder, decoder, likelihood, prior, config.num_classes)


def describe_custom(module: nn.Module) -> dict[str, Any]:
    """How config.json records a user's module: its import path and keyword arguments."""
    cls = type(module)
    kwargs = getattr(module, "vaekit_kwargs", {})
    if not isinstance(kwargs, dict):
        raise VaekitError(f"{cls.__name__}.vaekit_kwargs must be a dict of JSON values")
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "kwargs": kwargs}


def _rebuild(component: str, record: dict[str, Any]) -> nn.Module:
    """Import and construct a user's module from its record. Only an nn.Module subclass is
    ever called, so a config cannot name an arbitrary function to run."""
    path = record.get("class", "")
    module_name, _, qualname = str(path).partition(":")
    where = f"config.json: custom {component} {path!r}"
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError) as err:
        raise VaekitError(
            f"{where} cannot be imported here ({type(err).__name__}: {err}); make that code "
            "importable (install it or add it to PYTHONPATH) to load this run"
        ) from None
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        raise VaekitError(f"{where} is not an nn.Module class")
    kwargs = record.get("kwargs") or {}
    try:
        return target(**kwargs)
    except TypeError as err:
        raise VaekitError(f"{where} could not be built from its kwargs ({err})") from None
