"""Tables: reading CSV and Parquet, the column schema (standardize -> un-standardize round
trip, JSON round trip), and bad tables refused in one line naming the fault."""

import re
from pathlib import Path

import numpy as np
import pytest

from vaekit.data.datasets import open_dataset
from vaekit.data.rows import read_table
from vaekit.errors import VaekitError
from vaekit.kinds.table.data_schema import TableSchema, fit_schema

SENSORS = """id,temp,pressure,status,label
a,1.5,10,ok,x
b,2.5,,ok,x
c,NA,12,bad,y
d,3.0,13,ok,x
e,2.0,11,warn,y
f,4.0,9,ok,x
"""


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_kinds_statistics_and_missing_values(tmp_path: Path):
    table = read_table(write(tmp_path, SENSORS))
    schema = fit_schema(table, np.arange(6), target="label", id_column="id")
    assert schema.names == ["temp", "pressure", "status"]
    temp, _, status = schema.columns
    assert temp.kind == "numeric" and status.kind == "categorical"
    assert temp.mean == pytest.approx(np.mean([1.5, 2.5, 3.0, 2.0, 4.0]))
    assert temp.std == pytest.approx(np.std([1.5, 2.5, 3.0, 2.0, 4.0]))
    assert status.categories == ("bad", "ok", "warn")
    values = schema.encode(table)
    assert np.isnan(values[1, 1]) and np.isnan(values[2, 0])  # the two missing cells
    assert values[4, 2] == 2  # warn
    assert schema.labels(table).tolist() == [0, 0, 1, 0, 1, 0]
    assert schema.ids(table) == list("abcdef")
    # As the README shows it: a path given as a string reads the same table.
    again = schema.encode(read_table(str(write(tmp_path, SENSORS))))
    assert np.array_equal(again, values, equal_nan=True)


def test_statistics_come_from_the_training_rows_only(tmp_path: Path):
    table = read_table(write(tmp_path, SENSORS))
    schema = fit_schema(table, np.array([0, 1]), columns=["temp"])
    assert schema.columns[0].mean == pytest.approx(2.0)
    assert schema.columns[0].std == pytest.approx(0.5)


def test_standardize_then_unstandardize_gives_the_table_back(tmp_path: Path):
    rng = np.random.default_rng(0)
    rows = [f"{v:.6g},{rng.choice(['p', 'q'])}" for v in rng.normal(500, 30, 40)]
    table = read_table(write(tmp_path, "v,c\n" + "\n".join(rows) + "\n"))
    schema = fit_schema(table, np.arange(40))
    values = schema.encode(table)
    assert abs(values[:, 0].mean()) < 1e-5 and values[:, 0].std() == pytest.approx(1, abs=1e-5)
    decoded = schema.decode(values)
    for original, back in zip(rows, decoded, strict=True):
        number, category = original.split(",")
        assert float(back[0]) == pytest.approx(float(number), rel=1e-5)
        assert back[1] == category


def test_schema_json_round_trip_and_checks(tmp_path: Path):
    table = read_table(write(tmp_path, SENSORS))
    schema = fit_schema(table, np.arange(6), target="label", id_column="id")
    assert TableSchema.from_json(schema.to_json()) == schema
    broken = schema.to_json()
    broken["columns"][0]["std"] = -0.5
    with pytest.raises(VaekitError, match="std not negative"):
        TableSchema.from_json(broken)
    broken = schema.to_json()
    broken["columns"][2]["kind"] = "code"
    with pytest.raises(VaekitError, match="kind must be"):
        TableSchema.from_json(broken)


def test_a_dataset_carves_its_test_split_and_keeps_row_ids(tmp_path: Path):
    dataset = open_dataset(write(tmp_path, SENSORS), target="label", id_column="id",
                           test_fraction=0.34)  # fmt: skip
    assert dataset.shape == (1, 1, 3) and dataset.info["kind"] == "table"
    assert len(dataset.train) + len(dataset.test) == 6
    assert sorted(dataset.train.ids + dataset.test.ids) == list("abcdef")
    assert dataset.info["classes"] == ["x", "y"]


def test_an_id_column_that_repeats_a_value_is_warned_about(tmp_path: Path):
    text = SENSORS.replace("\nd,", "\na,")  # row d takes row a's id
    with pytest.warns(UserWarning, match="--id-column 'id' repeats 1 value\\(s\\), 'a' first"):
        open_dataset(write(tmp_path, text), target="label", id_column="id", test_fraction=0.34)


def test_a_target_that_is_no_label_is_refused_unless_confirmed(tmp_path: Path):
    rng = np.random.default_rng(0)
    rows = [f"{rng.normal():.4f},{i % 3},{i},{i % 20}" for i in range(300)]
    table = read_table(write(tmp_path, "x,grade,count,bin\n" + "\n".join(rows) + "\n"))
    rows_used = np.arange(300)
    with pytest.raises(VaekitError) as err:
        fit_schema(table, rows_used, target="x")
    assert str(err.value).startswith("--target 'x' does not look like a class label: its "
                                     "values are continuous numbers (such as ")  # fmt: skip
    assert str(err.value).endswith("give --target-is-label if it is one")
    with pytest.raises(VaekitError, match=r"'count' .*: 300 classes in 300 rows, more than 5%"):
        fit_schema(table, rows_used, target="count")
    assert fit_schema(table, rows_used, target="grade").classes == ("0", "1", "2")
    # 20 classes pass however few the rows: a small table may hold a real many-class label.
    small = read_table(write(tmp_path, "v,bin\n" + "".join(f"{i},{i % 20}\n" for i in range(40))))
    assert len(fit_schema(small, np.arange(40), target="bin").classes) == 20
    confirmed = fit_schema(table, rows_used, target="x", target_is_label=True)
    assert len(confirmed.classes) > 250  # a measurement: nearly every row its own class


def test_parquet_reads_like_csv(tmp_path: Path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"temp": [1.5, None, 3.0, 2.0], "status": ["ok", "bad", None, "ok"]}), str(path)
    )
    csv = write(tmp_path, "temp,status\n1.5,ok\n,bad\n3.0,\n2.0,ok\n")
    a = fit_schema(read_table(path), np.arange(4))
    b = fit_schema(read_table(csv), np.arange(4))
    assert a == b
    np.testing.assert_array_equal(a.encode(read_table(path)), b.encode(read_table(csv)))


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("", {}, "an empty file"),
        ("a,b\n", {}, "no rows below the header"),
        ("a,b\n1,2\n3\n4,5\n", {}, "line 3 has 1 fields, the header 2"),
        ("a,b\n1,2\n3,4\n5,6\n", {"columns": ("a", "zz")}, "has no column 'zz'"),
        ("a,b\n1,2\n3,4\n5,6\n", {"target": "y"}, "--target: .* has no column 'y'"),
        (
            "a,b\n1,2\nhot,4\n5,6\n",
            {},
            r"line 3, numeric column 'a' \(at least half its values "
            r"are numbers\): 'hot' is not a finite",
        ),
        (
            'a,b\n"1,234",2\n"12,345.5",4\n7,6\n',
            {},
            r"column 'a' holds numbers written with commas \(such as '1,234'\)",
        ),
        ('a,b\n1,2\n3,4\n"5,000",6\n', {}, r"line 4, .*'5,000' is written with a thousands sep"),
        ("a,b\n1,\n3,NA\n5,\n", {}, "column 'b' has no values"),
        ("a,a\n1,2\n3,4\n5,6\n", {}, "names column 'a' twice"),
        ("a,b\n1,2\n3,4\n5,6\n", {"target": "b", "columns": ("a", "b")}, "never a feature"),
        ("a,b\n1,x\n3,\n5,y\n", {"target": "b"}, "column 'b' is empty: fill it in, or"),
    ],
)
def test_bad_tables_are_one_line_errors(tmp_path: Path, text, options, message):
    with pytest.raises(VaekitError, match=message) as err:
        open_dataset(write(tmp_path, text), **options)
    assert "\n" not in str(err.value)


def test_a_category_that_looks_like_a_grouped_number_stays_a_category(tmp_path: Path):
    table = read_table(write(tmp_path, 'size,v\nsmall,1\nlarge,2\n"1,000",3\nsmall,4\n'))
    schema = fit_schema(table, np.arange(4))
    assert schema.columns[0].categories == ("1,000", "large", "small")


def test_a_new_file_with_a_grouped_number_says_so(tmp_path: Path):
    """A model's new rows (`anomaly RUN export.csv`) with a thousands separator: the same
    words as when a model is fitted."""
    schema = fit_schema(read_table(write(tmp_path, "a,b\n1,2\n3,4\n5,6\n")), np.arange(3))
    export = read_table(write(tmp_path, 'a,b\n"1,500",2\n', "export.csv"))
    with pytest.raises(VaekitError, match=r"line 2, numeric column 'a': '1,500' is written with"):
        schema.encode(export)


def test_an_identifier_column_is_not_taken_for_a_category(tmp_path: Path):
    rows = "\n".join(f"n{i},{i % 3}" for i in range(30))
    with pytest.raises(VaekitError, match=r"an identifier or free text.*--id-column"):
        open_dataset(write(tmp_path, "name,v\n" + rows + "\n"))
    assert open_dataset(write(tmp_path, "name,v\n" + rows + "\n"), id_column="name")


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("id;temp;status\na;1.5;ok\nb;2.5;bad\n", "sep=';'"),
        ("temp;status\n1,5;ok\n2,5;bad\n", "sep=';'"),
        # a comma in a column's name: read with commas, the header was two columns, and the
        # file garbage without a word ("EUR;Menge;Stadt" a category of "03;6;Bonn"s)
        ('"Preis, EUR";Menge;Stadt\n"9,5";3;Bonn\n"10,1";6;Köln\n', "sep=';'"),
        ("a\tb\n0\tx\n1\ty\n", "sep='\\t'"),  # tabs: one column of "0\tx" values
    ],
    ids=["semicolons", "semicolons-and-decimal-commas", "a-comma-in-a-name", "tabs"],
)
def test_a_csv_separated_by_another_character_gets_a_hint_about_it(tmp_path: Path, text, hint):
    with pytest.raises(VaekitError) as err:
        read_table(write(tmp_path, text))
    message = str(err.value)
    assert "the file looks separated by" in message and hint in message, message
    assert "\n" not in message
    # A one-column table whose header holds no semicolon is read as it is.
    assert read_table(write(tmp_path, "temp\n1.5\n2.5\n")).names == ["temp"]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        # a decimal comma that cannot be a thousands separator: said so, where the advice was
        # to drop the "thousands separator" (0,346 -> 346), or the column became categories
        (["-0,01", "1,25", "3,5", "-2,75"], "with a decimal comma (such as '-0,01')"),
        (["0,346", "1,5", "2,125"], "with a decimal comma (such as '1,5')"),
        (["1,234", "12,345.5", "7"], "with commas (such as '1,234'): thousands separators or"),
    ],
)
def test_numbers_written_with_commas_are_named_as_such(tmp_path: Path, cells, message):
    text = "a,b\n" + "".join(f'"{c}",{i}\n' for i, c in enumerate(cells))
    with pytest.raises(VaekitError, match=re.escape(message)):
        open_dataset(write(tmp_path, text))


def test_a_number_beyond_float32_is_refused_with_its_line_not_scored_as_missing(tmp_path: Path):
    """Models compute in float32: 1e39 was cast to inf, then read as a missing value, so the
    row with the most extreme value was the one row never flagged."""
    table = read_table(write(tmp_path, SENSORS))
    schema = fit_schema(table, np.arange(6), target="label", id_column="id")
    huge = read_table(write(tmp_path, SENSORS.replace("d,3.0,", "d,1e39,"), "huge.csv"))
    with pytest.raises(VaekitError, match=r"huge\.csv: line 5, numeric column 'temp': '1e39'"):
        schema.encode(huge)
    far = read_table(write(tmp_path, SENSORS.replace("d,3.0,", "d,3e38,"), "far.csv"))
    with pytest.raises(VaekitError, match="on the column's scale"):  # finite, but z is not
        schema.encode(far)
    with pytest.raises(VaekitError, match=r"line 5, numeric column 'temp'.*'1e300'"):
        fit_schema(read_table(write(tmp_path, SENSORS.replace("d,3.0,", "d,1e300,"), "b.csv")),
                   np.arange(6), target="label", id_column="id")  # fmt: skip


@pytest.mark.parametrize(
    "cells",
    [["1.5", None, "-2", "1_000", " 3 ", "1e-400", "١٢"], ["1", "1e39"], ["1", "inf"],
     ["1", "nan"], ["1", "x"], ["1,000"], [None, None], []],
)  # fmt: skip
def test_a_column_read_at_once_gives_what_cell_by_cell_gives(cells):
    """numpy's one pass (all_numbers) is taken only where every present cell is a `number`,
    with the same values: the fast path changes no schema and no encoded value."""
    from vaekit.data.numbers import all_numbers, number

    one_by_one = [number(c) for c in cells if c is not None]
    fast = all_numbers(cells)
    if any(v is None for v in one_by_one):
        assert fast is None
    else:
        observed, values = fast
        assert observed.tolist() == [c is not None for c in cells]
        assert values.tolist() == one_by_one


def test_statistics_and_encoding_are_the_same_on_either_path(tmp_path: Path, monkeypatch):
    import vaekit.kinds.table.data_schema as tables

    text = "a,b\n" + "".join(f"{i * 0.37 - 5:.6g},{i if i % 7 else 'NA'}\n" for i in range(50))
    table = read_table(write(tmp_path, text))
    fast = fit_schema(table, np.arange(40))
    monkeypatch.setattr(tables, "all_numbers", lambda cells: None)  # cell by cell
    slow = fit_schema(table, np.arange(40))
    assert fast == slow
    np.testing.assert_array_equal(slow.encode(table), fast.encode(table))


def test_a_boolean_column_reads_alike_from_parquet_csv_and_a_dataframe(tmp_path: Path):
    """Parquet's booleans are false/true, a pandas CSV's and a DataFrame's False/True: a
    model fitted on one refused the other's rows ("category 'True' was not seen")."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"t": [1.0, 2.0, 3.0, 4.0], "flag": [True, False, True, False]})
    frame.to_parquet(tmp_path / "f.parquet", index=False)
    frame.to_csv(tmp_path / "f.csv", index=False)
    parquet, text = read_table(tmp_path / "f.parquet"), read_table(tmp_path / "f.csv")
    assert parquet.column("flag", "") == ["true", "false", "true", "false"]
    assert text.column("flag", "") == ["True", "False", "True", "False"]
    for fitted, other in ((parquet, text), (text, parquet)):
        schema = fit_schema(fitted, np.arange(4))
        np.testing.assert_array_equal(schema.encode(other), schema.encode(fitted))
    schema = fit_schema(read_table(write(tmp_path, "a,b\n1,yes\n2,no\n3,yes\n")), np.arange(3))
    with pytest.raises(VaekitError, match="category 'Yes' was not seen"):  # only booleans
        schema.encode(read_table(write(tmp_path, "a,b\n1,Yes\n", "new.csv")))


def test_a_latin1_csv_and_too_few_rows_say_what_to_do(tmp_path: Path):
    (tmp_path / "l.csv").write_bytes("name,v\nKöln,1\n".encode("latin-1"))
    with pytest.raises(VaekitError, match=r"not a UTF-8 text file: save it as UTF-8 .*latin-1"):
        read_table(tmp_path / "l.csv")
    with pytest.raises(VaekitError, match=r"1 row: too few to carve a test split \(at least 3"):
        open_dataset(write(tmp_path, "a,b\n1,2\n"))


def test_a_constant_column_is_said_to_have_no_spread(tmp_path: Path):
    """A column of one value was stored with a standard deviation of 1, which `data info`
    showed. Its spread is 0 now; its values are still read and written as their offsets from
    it (a new row's 7 reads back 7, in any output)."""
    rows = "\n".join(f"{i * 1.5},5.0" for i in range(10))
    table = read_table(write(tmp_path, "v,k\n" + rows + "\n"))
    schema = fit_schema(table, np.arange(10))
    assert schema.columns[1].std == 0 and schema.columns[1].mean == 5.0
    values = schema.encode(table)
    assert (values[:, 1] == 0).all() and {row[1] for row in schema.decode(values)} == {"5"}
    assert TableSchema.from_json(schema.to_json()) == schema
    other = read_table(write(tmp_path, "v,k\n1.5,7.0\n", "new.csv"))
    assert schema.encode(other)[0, 1] == 2.0
    assert schema.decode(schema.encode(other))[0][1] == "7"


def test_a_column_of_dates_is_advised_as_dates(tmp_path: Path):
    """A date per row was called "an identifier or free text" with --id-column as the only
    remedy; ISO dates and times are named as such, with a time series as a third."""
    dated = "\n".join(f"{i},2024-01-{1 + i % 28:02d} 10:{i:02d}:00" for i in range(30))
    table = read_table(write(tmp_path, "v,day\n" + dated + "\n"))
    with pytest.raises(VaekitError, match=r"values in 30 rows: dates or times, not a category: "
                       r".*\(--kind series --time-column day\)$"):  # fmt: skip
        fit_schema(table, np.arange(30))
    other = "\n".join(f"{i},1.{1 + i % 12}.2024 10:{i:02d}" for i in range(30))  # not ISO
    table = read_table(write(tmp_path, "v,day\n" + other + "\n", "o.csv"))
    with pytest.raises(VaekitError, match=r"rows: an identifier or free text, not a category"):
        fit_schema(table, np.arange(30))


def test_values_come_back_as_written_through_float32(tmp_path: Path):
    """`reconstruct` echoes its inputs decoded from their float32 encoding: a 0 read back
    as 3.3044e-09 and -1.35604e-08; it reads 0, and every value float32 holds to its digits
    (these) as the file wrote it; where it does not, no digit it lost is made up."""
    cells = ["0", "1", "1", "0", "0", "1", "0", "0", "0", "1", "0", "0", "0"]
    prices = ["12.5", "0.1862", "100.25", "-3.25", "7", "0.001", "99.99", "42", "3", "5",
              "8", "13", "21"]  # fmt: skip
    rows = "\n".join(f"{a},{b}" for a, b in zip(cells, prices, strict=True))
    table = read_table(write(tmp_path, "flag,price\n" + rows + "\n"))
    schema = fit_schema(table, np.arange(len(cells)))
    decoded = schema.decode(schema.encode(table))
    assert [row[0] for row in decoded] == cells
    assert [float(row[1]) for row in decoded] == [float(p) for p in prices]
    wide = read_table(write(tmp_path, "v\n0.186245\n1e6\n3\n", "wide.csv"))
    schema = fit_schema(wide, np.arange(3))  # a spread of 471,000: float32's step is 0.04
    assert schema.decode(schema.encode(wide))[0] == ["0.2"]


def test_a_dataframes_narrow_floats_read_as_its_csv_writes_them(tmp_path: Path):
    """A float32 column's 0.1 was read as 0.10000000149011612, which to_csv writes as 0.1:
    a DataFrame scored up to 0.67 nats from its own CSV."""
    pd = pytest.importorskip("pandas")
    from vaekit.data.objects import dataframe_rows

    values = [0.1, 1e-8, 3.3333333, None, 16777217.0]
    frame = pd.DataFrame({
        "a": np.array(values, dtype=np.float32),
        "b": pd.array(values, dtype="Float32"),
        "c": np.array([0.1, 2, 3, 4, 5], dtype=np.float16),
        "d": np.array(values, dtype=np.float64),
    })  # fmt: skip
    frame.to_csv(tmp_path / "f.csv", index=False)
    rows, text = dataframe_rows(frame), read_table(tmp_path / "f.csv")
    for name in "abcd":
        assert rows.column(name, "") == text.column(name, ""), name
    assert rows.column("a", "")[0] == "0.1"


def test_a_constant_columns_reconstruction_error_is_in_its_units(tmp_path: Path):
    """`vaekit eval` on rows whose once-constant column varies said RMSE 0 (its errors times
    a stored spread of 0): the errors are offsets in the column's units."""
    import torch

    from vaekit.data.batches import ImageSet
    from vaekit.kinds.table.evaluate import column_errors
    from vaekit.models.factory import ModelConfig, build_vae

    rows = "\n".join(f"{i * 1.5},5.0" for i in range(10))
    schema = fit_schema(read_table(write(tmp_path, "v,k\n" + rows + "\n")), np.arange(10))
    new = read_table(write(tmp_path, "v,k\n1.5,6.0\n3,4.0\n", "new.csv"))
    values = torch.from_numpy(schema.encode(new)).reshape(2, 1, 1, 2)
    model = build_vae(ModelConfig.create((1, 1, 2), "mlp", latent_dim=2, hidden_dims=(4,),
                                         likelihood="mixed", kind="table",
                                         schema=schema.to_json()))  # fmt: skip
    errors = column_errors(model, ImageSet(values, None, 1.0), schema)["columns"][1]
    assert errors["rmse"] > 0.5
