"""Faults met through `vaekit train`: NaN steps skipped, counted in metrics.jsonl and the
summary; divergence that persists stops with one line and leaves a run that resumes; a full
disk while saving a checkpoint keeps the previous one."""

import errno
import json
import math
import os
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from tests.cli.test_cli import vaekit
from tests.conftest import write_npz
from vaekit.models.vae import VAE
from vaekit.training import checkpoint, loop

# 90 training images in batches of 30: steps 0-2 are epoch 1, 3-5 epoch 2, 6-8 epoch 3.
FLAGS = ["--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2", "--batch-size", "30",
         "--val-fraction", "0", "--epochs", "3"]  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_npz(tmp_path / "d.npz", n=100, size=6)


def _nan_at(monkeypatch, bad) -> None:
    """A NaN loss at the steps (0-based) where bad(step, times the step was tried) holds."""
    tried: Counter = Counter()
    now = {}
    real_generator, real_loss = loop.step_generator, VAE.loss

    def generator(seed, step, device):
        now["step"] = step
        tried[step] += 1
        return real_generator(seed, step, device)

    def loss(self, *args, **kwargs):
        out = real_loss(self, *args, **kwargs)
        if torch.is_grad_enabled() and bad(now["step"], tried[now["step"]]):  # (not a probe)
            out.objective = out.objective * math.nan
            out.loss = out.loss * math.nan
        return out

    monkeypatch.setattr(loop, "step_generator", generator)
    monkeypatch.setattr(VAE, "loss", loss)


def _lines(run: Path) -> list[dict]:
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


def _finite_weights(run: Path) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in load_file(run / "model.safetensors").values())


def test_skipped_steps_and_rollbacks_are_recorded_and_counted(data, tmp_path, monkeypatch,
                                                              capsys):  # fmt: skip
    # Step 1 fails once; steps 3-5 fail on the first try (3 in a row: a rollback to the end of
    # epoch 1), then pass at half the learning rate.
    _nan_at(monkeypatch, lambda step, tries: tries == 1 and step in (1, 3, 4, 5))
    run = tmp_path / "run"
    assert vaekit("train", "--data", data, "--out", run, *FLAGS, "--rollback-after", "3",
                  "--quiet") == 0  # fmt: skip
    assert json.loads((run / "config.json").read_text())["data"]["num_train"] == 90
    epochs = _lines(run)[:3]
    assert [(r["skipped_steps"], r["rollbacks"]) for r in epochs] == [(1, 0), (3, 1), (0, 0)]
    assert [r.get("lr") for r in epochs] == [None, 0.0005, 0.0005]
    assert all(math.isfinite(r["train"]["loss"]) for r in epochs) and _finite_weights(run)
    out = capsys.readouterr().out
    assert "skipped steps (NaN or infinite loss or gradient): 4; rollbacks" in out
    assert "lower learning rate: 1" in out


def test_divergence_that_persists_is_one_line_and_the_run_resumes(data, tmp_path, monkeypatch,
                                                                  capsys):  # fmt: skip
    _nan_at(monkeypatch, lambda step, tries: step >= 3)
    run = tmp_path / "run"
    assert vaekit("train", "--data", data, "--out", run, *FLAGS, "--rollback-after", "2",
                  "--max-rollbacks", "1", "--quiet") == 1  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("vaekit: error: training diverged at step 5 (epoch 2): 2 steps in a")
    assert len(err.splitlines()) == 1
    assert [r["epoch"] for r in _lines(run)] == [1] and _finite_weights(run)
    monkeypatch.undo()
    assert vaekit("train", "--out", run, "--resume", "--quiet") == 0
    assert [r.get("epoch") for r in _lines(run)] == [1, 2, 3, None]


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _safetensors_full(*args, **kwargs):  # what safetensors raises when a write fails
    raise SafetensorError("Error while serializing: I/O error: No space left on device")


@pytest.mark.parametrize("fail", ["save_file", "safetensors", "os.replace"])
def test_a_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(
    data, tmp_path, monkeypatch, capsys, fail
):
    run = tmp_path / "run"
    flags = [f for f in FLAGS if f not in ("--epochs", "3")]
    assert vaekit("train", "--data", data, "--out", run, *flags, "--epochs", "1", "--quiet") == 0
    if fail == "os.replace":
        real_replace = os.replace

        def replace(src, dst):
            if Path(dst).name == checkpoint.TENSORS_FILE:
                _enospc()
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
    else:
        monkeypatch.setattr(checkpoint, "save_file",
                            _enospc if fail == "save_file" else _safetensors_full)  # fmt: skip
    capsys.readouterr()
    assert vaekit("train", "--out", run, "--resume", "--epochs", "3", "--quiet") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "could not save epoch 2" in err, err
    assert "No space left on device" in err
    resume = f"vaekit train --out {run} --resume"
    assert f"keeps the checkpoint of epoch 1: make room, then continue with: {resume}" in err
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == [
        "state.json",
        "state.safetensors",
    ]
    monkeypatch.undo()
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 1
    assert vaekit("train", "--out", run, "--resume", "--epochs", "3", "--quiet") == 0
    assert [r.get("epoch") for r in _lines(run)] == [1, 2, 3, None]


def test_a_full_disk_in_the_first_epoch_leaves_nothing(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checkpoint, "save_file", _enospc)
    run = tmp_path / "run"
    assert vaekit("train", "--data", data, "--out", run, *FLAGS, "--quiet") == 1
    err = capsys.readouterr().err.strip()
    assert "could not save epoch 1" in err and f"{run} is as it was before this command" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


FULL = [OSError(errno.ENOSPC, "No space left on device"), SafetensorError("I/O error")]


@pytest.mark.parametrize("error", FULL)
def test_a_full_disk_at_the_end_is_one_line_that_says_what_is_kept(
    data, tmp_path, monkeypatch, capsys, error
):
    from vaekit.api import rundir

    def full(path, model):  # the final save only (each epoch's is the writer's own)
        raise error

    monkeypatch.setattr(rundir, "save_weights", full)
    out = tmp_path / "run"
    assert vaekit("train", "--data", data, *FLAGS, "--out", out, "--quiet") == 1
    err = capsys.readouterr().err
    assert f"{out}: could not write its final files" in err and err.count("\n") == 1, err
    assert f"`vaekit train --out {out} --resume` finishes it" in err
    assert "a bug in vaekit" not in err
    monkeypatch.undo()
    assert vaekit("train", "--out", out, "--resume", "--quiet") == 0  # as it says
    assert (out / "curves.png").exists() and (out / "report.html").exists()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert sum(1 for line in lines if json.loads(line).get("final")) == 1


def test_a_run_that_diverges_to_finite_losses_is_said_to_have_diverged(tmp_path, capsys):
    """--lr 10: every loss finite, the reconstruction term a thousand times the untrained
    model's, and the run reported like any other; the summary now says it diverged. A run
    that trained says nothing of the kind, and the yardstick is the first step's
    reconstruction term, in metrics.jsonl."""
    from vaekit.training.scoring import diverged_warning

    data = write_npz(tmp_path / "d.npz", n=200, size=8)
    flags = ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "2", "--epochs", "3",
             "--no-report", "--quiet"]  # fmt: skip
    assert vaekit("train", "--data", data, *flags, "--lr", "10", "--out", tmp_path / "a") == 0
    out = capsys.readouterr().out
    assert "warning: the training reconstruction term rose from" in out
    assert "--lr (this run's: 10)" in out
    assert vaekit("train", "--data", data, *flags, "--out", tmp_path / "b") == 0
    assert "diverged" not in capsys.readouterr().out
    first = json.loads((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()[0])
    assert 40 < first["first_step_rec"] < 50  # 64 pixels of an untrained model
    # The rule: more than 10 times its size above the first step's, either sign; the KL,
    # which a warm-up lets grow, does not count.
    history = [{"first_step_rec": -50.0, "train": {"rec": 449.0, "kl": 1e4}}]
    assert diverged_warning(history, 1e-3) is None
    history[0]["train"]["rec"] = 451.0
    assert "rose from -50 at the first step" in diverged_warning(history, 1e-3)
    assert diverged_warning([{"train": {"rec": 1e9}}], 1e-3) is None  # no yardstick
