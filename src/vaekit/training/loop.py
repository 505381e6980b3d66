"""The training loop: an optimizer on the batch mean of the per-example -ELBO, one pass per
epoch, extended by callbacks (progress, run files, checkpoints).

Randomness: the shuffle of epoch e comes from a generator keyed by (seed, e); the binarization
and posterior sample of step s from one keyed by (seed, s). So the numbers never depend on how
batches are split, and a run resumed from a checkpoint replays exactly what it would have done.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vaekit.data.batches import (
    ImageSet,
    batch_indices,
    binarize_once,
    corrupt,
    num_batches,
    parse_noise,
    step_generator,
)
from vaekit.errors import VaekitError
from vaekit.models.importance import importance_terms
from vaekit.models.vae import VAE, LossOutput, Objective
from vaekit.train_options import DEFAULTS as _D
from vaekit.train_options import TRAIN_OPTIONS

LR_SCHEDULES = ("constant", "cosine", "plateau")
# --lr-schedule plateau: halve the learning rate after this many epochs without a better
# validation loss.
PLATEAU_EPOCHS, PLATEAU_FACTOR = 2, 0.5
# The most values one step's likelihood parameters may take (examples x importance samples x
# pixel values x numbers per value): 2**32 float32s are 16 GiB before activations and
# gradients, beyond any sane batch; more is an option value asking for an absurd allocation.
MAX_STEP_VALUES = 1 << 32


def _fused(
    cls: type[torch.optim.Optimizer], **options: Any
) -> Callable[..., torch.optim.Optimizer]:
    """The fused implementation (one kernel over all parameters: about 2x faster per step
    for an MLP on a 2-core CPU), falling back to the default one where fusing is unsupported.
    """

    def make(params: Any, lr: float) -> torch.optim.Optimizer:
        params = list(params)
        try:
            return cls(params, lr=lr, fused=True, **options)
        except (RuntimeError, TypeError):
            return cls(params, lr=lr, **options)

    return make


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": _fused(torch.optim.Adam),
    "adamw": _fused(torch.optim.AdamW),
    "sgd": _fused(torch.optim.SGD, momentum=0.9),
}


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: the training options (declared, with their defaults and help,
    in vaekit.train_options)."""

    epochs: int = _D["epochs"]
    batch_size: int = _D["batch_size"]
    lr: float = _D["lr"]
    seed: int = _D["seed"]
    val_fraction: float = _D["val_fraction"]
    optimizer: str = _D["optimizer"]
    binarize: bool = _D["binarize"]  # a fresh Bernoulli draw of the pixel intensities each batch
    train_noise: str | None = _D["train_noise"]  # "gaussian:0.3" etc.: a denoising VAE
    beta: float = _D["beta"]  # KL weight (beta-VAE)
    kl_warmup: int = _D["kl_warmup"]  # steps over which the KL weight rises from 0 to beta
    free_bits: float = _D["free_bits"]  # floor (nats) under each dimension's batch-mean KL
    iw_train: int = _D["iw_train"]  # K > 1: train on the importance-weighted bound
    patience: int | None = _D["patience"]  # stop after this many epochs without a better val
    lr_schedule: str = _D["lr_schedule"]
    clip_grad: float | None = _D["clip_grad"]  # max global gradient norm

    def validate(self) -> None:
        """Each option against its declaration, then the combinations."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        TRAIN_OPTIONS.check(values, "training")
        if self.optimizer not in OPTIMIZERS or self.lr_schedule not in LR_SCHEDULES:
            raise VaekitError(f"unknown optimizer or lr schedule in {self}")
        if self.iw_train > 1 and (self.beta != 1 or self.kl_warmup or self.free_bits):
            raise VaekitError(
                "--iw-train trains the importance-weighted bound itself: it cannot be combined "
                "with --beta, --kl-warmup or --free-bits"
            )
        if self.train_noise is not None:
            try:
                parse_noise(self.train_noise)
            except ValueError as err:
                raise VaekitError(f"--train-noise: {err}") from None


@dataclass
class LoopState:
    """Where training stands after `epoch` epochs and `step` optimizer steps."""

    model: VAE
    optimizer: torch.optim.Optimizer
    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


class Callback:
    """Hooks into the loop; every method is optional."""

    def on_train_start(self, total_steps: int, state: LoopState) -> None: ...

    def on_step(self, step: int, epoch: int, loss: torch.Tensor) -> None: ...

    def on_epoch_end(self, record: dict[str, Any], state: LoopState) -> None: ...

    def should_stop(self, state: LoopState) -> bool:
        """Asked after each epoch: True ends training there (e.g. a time budget)."""
        return False

    def on_train_end(self) -> None: ...


def make_state(model: VAE, config: TrainConfig) -> LoopState:
    """A fresh LoopState: the optimizer over the model's parameters, nothing trained yet."""
    return LoopState(model, OPTIMIZERS[config.optimizer](model.parameters(), config.lr))


def fit(
    model: VAE,
    train: ImageSet,
    val: ImageSet | None,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    state: LoopState | None = None,
) -> list[dict[str, Any]]:
    """Train `model` in place from `state` (default: from scratch) up to `config.epochs`.

    Returns the history: one record per epoch, the metrics.jsonl schema.
    """
    state = state or make_state(model, config)
    if val is None and config.patience is not None:
        raise VaekitError("--patience needs a validation split (--val-fraction > 0)")
    check_step_size(model, train, config)
    device = next(model.parameters()).device
    train, val = train.to(device), val.to(device) if val is not None else None
    steps_per_epoch = num_batches(len(train), config.batch_size)
    for cb in callbacks:
        cb.on_train_start(steps_per_epoch * config.epochs, state)
    try:
        for epoch in range(state.epoch + 1, config.epochs + 1):
            if should_stop(state.history, config.patience):
                break
            record = _train_epoch(state, train, config, epoch, steps_per_epoch, callbacks)
            if val is not None:
                record["val"] = mean_loss(
                    model, val, config.batch_size, config.seed, config.binarize, config.iw_train
                )
            state.epoch = epoch
            state.history.append(record)
            for cb in callbacks:
                cb.on_epoch_end(record, state)
            if any(cb.should_stop(state) for cb in callbacks):
                break
    finally:
        for cb in callbacks:
            cb.on_train_end()
    return state.history


def check_step_size(model: VAE, train: ImageSet, config: TrainConfig) -> None:
    """Refuse a batch size and --iw-train whose steps would hold more than MAX_STEP_VALUES
    likelihood parameters, before any of them is allocated."""
    per_value = getattr(model.likelihood, "params_per_channel", 1)
    values = min(config.batch_size, len(train)) * config.iw_train
    values *= math.prod(train.shape) * per_value
    if values > MAX_STEP_VALUES:
        raise VaekitError(
            f"one training step would hold {values:,} likelihood parameters "
            f"({min(config.batch_size, len(train)):,} examples x {config.iw_train:,} samples x "
            f"{math.prod(train.shape):,} values x {per_value} each), more than the "
            f"{MAX_STEP_VALUES:,} vaekit allows: lower --batch-size or --iw-train"
        )


def best_epoch(history: Sequence[dict[str, Any]]) -> int | None:
    """The epoch with the lowest validation -ELBO (the first of equals), None without one."""
    scored = [(r["val"]["loss"], r["epoch"]) for r in history if r.get("val")]
    scored = [(loss, e) for loss, e in scored if loss is not None and math.isfinite(loss)]
    return min(scored)[1] if scored else None


def should_stop(history: Sequence[dict[str, Any]], patience: int | None) -> bool:
    """Early stopping: `patience` epochs have passed since the best validation epoch."""
    best = best_epoch(history)
    return patience is not None and best is not None and history[-1]["epoch"] - best >= patience


def learning_rate(
    config: TrainConfig, history: Sequence[dict[str, Any]], step: int, total_steps: int
) -> float:
    """The learning rate for optimizer step `step` (0-based). A function of the config and the
    history only, so a resumed run follows the same schedule.

    cosine: lr * (1 + cos(pi * step / total_steps)) / 2, annealed to 0 over the run
    (Loshchilov & Hutter 2017, without restarts). plateau: halved each time PLATEAU_EPOCHS
    epochs pass without a better validation (or, without one, training) loss.
    """
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(step / max(total_steps, 1), 1)))
    if config.lr_schedule == "plateau":
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
    return config.lr


def kl_weight(config: TrainConfig, step: int) -> float:
    """beta, ramped up linearly over the first kl_warmup steps (from beta / kl_warmup)."""
    if config.kl_warmup:
        return config.beta * min(1.0, (step + 1) / config.kl_warmup)
    return config.beta


def _train_epoch(
    state: LoopState,
    train: ImageSet,
    config: TrainConfig,
    epoch: int,
    steps_per_epoch: int,
    callbacks: Sequence[Callback],
) -> dict[str, Any]:
    model, optimizer = state.model, state.optimizer
    device = next(model.parameters()).device
    start = time.perf_counter()
    model.train()
    noise = parse_noise(config.train_noise) if config.train_noise else None
    labels = _labels_for(model, train)
    total_steps = steps_per_epoch * config.epochs
    layers = _LayerKL(model)
    lr = learning_rate(config, state.history, state.step, total_steps)
    sums = torch.zeros(3, device=device)
    for index in batch_indices(
        len(train), config.batch_size, shuffle=True, seed=config.seed, epoch=epoch
    ):
        generator = step_generator(config.seed, state.step, device)
        x = train.scaled(index.to(train.storage.device)).to(device, non_blocking=True)
        y = labels[index.to(labels.device)].to(device) if labels is not None else None
        if config.binarize:
            x = torch.bernoulli(x, generator=generator)
        objective = Objective(kl_weight(config, state.step), config.free_bits, config.iw_train)
        if config.lr_schedule == "cosine":
            lr = learning_rate(config, state.history, state.step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if noise is not None:
            out = model.loss(corrupt(x, *noise, generator), generator, x, y, objective)
        else:
            out = model.loss(x, generator, None, y, objective)
        loss = out.objective.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
        optimizer.step()
        sums += torch.stack([out.loss.sum(), out.rec.sum(), out.kl.sum()]).detach()
        layers.add(out)
        state.step += 1
        for cb in callbacks:
            cb.on_step(state.step, epoch, loss.detach())
    bound, rec, kl = (sums / len(train)).tolist()
    if not math.isfinite(bound):
        raise VaekitError(
            f"the loss became {bound} in epoch {epoch}: try a lower learning rate (--lr)"
        )
    record: dict[str, Any] = {
        "epoch": epoch,
        "time_s": round(time.perf_counter() - start, 3),
        "loss_is": loss_name(config.iw_train),
        "train": {**split_terms(bound, rec, kl, config.iw_train), **layers.result(len(train))},
    }
    if config.lr_schedule != "constant":
        record["lr"] = lr
    return record


def _labels_for(model: VAE, data: ImageSet) -> torch.Tensor | None:
    """The labels a conditional model needs (None for an unconditional one)."""
    if not model.num_classes:
        return None
    if data.labels is None:
        raise VaekitError("a conditional VAE needs labelled data; this data has no labels")
    return data.labels


@torch.no_grad()
def mean_loss(
    model: VAE,
    data: ImageSet,
    batch_size: int,
    seed: int = 0,
    binarize: bool = False,
    iw_samples: int = 1,
) -> dict[str, Any]:
    """The mean per-example terms over `data`, in eval mode: see `split_terms` for the keys.

    The estimator is `vaekit eval`'s (vaekit.models.bounds): example i's posterior samples
    come from generators keyed by (seed, i), so the numbers depend only on the model, the data
    and the seed (not the batch size), and `vaekit eval --seed S --iw-samples K` gives the
    same -ELBO and -IWAE. With `binarize`, the data is binarized once with `seed`, as eval does.
    """
    if binarize:
        data = binarize_once(data, seed)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    labels = _labels_for(model, data)
    sums = torch.zeros(3, device=device)
    kl_dims: torch.Tensor | None = None
    for index in batch_indices(len(data), batch_size, shuffle=False):
        x = data.scaled(index.to(data.storage.device)).to(device)
        y = labels[index.to(labels.device)].to(device) if labels is not None else None
        t = importance_terms(model, x, index, iw_samples, seed, y=y)
        sums += torch.stack([-t.log_likelihood.sum(), t.rec.sum(), t.kl.sum()])
        if t.kl_per_dim is not None:
            batch = t.kl_per_dim.sum(0)
            kl_dims = batch if kl_dims is None else kl_dims + batch
    model.train(was_training)
    bound, rec, kl = (sums / len(data)).tolist()
    out = split_terms(bound, rec, kl, iw_samples)
    if kl_dims is not None and len(model.layer_sizes) > 1:
        out["kl_layers"] = [float(t.sum()) / len(data) for t in kl_dims.split(model.layer_sizes)]
    return out


def split_terms(bound: float, rec: float, kl: float, iw_samples: int) -> dict[str, Any]:
    """One split's numbers as metrics.jsonl names them, nats per example: neg_elbo = rec + kl
    (-ELBO); with K > 1 importance samples also neg_iwae (-IWAE_K, Burda et al. 2016) and
    iwae_k; and loss, the one of them that training minimizes and early stopping watches.
    `bound` is the negative importance-weighted bound, used only with K > 1 (at K = 1 the
    ELBO is rec + kl, with the KL in closed form where the prior gives it)."""
    neg_elbo = rec + kl
    terms: dict[str, Any] = {"loss": neg_elbo, "neg_elbo": neg_elbo, "rec": rec, "kl": kl}
    if iw_samples > 1:
        terms.update(loss=bound, neg_iwae=bound, iwae_k=iw_samples)
    return terms


def loss_name(iw_samples: int) -> str:
    """What metrics.jsonl's "loss" holds: "neg_elbo", or "neg_iwae" with K > 1 samples."""
    return "neg_iwae" if iw_samples > 1 else "neg_elbo"


class _LayerKL:
    """Sums the KL per latent dimension over batches and reports it per stochastic layer
    ("kl_layers", bottom layer first) for a model with several."""

    def __init__(self, model: VAE) -> None:
        self.sizes = model.layer_sizes
        self.total: torch.Tensor | None = None

    def add(self, out: LossOutput) -> None:
        if len(self.sizes) > 1 and out.kl_dims is not None:
            batch = out.kl_dims.detach().sum(0)
            self.total = batch if self.total is None else self.total + batch

    def result(self, n: int) -> dict[str, list[float]]:
        if self.total is None:
            return {}
        return {"kl_layers": [float(t.sum()) / n for t in self.total.split(self.sizes)]}
