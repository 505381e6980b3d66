"""The series kind's model part: windows (B, 1, C, W) of C channels and W steps through an
MLP (--model mlp) or 1-D convolutions along time (--model conv), and a Gaussian likelihood of
the standardized values with a learned scale per channel (--gaussian-variance global, the
default), per channel and step (pixel: the decoder outputs it) or fixed (--gaussian-std).

A missing value (NaN) is left out of the likelihood, and the encoder sees 0 there, the
channel's training mean: as a table's missing cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vaekit.errors import VaekitError
from vaekit.kinds.series.data import TIME_NAMES, SeriesSchema
from vaekit.kinds.series.data_read import why_not_series
from vaekit.kinds.series.options import DEFAULTS as DEFAULTS  # the protocol's
from vaekit.models.distributions import LOG_2PI, Gaussian
from vaekit.models.likelihoods import LOG_STD_MAX, LOG_STD_MIN, STANDARDIZED_MAX
from vaekit.models.networks import GaussianHead, MLPDecoder, MLPEncoder
from vaekit.models.vae import VAE

# The options that fit a series where the user does not say otherwise: its values are
# standardized, so a Gaussian whose scale starts at the data's own, 1.


class MaskedGaussian(Gaussian):
    """Independent Gaussian values whose NaN observations are left out: log p(x) sums only the
    observed values' densities (an all-missing window has log p = 0), each value read within
    +-STANDARDIZED_MAX."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        seen = ~torch.isnan(x)
        x = x.clamp(-STANDARDIZED_MAX, STANDARDIZED_MAX)
        z = (torch.where(seen, x, self.mean) - self.mean) / self.std
        if isinstance(self.std, torch.Tensor):
            log_std = torch.log(self.std).expand_as(z)
        else:  # a fixed std: made where z is
            log_std = torch.full_like(z, math.log(self.std))
        density = -0.5 * z * z - log_std - 0.5 * LOG_2PI
        return torch.where(seen, density, torch.zeros_like(density)).flatten(1).sum(1)


class SeriesGaussian(nn.Module):
    """p(x|z) for series: mean = decoder output, and a standard deviation that is fixed
    ("fixed"), learned per channel ("global", one per row of the window) or output by the
    decoder per channel and step ("pixel"); log std clamped to [log 1e-3, log 1e3]."""

    support = "continuous"

    def __init__(self, channels: int, variance: str, std: float) -> None:
        super().__init__()
        if std <= 0:
            raise ValueError(f"gaussian std must be positive, got {std}")
        self.variance = variance
        self.fixed = std
        self.params_per_channel = 2 if variance == "pixel" else 1
        if variance == "global":
            self.log_std = nn.Parameter(torch.full((channels, 1), math.log(std)))

    def forward(self, h: torch.Tensor) -> MaskedGaussian:
        if self.variance == "pixel":
            b, _, c, w = h.shape
            mean, log_std = h.reshape(b, 2, 1, c, w).unbind(1)
            return MaskedGaussian(mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp())
        if self.variance == "global":
            return MaskedGaussian(h, self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp())
        return MaskedGaussian(h, self.fixed)


class FillMissing(nn.Module):
    """An encoder that sees 0 (the standardized mean) where a value is missing, and each
    value within +-STANDARDIZED_MAX."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> Any:
        return self.encoder(torch.nan_to_num(x, nan=0.0).clamp(-STANDARDIZED_MAX, STANDARDIZED_MAX))


class ConvEncoder1d(nn.Module):
    """(B, 1, C, W) -> q(z|x): stride-2 convolutions along time, one per width in `widths`
    (kernel 4, so each halves the steps exactly), then a Gaussian head."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, widths: tuple[int, ...],
                 context_dim: int = 0) -> None:  # fmt: skip
        super().__init__()
        _, c, w = shape
        layers: list[nn.Module] = []
        for width in widths:
            layers += [nn.Conv1d(c, width, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            c = width
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = GaussianHead(c * (w >> len(widths)), latent_dim, context_dim)

    def forward(self, x: torch.Tensor) -> Any:
        return self.head(self.body(x.flatten(1, 2)))


class ConvDecoder1d(nn.Module):
    """z -> (B, P, C, W): a linear layer to the coarsest steps, then stride-2 transposed
    convolutions back up, the widths in reverse; P numbers per value for the likelihood."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, widths: tuple[int, ...],
                 params: int) -> None:  # fmt: skip
        super().__init__()
        _, self.c, self.w = shape
        self.params = params
        self.steps = self.w >> len(widths)
        self.top = widths[-1]
        self.linear = nn.Linear(latent_dim, self.top * self.steps)
        layers: list[nn.Module] = []
        outs = [*reversed(widths[:-1]), self.c * params]
        width = self.top
        for i, out in enumerate(outs):
            layers.append(nn.ConvTranspose1d(width, out, 4, stride=2, padding=1))
            if i < len(outs) - 1:
                layers.append(nn.ReLU(inplace=True))
            width = out
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.linear(z)).reshape(len(z), self.top, self.steps)
        return self.body(h).reshape(len(z), self.params, self.c, self.w)


def _mlp(config: Any, params: int, context: int) -> tuple[nn.Module, nn.Module]:
    return (
        MLPEncoder(config.shape, config.latent_dim, config.family_options["hidden_dims"], context),
        MLPDecoder(config.shape, config.latent_dim, config.family_options["hidden_dims"], params),
    )


def _conv(config: Any, params: int, context: int) -> tuple[nn.Module, nn.Module]:
    return (
        ConvEncoder1d(config.shape, config.latent_dim, config.family_options["channels"], context),
        ConvDecoder1d(config.shape, config.latent_dim, config.family_options["channels"], params),
    )


# The families a series is modelled by, each as its encoder and decoder: a series has its own
# networks (along time, with missing values), not those the families build for images.
NETWORKS: dict[str, Callable[[Any, int, int], tuple[nn.Module, nn.Module]]] = {
    "mlp": _mlp,
    "conv": _conv,
}


def check(config: Any) -> None:
    """A series model: its schema, the shape it implies, and the options that fit windows."""
    schema = SeriesSchema.from_json(config.schema)
    if tuple(config.shape) != schema.shape:
        raise VaekitError(
            f"a series of {len(schema.channels)} channels in windows of {schema.window} steps "
            f"has shape {schema.shape}, not {tuple(config.shape)}"
        )
    if config.family not in NETWORKS:
        raise VaekitError(
            f"--model {config.family} does not fit a series: series take --model "
            f"{' or '.join(NETWORKS)}"
        )
    halvings = len(config.family_options.get("channels", ()))
    if config.family == "conv" and schema.window % (1 << halvings):
        raise VaekitError(
            f"--model conv halves the --window {halvings} times (one per "
            f"--channels width): it must be a multiple of {1 << halvings}"
        )
    refused = [
        (config.likelihood != "gaussian" and "likelihood" not in config.custom,
         f"--likelihood {config.likelihood}", "--likelihood gaussian"),
        (config.num_classes > 0, "--conditional", "an unconditional model"),
        (config.autoregressive > 0, "--autoregressive", "no autoregressive decoder"),
    ]  # fmt: skip
    for wrong, given, wanted in refused:
        if wrong:
            raise VaekitError(f"{given} does not fit a series: series take {wanted}")


def likelihood(config: Any) -> nn.Module:
    """The masked Gaussian (see SeriesGaussian), whatever the family."""
    channels = config.shape[1]
    return SeriesGaussian(channels, config.gaussian_variance, config.gaussian_std)


def assemble(config: Any, likelihood: nn.Module, parts: dict[str, nn.Module]) -> VAE:
    """The VAE over windows: the family's series networks (NETWORKS), the user's own modules
    where given, the prior and an IAF posterior (--flow-steps) as for every family."""
    from vaekit.models.factory import PRIORS
    from vaekit.models.flows import IAF

    context = config.flow_hidden if config.flow_steps else 0
    encoder, decoder = NETWORKS[config.family](config, likelihood.params_per_channel, context)
    encoder = FillMissing(parts.get("encoder", encoder))
    decoder = parts.get("decoder", decoder)
    prior = parts["prior"] if "prior" in parts else PRIORS[config.prior](config)
    flow = None
    if config.flow_steps:
        flow = IAF(config.latent_dim, config.flow_hidden, config.flow_hidden, config.flow_steps)
    return VAE(encoder, decoder, likelihood, prior, 0, flow)


def finish(vae: VAE, config: Any) -> None:
    """Standardized values are real numbers: the mean is not clamped to [0, 1]."""
    vae.mean_bounds = None


def prepare(x: Any, shape: tuple[int, ...], schema: Any, max_value: float) -> torch.Tensor:
    """Windows in the model's units (standardized values, NaN where missing), (B, C, W) or
    (B, 1, C, W) -> float32 (B, 1, C, W)."""
    t = torch.as_tensor(x)
    if t.is_complex() or t.dtype == torch.bool:
        raise VaekitError(f"expected windows of real numbers, got {t.dtype}")
    t = t.to(torch.float32)
    if t.dim() == 3:
        t = t.unsqueeze(1)
    if t.dim() != 4 or tuple(t.shape[1:]) != tuple(shape):
        raise VaekitError(
            f"expected windows shaped (B, {', '.join(map(str, shape))}), got {tuple(t.shape)}"
        )
    if torch.isinf(t).any():
        raise VaekitError("series values must be finite numbers (or NaN where missing)")
    return t


# --- the facade's questions (vaekit.api: Model, apps, anomaly, options, train) ------------

# Windows are no pictures: the complexity score (a PNG's size) is refused for them.
COMPLEXITY = False
# Each window is named by the timestamp of its last step, which `embed` reports.
IDS = True
# The image options a series refuses (the options only a series takes are its own,
# vaekit.kinds.series.options, refused for other data with `only`'s message).
REFUSED = ("image_size", "pixels", "binarize", "train_noise", "conditional", "autoregressive")


def refused(flag: str) -> str:
    """Why a series refuses the option `flag` (one of REFUSED)."""
    return f"{flag} is for images, not time series"


def only(flag: str, data: Any) -> str:
    """Why data of another kind, `data`, refuses the option `flag` (one of this kind's
    own options: Kind.load_options)."""
    why = why_not_series(data)
    # a path as given; an object by its type (a DataFrame's repr is its whole printout)
    shown = (
        f"--data {str(data)!r}" if isinstance(data, str | Path) else f"this {type(data).__name__}"
    )
    return (
        f"{flag} is for time series (a .csv/.parquet file or a DataFrame whose first column "
        f"is named {', '.join(TIME_NAMES)}, a folder of them, or a .npy with --kind series), "
        f"and {shown} is not one" + (f" ({why})" if why else "")
    )


def named_inputs(resolver: Any, specs: list[str]) -> Any:
    """The windows that `specs` name (test-split indices or series files, every window of
    each) as one set, each named by its last step's timestamp (`Inputs.rows`)."""
    return resolver.rows(specs)


def record(schema: SeriesSchema, options: dict[str, Any]) -> dict[str, Any]:
    """config.json's model.schema: the series' channels, window and statistics."""
    return schema.to_json()
