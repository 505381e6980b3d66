"""Denoising and uncertainty on a tiny trained model, and the noise itself."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz
from vaekit.api import apps
from vaekit.data.batches import corrupt, parse_noise
from vaekit.errors import VaekitError


def test_noise_kinds():
    x = torch.full((4, 3, 10, 10), 0.5)
    g = torch.Generator().manual_seed(0)
    masked = corrupt(x, "mask", 0.25, g)
    zeros = (masked == 0).all(1).float().mean()  # whole pixels, all channels at once
    assert 0.15 < float(zeros) < 0.35 and set(masked.unique().tolist()) == {0.0, 0.5}
    sp = corrupt(x, "saltpepper", 0.5, g)
    assert set(sp.unique().tolist()) == {0.0, 0.5, 1.0}
    noisy = corrupt(x, "gaussian", 0.3, g)
    assert float(noisy.min()) >= 0 and float(noisy.max()) <= 1 and 0.2 < float(noisy.std()) < 0.35
    assert parse_noise("mask:0.25") == ("mask", 0.25)
    for bad in ("mask:2", "blur:1", "gaussian:x", "gaussian", "gaussian:inf", "gaussian:nan"):
        with pytest.raises(ValueError):
            parse_noise(bad)


@pytest.fixture(scope="module")
def denoising_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("restore")
    data = write_npz(root / "d.npz", n=600, size=8)
    return vaekit.train(str(data), out=root / "run", model="mlp", hidden_dims=(64,),
                        latent_dim=4, epochs=15, lr=3e-3, train_noise="mask:0.25",
                        progress=False)  # fmt: skip


def test_a_denoising_vae_improves_psnr_on_a_planted_case(denoising_run):
    r = apps.denoise(denoising_run.model, add_noise="mask:0.25", n=40, seed=1)
    assert r["noisy"].shape == r["denoised"].shape == (40, 1, 8, 8)
    assert r["mean_psnr_denoised"] > r["mean_psnr_noisy"] + 3
    assert (
        json.loads((denoising_run.path / "config.json").read_text())["training"]["train_noise"]
        == "mask:0.25"
    )


def test_uncertainty_shapes_and_seed(denoising_run, tmp_path: Path):
    model = denoising_run.model
    np.save(tmp_path / "odd.npy", np.random.default_rng(0).integers(0, 256, (4, 8, 8), np.uint8))
    r = apps.uncertainty(model, ["0", "1", "2", "3", str(tmp_path / "odd.npy")], samples=16)
    assert r["spread"].shape == (8, 1, 8, 8) and r["posterior_std"].shape == (8, 4)
    assert (r["spread"] >= 0).all()
    again = apps.uncertainty(model, ["0", "1", "2", "3", str(tmp_path / "odd.npy")], samples=16)
    assert torch.equal(again["spread"], r["spread"])  # seeded
    torch.testing.assert_close(r["posterior_std"], model.encode(r["inputs"]).std)


def test_denoise_and_uncertainty_commands(denoising_run, tmp_path: Path, capsys):
    out = tmp_path / "dn"
    assert cli("denoise", denoising_run.path, "--add-noise", "gaussian:0.3", "-n", "10",
               "-o", out) == 0  # fmt: skip
    assert "PSNR noisy" in capsys.readouterr().out
    report = json.loads((out / "denoise.json").read_text())
    assert len(report["psnr_noisy"]) == 10 and report["noise"] == "gaussian:0.3"
    assert report["inputs"] == [str(i) for i in range(10)]  # the first 10 of the test split
    assert np.load(out / "denoised.npy").shape == (10, 1, 8, 8)
    assert (out / "denoised.png").stat().st_size > 0
    assert cli("uncertainty", denoising_run.path, "0", "3", "-o", tmp_path / "u") == 0
    report = json.loads((tmp_path / "u" / "uncertainty.json").read_text())
    assert len(report["inputs"]) == 2 and len(report["inputs"][0]["posterior_std"]) == 4
    assert [i["input"] for i in report["inputs"]] == ["0", "3"]  # each named as given
    spread = np.load(tmp_path / "u" / "spread.npy")  # the PNG's white, kept and printed
    assert report["pixel_spread_max"] == pytest.approx(float(spread.max()))
    said = capsys.readouterr().out  # a gray model: white is the largest spread
    assert f"full brightness is the largest pixel spread, {spread.max():.4g}" in said
    assert cli("denoise", denoising_run.path, "--add-noise", "blur:1", "-o", out) == 2  # argparse
    # A bounded number of decodes: 100 million ran for hours with nothing shown.
    assert cli("uncertainty", denoising_run.path, "--samples", "100000000") == 2
    assert "expected at most 10000" in capsys.readouterr().err
    with pytest.raises(VaekitError, match="--samples must be from 2 to 10,000"):
        apps.uncertainty(denoising_run.model, ["0"], samples=10_001)
    assert cli("train", "--data", "digits", "--train-noise", "mask:3") == 1
    assert "--train-noise" in capsys.readouterr().err
