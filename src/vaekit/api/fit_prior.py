"""`vaekit.fit_prior`: the second stage of a model with discrete latents (a VQ-VAE): a PixelCNN
prior over its code maps, fit to the codes of the run's training split and saved in the run
directory, after which `sample` draws from it and `eval` bounds -log p(x) with it.

    vaekit.train(data="digits", model="vqvae", out="runs/vq")
    vaekit.fit_prior("runs/vq", epochs=10)
    vaekit.evaluate("runs/vq")["iwae"]["nll"]   # -log p(x|z_q) - log p(z_q)

A model trained in stages reads its later stages from its run directory when it is loaded
(vaekit.api.model.load calls the model's `attach_run`), so every command uses them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vaekit.api.inputs import model_dataset
from vaekit.api.model import Model, load, resolve_device, run_path
from vaekit.api.run import train_config_from
from vaekit.data.batches import ImageSet, batch_indices, binarize_once, is_binary
from vaekit.data.dataset import split_validation
from vaekit.errors import VaekitError
from vaekit.models.code_prior import PRIOR_RECORD, PRIOR_WEIGHTS, CodePrior, save_code_prior
from vaekit.training.optimizers import FLUSH_EVERY, flush_subnormals
from vaekit.version import __version__

# Called with (task name, done, total): vaekit.progress.Bars.update.
Progress = Callable[[str, int, int | None], None]
ENCODE_BATCH = 256


def sampling_refusal(model: Model) -> str | None:
    """Why the model cannot be sampled yet (a VQ-VAE before `vaekit fit-prior`), or None."""
    why = getattr(model.vae, "sampling_refusal", None)
    return None if why is None else why(getattr(model, "rundir", "RUNDIR"))


def fit_prior(
    rundir: str | Path,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    layers: int = 5,
    width: int = 64,
    device: str = "cpu",
    seed: int = 0,
    progress: Progress | None = None,
    data: Any = None,
) -> dict[str, Any]:
    """Fit the code prior of the run in `rundir` and save it there (code_prior.safetensors
    and code_prior.json); return the record written.

    The training split (less the validation part, as training split it) is encoded to code
    maps once; the PixelCNN (`layers` gated layers of `width` channels) is trained on them by
    Adam at `lr` for `epochs` passes, in shuffled batches drawn with `seed`, and scored on the
    validation part's codes where there is one. Numbers are nats per code map. `data`: the
    run's data where it has moved, or was an array (split as training split it)."""
    for name, value in (("epochs", epochs), ("batch size", batch_size), ("layers", layers),
                        ("width", width)):  # fmt: skip
        if value < 1:
            raise VaekitError(f"--{name.replace(' ', '-')} must be at least 1, got {value}")
    if not lr > 0:
        raise VaekitError(f"--lr must be a positive number, got {lr}")
    rundir = run_path(rundir)
    model = load(rundir, str(resolve_device(device)))
    vae = model.vae
    if not hasattr(vae, "encode_codes"):
        raise VaekitError(
            f"fit-prior trains a prior over discrete codes: {rundir} is a --model "
            f"{model.config.family} run, whose latents are continuous (train --model vqvae)"
        )
    train_config = train_config_from(model.run_config)
    dataset = model_dataset(model, data)
    train_part, val_part = split_validation(dataset, train_config.val_fraction, train_config.seed)
    if train_config.binarize and not is_binary(train_part):
        # One fixed binarization (as eval scores it), not a new one per pass.
        train_part = binarize_once(train_part, seed)
        val_part = None if val_part is None else binarize_once(val_part, seed)
    train_codes = _codes(vae, train_part, progress, "encoding the training split")
    val_codes = None if val_part is None else _codes(vae, val_part, progress,
                                                     "encoding the validation split")  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        prior = CodePrior(vae.codebook.size, vae.map_size, width, layers).to(model.device)
    optimizer = torch.optim.Adam(prior.parameters(), lr=lr)
    n = len(train_codes)
    train_nll, steps = float("nan"), 0
    for epoch in range(epochs):
        prior.train()
        total, done = 0.0, 0
        for index in batch_indices(n, batch_size, shuffle=True, seed=seed, epoch=epoch):
            codes = train_codes[index.to(train_codes.device)]
            loss = -prior.log_prob(codes)
            optimizer.zero_grad(set_to_none=True)
            loss.mean().backward()
            optimizer.step()
            steps += 1
            if model.device.type == "cpu" and steps % FLUSH_EVERY == 0:
                flush_subnormals(optimizer)  # (as the training loop does: a CPU's penalty)
            total += float(loss.detach().sum())
            done += len(index)
            if progress is not None:
                progress(f"fitting the code prior, epoch {epoch + 1}/{epochs}", done, n)
        train_nll = total / max(done, 1)
    prior.eval()
    record = {
        "vaekit_version": __version__,
        "weights_sha256": model.weights_sha256,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "train_examples": n,
        "train_nll": train_nll,
        "val_nll": None if val_codes is None else _mean_nll(prior, val_codes, batch_size),
        "uniform_nll": vae.positions * float(torch.tensor(vae.codebook.size).log()),
        "units": "nats per code map",
    }
    _check_fitted(prior, record)
    save_code_prior(rundir, prior, record)
    vae.attach_run(rundir)  # read back: the files load
    return {**record, "files": [str(Path(rundir) / PRIOR_WEIGHTS),
                                str(Path(rundir) / PRIOR_RECORD)]}  # fmt: skip


def _check_fitted(prior: CodePrior, record: dict[str, Any]) -> None:
    """Refuse to save a prior whose weights or -log p(z_q) are not finite (a diverged fit:
    sampling from it failed), keeping the run's earlier prior; warn of one worse than the
    uniform prior, which its fit did not beat."""
    nll = [record["train_nll"], record["val_nll"]]
    finite = all(bool(torch.isfinite(p).all()) for p in prior.parameters())
    if not finite or not all(math.isfinite(v) for v in nll if v is not None):
        raise VaekitError(
            f"the code prior diverged (-log p(z_q) {record['train_nll']:.4g} on the training "
            f"codes): nothing written, the run's prior as it was; try a smaller --lr than "
            f"{record['lr']:g}"
        )
    worst = max(v for v in nll if v is not None)
    if worst > record["uniform_nll"]:
        warnings.warn(f"the code prior's -log p(z_q), {worst:.4g} nats, is worse than the "
                      f"uniform prior's {record['uniform_nll']:.4g}: its fit failed (a smaller "
                      "--lr, or more --epochs?)", stacklevel=3)  # fmt: skip


@torch.no_grad()
def _codes(vae: Any, data: ImageSet, progress: Progress | None, name: str) -> torch.Tensor:
    """The code maps (N, h, w) of every example of `data`, on the model's device."""
    device = vae.codebook.codes.device
    out = []
    done = 0
    for index in batch_indices(len(data), ENCODE_BATCH, shuffle=False):
        out.append(vae.encode_codes(data.scaled(index).to(device)))
        done += len(index)
        if progress is not None:
            progress(name, done, len(data))
    return torch.cat(out)


@torch.no_grad()
def _mean_nll(prior: CodePrior, codes: torch.Tensor, batch_size: int) -> float:
    """-log p(codes) averaged over the maps (N, h, w), in nats."""
    total = sum(float(-prior.log_prob(codes[i : i + batch_size]).sum())
                for i in range(0, len(codes), batch_size))  # fmt: skip
    return total / len(codes)
