"""The Python API on an in-memory array: train -> run directory -> load -> use."""

import json

import numpy as np
import pytest
import torch

import vaekit
from vaekit.errors import VaekitError


def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    found = (rng.random((120, 10, 10)) * 255).astype(np.uint8)
    found[::2, 2:8, 2:8] = 255
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    return vaekit.train(
        images(),
        out=out,
        model="mlp",
        hidden_dims=(32,),
        latent_dim=4,
        epochs=2,
        batch_size=32,
        progress=False,
    )


def test_train_on_an_array_returns_a_run(run):
    assert run.path.is_dir()
    assert len(run.history) == 2 and set(run.test) == {"loss", "neg_elbo", "rec", "kl"}
    assert run.config["data"]["source"] == "array"
    assert run.config["data"]["test_carved"] == {"fraction": 0.1, "seed": 0}
    assert run.config["data"]["num_train"] + run.config["data"]["num_val"] == 108
    for picture in run.pictures.values():
        assert picture.stat().st_size > 0


def test_the_closing_active_units_read_the_first_test_examples_at_most(run, tmp_path, monkeypatch):
    # All 12 test examples here; a hierarchy's posterior mean costs 64 passes per example, so
    # the count at the end of training reads at most CLOSING_UNITS_EXAMPLES of them.
    assert run.latents["active_units_examples"] == 12
    monkeypatch.setattr("vaekit.api.train.CLOSING_UNITS_EXAMPLES", 5)
    capped = vaekit.train(images(), out=tmp_path / "r", model="mlp", hidden_dims=(32,),
                          latent_dim=4, epochs=1, progress=False, report=False)  # fmt: skip
    assert capped.latents["active_units_examples"] == 5
    assert 0 <= capped.latents["active_units"] <= 4
    final = json.loads((capped.path / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["latents"] == capped.latents


def test_load_and_use(run):
    model = vaekit.load(run.path)
    assert isinstance(model, vaekit.Model) and not isinstance(model, torch.nn.Module)
    x8 = np.full((3, 1, 10, 10), 255, np.uint8)
    xf = torch.ones(3, 1, 10, 10)
    q8, qf = model.encode(x8), model.encode(xf)
    assert q8.mean.shape == (3, 4) and q8.std.shape == (3, 4) and (q8.std > 0).all()
    torch.testing.assert_close(q8.mean, qf.mean)
    torch.testing.assert_close(model.encode(x8[:, 0]).mean, q8.mean)  # (B, H, W) accepted
    decoded = model.decode(q8.mean)
    assert decoded.shape == (3, 1, 10, 10) and decoded.min() >= 0 and decoded.max() <= 1
    samples = model.sample(5, seed=1)
    assert samples.shape == (5, 1, 10, 10)
    assert torch.equal(samples, model.sample(5, seed=1))
    assert not torch.equal(samples, model.sample(5, seed=2))
    assert model.reconstruct(x8).shape == (3, 1, 10, 10)
    terms = model.elbo(xf)
    torch.testing.assert_close(terms.loss, terms.rec + terms.kl)
    assert terms.loss.shape == (3,)


def test_loaded_model_matches_the_trained_one(run):
    model = vaekit.load(run.path)
    x = torch.rand(4, 1, 10, 10)
    torch.testing.assert_close(model.encode(x).mean, run.model.encode(x).mean, rtol=0, atol=0)
    torch.testing.assert_close(model.elbo(x).loss, run.model.elbo(x).loss, rtol=0, atol=0)


def test_metrics_file_matches_the_history(run):
    lines = [json.loads(s) for s in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert lines[:-1] == run.history
    assert lines[-1] == {
        "final": True,
        "loss_is": "neg_elbo",
        "test": run.test,
        "latents": run.latents,
    }


def test_bad_inputs(run, tmp_path):
    model = run.model
    with pytest.raises(VaekitError, match="expected images shaped"):
        model.encode(np.zeros((2, 1, 9, 10), np.uint8))
    with pytest.raises(VaekitError, match=r"\[0, 1\]"):
        model.encode(torch.full((2, 1, 10, 10), 2.0))
    with pytest.raises(VaekitError, match="expected latents"):
        model.decode(torch.zeros(2, 5))
    # as the CLI refuses them; past 1e6 the draws would leave float32's range (NaN samples)
    for temperature in (0.0, -1.0, float("nan"), float("inf"), 1e40):
        with pytest.raises(VaekitError, match=r"temperature: expected a number in \(0, 1e\+06\)"):
            model.sample(2, seed=0, temperature=temperature)
    with pytest.raises(VaekitError, match="already exists"):
        vaekit.train(np.zeros((20, 4, 4), np.uint8), out=run.path, epochs=1, progress=False)
    with pytest.raises(VaekitError, match="not a vaekit run directory"):
        (tmp_path / "keep.txt").write_text("mine")
        vaekit.train(np.zeros((20, 4, 4), np.uint8), out=tmp_path, overwrite=True, progress=False)
    assert (tmp_path / "keep.txt").exists()
