"""The numbers training reports: a split's mean terms, named as metrics.jsonl names them, and
the KL per stochastic layer.

Validation and test lines use `vaekit eval`'s estimator (vaekit.models.importance): their
-ELBO is the one `vaekit eval --iw-samples 1` gives and, for an --iw-train K run, their -IWAE_K
the one `--iw-samples K` gives; the training line sums the steps' own terms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from vaekit.data.batches import ImageSet, batch_indices, binarize_once
from vaekit.errors import VaekitError
from vaekit.models.importance import importance_terms
from vaekit.models.vae import VAE, LossOutput
from vaekit.training.distributed import SINGLE, Group


def labels_for(model: VAE, data: ImageSet) -> torch.Tensor | None:
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
    group: Group = SINGLE,
) -> dict[str, Any]:
    """The mean per-example terms over `data`, in eval mode: see `split_terms` for the keys.
    In a group of several processes each scores its part of the examples and the sums are
    shared, which gives the same numbers (each example's noise is its own).

    The estimator is `vaekit eval`'s (vaekit.models.importance): example i's posterior samples
    come from generators keyed by (seed, i), so the numbers depend only on the model, the data
    and the seed (not the batch size). The ELBO's terms (neg_elbo, rec, kl) always use one
    sample per example, so `vaekit eval --seed S --iw-samples 1` gives the same -ELBO whatever
    --iw-train was; with K > 1, neg_iwae is the K-sample bound that `--iw-samples K` gives.
    With `binarize`, the data is binarized once with `seed`, as eval does.
    """
    if binarize:
        data = binarize_once(data, seed)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    labels = labels_for(model, data)
    sums = torch.zeros(3, device=device)
    kl_dims = torch.zeros(model.latent_dim, device=device)
    mine = torch.arange(len(data))[group.rows(len(data))]
    for batch in batch_indices(len(mine), batch_size, shuffle=False):
        index = mine[batch]
        x = data.scaled(index.to(data.storage.device)).to(device)
        y = labels[index.to(labels.device)].to(device) if labels is not None else None
        t = importance_terms(model, x, index, 1, seed, y=y)  # the ELBO: one sample
        bound = -t.log_likelihood
        if iw_samples > 1:  # its first sample is the one above, as in `vaekit eval`
            bound = -importance_terms(model, x, index, iw_samples, seed, y=y).log_likelihood
        sums += torch.stack([bound.sum(), t.rec.sum(), t.kl.sum()])
        if t.kl_per_dim is not None:
            kl_dims += t.kl_per_dim.sum(0)
    model.train(was_training)
    bound, rec, kl = (group.sum(sums) / len(data)).tolist()
    out = split_terms(bound, rec, kl, iw_samples)
    if model.has_kl_per_dim and len(model.layer_sizes) > 1:
        kl_dims = group.sum(kl_dims)
        out["kl_layers"] = [float(t.sum()) / len(data) for t in kl_dims.split(model.layer_sizes)]
    return out


def split_terms(bound: float, rec: float, kl: float, iw_samples: int) -> dict[str, Any]:
    """One split's numbers as metrics.jsonl names them, nats per example: neg_elbo = rec + kl
    (-ELBO; on validation and test lines with one posterior sample per example, on training
    lines the steps' own, averaged over their K samples); with K > 1 importance samples also
    neg_iwae (-IWAE_K, Burda et al. 2016) and iwae_k; and loss, the one of them that training
    minimizes and early stopping watches. `bound` is the negative importance-weighted bound,
    used only with K > 1 (at K = 1 the ELBO is rec + kl, with the KL in closed form where the
    prior gives it)."""
    neg_elbo = rec + kl
    terms: dict[str, Any] = {"loss": neg_elbo, "neg_elbo": neg_elbo, "rec": rec, "kl": kl}
    if iw_samples > 1:
        terms.update(loss=bound, neg_iwae=bound, iwae_k=iw_samples)
    return terms


# How far above the untrained model's reconstruction term (its first step's) the last
# epoch's may end, in multiples of its size, before training is said to have diverged.
DIVERGED_FACTOR = 10.0


def diverged_warning(history: Sequence[dict[str, Any]], lr: float) -> str | None:
    """A warning where the last epoch's training reconstruction term (-log p(x|z)) ended more
    than DIVERGED_FACTOR times its own size above the first step's, the untrained model's: a
    learning rate too high makes finite but useless weights (`--lr 10`: 5e4 nats where the
    untrained model scored 45), which nothing else reports. The reconstruction term, not the
    -ELBO: under a KL warm-up or a small --beta the KL may grow far past the untrained
    model's 0 while training goes well. None otherwise, or where the first step is unknown."""
    first = next((r["first_step_rec"] for r in history if "first_step_rec" in r), None)
    last = history[-1]["train"]["rec"] if history else None
    if first is None or last is None or not math.isfinite(first):
        return None
    if not last > first + DIVERGED_FACTOR * max(1.0, abs(first)):
        return None
    return (
        f"the training reconstruction term rose from {first:.4g} at the first step (the "
        f"untrained model) to {last:.4g}: training diverged; train again with a lower --lr "
        f"(this run's: {lr:g}) or with --clip-grad"
    )


def loss_name(iw_samples: int) -> str:
    """What metrics.jsonl's "loss" holds: "neg_elbo", or "neg_iwae" with K > 1 samples."""
    return "neg_iwae" if iw_samples > 1 else "neg_elbo"


class LayerKL:
    """Sums the KL per latent dimension over batches and reports it per stochastic layer
    ("kl_layers", bottom layer first) for a model with several."""

    def __init__(self, model: VAE) -> None:
        self.sizes = model.layer_sizes
        self.closed_form = model.has_kl_per_dim
        self.device = next(model.parameters()).device
        self.total: torch.Tensor | None = None

    def add(self, out: LossOutput) -> None:
        if len(self.sizes) > 1 and out.kl_dims is not None:
            batch = out.kl_dims.detach().sum(0)
            self.total = batch if self.total is None else self.total + batch

    def result(self, n: int, group: Group = SINGLE) -> dict[str, list[float]]:
        if len(self.sizes) == 1 or not self.closed_form:
            return {}
        if self.total is None:  # no step of this process was kept
            self.total = torch.zeros(sum(self.sizes), device=self.device)
        self.total = group.sum(self.total)
        return {"kl_layers": [float(t.sum()) / n for t in self.total.split(self.sizes)]}


@torch.no_grad()
def kl_per_dimension(model: VAE, data: ImageSet, batch_size: int, seed: int) -> list[float] | None:
    """The mean KL of each latent dimension over `data`, in nats, with one posterior sample per
    example keyed as validation keys it (mean_loss): the values sum
    to the split's "kl". None where the prior gives no closed form per dimension."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    labels = labels_for(model, data)
    total = torch.zeros(model.latent_dim, dtype=torch.float64)
    try:
        for index in batch_indices(len(data), batch_size, shuffle=False):
            x = data.scaled(index.to(data.storage.device)).to(device)
            y = labels[index.to(labels.device)].to(device) if labels is not None else None
            terms = importance_terms(model, x, index, 1, seed, y=y)
            if terms.kl_per_dim is None:
                return None
            total += terms.kl_per_dim.sum(0).double().cpu()
    finally:
        model.train(was_training)
    return (total / max(len(data), 1)).tolist()
