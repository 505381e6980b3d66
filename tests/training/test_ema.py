"""--ema: the weights' moving average follows its formula step by step, is what validation
scores, and survives a checkpoint so that a resumed run continues exactly."""

from pathlib import Path

import torch

from tests.conftest import write_idx_folder
from vaekit.data.datasets import open_dataset
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.training.checkpoint import load_checkpoint, save_checkpoint
from vaekit.training.ema import WeightAverage
from vaekit.training.loop import Callback, TrainConfig, fit, make_state, mean_loss


def _setup(tmp_path: Path, config: TrainConfig):
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=30, n_test=8, size=8))
    torch.manual_seed(0)
    model = build_vae(ModelConfig.create(ds.shape, family="mlp", latent_dim=2, hidden_dims=(8,)))
    return ds, make_state(model, config)


class _Weights(Callback):
    """The model's parameters after every step."""

    def __init__(self, model) -> None:
        self.model, self.seen = model, []

    def on_step(self, step, epoch, loss) -> None:
        self.seen.append({n: p.detach().clone() for n, p in self.model.named_parameters()})


def test_the_average_is_the_hand_computed_one(tmp_path: Path):
    decay = 0.75
    config = TrainConfig(epochs=1, batch_size=10, ema=decay)
    ds, state = _setup(tmp_path, config)
    expected = {n: p.detach().clone() for n, p in state.model.named_parameters()}
    weights = _Weights(state.model)
    fit(state.model, ds.train, None, config, [weights], state)
    assert len(weights.seen) == 3  # 30 examples, batches of 10
    for t, step in enumerate(weights.seen):
        d = min(decay, (1 + t) / (10 + t))  # the warm-up: 0.1, 2/11, 0.25
        expected = {n: d * expected[n] + (1 - d) * step[n] for n in expected}
    for name, average in state.ema.state_dict().items():
        torch.testing.assert_close(average, expected[name])
        assert not torch.equal(average, weights.seen[-1][name])  # not the last weights


def test_validation_scores_the_averaged_weights(tmp_path: Path):
    config = TrainConfig(epochs=1, batch_size=10, ema=0.9)
    ds, state = _setup(tmp_path, config)
    history = fit(state.model, ds.train, ds.test, config, state=state)
    raw = mean_loss(state.model, ds.test, 10)
    with state.ema.applied(state.model):
        assert mean_loss(state.model, ds.test, 10) == history[-1]["val"]
    assert mean_loss(state.model, ds.test, 10) == raw  # the raw weights are back
    assert raw != history[-1]["val"]


def test_resuming_with_an_average_continues_exactly(tmp_path: Path):
    config = TrainConfig(epochs=3, batch_size=10, ema=0.9)
    ds, straight = _setup(tmp_path, config)
    fit(straight.model, ds.train, ds.test, config, state=straight)

    class Save(Callback):
        def on_epoch_end(self, record, state) -> None:
            save_checkpoint(tmp_path, state, "hash")

    ds, first = _setup(tmp_path, config)
    fit(first.model, ds.train, ds.test, TrainConfig(**{**config.__dict__, "epochs": 1}),
        [Save()], first)  # fmt: skip
    ds, resumed = _setup(tmp_path, config)
    load_checkpoint(tmp_path, resumed)
    fit(resumed.model, ds.train, ds.test, config, state=resumed)

    def numbers(history):
        return [{k: v for k, v in r.items() if k != "time_s"} for r in history]

    assert numbers(resumed.history) == numbers(straight.history)
    for name, average in straight.ema.state_dict().items():
        assert torch.equal(resumed.ema.state_dict()[name], average)
    for a, b in zip(resumed.model.parameters(), straight.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_the_run_saves_the_averaged_weights(tmp_path: Path):
    from vaekit.api.train import train
    from vaekit.models.io import load_model

    data = write_idx_folder(tmp_path / "idx", n_train=30, n_test=8, size=8)
    tiny = dict(model="mlp", hidden_dims=(8,), latent_dim=2, progress=False, report=False)
    run = train(data, out=tmp_path / "r", epochs=1, batch_size=10, ema=0.5, **tiny)
    saved, _, _ = load_model(run.path)
    weights = {name: p.detach().clone() for name, p in saved.named_parameters()}
    state = make_state(saved, TrainConfig(ema=0.5))
    load_checkpoint(run.path, state)  # the raw weights into `saved`, and their average
    for name, average in state.ema.state_dict().items():
        assert torch.equal(weights[name], average)
        assert not torch.equal(weights[name], dict(saved.named_parameters())[name])


def test_the_decay_warms_up_to_its_value():
    model = torch.nn.Linear(2, 2)
    average = WeightAverage(model, 0.999)
    assert average.decay_at(0) == 0.1 and average.decay_at(90) == 0.91
    assert average.decay_at(10**6) == 0.999
    with torch.no_grad():
        model.weight.add_(1.0)
    before = average.averages["weight"].clone()
    average.update(model, 0)  # the first step moves 90% of the way
    torch.testing.assert_close(average.averages["weight"], before + 0.9)


def test_a_refused_load_leaves_the_average_as_it_was():
    """Averages of another shape were refused one name at a time, after the names before had
    been taken: a refused load left the average half replaced."""
    import pytest

    layer = torch.nn.Linear(3, 2)
    average = WeightAverage(layer, 0.9)
    before = {k: v.clone() for k, v in average.averages.items()}
    with pytest.raises(ValueError, match="bias has the wrong shape"):
        average.load_state_dict({"weight": torch.zeros(2, 3), "bias": torch.zeros(1)})
    assert all(torch.equal(average.averages[k], v) for k, v in before.items())
