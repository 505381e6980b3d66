"""The time-series kind, everything of it in src/vaekit/kinds/series/: its files read and cut
into windows (missing values, irregular clocks, bad cells), its likelihood against
torch.distributions, its refusals, causal scores, and every command a user would try on a small
generated series (train, eval, anomaly, sample, reconstruct, interpolate, embed, report,
serve, data info)."""

import csv
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.cli.test_cli import vaekit
from tests.report.test_report import assert_shown, read_page
from vaekit.api.report import open_run
from vaekit.errors import VaekitError
from vaekit.kinds.base import recognize_source
from vaekit.kinds.series import data as series_data
from vaekit.kinds.series.model import ConvDecoder1d, ConvEncoder1d, MaskedGaussian, SeriesGaussian
from vaekit.kinds.series.render import elbo_scores
from vaekit.models.factory import build_vae
from vaekit.models.io import model_config_from

START = np.datetime64("2024-01-01T00:00")


def write_series(path: Path, n: int = 240, spike: int | None = None, gap: int | None = None,
                 missing: int | None = None, seed: int = 0) -> Path:  # fmt: skip
    """Two channels, cpu (a daily wave) and mem (its double, shifted), every 5 minutes; a
    spike in cpu at `spike`, a 10-minute gap before row `gap`, a missing mem at `missing`."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    cpu = np.sin(2 * np.pi * t / 24) + 0.05 * rng.standard_normal(n)
    mem = 2 * np.cos(2 * np.pi * t / 24) + 5 + 0.05 * rng.standard_normal(n)
    if spike is not None:
        cpu[spike : spike + 3] += 4
    minutes = 5 * t + (5 * (t >= gap) if gap is not None else 0)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp", "cpu", "mem"])
        for i in range(n):
            when = str(START + np.timedelta64(int(minutes[i]), "m")).replace("T", " ")
            writer.writerow([when, f"{cpu[i]:.4f}", "" if i == missing else f"{mem[i]:.4f}"])
    return path


# --- data --------------------------------------------------------------------------------


def test_a_series_file_is_recognized_by_its_time_column(tmp_path: Path):
    series = write_series(tmp_path / "s.csv", 40)
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n3,4\n")
    assert recognize_source(series).name == "series"
    assert recognize_source(table).name == "table"  # no time column: still a table
    numbers = tmp_path / "n.csv"
    numbers.write_text("Time,x\n0,1\n1,2\n")
    assert recognize_source(numbers).name == "series"  # any case
    sales = tmp_path / "sales.csv"  # a date, then a column of names: a table
    sales.write_text("date,store,sales\n2024-01-01,s1,3\n2024-01-02,s2,4\n")
    assert recognize_source(sales).name == "table"


def test_reading_dates_numbers_missing_values_and_the_step(tmp_path: Path):
    raw = series_data.read_series(write_series(tmp_path / "s.csv", 30, missing=4))
    assert raw.channels == ("cpu", "mem") and raw.values.shape == (30, 2)
    assert raw.step_seconds == 300 and np.isnan(raw.values[4, 1])
    assert np.isnan(raw.values).sum() == 1
    numbers = tmp_path / "n.csv"
    numbers.write_text("t,x\n" + "".join(f"{2 * i},{i}\n" for i in range(5)))
    # "t" is not a time name: the time column is named, and it counts by 2
    raw = series_data.read_series(numbers, time_column="t")
    assert raw.step_seconds == 2 and raw.values[:, 0].tolist() == [0, 1, 2, 3, 4]
    fine = tmp_path / "ms.csv"  # 100 ms steps, and UTC offsets, read to the microsecond
    fine.write_text("timestamp,x\n2024-01-01T00:00:00.100Z,1\n2024-01-01T00:00:00.200Z,2\n"
                    "2024-01-01T01:00:00.300+01:00,3\n")  # fmt: skip
    assert math.isclose(series_data.read_series(fine).step_seconds, 0.1)
    # Unix times in tenths of a second: float64 rounds 1704067200.1 by 2.4e-7, within which
    # the steps are one (they were refused as "0.1 s after the step before, where the
    # series steps by 0.0999999 s")
    unix = tmp_path / "unix.csv"
    unix.write_text(
        "timestamp,x\n" + "".join(f"{1704067200 + i / 10:.1f},{i}\n" for i in range(50))
    )
    assert math.isclose(series_data.read_series(unix).step_seconds, 0.1, rel_tol=1e-5)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("timestamp,x\n2024-01-01 00:00,1\n2024-01-01 00:05,2\n2024-01-01 00:15,3\n"
         "2024-01-01 00:20,4\n", "line 4: 600 s after the step before, where the series steps by "
         "300 s .* --irregular keep"),
        ("timestamp,x\n0,1\n5,2\n10,3\n16,4\n20,5\n", "line 5: 6 after the step before, where the "
         "series steps by 5 in the time column's units"),
        ("timestamp,x\n1,1\n2,2\n2,3\n", "line 4: its time does not come after the one before"),
        ("timestamp,x\n1,1\n2,high\n", "'high' in column 'x' is not a number"),
        ("timestamp,x\n1,1\nnoon,2\n", "'noon' in 'timestamp' is neither a date"),
        ("timestamp\n1\n2\n", "no value columns beside the time column"),
    ],
)  # fmt: skip
def test_a_bad_series_file_is_one_line(tmp_path: Path, body: str, message: str):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(VaekitError, match=message) as caught:
        series_data.read_series(path)
    assert "\n" not in str(caught.value)


def test_irregular_rows_are_kept_as_steps_when_asked(tmp_path: Path):
    path = write_series(tmp_path / "s.csv", 30, gap=10)
    with pytest.raises(VaekitError, match="--irregular keep"):
        series_data.read_series(path)
    raw = series_data.read_series(path, irregular="keep")
    assert raw.step_seconds is None and raw.seconds.tolist() == list(range(30))
    back = tmp_path / "back.csv"  # a clock set back: refused, or kept in the file's order
    back.write_text("timestamp,x\n1,1\n2,2\n0,3\n3,4\n")
    with pytest.raises(VaekitError, match="line 4: its time does not come after"):
        series_data.read_series(back)
    assert series_data.read_series(back, irregular="keep").values[:, 0].tolist() == [1, 2, 3, 4]


def test_data_info_reads_a_series_with_trains_options(tmp_path: Path, capsys):
    """`vaekit data info` takes the options `vaekit train` reads a series with: a series too
    short for the default window is described with a smaller one."""
    path = write_series(tmp_path / "short.csv", n=30)
    assert vaekit("data", "info", path) == 1
    assert "30 rows, no more than one --window of 32: lower --window" in capsys.readouterr().err
    assert vaekit("data", "info", path, "--window", "8", "--image-size", "28") == 1
    assert "--image-size is for images, not time series" in capsys.readouterr().err  # as train
    assert vaekit("data", "info", path, "--window", "8", "--train-part", "0.5") == 0
    out = capsys.readouterr().out
    assert "a time series of 30 steps (one step every 300 s), 2 channels; windows of 8" in out
    assert "mem " in out  # each channel's statistics
    # A column of text beside the values: read as a table, whose complaint about the time
    # column ("an identifier or free text") came before the refusal of --window, as train's
    # does not; the remedy is named.
    rows = path.read_text().splitlines()
    texts = [rows[0] + ",site"] + [f"{row},a" for row in rows[1:]]
    (tmp_path / "site.csv").write_text("\n".join(texts) + "\n")
    assert vaekit("data", "info", tmp_path / "site.csv", "--window", "8") == 1
    err = capsys.readouterr().err
    assert "--window is for time series" in err and "give --kind series with --value-col" in err
    assert vaekit("data", "info", tmp_path / "site.csv", "--window", "8", "--kind", "series",
                  "--value-columns", "cpu,mem") == 0  # fmt: skip


def test_windows_end_at_their_steps_and_the_test_part_is_the_end(tmp_path: Path):
    values = np.arange(20, dtype=float).reshape(10, 2)  # step t: (2t, 2t + 1)
    x = series_data.windows(values, 3, np.array([2, 9]))
    assert x.shape == (2, 1, 2, 3)
    assert x[1, 0].tolist() == [[14, 16, 18], [15, 17, 19]]  # channels by steps 7, 8, 9
    train, val, test = series_data.split_ends(100, 8, 4, 0.25)
    assert test.tolist() == list(range(75, 100))  # the last quarter
    assert train.tolist() == list(range(7, 67, 4))  # windows inside rows 0-66
    assert val.tolist() == [74]  # rows 67-74 (a tenth, at least a window): one window
    train, val, test = series_data.split_ends(20, 8, 1, 0.25)  # too short to hold out any
    assert train.tolist() == list(range(7, 15)) and len(val) == 0
    with pytest.raises(VaekitError, match="fewer than one --window of 80: lower --window or"):
        series_data.split_ends(100, 80, 1, 0.25)
    with pytest.raises(VaekitError, match=r"^100 rows, no more than one --window of 120: lower"):
        series_data.split_ends(100, 120, 1, 0.25)  # no --train-part would help: not said


# --- model -------------------------------------------------------------------------------


def test_the_masked_gaussian_is_torchs_normal_over_the_observed_values():
    g = torch.Generator().manual_seed(0)
    mean, x = torch.randn(3, 1, 2, 5, generator=g), torch.randn(3, 1, 2, 5, generator=g)
    std = torch.rand(2, 1, generator=g) + 0.5
    normal = torch.distributions.Normal(mean, std.expand_as(mean))
    assert torch.allclose(MaskedGaussian(mean, std).log_prob(x), normal.log_prob(x).sum((1, 2, 3)))
    x[0, 0, 1, 2] = x[2, 0, 0, 0] = float("nan")
    expected = normal.log_prob(torch.nan_to_num(x))
    expected[0, 0, 1, 2] = expected[2, 0, 0, 0] = 0
    got = MaskedGaussian(mean, std).log_prob(x)
    assert torch.allclose(got, expected.sum((1, 2, 3))) and torch.isfinite(got).all()
    fixed = MaskedGaussian(mean, 0.5).log_prob(torch.nan_to_num(x))
    assert math.isclose(float(fixed[1]), float(
        torch.distributions.Normal(mean[1], 0.5).log_prob(x[1]).sum()), rel_tol=1e-6)  # fmt: skip


def test_the_encoder_reads_a_missing_value_as_the_channels_training_mean(tmp_path: Path):
    """A missing value reaches the encoder as 0, the standardized training mean (any other
    stand-in, -1 say, moved every posterior with a gap in its window)."""
    from vaekit.data.datasets import open_dataset
    from vaekit.models.factory import ModelConfig

    dataset = open_dataset(write_series(tmp_path / "s.csv", 80), options={"window": 8})
    config = ModelConfig.create((1, 2, 8), family="mlp", latent_dim=2, kind="series",
                                schema=dataset.schema.to_json(), likelihood="gaussian")  # fmt: skip
    vae = build_vae(config).eval()
    x = dataset.train.images[:3].clone()
    x[0, 0, 1, 4] = x[2, 0, 0, 0] = float("nan")
    with torch.no_grad():
        got, filled = vae.encode(x), vae.encode(torch.nan_to_num(x, nan=0.0))
    assert torch.equal(got.mean, filled.mean) and torch.equal(got.logvar, filled.logvar)


def test_the_likelihood_learns_one_scale_per_channel_or_per_step():
    per_channel = SeriesGaussian(3, "global", 1.0)
    assert per_channel.log_std.shape == (3, 1) and per_channel.params_per_channel == 1
    assert per_channel(torch.zeros(2, 1, 3, 8)).std.shape == (3, 1)
    per_step = SeriesGaussian(3, "pixel", 1.0)
    assert per_step.params_per_channel == 2
    assert per_step(torch.zeros(2, 2, 3, 8)).std.shape == (2, 1, 3, 8)


def test_the_1d_convolutions_halve_and_restore_the_steps():
    encoder, decoder = (
        ConvEncoder1d((1, 3, 16), 4, (8, 16)),
        ConvDecoder1d((1, 3, 16), 4, (8, 16), 2),
    )
    q = encoder(torch.randn(5, 1, 3, 16))
    assert q.mean.shape == (5, 4) and decoder(q.mean).shape == (5, 2, 3, 16)


# --- commands ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def series_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("series")
    data = write_series(folder / "metrics.csv", 240, spike=200, missing=50)
    out = folder / "R"
    assert vaekit("train", "--data", data, "--window", "16", "--train-part", "0.7",
                  "--epochs", "3", "--latent-dim", "3", "--hidden-dims", "32", "--out", out,
                  "--quiet") == 0  # fmt: skip
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_train_records_the_series_schema_and_draws_its_windows(series_run: Path):
    config = json.loads((series_run / "config.json").read_text())
    model, data = config["model"], config["data"]
    assert model["kind"] == "series" and model["shape"] == [1, 2, 16]
    assert model["schema"]["channels"] == ["cpu", "mem"] and model["schema"]["window"] == 16
    assert model["likelihood"] == "gaussian" and model["gaussian_variance"] == "global"
    assert model["family"] == "mlp" and model["family_options"] == {"hidden_dims": [32]}
    assert data["kind"] == "series" and data["test_carved"]["chronological"] is True
    assert data["num_test"] == 240 - round(240 * 0.7) and data["missing_values"] == 1
    for name in ("samples.png", "reconstructions.png", "curves.png", "report.html"):
        assert (series_run / name).stat().st_size > 0


def test_eval_gives_the_bounds_and_each_channels_errors(series_run: Path, tmp_path: Path, capsys):
    assert vaekit("eval", series_run, "--iw-samples", "4") == 0
    out = capsys.readouterr().out
    assert "reconstruction, per channel" in out and "cpu" in out and "mem" in out
    report = json.loads((series_run / "eval.json").read_text())
    assert report["data_kind"] == "series"
    assert report["iwae"]["k"] == 4 and math.isfinite(report["iwae"]["nll"])
    assert math.isfinite(report["elbo"]["loss"])
    channels = report["reconstruction"]["channels"]
    assert [c["name"] for c in channels] == ["cpu", "mem"]
    # Every value of every test window is observed (the missing mem is in the training part).
    windows = report["split_size"]
    assert [c["observed"] for c in channels] == [windows * 16] * 2
    # The errors in each channel's units, as `reconstruct` writes every window's values.
    out = tmp_path / "all.csv"
    assert vaekit("reconstruct", series_run, "-n", str(windows), "-o", out, "--quiet") == 0
    rows = read_csv(out)
    assert len(rows) == windows * 16
    for c in channels:
        diff = np.array(
            [float(r[f"{c['name']}_reconstructed"]) - float(r[c["name"]]) for r in rows]
        )
        assert c["rmse"] == pytest.approx(np.sqrt(np.mean(diff**2)), rel=1e-3)
        assert c["mae"] == pytest.approx(np.mean(np.abs(diff)), rel=1e-3)


def test_anomaly_scores_every_step_of_a_new_series_with_its_channels_errors(
    series_run: Path, tmp_path: Path, capsys
):
    new = write_series(tmp_path / "new.csv", 120, spike=90, seed=3)
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", series_run, "--data", new, "-o", out) == 0
    rows = read_csv(out)
    assert len(rows) == 120 - 15  # every step from the first full window
    assert list(rows[0]) == ["timestamp", "cpu", "mem", "score", "anomalous", "error_cpu",
                             "error_mem"]  # fmt: skip
    assert rows[0]["timestamp"] == "2024-01-01 01:15"  # step 15, the first window's last
    assert (tmp_path / "scores_errors.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "with the channel most off there" in printed


def test_a_value_far_beyond_the_training_part_is_blamed_on_its_channel(
    series_run: Path, tmp_path: Path, capsys
):
    """1e25 in mem (its square overflows float32): the steps whose windows hold it score
    finite and enormous, with mem's error the larger, where every error was inf and the
    spike could be put on cpu."""
    new = write_series(tmp_path / "new.csv", 60, seed=3)
    lines = new.read_text().splitlines()
    head, *cells = lines[40].split(",")
    lines[40] = ",".join([head, cells[0], "1e25"])
    new.write_text("\n".join(lines) + "\n")
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", series_run, "--data", new, "-o", out) == 0
    assert "warning" not in capsys.readouterr().err
    rows = read_csv(out)
    hit = [r for r in rows if r["mem"] == "1e+25" or float(r["mem"]) > 1e24]
    assert len(hit) == 1
    scores = np.array([float(r["score"]) for r in rows])
    at = rows.index(hit[0])  # the 16 windows that hold it, from the one it ends
    assert np.isfinite(scores).all() and scores[at : at + 16].min() > 1e6 * scores[:at].max()
    errors = {c: float(hit[0][f"error_{c}"]) for c in ("cpu", "mem")}
    assert np.isfinite(list(errors.values())).all() and errors["mem"] > errors["cpu"]
    # --score recon, the squared error of the reconstruction: the same reading
    code = vaekit("anomaly", series_run, "--data", new, "-o", out, "--score", "recon",
                  "--overwrite")  # fmt: skip
    recon = np.array([float(r["score"]) for r in read_csv(out)])
    assert code == 0 and np.isfinite(recon).all() and recon[at] > 1e6 * recon[:at].max()


def test_anomaly_on_several_input_files_names_each_steps_file(
    series_run: Path, tmp_path: Path, capsys
):
    """Two INPUT files' steps share times: a series column says which file each is of."""
    a = write_series(tmp_path / "a.csv", 40, seed=5)
    b = write_series(tmp_path / "b.csv", 30, spike=20, seed=6)
    out = tmp_path / "two.csv"
    assert vaekit("anomaly", series_run, a, b, "-o", out) == 0
    rows = read_csv(out)
    assert list(rows[0])[:2] == ["series", "timestamp"]
    assert [r["series"] for r in rows] == ["a.csv"] * (40 - 15) + ["b.csv"] * (30 - 15)
    assert rows[0]["timestamp"] == rows[40 - 15]["timestamp"]  # the same time, two files
    assert vaekit("anomaly", series_run, a, "-o", tmp_path / "one.csv") == 0
    assert next(iter(read_csv(tmp_path / "one.csv")[0])) == "timestamp"  # one file: no column


def test_an_irregular_input_to_a_regular_model_names_the_remedy(
    series_run: Path, tmp_path: Path, capsys
):
    """anomaly has no --irregular: the message says what can be done (not that option)."""
    gap = write_series(tmp_path / "gap.csv", 60, gap=30)
    assert vaekit("anomaly", series_run, gap, "-o", tmp_path / "s.csv") == 1
    err = capsys.readouterr().err
    assert "trained on regular steps: resample the file, or train with --irregular keep" in err
    assert err.count("\n") == 1 and not (tmp_path / "s.csv").exists()


def test_a_command_refused_for_the_kind_leaves_no_output_folder(series_run: Path, capsys):
    for command in ("traverse", "denoise", "uncertainty"):
        assert vaekit(command, series_run, *(["0"] if command != "traverse" else [])) == 1
        assert "works on images" in capsys.readouterr().err
        assert not (series_run / "outputs" / command).exists()


def test_a_window_with_no_observed_value_scores_nan_not_most_normal(
    series_run: Path, tmp_path: Path, capsys
):
    """An outage of every channel leaves windows with nothing to score: NaN, never flagged
    (the KL alone would have ranked them the most normal of all)."""
    lines = write_series(tmp_path / "full.csv", 80, seed=4).read_text().splitlines()
    for i in range(1 + 30, 1 + 60):  # rows 30-59 (after the header): both channels blank
        lines[i] = lines[i].split(",")[0] + ",,"
    (tmp_path / "out.csv").write_text("\n".join(lines) + "\n")
    assert vaekit("anomaly", series_run, tmp_path / "out.csv", "-o", tmp_path / "s.csv") == 0
    assert "(15 with no observed value: score NaN, not flagged)" in capsys.readouterr().out
    rows = read_csv(tmp_path / "s.csv")
    empty = [r for r in rows if r["cpu"] == "" and r["mem"] == ""]
    scores = [r["score"] for r in rows]
    assert scores[45 - 15 : 60 - 15] == ["nan"] * 15  # windows ending at steps 45-59: all blank
    assert all(r["anomalous"] == "0" for r in empty) and len(empty) == 30
    assert all(float(x) > 1 for x in scores[: 30 - 15])  # windows before the outage scored


def test_a_time_column_other_than_the_first_is_read_with_kind_series(tmp_path: Path, capsys):
    with (tmp_path / "mid.csv").open("w") as f:
        f.write("temp,time,load\n")
        f.writelines(f"{np.sin(i / 5):.3f},{60 * i},{np.cos(i / 7):.3f}\n" for i in range(120))
    common = ["--window", "8", "--epochs", "1", "--hidden-dims", "16", "--quiet", "--no-report"]
    assert vaekit("train", "--data", tmp_path / "mid.csv", "--out", tmp_path / "a", *common) == 1
    err = capsys.readouterr().err
    assert "its first column, 'temp', is not named as a time: if it is a series, give --kind " \
        "series and --time-column NAME" in err  # fmt: skip
    assert vaekit("train", "--data", tmp_path / "mid.csv", "--kind", "series", "--time-column",
                  "time", "--out", tmp_path / "b", *common) == 0  # fmt: skip
    schema = json.loads((tmp_path / "b" / "config.json").read_text())["model"]["schema"]
    assert schema["time_column"] == "time" and schema["channels"] == ["temp", "load"]
    assert vaekit("anomaly", tmp_path / "b", tmp_path / "mid.csv", "-o", tmp_path / "s.csv") == 0
    rows = read_csv(tmp_path / "s.csv")
    assert list(rows[0])[:3] == ["time", "temp", "load"] and rows[0]["time"] == str(60 * 7)


def test_a_training_part_too_short_to_hold_out_validation_says_so(tmp_path: Path, capsys):
    short = write_series(tmp_path / "short.csv", 20)
    with pytest.warns(UserWarning, match="too short to hold out its end for validation"):
        assert vaekit("data", "info", short, "--window", "16") == 0
    out = capsys.readouterr().out
    assert "/ no held-out validation /" in out and "raise --train-part or lower --window" in out


def test_a_table_that_fails_is_not_told_to_try_kind_series(tmp_path: Path, capsys):
    """The series source that takes any CSV under --kind series is never suggested."""
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n2,\n")
    assert vaekit("train", "--data", tmp_path / "bad.csv", "--out", tmp_path / "r") == 1
    err = capsys.readouterr().err
    assert "too few to carve a test split" in err and "--kind" not in err


def test_a_steps_score_depends_only_on_it_and_the_steps_before(series_run: Path, tmp_path: Path):
    write_series(tmp_path / "a.csv", 80, seed=5)
    write_series(tmp_path / "b.csv", 80, spike=60, seed=5)  # the same until step 60
    for name in ("a", "b"):
        assert vaekit("anomaly", series_run, "--data", tmp_path / f"{name}.csv", "-o",
                      tmp_path / f"{name}_scores.csv") == 0  # fmt: skip
    sa, sb = (read_csv(tmp_path / f"{n}_scores.csv") for n in ("a", "b"))
    same = [r["score"] for r in sa[: 60 - 15]] == [r["score"] for r in sb[: 60 - 15]]
    assert same and sa[60 - 15]["score"] != sb[60 - 15]["score"]


def test_the_runs_own_series_is_scored_over_its_test_part(series_run: Path, capsys):
    assert vaekit("anomaly", series_run) == 0
    rows = read_csv(series_run / "outputs" / "anomaly" / "scores.csv")
    assert len(rows) == 240 - round(240 * 0.7)
    assert rows[0]["timestamp"] == str(START + np.timedelta64(5 * 168, "m")).replace("T", " ")
    # The report's scores over the test part are these, as its caption says: they were one
    # posterior draw per batch, up to 7.5 nats from a window's score here.
    view = open_run(series_run)
    drawn = elbo_scores(view.model, view.need_test())
    np.testing.assert_allclose(drawn, [float(r["score"]) for r in rows], rtol=1e-5)


def test_sample_reconstruct_interpolate_and_embed_write_windows(series_run: Path, capsys):
    out = series_run / "outputs"
    assert vaekit("sample", series_run, "-n", "3") == 0
    samples = read_csv(out / "sample" / "samples.csv")
    assert len(samples) == 3 * 16 and list(samples[0]) == ["sample", "step", "cpu", "mem"]
    assert vaekit("reconstruct", series_run, "0", "1") == 0
    made = read_csv(out / "reconstruct" / "reconstructions.csv")
    assert len(made) == 2 * 16 and "cpu_reconstructed" in made[0]
    assert vaekit("interpolate", series_run, "--from", "0", "--to", "1", "--steps", "4") == 0
    assert len(read_csv(out / "interpolate" / "interpolation.csv")) == 4 * 16
    assert vaekit("embed", series_run) == 0
    means = np.load(out / "embed" / "latents.npy")  # each test window's posterior mean
    assert means.shape == (72, 3) and np.isfinite(means).all()  # 72 windows end in the test part
    assert (means.std(0) > 0).all()  # they differ from window to window
    for refused in (["traverse", series_run], ["denoise", series_run]):
        assert vaekit(*refused) != 0


def test_the_report_shows_the_series_pictures(series_run: Path):
    assert vaekit("report", series_run) == 0
    page = read_page(series_run / "report.html")
    drawn = ("samples", "reconstructions", "scores-over-the-test-part", "latent-map")
    assert_shown(page, *drawn, "loss-curves", "kl-per-latent-dimension")
    for anchor in drawn:
        assert len(page.images[anchor]) == 1, anchor  # its picture, embedded
    assert "the -ELBO of the window ending" in page.sections["scores-over-the-test-part"]


def test_the_reports_evaluation_shows_each_channels_errors(series_run: Path):
    """The per-channel errors `eval` prints are in report.html's Evaluation table too."""
    from vaekit.report.html import number

    assert vaekit("eval", series_run, "--iw-samples", "2", "--quiet") == 0
    channels = json.loads((series_run / "eval.json").read_text())["reconstruction"]["channels"]
    assert vaekit("report", series_run) == 0
    shown = read_page(series_run / "report.html").sections["evaluation"]
    for c in channels:
        row = f"reconstruction: {c['name']}{number(c['rmse'])}-RMSE in the channel's units"
        assert row in shown, (row, shown)
        assert f"{c['observed']} observed values in windows" in shown


def test_serve_draws_sampled_and_decoded_windows(series_run: Path):
    from starlette.testclient import TestClient

    from vaekit.api.model import load
    from vaekit.serve.app import create_app
    from vaekit.serve.explorer import Explorer

    app = create_app(Explorer(load(series_run), series_run), allowed_hosts=["testserver"])
    with TestClient(app) as client:
        info = client.get("/api/info")
        assert info.status_code == 200 and len(info.json()["map"]["points"]) > 0
        for path, body in (("/api/sample", {"n": 4}), ("/api/decode", {"point": [0, 0]})):
            answer = client.post(path, json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["image"].startswith("data:image/png;base64,")
        # The page takes no file of a series (it hides its upload): a PNG of the window's size
        # got an anomaly verdict, as if it were a window.
        assert info.json()["uploads"] is False
        png = io.BytesIO()
        Image.fromarray(np.zeros((2, 16), np.uint8)).save(png, format="PNG")
        answer = client.post("/api/upload?name=w.png", content=png.getvalue(),
                             headers={"content-type": "image/png"})  # fmt: skip
        assert answer.status_code == 415
        assert answer.json()["error"] == ("the page takes no file for a model of a time series")


def test_serve_names_the_channels_and_draws_them_in_their_units(series_run: Path, monkeypatch):
    """The page's decoded windows were plotted as "channel 0", "channel 1" in standardized
    units; they are drawn as the report draws them: named, in the data's units."""
    from vaekit.api.model import load
    from vaekit.kinds.series import render
    from vaekit.serve.explorer import Explorer

    drawn = []
    monkeypatch.setattr(render, "windows_png", lambda s, w, *_: drawn.append((s, w)) or b"")
    model = load(series_run)
    z = torch.zeros(1, model.latent_dim)
    Explorer(model, series_run).decode_latent(z[0].tolist())
    schema, [values] = drawn[0]
    assert schema.channels == model.schema.channels and len(schema.channels) >= 2
    standardized = model.decode(z).cpu().double().numpy()[0, 0].T
    assert np.allclose(values[0], standardized * model.schema.std + model.schema.mean)


def test_data_info_describes_the_series(series_run: Path, tmp_path: Path, capsys):
    path = write_series(tmp_path / "s.csv", 100)
    assert vaekit("data", "info", path) == 0
    out = capsys.readouterr().out
    assert "a time series of 100 steps (one step every 300 s), 2 channels" in out
    assert "cpu" in out and "training part" in out
    # A constant channel's std is 0 (it is left unscaled: recorded as 1), and a time written
    # as a number (here milliseconds) is of no known unit.
    rows = [f"{i * 300_000},{i % 7},5" for i in range(60)]
    (tmp_path / "ms.csv").write_text("time,load,flat\n" + "\n".join(rows) + "\n")
    assert vaekit("data", "info", tmp_path / "ms.csv", "--window", "8") == 0
    out = capsys.readouterr().out
    assert "(one step every 300000 in the time column's units)" in out
    assert "flat                 mean 5, std 0 (constant: left unscaled)" in out
    assert (
        "load                 mean 2.9" in out and "load                 mean 2.9, std 0" not in out
    )


def test_a_series_option_for_other_data_and_an_image_option_for_a_series_are_refused(
    tmp_path: Path, capsys
):
    path = write_series(tmp_path / "s.csv", 60)
    assert vaekit("train", "--data", "digits", "--window", "8", "--out", tmp_path / "a") != 0
    assert "--window is for time series" in capsys.readouterr().err
    code = vaekit("train", "--data", path, "--binarize", "--out", tmp_path / "b")
    assert code != 0 and "--binarize is for images, not time series" in capsys.readouterr().err
    code = vaekit("train", "--data", path, "--model", "resnet", "--out", tmp_path / "c")
    assert code != 0 and "series take --model mlp or conv" in capsys.readouterr().err
    code = vaekit("train", "--data", path, "--model", "conv", "--window", "10", "--out",
                  tmp_path / "d")  # fmt: skip
    assert code != 0 and "must be a multiple of" in capsys.readouterr().err


def test_the_conv_family_trains_on_windows(tmp_path: Path):
    path = write_series(tmp_path / "s.csv", 120)
    assert vaekit("train", "--data", path, "--model", "conv", "--channels", "8,16", "--window",
                  "16", "--epochs", "1", "--latent-dim", "2", "--no-report", "--out",
                  tmp_path / "R", "--quiet") == 0  # fmt: skip
    config = json.loads((tmp_path / "R" / "config.json").read_text())["model"]
    assert (config["family"], config["family_options"]) == ("conv", {"channels": [8, 16]})
    vae = build_vae(model_config_from({"model": config}))
    assert isinstance(vae.encoder.encoder, ConvEncoder1d)  # inside FillMissing


def test_the_recon_score_leaves_missing_values_out(tmp_path: Path):
    path = write_series(tmp_path / "s.csv", 120, missing=100)
    assert vaekit("train", "--data", path, "--window", "8", "--train-part", "0.5", "--epochs",
                  "1", "--latent-dim", "2", "--no-report", "--out", tmp_path / "R",
                  "--quiet") == 0  # fmt: skip
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", tmp_path / "R", "--score", "recon", "-o", out) == 0
    scores = {r["timestamp"]: float(r["score"]) for r in read_csv(out)}
    assert len(scores) == 60 and all(math.isfinite(s) for s in scores.values())
    # Each score is the mean squared error, in standardized units, over the window's observed
    # values only: recomputed from `reconstruct`'s values of the same 60 windows.
    std = json.loads((tmp_path / "R" / "config.json").read_text())["model"]["schema"]["std"]
    made = tmp_path / "made.csv"
    assert vaekit("reconstruct", tmp_path / "R", "-n", "60", "-o", made, "--quiet") == 0
    errors: dict[str, list[float]] = {}
    for row in read_csv(made):
        for name, scale in zip(("cpu", "mem"), std, strict=True):
            if row[name] != "":  # the missing mem (step 100) is left out of 8 windows
                off = float(row[f"{name}_reconstructed"]) - float(row[name])
                errors.setdefault(row["window"], []).append((off / scale) ** 2)
    assert sorted(len(e) for e in errors.values()) == [15] * 8 + [16] * 52
    for window, found in errors.items():
        assert scores[window] == pytest.approx(np.mean(found), rel=1e-4), window


def test_a_series_run_resumes(tmp_path: Path):
    path = write_series(tmp_path / "s.csv", 120)
    args = ("--data", path, "--window", "8", "--latent-dim", "2", "--no-report", "--quiet",
            "--out", tmp_path / "R")  # fmt: skip
    assert vaekit("train", *args, "--epochs", "1") == 0
    assert vaekit("train", *args, "--epochs", "2", "--resume") == 0
    lines = (tmp_path / "R" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line).get("epoch") for line in lines if "epoch" in line][-1] == 2


def test_a_run_trained_on_a_relative_path_is_used_from_another_folder(tmp_path: Path, monkeypatch):
    (tmp_path / "here").mkdir()
    write_series(tmp_path / "here" / "s.csv", 120)
    monkeypatch.chdir(tmp_path / "here")
    assert vaekit("train", "--data", "s.csv", "--window", "8", "--epochs", "1", "--latent-dim",
                  "2", "--no-report", "--quiet", "--out", tmp_path / "R") == 0  # fmt: skip
    config = json.loads((tmp_path / "R" / "config.json").read_text())
    assert config["data"]["name"] == str(tmp_path / "here" / "s.csv")  # recorded whole
    monkeypatch.chdir(tmp_path)  # elsewhere: the run still finds its data
    assert vaekit("eval", "R", "--iw-samples", "2", "--quiet") == 0
    assert vaekit("anomaly", "R", "-o", "scores.csv", "--quiet") == 0


def test_the_channel_most_off_is_ranked_in_standard_deviations_not_units(tmp_path, capsys):
    """A channel in bytes was named at every step, its error the largest in its own units:
    cpu off by 3 of its standard deviations, net by 0.05 of its, is cpu's anomaly."""
    from types import SimpleNamespace

    from vaekit.kinds.series.data import SeriesSchema
    from vaekit.kinds.series.render import show_top

    schema = SeriesSchema("t", ("cpu", "net"), 4, 1, (50.0, 1e6), (1.0, 1e4), 60.0, "x")
    errors = np.array([[3.0, 500.0], [0.1, 3e4]])
    written = {"values": np.zeros((2, 2)), "errors": errors, "flags": np.array([1, 1]),
               "threshold": 1.0, "times": ["t0", "t1"], "places": [None, None],
               "score": "s"}  # fmt: skip
    show_top(SimpleNamespace(schema=schema), SimpleNamespace(ids=["t0", "t1"]),
             np.array([5.0, 4.0]), np.array([0, 1]), tmp_path / "m.png", written)  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert "cpu off by 3 (3 std)" in lines[1] and "net off by 3e+04 (3 std)" in lines[2]


def test_a_window_scores_the_same_wherever_it_stands_in_the_input(series_run: Path, tmp_path):
    """A stream scored chunk by chunk: the steps a chunk shares with the whole file scored up
    to 3 nats apart, their posterior draws keyed by position in the input."""
    whole = write_series(tmp_path / "whole.csv", 120, spike=90, seed=3)
    lines = whole.read_text().splitlines()
    chunk = tmp_path / "chunk.csv"
    chunk.write_text("\n".join([lines[0], *lines[1 + 60 :]]) + "\n")  # rows 60.. of 120
    for name in ("whole", "chunk"):
        assert vaekit("anomaly", series_run, "--data", tmp_path / f"{name}.csv",
                      "-o", tmp_path / f"{name}_scores.csv", "--quiet") == 0  # fmt: skip
    scored = {name: {r["timestamp"]: r["score"] for r in read_csv(tmp_path / f"{name}_scores.csv")}
              for name in ("whole", "chunk")}  # fmt: skip
    shared = sorted(set(scored["whole"]) & set(scored["chunk"]))
    assert len(shared) == 60 - 15
    assert [scored["chunk"][t] for t in shared] == [scored["whole"][t] for t in shared]


def test_eval_of_another_series_says_it_scores_every_window(series_run: Path, tmp_path, capsys):
    """Another series' windows are all scored (none of them the run's): eval called them its
    "test split", 225 windows, where --split train gave some of the same windows too."""
    other = write_series(tmp_path / "other.csv", 120, seed=4)
    assert vaekit("eval", series_run, "--data", other, "--iw-samples", "2") == 0
    out = capsys.readouterr().out
    assert "every window (not the run's own series: all of it is scored), 105 examples" in out
    report = json.loads((series_run / "eval.json").read_text())
    assert report["split"] == "all" and report["split_size"] == 120 - 15
    card = (series_run / "README.md").read_text()
    assert f"105 examples, every window of {other.resolve()}" in card
    assert vaekit("eval", series_run, "--iw-samples", "2") == 0  # its own: the test split
    assert json.loads((series_run / "eval.json").read_text())["split"] == "test"


def test_anomaly_rows_hold_each_steps_values_errors_and_flag(series_run: Path, tmp_path, capsys):
    """Each row of scores.csv is one step: its own values (the input file's at its time), the
    error of its window's reconstruction at that last step in each channel's units, column by
    column, and its flag (score over the threshold). Only the header, the first time and the
    count were checked: values of the window's first step, channels swapped, errors in
    standardized units or flags one row late all passed."""
    import re

    from vaekit.api.model import load

    new = write_series(tmp_path / "new.csv", 120, spike=90, seed=3)
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", series_run, "--data", new, "-o", out) == 0
    threshold = float(re.search(r"threshold ([\d.]+)", capsys.readouterr().out).group(1))
    rows, given = read_csv(out), {r["timestamp"]: r for r in read_csv(new)}
    assert len(rows) == 105 and rows[-1]["timestamp"] == read_csv(new)[-1]["timestamp"]
    for r in rows:
        for c in ("cpu", "mem"):
            assert float(r[c]) == pytest.approx(float(given[r["timestamp"]][c]), abs=1e-4)
        score = float(r["score"])
        if abs(score - threshold) > 0.01:  # (the printed threshold is rounded)
            assert r["anomalous"] == str(int(score > threshold)), r
    # The errors, worked out from the model: |x - x̂| at each window's last step, in units.
    model = load(series_run)
    s = model.schema
    windows = series_data.read_rows(str(new), s).images
    made = model.vae.reconstruct(windows).detach()
    for c, name in enumerate(s.channels):
        truth = windows[:, 0, c, -1].double() * s.std[c] + s.mean[c]
        back = made[:, 0, c, -1].double() * s.std[c] + s.mean[c]
        expected = (truth - back).abs().numpy()
        found = np.array([float(r[f"error_{name}"]) for r in rows])
        assert found == pytest.approx(expected, rel=1e-4, abs=1e-6), name


def test_written_windows_run_forward_in_time_and_are_named_by_their_last_step(
    series_run: Path, tmp_path: Path
):
    """The CSVs of sample, reconstruct, interpolate and embed: each window's steps in time
    order, from its first to its last, and a window named by its last step's time. Only
    their lengths and headers were checked: windows written back to front, a grid's rows and
    columns swapped, and embeddings without their times all passed."""
    from vaekit.api.model import load

    model = load(series_run)
    s = model.schema
    assert vaekit("sample", series_run, "-n", "3", "-o", tmp_path / "s.csv", "--quiet") == 0
    drawn = model.sample(3, seed=0)  # `sample`'s default seed
    for r in read_csv(tmp_path / "s.csv"):
        i, t = int(r["sample"]), int(r["step"])
        for c, name in enumerate(s.channels):
            expected = float(drawn[i, 0, c, t]) * s.std[c] + s.mean[c]
            assert float(r[name]) == pytest.approx(expected, abs=1e-3)
    # reconstruct: step t of the window that ends at time T is the row 15 - t steps before T
    data = {r["timestamp"]: r for r in read_csv(series_run.parent / "metrics.csv")}
    times = list(data)
    assert vaekit("reconstruct", series_run, "0", "5", "-o", tmp_path / "r.csv", "--quiet") == 0
    for r in read_csv(tmp_path / "r.csv"):
        step = times[times.index(r["window"]) - (s.window - 1) + int(r["step"])]
        assert float(r["cpu"]) == pytest.approx(float(data[step]["cpu"]), abs=1e-4)
    # embed: each test window by the time of its last step, the test part's in order
    assert vaekit("embed", series_run, "-o", tmp_path / "e.csv", "--quiet") == 0
    embedded = read_csv(tmp_path / "e.csv")
    assert next(iter(embedded[0])) == "timestamp"
    assert [r["timestamp"] for r in embedded] == times[-len(embedded) :]
    # a grid's row and column: its top-right corner is the second corner decoded, as a
    # strip from the first to the second ends with it
    assert vaekit("interpolate", series_run, "--grid", "0", "1", "2", "3", "--steps", "3",
                  "-o", tmp_path / "g.csv", "--quiet") == 0  # fmt: skip
    assert vaekit("interpolate", series_run, "--from", "0", "--to", "1", "--steps", "3",
                  "-o", tmp_path / "l.csv", "--quiet") == 0  # fmt: skip
    grid = read_csv(tmp_path / "g.csv")
    corner = [float(r["cpu"]) for r in grid if (r["row"], r["column"]) == ("0", "2")]
    end = [float(r["cpu"]) for r in read_csv(tmp_path / "l.csv") if r["point"] == "2"]
    assert len(end) == s.window and corner == pytest.approx(end, abs=1e-5)


def test_a_series_numbers_as_data_info_and_eval_print_them(series_run: Path, tmp_path, capsys):
    """data info's window counts and statistics, eval's per-channel RMSE, MAE and observed
    counts where windows hold missing values, and an "inf" cell read as missing: each was
    free to print another figure (test counts as train, MAE as RMSE, missing values counted
    as observed) with every test passing."""
    path = write_series(tmp_path / "s.csv", 100, missing=60)
    lines = path.read_text().splitlines()
    lines[30] = lines[30].rsplit(",", 1)[0] + ",inf"  # row 29's mem: missing, as a blank is
    path.write_text("\n".join(lines) + "\n")
    from vaekit.data.datasets import open_dataset

    info = open_dataset(path, options={"window": 16}).info
    assert info["missing_values"] == 2
    assert vaekit("data", "info", path, "--window", "16") == 0
    out = capsys.readouterr().out
    counts = (f"windows of 16 steps: {info['num_train']} train (stride 1) / {info['num_val']} "
              f"validation / {info['num_test']} test; 2 missing values")  # fmt: skip
    assert counts in out and info["num_train"] != info["num_test"]
    # eval on it: mem's missing step 59 is in 16 windows (those ending at steps 59 to 74)
    assert vaekit("eval", series_run, "--data", path, "--iw-samples", "2") == 0
    out = capsys.readouterr().out
    report = json.loads((series_run / "eval.json").read_text())
    cpu, mem = report["reconstruction"]["channels"]
    windows = report["split_size"]
    assert cpu["observed"] == windows * 16 and mem["observed"] == windows * 16 - 2 * 16
    for c in (cpu, mem):
        assert f"RMSE {c['rmse']:<12.4g} MAE {c['mae']:<12.4g} ({c['observed']} observed" in out
        assert c["rmse"] > c["mae"] > 0  # (sqrt of the mean square is the larger)


def test_calibration_leaves_out_windows_with_no_observed_value(tmp_path: Path, capsys):
    """A window whose sensors were all out scores NaN: left out of the calibration, the
    threshold is a number; with every calibration window blank, the message says that (it
    said "not all finite numbers (0 of 0)"). The validation windows of 240 rows with
    --train-part 0.7 and --window 16 end at steps 166 and 167."""
    path = write_series(tmp_path / "s.csv", 240)
    lines = path.read_text().splitlines()

    def blank(first: int, last: int, out: Path) -> Path:
        rows = [line.split(",")[0] + ",," if first <= i - 1 <= last else line
                for i, line in enumerate(lines)]  # fmt: skip
        out.write_text("\n".join(rows) + "\n")
        return out

    args = ("--window", "16", "--train-part", "0.7", "--epochs", "1", "--latent-dim", "2",
            "--hidden-dims", "16", "--quiet", "--no-report")  # fmt: skip
    some = blank(151, 166, tmp_path / "some.csv")  # the window ending at 166: no value
    assert vaekit("train", "--data", some, "--out", tmp_path / "a", *args) == 0
    assert vaekit("anomaly", tmp_path / "a", "-o", tmp_path / "a.csv", "--quiet") == 0
    threshold = json.loads((tmp_path / "a" / "anomaly.json").read_text())["threshold"]
    assert math.isfinite(threshold)
    capsys.readouterr()
    every = blank(151, 167, tmp_path / "every.csv")
    assert vaekit("train", "--data", every, "--out", tmp_path / "b", *args) == 0
    assert vaekit("anomaly", tmp_path / "b", "-o", tmp_path / "b.csv") == 1
    assert "none of the 2 calibration examples (val split) has an observed value" in (
        capsys.readouterr().err
    )


def test_a_constant_channel_is_left_unscaled_and_scores_a_later_change_in_its_units(tmp_path):
    """A channel constant in the training part has no spread to scale by: it is divided by 1
    (a change of 1 later is 1 standardized unit), not by a tiny number that would make any
    change later an astronomically large one."""
    from vaekit.data.datasets import open_dataset

    rows = [f"{i},{i % 7},{5 if i < 50 else 6}" for i in range(60)]
    (tmp_path / "c.csv").write_text("time,load,flat\n" + "\n".join(rows) + "\n")
    dataset = open_dataset(tmp_path / "c.csv", options={"window": 8, "train_part": 0.8})
    assert dataset.schema.std[1] == 1.0 and dataset.schema.mean[1] == 5.0
    assert float(dataset.test.images[:, 0, 1].nan_to_num().max()) == 1.0  # 6, standardized


def test_a_series_of_another_step_than_the_models_is_warned_about(series_run: Path, tmp_path):
    """A model of 5-minute steps scored a file of 1-minute ones without a word: its windows
    then span a fifth of the time the model's did."""
    fast = tmp_path / "fast.csv"
    lines = write_series(tmp_path / "s.csv", 60).read_text().splitlines()
    start = np.datetime64("2024-01-01T00:00")
    rows = [f"{str(start + np.timedelta64(i, 'm')).replace('T', ' ')},{line.split(',', 1)[1]}"
            for i, line in enumerate(lines[1:])]  # fmt: skip
    fast.write_text("\n".join([lines[0], *rows]) + "\n")
    with pytest.warns(UserWarning, match=r"one step every 60, where the model was trained on "
                      r"one every 300 \(seconds between dates"):  # fmt: skip
        assert vaekit("anomaly", series_run, "--data", fast, "-o", tmp_path / "a.csv") == 0
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "one step every")  # its own step: no warning
        assert vaekit("anomaly", series_run, "--data", tmp_path / "s.csv",
                      "-o", tmp_path / "b.csv", "--quiet") == 0  # fmt: skip


def test_a_series_file_given_as_input_is_read_as_a_view(series_run: Path, tmp_path: Path):
    """`anomaly RUN new.csv` kept every window of the file as its own copy (memory growing
    with --window); one input keeps the view of its series, as the run's own data does."""
    from vaekit.api.inputs import Inputs
    from vaekit.api.model import load

    new = write_series(tmp_path / "new.csv", 300, seed=3)
    rows = Inputs(load(series_run)).rows([str(new)])
    assert len(rows) == 300 - 15 and rows.images.untyped_storage().nbytes() <= 300 * 2 * 4
