"""`vaekit tune`: a model search within a time budget, with Optuna underneath.

search = tune("digits", out="search/digits", budget="1h", epochs=10)
search.best    # search/digits/trial-0007: a run directory like any other

Each trial is a normal run directory, SEARCH/trial-NNNN (vaekit.train), drawn from the search
space (vaekit.api.tune_space) by Optuna's TPE sampler (seeded by --seed), and scored by its
validation -ELBO. A pruner reads that after each epoch (PruneOnValidation) and stops a weak
trial there; its run is finished as any run stopped early (tested, its pictures written).
The study lives in SEARCH/study.db (SQLite), so a killed search continues with `resume`:
the trials that finished stay as they are, and a trial that was running when it was killed
is marked failed ("killed") and retried once under a new number, with the same parameters,
continuing its run from the last finished epoch (its folder renamed to the new number).

The budget bounds the whole search's wall time: a trial starts only while time is left, and
is given what is left as its --time-budget (a trial runs at least one epoch). At the end:
SEARCH/search.html (vaekit.report.search) and SEARCH/best, a link to the best run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaekit.api.model import resolve_device
from vaekit.api.run import SAMPLES_FILE
from vaekit.api.tune_space import Range, Space, build_space, space_ranges
from vaekit.api.tune_trials import (
    PruneOnValidation,
    Session,
    feasibility,
    retry_killed,
    shown_params,
)
from vaekit.data.datasets import missing_path
from vaekit.data.registry import is_dataset_name
from vaekit.errors import VaekitError
from vaekit.options import Duration
from vaekit.report.search import TrialRow, search_page
from vaekit.train_options import DEFAULTS, TRAIN_OPTIONS
from vaekit.training.loop import Callback

STUDY_FILE = "study.db"
PAGE_FILE = "search.html"
BEST_LINK = "best"
LOCK_FILE = ".tune.lock"
STUDY_NAME = "vaekit"
MISSING = "vaekit tune needs Optuna: pip install 'vaekit[tune]'"
PRUNERS = ("median", "none")
STARTUP_TRIALS = 5  # TPE's random trials before it models the space; also the pruner's


def import_optuna() -> Any:
    """Optuna, quiet but for warnings; one line saying what to install where it is missing."""
    try:
        import optuna
    except ImportError:
        raise VaekitError(MISSING) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class Search:
    """A finished search: its folder, the trials ranked (best first), the best run, the page."""

    path: Path
    trials: list[TrialRow]
    best: Path | None
    page: Path
    space: Space
    stopped_by: str  # "budget" or "trials"


def tune(
    data: Any = None,
    *,
    out: str | Path,
    budget: float | str | None = None,
    resume_search: bool = False,
    space: Mapping[str, Any] | None = None,
    trials: int | None = None,
    pruner: Any = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    echo: Callable[[str], None] | None = None,
    **options: Any,
) -> Search:
    """Search for a good model of `data` within `budget`, and write the search folder `out`.

    Args:
        data: as for vaekit.train (default: vaekit.train's); from the record on resume.
        out: the search folder (SEARCH): study.db, trial-NNNN run directories, search.html
            and best (a link to the best run).
        budget: the whole search's wall time (seconds, or text: "1h", "30m", "90s"); on
            resume, default: what the recorded budget has left.
        resume_search: continue the search in `out` (its data, options and space as
            recorded; only budget, trials and pruner may be given).
        space: the user's ranges by option name: a list of choices, "LOW:HIGH[:log]",
            (low, high[, "log"]), one value, or a tune_space.Range; in place of the declared
            ones (vaekit.api.tune_space).
        trials: stop after this many trials in all (the earlier sessions' counted).
        pruner: "median" (the default), "none", or an Optuna pruner.
        callbacks: extra training callbacks for every trial.
        echo: where to say what each trial is and how it ended (None: nowhere).
        **options: vaekit.train's options, the same for every trial (epochs, batch_size...).
    """
    optuna = import_optuna()
    if not str(out).strip():  # "" (an unset shell variable) would be the current folder
        raise VaekitError("--out is empty: give the search's folder")
    path = Path(out).expanduser()
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int)
                               or trials < 1):  # fmt: skip
        raise VaekitError(f"--trials: expected a positive whole number, got {trials!r}")
    with _locked(path, resume_search):
        study_url = f"sqlite:///{path / STUDY_FILE}"
        if resume_search:
            if space or options:
                raise VaekitError(
                    "--resume continues the recorded search: give only --budget, --trials, "
                    "--pruner and --data (data moved since; its options and space are recorded)"
                )
            study = optuna.load_study(study_name=STUDY_NAME, storage=study_url)
            settings = study.user_attrs["settings"]
            fixed = TRAIN_OPTIONS.check(settings["options"], str(path / STUDY_FILE))
            moved = data is not None  # the same data, moved: checked, then recorded
            data = settings["data"] if data is None else data
            if isinstance(data, str) and missing_path(data):
                raise VaekitError(f"{data}: no such file or folder (moved? give its new place "
                                  "with --data, data= in Python)")  # fmt: skip
            if moved:
                _check_moved_data(path, data, fixed)
                if _recorded(data) is not None:  # (an object: given again at each resume)
                    study.set_user_attr("settings", {**settings, "data": _recorded(data)})
            searched = Space.from_json(settings["space"])
            if budget is None:
                budget = settings["budget_s"] - study.user_attrs.get("spent_s", 0.0)
                if budget <= 0:
                    raise VaekitError(f"{path}: its budget is spent: give --budget to search on")
            pruner = settings["pruner"] if pruner is None else pruner
            trials = settings.get("trials") if trials is None else trials
        else:
            data = DEFAULTS["data"] if data is None else data
            fixed = TRAIN_OPTIONS.check(options, "vaekit tune")
            if budget is None:
                raise VaekitError("vaekit tune needs --budget (the search's time: 1h, 30m, 90s)")
            ranges = space_ranges(space or {}, "search")
            searched = build_space(fixed, ranges, feasibility(data, fixed, set(ranges)))
            pruner = "median" if pruner is None else pruner
        resolve_device(fixed.get("device", DEFAULTS["device"]))  # every trial's: refused now
        seconds = _seconds(budget)
        seed = fixed.get("seed", DEFAULTS["seed"]) + _count(study if resume_search else None)
        sampler = _sampler(optuna, seed)
        optuna_pruner = _pruner(optuna, pruner)
        if resume_search:
            study = optuna.load_study(
                study_name=STUDY_NAME, storage=study_url, sampler=sampler, pruner=optuna_pruner
            )
        else:
            study = optuna.create_study(
                study_name=STUDY_NAME,
                storage=study_url,
                direction="minimize",
                sampler=sampler,
                pruner=optuna_pruner,
            )
            study.set_user_attr(
                "settings",
                {
                    "data": _recorded(data),
                    "options": {
                        k: list(v) if isinstance(v, tuple) else v for k, v in fixed.items()
                    },
                    "space": searched.to_json(),
                    "seed": fixed.get("seed", DEFAULTS["seed"]),
                    "budget_s": seconds,
                    "trials": trials,
                    "pruner": pruner if isinstance(pruner, str) else "median",
                },
            )
            study.set_user_attr("spent_s", 0.0)
        if resume_search:
            retry_killed(optuna, study, path)
        elif echo is not None:
            echo("search space:\n  " + "\n  ".join(searched.lines()))
        session = Session(
            optuna,
            study,
            path,
            data,
            fixed,
            searched,
            seconds,
            trials,
            progress,
            callbacks,
            echo or (lambda line: None),
        )
        stopped_by = session.run()
        rows = trial_rows(optuna, study, searched)
        best = _write_best(path, rows)
        page = path / PAGE_FILE
        page.write_text(_page(optuna, study, rows, best, searched, stopped_by))
    return Search(path, rows, best, page, searched, stopped_by)


def _seconds(budget: float | str) -> float:
    try:
        return Duration().check(budget)
    except ValueError as err:
        raise VaekitError(f"--budget: {err}") from None


def _count(study: Any) -> int:
    return 0 if study is None else len(study.trials)


def _sampler(optuna: Any, seed: int) -> Any:
    """TPE modelling the parameters jointly (multivariate), over the groups of parameters that
    are drawn together (group): a family's own options are drawn only with that family, and
    the pieces that work together (a PixelCNN decoder with EMA and a VampPrior) are learned
    together, not one by one as independent TPE would. Optuna marks both experimental."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed % 2**32, n_startup_trials=STARTUP_TRIALS, multivariate=True, group=True
        )


def _pruner(optuna: Any, pruner: Any) -> Any:
    if pruner == "median":  # epochs count from 1: a trial can be pruned after its first
        return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=1)
    if pruner == "none":
        return optuna.pruners.NopPruner()
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    raise VaekitError(f"--pruner: expected one of {', '.join(PRUNERS)}, got {pruner!r}")


@contextlib.contextmanager
def _locked(path: Path, resuming: bool) -> Iterator[None]:
    """The search folder, held by this process alone (a second `vaekit tune` on it is
    refused); a new search's folder must be new or empty, a resumed one must hold a study."""
    if resuming and not (path / STUDY_FILE).is_file():
        raise VaekitError(f"{path}: no search to resume (no {STUDY_FILE})")
    if not resuming and path.exists() and (not path.is_dir() or _holds_more(path)):
        if (path / STUDY_FILE).exists():
            raise VaekitError(f"{path} holds a search: continue it with --resume, or choose "
                              "another --out")  # fmt: skip
        what = "is a file" if not path.is_dir() else "already holds files"
        raise VaekitError(f"{path} {what}: choose another --out (a new, empty folder)")
    made = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise VaekitError(f"{path}: cannot make the search's folder ({err.strerror})") from None
    try:
        with (path / LOCK_FILE).open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise VaekitError(f"{path}: another vaekit tune is running on it") from None
            yield
    except BaseException:
        # A search refused before it began (a bad --budget, a bad [search] table) leaves
        # nothing behind: the lock goes, and the folder where this call made it.
        if not resuming and not _holds_more(path):
            (path / LOCK_FILE).unlink(missing_ok=True)
            if made:
                path.rmdir()
        raise


def _check_moved_data(path: Path, data: Any, fixed: dict[str, Any]) -> None:
    """Refuse `data` for a resumed search unless it is the data its trials trained on (the
    checksum a trial's config.json records; any data where no trial has one yet)."""
    from vaekit.api.data import open_with_options
    from vaekit.models.io import read_config

    recorded = [
        read_config(trial).get("data", {}).get("sha256")
        for trial in sorted(path.glob("trial-*"))
        if (trial / "config.json").is_file()
    ]
    wanted = next((sha for sha in recorded if sha), None)
    if wanted is not None and not open_with_options(data, fixed).has_checksum(wanted):
        raise VaekitError(f"{data}: not the data this search's trials trained on (checksum "
                          f"recorded {wanted[:12]}...)")  # fmt: skip


def _recorded(data: Any) -> str | None:
    """The data as the study records it for --resume: a file or folder by its whole path (a
    resume may run from another folder), a registered name as it is; None for an object."""
    if isinstance(data, str) and is_dataset_name(data):
        return data
    if isinstance(data, str | Path):
        return str(Path(data).expanduser().resolve())
    return None


def _holds_more(path: Path) -> bool:
    """Whether a search folder holds anything but a lock file (a lock alone is what a refused
    or killed start can leave)."""
    return any(child.name != LOCK_FILE for child in path.iterdir())


def trial_rows(optuna: Any, study: Any, space: Space) -> list[TrialRow]:
    """The trials that ran (refused draws left out), ranked: the scored ones by validation
    -ELBO, best first, then the rest by number."""
    states = optuna.trial.TrialState
    killed = set(study.user_attrs.get("killed", []))
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if "rundir" in t.user_attrs or t.number in killed
    ]
    first = min((t.datetime_start for t in trials if t.datetime_start), default=None)
    rows = []
    for t in trials:
        if t.state == states.COMPLETE:
            state, value = "complete", t.value
        elif t.state == states.PRUNED:
            state, value = "pruned", _last(t.intermediate_values)
        elif t.number in killed:
            state, value = "killed", None
        elif t.state == states.FAIL:
            state, value = "failed", None
        else:
            continue
        note = t.user_attrs.get("error", "")
        if "retry_of" in t.user_attrs:
            note = f"retries killed trial {t.user_attrs['retry_of']}" + (
                f", continuing {t.user_attrs['continues']}" if "continues" in t.user_attrs else ""
            )
        params = shown_params(space, t.params)
        rows.append(
            TrialRow(
                number=t.number,
                state=state,
                value=value,
                epochs=t.user_attrs.get("epochs"),
                time_s=t.user_attrs.get("time_s"),
                params=params,
                rundir=None if state == "killed" else t.user_attrs.get("rundir"),
                started_s=_since(first, t.datetime_start),
                ended_s=_since(first, t.datetime_complete),
                note=note,
            )
        )
    return sorted(rows, key=lambda r: (r.value is None, r.value or 0.0, r.number))


def _last(values: Mapping[int, float]) -> float | None:
    return values[max(values)] if values else None


def _since(first: Any, moment: Any) -> float | None:
    return None if first is None or moment is None else (moment - first).total_seconds()


def best_row(rows: Sequence[TrialRow]) -> TrialRow | None:
    """The best trial that ran to its end, or, where every one was pruned, the best pruned
    one (its run is a finished run, only shorter)."""
    for state in ("complete", "pruned"):
        scored = [r for r in rows if r.state == state and r.value is not None and r.rundir]
        if scored:
            return min(scored, key=lambda r: r.value)  # type: ignore[arg-type, return-value]
    return None


def _write_best(path: Path, rows: Sequence[TrialRow]) -> Path | None:
    """SEARCH/best: a link to the best run's folder (replaced in one step)."""
    best = best_row(rows)
    if best is None:
        return None
    temporary = path / f".{BEST_LINK}.tmp"
    temporary.unlink(missing_ok=True)
    os.symlink(best.rundir, temporary)  # relative: the search folder can move
    os.replace(temporary, path / BEST_LINK)
    return path / str(best.rundir)


def _page(
    optuna: Any, study: Any, rows: list[TrialRow], best: Path | None, space: Space, stopped_by: str
) -> str:
    """search.html's text: the trials, their course, the importances, the best run."""
    importances: dict[str, float] | None = None
    why = None
    try:
        with warnings.catch_warnings():  # "some regimes have less than 2 trials": the page
            warnings.simplefilter("ignore")  # says how many trials there were
            importances = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as err:
        why = f"Optuna could not weigh the parameters ({err})"
    samples = best / SAMPLES_FILE if best is not None else None
    png = samples.read_bytes() if samples is not None and samples.is_file() else None
    return search_page(
        rows, importances, why, png, best.name if best else None, space.lines(), stopped_by
    )


__all__ = ["PruneOnValidation", "Range", "Search", "tune"]
