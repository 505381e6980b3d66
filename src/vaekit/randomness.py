"""Random streams keyed by integers: a step's, an epoch's shuffle's, an example's posterior
draws. Each depends on its key and nothing else (not on what ran before it), which is what
makes resumed, distributed and chunked runs draw the numbers one uninterrupted process
would."""

from __future__ import annotations

import torch


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator keyed by (seed, step): a step's randomness depends on nothing else."""
    # Mix the two integers into one 63-bit seed (a splitmix-style odd multiplier).
    key = (seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 1) % (2**63)
    return torch.Generator(device=device).manual_seed(key)
