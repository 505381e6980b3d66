"""`vaekit train --log tensorboard --log mlflow`: what each tracker holds, read back with its own
reader (TensorBoard's event accumulator, MlflowClient on a local SQLite store): every epoch's
numbers once, the test figures, the pictures and the artifacts; after a SIGKILL and `--resume`
still once each, in the same TensorBoard and MLflow runs. A missing library is one line."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.cli.test_cli import vaekit
from tests.conftest import write_npz
from vaekit.api.rundir import foreign_files
from vaekit.models.io import migrate_v7
from vaekit.train_options import TRAIN_OPTIONS

EPOCHS = 3
OPTIONS = dict(model="mlp", hidden_dims=(16,), latent_dim=2, batch_size=32, epochs=EPOCHS,
               seed=3, progress=False)  # fmt: skip

# Trains with both trackers and SIGKILLs itself: "step", halfway through epoch 3 (epochs 1
# and 2 logged, the checkpoint epoch 2's); "gap", after epoch 2's checkpoint but before the
# trackers log that epoch; "wrapup", after the final line, as the trackers would get the
# test figures.
KILLED_RUN = f"""
import os, signal, sys
import vaekit
from vaekit.training import tracking
from vaekit.training.loop import Callback

where = sys.argv[3]

class Kill(Callback):
    def on_train_start(self, total_steps, state):
        self.at = total_steps // {EPOCHS} * 5 // 2

    def on_step(self, step, epoch, loss):
        if where == "step" and step == self.at:
            os.kill(os.getpid(), signal.SIGKILL)

real = tracking.Tracking.on_epoch_end

def on_epoch_end(self, record, state):
    if where == "gap" and record["epoch"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    real(self, record, state)

tracking.Tracking.on_epoch_end = on_epoch_end
finish = tracking.Tracking.finish

def killed_finish(self, *args):
    if where == "wrapup":
        os.kill(os.getpid(), signal.SIGKILL)
    finish(self, *args)

tracking.Tracking.finish = killed_finish
vaekit.train(sys.argv[1], out=sys.argv[2], callbacks=[Kill()], log=("tensorboard", "mlflow"),
             **{OPTIONS!r})
"""


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables made (which takes seconds), copied by each test."""
    folder = tmp_path_factory.mktemp("store")
    db = folder / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store(empty_store: Path, tmp_path: Path, monkeypatch) -> str:
    """This test's own store, which MLFLOW_TRACKING_URI names; MLflow's artifacts go to
    ./mlruns, here in tmp_path."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    return uri


def _records(run: Path) -> list[dict]:
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if not r.get("final")]


def _events(run: Path) -> EventAccumulator:
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


@pytest.mark.parametrize("where", ["step", "gap"])
def test_a_killed_run_resumed_logs_each_epoch_once(tmp_path: Path, store: str, where: str):
    data = write_npz(tmp_path / "data.npz", n=240, size=8)
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(data), str(run), where],
                          stderr=subprocess.PIPE, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert [r["epoch"] for r in _records(run)] == [1, 2]
    mlflow_run = json.loads((run / "tracking.json").read_text())["mlflow"]
    assert mlflow_run["tracking_uri"] == store
    client = MlflowClient(store)
    before = client.get_metric_history(mlflow_run["run_id"], "train/neg_elbo")
    assert sorted(m.step for m in before) == ([1, 2] if where == "step" else [1])

    # --log is recorded: the resumed run logs without being told again
    assert json.loads((run / "config.json").read_text())["training"]["log"] == [
        "tensorboard",
        "mlflow",
    ]
    assert vaekit("train", "--out", run, "--resume", "--quiet") == 0
    records = _records(run)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    final = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])

    # TensorBoard: each epoch once, with metrics.jsonl's values
    events = _events(run)
    for tag, split, term in (("train/neg_elbo", "train", "neg_elbo"), ("val/kl", "val", "kl"),
                             ("val/rec", "val", "rec")):  # fmt: skip
        scalars = events.Scalars(tag)
        assert [e.step for e in scalars] == [1, 2, 3], tag
        for event, record in zip(scalars, records, strict=True):
            assert event.value == pytest.approx(record[split][term], rel=1e-6)
    assert [e.step for e in events.Scalars("lr")] == [1, 2, 3]
    assert [e.value for e in events.Scalars("time_s")] == pytest.approx(
        [r["time_s"] for r in records], rel=1e-6
    )
    # the KL per dimension: each epoch once, summing to the validation KL (epoch 1 logged
    # by the killed run; 2 and 3 with the weights of each)
    per_dim = [events.Scalars(f"val/kl_dim/{d}") for d in range(2)]
    assert [[e.step for e in dim] for dim in per_dim] == [[1, 2, 3]] * 2
    for epoch in range(3):
        total = sum(dim[epoch].value for dim in per_dim)
        assert total == pytest.approx(records[epoch]["val"]["kl"], rel=1e-4, abs=1e-6)
    test = events.Scalars("test/neg_elbo")
    assert [(e.step, e.value) for e in test] == [(3, pytest.approx(final["test"]["neg_elbo"]))]
    for name in ("samples", "reconstructions"):
        assert [e.step for e in events.Images(name)] == [3], name

    # MLflow: the same run, finished, each epoch once
    runs = client.search_runs([mlflow_run["experiment_id"]])
    assert [r.info.run_id for r in runs] == [mlflow_run["run_id"]]
    done = client.get_run(mlflow_run["run_id"])
    assert done.info.status == "FINISHED"
    assert done.data.params["latent_dim"] == "2" and done.data.params["hidden_dims"] == "16"
    assert "channels" not in done.data.params  # another family's option
    for key, split, term in (("train/neg_elbo", "train", "neg_elbo"), ("val/kl", "val", "kl")):
        history = sorted(client.get_metric_history(done.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == [1, 2, 3], key
        assert [m.value for m in history] == pytest.approx([r[split][term] for r in records])
    history = client.get_metric_history(done.info.run_id, "val/kl_dim/1")
    assert sorted(m.step for m in history) == [1, 2, 3]
    test = client.get_metric_history(done.info.run_id, "test/neg_elbo")
    assert [(m.step, m.value) for m in test] == [(3, pytest.approx(final["test"]["neg_elbo"]))]
    top = {a.path for a in client.list_artifacts(done.info.run_id)}
    assert {"samples.png", "reconstructions.png", "report.html", "model"} <= top
    model = {a.path for a in client.list_artifacts(done.info.run_id, "model")}
    assert {"model/config.json", "model/model.safetensors"} <= model


def test_a_run_that_fails_is_a_failed_mlflow_run(tmp_path: Path, store: str):
    import vaekit
    from vaekit.training.loop import Callback

    class Boom(Callback):
        def on_epoch_end(self, record, state):
            if record["epoch"] == 2:
                raise RuntimeError("boom")

    data = write_npz(tmp_path / "data.npz", n=120, size=8)
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="boom"):
        vaekit.train(data, out=run, log=("mlflow",), callbacks=[Boom()], **OPTIONS)
    recorded = json.loads((run / "tracking.json").read_text())["mlflow"]
    client = MlflowClient(store)
    assert client.get_run(recorded["run_id"]).info.status == "FAILED"
    history = client.get_metric_history(recorded["run_id"], "val/neg_elbo")
    assert sorted(m.step for m in history) == [1, 2]  # logged before the callback failed


@pytest.fixture
def tracked_val(monkeypatch) -> dict:
    """The validation split that training hands its trackers, kept here to be scored anew."""
    from vaekit.training import tracking

    kept: dict = {}
    real = tracking.Tracking.__init__

    def spy(self, trackers, rundir, params, val, config):
        kept["val"] = val
        real(self, trackers, rundir, params, val, config)

    monkeypatch.setattr(tracking.Tracking, "__init__", spy)
    return kept


def test_each_latent_dimensions_kl_and_the_scheduled_lr_are_logged_as_they_were(
    tmp_path: Path, tracked_val: dict
):
    """val/kl_dim/d is dimension d's own KL (computed here in closed form from each epoch's
    posterior on the validation split), and lr the rate each epoch trained with (metrics.jsonl's,
    which a cosine schedule moves), not --lr."""
    import torch

    import vaekit
    from vaekit.training.loop import Callback

    by_epoch: dict[int, list[float]] = {}

    class KlPerDimension(Callback):
        @torch.no_grad()
        def on_epoch_end(self, record, state):
            val, was = tracked_val["val"], state.model.training
            qz = state.model.eval().encode(val.scaled(torch.arange(len(val))))
            kl = 0.5 * (qz.mean**2 + qz.logvar.exp() - 1 - qz.logvar)
            by_epoch[record["epoch"]] = kl.mean(0).tolist()
            state.model.train(was)

    data = write_npz(tmp_path / "d.npz", n=120, size=6)
    run = tmp_path / "run"
    options = {**OPTIONS, "epochs": 2, "latent_dim": 3, "lr": 0.01, "report": False}
    vaekit.train(data, out=run, log=("tensorboard",), lr_schedule="cosine",
                 callbacks=[KlPerDimension()], **options)  # fmt: skip
    records, events = _records(run), _events(run)
    rates = [r["lr"] for r in records]
    assert rates[0] != rates[1] and 0.01 not in rates  # the schedule moved it
    assert [e.value for e in events.Scalars("lr")] == pytest.approx(rates, rel=1e-6)
    for d in range(3):
        logged = events.Scalars(f"val/kl_dim/{d}")
        assert [e.step for e in logged] == [1, 2]
        expected = [by_epoch[epoch][d] for epoch in (1, 2)]
        assert [e.value for e in logged] == pytest.approx(expected, rel=1e-4, abs=1e-6), d


@pytest.mark.parametrize("option", [{"ema": 0.9}, {"binarize": True}], ids=["ema", "binarize"])
def test_the_kl_per_dimension_is_of_the_weights_and_data_validation_scores(
    tmp_path: Path, option: dict
):
    """With --ema validation scores the averaged weights, with --binarize one draw of the
    pixels: the KL per dimension is of the same, and sums to the logged val/kl."""
    import vaekit

    data = write_npz(tmp_path / "d.npz", n=120, size=6)
    run = tmp_path / "run"
    options = {**OPTIONS, "epochs": 2, "latent_dim": 3, "lr": 0.01, "report": False}
    vaekit.train(data, out=run, log=("tensorboard",), **options, **option)
    records, events = _records(run), _events(run)
    per_dim = [events.Scalars(f"val/kl_dim/{d}") for d in range(3)]
    for epoch, record in enumerate(records):
        total = sum(dim[epoch].value for dim in per_dim)
        assert total == pytest.approx(record["val"]["kl"], rel=1e-4, abs=1e-6), epoch


def test_ctrl_c_is_a_killed_mlflow_run_and_an_error_being_handled_is_not_the_runs(
    tmp_path: Path, store: str, monkeypatch
):
    """A run stopped by Ctrl-C is KILLED (not FAILED: nothing went wrong in it); a run
    trained inside an `except` block, whose error is the caller's, is FINISHED, and never
    marked FAILED on the way (a dashboard showed it failed until its test had run)."""
    import vaekit
    from vaekit.training.loop import Callback

    ended: list[str] = []
    real = MlflowClient.set_terminated

    def set_terminated(self, run_id, status=None, *args, **kwargs):
        ended.append(status)
        return real(self, run_id, status, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "set_terminated", set_terminated)

    class CtrlC(Callback):
        def on_epoch_end(self, record, state):
            raise KeyboardInterrupt

    data = write_npz(tmp_path / "data.npz", n=120, size=6)
    options = {**OPTIONS, "epochs": 1, "report": False}
    client = MlflowClient(store)

    def status(run: Path) -> str:
        recorded = json.loads((run / "tracking.json").read_text())["mlflow"]
        return client.get_run(recorded["run_id"]).info.status

    with pytest.raises(KeyboardInterrupt):
        vaekit.train(data, out=tmp_path / "k", log=("mlflow",), callbacks=[CtrlC()], **options)
    assert status(tmp_path / "k") == "KILLED" and ended == ["KILLED"]
    ended.clear()
    try:
        raise ValueError("the caller's own")
    except ValueError:
        vaekit.train(data, out=tmp_path / "h", log=("mlflow",), **options)
    assert status(tmp_path / "h") == "FINISHED" and ended == ["FINISHED"]


def test_each_layers_kl_is_logged_under_its_own_index(tmp_path: Path):
    """A hierarchy's KL per layer: train/kl_layer/i and val/kl_layer/i are layer i's."""
    import vaekit

    data = write_npz(tmp_path / "d.npz", n=120, size=6)
    run = tmp_path / "run"
    options = {**OPTIONS, "model": "hvae", "layers": 2, "epochs": 1, "report": False}
    vaekit.train(data, out=run, log=("tensorboard",), **options)
    (record,) = _records(run)
    events = _events(run)
    for split in ("train", "val"):
        layers = record[split]["kl_layers"]
        assert len(layers) == 2 and layers[0] != layers[1]
        logged = [events.Scalars(f"{split}/kl_layer/{i}")[0].value for i in range(2)]
        assert logged == pytest.approx(layers, rel=1e-6), split


def test_a_missing_library_is_one_line_before_any_work(tmp_path: Path, monkeypatch, capsys):
    data = write_npz(tmp_path / "data.npz", n=60, size=8)
    for name, library in (("tensorboard", "TensorBoard"), ("mlflow", "MLflow")):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, name, None)  # `import name` now fails
            out = tmp_path / name
            code = vaekit("train", "--data", data, "--out", out, "--log", name, "--quiet")
        assert code != 0
        err = capsys.readouterr().err.strip()
        assert err.splitlines()[-1].endswith(
            f"--log {name} needs {library}: pip install 'vaekit[{name}]'"
        ), err
        assert not out.exists()


def test_a_tracking_server_that_does_not_answer_is_one_line_before_any_work(
    tmp_path: Path, monkeypatch, capsys
):
    """MLflow would retry its first call for minutes after the first epoch (over 150 s
    seen): the server is asked before training."""
    import socket

    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    data = write_npz(tmp_path / "data.npz", n=60, size=8)
    out = tmp_path / "run"
    assert vaekit("train", "--data", data, "--out", out, "--log", "mlflow", "--quiet") == 1
    err = capsys.readouterr().err
    assert f"--log mlflow: the tracking server http://127.0.0.1:{port} does not answer" in err
    assert not out.exists()


def test_log_takes_each_tracker_once_by_flag_or_by_list(capsys):
    option = TRAIN_OPTIONS["log"]
    assert option.check(["tensorboard", "mlflow"]) == ("tensorboard", "mlflow")
    with pytest.raises(ValueError, match="expected tensorboard or mlflow or none, got 'wandb'"):
        option.check(["wandb"])
    assert vaekit("train", "--log", "wandb") == 1
    assert "--log: expected tensorboard or mlflow" in capsys.readouterr().err
    # none beside a tracker, given by a second --log: refused as in one list (it was dropped
    # without a word, and the tracker logged)
    for given in (["--log", "tensorboard", "--log", "none"], ["--log", "tensorboard,none"]):
        assert vaekit("train", *given) == 1
        assert "--log: none is given with other names" in capsys.readouterr().err
    from vaekit.cli.main import build_parser

    parsed = build_parser().parse_args(["train", "--log", "tensorboard", "--log", "mlflow"])
    assert TRAIN_OPTIONS.check({"log": parsed.log}, "t") == {"log": ("tensorboard", "mlflow")}
    parsed = build_parser().parse_args(["train", "--log", "mlflow,tensorboard"])
    assert parsed.log == ["mlflow", "tensorboard"]
    assert build_parser().parse_args(["train"]).log is None


def test_log_none_turns_the_recorded_trackers_off_on_resume(tmp_path: Path):
    import vaekit as api

    assert TRAIN_OPTIONS["log"].check(["none"]) == ()
    with pytest.raises(ValueError, match="none is given with other names"):
        TRAIN_OPTIONS["log"].check(["none", "mlflow"])
    data = write_npz(tmp_path / "d.npz", n=60, size=6)
    run = tmp_path / "run"
    api.train(data, out=run, log=("tensorboard",), **{**OPTIONS, "epochs": 1})
    steps = [e.step for e in _events(run).Scalars("train/neg_elbo")]
    assert vaekit("train", "--out", run, "--resume", "--epochs", "2", "--log", "none",
                  "--quiet", "--no-report") == 0  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["log"] == []
    assert [e.step for e in _events(run).Scalars("train/neg_elbo")] == steps  # nothing new
    assert len(_records(run)) == 2


def test_tracker_files_are_vaekits_own_for_overwrite(tmp_path: Path):
    run = tmp_path / "run"
    (run / "tensorboard").mkdir(parents=True)
    (run / "tensorboard" / "events.out.tfevents.1.host.2.0").write_bytes(b"")
    (run / "tracking.json").write_text("{}")
    (run / "config.json").write_text("{}")
    assert foreign_files(run) == []
    (run / "tensorboard" / "notes.txt").write_text("mine")
    assert foreign_files(run) == ["tensorboard/notes.txt"]


def test_a_schema_7_run_logs_nowhere():
    config = {"schema_version": 7, "model": {}, "data": {}, "training": {"epochs": 3}}
    assert migrate_v7(config)["training"] == {"epochs": 3, "log": None}
    assert migrate_v7(config)["schema_version"] == 8


def test_a_resumed_writers_file_sorts_after_the_killed_runs(tmp_path):
    """TensorBoard reads a folder's event files in name order, and names them by the second
    they were opened, then the process id: a resume within the same second waits for the
    next, so that its purge comes after the older file's steps."""
    import time

    from vaekit.training.tracking import EVENTS_PREFIX, _after_newest

    now = int(time.time())
    (tmp_path / f"{EVENTS_PREFIX}{now}.host.99999.0").write_bytes(b"")
    _after_newest(tmp_path)
    assert int(time.time()) > now


def test_a_ctrl_c_during_a_held_block_arrives_after_it():
    """signals_held (around a tracking store's setup and a run directory's swap): the block
    finishes, then the interrupt is raised."""
    import signal

    from vaekit.files import signals_held

    finished = False
    # Python's own handler, which raises KeyboardInterrupt (pytest run from a background
    # shell starts with SIGINT ignored, and the signal would never arrive)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt), signals_held():
            # to this thread (a process-wide os.kill may be taken by one of torch's threads,
            # and reach the main thread's handler only some bytecodes later: under load,
            # after the block and the test had ended)
            signal.raise_signal(signal.SIGINT)
            finished = True
    finally:
        signal.signal(signal.SIGINT, old)
    assert finished


def test_a_run_killed_in_its_wrap_up_closes_its_tracking_runs_on_resume(tmp_path: Path, store: str):
    """SIGKILLed after its final line, before the trackers got the test figures: `--resume`
    does the wrap-up again, and both trackers end with the test figures once, finished."""
    data = write_npz(tmp_path / "data.npz", n=240, size=8)
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(data), str(run), "wrapup"],
                          stderr=subprocess.PIPE, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    final = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert final["final"] is True
    run_id = json.loads((run / "tracking.json").read_text())["mlflow"]["run_id"]
    client = MlflowClient(store)
    assert client.get_run(run_id).info.status == "RUNNING"
    assert vaekit("train", "--out", run, "--resume", "--quiet") == 0
    again = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert again["test"] == final["test"]
    assert client.get_run(run_id).info.status == "FINISHED"
    test = client.get_metric_history(run_id, "test/neg_elbo")
    assert [(m.step, m.value) for m in test] == [(EPOCHS, pytest.approx(final["test"]["neg_elbo"]))]
    history = client.get_metric_history(run_id, "train/neg_elbo")
    assert sorted(m.step for m in history) == [1, 2, 3]
    assert "samples.png" in {a.path for a in client.list_artifacts(run_id)}
    events = _events(run)
    assert [e.step for e in events.Scalars("train/neg_elbo")] == [1, 2, 3]
    assert [e.step for e in events.Scalars("test/neg_elbo")] == [EPOCHS]
    assert [e.step for e in events.Images("samples")] == [EPOCHS]


def test_epochs_trained_without_the_trackers_are_logged_when_they_are_back(
    tmp_path: Path, store: str
):
    """A run resumed with --log none, then with its trackers again: the epochs trained
    meanwhile are logged, each once, in TensorBoard as in MLflow; an option the resumes
    changed is a tag with its value now (MLflow keeps a parameter's first value)."""
    data = write_npz(tmp_path / "d.npz", n=60, size=6)
    run = tmp_path / "run"
    flags = ("--quiet", "--no-report")
    import vaekit as api

    api.train(data, out=run, log=("tensorboard", "mlflow"), **{**OPTIONS, "epochs": 2})
    assert vaekit("train", "--out", run, "--resume", "--epochs", "4", "--log", "none", *flags) == 0
    assert vaekit("train", "--out", run, "--resume", "--epochs", "5", "--log", "tensorboard",
                  "--log", "mlflow", *flags) == 0  # fmt: skip
    records = _records(run)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5]
    scalars = _events(run).Scalars("train/neg_elbo")
    assert [e.step for e in scalars] == [1, 2, 3, 4, 5]
    assert [e.value for e in scalars] == pytest.approx([r["train"]["neg_elbo"] for r in records])
    run_id = json.loads((run / "tracking.json").read_text())["mlflow"]["run_id"]
    client = MlflowClient(store)
    history = client.get_metric_history(run_id, "train/neg_elbo")
    assert sorted(m.step for m in history) == [1, 2, 3, 4, 5]
    done = client.get_run(run_id).data
    assert done.params["epochs"] == "2" and done.tags["vaekit.resumed.epochs"] == "5"
    assert done.params["report"] == "on" and done.tags["vaekit.resumed.report"] == "off"
    # back to the first value: the tag follows (a stale one would say --no-report still)
    assert vaekit("train", "--out", run, "--resume", "--epochs", "6", "--report", "--quiet") == 0
    assert client.get_run(run_id).data.tags["vaekit.resumed.report"] == "on"
