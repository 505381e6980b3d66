"""Every model family, likelihood, prior and objective end to end: it trains (the loss
decreases on a tiny dataset), writes a run directory, and loads back to the same numbers."""

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import vaekit
from vaekit.api.train import train
from vaekit.errors import VaekitError
from vaekit.kinds.base import family
from vaekit.models.distributions import DiagonalGaussian

SMALL = {"latent_dim": 4, "batch_size": 16}
# Small widths, of which each variant passes its family's own (an option of another family
# is refused).
WIDTHS = {"hidden_dims": (32,), "channels": (8, 16)}
VARIANTS = {
    "mlp": {"model": "mlp"},
    "conv": {"model": "conv"},
    "resnet": {"model": "resnet", "depth": 1},
    "hvae": {"model": "hvae", "layers": 2, "kl_warmup": 10},
    "hconv": {"model": "hconv", "latent_dim": 2, "layers": 1, "depth": 1, "kl_warmup": 10},
    "mog": {"model": "mlp", "prior": "mog", "prior_components": 3},
    "vamp": {"model": "mlp", "prior": "vamp", "prior_components": 5},
    "iwae": {"model": "mlp", "iw_train": 4},
    "beta-warmup-freebits": {"model": "mlp", "beta": 2.0, "kl_warmup": 5, "free_bits": 0.1},
    "gaussian-global": {"model": "mlp", "likelihood": "gaussian", "gaussian_variance": "global"},
    "gaussian-pixel": {"model": "conv", "likelihood": "gaussian", "gaussian_variance": "pixel"},
    "logistic": {"model": "conv", "likelihood": "logistic"},
    "logistic-mixture": {"model": "resnet", "likelihood": "logistic-mixture", "mixtures": 3},
    "conditional": {"model": "conv", "conditional": True},
    "schedules": {"model": "mlp", "lr_schedule": "cosine", "clip_grad": 1.0},
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_trains_saves_and_loads(name, idx_folder, tmp_path):
    own = family(VARIANTS[name]["model"]).options
    widths = {k: v for k, v in WIDTHS.items() if k in own}
    options = {**SMALL, **widths, "lr": 3e-3, **VARIANTS[name]}
    run = train(str(idx_folder), out=tmp_path / name, epochs=6, progress=False, **options)
    losses = [r["train"]["loss"] for r in run.history]
    assert losses[-1] < losses[0], losses
    assert all(np.isfinite(r["val"]["loss"]) for r in run.history)
    loaded = vaekit.load(run.path)
    x = torch.rand(3, 1, 12, 12)
    labels = [0, 1, 2] if options.get("conditional") else None
    a, b = run.model.elbo(x, seed=1, labels=labels), loaded.elbo(x, seed=1, labels=labels)
    torch.testing.assert_close(a.loss, b.loss)
    samples = loaded.sample(4, seed=0, label=1 if labels else None)
    assert samples.shape == (4, 1, 12, 12) and samples.min() >= 0 and samples.max() <= 1
    if name in ("hvae", "hconv"):
        assert len(run.history[-1]["train"]["kl_layers"]) == 2
        report = vaekit.evaluate(run.path, iw_samples=4, probe=False)
        assert len(report["latents"]["kl_layers"]) == 2
    if name == "iwae":
        # Validation (and early stopping) watch the bound the model is trained on.
        from vaekit.api.run import reopen_dataset
        from vaekit.data.datasets import split_validation
        from vaekit.training.loop import mean_loss

        _, val = split_validation(reopen_dataset(run.config), 0.1, 0)
        last = run.history[-1]["val"]["loss"]
        assert mean_loss(loaded.vae, val, 16, 0, iw_samples=4)["loss"] == pytest.approx(last)
        assert mean_loss(loaded.vae, val, 16, 0, iw_samples=50)["loss"] < last
    if name.startswith("logistic"):
        report = vaekit.evaluate(run.path, iw_samples=4, probe=False)
        assert report["kind"] == "log-likelihood" and report["bits_per_dim"]["iwae"] > 0


def test_conditional_samples_follow_the_label(idx_folder, tmp_path):
    """Each class of the test data is a bright square in one quadrant: a conditional model
    draws that class's quadrant when asked for it."""
    run = train(
        str(idx_folder),
        out=tmp_path / "c",
        model="mlp",
        conditional=True,
        epochs=30,
        lr=3e-3,
        progress=False,
        **{**SMALL, "latent_dim": 2},
    )
    assert run.config["model"]["num_classes"] == 4
    for label in range(4):
        mean = run.model.sample(32, seed=0, label=label).mean(0)[0]
        quadrants = [
            mean[r * 6 : r * 6 + 6, c * 6 : c * 6 + 6].mean() for r in (0, 1) for c in (0, 1)
        ]
        assert int(np.argmax(quadrants)) == label
    with pytest.raises(VaekitError, match="conditional"):
        run.model.sample(2)
    with pytest.raises(VaekitError, match=r"0\.\.3"):
        run.model.sample(2, label=7)


def test_early_stopping_keeps_the_best_validation_epoch(idx_folder, tmp_path, capsys):
    run = train(
        str(idx_folder),
        out=tmp_path / "p",
        model="mlp",
        epochs=40,
        patience=2,
        lr=0.05,
        progress=False,
        **SMALL,
    )
    best = min(run.history, key=lambda r: r["val"]["loss"])
    last = run.history[-1]["epoch"]
    # Seeded, this run's validation loss stalls well before epoch 40: training must stop
    # exactly `patience` epochs after its best one (not run on to the epoch limit).
    assert last < 40 and last - best["epoch"] == 2
    lines = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["best_epoch"] == best["epoch"]
    # model.safetensors holds the best epoch's weights: its validation loss is the best one.
    from vaekit.api.run import reopen_dataset
    from vaekit.data.datasets import split_validation
    from vaekit.training.loop import mean_loss

    loaded = vaekit.load(run.path)
    _, val = split_validation(reopen_dataset(run.config), 0.1, 0)
    again = mean_loss(loaded.vae, val, 16, 0)
    assert again["loss"] == pytest.approx(best["val"]["loss"], rel=1e-5)
    # The summary says its test line is of other weights than its train and val lines.
    from vaekit.cli.train import print_summary

    print_summary(run)
    said = f"(train and val: epoch {last}; test: the kept weights of the best validation epoch"
    assert f"{said}, {best['epoch']})" in capsys.readouterr().out


def test_plateau_schedule_halves_the_rate():
    from vaekit.training.loop import TrainConfig, learning_rate

    config = TrainConfig(lr=0.1, lr_schedule="plateau")
    history = [{"val": {"loss": v}, "train": {"loss": v}} for v in (5, 4, 4.5, 4.2, 3, 3.1)]
    assert learning_rate(config, history[:2], 0, 10) == 0.1
    assert learning_rate(config, history[:4], 0, 10) == 0.05
    assert learning_rate(config, history, 0, 10) == 0.05
    cosine = TrainConfig(lr=0.1, lr_schedule="cosine")
    assert learning_rate(cosine, [], 0, 10) == pytest.approx(0.1)
    assert learning_rate(cosine, [], 5, 10) == pytest.approx(0.05)
    assert learning_rate(cosine, [], 10, 10) == pytest.approx(0.0)


def test_resuming_a_cosine_run_with_more_epochs_says_its_rate_jumps(idx_folder, tmp_path):
    """The cosine spans --epochs: resumed with more, it no longer matches an uninterrupted
    run (the rate jumps from about 0 to lr/2). A constant schedule resumes silently."""
    for schedule, warned in (("cosine", True), ("constant", False)):
        run = train(str(idx_folder), out=tmp_path / schedule, model="mlp", epochs=2,
                    lr_schedule=schedule, progress=False, **SMALL)  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vaekit.resume(run.path, epochs=4, progress=False)
        said = [str(w.message) for w in caught if "spans --epochs" in str(w.message)]
        assert bool(said) == warned, said
        assert not warned or "this run began with 2, so from epoch 3 its rate follows" in said[0]


class TinyEncoder(nn.Module):
    """A user's encoder: returns (mean, logvar)."""

    def __init__(self, pixels: int = 144, latent: int = 4) -> None:
        super().__init__()
        self.vaekit_kwargs = {"pixels": pixels, "latent": latent}
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 2 * latent))

    def forward(self, x):
        return tuple(self.net(x).chunk(2, dim=1))


class TinyPrior(nn.Module):
    """A user's prior: N(0, 4 I)."""

    gaussian = False
    latent_dim = 4

    def log_prob(self, z, encoder=None):
        return DiagonalGaussian(torch.zeros_like(z), torch.full_like(z, np.log(4.0))).log_prob(z)

    def sample(self, n, generator=None, temperature=1.0, encoder=None):
        return 2 * temperature * torch.randn(n, 4, generator=generator)


def test_user_modules_train_save_and_load(idx_folder, tmp_path, monkeypatch):
    run = train(
        str(idx_folder),
        out=tmp_path / "u",
        model="mlp",
        epochs=3,
        progress=False,
        encoder=TinyEncoder(),
        prior_module=TinyPrior(),
        **SMALL,
    )
    custom = run.config["model"]["custom"]
    assert custom["encoder"] == {
        "class": f"{__name__}:TinyEncoder",
        "kwargs": {"pixels": 144, "latent": 4},
    }
    assert custom["prior"]["class"] == f"{__name__}:TinyPrior"
    loaded = vaekit.load(run.path)
    assert isinstance(loaded.vae.encoder, TinyEncoder)
    x = torch.rand(2, 1, 12, 12)
    torch.testing.assert_close(loaded.elbo(x).loss, run.model.elbo(x).loss)
    # A module not imported is not imported because a file names it: importing runs it.
    config = json.loads((run.path / "config.json").read_text())
    config["model"]["custom"]["encoder"]["class"] = "not_a_module_here:TinyEncoder"
    (run.path / "config.json").write_text(json.dumps(config))
    with pytest.raises(VaekitError, match="'not_a_module_here' is not imported, and vaekit never"):
        vaekit.load(run.path)
    # Allowed by the user, it is imported; where it is not importable, loading says so.
    monkeypatch.setenv("VAEKIT_IMPORT", "other, not_a_module_here")
    with pytest.raises(VaekitError, match="cannot be imported here"):
        vaekit.load(run.path)
    # Only nn.Module classes are ever called.
    config["model"]["custom"]["encoder"]["class"] = "os:system"
    (run.path / "config.json").write_text(json.dumps(config))
    with pytest.raises(VaekitError, match=r"not an nn\.Module"):
        vaekit.load(run.path)


def test_bad_combinations_are_one_line_errors(idx_folder, tmp_path):
    with pytest.raises(VaekitError, match="iw-train"):
        train(str(idx_folder), out=tmp_path / "a", iw_train=5, beta=2.0, progress=False)
    with pytest.raises(VaekitError, match="hvae"):
        train(str(idx_folder), out=tmp_path / "b", model="hvae", prior="vamp", progress=False)
    with pytest.raises(VaekitError, match="patience"):
        train(str(idx_folder), out=tmp_path / "c", patience=2, val_fraction=0, progress=False)
    with pytest.raises(VaekitError, match="labels"):
        train(np.zeros((20, 8, 8), np.uint8), out=tmp_path / "d", conditional=True, progress=False)
    with pytest.raises(VaekitError, match="free-bits"):
        train(str(idx_folder), out=tmp_path / "e", prior="mog", free_bits=0.5, progress=False)
    assert not (tmp_path / "e").exists()  # refused before anything was trained or kept


def test_coupled_mixture_on_color_images(tmp_path):
    """RGB images whose channels move together: the coupled mixture trains, loads back to the
    same numbers, samples color images, and reports bits/dim."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 200, (300, 1, 8, 8))
    images = (gray + rng.integers(0, 40, (300, 3, 8, 8))).astype(np.uint8)
    run = train(
        images,
        out=tmp_path / "rgb",
        model="conv",
        channels=(8, 16),
        latent_dim=4,
        likelihood="logistic-mixture-coupled",
        mixtures=2,
        epochs=4,
        lr=3e-3,
        progress=False,
    )
    losses = [r["train"]["loss"] for r in run.history]
    assert losses[-1] < losses[0], losses
    loaded = vaekit.load(run.path)
    x = torch.from_numpy(images[:3]).float() / 255
    torch.testing.assert_close(run.model.elbo(x, seed=1).loss, loaded.elbo(x, seed=1).loss)
    samples = loaded.sample(4, seed=0)
    assert samples.shape == (4, 3, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    report = vaekit.evaluate(run.path, images[:50], iw_samples=4, probe=False)
    assert report["kind"] == "log-likelihood" and report["bits_per_dim"]["iwae"] > 0
