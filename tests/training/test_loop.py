import math

import pytest
import torch

from tests.cli.test_cli import FIRST_EPOCH_KEYS
from tests.conftest import write_idx_folder
from vaekit.data.batches import binarize_once
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.training.loop import Callback, TrainConfig, fit, make_state, mean_loss


def _setup(tmp_path, family="mlp", seed=0):
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=64, n_test=16))
    torch.manual_seed(seed)
    sizes = {"mlp": {"hidden_dims": (32,)}, "conv": {}}[family]  # conv at its default widths
    model = build_vae(ModelConfig.create(ds.shape, family=family, latent_dim=2, **sizes))
    return ds, model


@pytest.mark.parametrize("family", ["mlp", "conv"])
def test_loss_decreases_on_a_tiny_dataset(tmp_path, family):
    ds, model = _setup(tmp_path, family)
    before = mean_loss(model, ds.test, 16)["loss"]
    history = fit(model, ds.train, ds.test, TrainConfig(epochs=15, batch_size=16, lr=3e-3))
    assert len(history) == 15
    assert history[-1]["train"]["loss"] < 0.8 * history[0]["train"]["loss"]
    assert mean_loss(model, ds.test, 16)["loss"] < 0.8 * before
    assert set(history[0]) == FIRST_EPOCH_KEYS | {"val"}


def test_same_seed_same_numbers(tmp_path):
    runs = []
    for _ in range(2):
        ds, model = _setup(tmp_path)
        runs.append(fit(model, ds.train, None, TrainConfig(epochs=2, batch_size=10, seed=4)))
    assert [r["train"] for r in runs[0]] == [r["train"] for r in runs[1]]
    assert "val" not in runs[0][0]


def test_mean_loss_is_deterministic_for_a_seed(tmp_path):
    ds, model = _setup(tmp_path)
    assert mean_loss(model, ds.test, 8, seed=1) == mean_loss(model, ds.test, 8, seed=1)
    assert mean_loss(model, ds.test, 8, seed=1) != mean_loss(model, ds.test, 8, seed=2)


def test_callbacks_see_every_step_and_epoch(tmp_path):
    ds, model = _setup(tmp_path)
    seen = {"steps": 0, "epochs": [], "start": None, "end": False}

    class Spy(Callback):
        def on_train_start(self, total, state):
            seen["start"] = (total, state.step)

        def on_step(self, step, epoch, loss):
            seen["steps"] += 1

        def on_epoch_end(self, record, state):
            seen["epochs"].append(record["epoch"])

        def on_train_end(self):
            seen["end"] = True

    fit(model, ds.train, None, TrainConfig(epochs=3, batch_size=25), [Spy()])
    assert seen == {"steps": 9, "epochs": [1, 2, 3], "start": (9, 0), "end": True}


def test_diverging_loss_is_a_clear_error(tmp_path):
    ds, model = _setup(tmp_path)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    with pytest.raises(VaekitError, match=r"training diverged at step 4 \(epoch 1\): the weights"):
        fit(model, ds.train, None, TrainConfig(epochs=1, batch_size=16))


def test_config_validation():
    for bad in (TrainConfig(epochs=0), TrainConfig(lr=-1), TrainConfig(val_fraction=1.0)):
        with pytest.raises(VaekitError):
            bad.validate()


def test_binarize_draws_fresh_bits_each_step(tmp_path):
    ds, model = _setup(tmp_path)
    seen = []
    original = model.loss

    def spy(x, *args, **kwargs):
        if torch.is_grad_enabled():  # a training step's (not the memory check's probe)
            seen.append(x.clone())
        return original(x, *args, **kwargs)

    model.loss = spy
    fit(model, ds.train, None, TrainConfig(epochs=2, batch_size=64, binarize=True))
    assert len(seen) == 2
    for x in seen:
        assert set(x.unique().tolist()) <= {0.0, 1.0}
    # The same images (one batch holds them all), binarized afresh in each epoch.
    assert not torch.equal(seen[0].sum(0), seen[1].sum(0))
    # Evaluation binarizes once with the seed: exactly the bits binarize_once draws.
    fixed = binarize_once(ds.test, 5)
    assert mean_loss(model, ds.test, 8, seed=5, binarize=True) == mean_loss(model, fixed, 8, seed=5)


def test_optimizers(tmp_path):
    for name, cls in (
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("sgd", torch.optim.SGD),
    ):
        _, model = _setup(tmp_path)
        assert type(make_state(model, TrainConfig(optimizer=name)).optimizer) is cls
    with pytest.raises(VaekitError, match="--optimizer: expected one of adam, adamw, sgd"):
        TrainConfig(optimizer="lbfgs").validate()


def test_a_step_beyond_the_memory_available_is_refused_before_it_is_tried(tmp_path, monkeypatch):
    """--iw-train K multiplies what the decoder holds by K: a step that would need more than
    the memory available is a one-line error, where it was the out-of-memory killer's kill."""
    ds, model = _setup(tmp_path)
    # the estimate: what the layers output for one posterior sample of one example (MLP 32
    # of a 12x12 image: Linear 32, ReLU 32, Linear 144, the likelihood's 144), 352 float32s
    # x 2 copies x 16 examples x K: 4.5 MB at K = 100, 0.84 GiB at K = 20,000
    monkeypatch.setattr("vaekit.training.step_memory.available_memory", lambda device: 2**28)
    fit(model, ds.train, None, TrainConfig(epochs=1, batch_size=16, iw_train=100))
    refused = r"about 0.8 GiB .*16 examples x 20,000 samples.* 0.2 GiB"
    with pytest.raises(VaekitError, match=refused):
        fit(model, ds.train, None, TrainConfig(epochs=1, batch_size=16, iw_train=20_000))
    with pytest.raises(VaekitError, match=r"likelihood parameters .* lower --batch-size or"):
        fit(model, ds.train, None, TrainConfig(epochs=1, batch_size=64, iw_train=2**27))


def test_what_a_step_holds_once_is_not_counted_per_example(tmp_path, monkeypatch):
    """A VampPrior encodes its pseudo-inputs once a step, whatever the batch: counted once per
    example, the estimate refused (at 27 GiB) a step that held 0.5 GiB."""
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=64, n_test=16))
    config = ModelConfig.create(ds.shape, family="mlp", latent_dim=2, hidden_dims=(32,),
                                prior="vamp", prior_components=500)  # fmt: skip
    model = build_vae(config)
    # 500 pseudo-inputs through the encoder: about 68 values each, 34,000 in all, counted
    # 64 times 8 bytes: 17 MB, against about 0.5 MB counted once
    monkeypatch.setattr("vaekit.training.step_memory.available_memory", lambda device: 2**23)
    history = fit(model, ds.train, None, TrainConfig(epochs=1, batch_size=64))
    assert len(history) == 1 and math.isfinite(history[0]["train"]["loss"])
    # and the check is on: with less memory than the step's 0.5 MB, it is refused
    monkeypatch.setattr("vaekit.training.step_memory.available_memory", lambda device: 2**16)
    with pytest.raises(VaekitError, match="one training step would need about"):
        fit(model, ds.train, None, TrainConfig(epochs=1, batch_size=64))


def test_the_progress_bar_names_the_last_epoch_of_few_steps(tmp_path, monkeypatch):
    """The bar named its epoch every 10 steps only: 5 epochs of 5 steps ended on "epoch 4"
    beside the fifth epoch's losses."""
    from vaekit.training.callbacks import ProgressBar

    ds, model = _setup(tmp_path)
    bar = ProgressBar()
    fit(model, ds.train, None, TrainConfig(epochs=5, batch_size=13), [bar])
    assert bar.bar.desc.startswith("epoch 5") and bar.bar.n == 25
