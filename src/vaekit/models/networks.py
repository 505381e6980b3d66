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

# The memory layout the conv and ResNet networks run in. Channels-last was faster on this
# project's CPU for the conv family and equal for the ResNet family (bench/layouts.py, which
# flips this to compare); on CUDA GPUs it is the layout tensor cores prefer.
MEMORY_FORMAT = torch.channels_last


class GaussianHead(nn.Module):
    """Features (B, F) -> DiagonalGaussian over (B, Z), with `context_dim` > 0 also carrying a
    context vector (B, context_dim) for a flow on top of it (vaekit.models.flows)."""

    def __init__(self, features: int, latent_dim: int, context_dim: int = 0) -> None:
        super().__init__()
        self.linear = nn.Linear(features, 2 * latent_dim + context_dim)
        self.latent_dim = latent_dim
        self.context_dim = context_dim

    def forward(self, h: torch.Tensor) -> DiagonalGaussian:
        z = self.latent_dim
        # in float32 also under autocast (the KL and the draws are computed from them); split:
        # one backward operation for the parts (where slices take one each)
        sizes = [z, z, self.context_dim] if self.context_dim else [z, z]
        mean, logvar, *context = self.linear(h).float().split(sizes, dim=1)
        return DiagonalGaussian(mean, logvar, *context)


class MLPEncoder(nn.Module):
    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int,
        hidden_dims: tuple[int, ...],
        context_dim: int = 0,
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(shape)
        for h in hidden_dims:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = GaussianHead(width, latent_dim, context_dim)

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
            layers += [nn.Linear(width, d), nn.ReLU(inplace=True)]
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

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int,
        channels: tuple[int, ...],
        context_dim: int = 0,
    ):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            c = out
        layers.append(nn.Flatten())
        self.body = nn.Sequential(*layers)
        fh, fw = _halved((h, w), len(channels))[-1]
        self.head = GaussianHead(c * fh * fw, latent_dim, context_dim)
        # Channels-last convolutions run about 1.2-1.5x faster on CPUs (oneDNN).
        self.to(memory_format=MEMORY_FORMAT)

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        return self.head(self.body(x.contiguous(memory_format=MEMORY_FORMAT)))


class _ToMap(nn.Module):
    """(B, C * h * w) rows to (B, C, h, w) maps in MEMORY_FORMAT, the layout the convolutions
    after it run in (no parameters: a drop-in for nn.Unflatten)."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.unflatten(1, self.shape).contiguous(memory_format=MEMORY_FORMAT)


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
            nn.ReLU(inplace=True),
            _ToMap((top, fh, fw)),
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
            layers.append(nn.ReLU(inplace=True))
        layers.pop()  # the last stage outputs the likelihood's parameters: no activation
        self.body = nn.Sequential(*layers)
        self.to(memory_format=MEMORY_FORMAT)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


# ResNet family.
#
# Normalization: none. BatchNorm depends on the other examples in the batch (and on running
# statistics at evaluation), which is unsafe for small batches and for the batch-independent
# evaluation the ELBO needs. GroupNorm is per example, but in an encoder it divides out each
# example's contrast and brightness (per channel group), which a VAE must reconstruct, and it
# degenerates on 1 x 1 feature maps. Instead each residual branch ends in a zero-initialized
# conv (SkipInit / Fixup style): at initialization every block is the identity, so a net of
# any depth starts as the depth-0 plain conv net and trains as stably as it does.
#
# Initialization: He (Kaiming) normal, std gain / sqrt(fan_in), zero biases; gain sqrt(2) after
# an activation, 1 for layers fed by pixels or z. PyTorch's default init shrinks the signal at
# every layer: the encoder's means came out almost equal for all inputs (spread ~0.003) and on
# 32 random 8 x 8 images the autoencoder learned only the average image. With He init it
# reconstructs them closely (tests/models/test_resnet.py).
_AFTER_ACT = math.sqrt(2.0)


def _he(layer: nn.Conv2d | nn.ConvTranspose2d | nn.Linear, fan_in: float, gain: float) -> None:
    """Normal weights with std gain / sqrt(fan_in) (`fan_in` inputs per output), zero bias."""
    nn.init.normal_(layer.weight, std=gain / math.sqrt(fan_in))
    assert layer.bias is not None
    nn.init.zeros_(layer.bias)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    """He-initialized 3x3 conv, padding 1: (B, c_in, h, w) -> (B, c_out, ceil(h/s), ceil(w/s))."""
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
    _he(conv, c_in * 9, _AFTER_ACT)
    return conv


def _up(c_in: int, c_out: int, pad: tuple[int, int]) -> nn.ConvTranspose2d:
    """He-initialized stride-2 3x3 transposed conv: (B, c_in, h, w) ->
    (B, c_out, 2h - 1 + pad[0], 2w - 1 + pad[1]). Each output sees on average 9/4 of the
    kernel taps, hence fan_in c_in * 9 / 4."""
    conv = nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=pad)
    _he(conv, c_in * 9 / 4, _AFTER_ACT)
    return conv


class ResidualBlock(nn.Module):
    """Pre-activation block on (B, K, h, w): x + conv3x3(SiLU(conv3x3(SiLU(x)))).

    The second conv starts at zero (weights and bias), so the block starts as the identity;
    it gets a gradient at once, and the first conv does after the first optimizer step.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.act = nn.SiLU()
        self.conv1 = _conv(width, width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(self.act(x))))


def _blocks(width: int, depth: int) -> list[nn.Module]:
    return [ResidualBlock(width) for _ in range(depth)]


def up_stages(size: tuple[int, int], channels: tuple[int, ...], depth: int) -> list[nn.Module]:
    """A residual decoder's stages from the smallest map (channels[-1] at the size `size`
    halves to, once per entry) back to `size`: per entry of `channels`, last first, `depth`
    residual blocks, SiLU and a stride-2 3x3 transposed conv (output padding chosen so the
    sizes retrace `_halved` exactly) to the previous width (channels[0] for the first)."""
    sizes = _halved(size, len(channels))
    widths = [channels[0], *channels]  # widths[i] is the width entering encoder stage i
    layers: list[nn.Module] = []
    for i in reversed(range(len(channels))):
        (sh, sw), (th, tw) = sizes[i + 1], sizes[i]
        pad = (th - (2 * sh - 1), tw - (2 * sw - 1))
        layers += [*_blocks(channels[i], depth), nn.SiLU(), _up(channels[i], widths[i], pad)]
    return layers


class ResNetEncoder(nn.Module):
    """A 3x3 stem conv to channels[0] at H x W, then per entry of `channels` a stage: SiLU and a
    stride-2 3x3 conv (ceil-halving the size, as `_halved`), then `depth` residual blocks.
    The last (B, channels[-1], h, w) map goes through SiLU, is flattened (keeping where things
    are) and a GaussianHead gives q(z|x) over (B, Z). depth=0 is a plain conv net."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int,
        channels: tuple[int, ...],
        depth: int,
        context_dim: int = 0,
    ) -> None:
        super().__init__()
        c, h, w = shape
        stem = nn.Conv2d(c, channels[0], 3, padding=1)
        _he(stem, c * 9, gain=1.0)  # fed by pixels, not by an activation
        layers: list[nn.Module] = [stem]
        width = channels[0]
        for out in channels:
            layers += [nn.SiLU(), _conv(width, out, stride=2), *_blocks(out, depth)]
            width = out
        layers += [nn.SiLU(), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        fh, fw = _halved((h, w), len(channels))[-1]
        self.head = GaussianHead(width * fh * fw, latent_dim, context_dim)
        _he(self.head.linear, width * fh * fw, _AFTER_ACT)
        # Channels-last convolutions run about 1.2-1.5x faster on CPUs (oneDNN).
        self.to(memory_format=MEMORY_FORMAT)

    def forward(self, x: torch.Tensor) -> DiagonalGaussian:
        return self.head(self.body(x.contiguous(memory_format=MEMORY_FORMAT)))


class ResNetDecoder(nn.Module):
    """The mirror of ResNetEncoder: a linear map from z (B, Z) to the smallest feature map
    (B, channels[-1], h, w), then per entry of `channels`, last first: `depth` residual blocks,
    SiLU and a stride-2 3x3 transposed conv (output padding chosen so the sizes retrace
    `_halved` exactly) to the previous width (channels[0] for the first); then SiLU and a 3x3
    conv to the likelihood's parameters (B, C * P, H, W), with no activation."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int,
        channels: tuple[int, ...],
        depth: int,
        params: int,
    ) -> None:
        super().__init__()
        c, h, w = shape
        sizes = _halved((h, w), len(channels))
        top = channels[-1]
        fh, fw = sizes[-1]
        linear = nn.Linear(latent_dim, top * fh * fw)
        _he(linear, latent_dim, gain=1.0)  # fed by z, not by an activation
        layers: list[nn.Module] = [linear, _ToMap((top, fh, fw))]
        layers += up_stages((h, w), channels, depth)
        out = nn.Conv2d(channels[0], c * params, 3, padding=1)
        _he(out, channels[0] * 9, gain=1.0)  # raw likelihood parameters stay O(1) at first
        self.body = nn.Sequential(*layers, nn.SiLU(), out)
        self.to(memory_format=MEMORY_FORMAT)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)
