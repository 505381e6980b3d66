"""A convolutional hierarchical VAE: latent maps at several scales, residual cells, top-down
inference (after NVAE, Vahdat & Kautz 2020, and VDVAE, Child 2021), sized for CPUs.

The encoder is ResNetEncoder's body: a stem conv, then per entry of `channels` a stride-2 conv
and `depth` residual blocks, giving one feature map e_s per scale s (finest first). The decoder
walks the other way, from a learned constant map at the coarsest scale. At each scale it visits
`groups` latent groups; each group is a map z of Z channels at that scale's size:

    prior      p(z | h) = N(mu_p(h), sigma_p(h))                    (h: the top-down state)
    posterior  q(z | x, h) = N(mu_p + dmu, sigma_p * exp(dlog))     (dmu, dlog from [h, e_s])
    state      h <- cells(h + merge(z))

so each group's prior and posterior share the top-down state h, which depends on every group
above (the "residual normal" of NVAE: q is parameterized relative to p). After a scale's groups
a stride-2 transposed conv doubles the state, and after the finest scale a 3x3 conv gives the
likelihood's parameters. Every mean and log-variance passes through a soft bound
(`soft_bound`), and the heads start at zero, so at first p = N(0, I) and q = p: the KL starts at
0 and cannot run away early (with --kl-warmup and --clip-grad, NVAE's stabilizers).

Latents are flattened per group and concatenated bottom (finest, last visited) group first, as
in HierarchicalVAE, whose posterior summaries (Monte Carlo over fixed ancestral draws) and
posterior samples this class reuses. Unlike there, the likelihood depends on every group:
`decode(z)` walks the whole top-down path with the given z.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from vaekit.models.distributions import DiagonalGaussian
from vaekit.models.hvae import SUMMARY_SAMPLES, HierarchicalVAE, summary_noise
from vaekit.models.networks import MEMORY_FORMAT, _blocks, _conv, _halved, _he, _up
from vaekit.models.priors import StandardNormal

BOUND = 5.0  # soft bound on every mean; log-variances get 2 * BOUND (sigma in e^-5 .. e^5)
SUMMARY_ROWS = 2048  # examples x summary draws per pass of posterior_moments
SOBOL_MAX_DIMS = 21201  # the most dimensions torch's SobolEngine draws (the posterior summary)


def soft_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """bound * tanh(x / bound): the identity near 0, never past +-bound, smooth everywhere."""
    return bound * torch.tanh(x / bound)


def latent_sizes(
    shape: tuple[int, int, int], channels: tuple[int, ...], latent_dim: int, groups: int
) -> tuple[int, ...]:
    """Each group's flattened size, bottom (finest scale, last group) first."""
    maps = _halved(shape[1:], len(channels))[1:]  # the scales' sizes, finest first
    return tuple(latent_dim * h * w for h, w in maps for _ in range(groups))


def _head(c_in: int, latent_dim: int) -> nn.Sequential:
    """SiLU then a zero-initialized 3x3 conv to 2 Z maps (a mean and a log-variance)."""
    conv = nn.Conv2d(c_in, 2 * latent_dim, 3, padding=1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return nn.Sequential(nn.SiLU(), conv)


def _gaussian(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A head's (M, 2Z, h, w) output as a bounded mean and log-variance, flattened (M, Z*h*w)."""
    mean, logvar = out.chunk(2, dim=1)
    return soft_bound(mean, BOUND).flatten(1), soft_bound(logvar, 2 * BOUND).flatten(1)


class ConvHierarchicalVAE(HierarchicalVAE):
    decodes_bottom_layer = False

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int,
        groups: int,
        channels: tuple[int, ...],
        depth: int,
        likelihood: nn.Module,
    ) -> None:
        nn.Module.__init__(self)
        c, height, width = shape
        self.z = latent_dim
        self.groups = groups
        self.num_classes = 0
        self.likelihood = likelihood
        self.maps = _halved((height, width), len(channels))  # full size, then each scale's
        self.layer_sizes = latent_sizes(shape, channels, latent_dim, groups)
        self.layers = len(self.layer_sizes)
        self.latent_dim = sum(self.layer_sizes)
        self.offsets = tuple(itertools.accumulate(self.layer_sizes, initial=0))
        self.prior = StandardNormal(self.latent_dim)  # where the model lives; unused otherwise
        # Bottom-up: ResNetEncoder's body, keeping each scale's map.
        stem = nn.Conv2d(c, channels[0], 3, padding=1)
        _he(stem, c * 9, gain=1.0)
        self.stem = stem
        widths = [channels[0], *channels]  # widths[s]: the width entering stage s
        self.bottom_up = nn.ModuleList(
            nn.Sequential(nn.SiLU(), _conv(widths[s], out, stride=2), *_blocks(out, depth))
            for s, out in enumerate(channels)
        )
        # Top-down, coarsest scale first; per group a prior head, a posterior head, the merge
        # of z into the state and the residual cells after it.
        self.start = nn.Parameter(torch.zeros(1, channels[-1], *self.maps[-1]))
        visits = [s for s in reversed(range(len(channels))) for _ in range(groups)]
        self.visits = tuple(visits)  # the scale of each group, in visiting order
        self.prior_heads = nn.ModuleList(_head(channels[s], latent_dim) for s in visits)
        self.posterior_heads = nn.ModuleList(_head(2 * channels[s], latent_dim) for s in visits)
        self.merges = nn.ModuleList(nn.Conv2d(latent_dim, channels[s], 1) for s in visits)
        for merge in self.merges:
            _he(merge, latent_dim, gain=1.0)
        self.cells = nn.ModuleList(nn.Sequential(*_blocks(channels[s], depth)) for s in visits)
        ups = []
        for s in range(len(channels)):
            (sh, sw), (th, tw) = self.maps[s + 1], self.maps[s]
            pad = (th - (2 * sh - 1), tw - (2 * sw - 1))
            ups.append(nn.Sequential(nn.SiLU(), _up(channels[s], widths[s], pad)))
        self.ups = nn.ModuleList(ups)
        out = nn.Conv2d(channels[0], c * likelihood.params_per_channel, 3, padding=1)
        _he(out, channels[0] * 9, gain=1.0)
        self.out = nn.Sequential(nn.SiLU(), out)
        self.register_buffer(
            "summary_noise", summary_noise(SUMMARY_SAMPLES, self.latent_dim), persistent=False
        )
        self.to(memory_format=MEMORY_FORMAT)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """e_s for each scale, finest first."""
        out, h = [], self.stem(x.contiguous(memory_format=MEMORY_FORMAT))
        for stage in self.bottom_up:
            h = stage(h)
            out.append(h)
        return out

    def _walk(
        self,
        rows: int,
        feats: list[torch.Tensor] | None,
        noise: torch.Tensor | None,
        given: torch.Tensor | None = None,
        temperature: float = 1.0,
        output: bool = True,
    ) -> tuple[list[torch.Tensor], list[DiagonalGaussian], list[DiagonalGaussian], torch.Tensor]:
        """The top-down path for `rows` rows. Each group's z is taken from `given` (M, D) if
        set, else drawn from q (with `feats`) or p (without) as mean + temperature * std *
        noise, or is that mean where `noise` is None. Returns z, q (empty without `feats`) and
        p per group, bottom first, and the likelihood's parameters (None unless `output`)."""
        h = self.start.expand(rows, -1, -1, -1)
        zs, qs, ps = [], [], []
        for k, s in enumerate(self.visits):
            index = self.layers - 1 - k  # bottom-first position of this group
            lo, hi = self.offsets[index], self.offsets[index + 1]
            p = DiagonalGaussian(*_gaussian(self.prior_heads[k](h)))
            ps.append(p)
            dist = p
            if feats is not None:
                dmu, dlog = _gaussian(self.posterior_heads[k](torch.cat([h, feats[s]], dim=1)))
                dist = DiagonalGaussian(p.mean + dmu, p.logvar + dlog)
                qs.append(dist)
            if given is not None:
                z = given[:, lo:hi]
            elif noise is None:
                z = dist.mean
            else:
                z = dist.mean + temperature * dist.std * noise[:, lo:hi]
            zs.append(z)
            zmap = z.reshape(rows, self.z, *self.maps[s + 1])
            h = self.cells[k](h + self.merges[k](zmap.contiguous(memory_format=MEMORY_FORMAT)))
            if k + 1 == len(self.visits) or self.visits[k + 1] != s:
                h = self.ups[s](h)  # to the next scale's size and width (full size after 0)
        params = self.out(h) if output else None
        return zs[::-1], qs[::-1], ps[::-1], params  # type: ignore[return-value]

    def _top_down(
        self, feats: list[torch.Tensor], eps: torch.Tensor | None
    ) -> tuple[list[torch.Tensor], list[DiagonalGaussian], list[DiagonalGaussian]]:
        zs, qs, ps, _ = self._walk(feats[0].shape[0], feats, eps, output=False)
        return zs, qs, ps

    def posterior_moments(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """HierarchicalVAE's summary, a few examples at a time (each is SUMMARY_SAMPLES rows
        through the conv path)."""
        step = max(1, SUMMARY_ROWS // SUMMARY_SAMPLES)
        parts = [super(ConvHierarchicalVAE, self).posterior_moments(c) for c in x.split(step)]
        return torch.cat([m for m, _ in parts]), torch.cat([s for _, s in parts])

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None):
        _, _, _, params = self._walk(z.shape[0], None, None, given=z)
        return self.likelihood(params)

    def _path(self, feats: list[torch.Tensor], eps: torch.Tensor) -> tuple[list, list, list, Any]:
        """HierarchicalVAE's, with the likelihood read off the whole top-down path."""
        zs, qs, ps, params = self._walk(len(eps), feats, eps)
        return zs, qs, ps, self.likelihood(params)

    def sample_latents(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        device = self.prior._zero.device
        noise = torch.randn(n, self.latent_dim, generator=generator, device=device)
        zs, _, _, _ = self._walk(n, None, noise, temperature=temperature, output=False)
        return torch.cat(zs, dim=1)


def check_sizes(
    shape: tuple[int, int, int], channels: tuple[int, ...], latent_dim: int, groups: int
) -> str | None:
    """Why this hierarchy cannot be built (too few groups, too many latent dimensions for the
    posterior summary), or None."""
    sizes = latent_sizes(shape, channels, latent_dim, groups)
    if len(sizes) < 2:
        return (
            f"--model hconv needs at least 2 latent groups: {len(channels)} scale(s) "
            f"(--channels) x {groups} group(s) (--layers)"
        )
    if sum(sizes) > SOBOL_MAX_DIMS:
        return (
            f"--model hconv: {sum(sizes):,} latent dimensions ({' + '.join(map(str, sizes))}), "
            f"more than the {SOBOL_MAX_DIMS:,} its posterior summary draws: lower --latent-dim "
            "(channels per latent map) or --layers"
        )
    return None
