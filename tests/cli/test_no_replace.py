"""No output command replaces a file the user did not ask it to replace: every command of every
kind of data, run against a folder that already holds files of the names it would write
(the one -o names and each written beside it), stops before any work in one line naming each
of them, and leaves every byte as it was; with --overwrite it replaces them. Without -o the
outputs go into RUNDIR/outputs/COMMAND/, never into the current folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_audio import CLIP, write_recordings
from tests.cli.test_cli import vaekit
from tests.cli.test_tables import write_sensors
from tests.cli.test_text import write_corpus
from tests.conftest import write_npz

TINY = ["--epochs", "1", "--latent-dim", "2", "--no-report", "--quiet"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny trained run of each kind of data: image, table, audio, text (and "wav", a
    recording to give the audio run as an INPUT)."""
    root = tmp_path_factory.mktemp("no-replace")
    out = {kind: root / kind for kind in ("image", "table", "audio", "text")}
    image = write_npz(root / "d.npz", n=64, size=6)
    assert vaekit("train", "--data", image, "--model", "mlp", "--hidden-dims", "8",
                  "--out", out["image"], *TINY) == 0  # fmt: skip
    table = write_sensors(root / "sensors.csv")
    assert vaekit("train", "--data", table, "--target", "label", "--id-column", "sensor",
                  "--hidden-dims", "8", "--out", out["table"], *TINY) == 0  # fmt: skip
    audio = write_recordings(root / "recordings", per=4)
    assert vaekit("train", "--data", audio, "--clip-seconds", CLIP, "--n-mels", "16",
                  "--n-fft", "256", "--channels", "4,8", "--test-pattern", r"_[01]\.wav$",
                  "--out", out["audio"], *TINY) == 0  # fmt: skip
    out["wav"] = next((root / "recordings").rglob("low_0.wav"))
    text = write_corpus(root / "corpus.txt", n=60)
    assert vaekit("train", "--data", text, "--embed-dim", "8", "--rnn-hidden", "8",
                  "--max-length", "8", "--out", out["text"], *TINY) == 0  # fmt: skip
    return out


# (kind, the command with {run} and {d}, the files it writes, relative to the folder {d})
CASES = [
    ("image", "sample {run} -n 4 -o {d}/s.png --npy {d}/s.npy", ["s.png", "s.npy"]),
    ("image", "reconstruct {run} -n 4 -o {d}/r.png --npy {d}/r.npy", ["r.png", "r.npy"]),
    ("image", "interpolate {run} --from 0 --to 1 -o {d}/i.png --npy {d}/i.npy",
     ["i.png", "i.npy"]),
    ("image", "traverse {run} -o {d}/t.png --npy {d}/t.npy", ["t.png", "t.npy"]),
    ("image", "embed {run} -o {d}/latents.npy", ["latents.npy", "latents_labels.npy"]),
    ("image", "embed {run} -o {d}/latents.csv", ["latents.csv"]),
    ("image", "anomaly {run} -o {d}/scores.csv", ["scores.csv", "scores_errors.png"]),
    ("image", "denoise {run} -n 4 -o {d}/out",
     ["out/denoised.png", "out/denoised.npy", "out/denoise.json"]),
    ("image", "uncertainty {run} -n 2 --samples 2 -o {d}/out",
     ["out/uncertainty.png", "out/spread.npy", "out/uncertainty.json"]),
    ("image", "compare {run} {run} -o {d}/c.html", ["c.html"]),
    ("image", "export {run} --format torchscript -o {d}/out",
     ["out/encoder.pt", "out/decoder.pt", "out/export.json"]),
    ("image", "eval {run} --iw-samples 2 --no-probe --json {d}/e.json --per-example {d}/e.csv",
     ["e.json", "e.csv"]),
    ("table", "sample {run} -n 4 -o {d}/s.csv", ["s.csv"]),
    ("table", "reconstruct {run} -n 4 -o {d}/r.csv", ["r.csv"]),
    ("table", "interpolate {run} --from 0 --to 1 -o {d}/i.csv", ["i.csv"]),
    ("table", "anomaly {run} -o {d}/a.csv", ["a.csv"]),
    ("table", "embed {run} -o {d}/e.csv", ["e.csv"]),
    ("table", "embed {run} -o {d}/e.npy", ["e.npy", "e_labels.npy"]),
    ("audio", "sample {run} -n 2 -o {d}/clips",
     ["clips/sample_000.wav", "clips/sample_001.wav", "clips/spectrograms.png"]),
    ("audio", "reconstruct {run} {wav} -o {d}/clips",
     ["clips/low_0_input.wav", "clips/low_0_reconstruction.wav", "clips/spectrograms.png"]),
    ("audio", "interpolate {run} --from 0 --to 1 --steps 2 -o {d}/clips",
     ["clips/step_00.wav", "clips/step_01.wav", "clips/spectrograms.png"]),
    ("audio", "anomaly {run} -o {d}/a.csv", ["a.csv", "a_errors.png"]),
    ("text", "sample {run} -n 2 -o {d}/s.txt", ["s.txt"]),
    ("text", "reconstruct {run} -n 2 -o {d}/r.csv", ["r.csv"]),
    ("text", "interpolate {run} --from 0 --to 1 --steps 2 -o {d}/i.txt", ["i.txt"]),
    ("text", "anomaly {run} -o {d}/a.csv", ["a.csv"]),
    ("text", "embed {run} -o {d}/e.npy", ["e.npy"]),
]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.mark.parametrize("kind,command,names", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_existing_files_are_never_replaced_without_overwrite(
    runs, tmp_path, capsys, kind, command, names
):
    run, folder = runs[kind], tmp_path / "mine"
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(f"the user's own {name}\n".encode())
    before = _snapshot(folder)
    args = command.format(run=run, d=folder, wav=runs["wav"]).split()
    capsys.readouterr()
    assert vaekit(*args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--overwrite" in err, err
    for name in names:
        assert str(folder / name) in err, (name, err)
    assert _snapshot(folder) == before  # every byte, and no file added

    assert vaekit(*args, "--overwrite") == 0, capsys.readouterr().err
    after = _snapshot(folder)
    for name in names:
        assert after[name] != before[name], name


def test_without_o_outputs_go_into_the_run_directory(runs, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs["image"], run)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    commands = {
        "sample": ["-n", "4"],
        "reconstruct": ["-n", "4"],
        "interpolate": ["--from", "0", "--to", "1"],
        "traverse": [],
        "embed": [],
        "anomaly": [],
        "denoise": ["-n", "2"],
        "uncertainty": ["-n", "2", "--samples", "2"],
    }
    expected = {
        "sample": ["samples.png"],
        "reconstruct": ["reconstructions.png"],
        "interpolate": ["interpolation.png"],
        "traverse": ["traverse.png"],
        "embed": ["latents.npy", "latents_labels.npy"],
        "anomaly": ["scores.csv", "scores_errors.png"],
        "denoise": ["denoised.png", "denoised.npy", "denoise.json"],
        "uncertainty": ["uncertainty.png", "spread.npy", "uncertainty.json"],
    }
    for command, extra in commands.items():
        capsys.readouterr()
        assert vaekit(command, run, *extra) == 0, capsys.readouterr().err
        folder = run / "outputs" / command
        assert sorted(_snapshot(folder)) == sorted(expected[command]), command
        assert str(folder) in capsys.readouterr().out, command  # it says where
        # A second call would replace them: refused, as for a file the user named.
        assert vaekit(command, run, *extra) == 1, command
        assert str(folder / expected[command][0]) in capsys.readouterr().err
    assert list(here.iterdir()) == []  # nothing in the current folder
    assert vaekit("compare", run, runs["image"]) == 0
    assert (run / "outputs" / "compare" / "compare.html").is_file()
    assert list(here.iterdir()) == []


def test_without_o_audio_clips_go_into_the_run_directory(runs, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs["audio"], run)
    monkeypatch.chdir(tmp_path)
    assert vaekit("sample", run, "-n", "2") == 0
    folder = run / "outputs" / "sample"
    assert sorted(_snapshot(folder)) == ["sample_000.wav", "sample_001.wav", "spectrograms.png"]
    assert str(folder) in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("command", ["sample {run} -n 2", "interpolate {run} --from 0 --to 1",
                                     "reconstruct {run} -n 1"])  # fmt: skip
def test_a_file_name_is_refused_where_a_folder_of_clips_is_written(runs, tmp_path, capsys, command):
    args = command.format(run=runs["audio"]).split()
    assert vaekit(*args, "-o", tmp_path / "clip.wav") == 1
    err = capsys.readouterr().err
    assert "give a folder name" in err and "clip.wav" in err, err
    assert list(tmp_path.iterdir()) == []


def test_audio_help_says_that_o_is_a_folder(capsys):
    assert vaekit("sample", "--help") == 0
    assert "a FOLDER of WAV files" in " ".join(capsys.readouterr().out.split())


def test_export_into_a_runs_checkpoint_is_refused(runs, capsys):
    run = runs["image"]
    before = _snapshot(run)
    assert vaekit("export", run, "--format", "torchscript", "-o", run / "checkpoint") == 1
    assert "checkpoint; write elsewhere" in capsys.readouterr().err
    assert _snapshot(run) == before


def test_train_overwrite_keeps_the_outputs_of_commands(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs["image"], run)
    assert vaekit("sample", run, "-n", "4") == 0
    before = _snapshot(run)
    data = write_npz(tmp_path / "d.npz", n=64, size=6)
    assert vaekit("train", "--data", data, "--model", "mlp", "--hidden-dims", "8",
                  "--out", run, "--overwrite", *TINY) == 1  # fmt: skip
    assert "outputs/" in capsys.readouterr().err
    assert _snapshot(run) == before


def test_an_unwritable_place_is_named_by_the_users_path(runs, capsys):
    assert vaekit("sample", runs["image"], "-n", "2", "-o", "/proc/x.png") == 1
    err = capsys.readouterr().err
    assert "/proc/x.png" in err and ".tmp" not in err, err


@pytest.mark.parametrize("fails", ["mkstemp", "replace"])
def test_a_refused_write_names_the_file_not_its_temporary(tmp_path, monkeypatch, fails):
    """Whoever runs the tests (root passes the /proc check above in Outputs.claim): a write
    the system refuses, at the temporary file or at the rename, names the user's path."""
    import errno
    import os
    import tempfile

    from vaekit.files import atomic_write

    def refuse(*args, **kwargs):  # as the system says it: naming the temporary file
        name = str(args[0]) if args else str(tmp_path / ".x.png.abc.tmp")
        raise OSError(errno.EACCES, "Permission denied", name)

    target = tempfile if fails == "mkstemp" else os
    monkeypatch.setattr(target, "mkstemp" if fails == "mkstemp" else "replace", refuse)
    with pytest.raises(OSError) as caught:
        atomic_write(tmp_path / "x.png", lambda p: p.write_bytes(b"png"))
    assert str(tmp_path / "x.png") in str(caught.value) and ".tmp" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no temporary file left


def test_an_output_that_is_one_of_the_inputs_is_refused_even_with_overwrite(runs, tmp_path, capsys):
    table = tmp_path / "rows.csv"
    shutil.copy(runs["table"].parent / "sensors.csv", table)
    before = table.read_bytes()
    for args in (
        ["anomaly", runs["table"], table, "-o", table],
        ["reconstruct", runs["table"], table, "-o", table],
        ["anomaly", runs["table"], "--data", table, "-o", table],
        ["embed", runs["table"], "--data", table, "-o", tmp_path / "rows.csv"],
    ):
        assert vaekit(*args, "--overwrite") == 1, args
        err = capsys.readouterr().err
        assert f"{table} is one of this command's inputs" in err, err
    assert table.read_bytes() == before


def test_the_data_a_run_was_trained_on_is_never_an_output(runs, tmp_path, capsys):
    """anomaly with no INPUT scores the run's test part, read from its data file: -o that
    file with --overwrite replaced the data with its scores, and every later command on the
    run was refused for its checksum. A file written into the audio run's folder of
    recordings would change that folder's checksum alike."""
    table = runs["table"].parent / "sensors.csv"
    before = table.read_bytes()
    for args in (
        ["anomaly", runs["table"], "-o", table],
        ["reconstruct", runs["table"], "-n", "1", "-o", table],
        ["sample", runs["table"], "-n", "1", "-o", table],
        ["sample", runs["audio"], "-n", "1", "-o", runs["wav"].parent / "new"],
    ):
        assert vaekit(*args, "--overwrite") == 1, args
        err = capsys.readouterr().err
        assert "the data the run was trained on" in err and err.count("\n") == 1, err
    assert table.read_bytes() == before
    assert not (runs["wav"].parent / "new").exists()
    assert vaekit("anomaly", runs["table"], "-o", tmp_path / "scores.csv") == 0


def test_interpolate_never_writes_over_the_file_it_starts_from(runs, tmp_path, capsys):
    """--from FILE -o FILE --overwrite replaced the text file (and, in an audio run's output
    folder, the recording) it interpolated from."""
    line = tmp_path / "line.txt"
    line.write_text("the cat sat .\n")
    args = ["interpolate", runs["text"], "--from", line, "--to", "0", "--steps", "2", "-o", line]
    assert vaekit(*args, "--overwrite") == 1
    assert f"{line} is one of this command's inputs" in capsys.readouterr().err
    assert line.read_text() == "the cat sat .\n"
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(runs["wav"], folder / "step_00.wav")
    before = (folder / "step_00.wav").read_bytes()
    assert vaekit("interpolate", runs["audio"], "--from", folder / "step_00.wav", "--to", "0",
                  "--steps", "2", "-o", folder, "--overwrite") == 1  # fmt: skip
    assert "is one of this command's inputs" in capsys.readouterr().err
    assert (folder / "step_00.wav").read_bytes() == before


def test_a_sentence_longer_than_a_file_name_is_a_sentence(runs, tmp_path, capsys):
    """A sentence of over 255 bytes given as INPUT: "[Errno 36] File name too long" (looking
    it up as a possible file to refuse as an output)."""
    long = " ".join(["the cat sat on the mat ."] * 12)  # 299 characters
    assert vaekit("reconstruct", runs["text"], long, "-o", tmp_path / "r.csv") == 0
    assert "truncated" in capsys.readouterr().out
    # with a "/" past the 255th byte: looked up as a folder, the same error
    assert vaekit("reconstruct", runs["text"], long + " and/or", "-o", tmp_path / "s.csv") == 0


def test_interpolate_never_writes_over_its_to_or_a_grid_corner(runs, tmp_path, capsys):
    """--to and each --grid corner are inputs as --from is (only --from was tested)."""
    corner = tmp_path / "corner.npy"  # one 6 x 6 image, as the image run takes
    np.save(corner, np.zeros((6, 6), np.uint8))
    before = corner.read_bytes()
    for where in (["--from", "0", "--to", corner], ["--grid", "0", "1", corner, "2"]):
        args = ["interpolate", runs["image"], *where, "--steps", "2", "--npy", corner]
        assert vaekit(*args, "-o", tmp_path / "i.png", "--overwrite") == 1
        assert f"{corner} is one of this command's inputs" in capsys.readouterr().err
        assert corner.read_bytes() == before


def test_a_run_kept_inside_its_data_folder_writes_its_outputs(runs, tmp_path, capsys):
    """The refusal of outputs within the data a run was trained on spares the run's own
    folder there (a run moved into it): its default outputs go into RUNDIR/outputs."""
    folder = tmp_path / "clips"
    shutil.copytree(runs["wav"].parent.parent, folder)
    run = tmp_path / "run"
    assert vaekit("train", "--data", folder, "--clip-seconds", CLIP, "--n-mels", "16",
                  "--n-fft", "256", "--channels", "4,8", "--test-pattern", r"_[01]\.wav$",
                  "--out", run, *TINY) == 0  # fmt: skip
    run = run.rename(folder / "run")
    assert vaekit("sample", run, "-n", "1") == 0
    assert any((run / "outputs" / "sample").iterdir())
    assert vaekit("sample", run, "-n", "1", "-o", folder / "new") == 1  # elsewhere in it: no
    assert "the data the run was trained on" in capsys.readouterr().err


def test_a_broken_link_or_a_blank_name_is_no_place_to_write(runs, tmp_path, capsys):
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "nowhere.png")
    assert vaekit("sample", runs["image"], "-n", "1", "-o", link) == 1
    assert "already exists: pass --overwrite" in capsys.readouterr().err and link.is_symlink()
    assert vaekit("sample", runs["image"], "-n", "1", "-o", " ") != 0
    assert "-o is empty" in capsys.readouterr().err and not (Path(" ")).exists()


def test_the_refusal_names_the_files_and_says_it_or_them(runs, tmp_path, capsys):
    from vaekit.cli.output import MOST_NAMED

    png = tmp_path / "s.png"
    png.write_bytes(b"x")
    assert vaekit("sample", runs["image"], "-n", "1", "-o", png) == 1
    assert f"{png} already exists: pass --overwrite to replace it, or" in capsys.readouterr().err
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(MOST_NAMED + 1):
        (folder / f"sample_{i:03d}.wav").write_bytes(b"x")
    assert vaekit("sample", runs["audio"], "-n", str(MOST_NAMED + 1), "-o", folder) == 1
    err = capsys.readouterr().err
    assert "and 1 more already exist: pass --overwrite to replace them" in err, err


def test_a_file_written_has_the_permissions_any_new_file_gets(tmp_path):
    """Written under a temporary name (mkstemp: 0600) and renamed: it is made 0666 less the
    umask first, or a run directory shared with others would be private to its writer."""
    import os

    from vaekit.files import atomic_write

    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", lambda p: p.write_text("x"))
    finally:
        os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
