"""Every bad input ends in one line on stderr ("vaekit: error: ..."), a non-zero exit, and no
output file: through the real command, for each class of mistake."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.test_cli import vaekit
from tests.conftest import png_declaring
from vaekit.errors import VaekitError

FROZEN = Path(__file__).parents[1] / "frozen" / "run-v1"  # a digits model: (1, 8, 8), 0..16


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A copy of the frozen digits run (anomaly calibrates into its run directory)."""
    return Path(shutil.copytree(FROZEN, tmp_path_factory.mktemp("bad") / "run"))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    gray = (rng.random((8, 8)) * 255).astype(np.uint8)
    Image.fromarray(np.kron(gray, np.ones((2, 2), np.uint8))).save(folder / "big.png")
    Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8), "RGB").save(folder / "rgb.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "huge.png").write_bytes(png_declaring(20000, 20000))  # past PIL's own bound
    (folder / "wide.png").write_bytes(png_declaring(6000, 5000))
    arrays = {
        "nan.npy": np.full((2, 8, 8), np.nan, np.float32),
        "f255.npy": np.full((2, 8, 8), 200.0, np.float32),
        "u255.npy": np.full((2, 8, 8), 255, np.uint8),  # 8-bit values for a 0..16 model
        "empty.npy": np.zeros((0, 8, 8), np.uint8),
        "small.npy": np.zeros((2, 5, 5), np.uint8),
        "text.npy": np.array([["a"] * 8] * 8),
    }
    for name, array in arrays.items():
        np.save(folder / name, array)
    np.savez(folder / "other.npz", images=np.zeros((40, 3, 8, 6), np.uint8))
    return {p.name: p for p in folder.iterdir()}


def fails(capsys, *args, code: int = 1) -> str:
    """Run the command; assert it failed with `code` and one line on stderr; return it."""
    assert vaekit(*args) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vaekit: error: "), err
    return lines[0]


def nothing_written(out: Path, run: Path) -> None:
    assert list(out.iterdir()) == []
    assert not (run / "anomaly.json").exists() and not (run / "eval.json").exists()


# The seven commands over one image they are given, writing under `out`.
APPS = {
    "reconstruct": lambda run, x, out: [run, x, "-o", out / "r.png", "--npy", out / "r.npy"],
    "interpolate": lambda run, x, out: [run, "--from", x, "--to", "0", "-o", out / "i.png"],
    "traverse": lambda run, x, out: [run, "--index", x, "-o", out / "t.png"],
    "denoise": lambda run, x, out: [run, x, "-o", out / "dn"],
    "uncertainty": lambda run, x, out: [run, x, "-o", out / "un"],
    "anomaly": lambda run, x, out: [run, x, "-o", out / "a.csv"],
    "embed": lambda run, x, out: [run, x, "-o", out / "e.npy"],
}

BAD_FILES = [
    ("big.png", "big.png: a 16x16 image; this model takes 8x8 gray images: resize it to 8x8"),
    ("rgb.png", "rgb.png: a color image; this model takes 8x8 gray images"),
    ("broken.png", "broken.png: not a readable PNG or JPEG image"),
    ("huge.png", "huge.png: too large: more than 178,956,970 pixels (at most 5000 x 5000)"),
    ("wide.png", "wide.png: 6000 x 5000 pixels is too large (at most 5000 x 5000)"),
    ("nan.npy", "nan.npy: pixel values must be finite"),
    ("f255.npy", "f255.npy: pixel values must be finite and in [0, 1] as floats"),
    ("u255.npy", "or [0, 16] as integers"),
    ("empty.npy", "empty.npy: holds no images"),
    ("small.npy", "small.npy: expected images shaped (B, 1, 8, 8), got (2, 1, 5, 5)"),
    ("text.npy", "text.npy: expected images of numbers, got an array of <U1"),
]


@pytest.mark.parametrize("command", sorted(APPS))
@pytest.mark.parametrize(("name", "message"), BAD_FILES, ids=[n for n, _ in BAD_FILES])
def test_every_app_refuses_a_bad_input_file(run, files, tmp_path, capsys, command, name, message):
    out = tmp_path / "out"
    out.mkdir()
    line = fails(capsys, command, *APPS[command](run, files[name], out))
    assert message in line and str(files[name]) in line
    nothing_written(out, run)


@pytest.mark.parametrize("command", sorted(APPS))
def test_every_app_refuses_data_of_another_shape(run, files, tmp_path, capsys, command):
    out = tmp_path / "out"
    out.mkdir()
    line = fails(capsys, command, *APPS[command](run, "1", out), "--data", files["other.npz"])
    assert "other.npz: images of shape (3, 8, 6) (C, H, W); this model takes (1, 8, 8)" in line
    nothing_written(out, run)


def test_eval_refuses_data_of_another_shape(run, files, capsys):
    line = fails(capsys, "eval", run, "--data", files["other.npz"], "--quiet")
    assert "images of shape (3, 8, 6)" in line and not (run / "eval.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "many.npy", "--to", "0"], "many.npy: holds 3 images where one is needed"),
        (["--grid", "0", "1", "2", "many.npy"], "holds 3 images where one is needed"),
        (["--from", "0", "--to", "99999"], "index 99999 is past the end of the test split"),
        (["--from", "0", "--to", "nope.png"], "nope.png: neither a test-split index nor"),
        (["--from", "0", "--to", "."], ".: a folder; give image files"),
        (["--grid", "0", "1", "2", "3", "--steps", "33"], "a --grid is at most 32 x 32"),
        (["--from", "0"], "give --from A --to B, or --grid"),
        (["--from", "0", "--to", "1", "--grid", "0", "1", "2", "3"], "corners, not both"),
    ],
)
def test_interpolate_mistakes(run, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    np.save("many.npy", np.zeros((3, 8, 8), np.uint8))
    assert message in fails(capsys, "interpolate", run, *args, "-o", "i.png")
    assert not Path("i.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "-n", "100000"], "-n 100000: a PNG grid holds at most 1024 images; give --npy"),
        (["sample", "-n", "10000000000000", "--npy", "s.npy"], "s.npy: would need 2.6 PB"),
        (["traverse", "--steps", "32", "--dims", "0-32"], "give at most 32 dimensions"),
        (["anomaly", "0", "1", "--normal-labels", "1"], "--normal-labels needs labelled inputs"),
        (["anomaly", "--normal-labels", "0,1,2,3,4,5,6,7,8,9"], "every input is normal"),
        (["anomaly", "--normal-labels", "a,b"], "no class named 'a' (this run's classes have no"),
        (["sample", "--label", "-1"], "labels are for a conditional model"),
        (["eval", "--batch-size", "100000", "--chunk", "1000"], "at most 262144: lower either"),
        (["eval", "--device", "cuda:7"], "--device cuda:7"),
        (["embed", "0", "-o", "e.txt"], "e.txt: expected a .npy, .csv or .parquet file name"),
        (["sample", "-o", "."], "expected a .png file name"),
        (["denoise", "-o", "taken"], "taken: exists and is not a folder"),
        (["uncertainty", "-o", "taken/sub"], "taken/sub: taken is not a folder"),
    ],
)
def test_requests_refused_before_any_work(run, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    Path("taken").write_text("a file")
    line = fails(capsys, args[0], run, *args[1:])
    assert message in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert not (run / "anomaly.json").exists() and not (run / "eval.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "--seed", str(10**30)], "argument --seed: expected at most"),
        (["sample", "--label", " "], "argument --label: expected a class"),
        (["sample", "-n", "0"], "argument -n: expected a positive integer"),
        (["interpolate", "--from", "0", "--to", "1", "--steps", "100000"], "at most 1024"),
        (["traverse", "--dims", "0-99999999999"], "at most 1024 dimensions"),
        (["traverse", "--dims", "3-1"], "a range runs low to high (2-5, not 5-2)"),
        (["traverse", "--dims", "-1"], "expected dimensions like 0-9"),
        (["traverse", "--steps", "33"], "argument --steps: expected at most 32"),
        (["denoise", "--add-noise", "gaussian:x"], "expected gaussian:STD"),
        (["uncertainty", "--samples", "1"], "--samples: expected an integer from 2 to 10000"),
        (["anomaly", "--normal-labels", "0,"], "expected classes like 0 or 0,3,5"),
        (["anomaly", "--top", "100000"], "argument --top: expected at most 512"),
        (["data", "prepare", "digits", "--image-size", "100000"], "expected at most 1024"),
        (["sample", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_unparsable_options_exit_2_in_one_line(run, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    where = [run] if args[0] != "data" else []
    line = fails(capsys, args[0], *where, *args[1:], code=2)
    assert message in line and "(see `vaekit" in line
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback_before_or_after_the_command(capsys):
    for args in (["--debug", "sample", "/no/such/run"], ["sample", "/no/such/run", "--debug"]):
        with pytest.raises(VaekitError, match="not a folder"):
            vaekit(*args)
    assert fails(capsys, "sample", "/no/such/run").endswith("not a folder (expected a vaekit "
                                                           "run directory)")  # fmt: skip


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuntimeError("mat1 and mat2\nshapes"), "unexpected RuntimeError: mat1 and mat2; shapes"),
        (MemoryError(), "out of memory (MemoryError)"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory"), "out of memory ("),
    ],
)
def test_an_unexpected_error_is_one_line_pointing_at_debug(capsys, monkeypatch, error, message):
    def broken(args):
        raise error

    monkeypatch.setattr("vaekit.cli.sample.run", broken)
    line = fails(capsys, "sample", "anything")
    assert message in line and "--debug" in line
    with pytest.raises(type(error)):
        vaekit("--debug", "sample", "anything")


@pytest.mark.parametrize(
    ("args", "where"),
    [(["sample", "R", "-o", "s.png"], "s.png"), (["sample", "R"], "R/outputs/sample/")],
)
def test_a_full_disk_says_where_the_command_was_writing(capsys, monkeypatch, args, where):
    import errno

    def full(args):  # the system names no file: "[Errno 28] No space left on device"
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("vaekit.cli.sample.run", full)
    line = fails(capsys, *args)
    assert line.endswith(f"[Errno 28] No space left on device, writing {where}"), line


def test_a_failure_while_streaming_samples_leaves_no_file(run, tmp_path, capsys, monkeypatch):
    from vaekit.api.model import Model

    original = Model.sample_batches

    def draws_then_fails(self, n, *args, **kwargs):
        yield from original(self, 1024, *args, **kwargs)  # one whole batch is written
        raise MemoryError

    monkeypatch.setattr(Model, "sample_batches", draws_then_fails)
    out = tmp_path / "out"
    out.mkdir()
    assert vaekit("sample", run, "-n", "3000", "-o", out / "s.png", "--npy", out / "s.npy") == 1
    err = capsys.readouterr().err  # the progress bar, then the error
    assert "1024/3000" in err and err.strip().splitlines()[-1].startswith("vaekit: error: out of")
    assert list(out.iterdir()) == []  # neither the .npy, its temporary file, nor the PNG


def test_a_run_directory_given_as_data_is_named_as_one(run, tmp_path, capsys):
    """Not read as a folder of images (its curves.png and samples.png of several sizes)."""
    for args in (("train", "--data", run, "--out", tmp_path / "r"), ("data", "info", run)):
        assert vaekit(*args) == 1
        err = capsys.readouterr().err
        assert f"{run} is a vaekit run directory, not data" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_a_registered_dataset_with_another_kind_is_named_as_one(tmp_path, capsys):
    assert vaekit("train", "--data", "digits", "--kind", "table", "--out", tmp_path / "r") == 1
    err = capsys.readouterr().err  # it said "digits: no such file or folder"
    assert "digits is a registered dataset (vaekit data list), not what --kind table reads" in err


def test_the_index_one_past_the_last_is_refused_and_the_last_is_taken(run, tmp_path, capsys):
    """The boundary: the frozen run's digits test split holds 180 images, 0 to 179."""
    from vaekit.api.inputs import model_dataset
    from vaekit.api.model import load

    size = len(model_dataset(load(run)).test)
    line = fails(capsys, "reconstruct", run, str(size), "-o", tmp_path / "r.png")
    assert line == f"vaekit: error: index {size} is past the end of the test split ({size})"
    assert vaekit("reconstruct", run, str(size - 1), "-o", tmp_path / "r.png", "--quiet") == 0


def test_an_output_that_cannot_be_written_is_refused_before_any_work(run, tmp_path, capsys):
    """A missing folder, or a folder where the file goes, is one line before the model is
    used (a command that computed first failed only at its end)."""
    from vaekit.api.model import Model

    def no_work(*args, **kwargs):
        raise AssertionError("the model was used before the output was checked")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Model, "sample", no_work)
        missing = tmp_path / "nosuch" / "s.png"
        line = fails(capsys, "sample", run, "-o", missing)
        assert line == f"vaekit: error: {missing}: folder {missing.parent} does not exist"
        (tmp_path / "a.png").mkdir()
        line = fails(capsys, "sample", run, "-o", tmp_path / "a.png", "--overwrite")
        assert line == f"vaekit: error: {tmp_path / 'a.png'}: is a folder; give a .png file name"


def test_a_command_refused_after_its_claim_leaves_no_empty_output_folder(tmp_path, capsys):
    """Without -o a command makes RUNDIR/outputs/COMMAND before its work: refused after that
    (an index past the end), neither folder stays behind, the inner one removed first."""
    import shutil

    run = Path(shutil.copytree(FROZEN, tmp_path / "run"))
    fails(capsys, "interpolate", run, "--from", "0", "--to", "99999")
    assert not (run / "outputs").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["sample", "RUN", "--temperature", "1e40"], "expected a number in (0, 1e+06), got 1e+40"),
        (["anomaly", "RUN", "--quantile", "0"], "expected a number in (0, 1), got 0"),
        (["anomaly", "RUN", "--contamination", "0"], "expected a number in (0, 1), got 0"),
    ],
)
def test_a_value_outside_an_options_range_is_refused_by_its_parser(args, said, capsys):
    """The range the parser names is the one the command holds to (a quantile of 0 passed
    the parser's [0, 1) and was refused later; a temperature of 1e40 drew NaN samples)."""
    assert vaekit(*args) == 2
    assert said in capsys.readouterr().err


@pytest.mark.parametrize("extra", [(), ("--window", "64"), ("--target", "y"), ("--kind", "text")])
def test_missing_data_is_named_as_missing_whatever_the_options(tmp_path, capsys, extra):
    """A missing .csv given with a series option was "--window is for time series ... and
    --data 'gone.csv' is not one": the file's absence comes first."""
    gone = tmp_path / "gone.csv"
    line = fails(capsys, "train", "--data", gone, *extra, "--out", tmp_path / "r")
    assert line == f"vaekit: error: {gone}: no such file or folder"
    assert not (tmp_path / "r").exists()
