"""An autoregressive decoder: a small PixelCNN conditioned on the latent code.

p(x|z) = prod_i p(x_i | x_<i, z), pixels in raster order (row by row, left to right), as in
PixelVAE (Gulrajani et al. 2017) and the Variational Lossy Autoencoder (Chen et al. 2017). The
decoder family (mlp, conv, resnet) turns z into a feature map (B, F, H, W); a stack of masked
convolutions (van den Oord et al. 2016, "Pixel Recurrent Neural Networks") with gated
activations, tanh(a) * sigmoid(b), to which the feature map is added (van den Oord et al. 2016,
"Conditional Image Generation with PixelCNN Decoders") reads the image itself and gives, at
each pixel, the raw parameters of the chosen likelihood (Bernoulli, discretized logistic or
logistic mixture) for that pixel given the pixels before it.

Masks are spatial only: the first layer (mask A) sees the pixels strictly before position i,
later layers (mask B) also their own position's features, so no output depends on the pixel it
scores or on later ones. The channels of one pixel are not ordered by the masks: with
logistic-mixture-coupled the likelihood's own channel coupling (R -> G -> B, PixelCNN++)
orders them; with the other likelihoods a pixel's channels are independent given the pixels
before it and z. This is a single-stack PixelCNN: its receptive field, `layers` * (k // 2)
rows up and as many columns either side (k the kernel size), has the blind spot of the
original (part of the region up and to the right is unseen). A small one keeps z in use (Chen
et al. 2017): what the PixelCNN cannot see, the latent code must carry.

Scoring is one pass over the (teacher-forced) image. Generation is pixel by pixel: H * W
passes, batched over the images, each over only the window the current pixel can see.
Shapes: B batch, C image channels, H x W image, F feature maps, P likelihood numbers per
channel, N gated layers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.progress import pixel_progress

Progress = Callable[[str, int, int | None], None]
PROGRESS_NAME = "decoding pixel by pixel"


class MaskedConv2d(nn.Conv2d):
    """A k x k convolution (k odd, padding k // 2) whose output at (i, j) sees only input
    positions before (i, j) in raster order: the rows above, and the row's own pixels to the
    left; mask "A" leaves out (i, j) itself, mask "B" keeps it."""

    def __init__(self, c_in: int, c_out: int, kernel: int, mask: str) -> None:
        if kernel % 2 == 0 or kernel < 3:
            raise ValueError(f"masked convolutions need an odd kernel of at least 3, got {kernel}")
        if mask not in ("A", "B"):
            raise ValueError(f"mask must be 'A' or 'B', got {mask!r}")
        super().__init__(c_in, c_out, kernel, padding=kernel // 2)
        centre = kernel // 2
        keep = torch.ones(kernel, kernel)
        keep[centre, centre + (mask == "B") :] = 0
        keep[centre + 1 :] = 0
        # Rebuilt from the config, so not saved with the weights.
        self.register_buffer("mask", keep, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class GatedLayer(nn.Module):
    """h -> W * (tanh(a) * sigmoid(b)), [a, b] = masked_conv(h) + V * features (V, W 1 x 1
    convolutions), plus h itself after the first layer (a residual connection)."""

    def __init__(self, c_in: int, width: int, features: int, kernel: int, mask: str) -> None:
        super().__init__()
        self.conv = MaskedConv2d(c_in, 2 * width, kernel, mask)
        self.condition = nn.Conv2d(features, 2 * width, 1)
        self.out = nn.Conv2d(width, width, 1)
        self.residual = mask == "B"

    def forward(self, h: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        a, b = (self.conv(h) + self.condition(features)).chunk(2, dim=1)
        gated = self.out(torch.tanh(a) * torch.sigmoid(b))
        return h + gated if self.residual else gated


class PixelCNN(nn.Module):
    """(x (B, C, H, W) in [0, 1], features (B, F, H, W)) -> the likelihood's raw parameters
    (B, C * P, H, W), the output at each pixel a function of z's features and the earlier
    pixels only. The features also reach the output directly (a 1 x 1 convolution), so the
    latent code can describe a pixel without the gated stack."""

    def __init__(
        self, channels: int, features: int, width: int, layers: int, kernel: int, params: int
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"a PixelCNN needs at least one layer, got {layers}")
        first = GatedLayer(channels, width, features, kernel, "A")
        rest = [GatedLayer(width, width, features, kernel, "B") for _ in range(layers - 1)]
        self.layers = nn.ModuleList([first, *rest])
        self.head = nn.Conv2d(width, channels * params, 1)
        self.skip = nn.Conv2d(features, channels * params, 1)
        # Rows above a pixel that its output can depend on.
        self.reach = layers * (kernel // 2)

    def forward(self, x: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        h = 2 * x - 1  # centred, so an unseen (zero-padded) pixel differs from a black one
        for layer in self.layers:
            h = layer(h, features)
        return self.head(F.silu(h)) + self.skip(features)


class AutoregressiveLikelihood(nn.Module):
    """Wraps a likelihood (`base`) with a PixelCNN: features (B, C * P', H, W) from the decoder,
    P' = `params_per_channel` = `width`, -> Autoregressive, the distribution p(x|z)."""

    def __init__(
        self, base: nn.Module, channels: int, width: int, layers: int, kernel: int
    ) -> None:
        super().__init__()
        self.base = base
        self.support = getattr(base, "support", None)
        self.params_per_channel = width
        self.network = PixelCNN(
            channels, channels * width, width, layers, kernel, base.params_per_channel
        )

    def forward(self, features: torch.Tensor) -> Autoregressive:
        return Autoregressive(features, self)


class Autoregressive:
    """p(x|z) = prod_i p(x_i | x_<i, z) for decoder features (B, F, H, W).

    `log_prob(x)` scores x in one teacher-forced pass. `sample(generator)` draws an image pixel
    by pixel. `mean` is not the joint's expectation (which has no closed form): it is the greedy
    decode, pixel by pixel, each pixel set to its conditional mean given the pixels before it,
    which are fed back rounded to a value the data can take (the more likely of 0 and 1 for
    binary pixels, the nearest of the 256 levels for 8-bit ones). Both report progress through
    `progress`, or else the callback `vaekit.progress.reporting` installed.
    """

    def __init__(self, features: torch.Tensor, module: AutoregressiveLikelihood) -> None:
        self.features = features
        self.module = module

    def conditionals(self, x: torch.Tensor):
        """The base likelihood's distribution of each pixel given the pixels of x before it
        (and z): a distribution over (B, C, H, W)."""
        return self.module.base(self.module.network(x, self.features))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (B, C, H, W): (B,)."""
        return self.conditionals(x).log_prob(x)

    @property
    def mean(self) -> torch.Tensor:
        """The greedy decode (see the class): (B, C, H, W) in [0, 1]."""
        return self.greedy()

    def greedy(self, progress: Progress | None = None) -> torch.Tensor:
        """The greedy decode (see the class): (B, C, H, W)."""
        binary = self.module.support == "binary"

        def pick(pixel) -> tuple[torch.Tensor, torch.Tensor]:
            mean = pixel.mean
            fed = (mean > 0.5).to(mean.dtype) if binary else torch.round(mean * 255) / 255
            return fed, mean

        return self._generate(pick, progress)

    def sample(
        self, generator: torch.Generator | None = None, progress: Progress | None = None
    ) -> torch.Tensor:
        """One draw x ~ p(x|z) per row of the features: (B, C, H, W)."""

        def pick(pixel) -> tuple[torch.Tensor, torch.Tensor]:
            drawn = pixel.sample(generator)
            return drawn, drawn

        return self._generate(pick, progress)

    @torch.no_grad()
    def _generate(self, pick: Callable, progress: Progress | None) -> torch.Tensor:
        """Pixel by pixel: `pick` turns pixel (i, j)'s conditional (over (B, C, 1, 1)) into
        (the value fed back, the value shown). Each pass covers only the window that pixel's
        output can depend on, rows i - reach .. i and columns j - reach .. j + reach (clipped
        to the image): every value in that output's cone of dependence depends only on
        pixels inside the window, so the result equals a pass over the whole image (where
        the window's edge cuts the image, only values outside the cone see the padding)."""
        report = progress or pixel_progress()
        network, base = self.module.network, self.module.base
        reach = network.reach
        b, _, h, w = self.features.shape
        c = network.head.out_channels // base.params_per_channel
        fed = torch.zeros(b, c, h, w, dtype=self.features.dtype, device=self.features.device)
        shown = torch.zeros_like(fed)
        for i in range(h):
            top = max(0, i - reach)
            for j in range(w):
                left = max(0, j - reach)
                rows, cols = slice(top, i + 1), slice(left, min(w, j + reach + 1))
                params = network(fed[:, :, rows, cols], self.features[:, :, rows, cols])
                at = (slice(None), slice(None), slice(i - top, i - top + 1))
                pixel = base(params[(*at, slice(j - left, j - left + 1))])
                fed[:, :, i : i + 1, j : j + 1], shown[:, :, i : i + 1, j : j + 1] = pick(pixel)
                if report is not None:
                    report(PROGRESS_NAME, i * w + j + 1, h * w)
        return shown
