"""The trials of `vaekit tune`, one after another while its budget lasts (vaekit.api.tune
has the whole search): each drawn, checked against the data, trained as a run directory
(SEARCH/trial-NNNN) with a callback that reports its validation -ELBO to Optuna's pruner, and
told to the study; and, when a killed search resumes, the trials it left running retried.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from vaekit.api.data import open_with_options
from vaekit.api.options import build_configs, family_keys, fit_options_to_data, resolve_options
from vaekit.api.resume import resume
from vaekit.api.run import read_metrics
from vaekit.api.rundir import clear_leftovers
from vaekit.api.train import _num_classes, train
from vaekit.api.tune_space import MAX_REFUSED, Space, of_its_choices
from vaekit.errors import VaekitError
from vaekit.kinds.base import kind
from vaekit.models.io import is_run_dir
from vaekit.train_options import CHOOSING, NEEDS_ABOVE_ZERO, NOTHING_WHERE, TRAIN_OPTIONS
from vaekit.training.checkpoint import has_checkpoint
from vaekit.training.loop import Callback, LoopState


class PruneOnValidation(Callback):
    """Reports each epoch's validation -ELBO to an Optuna trial, and stops training (cleanly,
    through `should_stop`) once the pruner says the trial is weak. A continued run's earlier
    epochs are reported first. `on_epoch`: called after each epoch (the search's clock)."""

    def __init__(self, trial: Any, on_epoch: Callable[[], None] = lambda: None) -> None:
        self.trial = trial
        self.on_epoch = on_epoch
        self.pruned = False

    def on_train_start(self, total_steps: int, state: LoopState) -> None:
        for record in state.history:
            self.report(record)

    def on_epoch_end(self, record: dict[str, Any], state: LoopState) -> None:
        self.report(record)
        self.pruned = self.trial.should_prune()
        self.on_epoch()

    def should_stop(self, state: LoopState) -> bool:
        if self.pruned:
            self.stop_reason = "pruned"  # metrics.jsonl: stopped_by, not the time budget
        return self.pruned

    def report(self, record: Mapping[str, Any]) -> None:
        """Tell the trial one epoch's validation -ELBO (where it is finite)."""
        value = validation_neg_elbo(record)
        if value is not None:
            self.trial.report(value, record["epoch"])


def validation_neg_elbo(record: Mapping[str, Any]) -> float | None:
    """An epoch record's validation -ELBO; None where it has none, or none finite."""
    value = (record.get("val") or {}).get("neg_elbo")
    return float(value) if value is not None and math.isfinite(value) else None


def run_score(history: Sequence[Mapping[str, Any]], patience: int | None) -> float | None:
    """A finished run's validation -ELBO: its last epoch's, or with early stopping (whose
    weights are the best epoch's) the best epoch's."""
    values = [v for v in map(validation_neg_elbo, history) if v is not None]
    if not values:
        return None
    return min(values) if patience is not None else validation_neg_elbo(history[-1])


def shown_params(space: Space, params: Mapping[str, Any]) -> dict[str, str]:
    """A trial's drawn options as their flags take them (a number to 3 digits)."""
    return {
        name: f"{value:.3g}" if isinstance(value, float) else TRAIN_OPTIONS[name].kind.show(value)
        for name, value in space.options_of(params).items()
    }


def feasibility(
    data: Any, fixed: dict[str, Any], searched: Collection[str] = ()
) -> Callable[[dict[str, Any]], str | None]:
    """A test of whether the data takes a model of some options (None) or why not: the data
    is opened once, and each model config built as vaekit.train would build it. An option
    that hangs on a choice the search draws (`searched`: --hidden-dims while the family is
    searched, --gaussian-std or a range of --mixtures while the likelihood is) is judged only
    beside a value of that choice: the trials that draw one; where `options` names none, it is
    left out, not judged against the choice's default."""
    fixed = of_its_choices(fixed)  # a weight fixed for one objective's trials: in theirs
    certain = {n: v for n, v in fixed.items() if not _hangs_on(n, searched)}
    opts = fit_options_to_data(resolve_options({"data": data, **certain}), certain)
    if not opts["val_fraction"]:
        raise VaekitError("vaekit tune ranks trials on the validation -ELBO: --val-fraction > 0")
    dataset = open_with_options(data, opts, None)
    num_classes = _num_classes(dataset) if opts["conditional"] else 0

    def feasible(options: dict[str, Any]) -> str | None:
        unsure = set(searched) - set(options)
        given = of_its_choices({**fixed, **options})
        given = {n: v for n, v in given.items() if not _hangs_on(n, unsure)}
        try:
            full = fit_options_to_data(resolve_options({"data": data, **given}), given)
            schema = kind(dataset.kind).part("model").record(dataset.schema, full)
            build_configs(full, dataset.shape, num_classes, {}, dataset.kind, schema)
        except VaekitError as err:
            return str(err)
        return None

    return feasible


def _hangs_on(name: str, searched: Collection[str]) -> bool:
    """Whether option `name` does something or not by a choice the search draws: a family's
    own (the family searched), a likelihood's, prior's or objective's own (that searched),
    or one that needs another above 0 (that searched)."""
    if "model" in searched and TRAIN_OPTIONS[name].config_key in family_keys():
        return True
    if NEEDS_ABOVE_ZERO.get(name) in searched or NOTHING_WHERE.get(name, ("",))[0] in searched:
        return True
    return any(role in searched and registry.owners(name) for role, registry in CHOOSING.items())


def retry_killed(optuna: Any, study: Any, path: Path) -> None:
    """The trials left running by a killed search: each marked failed ("killed" in the
    study's record) and queued once more with its parameters, to continue its run directory
    where it has a finished epoch."""
    running = optuna.trial.TrialState.RUNNING
    killed = list(study.user_attrs.get("killed", []))
    for trial in study.get_trials(deepcopy=False, states=(running,)):
        queued = any(t.user_attrs.get("retry_of") == trial.number for t in study.trials)
        if not queued:
            own = path / trial_folder(trial.number)
            earlier = trial.user_attrs.get("continues")
            found = [
                f
                for f in (own, path / earlier if earlier else None)
                if f is not None and is_run_dir(f) and has_checkpoint(f)
            ]
            clear_leftovers(own)  # what a kill before the first epoch left beside it
            attrs = {"retry_of": trial.number, **({"continues": found[0].name} if found else {})}
            study.enqueue_trial(trial.params, user_attrs=attrs)
        study.set_user_attr("killed", [*killed, trial.number])
        killed.append(trial.number)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def trial_folder(number: int) -> str:
    return f"trial-{number:04d}"


class Session:
    """One command's share of a search: trials, one after another, while time is left."""

    def __init__(
        self,
        optuna: Any,
        study: Any,
        path: Path,
        data: Any,
        fixed: dict[str, Any],
        space: Space,
        seconds: float,
        trials: int | None,
        progress: bool,
        callbacks: Sequence[Callback],
        echo: Callable[[str], None],
    ) -> None:
        self.optuna, self.study, self.path, self.data = optuna, study, path, data
        self.fixed, self.space, self.trials = fixed, space, trials
        self.progress, self.callbacks, self.echo = progress, callbacks, echo
        self.start = time.monotonic()
        self.deadline = self.start + seconds
        self.spent = study.user_attrs.get("spent_s", 0.0)
        self.feasible: Callable[[dict[str, Any]], str | None] | None = None

    def run(self) -> str:
        """Trials until the budget or the number of trials is spent; says which."""
        refused = 0
        while True:
            if self.trials is not None and self.counted() >= self.trials:
                return "trials"
            if self.deadline - time.monotonic() <= self.shortest_epoch():
                return "budget"
            trial = self.study.ask()
            options = self.space.trial_options(self.fixed, self.space.sample(trial))
            why = self.refusal(options)
            if why is not None:
                trial.set_user_attr("refused", why)
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
                refused += 1
                if refused >= MAX_REFUSED:
                    raise VaekitError(f"{refused} draws in a row make no model: {why}")
                continue
            refused = 0
            self.run_trial(trial, options)

    def counted(self) -> int:
        """The trials that ran to an end (not a refused draw, not a killed one)."""
        states = self.optuna.trial.TrialState
        killed = set(self.study.user_attrs.get("killed", []))
        return sum(
            1
            for t in self.study.get_trials(deepcopy=False)
            if t.state in (states.COMPLETE, states.PRUNED, states.FAIL)
            and "rundir" in t.user_attrs
            and t.number not in killed
        )

    def shortest_epoch(self) -> float:
        """The shortest first epoch of the trials so far (a trial started with less time
        left would overrun it), 0 before any."""
        times = [
            t.user_attrs["first_epoch_s"]
            for t in self.study.get_trials(deepcopy=False)
            if "first_epoch_s" in t.user_attrs
        ]
        return min(times, default=0.0)

    def refusal(self, options: dict[str, Any]) -> str | None:
        if self.feasible is None:  # opened once, at the first trial of this command
            self.feasible = feasibility(self.data, self.fixed, self.space.searched())
        return self.feasible(options)

    def save_clock(self) -> None:
        now = time.monotonic()
        self.study.set_user_attr("spent_s", self.spent + now - self.start)

    def run_trial(self, trial: Any, options: dict[str, Any]) -> None:
        folder = self.path / trial_folder(trial.number)
        drawn = shown_params(self.space, trial.params)
        self.echo(f"trial {trial.number}: " + " ".join(f"{k}={v}" for k, v in drawn.items()))
        prune = PruneOnValidation(trial, self.save_clock)
        left = max(self.deadline - time.monotonic(), 0.01)  # a duration is positive
        budget = min(left, options.get("time_budget") or math.inf)
        begun = time.monotonic()
        states = self.optuna.trial.TrialState
        trial.set_user_attr("rundir", folder.name)
        try:
            history = self._train(trial, folder, options, budget, prune)
        except VaekitError as err:
            trial.set_user_attr("error", str(err))
            self.study.tell(trial, state=states.FAIL)
            self.echo(f"  failed: {err}")
            return
        finally:
            self.save_clock()
        trial.set_user_attr("time_s", round(time.monotonic() - begun, 3))
        trial.set_user_attr("epochs", len(history))
        if history and "cut_short" not in history[0]:  # a whole epoch's time
            trial.set_user_attr("first_epoch_s", history[0]["time_s"])
        score = run_score(history, options.get("patience"))
        if prune.pruned:
            self.study.tell(trial, state=states.PRUNED)
            self.echo(f"  pruned after epoch {len(history)}: validation -ELBO {score:.2f}")
        elif score is None:
            trial.set_user_attr("error", "no finite validation -ELBO")
            self.study.tell(trial, state=states.FAIL)
            self.echo("  failed: no finite validation -ELBO")
        else:
            self.study.tell(trial, score)
            n = len(history)
            self.echo(f"  validation -ELBO {score:.2f} after {n} epoch{'' if n == 1 else 's'}")

    def _train(
        self,
        trial: Any,
        folder: Path,
        options: dict[str, Any],
        budget: float,
        prune: PruneOnValidation,
    ) -> list[dict[str, Any]]:
        """The trial's run: a new one, or a killed trial's continued (its folder renamed to
        this trial's number); its history."""
        callbacks = [prune, *self.callbacks]
        earlier = trial.user_attrs.get("continues")
        if earlier and (self.path / earlier).is_dir() and not folder.exists():
            os.rename(self.path / earlier, folder)
        if is_run_dir(folder) and has_checkpoint(folder):
            records = read_metrics(folder)
            if any(r.get("final") for r in records):  # it had finished: nothing to train
                history = [r for r in records if not r.get("final")]
                for record in history:
                    prune.report(record)
                return history
            data = None if isinstance(self.data, str) else self.data
            run = resume(folder, time_budget=budget, data=data, progress=self.progress,
                         callbacks=callbacks, active_units=False)  # fmt: skip
            return run.history
        # A trial writes no report.html unless asked (`vaekit report SEARCH/best` writes the
        # best's), nor counts its active units (`vaekit eval` does): for a PixelCNN decoder
        # or a hierarchy, each can take longer than the trial's training.
        with_budget = {"report": False, **options, "time_budget": budget}
        run = train(self.data, **with_budget, out=folder, progress=self.progress,
                    callbacks=callbacks, active_units=False)  # fmt: skip
        return run.history
