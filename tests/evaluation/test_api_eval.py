"""`vaekit.evaluate` and `vaekit eval` on a real (tiny) trained run."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz
from vaekit.models.io import load_model, save_weights


@pytest.fixture(scope="module")
def binarized_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    data = write_npz(root / "d.npz", n=400, size=10)
    out = root / "run"
    vaekit.train(
        str(data), out=out, model="mlp", hidden_dims=(32,), latent_dim=4, epochs=4,
        batch_size=32, binarize=True, lr=3e-3, progress=False,
    )  # fmt: skip
    return out


def test_bounds_are_ordered_on_a_trained_model(binarized_run: Path):
    reports = {k: vaekit.evaluate(binarized_run, iw_samples=k, probe=False) for k in (1, 5, 50)}
    elbo = -reports[50]["elbo"]["loss"]
    iwae5, iwae50 = -reports[5]["iwae"]["nll"], -reports[50]["iwae"]["nll"]
    assert elbo <= iwae5 <= iwae50
    assert reports[1]["iwae"]["nll"] >= reports[5]["iwae"]["nll"]


def test_binarized_protocol_subset_and_probe(binarized_run: Path):
    report = vaekit.evaluate(binarized_run, iw_samples=10, max_examples=25, seed=2)
    assert report["binarized"] == {"seed": 2}
    assert report["subset"] == {"max_examples": 25, "seed": 2}
    assert report["num_examples"] == 25 and report["split_size"] == 40
    assert report["kind"] == "log-likelihood"  # Bernoulli on binarized pixels
    # The probe learns from the training part only: 400 - 40 test - 36 validation images.
    assert report["probe"]["train_examples"] == 324 and report["probe"]["classes"] == 4
    again = vaekit.evaluate(binarized_run, iw_samples=10, max_examples=25, seed=2)
    assert again == report
    val = vaekit.evaluate(binarized_run, split="val", iw_samples=2)
    assert val["split"] == "val" and val["split_size"] == 36 and "probe" in val
    train = vaekit.evaluate(binarized_run, split="train", iw_samples=1, max_examples=10)
    # it would be scored on its own training examples: skipped, with the reason
    assert "measure memory, not features" in train["probe"]["skipped"]


def test_the_probe_reads_the_classes(binarized_run: Path):
    # The planted classes (which corner is bright) are easy: far above chance (0.25).
    report = vaekit.evaluate(binarized_run, iw_samples=1)
    assert report["probe"]["accuracy"] > 0.6


def test_eval_command_writes_json_and_a_table(binarized_run: Path, capsys, tmp_path):
    assert cli("eval", binarized_run, "--iw-samples", "20", "--quiet") == 0
    out = capsys.readouterr().out
    assert "NLL (IWAE, K=20)" in out and "active units" in out and "probe accuracy" in out
    report = json.loads((binarized_run / "eval.json").read_text())
    assert report["iwae"]["k"] == 20 and report["rundir"] == str(binarized_run)
    # The KL per dimension names each one as eval.json indexes it, the largest first.
    kl = report["latents"]["kl_per_dim"]
    ranked = sorted(range(4), key=lambda d: -kl[d])
    line = next(s for s in out.splitlines() if "KL per latent dim" in s)
    assert line.split("dim", 1)[1].strip() == ", ".join(f"z{d} {kl[d]:.2f}" for d in ranked)
    target = tmp_path / "e.json"
    assert cli("eval", binarized_run, "--iw-samples", "2", "--json", target, "--quiet") == 0
    assert json.loads(target.read_text())["iwae"]["k"] == 2


def test_eval_records_the_weights_it_judged(binarized_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(binarized_run, run)
    before = hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()
    assert cli("eval", run, "--iw-samples", "1", "--no-probe", "--quiet") == 0
    assert json.loads((run / "eval.json").read_text())["weights_sha256"] == before
    vae, _, _ = load_model(run)
    with torch.no_grad():
        next(vae.parameters()).mul_(0.5)
    save_weights(run, vae)
    after = hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()
    assert after != before
    assert vaekit.evaluate(run, iw_samples=1, probe=False)["weights_sha256"] == after


def test_gray_pixels_with_bernoulli_are_labelled_an_objective(tmp_path: Path, capsys):
    data = write_npz(tmp_path / "d.npz", n=60, size=6)
    out = tmp_path / "run"
    vaekit.train(str(data), out=out, model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1,
                 progress=False)  # fmt: skip
    assert cli("eval", out, "--iw-samples", "3", "--quiet", "--no-probe") == 0
    text = capsys.readouterr().out
    assert "NOT a log-likelihood" in text and "objective (IWAE, K=3)" in text
    assert json.loads((out / "eval.json").read_text())["kind"] == "objective"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--iw-samples", "0"], "expected a positive integer"),
        # past 64 * 2**20 an example's noise would repeat another's: refused, not run for days
        (["--iw-samples", "100000000000"], "at most 67,108,864 importance samples per example"),
        (["--split", "dev"], "invalid choice"),
        (["--json", "out.txt"], "expected a .json file name"),
        (["--data", "digits"], "digits: images of shape (1, 8, 8) (C, H, W); this model takes"),
    ],
)
def test_eval_mistakes(binarized_run: Path, args, message, capsys):
    assert cli("eval", binarized_run, *args, "--quiet") != 0
    assert message in capsys.readouterr().err
