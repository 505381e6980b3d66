"""The loop's hooks (Callback), and the callbacks that come with vaekit: a progress bar with
the running loss, and a time budget."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch

from vaekit.training.state import LoopState


class Callback:
    """Hooks into the loop; every method is optional. A callback that ends training (its
    should_stop) may say why in `stop_reason`, which metrics.jsonl's final line records as
    stopped_by ("pruned"); None: "callback"."""

    stop_reason: str | None = None

    def on_train_start(self, total_steps: int, state: LoopState) -> None: ...

    def on_step(self, step: int, epoch: int, loss: torch.Tensor) -> None: ...

    def on_epoch_end(self, record: dict[str, Any], state: LoopState) -> None: ...

    def should_stop(self, state: LoopState) -> bool:
        """Asked after each epoch: True ends training there (e.g. a time budget)."""
        return False

    def cut_epoch(self, state: LoopState) -> bool:
        """Asked after each step, where the loop asks (with a time budget): True ends the epoch
        there, and training after its validation pass."""
        return False

    def on_train_end(self) -> None: ...


class ProgressBar(Callback):
    """One tqdm bar over all steps, showing the epoch and the running (smoothed) loss."""

    def __init__(self, refresh_every: int = 10) -> None:
        self.refresh_every = refresh_every
        self.bar = None
        self.running: float | None = None

    def on_train_start(self, total_steps: int, state: LoopState) -> None:
        from vaekit.progress import bar_class  # tqdm's notebook form in Jupyter, as every bar

        self.bar = bar_class()(
            total=total_steps, initial=state.step, unit="step", dynamic_ncols=True, leave=True
        )

    def on_step(self, step: int, epoch: int, loss: torch.Tensor) -> None:
        if step % self.refresh_every:
            return
        value = loss.item()
        if not math.isfinite(value):  # a skipped step (training.recovery)
            return
        self.running = value if self.running is None else 0.9 * self.running + 0.1 * value
        self.bar.set_description(f"epoch {epoch}", refresh=False)
        self.bar.set_postfix(loss=f"{self.running:.2f}", refresh=False)
        self.bar.update(step - self.bar.n)  # negative after a rollback

    def on_epoch_end(self, record: dict[str, Any], state: LoopState) -> None:
        self.bar.update(state.step - self.bar.n)
        # (an epoch of fewer than refresh_every steps may have set no description of its own)
        self.bar.set_description(f"epoch {state.epoch}", refresh=False)
        summary = f"train {record['train']['loss']:.2f}"
        if "val" in record:
            summary += f" val {record['val']['loss']:.2f}"
        self.bar.set_postfix_str(summary)

    def on_train_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


class TimeBudget(Callback):
    """Stops training before it overruns `seconds` (--time-budget). After each epoch: when the
    next one would end past the budget, judged by the mean duration of the epochs this
    callback has seen (validation included). After each step: when the next step and the
    validation pass (`closing_steps`, in training steps' worth) would end past it, the epoch
    is cut short there (an epoch longer than the budget, the first one included, stops in
    time). At least one step runs. `clock` returns seconds (a monotonic clock; tests give a
    fake one)."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        closing_steps: float = 0.0,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.closing_steps = closing_steps
        self.start = 0.0
        self.first_epoch = 0
        self.first_step = 0

    def on_train_start(self, total_steps: int, state: LoopState) -> None:
        self.start = self.clock()
        self.first_epoch = state.epoch
        self.first_step = state.step

    def should_stop(self, state: LoopState) -> bool:
        done = state.epoch - self.first_epoch
        if done < 1:
            return False
        elapsed = self.clock() - self.start
        return elapsed + elapsed / done > self.seconds

    def cut_epoch(self, state: LoopState) -> bool:
        done = state.step - self.first_step
        if done < 1:
            return False
        elapsed = self.clock() - self.start
        return elapsed + elapsed / done * (1.0 + self.closing_steps) > self.seconds
