"""A model whose KL is under 1 nat per example gets a warning in eval's report and in the
training summary; the summary also names the active units and each layer's KL."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_idx_folder
from vaekit.cli.train import print_summary
from vaekit.data.datasets import open_dataset
from vaekit.evaluation.evaluate import EvalConfig, active_units, evaluate_vae, low_kl_warning
from vaekit.models.factory import ModelConfig, build_vae


def test_the_warning_is_for_a_kl_under_one_nat():
    assert "posterior collapse" in low_kl_warning(0.4)
    assert low_kl_warning(1.0) is None and low_kl_warning(30.0) is None
    assert low_kl_warning(float("nan")) is None


def test_eval_warns_about_a_collapsed_posterior(tmp_path):
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=10, n_test=6, size=8))
    model = build_vae(ModelConfig.create(ds.shape, family="mlp", latent_dim=2, hidden_dims=(8,)))
    config = EvalConfig(iw_samples=2, batch_size=6)
    head = model.encoder.head.linear  # (mean, log-variance) of q(z|x), two latent dimensions
    # q(z|x) = N((m, m), I) for every x: a closed-form KL of m^2 nats against p(z) = N(0, I).
    for m, warned in ((1.5, False), (0.5, True)):
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.tensor([m, m, 0.0, 0.0]))
        report, _ = evaluate_vae(model, ds.test, config)
        kl = report["elbo"]["kl"]
        assert kl == pytest.approx(m * m, rel=1e-5)
        assert report["warnings"] == ([low_kl_warning(kl)] if warned else [])
    with torch.no_grad():  # q(z|x) = N(0, I) = p(z) for every x: no information at all
        model.encoder.head.linear.weight.zero_()
        model.encoder.head.linear.bias.zero_()
    report, _ = evaluate_vae(model, ds.test, config)
    assert report["elbo"]["kl"] == 0
    assert report["warnings"] == [low_kl_warning(0.0)]
    assert report["latents"]["active_units"] == 0


def _result(kl: float, layers=None):
    terms = {"neg_elbo": 90.0, "rec": 90.0 - kl, "kl": kl}
    if layers:
        terms["kl_layers"] = layers
    return SimpleNamespace(
        history=[{"epoch": 1, "time_s": 1.0, "train": terms}],
        test=terms,
        config={"training": {"time_budget": None, "lr": 1e-3}},
        stopped_by_budget=False,
        latents={"active_units": 3, "latent_dim": 8},
        model=SimpleNamespace(num_classes=0, vae=SimpleNamespace(uses_latent=True)),
        path="runs/x",
        pictures={},
    )


def test_the_training_summary_warns_and_names_the_latents(capsys):
    print_summary(_result(0.5))
    out = capsys.readouterr().out
    assert "warning: the KL is 0.50 nats per example" in out
    assert "active units 3 of 8" in out
    print_summary(_result(12.0, layers=[10.0, 2.0]))
    out = capsys.readouterr().out
    assert "warning" not in out
    assert "kl   12.00 (10.00 + 2.00)" in out and "bottom layer first" in out


def test_the_active_units_of_one_example_are_not_counted(tmp_path, capsys):
    """A variance over one example is 0 whatever the model: a test split of one example
    said "active units 0 of 4", and the card called that posterior collapse."""
    two = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]])  # variances 0.25 and 0
    assert active_units(two[:1]) is None and active_units(two) == 3
    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (12, 8, 8), dtype=np.uint8))
    run = tmp_path / "R"
    assert cli("train", "--data", data, "--model", "mlp", "--hidden-dims", "8", "--latent-dim",
               "4", "--epochs", "1", "--out", run, "--no-report") == 0  # fmt: skip
    assert "active units not counted (1 test example: a variance needs two)" in (
        capsys.readouterr().out
    )
    assert "posterior collapse" not in (run / "README.md").read_text()
    assert cli("eval", run, "--iw-samples", "2") == 0
    out = capsys.readouterr().out
    assert "active units               — of 4" in out and "test split, 1 example\n" in out
