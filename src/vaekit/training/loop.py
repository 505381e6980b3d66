"""The training loop: Adam on the batch mean of the per-example -ELBO, one pass per epoch.

Randomness: the shuffle of epoch e comes from a generator keyed by (seed, e) and the posterior
sample of step s from one keyed by (seed, s), so numbers never depend on how batches are split.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vaekit.data.batches import ImageSet, batch_indices, num_batches, step_generator
from vaekit.errors import VaekitError
from vaekit.models.vae import VAE

TERMS = ("loss", "rec", "kl")
# Evaluation passes draw their posterior samples from generators keyed apart from training's.
EVAL_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    val_fraction: float = 0.1

    def validate(self) -> None:
        if self.epochs < 1:
            raise VaekitError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise VaekitError(f"batch size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise VaekitError(f"learning rate must be positive, got {self.lr}")
        if not 0 <= self.val_fraction < 1:
            raise VaekitError(f"val fraction must be in [0, 1), got {self.val_fraction}")


class Callback:
    """Hooks into the loop; every method is optional."""

    def on_train_start(self, total_steps: int, steps_per_epoch: int) -> None: ...

    def on_step(self, step: int, epoch: int, loss: torch.Tensor) -> None: ...

    def on_epoch_end(self, record: dict[str, Any], model: VAE) -> None: ...

    def on_train_end(self) -> None: ...


def fit(
    model: VAE,
    train: ImageSet,
    val: ImageSet | None,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
) -> list[dict[str, Any]]:
    """Train `model` in place; returns one record per epoch (the metrics.jsonl schema)."""
    device = next(model.parameters()).device
    train, val = train.to(device), val.to(device) if val is not None else None
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps_per_epoch = num_batches(len(train), config.batch_size)
    for cb in callbacks:
        cb.on_train_start(steps_per_epoch * config.epochs, steps_per_epoch)
    history = []
    step = 0
    try:
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            model.train()
            sums = torch.zeros(3, device=device)
            for index in batch_indices(
                len(train), config.batch_size, shuffle=True, seed=config.seed, epoch=epoch
            ):
                out = model.loss(train.scaled(index), step_generator(config.seed, step, device))
                loss = out.loss.mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sums += torch.stack([out.loss.sum(), out.rec.sum(), out.kl.sum()]).detach()
                step += 1
                for cb in callbacks:
                    cb.on_step(step, epoch, loss.detach())
            train_terms = (sums / len(train)).tolist()
            if not math.isfinite(train_terms[0]):
                raise VaekitError(
                    f"the loss became {train_terms[0]} in epoch {epoch}: "
                    "try a lower learning rate (--lr)"
                )
            record: dict[str, Any] = {
                "epoch": epoch,
                "time_s": round(time.perf_counter() - start, 3),
                "train": dict(zip(TERMS, train_terms, strict=True)),
            }
            if val is not None:
                record["val"] = mean_loss(model, val, config.batch_size, config.seed)
            history.append(record)
            for cb in callbacks:
                cb.on_epoch_end(record, model)
    finally:
        for cb in callbacks:
            cb.on_train_end()
    return history


@torch.no_grad()
def mean_loss(model: VAE, data: ImageSet, batch_size: int, seed: int = 0) -> dict[str, float]:
    """Mean per-example -ELBO terms over `data` (one posterior sample each), in eval mode.

    The sample for the examples of batch i comes from a generator keyed by (seed, i), so the
    result depends only on the model, the data, the seed and the batch size.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(3, device=device)
    for i, index in enumerate(batch_indices(len(data), batch_size, shuffle=False)):
        x = data.scaled(index.to(data.images.device)).to(device)
        out = model.loss(x, step_generator(seed + EVAL_SEED_OFFSET, i, device))
        sums += torch.stack([out.loss.sum(), out.rec.sum(), out.kl.sum()])
    model.train(was_training)
    return dict(zip(TERMS, (sums / len(data)).tolist(), strict=True))
