"""Refusing a training step that could not fit in memory, before it is tried: an absurd
--batch-size or --iw-train would otherwise end in the out-of-memory killer's silent kill."""

from __future__ import annotations

import math

import torch

from vaekit.data.batches import ImageSet
from vaekit.errors import VaekitError
from vaekit.memory import available_memory
from vaekit.models.vae import VAE, Objective

# The most values one step's likelihood parameters may take (examples x importance samples x
# pixel values x numbers per value): 2**32 float32s are 16 GiB before activations and
# gradients, beyond any sane batch; more is an option value asking for an absurd allocation.
MAX_STEP_VALUES = 1 << 32
# What a step holds for each value its layers output in the forward pass (the value, what
# backward keeps or makes of it, the likelihood's own terms), in float32s: measured on digits
# at batch 128 and K = 100 to 1,600 (peak RSS, one forward and backward, 2026-12-07): 1.2-1.4
# for a conv model, 1.7 for an MLP, and 2.0 for the MLP's whole training process at K = 800.
STEP_COPIES = 2


def check_step_size(
    model: VAE, train: ImageSet, batch_size: int, iw_train: int, processes: int = 1
) -> None:
    """Refuse a batch size and --iw-train whose steps would hold more than MAX_STEP_VALUES
    likelihood parameters, or more memory than the device has available (an estimate from
    forward passes of one and two examples), before any of it is allocated. `processes`: the
    batch is shared by that many (DDP), each on a GPU holding its rows only."""
    batch = min(batch_size, len(train))
    per_value = getattr(model.likelihood, "params_per_channel", 1)
    values = batch * iw_train * math.prod(train.shape) * per_value
    if values > MAX_STEP_VALUES:
        raise VaekitError(
            f"one training step would hold {values:,} likelihood parameters "
            f"({batch:,} examples x {iw_train:,} samples x "
            f"{math.prod(train.shape):,} values x {per_value} each), more than the "
            f"{MAX_STEP_VALUES:,} vaekit allows: lower --batch-size or --iw-train"
        )
    device = next(model.parameters()).device
    have = available_memory(device)
    if have is None or len(train) == 0:
        return
    # values = fixed + rows * (per_row + K * per_sample): `fixed` what a step holds once
    # whatever its rows (a VampPrior's pseudo-inputs encoded), `per_sample` what each
    # posterior sample adds (the decoder's part)
    x = _largest_rows(train).to(device)  # (a text's longest lines: its GRU packs tokens)
    try:
        one = _forward_values(model, x[:1], 1)
        per_sample = max(_forward_values(model, x[:1], 2) - one, 0)
        pair = _forward_values(model, x, 1) if len(x) == 2 else None
    except Exception:  # a model that fails here fails at its first step, saying why there
        return  # (on every process of a group alike, where this one is the main one's)
    per_row = max(pair - one - per_sample, 0) if pair is not None else max(one - per_sample, 0)
    fixed = max(one - per_row - per_sample, 0)
    # each process holds its rows: on its own GPU, that share; processes on one CPU share
    # its memory, so the whole batch
    rows = batch if device.type == "cpu" else math.ceil(batch / processes)
    need = (fixed + rows * (per_row + iw_train * per_sample)) * 4 * STEP_COPIES
    if need > have:
        raise VaekitError(
            f"one training step would need about {need / 2**30:,.1f} GiB ({rows:,} examples x "
            f"{iw_train:,} samples), more than the {have / 2**30:,.1f} GiB of memory "
            f"available on {device.type}: lower --batch-size or --iw-train"
        )


def _largest_rows(train: ImageSet, among: int = 256) -> torch.Tensor:
    """The two examples of the first `among` with the most values set (not 0, not NaN): a
    text's longest lines, whose tokens its GRU holds; any two where all are alike."""
    x = train.scaled(slice(0, min(among, len(train))))
    held = (torch.nan_to_num(x, nan=0.0) != 0).reshape(len(x), -1).sum(1)
    return x[held.argsort(descending=True, stable=True)[:2]]


def _forward_values(model: VAE, x: torch.Tensor, k: int) -> int:
    """How many values the model's layers output in the loss of the examples x with k
    posterior samples each (forward hooks on every layer without sublayers)."""
    counted = 0

    def count(_module: torch.nn.Module, _inputs: object, out: object) -> None:
        nonlocal counted
        stack = [out]
        while stack:
            item = stack.pop()
            if isinstance(item, torch.Tensor):
                counted += item.numel()
            elif isinstance(item, tuple | list):
                stack.extend(item)

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    hooks = [m.register_forward_hook(count) for m in leaves]
    y = torch.zeros(len(x), dtype=torch.long, device=x.device) if model.num_classes else None
    # Without a trace: no gradient, no random draw (the noise given), and in eval mode, so
    # that no running statistic (a batch norm's) moves before training starts or resumes.
    eps = torch.zeros((len(x), k, model.latent_dim), device=x.device)
    training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model.loss(x, y=y, objective=Objective(iw_samples=k), eps=eps)
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return counted
