"""Data so small that its test split holds one example (12 table rows or images, 11
recordings): training still finishes, the report says in the map's place why there is no map,
and `vaekit serve`, whose page is that map, says so in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli.test_bad_inputs import fails
from tests.cli.test_cli import vaekit
from tests.conftest import write_npz
from vaekit.kinds.audio.data_wav import write_wav

NO_MAP = "Not shown: a latent map needs at least 2 test examples; the test split has 1"


def twelve_rows(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = ["a,b,c,d"] + [",".join(f"{v:.3f}" for v in rng.normal(size=4)) for _ in range(12)]
    path = folder / "twelve.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def eleven_recordings(folder: Path) -> Path:
    folder.mkdir()
    t = np.arange(2000) / 8000
    for i in range(11):
        write_wav(folder / f"tone_{i:02d}.wav", 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t), 8000)
    return folder


@pytest.fixture(scope="module")
def table_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    out = root / "run"
    code = vaekit("train", "--data", twelve_rows(root), "--epochs", "1", "--out", out, "--quiet")
    assert code == 0
    return out


def test_a_one_row_test_split_trains_and_its_report_says_why_there_is_no_map(table_run: Path):
    assert NO_MAP in (table_run / "report.html").read_text()


def test_a_tsne_map_asked_for_by_name_is_refused_in_one_line(table_run: Path, capsys):
    line = fails(capsys, "report", table_run, "--map", "tsne")
    assert "--map tsne: a t-SNE map needs at least 5 test examples; the test split has 1" in line


def test_eleven_recordings_train_and_their_report_says_why_there_is_no_map(tmp_path, capsys):
    data = eleven_recordings(tmp_path / "tones")
    code = vaekit("train", "--data", data, "--clip-seconds", "0.25", "--n-mels", "16",
                  "--n-fft", "256", "--epochs", "1", "--latent-dim", "4", "--channels", "8",
                  "--out", tmp_path / "run", "--quiet")  # fmt: skip
    assert code == 0
    assert NO_MAP in (tmp_path / "run" / "report.html").read_text()
    # one test clip: no standard error of its log-spectral distance (it said "± 0.00")
    assert vaekit("eval", tmp_path / "run", "--iw-samples", "2") == 0
    out = capsys.readouterr().out
    assert "log-spectral distance" in out and "± — dB" in out and "± 0.00 dB" not in out
    report = json.loads((tmp_path / "run" / "eval.json").read_text())
    assert report["reconstruction"]["lsd_db_stderr"] is None


def test_twelve_images_train_and_serve_says_it_has_no_map(tmp_path: Path, capsys):
    data = write_npz(tmp_path / "twelve.npz", n=12, size=8)
    out = tmp_path / "run"
    code = vaekit("train", "--data", data, "--epochs", "1", "--latent-dim", "3", "--out", out,
                  "--quiet")  # fmt: skip
    assert code == 0
    assert NO_MAP in (out / "report.html").read_text()
    capsys.readouterr()
    line = fails(capsys, "serve", out, "--port", "0")
    assert line.endswith("the test split, which holds 1 example(s): it needs at least 2")


def test_a_one_row_test_split_is_evaluated_with_no_error_bar_not_nan(table_run, tmp_path, capsys):
    assert vaekit("eval", table_run, "--iw-samples", "2", "--json", tmp_path / "e.json") == 0
    out = capsys.readouterr().out
    assert "± nan" not in out and out.count("± —") == 2, out  # the -ELBO's and the bound's
