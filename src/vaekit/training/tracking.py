"""Experiment tracking (`vaekit train --log tensorboard --log mlflow`): the numbers and pictures
of a run sent to TensorBoard or MLflow as well, besides the run directory's own files.

Per epoch (the epoch is the step): the train and validation -ELBO, reconstruction and KL (and
-IWAE_K, and the KL per layer, where the run has them), the validation KL per latent dimension,
the learning rate and the epoch's time. At the end, at the last epoch's step: the test split's
numbers, the pictures (samples, reconstructions) and, for MLflow, the model files, the pictures
and report.html as artifacts; the options are MLflow parameters from the start.

A resumed run continues the same TensorBoard and MLflow runs, each epoch once:

- TensorBoard: the run's events are in RUNDIR/tensorboard. The resumed writer purges every
  event from the checkpoint's epoch on (`purge_step`: TensorBoard's readers drop the older
  files' events at or after it) and logs that epoch again from the checkpoint. Logging follows
  the checkpoint and is flushed after every epoch, so a killed run's events hold every epoch
  before the checkpoint's, and perhaps that one: after the purge, each exactly once. Epochs
  trained without TensorBoard (resumed with --log none) are logged from the history: the
  last epoch flushed is recorded in RUNDIR/tracking.json, and the purge starts after it.
- MLflow: RUNDIR/tracking.json records the store and the run id; the resumed run asks MLflow
  for the last epoch it holds and logs the epochs after it that the checkpoint has. An epoch's
  metrics go in one batch, so that an epoch is there whole or not at all.

The per-dimension KL of an epoch needs the weights of that epoch, so an epoch logged again
from the checkpoint has it only where it is the checkpoint's own (the weights resumed).
Only the main process of a group logs (fit runs the callbacks there only).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.data.batches import ImageSet, binarize_once
from vaekit.errors import VaekitError
from vaekit.files import signals_held, write_json
from vaekit.models.io import CONFIG_FILE, WEIGHTS_FILE
from vaekit.training.callbacks import Callback
from vaekit.training.ema import averaged
from vaekit.training.loop import TrainConfig
from vaekit.training.scoring import kl_per_dimension
from vaekit.training.state import LoopState

TENSORBOARD_DIR = "tensorboard"  # RUNDIR/tensorboard: the run's event files
EVENTS_PREFIX = "events.out.tfevents."  # how TensorBoard names them
TRACKING_FILE = "tracking.json"  # the MLflow store and run that a resumed run continues
DEFAULT_EXPERIMENT = "vaekit"
# A model card, where one was written (it travels with the model files to MLflow).
_CARD_FILE = "README.md"
# The terms of a split that are logged, where the record has them (metrics.jsonl's names).
_TERMS = ("neg_elbo", "rec", "kl", "neg_iwae")


def check_installed(trackers: Sequence[str]) -> None:
    """Refuse, before any work, a tracker whose library is missing: one line saying what to
    install. MLflow's SQLite store (its default) also needs SQLAlchemy and Alembic."""
    for name in trackers:
        library = {"tensorboard": "TensorBoard", "mlflow": "MLflow"}[name]
        need = f"--log {name} needs {library}: pip install 'vaekit[{name}]'"
        try:
            importlib.import_module(name)
        except ImportError:
            raise VaekitError(need) from None
        if name == "mlflow" and _tracking_uri().startswith("sqlite"):
            try:
                importlib.import_module("sqlalchemy")
                importlib.import_module("alembic")
            except ImportError:
                raise VaekitError(
                    f"{need} (its SQLite store {_tracking_uri()} needs SQLAlchemy and Alembic)"
                ) from None
        if name == "mlflow":
            _check_reachable(_tracking_uri())


# How long a tracking server may take to answer before training, in seconds.
SERVER_TIMEOUT = 5.0


def _check_reachable(uri: str) -> None:
    """Refuse, before any work, an MLflow server that does not answer (MLflow itself would
    retry its first call for minutes, after the first epoch): a connection to its host and
    port within SERVER_TIMEOUT. A local store (a file or SQLite) is not asked."""
    from urllib.parse import urlsplit

    where = urlsplit(uri)
    if where.scheme not in ("http", "https") or not where.hostname:
        return
    port = where.port or (443 if where.scheme == "https" else 80)
    try:
        socket.create_connection((where.hostname, port), timeout=SERVER_TIMEOUT).close()
    except OSError as err:
        raise VaekitError(
            f"--log mlflow: the tracking server {uri} does not answer ({err.strerror or err}): "
            "start it, set MLFLOW_TRACKING_URI to one that does, or leave out --log mlflow"
        ) from None


def _tracking_uri() -> str:
    """The store a new MLflow run goes to: MLFLOW_TRACKING_URI where set, else MLflow's own
    default (MLflow 3: sqlite:///mlflow.db in the current folder), as an absolute URI."""
    import mlflow

    return mlflow.get_tracking_uri()


class Tracking(Callback):
    """Sends a run's numbers and pictures to the `trackers` (tensorboard, mlflow).

    `rundir` returns where the run is now (a new run moves to --out after its first epoch,
    so nothing is written before that: the first epoch's end, after vaekit's own files).
    `params` are MLflow's parameters, by option name. `val` (the validation split, or None)
    and `config` give the KL per latent dimension as validation scores it. `finish` ends
    the runs after the test.
    """

    def __init__(
        self,
        trackers: Sequence[str],
        rundir: Callable[[], Path],
        params: Mapping[str, str],
        val: ImageSet | None,
        config: TrainConfig,
    ) -> None:
        self.trackers = tuple(trackers)
        self.rundir = rundir
        self.params = dict(params)
        self.val = val
        self.config = config
        self.backends: list[_Backend] = []
        self.per_dim: dict[int, list[float]] = {}  # epoch -> validation KL per dimension
        self._binarized: ImageSet | None = None
        self._ambient: BaseException | None = None

    def on_train_start(self, total_steps: int, state: LoopState) -> None:
        # training called from within an `except` block: that error is not training's own
        self._ambient = sys.exc_info()[1]
        if state.history:  # resumed: the checkpoint's epoch, with its own weights
            self._note_per_dim(state.history[-1]["epoch"], state)
            self._open(state, resumed=True)

    def on_epoch_end(self, record: dict[str, Any], state: LoopState) -> None:
        self._note_per_dim(record["epoch"], state)
        if not self.backends:
            self._open(state)
        else:
            self._log(state.history)

    def on_train_end(self) -> None:
        failed = sys.exc_info()[1]  # fit calls this in its `finally`: any error in flight
        if failed is not None and failed is not self._ambient:
            status = "KILLED" if isinstance(failed, KeyboardInterrupt) else "FAILED"
            for backend in self.backends:
                backend.close(status)

    def finish(
        self,
        step: int,
        test: Mapping[str, Any],
        latents: Mapping[str, Any],
        pictures: Mapping[str, Path],
    ) -> None:
        """The test figures and the pictures at the last epoch's step, then the runs end.
        A run that trained no epoch here (resumed and already stopped early) opens first."""
        if not self.backends:
            self._open(None, resumed=True)
        scalars = _split_scalars("test", test)
        if latents.get("active_units") is not None:
            scalars["test/active_units"] = float(latents["active_units"])
        rundir = self.rundir()
        model_files = [rundir / name for name in (CONFIG_FILE, WEIGHTS_FILE, _CARD_FILE)]
        for backend in self.backends:
            with _reported(backend.name, rundir):
                backend.finish(step, scalars, pictures, [p for p in model_files if p.is_file()])
                backend.close("FINISHED")
        # the run's wrap-up is complete only with this (vaekit.api.run.wrapup_cut_short)
        write_json(rundir / TRACKING_FILE, {**_read_record(rundir), "finished_at": step})

    def _open(self, state: LoopState | None, resumed: bool = False) -> None:
        rundir = self.rundir()
        resumed_at = state.history[-1]["epoch"] if state is not None and state.history else 0
        for name in self.trackers:
            # A store's first setup (MLflow migrates its database) is not cut by Ctrl-C: a
            # half-made store would refuse every later --resume.
            with _reported(name, rundir), signals_held():
                backend = _BACKENDS[name](rundir, resumed_at, self.params)
            self.backends.append(backend)
        record = _read_record(rundir)
        if not resumed and "finished_at" not in record:  # a new run's trackers are followed
            # to their end (a run of an older version, resumed, is taken as closed until then)
            write_json(rundir / TRACKING_FILE, {**record, "finished_at": 0})
        if state is not None:
            self._log(state.history)

    def _log(self, history: Sequence[dict[str, Any]]) -> None:
        """Every epoch of `history` that a backend does not hold yet."""
        for backend in self.backends:
            with _reported(backend.name, self.rundir()):
                for record in history:
                    if record["epoch"] > backend.logged:
                        backend.log_epoch(record["epoch"], self._scalars(record))
                backend.flush()

    def _scalars(self, record: dict[str, Any]) -> dict[str, float]:
        epoch = record["epoch"]
        out: dict[str, float] = {}
        for split in ("train", "val"):
            if record.get(split):
                out.update(_split_scalars(split, record[split]))
        for dim, value in enumerate(self.per_dim.get(epoch, ())):
            out[f"val/kl_dim/{dim}"] = value
        # metrics.jsonl records the rate where it moves (a schedule, a rollback); else it
        # is --lr throughout
        out["lr"] = float(record.get("lr", self.config.lr))
        out["time_s"] = float(record["time_s"])
        return {k: v for k, v in out.items() if math.isfinite(v)}

    def _note_per_dim(self, epoch: int, state: LoopState) -> None:
        """The validation KL per latent dimension with the weights as they are now (epoch
        `epoch`'s), where the model gives it in closed form and there is a validation split."""
        if self.val is None or not state.model.has_kl_per_dim:
            return
        if self.config.binarize and self._binarized is None:
            self._binarized = binarize_once(self.val, self.config.seed)  # as validation does
        data = self._binarized if self.config.binarize else self.val
        with averaged(state.model, state.ema):
            values = kl_per_dimension(state.model, data, self.config.batch_size, self.config.seed)
        if values is not None:
            self.per_dim = {epoch: values}  # only the latest epoch's is ever logged


def _split_scalars(split: str, terms: Mapping[str, Any]) -> dict[str, float]:
    """A split's numbers as tracker keys: "val/neg_elbo", "val/kl_layer/0", ..."""
    out = {f"{split}/{term}": float(terms[term]) for term in _TERMS if terms.get(term) is not None}
    for layer, value in enumerate(terms.get("kl_layers") or ()):
        out[f"{split}/kl_layer/{layer}"] = float(value)
    return out


@contextmanager
def _reported(name: str, rundir: Path) -> Iterator[None]:
    """A tracker's failure as one line (the run directory already holds the epoch)."""
    try:
        yield
    except VaekitError:
        raise
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise VaekitError(
            f"--log {name} failed ({first}); {rundir} keeps every finished epoch: continue "
            f"with vaekit train --out {rundir} --resume (with --log none to leave it out)"
        ) from err


class _Backend:
    """One tracker's run. `logged`: the last epoch it holds."""

    name = ""
    logged = 0

    def log_epoch(self, epoch: int, scalars: Mapping[str, float]) -> None: ...

    def flush(self) -> None: ...

    def finish(
        self,
        step: int,
        scalars: Mapping[str, float],
        pictures: Mapping[str, Path],
        model_files: Sequence[Path],
    ) -> None: ...

    def close(self, status: str) -> None: ...


class _TensorBoard(_Backend):
    """Event files in RUNDIR/tensorboard; a resumed run purges from the checkpoint's epoch
    on and logs that epoch again (see the module's docstring)."""

    name = "tensorboard"

    def __init__(self, rundir: Path, resumed_at: int, params: Mapping[str, str]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder = rundir / TENSORBOARD_DIR
        earlier = folder.is_dir() and any(
            p.name.startswith(EVENTS_PREFIX) for p in folder.iterdir()
        )
        purge = resumed_at if resumed_at and earlier else None
        entry = _read_record(rundir).get("tensorboard")
        flushed = entry.get("logged") if isinstance(entry, dict) else None
        if purge and type(flushed) is int and 0 <= flushed < purge - 1:  # a --log none gap
            purge = flushed + 1
        if earlier:
            _after_newest(folder)
        self.rundir = rundir
        self.writer = SummaryWriter(str(folder), purge_step=purge)
        self.logged = purge - 1 if purge else 0

    def log_epoch(self, epoch: int, scalars: Mapping[str, float]) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, epoch)
        self.logged = epoch

    def flush(self) -> None:
        self.writer.flush()
        record = _read_record(self.rundir)
        write_json(self.rundir / TRACKING_FILE, {**record, "tensorboard": {"logged": self.logged}})

    def finish(
        self,
        step: int,
        scalars: Mapping[str, float],
        pictures: Mapping[str, Path],
        model_files: Sequence[Path],
    ) -> None:
        from PIL import Image

        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)
        for name, path in pictures.items():
            # the grids; TensorBoard draws the curves itself
            if path.suffix == ".png" and name != "curves":
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("RGB"))
                self.writer.add_image(name, pixels, step, dataformats="HWC")

    def close(self, status: str) -> None:
        self.writer.close()


class _MLflow(_Backend):
    """A run in an MLflow store, recorded in RUNDIR/tracking.json: created at the first
    epoch's end, continued by a resumed run."""

    name = "mlflow"

    def __init__(self, rundir: Path, resumed_at: int, params: Mapping[str, str]) -> None:
        from mlflow.tracking import MlflowClient

        recorded = _read_record(rundir).get("mlflow")
        if recorded is not None:
            self.client = MlflowClient(recorded["tracking_uri"])
            self.run_id = recorded["run_id"]
            try:
                run = self.client.get_run(self.run_id)
            except Exception as err:  # deleted, or the store is gone
                warnings.warn(
                    f"--log mlflow: the run's MLflow run {self.run_id} cannot be read "
                    f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                    "starting a new one",
                    stacklevel=2,
                )
                recorded = None
            else:
                self.client.update_run(self.run_id, status="RUNNING")
                history = self.client.get_metric_history(self.run_id, "train/neg_elbo")
                self.logged = max((m.step for m in history), default=0)
                missing = {k: v for k, v in params.items() if k not in run.data.params}
                self._log_params(missing)
                # MLflow keeps a parameter's first value: an option the resume changed
                # (--epochs, --time-budget, --log) is a tag with the value it has now
                for k, v in params.items():
                    tag = f"vaekit.resumed.{k}"
                    if k in run.data.params and (run.data.params[k] != v or tag in run.data.tags):
                        self.client.set_tag(self.run_id, tag, v)
        if recorded is None:
            uri = _tracking_uri()
            self.client = MlflowClient(uri)
            experiment = self._experiment()
            run = self.client.create_run(
                experiment, run_name=rundir.name, tags={"vaekit.rundir": str(rundir.resolve())}
            )
            self.run_id = run.info.run_id
            record = {"tracking_uri": uri, "experiment_id": experiment, "run_id": self.run_id}
            write_json(rundir / TRACKING_FILE, {**_read_record(rundir), "mlflow": record})
            self._log_params(params)

    def _experiment(self) -> str:
        """MLFLOW_EXPERIMENT_ID, else the experiment MLFLOW_EXPERIMENT_NAME (default
        "vaekit") names, made where it is not yet."""
        if os.environ.get("MLFLOW_EXPERIMENT_ID"):
            return os.environ["MLFLOW_EXPERIMENT_ID"]
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found is not None else self.client.create_experiment(name)

    def _log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 in one batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_epoch(self, epoch: int, scalars: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        self._metrics(epoch, scalars, Metric)
        self.logged = epoch

    def _metrics(self, step: int, scalars: Mapping[str, float], metric: type) -> None:
        now = int(time.time() * 1000)
        items = [metric(k, v, now, step) for k, v in scalars.items()]
        # One batch for an epoch (the store's limit is 1,000): whole or not at all.
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def finish(
        self,
        step: int,
        scalars: Mapping[str, float],
        pictures: Mapping[str, Path],
        model_files: Sequence[Path],
    ) -> None:
        from mlflow.entities import Metric

        self._metrics(step, scalars, Metric)
        for path in model_files:
            self.client.log_artifact(self.run_id, str(path), "model")
        for path in pictures.values():  # the model card, if any, went with the model
            if path not in model_files:
                self.client.log_artifact(self.run_id, str(path))

    def close(self, status: str) -> None:
        try:
            self.client.set_terminated(self.run_id, status)
        except Exception:  # already failing: the training's own error is the one to show
            if status == "FINISHED":
                raise


def trackers_finished(rundir: Path, epochs: int) -> bool:
    """Whether the trackers a run logs to (config.json's training.log) got the test figures
    of its `epochs` epochs and closed their runs: RUNDIR/tracking.json's finished_at (taken
    for yes where a run of an older version has none)."""
    try:
        logged = json.loads((rundir / CONFIG_FILE).read_text())["training"].get("log")
        return not logged or _read_record(rundir).get("finished_at", epochs) == epochs
    except (OSError, ValueError, KeyError, TypeError, AttributeError, VaekitError):
        return True  # (unreadable: the command that reads it says so)


def _read_record(rundir: Path) -> dict[str, Any]:
    """RUNDIR/tracking.json, or {} where there is none."""
    try:
        record = json.loads((rundir / TRACKING_FILE).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise VaekitError(f"{rundir / TRACKING_FILE}: cannot be read ({err})") from None
    return record if isinstance(record, dict) else {}


_BACKENDS: dict[str, Callable[[Path, int, Mapping[str, str]], _Backend]] = {
    "tensorboard": _TensorBoard,
    "mlflow": _MLflow,
}


def _after_newest(folder: Path) -> None:
    """Wait (at most about a second) until the clock is past the newest event file's second.
    TensorBoard names a file by the second it was opened, then the host and the process id,
    and reads a folder's files in the order of their names: a run resumed within the second
    its killed run wrote in would sort by process id, perhaps before the older file, and its
    purge (which drops the steps read *before* it) would miss the older file's last steps."""
    seconds = []
    for p in folder.iterdir():
        stamp = p.name[len(EVENTS_PREFIX) :].split(".", 1)[0]
        if p.name.startswith(EVENTS_PREFIX) and stamp.isdigit():
            seconds.append(int(stamp))
    newest = max(seconds, default=0)
    while int(time.time()) <= newest and time.time() > newest - 5:  # not for a clock set back
        time.sleep(0.05)
