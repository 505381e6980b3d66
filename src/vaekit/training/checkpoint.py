"""Full training state on disk, for exact resume: checkpoint/state.safetensors + state.json.

state.safetensors holds the model's and the optimizer's tensors and the torch RNG state; its
own metadata carries the JSON state (epoch, step, history, optimizer settings, config hash),
and state.json is a readable copy of that JSON. Each file is written under a temporary name and
renamed, tensors first and JSON last. A kill at any moment therefore leaves a complete
state.safetensors -- the previous checkpoint or the new one -- and loading trusts only it.
Nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from vaekit.errors import VaekitError
from vaekit.files import atomic_write, write_json
from vaekit.training.loop import LoopState
from vaekit.training.recovery import match_parameter_layouts

CHECKPOINT_DIR = "checkpoint"
TENSORS_FILE = "state.safetensors"
STATE_FILE = "state.json"
FORMAT = 1


def save_checkpoint(rundir: str | Path, state: LoopState, config_hash: str) -> None:
    folder = Path(rundir) / CHECKPOINT_DIR
    folder.mkdir(exist_ok=True)
    tensors = {
        f"model.{k}": v.detach().cpu().contiguous() for k, v in state.model.state_dict().items()
    }
    optim = state.optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in optim["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        "format": FORMAT,
        "epoch": state.epoch,
        "step": state.step,
        "config_hash": config_hash,
        "history": state.history,
        "optimizer": {"param_groups": optim["param_groups"], "scalars": scalars},
    }
    text = json.dumps(meta)
    atomic_write(folder / TENSORS_FILE, lambda p: save_file(tensors, str(p), {"state": text}))
    write_json(folder / STATE_FILE, meta)


def has_checkpoint(rundir: str | Path) -> bool:
    return (Path(rundir) / CHECKPOINT_DIR / TENSORS_FILE).is_file()


def load_checkpoint(rundir: str | Path, state: LoopState) -> str:
    """Fill `state` (model, optimizer, epoch, step, history, RNG) from the run's checkpoint.

    Returns the config hash recorded with it.
    """
    path = Path(rundir) / CHECKPOINT_DIR / TENSORS_FILE
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["state"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except FileNotFoundError:
        raise VaekitError(f"{path}: missing; the run has no checkpoint to resume from") from None
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as err:
        raise VaekitError(f"{path}: not a readable vaekit checkpoint ({err})") from None
    if meta.get("format") != FORMAT or not {"optimizer", "epoch", "step", "history"} <= set(meta):
        raise VaekitError(f"{path}: not a vaekit checkpoint of format {FORMAT}")

    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        state.model.load_state_dict(model_state)
    except RuntimeError as err:
        raise VaekitError(f"{path}: the checkpoint does not fit this model ({err})") from None
    optim_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            optim_state.setdefault(int(index), {})[name] = value
    for index, values in meta["optimizer"]["scalars"].items():
        optim_state.setdefault(int(index), {}).update(values)
    state.optimizer.load_state_dict(
        {"state": optim_state, "param_groups": meta["optimizer"]["param_groups"]}
    )
    match_parameter_layouts(state.optimizer)
    torch.set_rng_state(tensors["rng.torch"])
    state.epoch, state.step, state.history = meta["epoch"], meta["step"], meta["history"]
    return meta["config_hash"]
