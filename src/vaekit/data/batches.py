"""The image store, split carving, the batch iterator and per-batch transforms.

Images stay in their stored type (uint8, or float32 in [0, 1]) in one tensor -- in memory, or a
memory-mapped file for data larger than memory; a batch is an index into it, and scaling to
[0, 1] happens per batch. No per-example Python work.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from vaekit.randomness import step_generator

CHUNK = 2048  # rows per pass when a whole set is scanned (statistics, checks)

# What the pixel values are, as the data's source declares them (never guessed from the values
# seen): "binary" (0 or the maximum), "8-bit" (integers 0..255), "discrete" (integers
# 0..max_value, another number of levels) or "continuous" (floats in [0, 1]). Another kind's
# examples (a table's rows, a series' windows) are of no pixel kind.
PIXEL_KINDS = ("binary", "8-bit", "discrete", "continuous")


def pixels_for(dtype: torch.dtype, max_value: float) -> str:
    """The pixel kind a stored type and value range declare by themselves: floats are
    continuous; integers 0..1 binary, 0..255 8-bit, any other range discrete."""
    if dtype.is_floating_point:
        return "continuous"
    return {1: "binary", 255: "8-bit"}.get(int(max_value), "discrete")


class ImageSet:
    """A set of images: some rows of a storage tensor (N, C, H, W), uint8 or float32, with
    labels (N,) int64 or None, values 0..max_value of the kind `pixels` (one of PIXEL_KINDS,
    as the source declares it; by default what the type and max_value declare, pixels_for).
    Subsets are views (a list of rows), never copies, so carving validation and test splits
    out of a memory-mapped array costs no memory."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None,
        max_value: float,
        rows: torch.Tensor | None = None,
        mapped: bool = False,
        pixels: str | None = None,
        ids: list[str] | None = None,
    ) -> None:
        self.storage = images
        self.storage_labels = labels
        self.max_value = max_value
        self.rows = rows
        self.mapped = mapped  # the storage is a memory-mapped file: never copy it whole
        self.pixels = pixels or pixels_for(images.dtype, max_value)
        self.storage_ids = ids  # a name per storage row (a table's row ids), or None

    @property
    def ids(self) -> list[str] | None:
        """The name of each example of the set, where the storage has names."""
        if self.storage_ids is None or self.rows is None:
            return self.storage_ids
        return [self.storage_ids[i] for i in self.rows.tolist()]

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else self.storage.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.storage.shape[1:])  # type: ignore[return-value]

    @property
    def dtype(self) -> torch.dtype:
        return self.storage.dtype

    @property
    def labels(self) -> torch.Tensor | None:
        if self.storage_labels is None or self.rows is None:
            return self.storage_labels
        return self.storage_labels[self.rows]

    @property
    def images(self) -> torch.Tensor:
        """All the set's images as one tensor (a copy for a subset: mind large sets)."""
        return self.storage if self.rows is None else self.storage[self.rows]

    def take(self, index: torch.Tensor | slice) -> torch.Tensor:
        """The stored images at `index` (positions in this set): (B, C, H, W)."""
        if isinstance(index, torch.Tensor) and index.dtype != torch.bool:  # positions:
            # index_select, several times faster than [index] on a CPU
            rows = index if self.rows is None else self.rows[index]
            return self.storage.index_select(0, rows.to(self.storage.device))
        if self.rows is None:
            return self.storage[index]
        return self.storage[self.rows[index]]

    def scaled(self, index: torch.Tensor | slice) -> torch.Tensor:
        """The images at `index` as float32 in [0, 1]: (B, C, H, W)."""
        return scale(self.take(index), self.max_value)

    def subset(self, index: torch.Tensor) -> ImageSet:
        rows = index if self.rows is None else self.rows[index]
        return ImageSet(
            self.storage,
            self.storage_labels,
            self.max_value,
            rows,
            self.mapped,
            self.pixels,
            self.storage_ids,
        )

    def chunks(self) -> Iterator[torch.Tensor]:
        """The stored images, CHUNK rows at a time, in order."""
        for start in range(0, len(self), CHUNK):
            yield self.take(slice(start, start + CHUNK))

    def to(self, device: torch.device | str) -> ImageSet:
        """The set with its storage on `device`; a memory-mapped set stays where it is (the
        loop moves each batch)."""
        if self.mapped or self.storage.device == torch.device(device):
            return self
        labels = self.labels.to(device) if self.labels is not None else None
        # Only this set's rows.
        return ImageSet(
            self.images.to(device), labels, self.max_value, pixels=self.pixels, ids=self.ids
        )


def scale(images: torch.Tensor, max_value: float) -> torch.Tensor:
    """Stored pixel values -> float32 in [0, 1], a new tensor. Integer pixels in one pass (the
    division converts them as it goes: the same values as converting first)."""
    if images.is_floating_point() and images.dtype != torch.float32:
        images = images.float()
    scaled = torch.div(images, max_value)
    return scaled if scaled.dtype == torch.float32 else scaled.float()


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
    bits = [
        torch.bernoulli(scale(c.cpu(), data.max_value), generator=generator) for c in data.chunks()
    ]
    return ImageSet(torch.cat(bits).to(torch.uint8), data.labels, 1.0, pixels="binary")


def is_binary(data: ImageSet) -> bool:
    """Whether the set's pixels are declared binary (by its source, or by the user)."""
    return data.pixels == "binary"


def only_zero_or_max(data: ImageSet) -> bool:
    """Whether every stored value is 0 or the maximum: a binary declaration fits the data."""
    return all(bool(((c == 0) | (c == data.max_value)).all()) for c in data.chunks())


def seeded_subset(n: int, count: int, seed: int) -> torch.Tensor:
    """`count` of range(n) chosen at random with `seed`, sorted."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:count].sort().values


NOISE_KINDS = ("gaussian", "saltpepper", "mask")


def parse_noise(spec: str) -> tuple[str, float]:
    """'gaussian:0.3' -> ("gaussian", 0.3): additive N(0, 0.3^2), clipped to [0, 1];
    'saltpepper:0.1' -> 10% of pixels set to 0 or 1; 'mask:0.25' -> 25% of pixels set to 0."""
    kind, _, amount = spec.partition(":")
    try:
        value = float(amount)
    except ValueError:
        value = -1.0
    # (not finite: an infinite std turns every pixel to 0 or 1, a picture of nothing)
    if kind not in NOISE_KINDS or not 0 < value < math.inf or (kind != "gaussian" and value > 1):
        raise ValueError(
            f"noise {spec!r}: expected gaussian:STD, saltpepper:FRACTION or mask:FRACTION"
        )
    return kind, value


def corrupt(
    x: torch.Tensor,
    kind: str,
    amount: float,
    generator: torch.Generator,
    rows: slice | None = None,
    total: int | None = None,
) -> torch.Tensor:
    """A corrupted copy of images x in [0, 1] (see parse_noise). With `rows` (x's place in a
    batch of `total` split over processes), the draws are made for the whole batch and x's
    rows taken, so the noise does not depend on how the batch is split."""

    def draw(make, shape: tuple[int, ...]) -> torch.Tensor:
        if rows is None:
            return make(shape, generator=generator, device=x.device)
        return make((total, *shape[1:]), generator=generator, device=x.device)[rows]

    if kind == "gaussian":
        noise = draw(torch.randn, tuple(x.shape)).to(x.dtype)
        return (x + amount * noise).clamp_(0, 1)
    # One draw per pixel position, shared by the channels of a color image.
    u = draw(torch.rand, (x.shape[0], 1, *x.shape[2:]))
    hit = (u < amount).expand_as(x)
    if kind == "mask":
        return x.masked_fill(hit, 0.0)
    salt = (u < amount / 2).expand_as(x).to(x.dtype)
    return torch.where(hit, salt, x)
