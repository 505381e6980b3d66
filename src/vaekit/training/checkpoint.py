"""Full training state on disk, for exact resume: checkpoint/state.safetensors + state.json.

state.safetensors holds the model's and the optimizer's tensors (and, with --ema, the
weights' moving average; with --objective factorvae, the discriminator's and its
optimizer's, as objective.*) and the torch RNG state; its
own metadata carries the JSON state (epoch, step, history, optimizer settings, config hash),
and state.json is a readable copy of that JSON. Each file is written under a temporary name and
renamed, tensors first and JSON last. A kill at any moment therefore leaves a complete
state.safetensors -- the previous checkpoint or the new one -- and loading trusts only it.
Nothing is unpickled. The metadata also records the tensors' SHA-256, so that a checkpoint
damaged on disk (cut short, or with bytes changed) is a clear error, never a silent resume
from wrong numbers; its JSON is checked field by field before anything is restored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from vaekit.errors import VaekitError
from vaekit.files import atomic_write, write_json
from vaekit.models.io import DIGEST_KEY, read_safetensors, tensors_sha256
from vaekit.training.recovery import match_parameter_layouts
from vaekit.training.state import LoopState

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
    if state.ema is not None:
        for name, value in state.ema.state_dict().items():
            tensors[f"ema.{name}"] = value.detach().cpu().contiguous()
    # --objective's own state (a discriminator and its optimizer): beside the model's, so
    # that model.safetensors stays the VAE alone. Absent where it keeps none.
    held = state.objective.state() if state.objective is not None else None
    if held is not None:
        for name, value in held[0].items():
            tensors[f"objective.{name}"] = value.detach().cpu().contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        "format": FORMAT,
        "epoch": state.epoch,
        "step": state.step,
        "config_hash": config_hash,
        "history": state.history,
        "optimizer": {"param_groups": optim["param_groups"], "scalars": scalars},
        "scaler": state.scaler,
        "skipped_in_row": state.skipped_in_row,
        "objective": held[1] if held is not None else None,
    }
    # Encoded once, compactly: with indentation json encodes in Python, and the whole history
    # goes in every epoch's checkpoint (3,000 epochs of a small model spent most of their
    # time here). state.json is strict JSON: a non-finite figure is written null.
    text = json.dumps(meta)
    header = {"state": text, DIGEST_KEY: tensors_sha256(tensors)}
    atomic_write(folder / TENSORS_FILE, lambda p: save_file(tensors, str(p), header))
    _write_state(folder / STATE_FILE, meta, text)


def _write_state(path: Path, meta: dict[str, Any], text: str) -> None:
    """state.json: `text` (meta encoded) where it is strict JSON, else meta with every
    non-finite figure written null."""
    if "NaN" in text or "Infinity" in text:
        write_json(path, meta)
    else:
        atomic_write(path, lambda p: p.write_text(text + "\n"))


def has_checkpoint(rundir: str | Path) -> bool:
    return (Path(rundir) / CHECKPOINT_DIR / TENSORS_FILE).is_file()


def load_checkpoint(rundir: str | Path, state: LoopState) -> str:
    """Fill `state` (model, optimizer, epoch, step, history, RNG) from the run's checkpoint.

    Returns the config hash recorded with it.
    """
    path = Path(rundir) / CHECKPOINT_DIR / TENSORS_FILE
    if not path.is_file():
        raise VaekitError(f"{path}: missing; the run has no checkpoint to resume from")
    model_state = state.model.state_dict()
    shapes = {f"model.{k}": tuple(v.shape) for k, v in model_state.items()}
    averages = state.ema.state_dict() if state.ema is not None else {}
    shapes.update({f"ema.{k}": tuple(v.shape) for k, v in averages.items()})
    tensors, header = read_safetensors(path, shapes, what="vaekit checkpoint")
    meta = _read_meta(header, path)
    found = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    if set(found) != set(model_state) or any(
        v.dtype != model_state[k].dtype for k, v in found.items()
    ):
        raise VaekitError(f"{path}: the checkpoint does not fit this model")
    rng = tensors.get("rng.torch")
    if rng is None or rng.dtype != torch.uint8 or rng.shape != torch.get_rng_state().shape:
        raise VaekitError(f"{path}: no random number generator state of the right size")
    optim_state = _optimizer_state(tensors, meta, state.optimizer, path)
    ema = {k.removeprefix("ema."): v for k, v in tensors.items() if k.startswith("ema.")}
    if set(ema) != set(averages) or any(v.dtype != averages[k].dtype for k, v in ema.items()):
        raise VaekitError(f"{path}: the checkpoint's averaged weights (--ema) do not fit")
    # --objective's state (checked, then restored, before anything else is): none in a
    # checkpoint older than the objectives, whose runs trained the plain loss.
    theirs = {k[len("objective.") :]: v for k, v in tensors.items() if k.startswith("objective.")}
    if state.objective is not None:
        state.objective.load_state(theirs, meta.get("objective"), str(path))
    elif theirs or meta.get("objective") is not None:
        raise VaekitError(f"{path}: the checkpoint holds an objective's state this run lacks")
    state.model.load_state_dict(found)
    try:
        state.optimizer.load_state_dict(
            {"state": optim_state, "param_groups": meta["optimizer"]["param_groups"]}
        )
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as err:
        raise VaekitError(f"{path}: the optimizer state does not fit ({err})") from None
    match_parameter_layouts(state.optimizer)
    if state.ema is not None:
        state.ema.load_state_dict(ema)
    torch.set_rng_state(rng)
    state.epoch, state.step, state.history = meta["epoch"], meta["step"], meta["history"]
    state.scaler = meta.get("scaler")  # absent from checkpoints older than the fp16 scaler's
    state.skipped_in_row = meta.get("skipped_in_row") or 0  # (and older than this count)
    return meta["config_hash"]


def _read_meta(header: dict[str, str], path: Path) -> dict[str, Any]:
    """The JSON state, each field of the type save_checkpoint writes."""
    try:
        meta = json.loads(header["state"])
    except (KeyError, ValueError, RecursionError):
        raise VaekitError(f"{path}: not a vaekit checkpoint (no readable state)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise VaekitError(f"{path}: not a vaekit checkpoint of format {FORMAT}")
    optimizer = meta.get("optimizer")
    fields = {
        "epoch": type(meta.get("epoch")) is int and meta["epoch"] >= 0,
        "step": type(meta.get("step")) is int and meta["step"] >= 0,
        "config_hash": isinstance(meta.get("config_hash"), str),
        "history": isinstance(meta.get("history"), list)
        and all(isinstance(r, dict) for r in meta["history"]),
        "optimizer": isinstance(optimizer, dict)
        and isinstance(optimizer.get("param_groups"), list)
        and isinstance(optimizer.get("scalars"), dict)
        and all(isinstance(v, dict) for v in optimizer["scalars"].values()),
        "scaler": meta.get("scaler") is None
        or (
            isinstance(meta["scaler"], dict)
            and all(type(v) in (int, float) for v in meta["scaler"].values())
        ),
        "objective": meta.get("objective") is None or isinstance(meta["objective"], dict),
        "skipped_in_row": meta.get("skipped_in_row") is None
        or (type(meta["skipped_in_row"]) is int and meta["skipped_in_row"] >= 0),
    }
    bad = [name for name, ok in fields.items() if not ok]
    if bad:
        raise VaekitError(f"{path}: a damaged checkpoint ({bad[0]} is missing or malformed)")
    return meta


def _optimizer_state(
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    path: Path,
) -> dict[int, dict[str, Any]]:
    """Parameter index -> its optimizer state; each tensor a scalar or its parameter's shape."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    out: dict[int, dict[str, Any]] = {}
    items = [(k.split(".", 2)[1:], v) for k, v in tensors.items() if k.startswith("optimizer.")]
    for index, values in meta["optimizer"]["scalars"].items():
        items += [([index, name], value) for name, value in values.items()]
    for parts, value in items:
        index = int(parts[0]) if len(parts) == 2 and str(parts[0]).isdigit() else -1
        if not 0 <= index < len(params):
            raise VaekitError(f"{path}: optimizer state for no parameter ({'.'.join(parts)})")
        if isinstance(value, torch.Tensor) and value.ndim and value.shape != params[index].shape:
            raise VaekitError(f"{path}: optimizer state {'.'.join(parts)} has the wrong shape")
        out.setdefault(index, {})[parts[1]] = value
    return out
