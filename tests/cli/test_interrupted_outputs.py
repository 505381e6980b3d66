"""A command stopped or failing midway (Ctrl-C, SIGTERM, kill -9, an error) leaves the user's
files as they were or all new, never a mix, and no temporary files that pile up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit
from tests.conftest import write_npz
from vaekit.files import atomic_write, remove_stale, temporary_prefix, written_together


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stopped")
    out = root / "run"
    assert vaekit("train", "--data", write_npz(root / "d.npz", n=80, size=6), "--model", "mlp",
                  "--hidden-dims", "8", "--latent-dim", "2", "--epochs", "1", "--out", out,
                  "--quiet", "--no-report") == 0  # fmt: skip
    return out


def test_files_written_together_land_together_or_not_at_all(tmp_path: Path):
    """Two outputs of one command: a failure after the first is written leaves both as they
    were (it left a new CSV beside the old picture), and no temporary file."""
    a, b = tmp_path / "a.csv", tmp_path / "b.png"
    a.write_text("old a")
    b.write_text("old b")
    with pytest.raises(RuntimeError), written_together():
        atomic_write(a, lambda p: p.write_text("new a"))
        assert a.read_text() == "old a"  # not in place before the block ends
        raise RuntimeError("the picture failed")
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.png"]
    with written_together():
        atomic_write(a, lambda p: p.write_text("new a"))
        atomic_write(b, lambda p: p.write_text("new b"))
    assert (a.read_text(), b.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.png"]


def test_an_anomaly_command_failing_at_its_picture_keeps_its_earlier_csv(run, tmp_path, capsys,
                                                                        monkeypatch):  # fmt: skip
    """`anomaly` wrote its CSV, then failed (or was stopped) drawing its picture: the CSV of
    the new inputs stood beside the picture of the old ones."""
    from vaekit.kinds.image import render

    out = tmp_path / "a.csv"
    assert vaekit("anomaly", run, "-o", out, "--score", "recon") == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"a.csv", "a_errors.png"}

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "draw_error_maps", broken)
    assert vaekit("anomaly", run, "0", "1", "2", "-o", out, "--score", "recon",
                  "--overwrite") == 130  # fmt: skip
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_what_a_killed_process_left_is_removed_by_the_next_write(tmp_path: Path):
    """kill -9 in the middle of a write leaves its temporary file; the next write of the same
    file removes it, where it was left for good. A live process's is kept, and so is one made
    on another machine (a shared folder), whose processes this one cannot see."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    host = socket.gethostname()[:32]
    left = tmp_path / f".s.png.{dead}~{host}~abc.tmp"
    mine = tmp_path / f"{temporary_prefix('s.png')}def.tmp"
    other = tmp_path / f".s.png.{dead}~not-{host}~ghi.tmp"
    folder = tmp_path / f".export.{dead}~{host}~jkl"
    for path in (left, mine, other):
        path.write_bytes(b"half")
    folder.mkdir()
    (folder / "encoder.onnx").write_bytes(b"half")
    atomic_write(tmp_path / "s.png", lambda p: p.write_bytes(b"png"))
    remove_stale(tmp_path, "export")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["s.png", mine.name, other.name])


PROGRAM = """
import os, signal, sys
import vaekit.files as files
real = files.atomic_write
def stopped(path, write):  # a SIGTERM while the output is being written
    def writing(tmp):
        write(tmp)
        os.kill(os.getpid(), signal.SIGTERM)
    return real(path, writing)
files.atomic_write = stopped
sys.argv = ["vaekit", *sys.argv[1:]]
from vaekit.cli.main import command
command()
"""


def test_sigterm_is_taken_as_ctrl_c(run, tmp_path: Path):
    """SIGTERM (`kill`, a scheduler's stop) ended the process where it stood: temporary
    files and half-made folders stayed. It is taken as Ctrl-C is, with status 143."""
    out = tmp_path / "s.png"
    out.write_bytes(b"old")
    done = subprocess.run([sys.executable, "-c", PROGRAM, "sample", str(run), "-n", "4", "-o",
                           str(out), "--overwrite"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 143, done.stderr
    assert done.stderr.strip() == "vaekit: interrupted", done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["s.png"] and out.read_bytes() == b"old"


def test_a_ctrl_c_while_torch_loads_is_one_line(tmp_path: Path):
    """A Ctrl-C in train's first second, while torch was being imported: the interrupted
    line's hint imported the run's modules, which imported torch again, half made (a
    traceback and status 1)."""
    program = """
import builtins, sys
sys.argv = ["vaekit", "train", "--data", "digits", "--out", sys.argv[1], "--overwrite"]
real = builtins.__import__
def interrupting(name, *args, **kwargs):
    if name == "torch.nn":
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)
builtins.__import__ = interrupting
from vaekit.cli.main import command
command()
"""
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path / "r")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().startswith("vaekit: interrupted (a run that"), done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal")
def test_a_decoder_worker_ends_with_the_prepare_that_started_it():
    """`data prepare` killed left its decoder workers asleep for good, holding its pipes."""
    from vaekit.data.prepare import _die_with

    read, write = os.pipe()
    parent = os.fork()
    if parent == 0:  # a prepare, and its worker
        worker = os.fork()
        if worker == 0:
            _die_with(os.getppid())
            time.sleep(30)
            os._exit(0)
        os.write(write, str(worker).encode())
        time.sleep(30)
        os._exit(0)
    worker = int(os.read(read, 32))
    time.sleep(0.5)
    os.kill(parent, signal.SIGKILL)
    os.waitpid(parent, 0)

    def gone() -> bool:  # ended (or a zombie its new parent has not reaped yet)
        status = Path(f"/proc/{worker}/status")
        return not status.exists() or "\nState:\tZ" in status.read_text()

    deadline = time.monotonic() + 5
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.1)
    ended = gone()
    if not ended:
        os.kill(worker, signal.SIGKILL)
    assert ended, "the worker outlived its parent"


def test_eval_json_cannot_replace_the_runs_anomaly_detector(run, capsys):
    """`eval --json RUN/anomaly.json --overwrite` replaced the calibrated detector, after
    which anomaly and serve refused the run."""
    assert vaekit("anomaly", run, "-o", run.parent / "x.csv") == 0
    before = (run / "anomaly.json").read_bytes()
    capsys.readouterr()
    assert vaekit("eval", run, "--iw-samples", "2", "--json", run / "anomaly.json",
                  "--overwrite") == 1  # fmt: skip
    assert "own anomaly.json; write elsewhere" in capsys.readouterr().err
    assert (run / "anomaly.json").read_bytes() == before


def test_a_ctrl_c_while_export_moves_its_files_in_waits_for_the_whole_set(run, tmp_path,
                                                                          monkeypatch):  # fmt: skip
    """A Ctrl-C between export's moves left one model's encoder beside another's decoder and
    export.json: the moves finish, then the Ctrl-C arrives."""
    import json

    import vaekit
    from vaekit.api import export as export_module

    out = tmp_path / "exp"
    vaekit.export(run, out, format="torchscript")
    real, moved = os.replace, []

    def replace(a, b):
        real(a, b)
        if Path(b).parent == out:  # (not the files made in its hidden staging folder)
            moved.append(b)
            if len(moved) == 1:
                os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(export_module.os, "replace", replace)
    again = vaekit.load(run)
    again.vae.decoder.apply(lambda m: [p.data.add_(1) for p in m.parameters(recurse=False)])
    with pytest.raises(KeyboardInterrupt):
        vaekit.export(again, out, format="torchscript", overwrite=True)
    assert len(moved) == 3
    assert json.loads((out / "export.json").read_text())["weights_sha256"] == again.weights_sha256


def test_a_failed_report_names_the_file_it_writes(tmp_path: Path):
    """A report that failed to write (a full disk) said "writing RUN/outputs/report/", a
    folder it never writes; eval the same of eval.json."""
    import argparse
    import errno

    from vaekit.cli.main import one_line

    full = OSError(errno.ENOSPC, "No space left on device")
    for command, file in (("report", "report.html"), ("eval", "eval.json")):
        args = argparse.Namespace(command=command, rundir="runs/fm", writes_in_run=file)
        assert one_line(full, args).endswith(f"writing {Path('runs/fm') / file}")


def test_the_command_runs_in_a_thread_of_a_program(capsys):
    """SIGTERM's handler is installed where Python can (the main thread): main() called from
    another thread raised "signal only works in main thread"."""
    import threading

    from vaekit.cli.main import main

    codes = []

    def run() -> None:
        try:
            main(["sample", "no-such-run"])
        except SystemExit as done:
            codes.append(done.code)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert codes == [1] and "no-such-run: not a folder" in capsys.readouterr().err
