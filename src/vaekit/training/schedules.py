"""Schedules: the learning rate and the KL weight, pure functions of the config, the step and
the history, so that a resumed run follows the same ones."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from vaekit import components
from vaekit.errors import VaekitError

# --lr-schedule NAME -> its function (constant, cosine, plateau below, and any an installed
# package declares), imported when first asked for: the declarations are vaekit.components'.
LR_SCHEDULES: Mapping[str, Callable[..., float]] = components.LR_SCHEDULES.builders()

# --lr-schedule plateau: halve the learning rate after this many epochs without a better
# validation loss.
PLATEAU_EPOCHS, PLATEAU_FACTOR = 2, 0.5


class ScheduleOptions(Protocol):
    """The training options the schedules read (vaekit.training.loop.TrainConfig has them):
    named here so that the schedules depend on those four and not on the loop."""

    @property
    def lr(self) -> float: ...

    @property
    def lr_schedule(self) -> str: ...

    @property
    def beta(self) -> float: ...

    @property
    def kl_warmup(self) -> int: ...


def learning_rate(
    config: ScheduleOptions, history: Sequence[dict[str, Any]], step: int, total_steps: int
) -> float:
    """The learning rate for optimizer step `step` (0-based), by the schedule config.lr_schedule
    names (LR_SCHEDULES). A function of the config and the history only, so a resumed run
    follows the same schedule."""
    return LR_SCHEDULES[config.lr_schedule](config, history, step, total_steps)


def constant(
    config: ScheduleOptions, history: Sequence[dict[str, Any]], step: int, total_steps: int
) -> float:
    """lr, the same at every step."""
    return config.lr


def cosine(
    config: ScheduleOptions, history: Sequence[dict[str, Any]], step: int, total_steps: int
) -> float:
    """lr * (1 + cos(pi * step / total_steps)) / 2, annealed to 0 over the run (Loshchilov &
    Hutter 2017, without restarts)."""
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(step / max(total_steps, 1), 1)))


def plateau(
    config: ScheduleOptions, history: Sequence[dict[str, Any]], step: int, total_steps: int
) -> float:
    """lr, halved each time PLATEAU_EPOCHS epochs pass without a better validation (or,
    without one, training) loss."""
    lr, best, waited = config.lr, math.inf, 0
    for record in history:
        loss = (record.get("val") or record["train"])["loss"]
        if loss is not None and loss < best:
            best, waited = loss, 0
        else:
            waited += 1
            if waited >= PLATEAU_EPOCHS:
                lr, waited = lr * PLATEAU_FACTOR, 0
    return lr


def kl_weight(config: ScheduleOptions, step: int) -> float:
    """beta, ramped up linearly over the first kl_warmup steps (from beta / kl_warmup)."""
    return config.beta * warmup_fraction(config, step)


def warmup_fraction(config: ScheduleOptions, step: int) -> float:
    """How far the KL warm-up is at `step`: (step + 1) / kl_warmup up to 1; 1 without one."""
    if config.kl_warmup:
        return min(1.0, (step + 1) / config.kl_warmup)
    return 1.0


def check_kl_options(vae: Any, config: Any) -> None:
    """Refuse the KL options (of a TrainConfig) that `vae` gives nothing to act on: a model
    whose KL is a constant (a point posterior over codes, vqvae: `kl_is_constant`) takes no
    option that reweights or resamples it (--iw-train would label the same bound importance-
    weighted); --free-bits needs a closed-form KL per dimension."""
    if getattr(vae, "kl_is_constant", False):
        knobs = {
            "--iw-train": config.iw_train > 1,
            "--beta": config.beta != 1,
            "--kl-warmup": bool(config.kl_warmup),
            "--free-bits": config.free_bits > 0,
        }
        given = [name for name, on in knobs.items() if on]
        if given:
            raise VaekitError(
                f"{given[0]}: this model's posterior is a point and its KL a constant (the "
                "code prior's), so it takes no --iw-train, --beta, --kl-warmup or --free-bits"
            )
    if config.free_bits > 0 and getattr(vae, "flow", None) is not None:
        raise VaekitError(
            "--free-bits needs a closed-form KL per dimension, which a flow posterior "
            "(--flow-steps) does not have: use --kl-warmup instead"
        )
    if config.free_bits > 0 and not vae.has_kl_per_dim:
        raise VaekitError(
            "--free-bits needs a prior with a closed-form KL per dimension "
            "(the standard-normal prior, or --model hvae)"
        )


def schedule_moved(config: Any, state: Any, began: int | None) -> str | None:
    """Where resuming with config.epochs, when the run `began` with another count, changes
    the learning rate at the resumed step (a schedule over the run's length, as cosine):
    what to tell the user; else None. Asked of the schedule itself, at the resumed epoch's
    start, with a nominal 1,000 steps an epoch."""
    if began is None or began == config.epochs or state.epoch == 0:
        return None
    step = state.epoch * 1000
    before = LR_SCHEDULES[config.lr_schedule](config, state.history, step, began * 1000)
    after = LR_SCHEDULES[config.lr_schedule](config, state.history, step, config.epochs * 1000)
    if math.isclose(before, after):
        return None
    return (
        f"--lr-schedule {config.lr_schedule} spans --epochs: this run began with {began}, so "
        f"from epoch {state.epoch + 1} its rate follows the schedule over {config.epochs} "
        f"(from {before:.3g} it jumps to {after:.3g}), and the run differs from an "
        f"uninterrupted {config.epochs}-epoch one"
    )
