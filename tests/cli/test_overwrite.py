"""`vaekit train --out`: what --overwrite may replace, and that a failure or an interruption
before the new run's first epoch leaves the old run as it was."""

import hashlib
import json
from pathlib import Path

import pytest

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import RUN_FILES, write_npz
from vaekit.errors import VaekitError
from vaekit.training.callbacks import ProgressBar
from vaekit.training.loop import Callback

TINY = ["--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2", "--batch-size", "16"]


def _train(data: Path, out: Path, *extra: str) -> int:
    return cli("train", "--data", data, "--out", out, *TINY, "--epochs", "1", *extra)


def _files(folder: Path) -> dict[str, str]:
    """Every file under `folder` by relative path, with the sha256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _hidden_leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    data = write_npz(tmp_path / "d.npz", n=64, size=6)
    out = tmp_path / "run"
    assert _train(data, out, "--seed", "1", "--quiet") == 0
    return out


def _data(run: Path) -> str:
    return json.loads((run / "config.json").read_text())["data"]["name"]


def test_the_new_run_replaces_the_old_one_and_only_vaekit_files_go(old_run: Path):
    # Files vaekit writes later (eval, anomaly) and a temp file of a killed write: all vaekit's.
    (old_run / "eval.json").write_text("{}")
    (old_run / "anomaly.json").write_text("{}")
    (old_run / ".model.safetensors.x1y2.tmp").write_bytes(b"half")
    (old_run / "checkpoint" / ".state.json.a8b9.tmp").write_text("{")
    before = _files(old_run)
    assert _train(_data(old_run), old_run, "--seed", "2", "--epochs", "2", "--overwrite",
                  "--quiet") == 0  # fmt: skip
    config = json.loads((old_run / "config.json").read_text())
    assert config["training"]["seed"] == 2 and config["training"]["epochs"] == 2
    assert set(_files(old_run)) == RUN_FILES
    assert _files(old_run)["model.safetensors"] != before["model.safetensors"]
    assert _files(old_run)["report.html"] != before["report.html"]  # the new run's page
    assert _hidden_leftovers(old_run) == []
    assert vaekit.load(old_run).config.latent_dim == 2


@pytest.mark.parametrize(
    ("extra_file", "message"),
    [
        ("notes.txt", "holds files vaekit did not write (notes.txt)"),
        ("checkpoint/mine.txt", "holds files vaekit did not write (checkpoint/mine.txt)"),
        ("samples.png/inside.txt", "holds files vaekit did not write (samples.png)"),
    ],
)
def test_a_run_directory_with_a_users_file_is_not_replaced(
    old_run: Path, extra_file: str, message: str, capsys
):
    user_file = old_run / extra_file
    if user_file.parent.name == "samples.png":  # a folder where vaekit writes a file
        (old_run / "samples.png").unlink()
        user_file.parent.mkdir()
    user_file.write_text("my notes")
    before = _files(old_run)
    capsys.readouterr()
    assert _train(_data(old_run), old_run, "--overwrite", "--quiet") == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert _files(old_run) == before and user_file.read_text() == "my notes"
    assert _hidden_leftovers(old_run) == []


def test_a_folder_with_someone_elses_config_json_is_not_replaced(tmp_path: Path, capsys):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model": {}, "lr": 0.1}))
    assert _train(write_npz(tmp_path / "d.npz", n=64, size=6), folder, "--overwrite") == 1
    err = capsys.readouterr().err
    assert "is not a vaekit run directory" in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in folder.iterdir()] == ["config.json"]


def test_a_failure_while_building_the_model_keeps_the_old_run(old_run: Path, capsys):
    before = _files(old_run)
    # --free-bits needs a closed-form KL per dimension: the mixture prior is refused once
    # the model is built.
    code = _train(_data(old_run), old_run, "--prior", "mog", "--free-bits", "0.5", "--overwrite")
    assert code == 1 and "--free-bits needs a prior" in capsys.readouterr().err
    assert _files(old_run) == before and _hidden_leftovers(old_run) == []
    assert vaekit.load(old_run).sample(2).shape == (2, 1, 6, 6)


def test_ctrl_c_in_the_first_epoch_keeps_the_old_run(old_run: Path, monkeypatch, capsys):
    def interrupt(self, step, epoch, loss):
        raise KeyboardInterrupt

    monkeypatch.setattr(ProgressBar, "on_step", interrupt)
    before = _files(old_run)
    assert _train(_data(old_run), old_run, "--seed", "5", "--overwrite") == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "--out still holds the old run" in err
    assert f"vaekit train --out {old_run} --resume" in err  # the run's own path, no placeholder
    assert _files(old_run) == before and _hidden_leftovers(old_run) == []
    assert vaekit.load(old_run).run_config["training"]["seed"] == 1


class _Raise(Callback):
    def __init__(self, error: BaseException, at_step: int) -> None:
        self.error, self.at_step = error, at_step

    def on_step(self, step, epoch, loss):
        if step == self.at_step:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("a callback's bug")])
def test_an_error_from_a_callback_in_the_first_epoch_keeps_the_old_run(old_run: Path, error):
    before = _files(old_run)
    small = {"model": "mlp", "hidden_dims": (8,), "latent_dim": 2, "batch_size": 16}
    with pytest.raises(type(error)):
        vaekit.train(_data(old_run), out=old_run, overwrite=True, epochs=2, progress=False,
                     callbacks=[_Raise(error, at_step=2)], **small)  # fmt: skip
    assert _files(old_run) == before and _hidden_leftovers(old_run) == []
    # Raised in the second epoch, the new run has taken the old one's place and resumes.
    with pytest.raises(type(error)):
        vaekit.train(_data(old_run), out=old_run, overwrite=True, epochs=2, progress=False,
                     callbacks=[_Raise(error, at_step=5)], seed=7, **small)  # fmt: skip
    assert json.loads((old_run / "config.json").read_text())["training"]["seed"] == 7
    assert [r["epoch"] for r in vaekit.resume(old_run, progress=False).history] == [1, 2]
    assert _hidden_leftovers(old_run) == []


@pytest.mark.parametrize("out", [".", "", "..", "~", "/", "./", "work/.."])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_shared_folders_are_refused_as_out(tmp_path: Path, monkeypatch, capsys, out, overwrite):
    work, home = tmp_path / "work", tmp_path / "home"
    for folder in (work, home):
        folder.mkdir()
        (folder / "keep.txt").write_text("mine")
    (work / "config.json").write_text(
        json.dumps({"schema_version": 2, "model": {}, "data": {}, "training": {}})
    )  # even a folder that looks like a run
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work if out != "work/.." else tmp_path)
    assert cli("train", "--data", "no-such-data.npz", "--out", out, *overwrite) == 1
    err = capsys.readouterr().err
    assert "a run needs a folder of its own" in err and len(err.strip().splitlines()) == 1
    assert (work / "keep.txt").read_text() == "mine" and (home / "keep.txt").exists()
    assert sorted(p.name for p in work.iterdir()) == ["config.json", "keep.txt"]


def test_an_out_ending_in_dotdot_is_the_folder_it_names(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_npz(tmp_path / "d.npz", n=64, size=6)
    assert _train(data, "runs/x/..", "--quiet") == 0
    assert (tmp_path / "runs" / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "runs"]


def test_an_empty_folder_is_taken_only_with_overwrite(tmp_path: Path, capsys):
    """The README's rule: an existing --out needs --overwrite, an empty folder too; with it,
    the empty folder becomes the run."""
    data = write_npz(tmp_path / "d.npz", n=64, size=6)
    out = tmp_path / "empty"
    out.mkdir()
    assert _train(data, out, "--quiet") == 1
    assert "already exists" in capsys.readouterr().err
    assert list(out.iterdir()) == []
    assert _train(data, out, "--quiet", "--overwrite") == 0
    assert (out / "config.json").is_file()


def test_a_link_to_a_run_is_not_replaced_and_its_target_is_kept(old_run: Path, capsys):
    """`--out LINK --overwrite`, LINK a symbolic link to a run: swapped aside, the link would
    be followed and the run it points to lose its files."""
    link = old_run.parent / "link"
    link.symlink_to(old_run, target_is_directory=True)
    before = _files(old_run)
    assert _train(Path(_data(old_run)), link, "--overwrite") == 1
    assert "exists and is not a folder; not replacing it" in capsys.readouterr().err
    assert _files(old_run) == before and link.is_symlink()


def test_a_folder_that_appears_at_out_while_a_run_trains_is_not_replaced(tmp_path: Path):
    """Without --overwrite, a folder made at --out during the first epoch (by the user, or
    another run) stays; the new run is not put in its place, and goes."""
    data, out = write_npz(tmp_path / "d.npz", n=64, size=6), tmp_path / "run"

    class Appears(Callback):
        def on_step(self, step, epoch, loss):
            if step == 1:
                out.mkdir()
                (out / "notes.txt").write_text("mine")

    with pytest.raises(VaekitError, match="appeared while this run trained; not replacing it"):
        vaekit.train(data, model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1, out=out,
                     progress=False, callbacks=[Appears()])  # fmt: skip
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and _hidden_leftovers(out) == []


def test_a_hidden_folder_of_a_process_still_running_is_left_to_it(tmp_path: Path):
    """A new run is built in .NAME.vaekit-new-PID: another `vaekit train` with that --out
    tidies up after a killed process only, never one still training there."""
    import subprocess
    import sys

    from vaekit.api.rundir import clear_leftovers

    out = tmp_path / "run"
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        theirs = tmp_path / f".run.vaekit-new-{alive.pid}"
        theirs.mkdir()
        (theirs / "config.json").write_text("{}")
        dead = tmp_path / ".run.vaekit-new-999999999"  # no process has this number
        dead.mkdir()
        (dead / "config.json").write_text("{}")
        clear_leftovers(out)
        assert (theirs / "config.json").exists() and not dead.exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_link_by_a_hidden_folders_name_is_left_alone(tmp_path: Path):
    """A link named like a killed process's hidden folder is not vaekit's: tidying up neither
    empties the folder it points to nor moves it into the run's place."""
    from vaekit.api.rundir import clear_leftovers

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text("{}")  # the files of a run directory
    (elsewhere / "model.safetensors").write_bytes(b"weights")
    for kind in ("new", "old"):
        (tmp_path / f".run.vaekit-{kind}-999999999").symlink_to(elsewhere)
    clear_leftovers(tmp_path / "run")
    assert sorted(p.name for p in elsewhere.iterdir()) == ["config.json", "model.safetensors"]
    assert not (tmp_path / "run").exists()
    assert all((tmp_path / f".run.vaekit-{k}-999999999").is_symlink() for k in ("new", "old"))


def test_a_link_by_a_vaekit_files_name_is_the_users(old_run: Path, capsys):
    """samples.png made a link to a file of the user's: not vaekit's file, so the run holds
    a file vaekit did not write and is not replaced (nor the link removed)."""
    mine = old_run.parent / "mine.png"
    mine.write_bytes(b"the user's")
    (old_run / "samples.png").unlink()
    (old_run / "samples.png").symlink_to(mine)
    assert _train(Path(_data(old_run)), old_run, "--overwrite") == 1
    assert "holds files vaekit did not write (samples.png)" in capsys.readouterr().err
    assert (old_run / "samples.png").is_symlink() and mine.read_bytes() == b"the user's"


def test_a_file_added_to_the_old_run_while_the_new_one_trains_stops_the_swap(old_run: Path):
    """--overwrite checks the old run again when the new one takes its place: a file of the
    user's written there meanwhile keeps it (it went into the hidden folder, with a
    warning)."""
    data = Path(_data(old_run))

    class Adds(Callback):
        def on_step(self, step, epoch, loss):
            if step == 1:
                (old_run / "notes.txt").write_text("mine")

    before = _files(old_run)
    with pytest.raises(VaekitError, match=r"holds files vaekit did not write \(notes.txt\)"):
        vaekit.train(data, model="mlp", hidden_dims=(8,), latent_dim=2, epochs=1, out=old_run,
                     overwrite=True, progress=False, callbacks=[Adds()])  # fmt: skip
    assert _files(old_run) == {**before, "notes.txt": _files(old_run)["notes.txt"]}
    assert _hidden_leftovers(old_run) == []


def test_out_inside_the_data_folder_or_a_file_is_refused_before_training(tmp_path, capsys):
    """--out inside an image folder: the run's PNGs became training data (a class "run" of
    samples.png and curves.png), and resuming found "images of several sizes". --out an
    existing file: "pass --overwrite", which then refused it."""
    from PIL import Image

    data = tmp_path / "imgs"
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (6, 6), 40 * i).save(data / label / f"{i}.png")
    assert cli("train", "--data", data, "--out", data / "run", "--epochs", "1") == 1
    assert "is inside the data folder" in capsys.readouterr().err
    assert not (data / "run").exists()
    taken = tmp_path / "taken.npz"
    taken.write_bytes(b"mine")
    assert cli("train", "--data", data, "--out", taken, "--epochs", "1") == 1
    err = capsys.readouterr().err
    assert "exists and is not a folder" in err and "--overwrite" not in err
    assert taken.read_bytes() == b"mine"
