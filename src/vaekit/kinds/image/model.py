"""The image kind's model part: see vaekit.kinds.protocol."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vaekit.data.batches import scale
from vaekit.errors import VaekitError
from vaekit.kinds.image.options import DEFAULTS as DEFAULTS  # the protocol's
from vaekit.models.factory import ModelConfig


def check(config: ModelConfig) -> None:
    """Images take every family, likelihood and prior of their own (the checks every config
    gets, in ModelConfig.validate, are all theirs): nothing more to refuse."""


# --- the facade's questions (vaekit.api: Model, apps, options, train) ---------------------

# Image examples are pictures of pixels in [0, 1]: the commands made for images (denoise,
# traverse, uncertainty, export, serve) take a model of this kind (and of no other).
IMAGES = True

# The options an image model is built with unless the user gives them: the declared defaults
# (vaekit.train_options) are an image model's.


def prepare(x: Any, shape: tuple[int, ...], schema: None, max_value: float) -> torch.Tensor:
    """Images (B, C, H, W) -- or (B, H, W) for one channel -- as numpy or torch, integers
    (scaled by the data's value range `max_value`) or floats already in [0, 1] -> float32
    (B, C, H, W) in [0, 1]: shape, channels, value range and finiteness checked. A tensor
    stays on its device (the Model moves it to its own)."""
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":  # strings, objects, complex numbers, dates
            raise VaekitError(f"expected images of numbers, got an array of {x.dtype}")
    elif x.is_complex():
        raise VaekitError(f"expected images of real numbers, got {x.dtype}")
    t = torch.as_tensor(x)
    if t.dim() == 3 and shape[0] == 1:
        t = t.unsqueeze(1)
    if t.dim() != 4 or tuple(t.shape[1:]) != tuple(shape):
        raise VaekitError(
            f"expected images shaped (B, {', '.join(map(str, shape))}), got {tuple(t.shape)}"
        )
    t = t.to(torch.float32) if t.is_floating_point() else scale(t, max_value)
    if t.numel() and (not torch.isfinite(t).all() or t.min() < 0 or t.max() > 1):
        raise VaekitError(
            f"pixel values must be finite and in [0, 1] as floats or [0, {max_value:g}] as integers"
        )
    return t


def record(schema: None, options: dict[str, Any]) -> None:
    """config.json's model.schema for images: none (their shape and value range say all)."""
    return None
