"""The `vaekit` command as a user runs it, asserting on what it writes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from tests.conftest import RUN_FILES, idx_bytes, write_idx_folder
from vaekit.cli.main import main
from vaekit.models.io import SCHEMA_VERSION

# An epoch's line in metrics.jsonl (and "val" with a validation split).
EPOCH_KEYS = {"epoch", "time_s", "loss_is", "train", "skipped_steps", "rollbacks"}
FIRST_EPOCH_KEYS = EPOCH_KEYS | {"first_step_rec"}  # the untrained model's, once


def vaekit(*args: str) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exit:
        return exit.code
    raise AssertionError("main() must exit")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "digits"
    assert vaekit("train", "--data", "digits", "--epochs", "1", "--out", out, "--quiet") == 0
    return out


def test_train_writes_the_whole_run_directory(digits_run: Path):
    files = {p.name for p in digits_run.iterdir()}
    assert files == {name.split("/")[0] for name in RUN_FILES}
    config = json.loads((digits_run / "config.json").read_text())
    assert config["schema_version"] == SCHEMA_VERSION
    assert {"vaekit_version", "torch_version", "model", "data", "training"} <= set(config)
    assert config["data"]["name"] == "digits" and len(config["data"]["sha256"]) == 64
    assert config["model"]["family"] == "conv" and config["model"]["shape"] == [1, 8, 8]
    assert config["training"]["epochs"] == 1 and config["training"]["val_fraction"] == 0.1
    weights = load_file(str(digits_run / "model.safetensors"))
    assert any(k.startswith("encoder.") for k in weights)
    assert {p.name for p in (digits_run / "checkpoint").iterdir()} == {
        "state.safetensors",
        "state.json",
    }

    lines = [json.loads(s) for s in (digits_run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    epoch, final = lines
    assert set(epoch) == FIRST_EPOCH_KEYS | {"val"} and epoch["epoch"] == 1
    assert epoch["skipped_steps"] == epoch["rollbacks"] == 0
    for split in ("train", "val"):
        assert set(epoch[split]) == {"loss", "neg_elbo", "rec", "kl"}
        assert epoch[split]["loss"] == pytest.approx(epoch[split]["rec"] + epoch[split]["kl"])
    assert set(final) == {"final", "loss_is", "test", "latents"} and final["final"] is True
    assert set(final["test"]) == {"loss", "neg_elbo", "rec", "kl"}
    assert set(final["latents"]) == {"active_units", "active_units_examples", "latent_dim"}
    assert 0 < final["latents"]["active_units_examples"] <= 1000
    assert 0 <= final["latents"]["active_units"] <= final["latents"]["latent_dim"]

    samples = Image.open(digits_run / "samples.png")
    assert samples.mode == "L" and samples.size[0] > 8 * 8
    assert Image.open(digits_run / "curves.png").size[0] > 100


def test_val_fraction_zero_has_no_val(tmp_path: Path, idx_folder: Path):
    out = tmp_path / "run"
    code = vaekit(
        "train",
        "--data",
        idx_folder,
        "--model",
        "mlp",
        "--hidden-dims",
        "16",
        "--latent-dim",
        "2",
        "--epochs",
        "2",
        "--val-fraction",
        "0",
        "--out",
        out,
        "--quiet",
        "--likelihood",
        "gaussian",
        "--gaussian-std",
        "0.2",
    )
    assert code == 0
    lines = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines()]
    assert [set(line) for line in lines[:2]] == [FIRST_EPOCH_KEYS, EPOCH_KEYS]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["likelihood"] == "gaussian" and config["model"]["gaussian_std"] == 0.2
    assert config["model"]["family_options"] == {"hidden_dims": [16]}


def test_sample_and_reconstruct(digits_run: Path, tmp_path: Path, capsys):
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    assert vaekit("sample", digits_run, "-n", "10", "-o", png, "--seed", "3", "--npy", npy) == 0
    array = np.load(npy)
    assert array.shape == (10, 1, 8, 8) and array.dtype == np.float32
    assert array.min() >= 0 and array.max() <= 1
    again = ("-o", tmp_path / "t.png", "--seed", "3", "--npy", tmp_path / "t.npy")
    assert vaekit("sample", digits_run, "-n", "10", *again) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), array)
    # 10 images of 8x8, enlarged 7x to 56 px, 4 columns x 3 rows with 2 px gaps.
    assert Image.open(png).size == (4 * 58 + 2, 3 * 58 + 2)

    rec = tmp_path / "r.png"
    assert (
        vaekit("reconstruct", digits_run, "-n", "16", "-o", rec, "--npy", tmp_path / "r.npy") == 0
    )
    made = np.load(tmp_path / "r.npy")
    assert made.shape == (16, 1, 8, 8) and made.dtype == np.float32  # as promised: not float64
    width, height = Image.open(rec).size
    assert height > width / 4  # two rows of 8: inputs above reconstructions
    assert "reconstructions" in capsys.readouterr().out


def test_under_torchrun_only_the_first_process_says_an_error(digits_run, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")  # what torchrun sets for the second process
    assert vaekit("train", "--data", "digits", "--out", str(digits_run)) == 1
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert vaekit("train", "--data", "digits", "--out", str(digits_run)) == 1
    assert "already exists" in capsys.readouterr().err


def test_a_run_inside_another_run_is_refused(digits_run: Path, capsys):
    for inside in (digits_run / "sub", digits_run / "checkpoint" / "x"):
        assert vaekit("train", "--data", "digits", "--epochs", "1", "--out", str(inside)) == 1
        assert f"is inside the run directory {digits_run}" in capsys.readouterr().err
        assert not inside.exists()


def test_an_out_that_cannot_be_made_is_one_line(tmp_path: Path, capsys):
    (tmp_path / "afile").write_text("mine")
    out = tmp_path / "afile" / "run"
    assert vaekit("train", "--data", "digits", "--epochs", "1", "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert f"{out}: cannot make the run there ({tmp_path / 'afile'} is a file, not a folder)" in err
    assert (tmp_path / "afile").read_text() == "mine"
    typo = Path("/vaekit-no-such-top-folder/runs/x")  # a mistyped absolute path
    assert vaekit("train", "--data", "digits", "--epochs", "1", "--out", str(typo)) == 1
    assert "makes no folder at the file system's root" in capsys.readouterr().err
    assert not typo.parents[1].exists()


def test_existing_out_needs_overwrite(digits_run: Path, capsys):
    assert vaekit("train", "--data", "digits", "--epochs", "1", "--out", digits_run) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--data", "nope"], "unknown dataset 'nope'"),
        (["train", "--epochs", "0"], "expected a positive integer"),
        (["train", "--hidden-dims", "4,x"], "comma-separated integers"),
        (["train", "--val-fraction", "1.5"], "a number in [0, 1)"),
        (["train", "--model", "transformer"], "invalid choice"),
        (["sample", "/no/such/run"], "not a folder"),
        (["sample", ".", "-o", "out.jpg"], "expected a .png file name"),
        (["train", "--device", "mps"], "no Apple MPS device is available here"),
        (["train", "--device", "cuda:0", "--data", "digits"], "CUDA"),
    ],
)
def test_user_mistakes_get_one_line_errors(args, message, capsys):
    assert vaekit(*args) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_corrupt_idx_through_the_real_command(tmp_path: Path):
    folder = write_idx_folder(tmp_path / "bad", gz=False)
    (folder / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((20, 12, 12)))[:-50])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vaekit",
            "train",
            "--data",
            str(folder),
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"vaekit: error: {folder / 't10k-images-idx3-ubyte'}: truncated IDX file: "
        "shape (20, 12, 12) needs 2880 data bytes, found 2830"
    )
    assert not (tmp_path / "run").exists()


def test_help_documents_every_option(capsys):
    assert vaekit("train", "--help") == 0
    text = capsys.readouterr().out
    for option in (
        "--data",
        "--model",
        "--hidden-dims",
        "--channels",
        "--latent-dim",
        "--likelihood",
        "--gaussian-std",
        "--epochs",
        "--batch-size",
        "--lr",
        "--seed",
        "--val-fraction",
        "--out",
        "--overwrite",
        "--optimizer",
        "--binarize",
        "--config",
        "--resume",
        "--device",
        "--quiet",
    ):
        assert option in text


def test_help_covers_every_train_option_with_its_paper(capsys):
    from vaekit.train_options import TRAIN_OPTIONS

    assert vaekit("train", "--help") == 0
    text = capsys.readouterr().out
    for option in TRAIN_OPTIONS:
        assert option.flag in text, option.name
    for paper in ("Burda", "Higgins", "Tomczak", "Sohn", "Salimans", "Sonderby", "Kingma"):
        assert paper in text


def test_conditional_train_and_sample_a_label(tmp_path: Path, idx_folder: Path, capsys):
    out = tmp_path / "cvae"
    args = ["--model", "mlp", "--hidden-dims", "16", "--latent-dim", "2", "--epochs", "1"]
    assert vaekit("train", "--data", idx_folder, "--out", out, "--conditional", *args) == 0
    assert json.loads((out / "config.json").read_text())["model"]["num_classes"] == 4
    png = tmp_path / "threes.png"
    assert vaekit("sample", out, "--label", "3", "-n", "4", "-o", png) == 0
    assert png.exists()
    capsys.readouterr()
    assert vaekit("sample", out, "-n", "4", "-o", tmp_path / "none.png") == 1
    assert "give a class label" in capsys.readouterr().err
    assert vaekit("interpolate", out, "--from", "0", "--to", "1", "-o", tmp_path / "i.png") == 1
    assert "conditional" in capsys.readouterr().err
    rec = tmp_path / "r.png"
    assert vaekit("reconstruct", out, "0", "-o", rec) == 1
    assert "INPUTs do not carry" in capsys.readouterr().err and not rec.exists()
    assert vaekit("reconstruct", out, "-n", "4", "-o", rec) == 0 and rec.exists()
    assert vaekit("eval", out, "--iw-samples", "2", "--no-probe") == 0


def test_label_on_an_unconditional_model_is_an_error(digits_run: Path, tmp_path: Path, capsys):
    assert vaekit("sample", digits_run, "--label", "3", "-o", tmp_path / "s.png") == 1
    assert "conditional" in capsys.readouterr().err


def test_text_tables_show_small_numbers_as_the_pages_do():
    """compare's printout: a learning rate of 0.0005 beside 0.001 is not "0.00" twice."""
    from vaekit.cli.report import format_table

    table = format_table(
        ("option", "a", "b"), [["training.lr", 0.0005, 0.001], ["x", 12.345, None]]
    )
    assert table.splitlines()[1].split() == ["training.lr", "0.0005", "0.001"]
    assert table.splitlines()[2].split() == ["x", "12.35", "-"]
