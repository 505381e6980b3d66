"""The time-series kind at its edges: the refusals, boundaries and warnings a mutation audit
found untested (each test here fails with the check it names taken out of
src/vaekit/kinds/series/)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli.test_cli import vaekit
from tests.kinds.test_series import write_series
from vaekit.errors import VaekitError
from vaekit.kinds.series import data as series_data
from vaekit.kinds.series.data import SeriesSchema
from vaekit.kinds.series.model import SeriesGaussian, prepare
from vaekit.models.likelihoods import LOG_STD_MIN


@pytest.fixture(scope="module")
def series_run(tmp_path_factory) -> Path:
    """A model of cpu and mem every 5 minutes, windows of 16 (as test_series' run)."""
    folder = tmp_path_factory.mktemp("edges")
    out = folder / "R"
    assert vaekit("train", "--data", write_series(folder / "m.csv", 120), "--window", "16",
                  "--epochs", "1", "--latent-dim", "2", "--hidden-dims", "8", "--out", out,
                  "--quiet", "--no-report") == 0  # fmt: skip
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_an_array_of_other_channels_than_the_models_is_refused(series_run, tmp_path, capsys):
    """A 1-channel .npy given to a 2-channel model was broadcast against both channels'
    statistics and scored as if both held its values."""
    np.save(tmp_path / "one.npy", np.random.default_rng(0).normal(size=(1, 40, 1)))
    assert vaekit("anomaly", series_run, tmp_path / "one.npy", "-o", tmp_path / "s.csv") != 0
    assert "1 channels, where the model has 2 (cpu, mem)" in capsys.readouterr().err


def test_a_file_given_as_input_of_another_step_is_warned_about(series_run, tmp_path):
    """As `--data` is (test_series): the INPUT form read the file without the warning."""
    lines = _lines(write_series(tmp_path / "s.csv", 60))
    start = np.datetime64("2024-01-01T00:00")
    rows = [f"{str(start + np.timedelta64(i, 'm')).replace('T', ' ')},{line.split(',', 1)[1]}"
            for i, line in enumerate(lines[1:])]  # fmt: skip
    (tmp_path / "fast.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    with pytest.warns(UserWarning, match="one step every 60, where the model was trained on"):
        assert vaekit("anomaly", series_run, tmp_path / "fast.csv", "-o", tmp_path / "a.csv") == 0


def test_a_file_of_one_window_scores_one_step_and_a_shorter_one_is_refused(
    series_run, tmp_path, capsys
):
    lines = _lines(write_series(tmp_path / "all.csv", 40))
    (tmp_path / "w.csv").write_text("\n".join(lines[: 1 + 16]) + "\n")  # the model's window
    assert vaekit("anomaly", series_run, tmp_path / "w.csv", "-o", tmp_path / "a.csv") == 0
    assert len(_lines(tmp_path / "a.csv")) == 1 + 1
    (tmp_path / "short.csv").write_text("\n".join(lines[: 1 + 15]) + "\n")
    assert vaekit("anomaly", series_run, tmp_path / "short.csv", "-o", tmp_path / "b.csv") != 0
    assert "15 steps, fewer than the model's window of 16" in capsys.readouterr().err


def test_the_splits_at_their_boundaries():
    # a test part of one step at least, whatever the fraction
    assert len(series_data.split_ends(100, 8, 1, 0.004)[2]) == 1
    # validation held out as soon as one training window fits before it: 100 rows, a test
    # part of 10; validation max(8, 9) = 9 steps from 81, leaving 81 >= 8 for training
    train, val, test = series_data.split_ends(100, 8, 1, 0.1)
    assert len(val) and train[-1] < val[0] - 7 and val[-1] < test[0]
    # first_val == window: 25 rows, a test part of 9, validation from 16 - 8 = 8
    train, val, _ = series_data.split_ends(25, 8, 1, 0.36)
    assert len(train) == 1 and len(val) == 1
    with pytest.raises(VaekitError, match=r"lower --window or raise --train-part$"):
        series_data.split_ends(100, 80, 1, 0.25)


def test_the_time_column_cannot_be_a_channel_nor_empty(tmp_path, capsys):
    data = write_series(tmp_path / "s.csv", 40)
    assert vaekit("data", "info", data, "--value-columns", "timestamp,cpu") != 0
    assert "--value-columns: 'timestamp' is the time column" in capsys.readouterr().err
    lines = _lines(data)
    lines[5] = "," + lines[5].split(",", 1)[1]
    (tmp_path / "gap.csv").write_text("\n".join(lines) + "\n")
    assert vaekit("data", "info", tmp_path / "gap.csv") != 0
    assert "line 6 has no time ('timestamp')" in capsys.readouterr().err


def test_a_folder_whose_files_name_their_time_column_differently_is_refused(tmp_path, capsys):
    folder = tmp_path / "f"
    folder.mkdir()
    write_series(folder / "a.csv", 40)
    lines = _lines(write_series(tmp_path / "b.csv", 40, seed=1))
    (folder / "b.csv").write_text("\n".join(["date,cpu,mem", *lines[1:]]) + "\n")
    assert vaekit("data", "info", folder) != 0
    assert "has no column 'timestamp'" in capsys.readouterr().err


def test_a_step_a_second_off_is_refused(tmp_path, capsys):
    """One 301 s gap among 300 s steps is an irregular clock, not rounding."""
    lines = _lines(write_series(tmp_path / "s.csv", 40))
    stamp, rest = lines[10].split(",", 1)
    lines[10] = f"{stamp}:01,{rest}"  # 00:45 -> 00:45:01
    (tmp_path / "off.csv").write_text("\n".join(lines) + "\n")
    assert vaekit("data", "info", tmp_path / "off.csv") != 0
    assert "line 11: 301 s after the step before" in capsys.readouterr().err


def test_a_learned_scale_stays_within_its_floor():
    likelihood = SeriesGaussian(2, "global", 1.0)
    with torch.no_grad():
        likelihood.log_std.fill_(-50.0)
    std = likelihood(torch.zeros(1, 1, 2, 8)).std
    assert float(std.min()) == pytest.approx(math.exp(LOG_STD_MIN))


def test_windows_given_in_python_must_be_finite():
    schema = SeriesSchema("t", ("a",), 4, 1, (0.0,), (1.0,), None, "")
    windows = np.zeros((2, 1, 4))
    assert prepare(windows, (1, 1, 4), schema, 1.0).shape == (2, 1, 1, 4)
    windows[0, 0, 1] = np.inf
    with pytest.raises(VaekitError, match="must be finite numbers"):
        prepare(windows, (1, 1, 4), schema, 1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"std": [1.0, 0.0]}, "std must be positive"),
        ({"window": 1}, "window must be an integer, at least 2"),
        ({"stride": 0}, "stride must be an integer"),
        ({"channels": ["a", "a"]}, "channels must be distinct"),
        ({"mean": [0.0]}, "mean must be one finite number per channel"),
        ({"step_seconds": -5}, "step_seconds must be a positive number"),
    ],
)
def test_a_damaged_series_schema_is_refused(change, message):
    record = SeriesSchema("t", ("a", "b"), 8, 1, (0.0, 0.0), (1.0, 2.0), 60.0, "").to_json()
    assert SeriesSchema.from_json(record).window == 8
    with pytest.raises(VaekitError, match=message):
        SeriesSchema.from_json({**record, **change})


def test_an_array_in_memory_trains_as_its_npy_does(tmp_path, capsys):
    """`vaekit.train(array, kind="series")` was refused as "not a .csv/.parquet series file"
    (or, with window=, as no time series at all), where the same array saved as .npy trains."""
    import vaekit

    rng = np.random.default_rng(0)
    array = np.sin(np.arange(200) / 5)[None, :, None] + 0.1 * rng.normal(size=(3, 200, 2))
    np.save(tmp_path / "a.npy", array)
    options = {"kind": "series", "window": 8, "epochs": 1, "latent_dim": 2, "hidden_dims": (8,),
               "progress": False, "report": False}  # fmt: skip
    run = vaekit.train(array, out=tmp_path / "mem", **options)
    saved = vaekit.train(str(tmp_path / "a.npy"), out=tmp_path / "file", **options)
    assert run.config["data"]["source"] == "array" and run.config["data"]["num_series"] == 3
    assert run.config["model"]["schema"]["mean"] == saved.config["model"]["schema"]["mean"]
    with pytest.raises(VaekitError, match="in-memory array: give the data"):
        vaekit.evaluate(run.path, iw_samples=1)
    assert vaekit.evaluate(run.path, data=array, iw_samples=1)["split_size"] > 0


def test_a_dataframe_is_scored_as_its_csv(series_run, tmp_path):
    """A DataFrame given to a series model's methods got a table's hint (encode it by a
    schema a series model lacks); it is read as its CSV would be, every window of it."""
    import pandas

    import vaekit
    from vaekit.api.anomaly import AnomalyDetector

    path = write_series(tmp_path / "new.csv", 40, spike=30)
    model = vaekit.load(series_run)
    frame = pandas.read_csv(path)
    windows = model.prepare(frame)
    assert windows.shape == (40 - 15, 1, 2, 16)
    assert torch.equal(windows, model.prepare(series_data.read_input(str(path), model.schema,
                                                                      model.shape)))  # fmt: skip
    detector = AnomalyDetector(model).fit()
    scores = detector.decision_function(frame)
    assert np.array_equal(scores, detector.decision_function(windows))
    with pytest.raises(VaekitError, match=r"<DataFrame 40x2> has no column 'mem'"):
        model.prepare(frame.drop(columns="mem"))
    # pandas' usual layout, the time as the index, reads alike
    assert torch.equal(model.prepare(frame.set_index("timestamp")), windows)
    with pytest.raises(VaekitError, match=r"text \(a file's path\?\): examples are arrays"):
        detector.decision_function(str(path))


def test_a_missing_input_file_is_named_as_missing(series_run, tmp_path, capsys):
    """It was "neither a test-split index nor a .csv/.parquet series file" for a .csv that
    is not there."""
    code = vaekit("anomaly", series_run, tmp_path / "gone.csv", "-o", tmp_path / "s.csv")
    err = capsys.readouterr().err
    assert code == 1 and "gone.csv: no such file or folder (nor a test-split index)" in err


def test_a_word_among_a_models_values_is_not_answered_with_a_training_option(
    series_run, tmp_path, capsys
):
    """`vaekit anomaly` on a file with a word in a channel said "name its columns with
    --value-columns", an option anomaly does not have (the model's channels are fixed)."""
    rows = write_series(tmp_path / "w.csv", 30).read_text().splitlines()
    rows[12] = rows[12].rsplit(",", 2)[0] + ",high," + rows[12].rsplit(",", 1)[1]
    (tmp_path / "w.csv").write_text("\n".join(rows) + "\n")
    assert vaekit("anomaly", series_run, tmp_path / "w.csv", "-o", tmp_path / "s.csv") == 1
    err = capsys.readouterr().err
    assert "'high' in column 'cpu' is not a number" in err and "--value-columns" not in err
    assert "leave it empty or NA where missing" in err
