"""The training loop: an optimizer on the batch mean of the per-example -ELBO (plus the
penalty of --objective, vaekit.training.objectives, whose discriminator, for factorvae, takes
its own step after each of the model's), one pass per epoch, extended by callbacks (progress,
run files, checkpoints). A step whose loss or gradient is not finite is skipped, and training
that keeps failing rolls back (vaekit.training.recovery).

Randomness: the shuffle of epoch e comes from a generator keyed by (seed, e); the binarization
and posterior sample of step s from one keyed by (seed, s). So the numbers never depend on how
batches are split, and a run resumed from a checkpoint replays exactly what it would have done.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from vaekit.components import OBJECTIVES
from vaekit.data.batches import (
    ImageSet,
    batch_indices,
    corrupt,
    num_batches,
    parse_noise,
)
from vaekit.errors import VaekitError
from vaekit.models.vae import VAE, LossOutput, Objective, Terms
from vaekit.randomness import step_generator
from vaekit.train_options import DEFAULTS as _D
from vaekit.train_options import TRAIN_OPTIONS, unused_option
from vaekit.training.callbacks import Callback, TimeBudget
from vaekit.training.distributed import SINGLE, Group
from vaekit.training.ema import WeightAverage, averaged
from vaekit.training.optimizers import FLUSH_EVERY, OPTIMIZERS, flush_subnormals
from vaekit.training.precision import Precision, resolve_precision
from vaekit.training.recovery import (
    Diverged,
    Faults,
    NothingLearned,
    Snapshot,
    gradient_norm,
    lr_factor,
    weights_finite,
)
from vaekit.training.schedules import (
    LR_SCHEDULES,
    kl_weight,
    learning_rate,
    warmup_fraction,
)
from vaekit.training.scoring import LayerKL, labels_for, loss_name, mean_loss, split_terms
from vaekit.training.state import LoopState
from vaekit.training.step_memory import check_step_size


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
    precision: str = _D["precision"]  # of the training steps: fp32, bf16, fp16 or auto
    rollback_after: int = _D["rollback_after"]  # non-finite steps in a row before a rollback
    max_rollbacks: int = _D["max_rollbacks"]  # rollbacks within one epoch before giving up
    time_budget: float | None = _D["time_budget"]  # seconds: stop before overrunning it
    ema: float = _D["ema"]  # decay of the weights' moving average (Polyak); 0 is off
    # --objective and its own settings (vaekit.training.objectives)
    objective: str = _D["objective"]
    tc_weight: float = _D["tc_weight"]
    tc_estimator: str = _D["tc_estimator"]
    factor_weight: float = _D["factor_weight"]
    critic_lr: float = _D["critic_lr"]
    mmd_weight: float = _D["mmd_weight"]
    mmd_kernel: str = _D["mmd_kernel"]
    mmd_scale: float = _D["mmd_scale"]
    # The options an installed package's objective declares (Component.declares), by name:
    # the chosen objective's only, for its builder to read.
    objective_options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Each option against its declaration, then the combinations."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values.update(values.pop("objective_options"))
        TRAIN_OPTIONS.check(values, "training")
        if self.optimizer not in OPTIMIZERS or self.lr_schedule not in LR_SCHEDULES:
            raise VaekitError(f"unknown optimizer or lr schedule in {self}")
        if self.iw_train > 1 and (self.beta != 1 or self.kl_warmup or self.free_bits):
            raise VaekitError(
                "--iw-train trains the importance-weighted bound itself: it cannot be combined "
                "with --beta, --kl-warmup or --free-bits"
            )
        if self.iw_train > 1 and self.objective != "elbo":
            raise VaekitError(f"--iw-train trains the importance-weighted bound itself: it "
                              f"cannot be combined with --objective {self.objective}")  # fmt: skip
        self._refuse_other_objectives(values)
        if self.train_noise is not None:
            try:
                parse_noise(self.train_noise)
            except ValueError as err:
                raise VaekitError(f"--train-noise: {err}") from None

    def _refuse_other_objectives(self, values: dict[str, Any]) -> None:
        """Backstop for configs made in Python: another objective's option set away from its
        default (vaekit.api.options refuses one the user gave at all, default or not)."""
        changed = [name for name, value in values.items() if name in _D and value != _D[name]]
        refuse_other_objectives(self.objective, changed)


def refuse_other_objectives(objective: str, names: Iterable[str]) -> None:
    """Of the options `names` (set by the user), one that is another training objective's own
    (vaekit.components.OBJECTIVES: --tc-weight with --objective infovae) is refused in one
    line, as another family's option is: it would change nothing."""
    refused = unused_option({"objective": objective}, names)
    if refused is not None:
        raise VaekitError(refused)


def make_state(model: VAE, config: TrainConfig) -> LoopState:
    """A fresh LoopState: the optimizer over the model's parameters (and their moving
    average, with --ema), and the training objective's part (--objective: a discriminator
    and its optimizer, for factorvae), nothing trained yet."""
    optimizer = OPTIMIZERS[config.optimizer](model.parameters(), config.lr)
    ema = WeightAverage(model, config.ema) if config.ema > 0 else None
    objective = OBJECTIVES.builder(config.objective)(model, config)
    return LoopState(model, optimizer, ema=ema, objective=objective)


def fit(
    model: VAE,
    train: ImageSet,
    val: ImageSet | None,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    state: LoopState | None = None,
    group: Group = SINGLE,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict[str, Any]]:
    """Train `model` in place from `state` (default: from scratch) up to `config.epochs`,
    or less: early stopping (`patience`), or the time budget, timed by `clock` (seconds).
    In a group of several processes (torchrun), each trains on its rows of every batch and
    the gradients are averaged (DistributedDataParallel); callbacks belong on the main
    process only, whose `should_stop` decides for all.

    Returns the history: one record per epoch, the metrics.jsonl schema.
    """
    if config.time_budget is not None and group.is_main:
        # the validation pass, forward only: about a third of a training step per batch
        closing = num_batches(len(val), config.batch_size) / 3 if val is not None else 0.0
        callbacks = [*callbacks, TimeBudget(config.time_budget, clock, closing)]
    state = state or make_state(model, config)
    if val is None and config.patience is not None:
        raise VaekitError("--patience needs a validation split (--val-fraction > 0)")
    # on the main process, its answer (or refusal) shared: no process goes on alone
    group.on_main(lambda: check_step_size(model, train, config.batch_size, config.iw_train,
                                          group.world))  # fmt: skip
    device = next(model.parameters()).device
    train, val = train.to(device), val.to(device) if val is not None else None
    steps_per_epoch = num_batches(len(train), config.batch_size)
    net = group.wrap(model)
    steps = _Steps.make(config, model, group, state.scaler)
    if state.objective is not None:
        state.objective.prepare(len(train))
    for cb in callbacks:
        cb.on_train_start(steps_per_epoch * config.epochs, state)
    last_checkpoint, faults = Snapshot.take(state), Faults(in_row=state.skipped_in_row)
    last_objective = state.objective.snapshot() if state.objective is not None else None
    try:
        while state.epoch < config.epochs and not should_stop(state.history, config.patience):
            epoch = state.epoch + 1
            try:
                record = _train_epoch(state, net, train, config, epoch, steps_per_epoch,
                                      callbacks, faults, steps)  # fmt: skip
            except Diverged as why:
                _roll_back(state, last_checkpoint, faults, config, str(why))
                if state.objective is not None:  # its discriminator, back to the same epoch
                    state.objective.restore(last_objective)
                continue
            except NothingLearned:  # every step skipped: the epoch again, its steps counted
                continue
            if val is not None:
                begun = time.perf_counter()
                with averaged(model, state.ema):
                    record["val"] = mean_loss(
                        model,
                        val,
                        config.batch_size,
                        config.seed,
                        config.binarize,
                        config.iw_train,
                        group,
                    )
                # time_s: the whole epoch's wall time, its validation pass included
                record["time_s"] = round(record["time_s"] + time.perf_counter() - begun, 3)
            record.update(skipped_steps=faults.skipped, rollbacks=faults.rollbacks)
            faults.skipped = faults.rollbacks = 0
            state.epoch, state.skipped_in_row = epoch, faults.in_row
            state.history.append(record)
            if steps.scaler is not None:
                state.scaler = steps.scaler.state_dict()
            last_checkpoint = Snapshot.take(state)
            if state.objective is not None:
                last_objective = state.objective.snapshot()
            for cb in callbacks:
                cb.on_epoch_end(record, state)
            if "cut_short" in record or group.share(any(cb.should_stop(state) for cb in callbacks)):
                break
    finally:
        for cb in callbacks:
            cb.on_train_end()
    return state.history


def _roll_back(
    state: LoopState, last: Snapshot, faults: Faults, config: TrainConfig, why: str
) -> None:
    """Back to the last checkpoint, where the learning rate will be lower (recovery.lr_factor);
    or, after max_rollbacks of them within this epoch, a VaekitError naming the step."""
    if faults.rollbacks >= config.max_rollbacks:
        lr = state.optimizer.param_groups[0]["lr"]
        raise VaekitError(
            f"training diverged at step {state.step} (epoch {state.epoch + 1}): {why}, and "
            f"{faults.rollbacks} rollbacks to the last checkpoint with a lower learning rate "
            f"(last {lr:.3g}) did not help; try a lower --lr, or --clip-grad"
        )
    last.restore(state)
    faults.rollbacks += 1
    faults.in_row = 0


def best_epoch(history: Sequence[dict[str, Any]]) -> int | None:
    """The epoch with the lowest validation -ELBO (the first of equals), None without one."""
    scored = [(r["val"]["loss"], r["epoch"]) for r in history if r.get("val")]
    scored = [(loss, e) for loss, e in scored if loss is not None and math.isfinite(loss)]
    return min(scored)[1] if scored else None


def should_stop(history: Sequence[dict[str, Any]], patience: int | None) -> bool:
    """Early stopping: `patience` epochs have passed since the best validation epoch."""
    best = best_epoch(history)
    return patience is not None and best is not None and history[-1]["epoch"] - best >= patience


def _train_epoch(
    state: LoopState,
    net: torch.nn.Module,
    train: ImageSet,
    config: TrainConfig,
    epoch: int,
    steps_per_epoch: int,
    callbacks: Sequence[Callback],
    faults: Faults,
    steps: _Steps,
) -> dict[str, Any]:
    """One pass over `train`: its record (the means over the steps not skipped). `net` is the
    model, or DistributedDataParallel around it in a group of several processes.

    Raises Diverged after `rollback_after` skipped steps in a row, or when the weights are
    not finite at the end.
    """
    model = state.model
    device = next(model.parameters()).device
    start = time.perf_counter()
    model.train()
    labels = labels_for(model, train)
    total_steps = steps_per_epoch * config.epochs
    layers = LayerKL(model)
    lowered = lr_factor(state.history, faults)
    lr = learning_rate(config, state.history, state.step, total_steps) * lowered
    sums, seen = torch.zeros(3, device=device), 0
    first, cut, untrained = state.step, None, None
    for index in batch_indices(
        len(train), config.batch_size, shuffle=True, seed=config.seed, epoch=epoch
    ):
        # every step: a schedule may change the rate within an epoch (cosine does)
        lr = learning_rate(config, state.history, state.step, total_steps) * lowered
        out, loss, finite = _step(state, net, train, labels, index, config, lr, steps)
        if finite:
            faults.in_row = 0
            if first == 0 and untrained is None:  # a new run's first step: the untrained model
                rows = steps.group.sum(out.rec.detach().float().sum().reshape(1))
                untrained = float(rows) / len(index)  # the whole batch's mean, as one process
            sums += torch.stack([out.loss, out.rec, out.kl]).detach().float().sum(1)
            seen += len(index)
            layers.add(out)
        else:
            faults.skipped += 1
            faults.in_row += 1
        for cb in callbacks:
            cb.on_step(state.step, epoch, loss)
        if faults.in_row >= config.rollback_after:
            raise Diverged(f"{faults.in_row} steps in a row had a NaN or infinite loss or gradient")
        # --time-budget: an epoch that would overrun it ends here (the main process decides)
        if config.time_budget is not None and steps.group.share(
            any(cb.cut_epoch(state) for cb in callbacks)
        ):
            cut = state.step - first
            break
    if not weights_finite(model):
        raise Diverged("the weights became NaN or infinite")
    if not seen:  # (an epoch is at least one step) nothing was learned: not an epoch
        raise NothingLearned
    bound, rec, kl = (steps.group.sum(sums) / seen).tolist() if seen else [math.nan] * 3
    record: dict[str, Any] = {
        "epoch": epoch,
        "time_s": round(time.perf_counter() - start, 3),
        "loss_is": loss_name(config.iw_train),
        "train": {
            **split_terms(bound, rec, kl, config.iw_train),
            **layers.result(max(seen, 1), steps.group),
        },
    }
    if untrained is not None:  # the yardstick of training.scoring.diverged_warning
        record["first_step_rec"] = untrained
    if config.lr_schedule != "constant" or lowered != 1:
        record["lr"] = lr
    if cut is not None and cut < steps_per_epoch:  # the time budget cut it short: the steps
        record["cut_short"] = {"steps": cut, "of": steps_per_epoch}  # it took of the epoch's
    return record


def _step(
    state: LoopState,
    net: torch.nn.Module,
    train: ImageSet,
    labels: torch.Tensor | None,
    index: torch.Tensor,
    config: TrainConfig,
    lr: float,
    steps: _Steps,
) -> tuple[LossOutput, torch.Tensor, bool]:
    """One optimizer step on the global batch `index`, skipped (no update) when the loss or
    the gradient is not finite. Returns this process's loss terms, their mean, and whether
    it stepped.

    This process takes its rows of the batch. Every random draw of the step (binarization,
    corruption, posterior noise) comes from the step's generator, made for the whole batch,
    so the rows get the numbers one process would give them. The loss backpropagated is the
    rows' sum over the batch size, times the number of processes (which
    DistributedDataParallel divides back out): the gradient of the batch mean.
    """
    model, optimizer, group, device = state.model, state.optimizer, steps.group, steps.device
    generator = step_generator(config.seed, state.step, device)
    total, rows = len(index), group.rows(len(index))
    part = index[rows]
    x = train.scaled(part.to(train.storage.device)).to(device, non_blocking=True)
    y = labels[part.to(labels.device)].to(device) if labels is not None else None
    if config.binarize:
        u = torch.rand((total, *x.shape[1:]), generator=generator, device=device)[rows]
        x = (u < x).to(x.dtype)
    target = None
    if config.train_noise:
        target, x = x, corrupt(x, *parse_noise(config.train_noise), generator, rows, total)
    shape = (total, config.iw_train, model.latent_dim)
    eps = torch.randn(shape, generator=generator, device=device, dtype=x.dtype)[rows]
    if getattr(model, "word_dropout", 0.0) > 0:  # text: the decoder's inputs, words dropped
        u = torch.rand((total, *x.shape[1:]), generator=generator, device=device)[rows]
        target = model.dropped_words(x, u)
    penalty = None
    if state.objective is not None:  # --objective: its penalty, with this step's draws
        # A penalty on a part of the KL warms up with it (TrainingObjective.part_of_kl).
        ramp = warmup_fraction(config, state.step) if state.objective.part_of_kl else 1.0

        def penalty(terms: Terms) -> torch.Tensor:
            found = state.objective.penalty(terms, generator)
            return found if ramp == 1.0 else found * ramp

    weight = kl_weight(config, state.step)
    objective = Objective(weight, config.free_bits, config.iw_train, penalty)
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr

    def batch_kl(kl_dims: torch.Tensor) -> torch.Tensor:
        return group.sum(kl_dims.sum(0)) / total

    with steps.precision.autocast(device):
        out = net(x, generator, target, y, objective, eps, batch_kl)
    loss = out.objective.float().sum() * (group.world / total)
    optimizer.zero_grad(set_to_none=True)
    scaler = steps.scaler
    if scaler is not None:  # float16: scaled so that small gradients survive
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    norm = gradient_norm(steps.params, config.clip_grad)
    check = loss.detach() + norm
    finite = bool(torch.isfinite(group.sum(check))) if group.active else bool(check.isfinite())
    if finite:  # the one synchronization per step (a sum over processes in a group)
        if scaler is not None:
            scaler.step(optimizer)
        else:
            optimizer.step()
        if device.type == "cpu" and state.step % FLUSH_EVERY == FLUSH_EVERY - 1:
            flush_subnormals(optimizer)  # (a CPU's penalty: a GPU's is small)
        if state.ema is not None:
            state.ema.update(model, state.step)
    if state.objective is not None:  # a discriminator's own step, on this step's draws
        state.objective.after_step(generator, group, finite)
    if scaler is not None:
        scaler.update()
    state.step += 1
    # (the loss it minimized, for the progress bar: the rows' mean, times the number of
    # processes over theirs; the mean of `out.objective` again cost 30 us a step)
    return out, loss.detach(), finite


@dataclass(frozen=True)
class _Steps:
    """What every training step shares: the process group, the precision it runs in, for
    float16 the gradient scaler, and the model's device and parameters (listed once: walking
    the modules for them took about 15 us a step, twice)."""

    group: Group
    precision: Precision
    device: torch.device
    params: tuple[torch.nn.Parameter, ...]
    scaler: Any = None

    @classmethod
    def make(
        cls,
        config: TrainConfig,
        model: torch.nn.Module,
        group: Group,
        scaler_state: dict[str, Any] | None = None,
    ) -> _Steps:
        params = tuple(model.parameters())
        device = params[0].device
        precision = resolve_precision(config.precision, device)
        if precision.note and group.is_main:
            warnings.warn(precision.note, stacklevel=2)
        scaler = torch.amp.GradScaler(device.type) if precision.scaled else None
        if scaler is not None and scaler_state:  # resumed: the scale it had reached
            scaler.load_state_dict(scaler_state)
        return cls(group, precision, device, params, scaler)
