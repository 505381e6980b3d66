"""The in-memory image store, split carving, the batch iterator and per-batch scaling.

Images stay in their stored type (uint8, or float32 in [0, 1]) in one tensor; a batch is an
index into it, and scaling to [0, 1] happens per batch. No per-example Python work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass
class ImageSet:
    """images: (N, C, H, W) uint8 or float32; labels: (N,) int64 or None."""

    images: torch.Tensor
    labels: torch.Tensor | None
    max_value: float

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: torch.Tensor) -> ImageSet:
        labels = self.labels[index] if self.labels is not None else None
        return ImageSet(self.images[index], labels, self.max_value)

    def to(self, device: torch.device | str) -> ImageSet:
        labels = self.labels.to(device) if self.labels is not None else None
        return ImageSet(self.images.to(device), labels, self.max_value)

    def scaled(self, index: torch.Tensor | slice) -> torch.Tensor:
        """The images at `index` as float32 in [0, 1]: (B, C, H, W)."""
        return scale(self.images[index], self.max_value)


def scale(images: torch.Tensor, max_value: float) -> torch.Tensor:
    """Stored pixel values -> float32 in [0, 1]."""
    return images.to(torch.float32).div_(max_value)


def carve(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split range(n) at random into (kept, carved), `fraction` of n carved; sorted indices.

    The permutation depends only on (n, seed), so the same seed always carves the same examples.
    """
    count = round(n * fraction)
    if fraction > 0:
        count = max(count, 1)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    return order[count:].sort().values, order[:count].sort().values


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator keyed by (seed, step): a step's randomness depends on nothing else."""
    # Mix the two integers into one 63-bit seed (a splitmix-style odd multiplier).
    key = (seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 1) % (2**63)
    return torch.Generator(device=device).manual_seed(key)


def batch_indices(
    n: int,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    epoch: int = 0,
    drop_last: bool = False,
) -> Iterator[torch.Tensor]:
    """Index tensors for one pass over n examples; the shuffle is keyed by (seed, epoch)."""
    if shuffle:
        order = torch.randperm(n, generator=step_generator(seed, -1 - epoch))
    else:
        order = torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)


def binarize_once(data: ImageSet, seed: int) -> ImageSet:
    """A fixed binarization: each pixel ~ Bernoulli(intensity), drawn once with `seed`.

    Evaluation of a model trained with dynamic binarization scores these bits, so two runs
    evaluated with the same seed see identical data. Returns uint8 {0, 1} with max_value 1.
    """
    generator = torch.Generator().manual_seed(seed)
    bits = torch.bernoulli(scale(data.images.cpu(), data.max_value), generator=generator)
    return ImageSet(bits.to(torch.uint8), data.labels, 1.0)


def is_binary(data: ImageSet) -> bool:
    """True when every pixel is 0 or the maximum value."""
    images = data.images
    return bool(((images == 0) | (images == data.max_value)).all())


def seeded_subset(n: int, count: int, seed: int) -> torch.Tensor:
    """`count` of range(n) chosen at random with `seed`, sorted."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:count].sort().values
