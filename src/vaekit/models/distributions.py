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
    """The sum over every dimension but the first (B, ...) -> (B,), without a flattened
    view's autograd node (a tensor of one dimension has no event to sum: refused)."""
    if t.dim() < 2:
        raise ValueError(f"expected (B, ...) values of an event each, got shape {tuple(t.shape)}")
    return t.sum(tuple(range(1, t.dim())))


class DiagonalGaussian:
    """N(mean, diag(exp(logvar))) over (B, Z). An encoder's may carry a context (B, H): what a
    flow on top of it (vaekit.models.flows) reads of x; None otherwise."""

    def __init__(
        self,
        mean: torch.Tensor,
        logvar: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        is_standard: bool = False,
    ) -> None:
        """is_standard: mean and logvar are zeros, N(0, I) itself (a standard-normal prior's):
        nothing to clamp, and a KL from it takes the short closed form."""
        self.mean = mean
        self.logvar = logvar if is_standard else logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
        self.context = context
        self.is_standard = is_standard

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
        if other.is_standard:  # the same formula with other's mean and logvar zero
            return 0.5 * (self.var + self.mean.square() - 1.0 - self.logvar)
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
        # x log sigmoid(l) + (1 - x) log sigmoid(-l) = x l - softplus(l), in float32 (also
        # under autocast); on a CPU 4-5x faster than binary_cross_entropy_with_logits here.
        logits = self.logits.float()
        return _sum_event(x * logits - F.softplus(logits))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of 0/1 pixels (B, C, H, W)."""
        return torch.bernoulli(self.mean, generator=generator)


class Gaussian:
    """Independent Gaussian pixels with mean (B, C, H, W) and standard deviation `std`.

    `std` is a positive float (a fixed std), or a tensor broadcastable to the mean: a 0-d
    tensor (one learned std) or (B, C, H, W) (a std per pixel).
    """

    def __init__(self, mean: torch.Tensor, std: float | torch.Tensor) -> None:
        self.mean = mean
        self.std = std

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std
        if isinstance(self.std, torch.Tensor):
            log_std = _sum_event(torch.log(self.std).expand_as(z))
        else:
            log_std = z[0].numel() * math.log(self.std)
        return -0.5 * _sum_event(z * z) - log_std - z[0].numel() * 0.5 * LOG_2PI


# Discretized logistics (Salimans et al., 2017, "PixelCNN++"; Kingma et al., 2016, "Improved
# Variational Inference with Inverse Autoregressive Flow"). An 8-bit value v in 0..255 is observed
# as x = v / 255; its bin is [(v - 0.5) / 255, (v + 0.5) / 255], the first bin extended to -inf
# and the last to +inf, so the 256 masses sum to 1 for any location and scale. The location is
# left raw (any real number, not squashed): a location beyond [0, 1] is how the model puts
# nearly all the mass on an edge bin (saturated pixels, e.g. a black background), which a
# sigmoid would only reach at infinite raw outputs. The log scale is clamped to
# [LOG_SCALE_MIN, LOG_SCALE_MAX]: at the minimum a bin (width 1/255) is already 4 scales wide and
# a centred bin holds about 80% of the mass, so going lower gains little while the gradients grow
# as 1 / scale; at the maximum (scale about 1100) nearly all mass is in the two edge bins, and
# beyond it the bin width in scale units heads towards float32 underflow.
LOG_SCALE_MIN, LOG_SCALE_MAX = -7.0, 7.0
_LOG_HALF = math.log(0.5)
# The exact expectation sums 255 sigmoids per element, this many at a time (memory: this many
# times the parameters' size).
_EXPECTATION_CHUNK = 15


def _log1mexp(d: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(d)) for d < 0, accurate both near 0 and far below (Mächler, 2012).

    Each branch sees only inputs where it is finite, so the unused one has no NaN gradient.
    """
    near_zero = d > _LOG_HALF
    return torch.where(
        near_zero,
        torch.log(-torch.expm1(d.clamp(min=_LOG_HALF))),
        torch.log1p(-torch.exp(d.clamp(max=_LOG_HALF))),
    )


def discretized_logistic_log_mass(
    x: torch.Tensor, loc: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """log P(bin of x) under a discretized logistic, elementwise; broadcasts its arguments.

    x holds 8-bit values v / 255 (snapped to the nearest of them). With u, l the upper and lower
    bin edges in standard units, the mass is sigmoid(u) - sigmoid(l), computed as
    log sigmoid(u) + log sigmoid(-l) + log(1 - exp(l - u)): every term is exact and finite
    even when the mass is far below float32's smallest number (the bin far in a tail, a tiny
    scale), so no fallback approximation is needed. The edge bins are log sigmoid(u) (v = 0)
    and log sigmoid(-l) (v = 255).
    """
    v = torch.round(x * 255).clamp(0, 255)
    inv_scale = torch.exp(-log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    # Edges computed as (v +- 0.5) / 255: bins v and v + 1 share bit-identical edges, so the
    # masses telescope and sum to 1 up to float rounding of each term.
    upper = ((v + 0.5) / 255 - loc) * inv_scale
    lower = ((v - 0.5) / 255 - loc) * inv_scale
    # l - u; where the edges round to one float (|loc| enormous), the exact width instead.
    gap = torch.where(lower < upper, lower - upper, -inv_scale / 255)
    log_upper, log_above_lower = F.logsigmoid(upper), F.logsigmoid(-lower)
    middle = log_upper + log_above_lower + _log1mexp(gap)
    return torch.where(v == 0, log_upper, torch.where(v == 255, log_above_lower, middle))


def discretized_logistic_sample(
    loc: torch.Tensor, log_scale: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """One draw v / 255 per element: a logistic draw rounded to the nearest byte value and
    clamped to 0..255, which puts exactly each bin's mass (the edge bins extended) on it."""
    u = torch.rand(loc.shape, generator=generator, dtype=loc.dtype, device=loc.device)
    u = u.clamp(1e-6, 1 - 1e-6)
    scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    x = loc + scale * (torch.log(u) - torch.log1p(-u))
    return torch.round(x * 255).clamp(0, 255) / 255


def discretized_logistic_expectation(loc: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """E[x] of a discretized logistic, exactly, in [0, 1] pixel units; elementwise.

    E[v] = sum over v = 1..255 of P(V >= v), so E[v / 255] = 1 - mean_j sigmoid(l_j) over the
    255 inner bin edges l_j = (j + 0.5) / 255 in standard units: a sum of 255 sigmoids per
    element, taken _EXPECTATION_CHUNK edges at a time to bound memory.
    """
    inv_scale = torch.exp(-log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    edges = (torch.arange(255, dtype=loc.dtype, device=loc.device) + 0.5) / 255
    shape = torch.broadcast_shapes(loc.shape, log_scale.shape)
    below = torch.zeros(shape, dtype=loc.dtype, device=loc.device)
    for chunk in edges.split(_EXPECTATION_CHUNK):
        edge = chunk.view(-1, *([1] * below.dim()))
        below = below + torch.sigmoid((edge - loc) * inv_scale).sum(0)
    return 1 - below / 255


class DiscretizedLogistic:
    """8-bit pixels: a logistic per pixel, location `mean` and scale exp(`log_scale`), both
    (B, C, H, W), discretized to the 256 bins of the byte values (see the note above).

    The location is stored as `loc`; `mean` is the distribution's exact expected value.
    """

    def __init__(self, mean: torch.Tensor, log_scale: torch.Tensor) -> None:
        self.loc = mean
        self.log_scale = log_scale

    @property
    def mean(self) -> torch.Tensor:
        """The expected pixel value (B, C, H, W), in [0, 1]."""
        return discretized_logistic_expectation(self.loc, self.log_scale)

    def log_prob_per_pixel(self, x: torch.Tensor) -> torch.Tensor:
        """log P(x) for each pixel channel, x (B, C, H, W) of values v / 255: (B, C, H, W)."""
        return discretized_logistic_log_mass(x, self.loc, self.log_scale)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return _sum_event(self.log_prob_per_pixel(x))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of 8-bit pixels v / 255 (B, C, H, W)."""
        return discretized_logistic_sample(self.loc, self.log_scale, generator)


class DiscretizedLogisticMixture:
    """8-bit pixels: a mixture of K discretized logistics per pixel channel.

    logits, means (the components' locations) and log_scales are (B, K, C, H, W). Without
    `coupling` each channel has its own mixture, independent of the other channels given z.
    With `coupling` (B, K, C, H, W, values in [-1, 1]) the channels of a pixel are modelled in
    order, each given the one before it, after PixelCNN++ (Salimans et al. 2017, where B also
    depends on R): component k of channel c > 0 has location
    means[k, c] + coupling[k, c] * x[c - 1] (coupling[:, 0] is unused). Each channel's
    conditional sums to one over its 256 values, so the pixel's joint does too. The locations
    are stored as `locs`. With K = 1 and no coupling it equals DiscretizedLogistic.
    """

    def __init__(
        self,
        logits: torch.Tensor,
        means: torch.Tensor,
        log_scales: torch.Tensor,
        coupling: torch.Tensor | None = None,
    ) -> None:
        self.logits = logits
        self.locs = means
        self.log_scales = log_scales
        self.coupling = coupling

    @property
    def mean(self) -> torch.Tensor:
        """The expected pixel value (B, C, H, W), in [0, 1]: sum_k w_k E[component k]. Exact
        without coupling; with it, each channel's expectation is taken at the previous
        channel's expected value (a plug-in approximation, since the discretization makes
        E[channel c] nonlinear in channel c - 1)."""
        weights = torch.softmax(self.logits, dim=1)
        if self.coupling is None:
            return (weights * discretized_logistic_expectation(self.locs, self.log_scales)).sum(1)
        channels: list[torch.Tensor] = []
        for c in range(self.locs.shape[2]):
            loc = self.locs[:, :, c]
            if c > 0:
                loc = loc + self.coupling[:, :, c] * channels[-1].unsqueeze(1)
            expectation = discretized_logistic_expectation(loc, self.log_scales[:, :, c])
            channels.append((weights[:, :, c] * expectation).sum(1))
        return torch.stack(channels, dim=1)

    def log_prob_per_pixel(self, x: torch.Tensor) -> torch.Tensor:
        """log P(x) for each pixel channel, x (B, C, H, W) of values v / 255: (B, C, H, W);
        with coupling, log P(x_c | x_{c-1}) (they sum to the pixel's joint log P)."""
        locs = self.locs
        if self.coupling is not None:
            previous = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
            locs = locs + self.coupling * previous.unsqueeze(1)
        log_mass = discretized_logistic_log_mass(x.unsqueeze(1), locs, self.log_scales)
        return torch.logsumexp(F.log_softmax(self.logits, dim=1) + log_mass, dim=1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return _sum_event(self.log_prob_per_pixel(x))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of 8-bit pixels v / 255 (B, C, H, W): per channel a component from the
        mixture weights (Gumbel-max), then its discretized logistic; with coupling, channel
        by channel, each at the previous channel's drawn value."""
        channels_count = self.logits.shape[2]
        u = torch.rand(
            self.logits.shape,
            generator=generator,
            dtype=self.logits.dtype,
            device=self.logits.device,
        ).clamp(1e-6, 1 - 1e-6)
        chosen = (self.logits - torch.log(-torch.log(u))).argmax(1, keepdim=True)
        locs = self.locs.gather(1, chosen).squeeze(1)
        log_scales = self.log_scales.gather(1, chosen).squeeze(1)
        if self.coupling is None:
            return discretized_logistic_sample(locs, log_scales, generator)
        coupling = self.coupling.gather(1, chosen).squeeze(1)
        channels: list[torch.Tensor] = []
        for i in range(channels_count):
            loc = locs[:, i] if i == 0 else locs[:, i] + coupling[:, i] * channels[-1]
            channels.append(discretized_logistic_sample(loc, log_scales[:, i], generator))
        return torch.stack(channels, dim=1)
