"""Save and load a model directory: config.json + model.safetensors.

The one place a model touches files. Weights are safetensors (loading never unpickles) and the
config is JSON, checked key by key, so nothing read from a user's file can run code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save, save_file

from vaekit.config import from_dict
from vaekit.errors import VaekitError
from vaekit.files import atomic_write, write_json
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.vae import VAE

# 2: every option recorded (a reader fills nothing in); metrics.jsonl names each bound.
SCHEMA_VERSION = 2
SCHEMA_VERSIONS = (1, SCHEMA_VERSION)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RUN_SECTIONS = ("model", "data", "training")


def write_config(folder: str | Path, config: dict[str, Any]) -> None:
    """Write config.json; `config` holds a "model" section and anything else the caller adds."""
    write_json(Path(folder) / CONFIG_FILE, {"schema_version": SCHEMA_VERSION, **config})


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_FILE
    if not Path(folder).is_dir():
        raise VaekitError(f"{folder}: not a folder (expected a vaekit run directory)")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise VaekitError(f"{path}: missing; is {folder} a vaekit run directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise VaekitError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(config, dict) or "model" not in config:
        raise VaekitError(f"{path}: no 'model' section")
    version = config.get("schema_version")
    if version == 1:
        config = migrate_v1(config)
    elif version != SCHEMA_VERSION:
        raise VaekitError(
            f"{path}: schema version {version!r}; this vaekit reads versions 1 to {SCHEMA_VERSION}"
        )
    return config


def is_run_dir(folder: str | Path) -> bool:
    """Whether `folder` holds a config.json that vaekit wrote (a schema it knows, with the
    model, data and training sections): a folder with anyone else's config.json is not a run."""
    try:
        config = json.loads((Path(folder) / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(config, dict)
        and type(config.get("schema_version")) is int
        and config["schema_version"] in SCHEMA_VERSIONS
        and all(isinstance(config.get(section), dict) for section in RUN_SECTIONS)
    )


# Schema 1 files omit the options added during its life; the values below are what vaekit
# 0.1.0 used when a key was absent. They are frozen here, not taken from today's defaults, so
# an old run keeps its meaning whatever the defaults become.
_V1_ABSENT = {
    "model": {
        "depth": 2,
        "layers": 2,
        "gaussian_variance": "fixed",
        "mixtures": 5,
        "prior": "standard-normal",
        "prior_components": 10,
        "num_classes": 0,
        "custom": {},
    },
    "training": {
        "binarize": False,
        "train_noise": None,
        "beta": 1.0,
        "kl_warmup": 0,
        "free_bits": 0.0,
        "iw_train": 1,
        "patience": None,
        "lr_schedule": "constant",
        "clip_grad": None,
        # 0.1.0 stopped at a non-finite epoch loss; a resumed schema 1 run gets these
        # options' first values.
        "rollback_after": 10,
        "max_rollbacks": 3,
        "precision": "fp32",
        "optimizer": "adam",
        "device": "cpu",
    },
    "data": {"image_size": None, "color": "auto", "crop": "center", "pixels": None},
}


def migrate_v1(config: dict[str, Any]) -> dict[str, Any]:
    """A schema 1 config as schema 2: the keys it may lack, at the values 0.1.0 read them as."""
    out = {**config, "schema_version": SCHEMA_VERSION}
    for section, absent in _V1_ABSENT.items():
        values = out.get(section)
        if isinstance(values, dict):
            out[section] = {**absent, **values}
    return out


def model_config_from(config: dict[str, Any]) -> ModelConfig:
    """The ModelConfig that a (read, migrated) config.json records: every key present."""
    return from_dict(ModelConfig, config["model"], "config.json: model", complete=True)


def _weights_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_weights(folder: str | Path, model: torch.nn.Module) -> None:
    """Write model.safetensors; weights holding NaN or inf are refused, never written."""
    state = _weights_state(model)
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise VaekitError(
                f"not saving {Path(folder) / WEIGHTS_FILE}: {name} holds NaN or infinite values"
            )
    atomic_write(Path(folder) / WEIGHTS_FILE, lambda p: save_file(state, str(p)))


def weights_sha256(folder: str | Path) -> str:
    """The sha256 of the folder's model.safetensors (hex), read in 1 MiB pieces: what files
    derived from a model (eval.json, anomaly.json) record to say which weights they used."""
    digest = hashlib.sha256()
    path = Path(folder) / WEIGHTS_FILE
    try:
        with path.open("rb") as f:
            while piece := f.read(1 << 20):
                digest.update(piece)
    except FileNotFoundError:
        raise VaekitError(f"{path}: missing (the run has no saved weights yet)") from None
    return digest.hexdigest()


def state_sha256(model: torch.nn.Module) -> str:
    """The sha256 that `weights_sha256` gives for the file `save_weights` writes from these
    weights (the same bytes, hashed in memory): for a model that was not loaded from a file."""
    return hashlib.sha256(save(_weights_state(model))).hexdigest()


def load_model(
    folder: str | Path, device: str | torch.device = "cpu"
) -> tuple[VAE, ModelConfig, dict[str, Any]]:
    """Rebuild the VAE from config.json and fill it from model.safetensors.

    Returns the model (in eval mode), its ModelConfig and the whole config dict.
    """
    config = read_config(folder)
    model_config = model_config_from(config)
    model = build_vae(model_config)
    path = Path(folder) / WEIGHTS_FILE
    try:
        state = load_file(str(path), device=str(device))
    except FileNotFoundError:
        raise VaekitError(f"{path}: missing (the run has no saved weights yet)") from None
    except (SafetensorError, OSError) as err:
        raise VaekitError(f"{path}: not a readable safetensors file ({err})") from None
    missing, unexpected = _compare_keys(model.state_dict(), state)
    if missing or unexpected:
        raise VaekitError(
            f"{path}: weights do not match config.json "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise VaekitError(f"{path}: weights do not match config.json ({err})") from None
    return model.to(device).eval(), model_config, config


def _compare_keys(expected: dict, found: dict) -> tuple[list[str], list[str]]:
    return sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
