"""The options of `vaekit train`, as one flat typed record that a TOML file can hold.

Keys mirror the command-line options (`latent-dim` or `latent_dim`). `vaekit train --config
FILE.toml` reads them; flags on the command line win. An unknown key or a wrongly typed value is
a one-line error naming the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.config import from_dict
from vaekit.errors import VaekitError


@dataclass(frozen=True)
class TrainOptions:
    data: str = "fashion-mnist"
    image_size: int | None = None
    color: str = "auto"
    crop: str = "center"
    model: str = "conv"
    latent_dim: int = 20
    hidden_dims: tuple[int, ...] = (400,)
    channels: tuple[int, ...] = (32, 64)
    depth: int = 2
    layers: int = 2
    likelihood: str = "bernoulli"
    gaussian_std: float = 0.1
    gaussian_variance: str = "fixed"
    mixtures: int = 5
    prior: str = "standard-normal"
    prior_components: int = 10
    conditional: bool = False
    binarize: bool = False
    train_noise: str | None = None
    beta: float = 1.0
    kl_warmup: int = 0
    free_bits: float = 0.0
    iw_train: int = 1
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "constant"
    clip_grad: float | None = None
    patience: int | None = None
    optimizer: str = "adam"
    seed: int = 0
    val_fraction: float = 0.1
    device: str = "auto"
    out: str | None = None


DEFAULTS = TrainOptions()
OPTION_NAMES = tuple(f.name for f in dataclasses.fields(TrainOptions))
# Options that may differ when a run is resumed: how long, where it runs, and where its data
# is now (the data itself must have the recorded checksum).
RESUMABLE = frozenset({"epochs", "device", "out", "data"})


def read_options_file(path: str | Path) -> dict[str, Any]:
    """The options set in a TOML file, checked against TrainOptions (only the keys it sets)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise VaekitError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise VaekitError(f"{path}: not valid TOML ({err})") from None
    values = {key.replace("-", "_"): value for key, value in raw.items()}
    checked = from_dict(TrainOptions, values, str(path))
    return {key: getattr(checked, key) for key in values}


def options_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """The train options a run directory's config.json records."""
    model, training, data = config["model"], config["training"], config["data"]
    return {
        "data": data["name"],
        "image_size": data.get("image_size"),
        "color": data.get("color", "auto"),
        "crop": data.get("crop", "center"),
        "model": model["family"],
        "conditional": model.get("num_classes", 0) > 0,
        **{
            k: model.get(k, getattr(DEFAULTS, k))
            for k in (
                "latent_dim",
                "depth",
                "layers",
                "likelihood",
                "gaussian_std",
                "gaussian_variance",
                "mixtures",
                "prior",
                "prior_components",
            )
        },
        **{k: tuple(model[k]) for k in ("hidden_dims", "channels")},
        **{
            k: training.get(k, getattr(DEFAULTS, k))
            for k in (
                "binarize",
                "train_noise",
                "beta",
                "kl_warmup",
                "free_bits",
                "iw_train",
                "epochs",
                "batch_size",
                "lr",
                "lr_schedule",
                "clip_grad",
                "patience",
                "optimizer",
                "seed",
                "val_fraction",
                "device",
            )
        },
    }


def check_resume_options(config: dict[str, Any], given: dict[str, Any]) -> None:
    """On resume only --epochs (and where it runs) may differ from the recorded run."""
    recorded = options_from_config(config)
    for key, value in given.items():
        if key in RESUMABLE or key not in recorded:
            continue
        same = value == recorded[key]
        if key == "data" and config["data"].get("source") == "path":
            same = str(Path(value).expanduser().resolve()) == recorded[key]
        if not same:
            flag = "--" + key.replace("_", "-")
            raise VaekitError(
                f"--resume: {flag} {value!r} differs from the run's {recorded[key]!r}; "
                "only --epochs may change"
            )


def config_hash(config: dict[str, Any]) -> str:
    """A hash of what a checkpoint depends on: the config without epochs, device, versions."""
    versions = ("schema_version", "vaekit_version", "torch_version")
    stable = {k: v for k, v in config.items() if k not in versions}
    stable["training"] = {
        k: v for k, v in config["training"].items() if k not in ("epochs", "device")
    }
    return hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()
