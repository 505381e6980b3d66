"""Full-state checkpoints: round trip, exact continuation, and atomicity under a crash."""

from pathlib import Path

import pytest
import torch

from tests.conftest import write_idx_folder
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.kinds.base import family as find_family
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.training import checkpoint
from vaekit.training.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from vaekit.training.loop import Callback, TrainConfig, fit, make_state


def _fresh(ds, config, family="mlp"):
    torch.manual_seed(0)
    sizes = {"hidden_dims": (16,), "channels": (4, 8)}  # each family takes its own
    own = {k: v for k, v in sizes.items() if k in find_family(family).options}
    model = build_vae(ModelConfig.create(ds.shape, family=family, latent_dim=2, **own))
    return make_state(model, config)


def _numbers(history):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in history]


class _SaveEachEpoch(Callback):
    def __init__(self, folder):
        self.folder = folder

    def on_epoch_end(self, record, state):
        save_checkpoint(self.folder, state, "hash")


@pytest.mark.parametrize(
    ("family", "optimizer"), [("mlp", "adam"), ("mlp", "adamw"), ("mlp", "sgd"), ("conv", "adam")]
)
def test_resuming_from_a_checkpoint_continues_exactly(tmp_path: Path, family, optimizer):
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=50, n_test=10))
    config = TrainConfig(epochs=4, batch_size=16, optimizer=optimizer, binarize=True)
    straight = _fresh(ds, config, family)
    fit(straight.model, ds.train, ds.test, config, state=straight)

    first = _fresh(ds, config, family)
    fit(
        first.model,
        ds.train,
        ds.test,
        TrainConfig(**{**config.__dict__, "epochs": 2}),
        [_SaveEachEpoch(tmp_path)],
        first,
    )
    resumed = _fresh(ds, config, family)
    assert load_checkpoint(tmp_path, resumed) == "hash"
    assert (resumed.epoch, resumed.step) == (2, first.step)
    fit(resumed.model, ds.train, ds.test, config, state=resumed)

    assert _numbers(resumed.history) == _numbers(straight.history)
    for a, b in zip(resumed.model.parameters(), straight.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_crash_while_writing_leaves_a_loadable_checkpoint(tmp_path: Path, monkeypatch):
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=30, n_test=10))
    config = TrainConfig(epochs=1, batch_size=16)
    state = _fresh(ds, config)
    fit(state.model, ds.train, None, config, state=state)
    save_checkpoint(tmp_path, state, "one")

    # Killed while the tensors are being written: the old checkpoint stays, no temp file.
    def dies(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save_file", dies)
    state.step = 99
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, state, "two")
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == [
        "state.json",
        "state.safetensors",
    ]
    assert load_checkpoint(tmp_path, _fresh(ds, config)) == "one"

    # Killed between the tensors and the JSON: the new tensors carry their own state.
    monkeypatch.undo()
    monkeypatch.setattr(checkpoint, "_write_state", dies)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, state, "two")
    loaded = _fresh(ds, config)
    assert load_checkpoint(tmp_path, loaded) == "two" and loaded.step == 99


def test_missing_or_corrupt_checkpoints_are_clear_errors(tmp_path: Path):
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=30, n_test=10))
    state = _fresh(ds, TrainConfig())
    assert not has_checkpoint(tmp_path)
    with pytest.raises(VaekitError, match="no checkpoint"):
        load_checkpoint(tmp_path, state)
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "state.safetensors").write_bytes(b"\x80\x04 pickle? no")
    with pytest.raises(VaekitError, match="not a readable vaekit checkpoint"):
        load_checkpoint(tmp_path, state)


def test_the_float16_gradient_scaler_resumes_where_it_was(tmp_path: Path, monkeypatch):
    # fp16 is for CUDA; on this CPU the loop is made to take it (CPU autocast and GradScaler
    # support float16), so that resume is checked exactly as a GPU would run it.
    from vaekit.training import loop
    from vaekit.training.precision import Precision

    monkeypatch.setattr(loop, "resolve_precision", lambda *a: Precision("fp16", torch.float16))
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=50, n_test=10))
    config = TrainConfig(epochs=4, batch_size=16, binarize=True)
    straight = _fresh(ds, config)
    fit(straight.model, ds.train, ds.test, config, state=straight)
    assert straight.scaler is not None and straight.scaler["scale"] > 0

    first = _fresh(ds, config)
    two = TrainConfig(**{**config.__dict__, "epochs": 2})
    fit(first.model, ds.train, ds.test, two, [_SaveEachEpoch(tmp_path)], first)
    resumed = _fresh(ds, config)
    load_checkpoint(tmp_path, resumed)
    assert resumed.scaler == first.scaler
    fit(resumed.model, ds.train, ds.test, config, state=resumed)
    assert resumed.scaler == straight.scaler
    assert _numbers(resumed.history) == _numbers(straight.history)
    for a, b in zip(resumed.model.parameters(), straight.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_state_json_is_strict_json_and_the_checkpoints_state(tmp_path: Path):
    """state.json holds what the tensors' header holds, as strict JSON: a non-finite figure
    (a NaN epoch loss, say) is null there."""
    import json
    import math

    from safetensors import safe_open

    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=30, n_test=10))
    config = TrainConfig(epochs=1, batch_size=16)
    state = _fresh(ds, config)
    fit(state.model, ds.train, None, config, state=state)
    for loss in (1.5, math.nan):
        state.history[0]["train"]["loss"] = loss
        save_checkpoint(tmp_path, state, "h")
        text = (tmp_path / "checkpoint" / "state.json").read_text()
        saved = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in state.json"))
        with safe_open(str(tmp_path / "checkpoint" / "state.safetensors"), "pt") as f:
            header = json.loads(f.metadata()["state"])
        assert saved["history"][0]["train"]["loss"] == (None if math.isnan(loss) else loss)
        assert saved["step"] == header["step"] and len(saved["history"]) == len(header["history"])
