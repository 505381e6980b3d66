"""Checkpoints damaged on disk or forged: cut short, a byte changed, fields of the wrong type,
optimizer state for no parameter. Each is one clear VaekitError, never a resume from wrong
numbers or a traceback; state.json, only a readable copy, is never trusted."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

from tests.fuzzing import damaged, reads_or_refuses
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.io import DIGEST_KEY, tensors_sha256
from vaekit.training.checkpoint import (
    CHECKPOINT_DIR,
    STATE_FILE,
    TENSORS_FILE,
    load_checkpoint,
    save_checkpoint,
)
from vaekit.training.loop import LoopState, TrainConfig, make_state

CONFIG = ModelConfig.create((1, 4, 4), family="mlp", latent_dim=2, hidden_dims=(6,))


def _state() -> LoopState:
    torch.manual_seed(0)
    return make_state(build_vae(CONFIG), TrainConfig())


@functools.cache
def _checkpoint() -> dict[str, bytes]:
    """The files of a checkpoint after one optimizer step (so Adam has state)."""
    state = _state()
    loss = state.model.loss(torch.rand(3, 1, 4, 4), torch.Generator().manual_seed(0)).loss
    loss.mean().backward()
    state.optimizer.step()
    state.epoch, state.step, state.history = 1, 1, [{"epoch": 1}]
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(tmp, state, "hash")
        folder = Path(tmp) / CHECKPOINT_DIR
        return {p.name: p.read_bytes() for p in folder.iterdir()}


def _rundir(tmp: Path, **files: bytes) -> Path:
    folder = tmp / CHECKPOINT_DIR
    folder.mkdir(parents=True)
    for name, content in {**_checkpoint(), **files}.items():
        (folder / name).write_bytes(content)
    return tmp


def _with_state(tmp: Path, change) -> Path:
    """A checkpoint whose JSON state is changed by `change` (tensors and digest kept)."""
    path = _rundir(tmp) / CHECKPOINT_DIR / TENSORS_FILE
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        header = dict(f.metadata())
    meta = json.loads(header["state"])
    change(meta)
    header["state"] = json.dumps(meta)
    save_file(tensors, str(path), header)
    return tmp


def test_a_sound_checkpoint_loads(tmp_path: Path):
    state = _state()
    assert load_checkpoint(_rundir(tmp_path), state) == "hash"
    assert (state.epoch, state.step) == (1, 1) and state.optimizer.state


def test_a_changed_tensor_byte_is_an_error(tmp_path: Path):
    tensors = bytearray(_checkpoint()[TENSORS_FILE])
    tensors[-5] ^= 0x10  # inside the data: the file is still well formed
    rundir = _rundir(tmp_path, **{TENSORS_FILE: bytes(tensors)})
    with pytest.raises(VaekitError, match="corrupt: its tensors do not match"):
        load_checkpoint(rundir, _state())


def test_a_truncated_checkpoint_is_an_error(tmp_path: Path):
    tensors = _checkpoint()[TENSORS_FILE]
    rundir = _rundir(tmp_path, **{TENSORS_FILE: tensors[: len(tensors) - 100]})
    with pytest.raises(VaekitError, match="not a readable vaekit checkpoint"):
        load_checkpoint(rundir, _state())


def test_state_json_is_only_a_copy(tmp_path: Path):
    rundir = _rundir(tmp_path, **{STATE_FILE: b"\x00damaged"})
    assert load_checkpoint(rundir, _state()) == "hash"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(epoch="3"), "epoch is missing or malformed"),
        (lambda m: m.update(step=-1), "step is missing or malformed"),
        (lambda m: m.pop("history"), "history is missing or malformed"),
        (lambda m: m.update(format=7), "not a vaekit checkpoint of format"),
        (lambda m: m["optimizer"].update(scalars=[1]), "optimizer is missing or malformed"),
        (lambda m: m["optimizer"]["scalars"].update({"999": {"x": 1}}), "for no parameter"),
        (lambda m: m["optimizer"].update(param_groups=[]), "optimizer state does not fit"),
    ],
)
def test_a_damaged_state_is_an_error(tmp_path: Path, change, message: str):
    with pytest.raises(VaekitError, match=message):
        load_checkpoint(_with_state(tmp_path, change), _state())


def test_optimizer_state_of_the_wrong_shape_is_an_error(tmp_path: Path):
    path = _rundir(tmp_path) / CHECKPOINT_DIR / TENSORS_FILE
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        header = dict(f.metadata())
    name = next(k for k in tensors if k.startswith("optimizer.") and tensors[k].ndim)
    tensors[name] = torch.zeros(7, 7)
    header[DIGEST_KEY] = tensors_sha256(tensors)  # a consistent forgery
    save_file(tensors, str(path), header)
    with pytest.raises(VaekitError, match="has the wrong shape"):
        load_checkpoint(tmp_path, _state())


@pytest.mark.fuzz
@given(data=st.data())
def test_a_damaged_checkpoint_file(data: st.DataObject):
    content = data.draw(damaged(_checkpoint()[TENSORS_FILE]), label=TENSORS_FILE)
    with tempfile.TemporaryDirectory() as tmp:
        rundir = _rundir(Path(tmp), **{TENSORS_FILE: content})
        path = rundir / CHECKPOINT_DIR / TENSORS_FILE
        state = _state()
        if reads_or_refuses(lambda: load_checkpoint(rundir, state), path) is not None:
            assert (state.epoch, state.step) == (1, 1)  # loaded: then it is the checkpoint
