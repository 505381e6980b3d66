"""A run killed with SIGKILL mid-epoch and resumed ends with the same numbers as an
uninterrupted run with the same seed."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit
from tests.conftest import write_npz
from vaekit.train_options import resumable_flags

EPOCHS = 6
ARGS = ["--model", "conv", "--channels", "8,16", "--latent-dim", "4", "--batch-size", "32",
        "--epochs", str(EPOCHS), "--binarize", "--seed", "3", "--quiet"]  # fmt: skip


def _lines(run: Path) -> list[dict]:
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


def _numbers(lines):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in lines]


def _state_epoch(run: Path) -> int:
    try:
        return json.loads((run / "checkpoint" / "state.json").read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


# Trains as `vaekit train ... ARGS` does, and SIGKILLs its own process halfway through
# epoch 2: a fixed kill point, whatever the machine's speed or load.
KILLED_RUN = f"""
import os, signal, sys
import vaekit
from vaekit.training.loop import Callback

class KillHalfwayThroughEpoch2(Callback):
    def on_train_start(self, total_steps, state):
        self.at = total_steps // {EPOCHS} * 3 // 2

    def on_step(self, step, epoch, loss):
        if step == self.at:
            os.kill(os.getpid(), signal.SIGKILL)

vaekit.train(
    sys.argv[1], out=sys.argv[2], callbacks=[KillHalfwayThroughEpoch2()], model="conv",
    channels=(8, 16), latent_dim=4, batch_size=32, epochs={EPOCHS}, binarize=True, seed=3,
    progress=False,
)
"""


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path: Path):
    data = write_npz(tmp_path / "data.npz", n=3000)
    killed = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(data), str(killed)], stderr=subprocess.PIPE
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert _state_epoch(killed) == 1, "the last checkpoint is epoch 1's"
    assert [line["epoch"] for line in _lines(killed)] == [1]

    assert vaekit("train", "--out", killed, "--resume", "--quiet") == 0
    straight = tmp_path / "straight"
    assert vaekit("train", "--data", data, "--out", straight, *ARGS) == 0

    resumed_lines, straight_lines = _lines(killed), _lines(straight)
    assert len(resumed_lines) == EPOCHS + 1
    for a, b in zip(_numbers(resumed_lines), _numbers(straight_lines), strict=True):
        assert a.keys() == b.keys()
        for split in ("train", "val", "test"):
            if split in a:
                for term in ("loss", "rec", "kl"):
                    assert a[split][term] == pytest.approx(b[split][term], rel=1e-6, abs=1e-6)


@pytest.fixture
def small_run(tmp_path: Path) -> Path:
    data = write_npz(tmp_path / "data.npz", n=200, size=8)
    out = tmp_path / "run"
    args = ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "2", "--quiet"]
    assert vaekit("train", "--data", data, "--out", out, "--epochs", "2", *args) == 0
    return out


def test_resume_trains_on_to_more_epochs(small_run: Path, capsys):
    assert vaekit("train", "--out", small_run, "--resume", "--epochs", "4", "--quiet") == 0
    assert "the run has trained 4 epochs, " in capsys.readouterr().out  # the whole run's
    lines = _lines(small_run)
    assert [line.get("epoch") for line in lines] == [1, 2, 3, 4, None]
    assert lines[-1]["final"] is True
    config = json.loads((small_run / "config.json").read_text())
    assert config["training"]["epochs"] == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "already trained 2 epochs"),
        (["--lr", "0.5"], f"--lr 0.5 differs from the run's 0.001; only {resumable_flags()} may"),
        (["--latent-dim", "3"], "--latent-dim 3 differs"),
        (["--overwrite"], "contradict"),
    ],
)
def test_resume_refuses_what_it_cannot_do(small_run: Path, extra, message, capsys):
    assert vaekit("train", "--out", small_run, "--resume", *extra) == 1
    assert message in capsys.readouterr().err


def test_a_run_stopped_by_its_budget_and_cut_in_its_wrap_up_only_finishes(tmp_path, capsys):
    """A --time-budget run (stopped before --epochs) killed in its wrap-up: `--resume` does
    the wrap-up alone, with its budget's numbers, and trains on only when asked."""
    data = write_npz(tmp_path / "data.npz", n=60, size=6)
    out = tmp_path / "run"
    args = ["--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2", "--quiet"]
    assert vaekit("train", "--data", data, "--out", out, "--epochs", "100000",
                  "--time-budget", "1", *args) == 0  # fmt: skip
    before = _lines(out)
    assert before[-1]["stopped_by"] == "time_budget"
    (out / "curves.png").unlink()  # as a kill between the final line and the pictures
    assert vaekit("train", "--out", out, "--resume", "--quiet") == 0
    assert _numbers(_lines(out)) == _numbers(before) and (out / "curves.png").exists()
    # asked for more: it trains on
    epochs = len(before) - 1
    assert vaekit("train", "--out", out, "--resume", "--epochs", str(epochs + 1), "--quiet") == 0
    assert [r.get("epoch") for r in _lines(out)][-2:] == [epochs + 1, None]


@pytest.mark.parametrize("missing", ["report.html", "README.md"])
def test_a_run_cut_while_writing_its_report_or_card_is_finished_by_resume(
    small_run, tmp_path, capsys, missing
):
    """Ctrl-C while report.html or the card was written left a run without it, which the
    interrupt's own line said `--resume` would finish, and `--resume` refused ("has already
    trained 2 epochs")."""
    import shutil

    copy = tmp_path / "cut"
    shutil.copytree(small_run, copy)
    (copy / missing).unlink()
    assert vaekit("train", "--out", copy, "--resume", "--quiet") == 0
    assert (copy / missing).stat().st_size > 0
    assert sum(1 for r in _lines(copy) if r.get("final")) == 1


def test_a_finished_run_whose_wrap_up_was_cut_is_finished_by_resume(small_run, tmp_path, capsys):
    """Killed between its final line and its pictures: `--resume` trains no further and does
    the wrap-up again (the same final numbers, one final line); then the run is complete."""
    import shutil

    copy = tmp_path / "cut"
    shutil.copytree(small_run, copy)
    before = _lines(copy)
    for name in ("curves.png", "samples.png", "reconstructions.png", "report.html", "README.md"):
        (copy / name).unlink()  # as a kill between the final line and the pictures
    # Fewer --epochs than it trained: refused, saying how to finish it.
    assert vaekit("train", "--out", copy, "--resume", "--epochs", "1") == 1
    said = f"its wrap-up was cut short: vaekit train --out {copy} --resume finishes it"
    assert said in capsys.readouterr().err
    # The line a Ctrl-C in the wrap-up ends with names that command too.
    import argparse

    from vaekit.cli.main import _interrupted

    for out, hint in (
        (copy, f"vaekit train --out {copy} --resume writes"),
        (small_run, "--resume"),
    ):
        with pytest.raises(SystemExit, match="130"):
            _interrupted(argparse.Namespace(command="train", out=str(out), overwrite=False))
        assert hint in capsys.readouterr().err
    assert vaekit("train", "--out", copy, "--resume") == 0
    after = _lines(copy)
    assert _numbers(after) == _numbers(before) and sum(1 for r in after if r.get("final")) == 1
    for name in ("curves.png", "samples.png", "reconstructions.png", "report.html", "README.md"):
        assert (copy / name).stat().st_size > 0
    capsys.readouterr()
    assert vaekit("train", "--out", copy, "--resume") == 1  # complete now
    assert "already trained 2 epochs" in (err := capsys.readouterr().err)
    assert "cut short" not in err
    # A resumed run killed after its final line keeps its earlier wrap-up's pictures:
    # curves.png says in its text how many epochs it drew (file times say nothing in a copy).
    from PIL import Image, PngImagePlugin

    older = tmp_path / "older"
    shutil.copytree(small_run, older)
    info = PngImagePlugin.PngInfo()
    info.add_text("vaekit-epochs", "1")
    Image.open(older / "curves.png").save(older / "curves.png", pnginfo=info)
    assert vaekit("train", "--out", older, "--resume", "--quiet") == 0
    assert _numbers(_lines(older)) == _numbers(before)
    assert vaekit("train", "--out", older, "--resume") == 1
    assert "cut short" not in capsys.readouterr().err
    # `vaekit report` also writes a cut run's pictures (a run without its trackers).
    shutil.rmtree(copy)
    shutil.copytree(small_run, copy)
    (copy / "curves.png").unlink()
    assert vaekit("report", copy) == 0
    assert f"wrote {copy / 'curves.png'}" in capsys.readouterr().out
    assert vaekit("report", copy) == 0  # a complete run's report writes the report and card
    assert "curves.png" not in capsys.readouterr().out


def test_a_run_trained_without_a_report_resumes_without_one_unless_asked(tmp_path: Path):
    data = write_npz(tmp_path / "data.npz", n=200, size=8)
    out = tmp_path / "run"
    args = ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "2", "--quiet"]
    assert vaekit("train", "--data", data, "--out", out, "--epochs", "1", "--no-report", *args) == 0
    assert vaekit("train", "--out", out, "--resume", "--epochs", "2", "--quiet") == 0
    assert not (out / "report.html").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["report"] is False and config["training"]["precision"] == "fp32"
    resumed = ["--resume", "--epochs", "3", "--report", "--precision", "bf16", "--quiet"]
    assert vaekit("train", "--out", out, *resumed) == 0
    assert (out / "report.html").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["report"] is True and config["training"]["precision"] == "bf16"


def test_resume_needs_a_checkpoint(tmp_path: Path, capsys):
    assert vaekit("train", "--resume") == 1
    assert "--resume needs --out" in capsys.readouterr().err
    assert vaekit("train", "--resume", "--out", tmp_path) == 1
    assert "config.json: missing" in capsys.readouterr().err
    # a run killed before its first epoch ended left nothing at --out: said so, with the remedy
    assert vaekit("train", "--resume", "--out", tmp_path / "never") == 1
    assert "no run to resume (a run stopped before its first epoch ended keeps nothing" in (
        capsys.readouterr().err
    )


def test_the_summary_says_when_the_budget_cut_the_last_epoch():
    from types import SimpleNamespace

    from vaekit.cli.train import first_line

    terms = {"neg_elbo": 50.0, "rec": 45.0, "kl": 5.0}
    history = [{"epoch": 1, "time_s": 2.0, "train": terms},
               {"epoch": 2, "time_s": 1.0, "train": terms,
                "cut_short": {"steps": 302, "of": 728}}]  # fmt: skip
    run = SimpleNamespace(history=history, test=terms, latents={}, stopped_by_budget=True,
                          config={"training": {"time_budget": 3.0}})  # fmt: skip
    said = "trained 2 epochs in 3.0 s (stopped by --time-budget 3s; epoch 2 cut short after "
    assert first_line(run) == said + "302 of 728 steps)"


def test_a_run_being_trained_is_not_resumed_or_replaced_by_a_second_process(small_run, capsys):
    from vaekit.api.rundir import training

    with training(small_run):  # as another process training it holds it
        assert vaekit("train", "--out", small_run, "--resume", "--epochs", "9") == 1
        assert "is being trained by another process" in capsys.readouterr().err
        assert vaekit("train", "--data", "digits", "--out", small_run, "--overwrite") == 1
        assert "is being trained by another process" in capsys.readouterr().err
    lines = _lines(small_run)
    assert lines[-1]["final"] is True and max(r.get("epoch", 0) for r in lines) < 9


def test_a_new_run_is_held_while_it_trains_from_its_first_epoch_on(tmp_path: Path, capsys):
    """Only a resumed run was held: a --resume (or --overwrite) of a run still in its first
    training was accepted, and both processes wrote its metrics.jsonl in turn."""
    import vaekit as api
    from vaekit.training.callbacks import Callback

    data, out = write_npz(tmp_path / "data.npz", n=100, size=6), tmp_path / "run"
    codes: list[int] = []

    class Meanwhile(Callback):  # as a second process would, once the run is at --out
        def on_epoch_end(self, record, state):
            if record["epoch"] == 2:
                codes.append(vaekit("train", "--out", out, "--resume", "--epochs", "9"))
                codes.append(vaekit("train", "--data", data, "--out", out, "--overwrite"))

    api.train(data, model="mlp", hidden_dims=(8,), latent_dim=2, epochs=3, out=out,
              report=False, progress=False, callbacks=[Meanwhile()])  # fmt: skip
    assert codes == [1, 1]
    assert capsys.readouterr().err.count("is being trained by another process") == 2
    assert [r["epoch"] for r in _lines(out)[:-1]] == [1, 2, 3]
    assert vaekit("train", "--out", out, "--resume", "--epochs", "4", "--quiet") == 0  # let go


def test_a_resume_that_fails_before_its_first_epoch_leaves_the_run_as_it_was(small_run: Path):
    """It rewrote config.json (the new --epochs, --precision) and metrics.jsonl (without the
    final line) first: a failed resume left a finished run unable to say what it was."""
    import vaekit as api
    from vaekit.training.callbacks import Callback

    before = {name: (small_run / name).read_bytes() for name in ("config.json", "metrics.jsonl")}

    class Fails(Callback):
        def on_step(self, step, epoch, loss):
            raise RuntimeError("a crash in the first epoch")

    with pytest.raises(RuntimeError, match="a crash in the first epoch"):
        api.resume(small_run, epochs=4, progress=False, callbacks=[Fails()])
    assert {name: (small_run / name).read_bytes() for name in before} == before
    assert vaekit("train", "--out", small_run, "--resume", "--epochs", "3", "--quiet") == 0
    lines = _lines(small_run)
    assert [r["epoch"] for r in lines if not r.get("final")] == [1, 2, 3]
    assert lines[-1]["final"] and sum(1 for r in lines if r.get("final")) == 1


def test_an_early_stopped_run_says_so_and_is_left_as_it_is(tmp_path: Path, capsys):
    """`--resume --epochs 60` of a run that --patience stopped trained nothing, said "the run
    has trained 9 epochs", exited 0 and recorded 60 epochs in its config.json."""
    data = write_npz(tmp_path / "data.npz", n=200, size=8)
    out = tmp_path / "run"
    assert vaekit("train", "--data", data, "--out", out, "--model", "mlp", "--hidden-dims",
                  "16", "--latent-dim", "2", "--epochs", "30", "--patience", "1", "--lr",
                  "0.05", "--quiet", "--no-report") == 0  # fmt: skip
    trained = [r["epoch"] for r in _lines(out) if not r.get("final")]
    assert len(trained) < 30  # stopped early (validation -ELBO rose after epoch 3)
    config = (out / "config.json").read_bytes()
    for extra in ((), ("--epochs", "60")):
        assert vaekit("train", "--out", out, "--resume", *extra) == 1
        err = capsys.readouterr().err
        assert f"was stopped early at epoch {trained[-1]}: --patience 1 epochs without" in err
    assert (out / "config.json").read_bytes() == config


def test_a_run_interrupted_while_training_is_not_said_to_have_a_wrap_up_cut_short(
    small_run: Path, tmp_path: Path, capsys
):
    """Stopped mid-training (no final line, no pictures) and resumed with fewer --epochs than
    it trained: told so, without the advice for a finished run whose wrap-up was cut."""
    import shutil

    run = Path(shutil.copytree(small_run, tmp_path / "stopped"))
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # the final line not yet
    (run / "curves.png").unlink()
    assert vaekit("train", "--out", run, "--resume", "--epochs", "1") == 1
    err = capsys.readouterr().err
    assert "has already trained 2 epochs: pass a larger --epochs" in err and "wrap-up" not in err


def test_an_interrupted_overwrite_says_which_run_out_holds(small_run, tmp_path, capsys):
    """Ctrl-C during `--overwrite` said "--out still holds the old run" also after the new
    run had taken its place (its first epoch done) and the old one was gone."""
    import argparse
    import shutil

    import vaekit as api
    from vaekit.api.rundir import PLACED
    from vaekit.cli.main import _interrupted

    out = tmp_path / "copy"
    shutil.copytree(small_run, out)
    args = argparse.Namespace(command="train", out=str(out), overwrite=True)
    with pytest.raises(SystemExit, match="130"):
        _interrupted(args)
    assert "--out still holds the old run" in capsys.readouterr().err
    config = json.loads((small_run / "config.json").read_text())
    api.train(config["data"]["name"], out=out, overwrite=True, epochs=1, progress=False,
              report=False)  # fmt: skip
    assert out.resolve() in PLACED  # the new run took its place
    with pytest.raises(SystemExit, match="130"):
        _interrupted(args)
    assert "--out holds the new run, the old one is gone" in capsys.readouterr().err
    # --overwrite onto a folder that was not there: no old run to speak of
    fresh = argparse.Namespace(command="train", out=str(tmp_path / "none"), overwrite=True)
    with pytest.raises(SystemExit, match="143"):
        _interrupted(fresh, 143)
    assert "old run" not in capsys.readouterr().err
