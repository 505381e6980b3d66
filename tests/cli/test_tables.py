"""A table through every command a user would try: train, eval, sample, reconstruct,
interpolate, anomaly, embed, report, resume; the image-only commands and bad tables end in
one line."""

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli.test_cli import vaekit
from tests.report.test_report import assert_shown, read_page
from vaekit.data.batches import carve


def write_sensors(path: Path, n: int = 120, seed: int = 0) -> Path:
    """Readings a, b = 2a + noise, c, a status that follows a, a label, 10% of b missing."""
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sensor", "a", "b", "c", "status", "label"])
        for i in range(n):
            a = rng.normal()
            b = "" if rng.random() < 0.1 else f"{2 * a + 0.1 * rng.normal():.3f}"
            status = "high" if a > 0.5 else "low"
            writer.writerow([f"s{i}", f"{a:.3f}", b, f"{rng.normal(100, 5):.2f}", status,
                             "up" if a > 0 else "down"])  # fmt: skip
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def table_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tables")
    data = write_sensors(folder / "sensors.csv")
    out = folder / "run"
    code = vaekit("train", "--data", data, "--target", "label", "--id-column", "sensor",
                  "--epochs", "2", "--latent-dim", "2", "--hidden-dims", "16", "--out", out,
                  "--quiet")  # fmt: skip
    assert code == 0
    return out


def test_train_records_the_schema_and_the_table_defaults(table_run: Path):
    config = json.loads((table_run / "config.json").read_text())
    model = config["model"]
    assert (model["family"], model["likelihood"], model["gaussian_variance"]) == (
        "mlp", "mixed", "global")  # fmt: skip
    assert model["kind"] == "table"
    kinds = [(c["name"], c["kind"]) for c in model["schema"]["columns"]]
    assert kinds == [("a", "numeric"), ("b", "numeric"), ("c", "numeric"),
                     ("status", "categorical")]  # fmt: skip
    assert model["schema"]["classes"] == ["down", "up"]
    assert config["data"]["kind"] == "table" and config["data"]["target"] == "label"
    assert {p.name for p in table_run.iterdir()} >= {"curves.png", "report.html"}
    assert not (table_run / "samples.png").exists()


def test_eval_reports_per_column_errors(table_run: Path, tmp_path: Path, capsys):
    out = tmp_path / "eval.json"
    assert vaekit("eval", table_run, "--iw-samples", "5", "--json", out, "--quiet") == 0
    # what a table's bounds are densities of: standardized values, observed cells
    printed = capsys.readouterr().out
    said = " ".join(printed.split())
    assert "numeric columns as standardized values" in said and "missing cells left out" in said
    report = json.loads(out.read_text())
    columns = {c["name"]: c for c in report["reconstruction"]["columns"]}
    assert set(columns) == {"a", "b", "c", "status"}
    assert columns["c"]["rmse"] > 0 and 0 <= columns["status"]["error_rate"] <= 1
    # Each column counts exactly the test rows where it is present: b is missing in some.
    config = json.loads((table_run / "config.json").read_text())
    split = config["data"]["test_carved"]
    carved = carve(config["data"]["num_rows"], split["fraction"], split["seed"])[1].tolist()
    rows = read_csv(table_run.parent / "sensors.csv")
    present_b = sum(1 for i in carved if rows[i]["b"] != "")
    assert 0 < present_b < len(carved) == report["split_size"]  # the data shows both cases
    assert columns["a"]["observed"] == len(carved)
    assert columns["b"]["observed"] == present_b
    assert report["kind"] == "log-likelihood" and report["not_finite"] == []
    assert "RMSE" in printed
    # The RMSE is in the column's units and the NLL a mean over its observed cells: both
    # recomputed from the posterior-mean reconstructions `reconstruct` writes, and the model.
    made = tmp_path / "r.csv"
    assert vaekit("reconstruct", table_run, "-n", str(len(carved)), "-o", made) == 0
    pairs = [(float(r["c"]), float(r["c_reconstructed"])) for r in read_csv(made)]
    rmse = np.sqrt(np.mean([(a - b) ** 2 for a, b in pairs]))
    assert columns["c"]["rmse"] == pytest.approx(rmse, rel=1e-3)
    from vaekit.api.inputs import Inputs
    from vaekit.api.model import load

    model = load(table_run)
    x = Inputs(model).test.images
    with torch.no_grad():
        per_column = -model.vae.decode(model.vae.posterior_mean(x)).log_prob_per_column(x)
    assert columns["a"]["nll"] == pytest.approx(float(per_column[:, 0].mean()), rel=1e-4)


def test_sample_reconstruct_interpolate_write_csv_in_the_tables_units(table_run, tmp_path):
    assert vaekit("sample", table_run, "-n", "7", "-o", tmp_path / "s.csv") == 0
    samples = read_csv(tmp_path / "s.csv")
    assert len(samples) == 7 and set(samples[0]) == {"a", "b", "c", "status"}
    assert all(row["status"] in ("high", "low") for row in samples)
    assert 80 < np.mean([float(r["c"]) for r in samples]) < 120  # back in the column's units

    assert vaekit("reconstruct", table_run, "-n", "4", "-o", tmp_path / "r.csv") == 0
    recon = read_csv(tmp_path / "r.csv")
    assert len(recon) == 4 and recon[0]["sensor"].startswith("s")
    assert "c_reconstructed" in recon[0]

    code = vaekit("interpolate", table_run, "--from", "0", "--to", "1", "--steps", "3",
                  "-o", tmp_path / "i.csv")  # fmt: skip
    assert code == 0 and len(read_csv(tmp_path / "i.csv")) == 3


def test_anomaly_writes_ids_scores_and_per_column_contributions(table_run, tmp_path):
    new = write_sensors(tmp_path / "new.csv", n=10, seed=5)
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", table_run, new, "-o", out) == 0
    rows = read_csv(out)
    assert [r["sensor"] for r in rows] == [f"s{i}" for i in range(10)]
    # The columns are the score's reconstruction term, from the same draws: the rest of the
    # score (its "kl" column, written as what is left) is the rows' closed-form KL.
    from vaekit.api.model import load
    from vaekit.data.rows import read_table

    model = load(table_run)
    x = torch.from_numpy(model.schema.encode(read_table(new))).float()
    with torch.no_grad():
        kl = model.vae.encode(x.reshape(len(x), 1, 1, -1)).kl_per_dim(model.vae.prior(1)).sum(1)
    for r, expected in zip(rows, kl.tolist(), strict=True):
        parts = [float(r[f"nll_{c}"]) for c in ("a", "b", "c", "status") if r[f"nll_{c}"]]
        assert float(r["score"]) == pytest.approx(sum(parts) + float(r["kl"]), abs=2e-3)
        assert float(r["kl"]) == pytest.approx(expected, abs=2e-3)
    assert not (tmp_path / "scores_errors.png").exists()
    code = vaekit("anomaly", table_run, "-o", out, "--score", "recon", "--normal-labels", "0",
                  "--overwrite")  # fmt: skip
    assert code == 0 and "label" in read_csv(out)[0]


def test_the_printed_columns_say_whether_they_add_up_to_the_score(table_run, tmp_path, capsys):
    """With --score knn, latent or nll the printed columns were called the score's
    contributions, which they are not (a line's sum was up to 10 nats from its score)."""
    for score, adding in (("elbo", True), ("recon", True), ("knn", False), ("nll", False)):
        args = ["-o", tmp_path / f"{score}.csv", "--score", score, "--iw-samples", "4"]
        assert vaekit("anomaly", table_run, *args) == 0
        out = capsys.readouterr().out
        assert ("with the columns that contribute most (nats):" in out) == adding
        assert (f"reconstructs worst (-log p(x_j|z), nats; no parts of the {score}" in out) != (
            adding
        )


def test_new_rows_with_unknown_or_empty_labels_are_taken_without_labels(table_run, tmp_path):
    """New data is often unlabelled or of new classes: a label the run has no class for, or
    an empty one, leaves the file's rows unlabelled with a warning, where the whole file was
    refused by anomaly, reconstruct and embed."""
    new = write_sensors(tmp_path / "new.csv", n=6, seed=5)
    text = new.read_text().splitlines()
    text[6] = text[6].rsplit(",", 1)[0] + ",sideways"
    text[3] = text[3].rsplit(",", 1)[0] + ","
    new.write_text("\n".join(text) + "\n")
    for command in ("anomaly", "reconstruct", "embed"):
        out = tmp_path / f"{command}.csv"
        with pytest.warns(UserWarning, match="the target column 'label' is empty"):
            assert vaekit(command, table_run, new, "-o", out) == 0
        rows = read_csv(out)
        assert [r["sensor"] for r in rows] == [f"s{i}" for i in range(6)]
        assert "label" not in rows[0]
    with pytest.warns(UserWarning):  # and AUROC, which needs labels, says so
        code = vaekit("anomaly", table_run, new, "-o", tmp_path / "x.csv", "--normal-labels", "0")
    assert code != 0


def test_a_new_file_without_the_runs_id_column_is_refused(table_run, tmp_path, capsys):
    """Its rows' numbers were written under the id column's header, as if they were ids."""
    new = write_sensors(tmp_path / "new.csv", n=4, seed=5)
    lines = [line.split(",", 1)[1] for line in new.read_text().splitlines()]
    new.write_text("\n".join(lines) + "\n")
    assert vaekit("anomaly", table_run, new, "-o", tmp_path / "s.csv") != 0
    assert "no column 'sensor', the run's --id-column" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_normal_labels_that_are_no_class_name_the_classes(table_run, tmp_path, capsys):
    code = vaekit("anomaly", table_run, "-o", tmp_path / "s.csv", "--normal-labels", "5")
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.endswith("--normal-labels 5: not a class of the run's (the run's "
                                      "classes by index: 0 down, 1 up)")  # fmt: skip


def test_normal_labels_by_class_name_and_a_missing_file(table_run, tmp_path, capsys):
    """The table's classes by name score as by index; a missing input file was "neither a
    test-split index nor a .csv/.parquet table file" though it is a .csv."""
    for label in ("up", "1"):
        args = ["-o", tmp_path / f"{label}.csv", "--normal-labels", label]
        assert vaekit("anomaly", table_run, *args) == 0
    assert (tmp_path / "up.csv").read_text() == (tmp_path / "1.csv").read_text()
    capsys.readouterr()
    assert vaekit("anomaly", table_run, tmp_path / "gone.csv", "-o", tmp_path / "g.csv") == 1
    assert "gone.csv: no such file (nor a test-split index)" in capsys.readouterr().err


def test_a_column_named_row_keeps_its_header_beside_the_row_numbers(tmp_path):
    data = tmp_path / "seats.csv"
    rng = np.random.default_rng(0)
    data.write_text("row,price\n" + "".join(f"{rng.integers(1, 20)},{rng.normal(50, 5):.2f}\n"
                                             for _ in range(40)))  # fmt: skip
    run = tmp_path / "run"
    assert vaekit("train", "--data", data, "--epochs", "1", "--latent-dim", "2", "--hidden-dims",
                  "8", "--out", run, "--quiet", "--no-report") == 0  # fmt: skip
    assert vaekit("reconstruct", run, "-n", "2", "-o", tmp_path / "r.csv") == 0
    header = (tmp_path / "r.csv").read_text().splitlines()[0]
    assert header == "row_number,row,row_reconstructed,price,price_reconstructed"


def test_rows_of_several_files_are_named_by_their_file(table_run, tmp_path):
    """Each file's rows have the same ids (the row number, or an id column's values): given
    several, a row is FILE[ID], as an image file's images are; one file keeps its ids."""
    one = write_sensors(tmp_path / "one.csv", n=3, seed=5)
    two = write_sensors(tmp_path / "two.csv", n=2, seed=6)
    for command, out in (("anomaly", tmp_path / "s.csv"), ("embed", tmp_path / "z.csv")):
        assert vaekit(command, table_run, one, two, "-o", out) == 0
        names = [r["sensor"] for r in read_csv(out)]
        assert names == [f"{one}[s{i}]" for i in range(3)] + [f"{two}[s{i}]" for i in range(2)]
    assert vaekit("anomaly", table_run, one, "-o", tmp_path / "single.csv") == 0
    assert [r["sensor"] for r in read_csv(tmp_path / "single.csv")] == ["s0", "s1", "s2"]


def test_embed_writes_ids_and_class_names(table_run, tmp_path):
    out = tmp_path / "z.csv"
    assert vaekit("embed", table_run, "-o", out) == 0
    rows = read_csv(out)
    assert set(rows[0]) == {"sensor", "mean_0", "mean_1", "label"}
    assert {r["label"] for r in rows} <= {"up", "down"}


def test_report_and_resume(table_run, tmp_path):
    assert vaekit("report", table_run) == 0
    page = read_page(table_run / "report.html")
    assert_shown(page, "samples", "reconstructions", "latent-map", "kl-per-latent-dimension")
    assert "latent-traversal" not in page.sections  # a table's rows are no pictures to walk
    assert vaekit("train", "--out", table_run, "--resume", "--epochs", "3", "--quiet") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["denoise", "{run}"], "denoise works on images"),
        (["traverse", "{run}"], "traverse works on images"),
        (["anomaly", "{run}", "--score", "complexity", "-o", "{tmp}/x.csv"], "for a table use"),
        (["sample", "{run}", "-o", "{tmp}/x.png"], "expected a .csv file name"),
        (["train", "--data", "digits", "--target", "y", "--out", "{tmp}/r"], "is for tables"),
        (
            ["train", "--data", "{tmp}/t.csv", "--model", "conv", "--out", "{tmp}/r"],
            "tables take --model mlp",
        ),
        (["train", "--data", "{tmp}/t.csv", "--binarize", "--out", "{tmp}/r"], "is for images"),
        (["train", "--data", "{tmp}/bad.csv", "--out", "{tmp}/r"], "line 3 has 1 fields"),
        (
            ["train", "--data", "{tmp}/t.csv", "--columns", "a,nope", "--out", "{tmp}/r"],
            "has no column 'nope'",
        ),
        (
            ["train", "--data", "{tmp}/t.csv", "--target", "c", "--out", "{tmp}/r"],
            "--target 'c' does not look like a class label: its values are continuous",
        ),
    ],
)
def test_mistakes_are_one_line(table_run, tmp_path, capsys, args, message):
    write_sensors(tmp_path / "t.csv", n=20)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3\n")
    filled = [a.format(run=table_run, tmp=tmp_path) for a in args]
    assert vaekit(*filled) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("vaekit: error:") and "\n" not in err and message in err
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "r").exists()


def test_a_measurement_as_target_needs_confirming(tmp_path, capsys):
    data = write_sensors(tmp_path / "t.csv", n=30)
    named = ("--id-column", "sensor", "--target", "c")
    assert vaekit("data", "info", data, *named) == 1
    assert "give --target-is-label if it is one" in capsys.readouterr().err
    assert vaekit("data", "info", data, *named, "--target-is-label") == 0
    assert "classes" in capsys.readouterr().out
    out = tmp_path / "r"
    code = vaekit("train", "--data", data, *named, "--target-is-label", "--epochs", "1",
                  "--latent-dim", "2", "--hidden-dims", "8", "--no-report", "--out", out,
                  "--quiet")  # fmt: skip
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["kind"] == "table"
    assert len(config["model"]["schema"]["classes"]) == 30


def test_data_info_describes_a_table(tmp_path, capsys):
    data = write_sensors(tmp_path / "t.csv", n=30)
    assert vaekit("data", "info", data, "--id-column", "sensor", "--target", "label") == 0
    out = capsys.readouterr().out
    assert "status               categorical  2 categories: high, low" in out
    assert "classes down, up" in out


def test_a_value_far_beyond_the_training_rows_is_blamed_on_its_column(table_run, tmp_path, capsys):
    """A reading of 1e25 (its square overflows the model's float32): it is taken as
    STANDARDIZED_MAX standard deviations away, so its row scores a finite, enormous score
    whose largest part is its column's, with a finite KL, where every column scored inf and
    the KL was NaN (then written empty)."""
    new = tmp_path / "huge.csv"
    new.write_text("sensor,a,b,c,status,label\nx1,1e25,0.5,100,low,up\nx2,0.1,0.2,100,low,up\n")
    out = tmp_path / "scores.csv"
    assert vaekit("anomaly", table_run, new, "-o", out) == 0
    assert "warning" not in capsys.readouterr().err
    rows = read_csv(out)
    parts = {c: float(rows[0][f"nll_{c}"]) for c in ("a", "b", "c", "status")}
    assert all(np.isfinite(v) for v in parts.values()) and max(parts, key=parts.get) == "a"
    assert parts["a"] > 1e6 and np.isfinite(float(rows[0]["kl"]))
    assert float(rows[0]["score"]) > 1e3 * float(rows[1]["score"])
    assert float(rows[1]["kl"]) >= 0 and "nan" not in out.read_text()
    # The rows keep the value; the model reads it STANDARDIZED_MAX away, on either side.
    from vaekit.api.model import load
    from vaekit.data.rows import read_table
    from vaekit.models.likelihoods import STANDARDIZED_MAX

    new.write_text("sensor,a,b,c,status,label\nx1,1e25,-1e25,100,low,up\n")
    model = load(table_run)
    x = torch.from_numpy(model.schema.encode(read_table(new))).float()
    assert x[0, 0] > 1e24
    numbers, _, _ = model.vae.likelihood.layout.split(x.reshape(1, 1, 1, -1))
    assert numbers[0, :2].tolist() == [STANDARDIZED_MAX, -STANDARDIZED_MAX]


def test_values_merged_by_an_extreme_spread_are_warned_about(tmp_path):
    """One price of 5e9 among prices of 10-20: standardized in float32 by a deviation of
    3.7e8, the others became a handful of numbers (17.41, 18.83 and 19.31 one), without a
    word; the model cannot tell them apart, and the user is told why."""
    rng = np.random.default_rng(9)
    prices = rng.uniform(10, 20, 200).round(2)
    prices[50] = 5e9
    data = tmp_path / "p.csv"
    data.write_text("price,qty\n" + "".join(f"{p},{i}\n" for i, p in enumerate(prices)))
    with pytest.warns(UserWarning, match=r"column 'price': its \d+ distinct values are \d+ once"):
        assert vaekit("data", "info", data) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a table of ordinary spread: no warning
        assert (
            vaekit("data", "info", write_sensors(tmp_path / "s.csv"), "--id-column", "sensor") == 0
        )
