"""Image quality numbers shared by evaluation and the apps: mean squared error and PSNR.

Images are (B, C, H, W) with intensities in [0, 1]; the peak signal is 1.
"""

from __future__ import annotations

import torch


def mse(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each example's mean squared error against its reference: (B,), over the values the
    reference holds (NaN in it: a missing value, left out)."""
    return (x - reference).pow(2).flatten(1).nanmean(1)


def psnr_from_mse(error: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(1 / MSE), elementwise; +inf where the
    error is zero (a perfect match)."""
    return 10 * torch.log10(1 / error)


def psnr(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each image's PSNR in dB against its reference: (B,)."""
    return psnr_from_mse(mse(x, reference))
