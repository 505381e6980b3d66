"""Inverse autoregressive flow (IAF) on top of a Gaussian posterior: Kingma, Salimans,
Jozefowicz, Chen, Sutskever & Welling, "Improved Variational Inference with Inverse
Autoregressive Flow" (NeurIPS 2016).

z_0 = mean + std * eps comes from the encoder's diagonal Gaussian; each step t maps
    [m, s] = MADE_t(z_{t-1}, h),  sigma = sigmoid(s),  z_t = sigma * z_{t-1} + (1 - sigma) * m,
where MADE_t is autoregressive in z (output i sees only inputs before i, in the step's order,
Germain et al. 2015) and h is a context vector that the encoder computes from x. The Jacobian
of each step is triangular with diagonal sigma, so
    log q(z_T|x) = log q(z_0|x) - sum_t sum_i log sigma_t,i      (exact).
The order of the dimensions is reversed between steps, so that every dimension may depend on
every other one after two steps.

Shapes: N rows (examples x samples), Z latent dims, H context width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# sigmoid(2) ~ 0.88: each step starts close to the identity, as the paper's forget-gate bias.
GATE_BIAS = 2.0


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (out, in)."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(torch.get_default_dtype()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_masks(dims: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MADE's masks for Z = dims inputs in their natural order and two hidden layers: input
    i has degree i + 1, a hidden unit degree k in 1..Z-1 (it may see inputs of degree <= k),
    and output i (both m_i and s_i) sees hidden units of degree < i + 1 only."""
    degrees_in = torch.arange(1, dims + 1)
    degrees_hidden = torch.arange(hidden) % max(1, dims - 1) + 1
    first = degrees_hidden[:, None] >= degrees_in[None, :]
    second = degrees_hidden[:, None] >= degrees_hidden[None, :]
    last = degrees_in[:, None] > degrees_hidden[None, :]
    return first, second, torch.cat([last, last])


class IAFStep(nn.Module):
    """One IAF step: z (N, Z), context h (N, H) -> (z', log det (N,))."""

    def __init__(self, dims: int, context: int, hidden: int) -> None:
        super().__init__()
        first, second, last = made_masks(dims, hidden)
        self.first = MaskedLinear(first)
        self.context = nn.Linear(context, hidden)
        self.second = MaskedLinear(second)
        self.out = MaskedLinear(last)
        with torch.no_grad():
            self.out.weight.mul_(0.1)  # a small start: m and s near their biases
            self.out.bias.zero_()
            self.out.bias[dims:].fill_(GATE_BIAS)

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = F.elu(self.first(z) + self.context(h))
        a = F.elu(self.second(a))
        m, s = self.out(a).chunk(2, dim=-1)
        # The numerically stable form: sigma in (0, 1), so z' is a convex mix of z and m.
        sigma = torch.sigmoid(s)
        return sigma * z + (1 - sigma) * m, F.logsigmoid(s).sum(-1)


class IAF(nn.Module):
    """`steps` IAF steps, the dimensions' order reversed between them."""

    def __init__(self, dims: int, context: int, hidden: int, steps: int) -> None:
        super().__init__()
        self.steps = nn.ModuleList(IAFStep(dims, context, hidden) for _ in range(steps))

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z_0 (N, Z), context (N, H) -> z_T (N, Z) and sum_t log |det dz_t/dz_{t-1}| (N,)."""
        log_det = torch.zeros_like(z[..., 0])
        for index, step in enumerate(self.steps):
            if index:
                z = z.flip(-1)
            z, step_log_det = step(z, h)
            log_det = log_det + step_log_det
        return z, log_det
