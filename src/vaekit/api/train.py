"""`vaekit.train`: data in, run directory out.

run = vaekit.train(data="digits", model="mlp", epochs=3, out="runs/digits")
run.model.sample(16)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import vaekit
from vaekit.api.model import Model
from vaekit.api.run import (
    CURVES_FILE,
    METRICS_FILE,
    RECONSTRUCTIONS_FILE,
    SAMPLES_FILE,
    append_jsonl,
    create_run_dir,
)
from vaekit.config import to_dict
from vaekit.data.batches import carve
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.io import save_weights, write_config
from vaekit.models.vae import VAE
from vaekit.report.curves import save_curves
from vaekit.report.images import pairs_grid, save_grid
from vaekit.training.callbacks import ProgressBar
from vaekit.training.loop import Callback, TrainConfig, fit, mean_loss


@dataclass
class Run:
    """A finished training run: where it lives, what it was, how it went, and its model."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, Any]]
    test: dict[str, float]
    model: Model
    pictures: dict[str, Path] = field(default_factory=dict)


class _RunWriter(Callback):
    """After every epoch: one line in metrics.jsonl and the current weights, so an interrupted
    run keeps everything it finished."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_epoch_end(self, record: dict[str, Any], model: VAE) -> None:
        append_jsonl(self.path / METRICS_FILE, record)
        save_weights(self.path, model)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VaekitError("--device cuda: no CUDA device is available here")
    try:
        return torch.device(device)
    except RuntimeError:
        raise VaekitError(f"unknown device {device!r}: use auto, cpu or cuda") from None


def default_out(data: Any, model: str) -> Path:
    name = data if isinstance(data, str) and "/" not in data else "data"
    return Path("runs") / f"{name}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    data: str | Path | np.ndarray | torch.Tensor = "fashion-mnist",
    *,
    out: str | Path | None = None,
    model: str = "conv",
    latent_dim: int = 20,
    hidden_dims: tuple[int, ...] = (400,),
    channels: tuple[int, ...] = (32, 64),
    likelihood: str = "bernoulli",
    gaussian_std: float = 0.1,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    val_fraction: float = 0.1,
    overwrite: bool = False,
    device: str = "auto",
    progress: bool = True,
) -> Run:
    """Train a VAE on `data` and write the run directory `out`.

    Args:
        data: a registered name ("fashion-mnist", "digits"), a folder of IDX files, or images
            as an array (N, H, W) / (N, C, H, W), uint8 or float in [0, 1].
        out: the run directory to create (default runs/<data>-<model>-<time>).
        model: the encoder/decoder family, "mlp" or "conv".
        latent_dim: Z, the number of latent dimensions.
        hidden_dims: MLP layer widths; channels: conv stage widths.
        likelihood: "bernoulli" or "gaussian" (fixed standard deviation `gaussian_std`).
        val_fraction: share of the training split held out for validation (0: none).
        device: "auto" (CUDA when present), "cpu" or "cuda".

    Returns:
        The Run, with its path, config, per-epoch history, test terms and loaded Model.
    """
    train_config = TrainConfig(epochs, batch_size, lr, seed, val_fraction)
    train_config.validate()
    dev = resolve_device(device)
    dataset = open_dataset(data, seed=seed)
    model_config = ModelConfig(
        shape=dataset.shape,
        family=model,
        latent_dim=latent_dim,
        hidden_dims=tuple(hidden_dims),
        channels=tuple(channels),
        likelihood=likelihood,
        gaussian_std=gaussian_std,
    )
    model_config.validate()
    train_set, val_set = dataset.train, None
    if val_fraction > 0:
        kept, carved = carve(len(dataset.train), val_fraction, seed)
        if len(kept) == 0:
            raise VaekitError(f"val fraction {val_fraction} leaves no training examples")
        train_set, val_set = dataset.train.subset(kept), dataset.train.subset(carved)

    path = create_run_dir(out if out is not None else default_out(data, model), overwrite)
    config = {
        "vaekit_version": vaekit.__version__,
        "torch_version": torch.__version__,
        "model": to_dict(model_config),
        "data": {**dataset.info, "num_train": len(train_set), "num_val": len(val_set or [])},
        "training": {**to_dict(train_config), "device": str(dev)},
    }
    write_config(path, config)

    torch.manual_seed(seed)
    vae = build_vae(model_config).to(dev)
    callbacks: list[Callback] = [_RunWriter(path)]
    if progress:
        callbacks.append(ProgressBar())
    history = fit(vae, train_set, val_set, train_config, callbacks)

    test = mean_loss(vae, dataset.test.to(dev), batch_size, seed)
    append_jsonl(path / METRICS_FILE, {"final": True, "test": test})
    save_weights(path, vae)
    trained = Model(vae, model_config, config)
    pictures = write_pictures(path, trained, dataset.test.images[:32], history, seed)
    return Run(path, config, history, test, trained, pictures)


def write_pictures(
    path: Path, model: Model, test_images: torch.Tensor, history: list[dict[str, Any]], seed: int
) -> dict[str, Path]:
    """samples.png (64 prior samples), reconstructions.png (inputs above outputs), curves.png."""
    pictures = {
        "samples": path / SAMPLES_FILE,
        "reconstructions": path / RECONSTRUCTIONS_FILE,
        "curves": path / CURVES_FILE,
    }
    save_grid(model.sample(64, seed=seed), pictures["samples"], ncols=8)
    inputs = model.prepare(test_images).cpu()
    save_grid(pairs_grid(inputs, model.reconstruct(inputs)), pictures["reconstructions"], ncols=8)
    save_curves(history, pictures["curves"], title=f"{model.config.family} VAE")
    return pictures
