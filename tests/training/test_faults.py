"""Steps with a NaN or infinite loss or gradient are skipped and counted; too many in a row roll
training back to the last checkpoint with a lower learning rate; an epoch that still cannot
finish stops training with an error naming the step. NaN weights are never saved."""

import dataclasses
import math

import pytest
import torch

from tests.conftest import write_idx_folder
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.io import WEIGHTS_FILE, save_weights
from vaekit.training.loop import Callback, LoopState, TrainConfig, fit, make_state
from vaekit.training.recovery import ROLLBACK_LR_FACTOR, gradient_norm

STEPS_PER_EPOCH = 4  # 64 training images, batches of 16


@pytest.fixture
def ds(tmp_path):
    return open_dataset(write_idx_folder(tmp_path / "idx", n_train=64, n_test=16))


def _state(ds, config: TrainConfig) -> LoopState:
    torch.manual_seed(0)
    model = build_vae(ModelConfig.create(ds.shape, family="mlp", latent_dim=2, hidden_dims=(16,)))
    return make_state(model, config)


def _rig(state: LoopState, bad) -> list[int]:
    """Make the loss NaN at the steps (0-based, counted over every training call) where
    bad(call, state) holds. Returns the list of rigged calls, filled as training goes."""
    original, calls, rigged = state.model.loss, [0], []

    def loss(*args, **kwargs):
        out = original(*args, **kwargs)
        if not torch.is_grad_enabled():  # the memory check's probe, not a training step
            return out
        call = calls[0]
        calls[0] += 1
        if bad(call, state):
            rigged.append(call)
            nan = torch.full_like(out.loss, math.nan)
            return dataclasses.replace(out, loss=out.loss + nan, objective=out.objective + nan)
        return out

    state.model.loss = loss
    return rigged


class _Weights(Callback):
    """The first weight matrix after every step."""

    def __init__(self, state: LoopState) -> None:
        self.param = next(state.model.parameters())
        self.after = [self.param.detach().clone()]

    def on_step(self, step, epoch, loss):
        self.after.append(self.param.detach().clone())


def _finite(state: LoopState) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in state.model.parameters())


def test_nan_steps_are_skipped_without_an_update_and_training_goes_on(ds):
    config = TrainConfig(epochs=2, batch_size=16, lr=0.01)
    state = _state(ds, config)
    rigged = _rig(state, lambda call, _: call in (1, 5, 6))
    weights = _Weights(state)
    history = fit(state.model, ds.train, None, config, [weights], state)
    assert rigged == [1, 5, 6]
    assert [(r["skipped_steps"], r["rollbacks"]) for r in history] == [(1, 0), (2, 0)]
    for step in range(2 * STEPS_PER_EPOCH):  # weights.after[step + 1] is after step `step`
        moved = not torch.equal(weights.after[step], weights.after[step + 1])
        assert moved == (step not in rigged), step
    adam = state.optimizer.state[weights.param]
    assert int(adam["step"]) == 2 * STEPS_PER_EPOCH - 3  # only the steps taken
    assert _finite(state) and math.isfinite(history[-1]["train"]["loss"])
    assert "lr" not in history[0]


def test_an_infinite_gradient_with_a_finite_loss_is_skipped(ds):
    config = TrainConfig(epochs=1, batch_size=16)
    state = _state(ds, config)
    weight = next(state.model.parameters())
    step = {"now": 0}
    weight.register_hook(lambda g: g * math.inf if step["now"] == 2 else g)

    class Count(Callback):
        def on_step(self, s, epoch, loss):
            step["now"] = s
            assert math.isfinite(loss.item())  # the loss itself stays finite

    history = fit(state.model, ds.train, None, config, [Count()], state)
    assert history[0]["skipped_steps"] == 1 and _finite(state)


def test_nan_until_the_learning_rate_is_lowered_rolls_back_once(ds):
    """Training that diverges at the full learning rate from epoch 2 on goes back to the end of
    epoch 1 and carries on at half the rate."""
    config = TrainConfig(epochs=3, batch_size=16, lr=0.01, rollback_after=3)
    state = _state(ds, config)

    def diverges(call, s):
        return s.step >= STEPS_PER_EPOCH and s.optimizer.param_groups[0]["lr"] > 0.006

    rigged = _rig(state, diverges)
    history = fit(state.model, ds.train, None, config, state=state)
    assert len(rigged) == 3  # then a rollback
    assert [(r["skipped_steps"], r["rollbacks"]) for r in history] == [(0, 0), (3, 1), (0, 0)]
    assert "lr" not in history[0]
    assert history[1]["lr"] == history[2]["lr"] == config.lr * ROLLBACK_LR_FACTOR
    assert state.step == 3 * STEPS_PER_EPOCH  # the undone attempt's steps were taken back
    assert _finite(state)


def test_nan_that_persists_stops_with_an_error_naming_the_step(ds):
    config = TrainConfig(epochs=3, batch_size=16, rollback_after=2, max_rollbacks=2)
    state = _state(ds, config)
    rigged = _rig(state, lambda call, s: s.step >= STEPS_PER_EPOCH)
    with pytest.raises(VaekitError) as info:
        fit(state.model, ds.train, None, config, state=state)
    step = STEPS_PER_EPOCH + 2
    assert str(info.value).startswith(
        f"training diverged at step {step} (epoch 2): 2 steps in a row had a NaN or infinite "
        "loss or gradient, and 2 rollbacks to the last checkpoint with a lower learning rate"
    )
    assert len(rigged) == 3 * 2  # the first attempt and two after rollbacks
    assert [r["epoch"] for r in state.history] == [1] and _finite(state)


def test_an_epoch_whose_every_step_failed_is_not_an_epoch(ds):
    """Epochs shorter than --rollback-after whose every step is NaN: none is kept as trained
    (the model would be its first weights, reported as N epochs). Each is trained again, the
    skipped steps in a row counted on, so a NaN that persists rolls back and stops with the
    error after --max-rollbacks."""
    config = TrainConfig(epochs=5, batch_size=16, rollback_after=10, max_rollbacks=2)
    state = _state(ds, config)
    _rig(state, lambda call, s: True)
    with pytest.raises(VaekitError) as info:
        fit(state.model, ds.train, None, config, state=state)
    assert "10 steps in a row had a NaN or infinite loss or gradient, and 2 rollbacks" in (
        str(info.value)
    )
    assert state.history == [] and _finite(state)


def test_a_failed_step_in_a_one_step_epoch_costs_no_rollback(ds):
    """One step skipped where an epoch is one step (a float16 scale settling, say): that
    epoch is trained again, with no rollback and no lower learning rate."""
    config = TrainConfig(epochs=2, batch_size=64, rollback_after=10)
    state = _state(ds, config)
    rigged = _rig(state, lambda call, s: call == 0)
    history = fit(state.model, ds.train, None, config, state=state)
    assert rigged == [0] and [r["epoch"] for r in history] == [1, 2]
    assert [(r["skipped_steps"], r["rollbacks"]) for r in history] == [(1, 0), (0, 0)]
    assert all("lr" not in r for r in history) and state.step == 3


def test_weights_that_became_nan_roll_back(ds):
    config = TrainConfig(epochs=2, batch_size=16, max_rollbacks=1)
    state = _state(ds, config)

    class Poison(Callback):  # NaN weights after the last step of epoch 2's first attempt
        done = False

        def on_step(self, step, epoch, loss):
            if step == 2 * STEPS_PER_EPOCH and not self.done:
                self.done = True
                with torch.no_grad():
                    next(state.model.parameters()).fill_(math.nan)

    history = fit(state.model, ds.train, None, config, [Poison()], state)
    assert [r["rollbacks"] for r in history] == [0, 1] and _finite(state)


def test_nan_weights_are_never_written(ds, tmp_path):
    state = _state(ds, TrainConfig())
    with torch.no_grad():
        next(state.model.parameters())[0, 0] = math.inf
    with pytest.raises(VaekitError, match="holds NaN or infinite values"):
        save_weights(tmp_path, state.model)
    assert list(tmp_path.iterdir()) == [tmp_path / "idx"]
    assert not (tmp_path / WEIGHTS_FILE).exists()


def test_the_gradient_norm_is_the_global_norm_and_not_finite_with_any_gradient():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(16, 2)
    )
    model = model.to(memory_format=torch.channels_last)  # a conv gradient that is not contiguous
    model(torch.randn(2, 3, 4, 4).to(memory_format=torch.channels_last)).square().sum().backward()
    assert not model[0].weight.grad.is_contiguous()
    grads = [p.grad for p in model.parameters()]
    expected = torch.nn.utils.get_total_norm(grads)
    torch.testing.assert_close(gradient_norm(model, None), expected)
    torch.testing.assert_close(gradient_norm(model, 1e9), expected)  # clipping returns it too
    for bad in (math.inf, -math.inf, math.nan):
        model[2].weight.grad[0, 0] = bad
        assert not torch.isfinite(gradient_norm(model, None))


def test_skipped_steps_in_a_row_across_an_epoch_end_survive_a_resume(ds, tmp_path):
    """The count that triggers a rollback runs across epoch ends but was not checkpointed: a
    run resumed at that epoch end started it at 0 and rolled back later, or not at all, with
    another learning rate from then on."""
    from vaekit.training.checkpoint import load_checkpoint, save_checkpoint

    config = TrainConfig(epochs=2, batch_size=16, lr=0.01, rollback_after=3)

    def diverges(call, s):  # the last two steps of epoch 1 and the first of epoch 2
        return s.step in (2, 3, 4) and s.optimizer.param_groups[0]["lr"] > 0.006

    whole = _state(ds, config)
    _rig(whole, diverges)
    fit(whole.model, ds.train, None, config, state=whole)

    first = _state(ds, config)
    _rig(first, diverges)
    fit(first.model, ds.train, None, dataclasses.replace(config, epochs=1), state=first)
    save_checkpoint(tmp_path, first, "hash")
    resumed = _state(ds, config)
    load_checkpoint(tmp_path, resumed)
    _rig(resumed, diverges)
    fit(resumed.model, ds.train, None, config, state=resumed)

    def shown(history):
        return [(r["skipped_steps"], r["rollbacks"], r.get("lr")) for r in history]

    assert shown(whole.history) == [(2, 0, None), (1, 1, config.lr * ROLLBACK_LR_FACTOR)]
    assert shown(resumed.history) == shown(whole.history)
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)
