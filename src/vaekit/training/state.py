"""Where training stands: the model, its optimizer, the epochs and steps done, the history.

Its own module because the loop, its callbacks, recovery and the checkpoints all read it,
and the loop imports them: each of them imports this, not the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from vaekit.models.vae import VAE
from vaekit.training.ema import WeightAverage


@dataclass
class LoopState:
    """Where training stands after `epoch` epochs and `step` optimizer steps."""

    model: VAE
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    ema: WeightAverage | None = None  # the weights' moving average, with --ema
    # float16's gradient scaler (GradScaler.state_dict(): numbers only) at the last epoch end
    scaler: dict[str, Any] | None = None
    # --objective's part beside the loss (vaekit.training.objectives.TrainingObjective: a
    # discriminator and its optimizer, for factorvae), None for the plain loss
    objective: Any = None
    # non-finite steps skipped in a row at the last epoch end: the count that triggers a
    # rollback runs across epoch ends, so a resumed run must start from it
    skipped_in_row: int = 0
