"""What a user trips over: permissions, strict JSON, names and folders, failures mid-run,
resuming a run whose data moved, and the data's own value range."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz
from vaekit.api.model import reconstruct_first
from vaekit.data.batches import ImageSet
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.training.loop import Callback

SMALL = {"model": "mlp", "hidden_dims": (8,), "latent_dim": 2, "progress": False}


def test_run_files_are_readable_by_others(tmp_path: Path):
    old = os.umask(0o022)
    try:
        run = vaekit.train(write_npz(tmp_path / "d.npz", n=60, size=6), out=tmp_path / "r",
                           epochs=1, **SMALL)  # fmt: skip
    finally:
        os.umask(old)
    for name in ("config.json", "model.safetensors", "samples.png", "checkpoint/state.json"):
        assert stat.S_IMODE((run.path / name).stat().st_mode) == 0o644, name


def test_json_has_no_nan(tmp_path: Path):
    run = vaekit.train(write_npz(tmp_path / "d.npz", n=60, size=6), out=tmp_path / "r",
                       epochs=1, **SMALL)  # fmt: skip
    assert cli("eval", run.path, "--max-examples", "1", "--iw-samples", "2", "--quiet") == 0
    text = (run.path / "eval.json").read_text()
    assert "NaN" not in text and json.loads(text)["iwae"]["stderr"] is None


def test_a_registered_name_wins_over_a_folder_of_that_name(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("digits").mkdir()
    assert open_dataset("digits").info["source"] == "registry"
    with pytest.raises(VaekitError, match="no such file"):
        open_dataset("mnits.npz")
    with pytest.raises(VaekitError, match="unknown dataset 'mnits'"):
        open_dataset("mnits")


class _Interrupt(Callback):
    def __init__(self, after_epochs: int) -> None:
        self.after = after_epochs

    def on_step(self, step, epoch, loss):
        if epoch > self.after:
            raise KeyboardInterrupt


def test_a_run_stopped_before_its_first_checkpoint_leaves_nothing(tmp_path: Path):
    data = write_npz(tmp_path / "d.npz", n=60, size=6)
    with pytest.raises(KeyboardInterrupt):
        vaekit.train(data, out=tmp_path / "r", epochs=3, callbacks=[_Interrupt(0)], **SMALL)
    assert not (tmp_path / "r").exists()
    # Stopped later, the run keeps its checkpoint and resumes.
    with pytest.raises(KeyboardInterrupt):
        vaekit.train(data, out=tmp_path / "r", epochs=3, callbacks=[_Interrupt(1)], **SMALL)
    assert (tmp_path / "r" / "checkpoint" / "state.json").exists()
    run = vaekit.resume(tmp_path / "r", progress=False)
    assert [r["epoch"] for r in run.history] == [1, 2, 3]


def test_resume_a_run_whose_data_moved_or_was_an_array(tmp_path: Path, capsys):
    data = write_npz(tmp_path / "d.npz", n=60, size=6)
    run = vaekit.train(str(data), out=tmp_path / "r", epochs=1, **SMALL)
    moved = data.rename(tmp_path / "moved.npz")
    assert cli("train", "--out", run.path, "--resume", "--epochs", "2", "--quiet") == 1
    said = "the run's data is no longer there (moved?): give its new place with --data PATH"
    assert said in capsys.readouterr().err  # (it said "no such file or folder" alone)
    assert cli("embed", run.path, "-o", tmp_path / "z.npy") == 1
    assert said in capsys.readouterr().err
    write_npz(tmp_path / "other.npz", n=60, size=6, seed=9)
    assert cli("train", "--out", run.path, "--resume", "--epochs", "2", "--data",
               tmp_path / "other.npz", "--quiet") == 1  # fmt: skip
    err = capsys.readouterr().err  # (and what to do: it said what was wrong alone)
    assert "differs from the data this run was trained on" in err
    assert "resuming needs the data the run was trained on; a new run" in err
    assert cli("train", "--out", run.path, "--resume", "--epochs", "2", "--data", moved,
               "--quiet") == 0  # fmt: skip

    images = np.load(moved)["images"]
    array_run = vaekit.train(images, out=tmp_path / "a", epochs=1, **SMALL)
    with pytest.raises(VaekitError, match="in-memory array"):
        vaekit.resume(array_run.path, epochs=2, progress=False)
    assert len(vaekit.resume(array_run.path, epochs=2, data=images, progress=False).history) == 2


def test_reconstructions_scale_data_by_its_own_range(tmp_path: Path):
    run = vaekit.train("digits", out=tmp_path / "r", epochs=1, **SMALL)  # values 0..16
    bits = ImageSet(torch.ones(3, 1, 8, 8, dtype=torch.uint8), None, 1.0)
    inputs, outputs = reconstruct_first(run.model, bits, 2)
    assert torch.equal(inputs, torch.ones(2, 1, 8, 8)) and outputs.shape == (2, 1, 8, 8)


def test_the_python_api_refuses_what_it_cannot_take_in_one_line(tmp_path: Path, monkeypatch):
    """What a notebook user passes by mistake ends in a VaekitError saying what is wrong
    (it was a torch or numpy error, or a silent misreading), and numpy's numbers are numbers."""
    data = write_npz(tmp_path / "d.npz", n=60, size=6)
    run = vaekit.train(data, out=tmp_path / "r", model="mlp", hidden_dims=(8,), latent_dim=2,
                       epochs=1, progress=False, report=False)  # fmt: skip
    model = vaekit.load(run)  # a Run is taken for its folder
    for call, said in (
        (lambda: model.encode(np.ones((2, 1, 6, 6), dtype=bool)), "boolean examples"),
        (lambda: model.encode(torch.zeros(0, 1, 6, 6)), "no examples given"),
        (lambda: model.sample(2, seed="1"), "a seed must be a whole number"),
        (lambda: model.sample(2.5), "must be a whole number of at least 1, got 2.5"),
        (lambda: model.posterior_sample(torch.rand(1, 1, 6, 6), n=0), "at least 1, got 0"),
        (lambda: model.decode(torch.full((1, 2), float("nan"))), "latents must be finite"),
        (lambda: model.decode("abc"), "expected latents (B, 2) as numbers, got str"),
        (lambda: vaekit.load(None), "expected a run directory (a path), got NoneType"),
        (lambda: model.encode_lines("a line"), "sentences are for a text model"),
        (lambda: model.encode(pd.DataFrame({"a": [1]})), "a DataFrame: a model of images"),
    ):
        with pytest.raises(VaekitError, match=said.replace("(", r"\(").replace(")", r"\)")):
            call()
    # numpy's integers and floats are numbers, as in the options
    assert model.sample(2, seed=np.int64(3), temperature=np.float32(0.5)).shape == (2, 1, 6, 6)
    # one tensor larger than the memory available is refused, with what to use instead
    monkeypatch.setattr("vaekit.api.model.available_memory", lambda: 10_000)
    with pytest.raises(VaekitError, match=r"more than the 0\.0 GiB of memory available"):
        model.sample(1000)
    assert sum(len(b) for b in model.sample_batches(1000, seed=0)) == 1000
    with pytest.raises(VaekitError, match=r"posterior_sample\(n=1,000\) returns one tensor"):
        model.posterior_sample(torch.rand(2, 1, 6, 6), n=1000)  # (the allocator's error)
    monkeypatch.undo()
    # a Run and a path with ~ are run directories everywhere
    monkeypatch.setenv("HOME", str(tmp_path))
    assert vaekit.load("~/r").latent_dim == 2
    assert vaekit.evaluate(run, iw_samples=2, probe=False)["split_size"] > 0
    assert vaekit.evaluate("~/r", iw_samples=2, probe=False)["split_size"] > 0


def test_a_list_of_images_and_a_bfloat16_tensor(tmp_path: Path):
    """A list of 1,797 images was refused with a message of 1 MB (its repr); a bfloat16
    tensor, which numpy has no type for, ended in a TypeError."""
    images = np.random.default_rng(0).random((300, 6, 6)).astype(np.float32)
    with pytest.raises(VaekitError) as refused:
        vaekit.train(list(images), out=tmp_path / "l", epochs=1, progress=False)
    said = str(refused.value)
    assert len(said) < 300 and "a list of 300 items" in said and "np.stack" in said
    run = vaekit.train(torch.from_numpy(images).bfloat16(), out=tmp_path / "b", model="mlp",
                       hidden_dims=(8,), latent_dim=2, epochs=1, progress=False,
                       report=False)  # fmt: skip
    assert np.isfinite(run.test["neg_elbo"])


def test_a_flipped_array_is_read_like_any_other():
    """np.flip gives a view with negative strides, which torch cannot wrap: every Model
    method raised "At least one stride in the given numpy array is negative"."""
    model = vaekit.load(Path(__file__).parents[1] / "frozen" / "run-v1")
    x = np.random.default_rng(0).random((3, *model.shape), dtype=np.float32)
    flipped = np.flip(x, axis=2)
    torch.testing.assert_close(
        model.encode(flipped).mean, model.encode(np.ascontiguousarray(flipped)).mean
    )
    assert model.reconstruct(flipped).shape == (3, *model.shape)
    z = np.random.default_rng(1).normal(size=(4, model.latent_dim)).astype(np.float32)
    torch.testing.assert_close(model.decode(np.flip(z, 0)), model.decode(z[::-1].copy()))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: list(m.sample_batches(5, batch=0)), "batch must be a whole number"),
        (lambda m: list(m.sample_batches(5, batch=-1)), "batch must be a whole number"),
        (lambda m: vaekit.evaluate(m, batch_size=0), "batch_size must be a whole number"),
        (lambda m: apps().interpolate(m, 0, 1, steps=-3), "steps must be a whole number"),
        (lambda m: apps().interpolate(m, 0, 1, steps=0), "steps must be a whole number"),
        (lambda m: apps().traverse(m, dims=[]), "dims is empty"),
        (lambda m: apps().traverse(m, most=0), "most must be a whole number"),
        (lambda m: apps().traverse(m, span=float("nan")), "span: expected a positive number"),
    ],
)
def test_python_callers_bad_counts_are_one_line_errors(call, message):
    """What the command line's parsers refuse was, from Python, a torch or range() error (0
    steps, batch 0), an empty result (steps=0) or silently nothing (batch=-1) or NaN images
    (span=nan)."""
    with pytest.raises(VaekitError, match=message):
        call(vaekit.load(Path(__file__).parents[1] / "frozen" / "run-v1"))


def apps():
    from vaekit.api import apps

    return apps


def test_numpy_numbers_are_counts_as_python_ints_are():
    """The checks above first took only Python's int: np.int64 steps (np.argsort's indices,
    a count from an array) were refused where they had worked."""
    model = vaekit.load(Path(__file__).parents[1] / "frozen" / "run-v1")
    assert apps().interpolate(model, np.int64(0), 1, steps=np.int64(3)).shape[0] == 3
    assert vaekit.evaluate(model, batch_size=np.int64(64), iw_samples=2, probe=False)
