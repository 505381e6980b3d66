"""`vaekit.resume`: a run continued from its last checkpoint, to where the uninterrupted run
would have ended.

run = vaekit.resume("runs/digits", epochs=6)   # after a crash, or to train on
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from warnings import warn

import numpy as np
import torch

from vaekit.api.model import resolve_device, run_path
from vaekit.api.options import config_hash
from vaekit.api.run import (
    METRICS_FILE,
    already_trained,
    read_metrics,
    reopen_dataset,
    train_config_from,
    wrapup_cut_short,
)
from vaekit.api.rundir import check_resumable, clear_leftovers, remove_temp_files, training
from vaekit.api.train import Run, _train_and_finish
from vaekit.data.datasets import split_validation
from vaekit.errors import VaekitError
from vaekit.files import atomic_write
from vaekit.models.factory import build_vae
from vaekit.models.io import CONFIG_FILE, model_config_from, read_config, write_config
from vaekit.train_options import TRAIN_OPTIONS
from vaekit.training.checkpoint import (
    CHECKPOINT_DIR,
    STATE_FILE,
    has_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from vaekit.training.distributed import Group, from_env
from vaekit.training.loop import Callback, LoopState, best_epoch, make_state, should_stop
from vaekit.training.precision import resolve_precision
from vaekit.training.schedules import schedule_moved
from vaekit.training.tracking import check_installed


def resume(
    rundir: str | Path,
    *,
    epochs: int | None = None,
    time_budget: float | str | None = None,
    precision: str | None = None,
    data: str | Path | np.ndarray | torch.Tensor | None = None,
    device: str = "auto",
    report: bool | None = None,
    log: Sequence[str] | None = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    active_units: bool = True,
) -> Run:
    """Continue a run from its last checkpoint, to `epochs` in all (default: as configured).

    Its keywords are the options declared resumable (vaekit.train_options.resumable_flags);
    each left at None keeps the recorded value. The result is what an uninterrupted run would
    have given (with the same precision and device). `time_budget` (seconds, or text like
    "15m"): a budget for this command, in place of the recorded one (which also counts afresh
    from now). `data` is needed only for a run trained on an array or a dataset object (a
    DataFrame, ...) or whose data has moved; its checksum must match the recorded one.
    `report`: write RUNDIR/report.html at the end (default: as the run was trained, so a
    --no-report run stays without one).
    `log`: the trackers to log to (default: as recorded; the same TensorBoard and MLflow
    runs are continued, vaekit.training.tracking). `active_units`: as for vaekit.train.
    """
    path = run_path(rundir)
    group, dev = from_env(resolve_device(device))
    # Every process reads the run itself: under torchrun on several machines, each its own
    # machine's copy, which must be there and be the first machine's (Group.each: where one
    # is not, every process stops, rather than the others wait for it).
    found = group.each(lambda: _check_here(path))
    first = group.share(found)
    group.each(lambda: _same_as_first(path, found, first))
    with contextlib.ExitStack() as held:
        # Held while this process trains on it (the main process: the one that writes).
        group.on_main(lambda: held.enter_context(training(path)))
        return _resume(path, group, dev, epochs, time_budget, precision, report, log, data,
                       progress, callbacks, active_units)  # fmt: skip


def _check_here(path: Path) -> str:
    """The run as this process finds it: there, with its config and a checkpoint. Returns a
    fingerprint of what the resume reads of it (config.json, the checkpoint's state,
    metrics.jsonl), to compare with the first process's."""
    check_resumable(path)
    read_config(path)
    if not has_checkpoint(path):
        raise VaekitError(f"{path}: no checkpoint to resume from (no epoch finished yet?)")
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, f"{CHECKPOINT_DIR}/{STATE_FILE}", METRICS_FILE):
        try:
            digest.update((path / name).read_bytes())
        except OSError:  # (left for the resume to say, on every process: the copies differ)
            digest.update(b"missing")
    return digest.hexdigest()


def _same_as_first(path: Path, found: str, first: str) -> None:
    if found != first:
        raise VaekitError(
            f"{path}: this machine's copy of the run is not the first machine's (its config, "
            "checkpoint or metrics differ): only the first process writes the run, so copy "
            "the folder from the first machine again before resuming, or keep it on a "
            "shared disk"
        )


def _resume(
    path: Path, group: Group, dev: torch.device, epochs: int | None, time_budget: Any,
    precision: str | None, report: bool | None, log: Any, data: Any, progress: bool,
    callbacks: Sequence[Callback], active_units: bool,
) -> Run:  # fmt: skip
    group.on_main(lambda: clear_leftovers(path))
    config = read_config(path)
    given = {"epochs": epochs, "time_budget": time_budget, "precision": precision,
             "report": report, "log": log}  # fmt: skip
    changes = {k: v for k, v in given.items() if v is not None}
    for name, value in TRAIN_OPTIONS.check(changes, "vaekit.resume").items():
        config["training"][TRAIN_OPTIONS[name].config_key] = value
    group.on_main(lambda: check_installed(config["training"]["log"] or ()))  # (it logs)
    train_config = train_config_from(config)
    train_config.validate()
    dataset = group.main_first(lambda: reopen_dataset(config, data, verify=True))
    train_set, val_set = split_validation(dataset, train_config.val_fraction, train_config.seed)
    model_config = model_config_from(config)
    vae = build_vae(model_config).to(dev)
    state = make_state(vae, train_config)
    stored_hash = load_checkpoint(path, state)
    # A checkpoint of a schema 1 run was hashed with the config as that version wrote it.
    as_written = json.loads((path / CONFIG_FILE).read_text())
    if stored_hash not in (config_hash(config), config_hash(as_written)):
        raise VaekitError(f"{path}: config.json has changed since the checkpoint was written")
    finished = any(line.get("final") for line in read_metrics(path))
    # Its final line written, its pictures not (killed in its wrap-up): resumed, it trains
    # no further (also where a time budget or a callback stopped it before --epochs) and
    # does the wrap-up again (the test pass, the pictures, the card, the report, the
    # trackers' runs closed); with a larger --epochs or a new --time-budget, it trains on.
    done = finished and not wrapup_cut_short(path)
    wrap_up_only = finished and not done and epochs is None and time_budget is None
    if state.epoch > train_config.epochs or (state.epoch == train_config.epochs and done):
        raise VaekitError(already_trained(path, state.epoch, finished))
    if done and should_stop(state.history, train_config.patience):
        raise VaekitError(
            f"{path} was stopped early at epoch {state.epoch}: --patience "
            f"{train_config.patience} epochs without a better validation -ELBO than epoch "
            f"{best_epoch(state.history)}'s, so it trains no further (a new run trains longer)"
        )
    moved = schedule_moved(train_config, state, as_written["training"].get("epochs"))
    if group.is_main and moved:
        warn(moved, stacklevel=2)
    config["training"]["device"] = str(dev)
    config["training"]["precision_resolved"] = resolve_precision(
        config["training"]["precision"], dev
    ).name
    # Rewritten once the run goes on: a resume that fails first (a bad option, a crash)
    # leaves the run's config.json and metrics.jsonl (its final line) as they were.
    lines = "".join(json.dumps(r) + "\n" for r in state.history)
    prepare = functools.partial(_rewrite_for_resume, path, config, state, stored_hash, lines)
    progress = progress and group.is_main
    return _train_and_finish(
        path, config, dataset, train_set, val_set, state, progress, callbacks, None, group,
        config["training"]["report"], active_units, prepare if group.is_main else None,
        train=not wrap_up_only,
    )  # fmt: skip


def _rewrite_for_resume(
    path: Path, config: dict[str, Any], state: LoopState, stored_hash: str, lines: str
) -> None:
    """config.json as now resolved, metrics.jsonl as the checkpoint knew it (`lines`), no
    temp files."""
    if stored_hash != config_hash(config):  # migrated: rehash before rewriting config.json
        save_checkpoint(path, state, config_hash(config))
    remove_temp_files(path)  # left by a write that was killed
    write_config(path, config)
    atomic_write(path / METRICS_FILE, lambda p: p.write_text(lines))
