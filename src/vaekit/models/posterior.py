"""Posterior summaries of a whole image set, batch by batch: the features that embeddings,
linear probes and the latent anomaly score read. Every family answers through
`VAE.posterior_moments` (exact for one Gaussian layer, Monte Carlo for a hierarchy).
"""

from __future__ import annotations

from typing import Protocol

import torch

from vaekit.models.vae import VAE


class Examples(Protocol):
    """What is read of a set of examples (a vaekit.data.batches.ImageSet, say): its size, its
    labels (N,) or None, and the examples at some indices, scaled as the model takes them."""

    labels: torch.Tensor | None

    def __len__(self) -> int: ...

    def scaled(self, index: torch.Tensor) -> torch.Tensor: ...


@torch.no_grad()
def posterior_moments_of(
    model: VAE, data: Examples, batch_size: int = 256, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The posterior mean and standard deviation of every image (given its label, for a
    conditional VAE), or of the first `limit` only: two (N, Z) tensors on the CPU."""
    device = next(model.parameters()).device
    labels = data.labels if model.num_classes else None
    if model.num_classes and labels is None:
        raise ValueError("a conditional VAE needs the labels of the images")
    # Filled in place: small per-batch results kept between the batches' large inputs would
    # pin the heap, and the allocator then kept about 130 MB more on a 516 MB memory-mapped
    # set (tests/data/test_larger_than_memory.py).
    count = len(data) if limit is None else min(limit, len(data))
    means = torch.empty(count, model.latent_dim)
    stds = torch.empty(count, model.latent_dim)
    for index in torch.arange(count).split(batch_size):  # in order
        y = labels[index].to(device) if labels is not None else None
        mean, std = model.posterior_moments(data.scaled(index).to(device), y)
        means[index] = mean.cpu()
        stds[index] = std.cpu()
    return means, stds
