"""--time-budget: training stops at the epoch after which the next one would overrun the budget,
judged on an injected clock (no sleeping, but for the one test that times a slow validation
pass)."""

from pathlib import Path

import pytest

from tests.conftest import write_idx_folder
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.options import Duration
from vaekit.training.loop import Callback, TrainConfig, fit, make_state


class _Clock:
    """A clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _EpochTakes(Callback):
    """Each epoch takes the next of `seconds` on the clock."""

    def __init__(self, clock: _Clock, seconds: list[float]) -> None:
        self.clock, self.seconds = clock, list(seconds)

    def on_epoch_end(self, record, state) -> None:
        self.clock.now += self.seconds.pop(0)


def _train(tmp_path: Path, budget: float, seconds: list[float], epochs: int = 10, **extra):
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=20, n_test=4, size=8))
    config = TrainConfig(epochs=epochs, batch_size=10, time_budget=budget, **extra)
    model = build_vae(ModelConfig.create(ds.shape, family="mlp", latent_dim=2, hidden_dims=(8,)))
    clock = _Clock()
    state = make_state(model, config)
    callbacks = [_EpochTakes(clock, seconds)]
    return fit(model, ds.train, ds.test, config, callbacks, state, clock=clock)


@pytest.mark.parametrize(
    ("budget", "seconds", "epochs"),
    [
        (99.0, [10.0] * 10, 9),  # after 9 epochs (90 s) the 10th would end at 100 > 99
        (100.0, [10.0] * 10, 10),  # ... at 100: not past the budget; --epochs is the limit
        (85.0, [10.0] * 10, 8),  # after 8 (80 s) the 9th would end at 90 > 85
        (25.0, [10.0, 30.0, 1.0], 2),  # after 1 the next would end at 20; after 2 (40 s), 60
        (5.0, [10.0] * 10, 1),  # the first epoch always runs
    ],
)
def test_training_stops_before_the_next_epoch_would_overrun(tmp_path, budget, seconds, epochs):
    history = _train(tmp_path, budget, [*seconds, *[1.0] * 10])
    assert [r["epoch"] for r in history] == list(range(1, epochs + 1))


def test_durations_read_as_seconds():
    kind = Duration()
    assert [kind.parse(t) for t in ("90s", "15m", "1h", "1h30m", "1.5h", "45")] == [
        90.0, 900.0, 3600.0, 5400.0, 5400.0, 45.0,
    ]  # fmt: skip
    assert kind.check(120) == 120.0
    for bad in ("soon", "0s", "-5m", "1w", "10 minutes", True):
        with pytest.raises(ValueError, match="duration"):
            kind.check(bad)


def test_the_budget_is_an_option_of_train_and_may_change_on_resume(tmp_path):
    from tests.cli.test_cli import vaekit as cli
    from vaekit.api.run import read_metrics
    from vaekit.api.train import train
    from vaekit.models.io import read_config

    data = write_idx_folder(tmp_path / "idx", n_train=20, n_test=4, size=8)
    with pytest.raises(VaekitError, match="--time-budget: expected a duration"):
        train(data, time_budget="soon", progress=False)
    tiny = dict(model="mlp", hidden_dims=(8,), latent_dim=2, progress=False, report=False)
    run = train(data, out=tmp_path / "r", epochs=3, time_budget="1h", **tiny)
    assert run.config["training"]["time_budget"] == 3600.0
    assert len(run.history) == 3 and not run.stopped_by_budget
    assert "stopped_by" not in read_metrics(run.path)[-1]

    # A millisecond: every epoch takes longer, so training stops after the first.
    run = train(data, out=tmp_path / "s", epochs=3, time_budget=0.001, **tiny)
    assert len(run.history) == 1 and run.stopped_by_budget
    assert read_metrics(run.path)[-1]["stopped_by"] == "time_budget"
    flags = ("--out", tmp_path / "s", "--resume", "--epochs", "2", "--quiet", "--no-report")
    assert cli("train", *flags, "--time-budget", "2h") == 0
    assert read_config(tmp_path / "s")["training"]["time_budget"] == 7200.0
    assert [r["epoch"] for r in read_metrics(tmp_path / "s") if "epoch" in r] == [1, 2]


def test_an_epochs_time_counts_its_validation_pass(tmp_path, monkeypatch):
    """metrics.jsonl's time_s is the epoch's wall time: a slow validation pass is in it."""
    import time

    import vaekit.training.loop as loop

    plain = loop.mean_loss

    def slow_validation(*args, **kwargs):
        time.sleep(0.3)
        return plain(*args, **kwargs)

    monkeypatch.setattr(loop, "mean_loss", slow_validation)
    history = _train(tmp_path, 1e9, [1.0, 1.0], epochs=2)
    assert all(r["time_s"] >= 0.3 for r in history)
