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

Scoring is one pass over the (teacher-forced) image; for several draws of z per image (the
importance-weighted bound) the part that reads the image alone is computed once per image
(`image_part`, `forward_repeated`). Generation is pixel by pixel, batched over the images:
each layer's value at a pixel is computed once, when the pixels before it are known, and
kept (PixelSteps), so a pixel costs one position per layer, not a pass over its window.
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


def pointwise(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv(x)` for a 1 x 1 convolution `conv` of x (B, C, H, W). On a CPU, a product of the
    weight (C', C) with each row's (C, H * W): oneDNN's 1 x 1 kernel on these few channels is
    several times slower (8 -> 16 channels at 28 x 28 on 2 cores: 2.4 ms for 41 rows against
    0.13-0.18 ms, 6.1 ms for 128 rows against 0.46 ms). Equal up to float rounding."""
    if x.device.type != "cpu":
        return conv(x)
    b, c, h, w = x.shape
    weight = conv.weight.view(1, conv.out_channels, c).expand(b, -1, -1)
    out = torch.bmm(weight, x.reshape(b, c, h * w))
    return out.add_(conv.bias[:, None]).view(b, conv.out_channels, h, w)


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
        return self.gate(self.conv(h) + pointwise(self.condition, features), h)

    def gate(self, pre: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """The layer's output from its pre-activation [a, b] (B, 2 * width, H, W) and its input
        h (needed only for the residual: None will do for the first layer)."""
        a, b = pre.chunk(2, dim=1)
        gated = pointwise(self.out, torch.tanh(a) * torch.sigmoid(b))
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
        return pointwise(self.head, F.silu(h)) + pointwise(self.skip, features)

    def image_part(self, x: torch.Tensor) -> torch.Tensor:
        """What the network computes from x alone, before z's features join: the first layer's
        masked convolution of x, (B, 2 * width, H, W). Every later value mixes in the features
        through a nonlinearity, so this is all that several draws of z can share."""
        return self.layers[0].conv(2 * x - 1)

    def forward_repeated(
        self, image_part: torch.Tensor, features: torch.Tensor, n: int
    ) -> torch.Tensor:
        """forward(x.repeat_interleave(n, 0), features) for features (B * n, F, H, W), rows
        b * n .. b * n + n - 1 drawn for image b, given `image_part(x)` (B, ...): x's
        convolution is added to each of its n rows by broadcasting, not computed n times."""
        first = self.layers[0]
        pre = pointwise(first.condition, features)
        b = image_part.shape[0]
        pre.view(b, n, *pre.shape[1:]).add_(image_part[:, None])  # in place: no new tensor
        h = first.gate(pre, None)
        for layer in self.layers[1:]:
            h = layer(h, features)
        return pointwise(self.head, F.silu(h)) + pointwise(self.skip, features)


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

    def image_part(self, x: torch.Tensor) -> torch.Tensor:
        """What the PixelCNN computes from images x (B, C, H, W) alone, to be shared by the
        draws of z scored against them (Autoregressive.log_prob_repeated)."""
        return self.network.image_part(x)


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

    def log_prob_repeated(self, x: torch.Tensor, image_part: torch.Tensor, n: int) -> torch.Tensor:
        """log_prob(x.repeat_interleave(n, 0)) for x (B, C, H, W) and features of B * n rows
        (n draws of z per image, image b's in rows b * n .. b * n + n - 1), with what reads x
        alone (`image_part`, from AutoregressiveLikelihood.image_part(x)) computed once per
        image: (B * n,). Equal to log_prob up to float rounding."""
        params = self.module.network.forward_repeated(image_part, self.features, n)
        return self.module.base(params).log_prob(x.repeat_interleave(n, dim=0))

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
    def _generate(
        self, pick: Callable, progress: Progress | None, windowed: bool = False
    ) -> torch.Tensor:
        """Pixel by pixel: `pick` turns pixel (i, j)'s conditional (over (B, C, 1, 1)) into
        (the value fed back, the value shown). Each layer's value at a pixel is computed once,
        when the pixels before it are known (PixelSteps), so a pixel costs one position per
        layer whatever the depth. `windowed` (kept to check and time against) instead runs
        the network over the window that pixel's output can depend on, every value in it."""
        report = progress or pixel_progress()
        network, base = self.module.network, self.module.base
        b, _, h, w = self.features.shape
        c = network.head.out_channels // base.params_per_channel
        fed = torch.zeros(b, c, h, w, dtype=self.features.dtype, device=self.features.device)
        shown = torch.zeros_like(fed)
        steps = None if windowed else PixelSteps(network, self.features)
        for i in range(h):
            for j in range(w):
                params = self._window_params(fed, i, j) if steps is None else steps.params(i, j)
                value, shown[:, :, i : i + 1, j : j + 1] = pick(base(params))
                fed[:, :, i : i + 1, j : j + 1] = value
                if steps is not None:
                    steps.feed(i, j, value)
                if report is not None:
                    report(PROGRESS_NAME, i * w + j + 1, h * w)
        return shown

    def _window_params(self, fed: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """Pixel (i, j)'s parameters (B, C * P, 1, 1) from a pass over the window its output
        can depend on, rows i - reach .. i and columns j - reach .. j + reach (clipped to the
        image): every value in that output's cone of dependence depends only on pixels inside
        the window, so the result equals a pass over the whole image (where the window's edge
        cuts the image, only values outside the cone see the padding)."""
        network = self.module.network
        reach, w = network.reach, fed.shape[3]
        top, left = max(0, i - reach), max(0, j - reach)
        rows, cols = slice(top, i + 1), slice(left, min(w, j + reach + 1))
        params = network(fed[:, :, rows, cols], self.features[:, :, rows, cols])
        return params[:, :, i - top : i - top + 1, j - left : j - left + 1]


class PixelSteps:
    """A PixelCNN's outputs one pixel at a time, in raster order, for generation. A layer's
    value at pixel (i, j) depends only on pixels before (i, j) (the first mask leaves out the
    pixel itself, the later ones add no later position), so it is final once those are fed:
    it is computed once, from the values the layer below already holds around (i, j), and
    kept. Each map is zero-padded by kernel // 2 on every side, as the convolutions pad.
    Equal to a pass over the whole image up to float rounding."""

    def __init__(self, network: PixelCNN, features: torch.Tensor) -> None:
        self.network = network
        self.pad = pad = network.layers[0].conv.kernel_size[0] // 2
        b, _, h, w = features.shape
        # inputs[l]: layer l's input, padded; inputs[0] the centred image, fed pixel by pixel.
        self.inputs = [
            features.new_zeros(b, layer.conv.in_channels, h + 2 * pad, w + 2 * pad)
            for layer in network.layers
        ]
        # What reads only z's features, for every pixel at once: each layer's condition term
        # and the skip to the output.
        self.conditions = [pointwise(layer.condition, features) for layer in network.layers]
        self.skip = pointwise(network.skip, features)
        self.kernels = [
            (layer.conv.weight * layer.conv.mask).flatten(1) for layer in network.layers
        ]

    def params(self, i: int, j: int) -> torch.Tensor:
        """Pixel (i, j)'s parameters (B, C * P, 1, 1), every pixel before it fed."""
        k, p = 2 * self.pad + 1, self.pad
        layers = self.network.layers
        for n, layer in enumerate(layers):
            window = self.inputs[n][:, :, i : i + k, j : j + k].flatten(1)
            pre = torch.addmm(layer.conv.bias, window, self.kernels[n].t())
            a, b = (pre + self.conditions[n][:, :, i, j]).chunk(2, dim=1)
            out = layer.out
            h = F.linear(torch.tanh(a) * torch.sigmoid(b), out.weight.flatten(1), out.bias)
            if layer.residual:
                h = h + self.inputs[n][:, :, i + p, j + p]
            if n + 1 < len(layers):
                self.inputs[n + 1][:, :, i + p, j + p] = h
        head = self.network.head
        params = F.linear(F.silu(h), head.weight.flatten(1), head.bias) + self.skip[:, :, i, j]
        return params[:, :, None, None]

    def feed(self, i: int, j: int, value: torch.Tensor) -> None:
        """Set pixel (i, j) to `value` (B, C, 1, 1), in [0, 1]."""
        self.inputs[0][:, :, i + self.pad, j + self.pad] = 2 * value[:, :, 0, 0] - 1
