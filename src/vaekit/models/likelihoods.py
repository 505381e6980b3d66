"""Likelihoods p(x|z): turn the decoder's raw output into a distribution over pixels.

Each declares how many numbers it needs per pixel (`params_per_channel`), so the decoder's
output width follows from the likelihood, and swapping one for another is a constructor
argument. Each also declares the data it is a normalized likelihood of (`support`): "binary"
(pixels in {0, 1}), "continuous" (real-valued pixels: a density) or "8-bit" (the 256 values of
a byte, the discretized likelihoods): evaluation reports a log-likelihood only where the data
matches, and bits/dim only for "8-bit".

Each takes the decoder's raw output h (B, C*P, H, W), P = `params_per_channel`: parameter p of
channel c is at channel index p*C + c (`h.view(B, P, C, H, W)`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.models.distributions import (
    Bernoulli,
    DiscretizedLogistic,
    DiscretizedLogisticMixture,
    Gaussian,
)

# Gaussian log std bounds: 8-bit pixels sit 1/255 (about 4e-3) apart, and a std far below
# that lets the density grow without bound on constant pixels (a black background), so the
# loss would reward collapse and the gradients explode; 1e-3 is a quarter of the spacing. The
# upper bound (1e3, far beyond the [0, 1] data) only keeps exp() finite.
LOG_STD_MIN, LOG_STD_MAX = math.log(1e-3), math.log(1e3)
# Standardized data (a table's numeric columns, a series' channels) is read by the models
# within +-STANDARDIZED_MAX training standard deviations: a value farther away is taken as
# this far, so that its square in a Gaussian's log-density (over a std of at least 1e-3), and
# the encoder's features of it, stay finite in float32. 1e25 in a column whose spread is 1
# gave an infinite score to every column of its row and a NaN KL, and a series' spike could
# be put on another channel. No training value comes near it (at most sqrt(rows - 1)).
STANDARDIZED_MAX = 1e6

# The discretized logistics read the decoder's raw output with these offsets: a raw 0 is a
# location of mid-gray and a scale of e^-3 (about 13 of the 255 steps). Without them a fresh
# decoder's O(1) outputs meant scales near 1, as wide as the whole [0, 1] range, and Adam took
# thousands of steps only to shrink them: on CIFAR-10 a conv VAE was at 7.4 bits/dim after one
# epoch (8 is a uniform guess).
LOC_OFFSET, LOG_SCALE_OFFSET = 0.5, -3.0


def split_params(h: torch.Tensor, params: int) -> torch.Tensor:
    """Decoder output (B, C*P, H, W) -> (B, P, C, H, W), P = `params`."""
    b, width, height, w = h.shape
    if width % params:
        raise ValueError(f"decoder output has {width} channels, not a multiple of {params}")
    return h.reshape(b, params, width // params, height, w)


class BernoulliLikelihood(nn.Module):
    """Bernoulli pixels with logits = decoder output."""

    params_per_channel = 1
    support = "binary"

    def forward(self, h: torch.Tensor) -> Bernoulli:
        return Bernoulli(h)


class GaussianLikelihood(nn.Module):
    """Gaussian pixels: mean = decoder output, a fixed standard deviation `std`."""

    params_per_channel = 1
    support = "continuous"

    def __init__(self, std: float = 0.1) -> None:
        super().__init__()
        if std <= 0:
            raise ValueError(f"gaussian std must be positive, got {std}")
        self.std = std

    def forward(self, h: torch.Tensor) -> Gaussian:
        return Gaussian(h, self.std)


class LearnedGaussianLikelihood(nn.Module):
    """Gaussian pixels: mean = decoder output, one learned standard deviation for all pixels.

    The std is exp(`log_std`), a scalar parameter starting at log(`init_std`), clamped to
    [1e-3, 1e3] (see LOG_STD_MIN).
    """

    params_per_channel = 1
    support = "continuous"

    def __init__(self, init_std: float = 0.1) -> None:
        super().__init__()
        if init_std <= 0:
            raise ValueError(f"gaussian init_std must be positive, got {init_std}")
        self.log_std = nn.Parameter(torch.tensor(math.log(init_std)))

    @property
    def std(self) -> torch.Tensor:
        """The current standard deviation, a 0-d tensor."""
        return self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()

    def forward(self, h: torch.Tensor) -> Gaussian:
        return Gaussian(h, self.std)


class PixelGaussianLikelihood(nn.Module):
    """Gaussian pixels with a mean and a standard deviation per pixel channel.

    h (B, 2C, H, W) holds the means (channels 0..C-1) and log stds (C..2C-1); the log std is
    clamped to [log 1e-3, log 1e3] (see LOG_STD_MIN) so the density stays bounded.
    """

    params_per_channel = 2
    support = "continuous"

    def forward(self, h: torch.Tensor) -> Gaussian:
        mean, log_std = split_params(h, 2).unbind(1)
        return Gaussian(mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp())


class DiscretizedLogisticLikelihood(nn.Module):
    """8-bit pixels: a discretized logistic per pixel channel (see DiscretizedLogistic).

    h (B, 2C, H, W) holds the raw locations (channels 0..C-1, in [0, 1] pixel units, not
    squashed) and log scales (C..2C-1), each before its offset (LOC_OFFSET, LOG_SCALE_OFFSET).
    """

    params_per_channel = 2
    support = "8-bit"

    def forward(self, h: torch.Tensor) -> DiscretizedLogistic:
        loc, log_scale = split_params(h, 2).unbind(1)
        return DiscretizedLogistic(loc + LOC_OFFSET, log_scale + LOG_SCALE_OFFSET)


class DiscretizedLogisticMixtureLikelihood(nn.Module):
    """8-bit pixels: a mixture of `mixtures` discretized logistics per pixel channel.

    h (B, PC, H, W), K = `mixtures`, P = 3K (4K when `coupled`): for component k of channel c,
    the mixture logit is at channel k*C + c, the raw location at (K + k)*C + c, the raw log
    scale at (2K + k)*C + c (the raw values before their offsets, as in
    DiscretizedLogisticLikelihood) and, when `coupled`, the raw coefficient on the previous
    channel at (3K + k)*C + c, squashed to [-1, 1] by tanh (see DiscretizedLogisticMixture).
    """

    support = "8-bit"

    def __init__(self, mixtures: int = 5, coupled: bool = False) -> None:
        super().__init__()
        if mixtures < 1:
            raise ValueError(f"mixtures must be at least 1, got {mixtures}")
        self.mixtures = mixtures
        self.coupled = coupled
        self.params_per_channel = (4 if coupled else 3) * mixtures

    def forward(self, h: torch.Tensor) -> DiscretizedLogisticMixture:
        params = split_params(h, self.params_per_channel)
        parts = params.unflatten(1, (self.params_per_channel // self.mixtures, self.mixtures))
        logits, locs, log_scales, *coefficients = parts.unbind(1)
        coupling = torch.tanh(coefficients[0]) if self.coupled else None
        locs, log_scales = locs + LOC_OFFSET, log_scales + LOG_SCALE_OFFSET
        return DiscretizedLogisticMixture(logits, locs, log_scales, coupling)
