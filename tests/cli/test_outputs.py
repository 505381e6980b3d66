"""No command writes over a run directory's own files: config.json, model.safetensors,
metrics.jsonl and checkpoint/*, of the run it reads or of any other."""

import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import vaekit
from tests.cli.test_overwrite import _files
from tests.conftest import write_npz


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("outputs")
    data = write_npz(root / "d.npz", n=64, size=6)
    run = root / "run"
    args = ["--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2", "--epochs", "1"]
    assert vaekit("train", "--data", data, "--out", run, *args, "--quiet") == 0
    other = root / "other"
    shutil.copytree(run, other)
    return run, other


# {run} is the run the command reads, {other} another run directory.
REFUSED = [
    ["sample", "{run}", "-o", "{run}/model.safetensors"],
    ["sample", "{run}", "-o", "{tmp}/s.png", "--npy", "{run}/checkpoint/state.npy"],
    ["reconstruct", "{run}", "-o", "{run}/config.json"],
    ["reconstruct", "{run}", "-o", "{tmp}/r.png", "--npy", "{other}/checkpoint/x.npy"],
    ["embed", "{run}", "-o", "{run}/metrics.jsonl"],
    ["embed", "{run}", "-o", "{other}/checkpoint/state.npy"],
    ["eval", "{run}", "--json", "{run}/config.json"],
    ["eval", "{run}", "--json", "{other}/checkpoint/state.json"],
    ["eval", "{run}", "--json", "{run}/./checkpoint/../config.json"],
    ["interpolate", "{run}", "--from", "0", "--to", "1", "-o", "{other}/model.safetensors"],
    ["traverse", "{run}", "-o", "{run}/checkpoint/t.png"],
    ["anomaly", "{run}", "-o", "{run}/checkpoint/scores.csv"],
    ["denoise", "{run}", "-o", "{run}/checkpoint"],
    ["uncertainty", "{run}", "-o", "{other}/checkpoint"],
]


@pytest.mark.parametrize("args", REFUSED, ids=lambda a: " ".join(a[:1] + a[2:]))
def test_a_run_directorys_own_files_are_refused_as_outputs(runs, tmp_path, args, capsys):
    run, other = runs
    before = {folder: _files(folder) for folder in runs}
    filled = [a.format(run=run, other=other, tmp=tmp_path) for a in args]
    assert vaekit(*filled) == 1
    err = capsys.readouterr().err
    assert "write elsewhere" in err and len(err.strip().splitlines()) == 1, err
    assert {folder: _files(folder) for folder in runs} == before


def test_other_files_in_a_run_directory_are_still_writable(runs, tmp_path):
    run, _ = runs
    assert vaekit("sample", run, "-n", "4", "-o", tmp_path / "s.png") == 0
    assert vaekit("sample", run, "-n", "4", "-o", run / "more-samples.png") == 0
    assert (run / "more-samples.png").is_file()
    # A folder with its own config.json (not vaekit's) is not a run directory.
    (tmp_path / "config.json").write_text('{"lr": 1}')
    assert vaekit("eval", run, "--json", tmp_path / "config.json", "--iw-samples", "2",
                  "--max-examples", "4", "--no-probe", "--quiet", "--overwrite") == 0  # fmt: skip
    assert '"iwae"' in (tmp_path / "config.json").read_text()


def test_a_streamed_npy_short_of_its_rows_is_not_written(tmp_path: Path):
    """save_batches renames its file into place only once every row came: batches that stop
    short (an interrupted source) leave no file, and an old one at that path stays."""
    import numpy as np

    from vaekit.cli.output import save_batches

    path = tmp_path / "samples.npy"
    np.save(path, np.zeros(1, dtype=np.float32))  # the user's earlier file
    batches = [np.ones((4, 2), dtype=np.float32), np.ones((3, 2), dtype=np.float32)]
    with pytest.raises(AssertionError, match="wrote 7 rows of 8"):
        save_batches(path, (8, 2), iter(batches))
    assert np.load(path).tolist() == [0.0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.npy"]
    save_batches(path, (7, 2), iter(batches))
    assert np.load(path).shape == (7, 2) and np.load(path).min() == 1.0


@pytest.mark.parametrize("command", [["sample"], ["export"], ["denoise"], ["embed"]])
def test_an_empty_output_path_is_refused(runs, tmp_path, monkeypatch, capsys, command):
    """-o "" (an unset shell variable) would write into the current folder."""
    run, _ = runs
    monkeypatch.chdir(tmp_path)
    assert vaekit(*command, run, "-o", "") == 1
    assert (
        capsys.readouterr().err == "vaekit: error: -o is empty: give the file or folder to write\n"
    )
    assert list(tmp_path.iterdir()) == []
