"""--time-budget: training stops at the epoch after which the next one would overrun the budget,
or cuts short an epoch that would itself overrun it, judged on an injected clock (no sleeping,
but for the one test that times a slow validation pass)."""

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


class _StepsTake(Callback):
    """Each training step takes `seconds` on the clock."""

    def __init__(self, clock: _Clock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def on_step(self, step, epoch, loss) -> None:
        self.clock.now += self.seconds


def _train_steps(tmp_path: Path, budget: float, seconds: float, n_train: int = 100):
    ds = open_dataset(write_idx_folder(tmp_path / "idx", n_train=n_train, n_test=4, size=8))
    config = TrainConfig(epochs=3, batch_size=10, time_budget=budget)
    model = build_vae(ModelConfig.create(ds.shape, family="mlp", latent_dim=2, hidden_dims=(8,)))
    clock = _Clock()
    state = make_state(model, config)
    history = fit(
        model, ds.train, ds.test, config, [_StepsTake(clock, seconds)], state, clock=clock
    )
    return history, state


@pytest.mark.parametrize(
    ("budget", "steps"),
    [
        # 10 s a step, the validation pass (1 batch of 4) a third of one: after step k the
        # next step and the pass would end at 10 k + 13.3
        (35.0, 3),  # 20 + 13.3 <= 35 < 30 + 13.3
        (60.0, 5),  # 40 + 13.3 <= 60 < 50 + 13.3
        (5.0, 1),  # at least one step runs
    ],
)
def test_an_epoch_that_would_overrun_the_budget_is_cut_short(tmp_path, budget, steps):
    history, state = _train_steps(tmp_path, budget, 10.0)
    assert len(history) == 1 and history[0]["epoch"] == 1 and state.epoch == 1
    assert history[0]["cut_short"] == {"steps": steps, "of": 10}
    assert state.step == steps and "val" in history[0]


def test_an_epoch_within_the_budget_is_not_cut(tmp_path):
    history, state = _train_steps(tmp_path, 1e6, 10.0)
    assert [r["epoch"] for r in history] == [1, 2, 3] and state.step == 30
    assert not any("cut_short" in r for r in history)


def test_a_run_cut_short_says_so_and_resumes(tmp_path, monkeypatch):
    """Through vaekit.train: the cut epoch is marked, the final line says the budget stopped
    it (even in the last epoch --epochs allows), and --resume goes on to the next epoch."""
    import vaekit.training.loop as loop
    from vaekit.api.resume import resume
    from vaekit.api.run import read_metrics
    from vaekit.api.train import train

    data = write_idx_folder(tmp_path / "idx", n_train=100, n_test=10, size=8)
    clock = _Clock()
    budget = loop.TimeBudget
    monkeypatch.setattr(loop, "TimeBudget", lambda s, _, closing: budget(s, clock, closing))
    tick = _StepsTake(clock, 10.0)
    tiny = dict(model="mlp", hidden_dims=(8,), latent_dim=2, progress=False, report=False)
    run = train(data, out=tmp_path / "r", epochs=1, batch_size=10, time_budget=45,
                callbacks=[tick], **tiny)  # fmt: skip
    lines = read_metrics(run.path)
    assert run.stopped_by_budget and lines[-1]["stopped_by"] == "time_budget"
    assert 1 <= lines[0]["cut_short"]["steps"] < lines[0]["cut_short"]["of"]
    resumed = resume(tmp_path / "r", epochs=2, time_budget="1h", callbacks=[tick],
                    progress=False, report=False)  # fmt: skip
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert "cut_short" not in resumed.history[1] and not resumed.stopped_by_budget


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
    with pytest.raises(VaekitError, match="time_budget=: expected a duration"):
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
