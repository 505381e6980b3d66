"""How `vaekit tune` scores and ranks its trials, on a study made by hand (no training): a
trial's score is its validation -ELBO (the best epoch's with early stopping, else the last's),
a pruned trial is shown at its last reported epoch, the scored trials come first, lowest
-ELBO first, and the best run is a complete trial's wherever one ran to its end."""

from __future__ import annotations

import pytest

from vaekit.api.tune import best_row, trial_rows
from vaekit.api.tune_space import Range, Space
from vaekit.api.tune_trials import run_score
from vaekit.report.search import TrialRow

optuna = pytest.importorskip("optuna")


def epochs(*values: float) -> list[dict]:
    return [{"epoch": i + 1, "val": {"neg_elbo": v}} for i, v in enumerate(values)]


def test_a_trial_is_scored_at_its_last_epoch_or_with_early_stopping_its_best():
    """Early stopping keeps the best epoch's weights, so that epoch's -ELBO is the run's; a
    run without it keeps its last epoch's weights, and is scored there."""
    history = epochs(90.0, 70.0, 80.0)
    assert run_score(history, patience=None) == 80.0
    assert run_score(history, patience=3) == 70.0
    assert run_score(epochs(70.0, 90.0), patience=1) == 70.0
    assert run_score([{"epoch": 1, "val": {"neg_elbo": float("nan")}}], patience=2) is None


def study_of(*trials, killed=()):
    study = optuna.create_study(direction="minimize")
    for trial in trials:
        study.add_trial(trial)
    if killed:
        study.set_user_attr("killed", list(killed))
    return study


def made(number: int, state, value=None, steps=None):
    states = optuna.trial.TrialState
    return optuna.trial.create_trial(
        state=state,
        value=value if state == states.COMPLETE else None,
        intermediate_values=steps or {},
        user_attrs={"rundir": f"trial-{number:04d}"},
    )


def test_trials_are_ranked_scored_first_lowest_first_and_pruned_ones_at_their_last_epoch():
    states = optuna.trial.TrialState
    space = Space(model=Range("model", ("mlp",)))
    study = study_of(
        made(0, states.FAIL),  # diverged: no score
        made(1, states.COMPLETE, 50.0, {1: 60.0, 2: 50.0}),
        made(2, states.PRUNED, steps={1: 80.0, 2: 40.0}),  # pruned after epoch 2
        made(3, states.COMPLETE, 45.0, {1: 45.0}),
        made(4, states.FAIL),  # killed mid-trial, retried by a resumed search
        killed=[4],
    )
    rows = trial_rows(optuna, study, space)
    shown = [(r.number, r.state, r.value) for r in rows]
    # The failed and killed trials (no score) last, by number; never ahead of a scored one.
    assert shown == [
        (2, "pruned", 40.0),
        (3, "complete", 45.0),
        (1, "complete", 50.0),
        (0, "failed", None),
        (4, "killed", None),
    ]
    # A killed trial's run lives on under its retry's number: it names none of its own.
    assert [r.rundir for r in rows] == [
        "trial-0002",
        "trial-0003",
        "trial-0001",
        "trial-0000",
        None,
    ]
    # The best run: the best complete trial, though a pruned one stopped lower.
    assert best_row(rows).number == 3


def test_the_best_run_is_a_complete_trials_and_a_pruned_one_only_where_none_completed():
    complete = TrialRow(number=0, state="complete", value=50.0, rundir="trial-0000")
    pruned = TrialRow(number=1, state="pruned", value=10.0, rundir="trial-0001")
    failed = TrialRow(number=2, state="failed", value=None, rundir="trial-0002")
    assert best_row([pruned, complete, failed]) is complete
    other = TrialRow(number=3, state="pruned", value=30.0, rundir="trial-0003")
    assert best_row([other, pruned, failed]) is pruned
    assert best_row([failed]) is None
