"""Every command on a run with an autoregressive decoder: it works (pixel by pixel, with a
progress bar) or, for export, refuses in one line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.test_cli import vaekit
from tests.conftest import write_npz


@pytest.fixture(scope="module")
def ar_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("arcli")
    data = write_npz(folder / "d.npz", n=120, size=6)
    flags = ["--model", "conv", "--channels", "4", "--latent-dim", "2", "--batch-size", "20"]
    flags += ["--autoregressive", "2", "--ar-width", "4", "--binarize", "--epochs", "1"]
    assert vaekit("train", "--data", data, *flags, "--out", folder / "run") == 0
    return folder / "run"


def test_train_writes_pictures_decoded_pixel_by_pixel(ar_run: Path):
    assert (ar_run / "samples.png").is_file() and (ar_run / "report.html").is_file()
    model = json.loads((ar_run / "config.json").read_text())["model"]
    assert (model["autoregressive"], model["ar_width"]) == (2, 4)


@pytest.mark.parametrize(
    ("args", "written"),
    [
        (["sample", "-n", "5", "--npy", "s.npy", "-o", "s.png"], ["s.png", "s.npy"]),
        (["reconstruct", "-n", "4", "-o", "r.png"], ["r.png"]),
        (["interpolate", "--from", "0", "--to", "1", "--steps", "3", "-o", "i.png"], ["i.png"]),
        (["traverse", "--steps", "3", "-o", "t.png"], ["t.png"]),
        (["denoise", "--add-noise", "saltpepper:0.1", "-n", "4", "-o", "d"], ["d"]),
        (["uncertainty", "--samples", "2", "-n", "2", "-o", "u"], ["u/uncertainty.png"]),
        (["embed", "-o", "e.npy"], ["e.npy"]),
    ],
)
def test_each_app_works(ar_run: Path, tmp_path: Path, monkeypatch, capsys, args, written):
    monkeypatch.chdir(tmp_path)
    assert vaekit(args[0], ar_run, *args[1:]) == 0
    for name in written:
        assert (tmp_path / name).exists(), name
    if args[0] != "embed":
        assert "decoding pixel by pixel" in capsys.readouterr().err  # the progress bar
    (tmp_path / "quiet").mkdir()
    monkeypatch.chdir(tmp_path / "quiet")
    assert vaekit(args[0], ar_run, *args[1:], "--quiet") == 0
    assert "decoding pixel by pixel" not in capsys.readouterr().err  # but under --quiet


def test_samples_are_draws_of_binary_pixels(ar_run: Path, tmp_path: Path):
    assert (
        vaekit("sample", ar_run, "-n", "3", "--npy", tmp_path / "s.npy", "-o", tmp_path / "s.png")
        == 0
    )
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (3, 1, 6, 6) and set(np.unique(images)) <= {0.0, 1.0}  # drawn


def test_anomaly_eval_and_report_work(ar_run: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert vaekit("anomaly", ar_run) == 0
    assert vaekit("eval", ar_run, "--iw-samples", "2") == 0
    assert json.loads((ar_run / "eval.json").read_text())["elbo"]["loss"] > 0
    assert vaekit("report", ar_run) == 0


def test_eval_without_reconstruction_skips_the_pixel_by_pixel_decode(
    ar_run: Path, tmp_path: Path, capsys
):
    full, quick = tmp_path / "full.json", tmp_path / "quick.json"
    assert vaekit("eval", ar_run, "--iw-samples", "2", "--seed", "1", "--json", full) == 0
    assert "decoding pixel by pixel" in capsys.readouterr().err
    silent = ["--iw-samples", "2", "--json", tmp_path / "silent.json", "--quiet"]
    assert vaekit("eval", ar_run, *silent) == 0
    assert "decoding pixel by pixel" not in capsys.readouterr().err  # but under --quiet
    flags = ["--iw-samples", "2", "--seed", "1", "--json", quick, "--no-reconstruction"]
    assert vaekit("eval", ar_run, *flags) == 0
    out, err = capsys.readouterr()
    assert "decoding pixel by pixel" not in err and "MSE" not in out
    assert "skipped: --no-reconstruction" in out
    a, b = json.loads(full.read_text()), json.loads(quick.read_text())
    assert a["reconstruction"]["mse"] >= 0
    assert b["reconstruction"] == {"skipped": "--no-reconstruction"}
    assert a["iwae"] == b["iwae"] and a["elbo"] == b["elbo"]  # the same numbers otherwise


def test_export_refuses_in_one_line(ar_run: Path, tmp_path: Path, capsys):
    assert vaekit("export", ar_run, "--format", "torchscript", "-o", tmp_path / "x") == 1
    err = capsys.readouterr().err.strip()
    assert "autoregressive" in err and "\n" not in err


def test_serve_decodes_and_reconstructs(ar_run: Path):
    from starlette.testclient import TestClient

    from vaekit.api.model import load
    from vaekit.serve.app import create_app
    from vaekit.serve.explorer import Explorer

    explorer = Explorer(load(ar_run), ar_run)
    app = create_app(explorer, max_upload_bytes=50_000, allowed_hosts=["testserver"])
    buffer = io.BytesIO()
    Image.fromarray(np.full((6, 6), 200, np.uint8)).save(buffer, format="PNG")
    with TestClient(app) as client:
        assert client.post("/api/decode", json={"point": [0.0, 0.0]}).status_code == 200
        assert client.post("/api/sample", json={"n": 2}).status_code == 200
        upload = client.post(
            "/api/upload?name=a.png",
            content=buffer.getvalue(),
            headers={"content-type": "image/png"},
        )
        assert upload.status_code == 200 and "reconstruction" in upload.json()
