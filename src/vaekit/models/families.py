"""The builders of vaekit's own model families, each named by its declaration in
vaekit.kinds.base ("vaekit.models.families:build_mlp") and imported only when a model of that
family is built.

Each builder gets the ModelConfig, the likelihood p(x|z) already built from it and the user's
own modules by component name, and returns the model. mlp, conv and resnet are one encoder and
one decoder (Kingma & Welling 2014; He et al. 2016 for the residual blocks); hvae and hconv are
hierarchies with their own prior and posterior (Sonderby et al. 2016; Vahdat & Kautz 2020;
Child 2021); rnn is the text model (Bowman et al. 2016).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from vaekit.models.factory import PRIORS, ModelConfig, model_part
from vaekit.models.flows import IAF
from vaekit.models.networks import (
    ConvDecoder,
    ConvEncoder,
    MLPDecoder,
    MLPEncoder,
    ResNetDecoder,
    ResNetEncoder,
)
from vaekit.models.vae import VAE


def _context(c: ModelConfig) -> int:
    """The width of the context vector the encoder outputs for a flow (0: none)."""
    return c.flow_hidden if c.flow_steps else 0


def _flat(
    config: ModelConfig,
    likelihood: nn.Module,
    parts: dict[str, nn.Module],
    make_encoder: Callable[[tuple[int, int, int]], nn.Module],
    make_decoder: Callable[[int, int], nn.Module],
) -> VAE:
    """A VAE of one encoder and one decoder, with its prior and, with --flow-steps, an IAF
    posterior; `parts` replaces any of them with the user's own. make_encoder gets the input
    shape (with the label planes of a conditional VAE); make_decoder gets its input width and
    P, the numbers per pixel that the likelihood needs."""

    def part(name: str, build: Callable[[], nn.Module]) -> nn.Module:
        return parts[name] if name in parts else build()

    c, h, w = config.shape
    n = config.num_classes
    encoder = part("encoder", lambda: make_encoder((c + n, h, w)))
    decoder = part(
        "decoder", lambda: make_decoder(config.latent_dim + n, likelihood.params_per_channel)
    )
    prior = part("prior", lambda: PRIORS[config.prior](config))
    flow = None
    if config.flow_steps:
        flow = IAF(config.latent_dim, config.flow_hidden, config.flow_hidden, config.flow_steps)
    return VAE(encoder, decoder, likelihood, prior, n, flow)


# The builders the families declared in vaekit.kinds.base name: each gets the config, the
# likelihood built from it and the user's own modules, and returns the model. Each reads the
# options its family declares as its own from c.family_options, and only those.
def build_mlp(c: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    widths = c.family_options["hidden_dims"]
    return _flat(
        c,
        likelihood,
        parts,
        lambda shape: MLPEncoder(shape, c.latent_dim, widths, _context(c)),
        lambda z, p: MLPDecoder(c.shape, z, widths, p),
    )


def build_conv(c: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    channels = c.family_options["channels"]
    return _flat(
        c,
        likelihood,
        parts,
        lambda shape: ConvEncoder(shape, c.latent_dim, channels, _context(c)),
        lambda z, p: ConvDecoder(c.shape, z, channels, p),
    )


def build_resnet(c: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    channels, depth = c.family_options["channels"], c.family_options["depth"]
    return _flat(
        c,
        likelihood,
        parts,
        lambda shape: ResNetEncoder(shape, c.latent_dim, channels, depth, _context(c)),
        lambda z, p: ResNetDecoder(c.shape, z, channels, depth, p),
    )


def build_hvae(c: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    """Built whole: its own hierarchical prior and posterior (no custom parts)."""
    from vaekit.models.hvae import HierarchicalVAE

    own = c.family_options
    return HierarchicalVAE(c.shape, c.latent_dim, own["layers"], own["hidden_dims"], likelihood)


def build_hconv(c: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    """Built whole: its own hierarchical prior and posterior (no custom parts)."""
    from vaekit.models.hconv import ConvHierarchicalVAE

    own = c.family_options
    return ConvHierarchicalVAE(
        c.shape,  # type: ignore[arg-type]
        c.latent_dim,
        own["layers"],
        own["channels"],
        own["depth"],
        likelihood,
    )


def build_rnn(c: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    """Text's family: a GRU encoder and decoder over the config's vocabulary, which the kind
    of data that owns rnn builds (its model part's `assemble`; vaekit.kinds.text.model)."""
    return model_part(c).assemble(c, likelihood, parts)


# The checks the hierarchical families declare (vaekit.kinds.base: Family.checker): why a
# config of theirs cannot be built, or None.
def check_hvae(c: ModelConfig) -> str | None:
    layers = c.family_options["layers"]
    return f"--model hvae needs at least 2 --layers, got {layers}" if layers < 2 else None


def check_hconv(c: ModelConfig) -> str | None:
    from vaekit.models.hconv import check_sizes

    own = c.family_options
    return check_sizes(c.shape, own["channels"], c.latent_dim, own["layers"])  # type: ignore[arg-type]


def build_vqvae(c: ModelConfig, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    """Built whole: its codebook stands in for a prior and a posterior (no custom parts)."""
    from vaekit.models.vqvae import VQVAE

    own = c.family_options
    return VQVAE(
        c.shape,  # type: ignore[arg-type]
        c.latent_dim,
        own["channels"],
        own["depth"],
        own["codebook_size"],
        own["commitment"],
        own["codebook_decay"],
        likelihood,
    )


def check_vqvae(c: ModelConfig) -> str | None:
    from vaekit.models.vqvae import refusal

    return refusal(c)
