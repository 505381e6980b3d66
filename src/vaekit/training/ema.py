"""Polyak averaging (Polyak & Juditsky 1992): an exponential moving average of the weights,
    avg <- d_t * avg + (1 - d_t) * weights   after optimizer step t (0, 1, ...),
    d_t = min(decay, (1 + t) / (10 + t)),
starting from the initial weights. The warm-up of d_t (as in TensorFlow's
ExponentialMovingAverage with its number of updates) lets the average forget the random
initial weights within the first few hundred steps instead of the 1 / (1 - decay) it would
take at the full decay: with 0.999, 65% of the initial weights would remain after an epoch of
Fashion-MNIST. With --ema the average, not the last step's weights, is
what validation, the test line and model.safetensors use; training itself steps the raw
weights, and a checkpoint holds both so that a resumed run continues exactly.

Only parameters are averaged; buffers (none in vaekit's own networks) are the model's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class WeightAverage:
    """The moving average of `model`'s parameters, by parameter name."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"the decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.averages = {
            name: p.detach().clone(memory_format=torch.preserve_format)
            for name, p in model.named_parameters()
        }

    def decay_at(self, step: int) -> float:
        """d_t: the decay after optimizer step `step` (counted from 0)."""
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """The average after optimizer step `step`: toward the model's current parameters."""
        weight = 1 - self.decay_at(step)
        for name, p in model.named_parameters():
            self.averages[name].lerp_(p.detach(), weight)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the model's parameters with the average."""
        for name, p in model.named_parameters():
            p.copy_(self.averages[name])

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """The model holds the average inside the block, its own weights again after it."""
        with torch.no_grad():
            own = {name: p.detach().clone() for name, p in model.named_parameters()}
        self.copy_to(model)
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in model.named_parameters():
                    p.copy_(own[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.averages)

    @torch.no_grad()
    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        if set(tensors) != set(self.averages):
            raise ValueError("the averaged weights do not fit this model")
        for name, value in tensors.items():  # every one checked before any is taken
            if value.shape != self.averages[name].shape:
                raise ValueError(f"the averaged weight {name} has the wrong shape")
        for name, value in tensors.items():
            self.averages[name].copy_(value)


def averaged(model: nn.Module, average: WeightAverage | None) -> contextlib.AbstractContextManager:
    """The block runs with the averaged weights where there is an average (--ema)."""
    return average.applied(model) if average is not None else contextlib.nullcontext()
