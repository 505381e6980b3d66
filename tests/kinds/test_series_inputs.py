"""The series kind's other sources: a folder of series files (one series each) and a .npy
array (series, time, channels) read with --kind series, end to end with small generated series
and tiny models; and --kind's refusals of a source that is not of the kind it names."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.cli.test_cli import vaekit
from tests.kinds.test_series import write_series
from vaekit.api.options import data_kind
from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.kinds.base import recognize_source
from vaekit.kinds.series import data as series_data

TINY = ("--latent-dim", "2", "--hidden-dims", "16", "--no-report", "--quiet")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_counting(folder: Path, lengths: tuple[int, ...]) -> Path:
    """A folder of series whose value says where it is: file i's step t holds 1000 i + t, so a
    window crossing two files would show as a jump inside it."""
    folder.mkdir()
    for i, n in enumerate(lengths):
        rows = "".join(f"{t},{1000 * i + t},{-t}\n" for t in range(n))
        (folder / f"f{i}.csv").write_text("time,level,down\n" + rows)
    return folder


def units(dataset, part) -> np.ndarray:
    """A split's windows (N, W, C) in the data's units."""
    values = part.images.double().numpy()[:, 0].transpose(0, 2, 1)
    return dataset.schema.unstandardize(values)


# --- a folder of series ------------------------------------------------------------------


def test_no_window_of_a_folder_crosses_two_of_its_files(tmp_path: Path):
    folder = write_counting(tmp_path / "series", (60, 90, 75))
    assert recognize_source(folder).name == "series-folder"
    options = {"window": 8, "stride": 2, "train_part": 0.6}
    dataset = open_dataset(folder, options=options)
    assert dataset.kind == "series" and dataset.info["num_series"] == 3
    for part in (dataset.train, dataset.val, dataset.test):
        level = units(dataset, part)[..., 0]
        assert np.allclose(np.diff(level, axis=1), 1, atol=0.01)  # steps of one file
        assert (np.round(level[:, 0] / 1000) == np.round(level[:, -1] / 1000)).all()
    # each file split as a series of its own: the windows are the sum of theirs
    ends = [series_data.split_ends(n, 8, 2, 1 - 0.6) for n in (60, 90, 75)]
    assert len(dataset.train) == sum(len(e[0]) for e in ends)
    assert len(dataset.test) == sum(len(e[2]) for e in ends)
    # the statistics come from every file's training part (the steps before its test part)
    trained = np.concatenate([1000 * i + np.arange(e[2][0]) for i, e in enumerate(ends)])
    assert np.isclose(dataset.schema.mean[0], trained.mean())
    assert np.isclose(dataset.schema.std[0], trained.std())
    test_ids = dataset.test.ids
    assert test_ids[0] == "f0.csv 36" and test_ids[0].series == "f0.csv"  # 60 - 24: its own


def test_a_folder_of_images_or_with_other_files_is_no_folder_of_series(tmp_path: Path):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(images / "a.png")
    assert recognize_source(images).name == "folder"
    mixed = write_counting(tmp_path / "mixed", (20,))
    (mixed / "notes.png").write_bytes(b"")
    assert recognize_source(mixed).name == "folder"
    tables = tmp_path / "tables"  # tables only, no time column: no series
    tables.mkdir()
    (tables / "t.csv").write_text("a,b\n1,2\n")
    assert recognize_source(tables).name == "folder"


def test_a_folder_of_series_with_another_file_names_it(tmp_path: Path, capsys):
    """A README.txt among the series: with --window, "is not one" said no more; with --kind
    series, "not a .csv/.parquet series file ..., a folder of them" named no file."""
    mixed = write_counting(tmp_path / "mixed", (40, 40))
    (mixed / "README.txt").write_text("sensors of the west hall\n")
    assert vaekit("data", "info", mixed, "--window", "8") == 1
    assert "(it holds README.txt beside its series files" in capsys.readouterr().err
    assert vaekit("data", "info", mixed, "--window", "8", "--kind", "series") == 1
    assert "README.txt: a folder of series holds only .csv/.parquet files" in (
        capsys.readouterr().err
    )


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("series_folder")
    folder = root / "metrics"
    folder.mkdir()
    for i in range(3):
        write_series(folder / f"host{i}.csv", 120, seed=i)
    out = root / "R"
    assert vaekit("train", "--data", folder, "--window", "16", "--train-part", "0.7",
                  "--epochs", "2", *TINY, "--out", out) == 0  # fmt: skip
    return out


def test_train_eval_and_anomaly_on_a_folder_of_series(folder_run: Path, tmp_path: Path, capsys):
    config = json.loads((folder_run / "config.json").read_text())
    assert config["data"]["num_series"] == 3 and config["data"]["format"] == "folder"
    assert config["data"]["num_test"] == 3 * (120 - round(120 * 0.7))
    assert vaekit("eval", folder_run) == 0
    assert "reconstruction, per channel" in capsys.readouterr().out
    assert vaekit("anomaly", folder_run) == 0  # the run's own test parts, a file each
    rows = read_csv(folder_run / "outputs" / "anomaly" / "scores.csv")
    assert list(rows[0])[:2] == ["series", "timestamp"]
    assert [r["series"] for r in rows] == [f"host{i}.csv" for i in range(3) for _ in range(36)]
    first = [r["timestamp"] for r in rows[::36]]
    assert first == ["2024-01-01 07:00"] * 3  # step 84 of each file: its own test part
    # embed and reconstruct name each window as anomaly does: its series, then its time
    # (they wrote "host0.csv 2024-01-01 07:00" in the time column)
    assert vaekit("embed", folder_run, "-o", tmp_path / "e.csv") == 0
    embedded = read_csv(tmp_path / "e.csv")
    assert [(r["series"], r["timestamp"]) for r in embedded] == [
        (r["series"], r["timestamp"]) for r in rows
    ]
    assert vaekit("reconstruct", folder_run, "0", "-o", tmp_path / "r.csv") == 0
    made = read_csv(tmp_path / "r.csv")
    assert list(made[0])[:3] == ["series", "window", "step"]
    assert (made[0]["series"], made[0]["window"]) == ("host0.csv", "2024-01-01 07:00")


def test_anomaly_scores_each_file_of_a_folder_from_its_own_first_window(
    folder_run: Path, tmp_path: Path
):
    other = tmp_path / "other"
    other.mkdir()
    write_series(other / "a.csv", 40, seed=7)
    write_series(other / "b.csv", 50, spike=45, seed=8)
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", folder_run, "--data", other, "-o", out) == 0
    rows = read_csv(out)
    names = [r["series"] for r in rows]
    assert names == ["a.csv"] * (40 - 15) + ["b.csv"] * (50 - 15)
    # a window crossing from a.csv into b.csv would score b.csv's steps before its 16th
    assert rows[40 - 15]["timestamp"] == "2024-01-01 01:15"
    single = write_series(tmp_path / "one.csv", 40, seed=9)
    assert vaekit("anomaly", folder_run, "--data", single, "-o", tmp_path / "one.out.csv") == 0
    assert next(iter(read_csv(tmp_path / "one.out.csv")[0])) == "timestamp"  # one series


def test_input_files_of_one_name_are_told_apart_by_their_paths(tmp_path: Path, capsys):
    """d1/data.csv and d2/data.csv: the CSV had no series column (both were "data.csv") and
    every time twice; the same file given twice, alike."""
    data = write_series(tmp_path / "train.csv", 120)
    run = tmp_path / "R"
    assert vaekit("train", "--data", data, "--window", "8", "--epochs", "1", *TINY,
                  "--out", run) == 0  # fmt: skip
    for i in (1, 2):
        (tmp_path / f"d{i}").mkdir()
        write_series(tmp_path / f"d{i}" / "data.csv", 30, seed=i)
    a, b = str(tmp_path / "d1" / "data.csv"), str(tmp_path / "d2" / "data.csv")
    capsys.readouterr()
    assert vaekit("anomaly", run, a, b, "-o", tmp_path / "scores.csv", "--top", "3") == 0
    assert [r["series"] for r in read_csv(tmp_path / "scores.csv")] == [a] * 23 + [b] * 23
    top = [line for line in capsys.readouterr().out.splitlines() if "  score " in line]
    assert len(top) == 3 and all(line.split()[0] in (a, b) for line in top), top
    assert vaekit("anomaly", run, a, a, "-o", tmp_path / "twice.csv") == 1
    assert f"{a}: given twice" in capsys.readouterr().err


def test_a_run_trained_on_one_file_scores_a_folder(tmp_path: Path):
    data = write_series(tmp_path / "train.csv", 120)
    run = tmp_path / "R"
    assert vaekit("train", "--data", data, "--window", "8", "--epochs", "1", *TINY,
                  "--out", run) == 0  # fmt: skip
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(2):
        write_series(folder / f"n{i}.csv", 30, seed=i + 3)
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", run, "--data", folder, "-o", out) == 0
    rows = read_csv(out)
    assert [r["series"] for r in rows] == ["n0.csv"] * 23 + ["n1.csv"] * 23
    assert vaekit("anomaly", run, folder, "-o", tmp_path / "inputs.csv") == 0  # as INPUT
    given = read_csv(tmp_path / "inputs.csv")
    assert [(r["series"], r["timestamp"]) for r in given] == [
        (r["series"], r["timestamp"]) for r in rows
    ]


def test_a_folder_whose_files_have_other_columns_is_refused_in_one_line(tmp_path: Path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_series(folder / "a.csv", 40)
    (folder / "b.csv").write_text("timestamp,cpu,disk\n" + "".join(
        f"{t},{t},{t}\n" for t in range(40)))  # fmt: skip
    assert vaekit("train", "--data", folder, "--epochs", "1", "--out", tmp_path / "R") != 0
    err = capsys.readouterr().err.strip()
    assert "b.csv: its value columns cpu, disk are not those of a.csv (cpu, mem)" in err
    assert len(err.splitlines()) == 1
    # every 5 minutes beside hourly: refused (both were read as 5-minute steps)
    (folder / "b.csv").write_text("timestamp,cpu,mem\n" + "".join(
        f"2024-01-01 {h:02d}:00,{h},{h}\n" for h in range(24)))  # fmt: skip
    assert vaekit("data", "info", folder, "--window", "8") != 0
    err = capsys.readouterr().err.strip()
    assert "b.csv: one step every 3600, where a.csv steps by 300" in err
    assert len(err.splitlines()) == 1


# --- a .npy array of series --------------------------------------------------------------


def wave_array(count: int, steps: int, seed: int = 0) -> np.ndarray:
    """(count, steps, 2): a daily wave and its shifted double, with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    base = np.stack([np.sin(2 * np.pi * t / 24), 2 * np.cos(2 * np.pi * t / 24) + 5], axis=1)
    return base[None] + 0.05 * rng.standard_normal((count, steps, 2))


def test_a_npy_of_series_trains_scores_and_resumes_with_kind_series(tmp_path: Path, capsys):
    array = wave_array(3, 80)
    array[1, 10, 0] = np.nan  # missing
    np.save(tmp_path / "s.npy", array)
    run = tmp_path / "R"
    args = ("--data", tmp_path / "s.npy", "--kind", "series", "--window", "8", *TINY,
            "--out", run)  # fmt: skip
    assert vaekit("train", *args, "--epochs", "1") == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["kind"] == "series" and config["data"]["kind"] == "series"
    schema = config["model"]["schema"]
    assert schema["channels"] == ["channel_0", "channel_1"] and schema["time_column"] == "step"
    assert config["data"]["missing_values"] == 1 and config["data"]["num_series"] == 3
    assert vaekit("train", *args, "--epochs", "2", "--resume") == 0  # reopened alike
    assert vaekit("eval", run) == 0
    assert vaekit("anomaly", run, "-o", tmp_path / "own.csv") == 0
    own = read_csv(tmp_path / "own.csv")
    assert list(own[0])[:2] == ["series", "step"] and own[0]["series"] == "0"
    assert {r["series"] for r in own} == {"0", "1", "2"} and own[0]["step"] == "72"
    np.save(tmp_path / "new.npy", wave_array(1, 40, seed=5)[0])  # (time, channels): one
    for i, how in enumerate((("--data", tmp_path / "new.npy"), (tmp_path / "new.npy",))):
        assert vaekit("anomaly", run, *how, "-o", tmp_path / f"new{i}.csv") == 0
        rows = read_csv(tmp_path / f"new{i}.csv")
        assert len(rows) == 40 - 7 and next(iter(rows[0])) == "step" and rows[0]["step"] == "7"
    # A CSV of other columns: the model's, not an option never given, is what it lacks.
    other = write_series(tmp_path / "other.csv", 40)
    assert vaekit("anomaly", run, other, "-o", tmp_path / "o.csv") == 1
    assert capsys.readouterr().err.endswith(
        f"error: the model's time column: {other} has no column 'step' (its columns: "
        "timestamp, cpu, mem)\n"
    )


def test_a_npy_and_a_csv_of_the_same_series_read_alike_missing_values_included(tmp_path: Path):
    path = write_series(tmp_path / "s.csv", 60, missing=20)
    values = series_data.read_series(path).values  # NaN where the file's cell is empty
    np.save(tmp_path / "s.npy", values)
    options = {"window": 8}
    from_csv = open_dataset(path, options=options)
    from_npy = open_dataset(tmp_path / "s.npy", options=options, of_kind="series")
    assert from_npy.schema.mean == from_csv.schema.mean
    assert from_npy.schema.std == from_csv.schema.std
    assert from_npy.info["missing_values"] == from_csv.info["missing_values"] == 1
    for split in ("train", "test"):
        x, y = getattr(from_npy, split).images, getattr(from_csv, split).images
        assert torch.isnan(x).sum() == torch.isnan(y).sum()
        assert torch.allclose(x, y, equal_nan=True)
    assert torch.isnan(from_npy.train.images).any()  # step 20 is in training windows
    values[30, 0] = np.inf  # an infinity is missing, as "inf" in a file is
    np.save(tmp_path / "inf.npy", values)
    from_inf = open_dataset(tmp_path / "inf.npy", options=options, of_kind="series")
    assert from_inf.info["missing_values"] == 2 and not torch.isinf(from_inf.train.images).any()


def test_kind_image_keeps_a_3d_npy_as_images(tmp_path: Path):
    np.save(tmp_path / "x.npy", np.zeros((10, 6, 6), np.uint8))
    assert recognize_source(tmp_path / "x.npy").name == "array-file"
    assert recognize_source(tmp_path / "x.npy", "series").name == "series-array"
    assert data_kind(tmp_path / "x.npy", "image").name == "image"
    dataset = open_dataset(tmp_path / "x.npy", of_kind="image")
    assert dataset.kind == "image" and dataset.train.shape == (1, 6, 6)
    as_series = open_dataset(tmp_path / "x.npy", options={"window": 4}, of_kind="series")
    assert as_series.kind == "series" and as_series.info["num_series"] == 10


@pytest.mark.parametrize("shape", [(2, 3, 8, 2), (40,)])
def test_a_npy_of_the_wrong_rank_is_refused_in_one_line(tmp_path: Path, shape, capsys):
    np.save(tmp_path / "x.npy", np.zeros(shape))
    code = vaekit("train", "--data", tmp_path / "x.npy", "--kind", "series", "--out",
                  tmp_path / "R")  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert f"an array of shape {shape}; a .npy of series is (series, time, channels)" in err


def test_a_source_not_of_the_kind_named_is_refused_naming_what_it_reads(tmp_path: Path, capsys):
    images = tmp_path / "pngs"
    images.mkdir()
    for i in range(4):
        Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(images / f"{i}.png")
    assert vaekit("train", "--data", images, "--kind", "series", "--out", tmp_path / "a") != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a .csv/.parquet series file" in err
    assert "a .npy array (series, time, channels), which is what --kind series reads" in err
    assert vaekit("train", "--data", images, "--kind", "table", "--out", tmp_path / "b") != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a table, which is what --kind table reads" in err
    assert vaekit("train", "--data", images, "--kind", "nope", "--out", tmp_path / "c") != 0
    assert "series" in capsys.readouterr().err  # the choices, from the registry
    with pytest.raises(VaekitError, match=r"gone\.npy: no such file or folder"):
        open_dataset(tmp_path / "gone.npy", of_kind="series")


def test_a_npy_of_series_read_as_images_says_which_kind_would_take_it(tmp_path: Path):
    """A 3-D .npy is images unless --kind says otherwise; where it fails as images, the one
    line says which other kind could read it."""
    path = tmp_path / "metrics.npy"
    np.save(path, np.random.default_rng(0).normal(size=(2, 40, 3)).astype(np.float32))
    with pytest.raises(VaekitError) as err:
        open_dataset(str(path))
    message = str(err.value)
    assert "\n" not in message
    assert message.endswith("(read as images; if it holds another kind of data, say --kind series)")
    assert open_dataset(str(path), of_kind="series").kind == "series"


def test_a_value_beyond_float32_is_refused_with_its_line(tmp_path: Path, capsys):
    path = tmp_path / "s.csv"
    rows = [f"2024-01-01 00:{i:02d},{'1e300' if i == 7 else i % 5}" for i in range(40)]
    path.write_text("time,cpu\n" + "\n".join(rows) + "\n")
    assert vaekit("data", "info", path) == 1
    err = capsys.readouterr().err
    assert f"{path}: line 9: '1e300' in column 'cpu' is beyond +-3.4e38" in err, err
    np.save(tmp_path / "s.npy", np.full((2, 30, 1), 1e300))
    assert vaekit("data", "info", tmp_path / "s.npy", "--kind", "series") == 1
    assert "s.npy: series 0 holds values beyond +-3.4e38" in capsys.readouterr().err


def test_a_dataframe_of_a_series_reads_as_its_csv(tmp_path: Path):
    """The README says a DataFrame is read as `df.to_csv(index=False)` would be: a frame whose
    first column is a time was read as a table and refused (the times an identifier)."""
    import vaekit

    pandas = pytest.importorskip("pandas")
    path = write_series(tmp_path / "s.csv", 80, missing=20)
    frame = pandas.read_csv(path)
    options = {"window": 8}
    from_csv = open_dataset(path, options=options)
    from_frame = open_dataset(frame, options=options)
    assert from_frame.kind == "series" and from_frame.info["name"] == "<DataFrame 80x3>"
    assert from_frame.info["source"] == "object"
    assert from_frame.info["sha256"] == from_csv.info["sha256"]
    for split in ("train", "test"):
        x, y = getattr(from_frame, split).images, getattr(from_csv, split).images
        assert torch.allclose(x, y, equal_nan=True)
    # Its time in another column: --kind series with --time-column, as for the file.
    moved = frame[["cpu", "timestamp", "mem"]]
    named = open_dataset(moved, options={**options, "time_column": "timestamp"}, of_kind="series")
    assert named.schema.channels == ("cpu", "mem")
    # A frame that is no series, given a series option: named by its type, not printed whole.
    with pytest.raises(VaekitError) as refused:
        vaekit.train(data=moved, window=8, out=tmp_path / "r", progress=False)
    assert "and this DataFrame is not one" in str(refused.value)
    assert len(str(refused.value)) < 400
    # A table whose first column is named "time" (a survival table's) fails as a series: the
    # remedy for an object is kind= (vaekit.train's), not --kind.
    survival = pandas.DataFrame({"time": [5, 3, 9, 1] * 10, "age": range(40)})
    with pytest.raises(VaekitError, match=r"give irregular='keep' to .* say kind='table'\)$"):
        vaekit.train(data=survival, out=tmp_path / "s", progress=False)
    assert vaekit.train(data=survival, kind="table", epochs=1, out=tmp_path / "s",
                        progress=False, report=False).config["data"]["kind"] == "table"  # fmt: skip


@pytest.mark.parametrize("stride", [1, 3])
def test_windows_are_a_view_of_the_series_holding_each_value_once(tmp_path: Path, stride: int):
    """Every window copied took window-times the series' memory (a long series at --window
    128 ran out of it); the windows are a view of the standardized series, and equal the
    steps they name."""
    path = write_series(tmp_path / "s.csv", n=400)
    data = open_dataset(path, options={"window": 32, "stride": stride})
    x = data.train.images  # (N, 1, C, W)
    assert x.untyped_storage().nbytes() <= 400 * 2 * 4  # the series, not N * W * C values
    rows = np.genfromtxt(path, delimiter=",", names=True)
    cpu = (rows["cpu"] - data.schema.mean[0]) / data.schema.std[0]
    for i in (0, 1, len(x) - 1):  # window i ends at step 31 + i * stride
        end = 31 + i * stride
        np.testing.assert_allclose(x[i, 0, 0].numpy(), cpu[end - 31 : end + 1], rtol=1e-5)
    batch = data.train.scaled(torch.tensor([0, len(x) - 1]))  # a batch is its own copy
    assert batch.is_contiguous() and batch.shape == (2, 1, 2, 32)


def test_a_channel_varying_only_between_window_ends_is_not_called_constant(tmp_path: Path):
    """data info's "constant" reads every training value, not only the windows' last steps
    (with --window 2 --stride 2 those are the odd steps, here all at the channel's mean)."""
    path = tmp_path / "alt.csv"

    def write(values: list[float]) -> None:
        when = [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00" for i in range(len(values))]
        rows = "".join(f"{t},{v}\n" for t, v in zip(when, values, strict=True))
        path.write_text("timestamp,a\n" + rows)

    write([0.0] * 120)
    options = {"window": 2, "stride": 2}
    rows = len(open_dataset(path, options=options).train) * 2 + 2  # the training steps, about
    # +1, -1 at even steps 2, 4, ... within the training part (its mean 0), 0 elsewhere
    even = [i for i in range(2, rows - 2, 2)][: (rows - 4) // 4 * 2]
    values = [0.0] * 120
    for k, i in enumerate(even):
        values[i] = 1.0 if k % 2 == 0 else -1.0
    write(values)
    data = open_dataset(path, options=options)
    assert data.schema.mean[0] == 0.0 and data.schema.std[0] > 0.5
    (stats,) = series_data.describe(data)["statistics"]
    assert stats["std"] == data.schema.std[0]  # not "0: constant"
