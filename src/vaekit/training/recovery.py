"""What the loop does when a step goes wrong: a step whose loss or gradient is NaN or infinite
is skipped (no optimizer update) and counted; after `rollback_after` of them in a row, or
weights that became non-finite by the end of an epoch, training goes back to the last
checkpoint -- the state at the end of the last finished epoch, which the loop keeps in memory
as well -- with the learning rate lowered; an epoch that still cannot finish after
`max_rollbacks` rollbacks stops training with an error.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from vaekit.training.state import LoopState

# Each rollback multiplies the learning rate (of every later step) by this factor.
ROLLBACK_LR_FACTOR = 0.5


class Diverged(Exception):
    """Raised inside an epoch that cannot go on; the loop rolls back (or gives up)."""


class NothingLearned(Exception):
    """Raised at the end of an epoch none of whose steps had a finite loss and gradient:
    not an epoch; the loop trains it again from where it is (the skipped steps in a row go
    on counting, so a NaN that persists still ends in a rollback)."""


@dataclass
class Faults:
    """The non-finite steps met while training one epoch, over all its attempts."""

    skipped: int = 0  # steps skipped, including those of attempts undone by a rollback
    rollbacks: int = 0  # rollbacks to the previous checkpoint during this epoch
    in_row: int = 0  # skipped steps in a row up to now (across epoch ends)


def lr_factor(history: Sequence[dict[str, Any]], faults: Faults) -> float:
    """The learning rate's multiplier after every rollback so far: those recorded in the
    history (finished epochs) and those of the epoch being trained."""
    done = sum(record.get("rollbacks", 0) for record in history)
    return ROLLBACK_LR_FACTOR ** (done + faults.rollbacks)


def gradient_norm(
    model: torch.nn.Module | Iterable[torch.nn.Parameter], clip: float | None
) -> torch.Tensor:
    """The global gradient norm of a model's parameters (or of the parameters given: the
    training loop lists them once), NaN or inf when any gradient is, clipped to `clip` first
    where asked; a tensor, so that checking it costs one synchronization per step."""
    every = model.parameters() if isinstance(model, torch.nn.Module) else model
    params = [p for p in every if p.grad is not None]
    if not params:
        return torch.zeros(())
    if clip is not None:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    return torch.stack([_square_sum(p.grad) for p in params]).sum().sqrt()


def _square_sum(t: torch.Tensor) -> torch.Tensor:
    """sum(t ** 2): a dot product where t is a dense float32/64 block (on a CPU about twice as
    fast as torch.linalg.vector_norm), the norm squared otherwise. Either overflows to inf
    past float's range, as the norm itself does."""
    if t.is_contiguous() and t.dtype in (torch.float32, torch.float64):
        flat = t.view(-1)
        return torch.dot(flat, flat)
    return torch.linalg.vector_norm(t).square()


def weights_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values()
               if t.is_floating_point())  # fmt: skip


def match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor its parameter's memory layout.

    Saved and copied state is contiguous, while conv weights live channels-last; fused
    optimizers walk parameter and state memory in step, so a state tensor with other strides
    than its parameter would be updated against the wrong elements.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            values = optimizer.state.get(p, {})
            for key, value in values.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == p.shape
                    and value.stride() != p.stride()
                ):
                    values[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def _cpu_copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _cpu_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cpu_copy(v) for v in value]
    return copy.deepcopy(value)


@dataclass
class Snapshot:
    """A copy (in CPU memory) of everything a checkpoint holds: where a rollback returns."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    epoch: int
    step: int
    history: list[dict[str, Any]]
    rng: torch.Tensor
    ema: dict[str, torch.Tensor] | None = None

    @classmethod
    def take(cls, state: LoopState) -> Snapshot:
        return cls(
            _cpu_copy(state.model.state_dict()),
            _cpu_copy(state.optimizer.state_dict()),
            state.epoch,
            state.step,
            list(state.history),
            torch.get_rng_state(),
            _cpu_copy(state.ema.state_dict()) if state.ema is not None else None,
        )

    def restore(self, state: LoopState) -> None:
        state.model.load_state_dict(self.model)
        state.optimizer.load_state_dict(_cpu_copy(self.optimizer))
        match_parameter_layouts(state.optimizer)
        torch.set_rng_state(self.rng)
        if state.ema is not None and self.ema is not None:
            state.ema.load_state_dict(self.ema)
        state.epoch, state.step, state.history = self.epoch, self.step, list(self.history)
