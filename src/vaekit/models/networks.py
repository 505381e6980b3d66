"""Encoder and decoder families, sized by config.

Shapes: B batch, C channels, H x W image, Z latent dims, P numbers per pixel for the likelihood.
An encoder maps (B, C, H, W) in [0, 1] to q(z|x), a DiagonalGaussian over (B, Z); a decoder
maps z (B, Z) to the likelihood's raw parameters (B, C * P, H, W).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.models.distributions import DiagonalGaussian


class GaussianHead(nn.Module):
    """Features (B, F) -> DiagonalGaussian over (B, Z)."""

    def __init__(self, features: int, latent_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(features, 2 * latent_dim)

    def forward(self, h: torch.Tensor) -> DiagonalGaussian:
        mean, logvar = self.linear(h).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar)


class MLPEncoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], latent_dim: int, hidden_dims: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(shape)
        for h in hidden_dims:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = GaussianHead(width, latent_dim)

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        return self.head(self.body(x))


class MLPDecoder(nn.Module):
    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int,
        hidden_dims: tuple[int, ...],
        params: int,
    ):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        width = latent_dim
        for d in reversed(hidden_dims):
            layers += [nn.Linear(width, d), nn.ReLU()]
            width = d
        layers += [nn.Linear(width, c * params * h * w), nn.Unflatten(1, (c * params, h, w))]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


def _halved(size: tuple[int, int], times: int) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2 conv (kernel 3, padding 1): ceil(s / 2) each time."""
    sizes = [size]
    for _ in range(times):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions, one per entry of `channels`, then a linear Gaussian head."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, channels: tuple[int, ...]):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.ReLU()]
            c = out
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        fh, fw = _halved((h, w), len(channels))[-1]
        self.head = GaussianHead(c * fh * fw, latent_dim)
        # Channels-last convolutions run about 1.2-1.5x faster on CPUs (oneDNN).
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        return self.head(self.body(x.contiguous(memory_format=torch.channels_last)))


class ConvDecoder(nn.Module):
    """The mirror of ConvEncoder: linear to the smallest feature map, then stride-2 transposed
    convolutions back up to exactly H x W (output padding chosen per stage), the last one
    giving the likelihood's parameters."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int,
        channels: tuple[int, ...],
        params: int,
    ):
        super().__init__()
        c, h, w = shape
        sizes = _halved((h, w), len(channels))
        top = channels[-1]
        fh, fw = sizes[-1]
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, top * fh * fw),
            nn.ReLU(),
            nn.Unflatten(1, (top, fh, fw)),
        ]
        widths = [*reversed(channels), c * params]
        for i in range(len(channels)):
            (sh, sw), (th, tw) = sizes[-1 - i], sizes[-2 - i]
            pad = (th - (2 * sh - 1), tw - (2 * sw - 1))
            layers.append(
                nn.ConvTranspose2d(
                    widths[i], widths[i + 1], 3, stride=2, padding=1, output_padding=pad
                )
            )
            layers.append(nn.ReLU())
        layers.pop()  # the last stage outputs the likelihood's parameters: no activation
        self.body = nn.Sequential(*layers)
        self.to(memory_format=torch.channels_last)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)
