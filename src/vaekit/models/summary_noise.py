"""The fixed quasi-random noise behind Monte Carlo posterior summaries.

Where a posterior's mean and standard deviation have no closed form (a hierarchy's layers
below the top, a flow posterior), they are estimated from a few posterior draws. Those draws
come from this noise, the same for every example, so that a summary is deterministic and
does not depend on the batch it is computed in. One home for it, so that the flat VAE (with
a flow) and the hierarchies summarize the same way.
"""

from __future__ import annotations

import torch

SUMMARY_SEED = 0


def summary_noise(samples: int, dims: int) -> torch.Tensor:
    """The fixed standard normal noise (samples, dims) behind the posterior summaries: a
    scrambled Sobol sequence (Owen 1998) through the normal quantile function, which covers
    the space more evenly than independent draws (randomized quasi-Monte Carlo). Made on the
    CPU, so it is the same on every device."""
    sobol = torch.quasirandom.SobolEngine(dims, scramble=True, seed=SUMMARY_SEED)
    return torch.special.ndtri(sobol.draw(samples).clamp(1e-7, 1 - 1e-7))
