"""Table reading pinned by value: behaviour of vaekit.data.rows, vaekit.data.numbers,
vaekit.kinds.table.data_schema and vaekit.data.objects (rows) that a mutation audit found no
other test to hold (the exact cells, messages, boundaries and encoded numbers)."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from vaekit.data.numbers import (
    FLOAT32_MAX,
    all_numbers,
    in_units,
    no_number,
    not_a_category,
    number,
    with_commas,
)
from vaekit.data.rows import MAX_COLUMNS, RawTable, check_header, read_table
from vaekit.errors import VaekitError
from vaekit.kinds.table.data_schema import (
    Column,
    TableSchema,
    fit_schema,
    implausible_label,
    table_checksum,
)


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def table_of(**columns: list[str | None]) -> RawTable:
    """A RawTable made in memory (no file): its rows named "row 0", "row 1", ..."""
    n = len(next(iter(columns.values())))
    return RawTable(
        Path("m.csv"), list(columns), list(columns.values()), [f"row {i}" for i in range(n)]
    )


SCHEMA_JSON = {
    "columns": [{"name": "a", "kind": "numeric", "mean": 0.0, "std": 1.0}],
    "target": None,
    "classes": [],
    "id_column": None,
}


# --- vaekit.data.rows -----------------------------------------------------------------------


def test_every_spelling_of_a_missing_cell_reads_as_missing(tmp_path: Path):
    path = write(tmp_path, "a,b\n" + "".join(f"{t},1\n" for t in
                 ["", " NA ", "n/a", "N/A", "NaN", "null", "None", "?", "x"]))  # fmt: skip
    assert read_table(path).cells[0] == [None] * 8 + ["x"]


def test_cells_and_header_names_are_read_stripped(tmp_path: Path):
    table = read_table(write(tmp_path, " a , b \n  ok  , 1 \n"))
    assert table.names == ["a", "b"]
    assert table.cells == [["ok"], ["1"]]


def test_a_header_with_a_byte_order_mark_names_its_first_column_plainly(tmp_path: Path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n")
    assert read_table(path).names == ["a", "b"]


def test_blank_lines_are_skipped_and_rows_keep_their_line_numbers(tmp_path: Path):
    table = read_table(write(tmp_path, 'a,b\n1,2\n\n3,4\n   \n"x\ny",5\n6,7\n'))
    assert table.cells == [["1", "3", "x\ny", "6"], ["2", "4", "5", "7"]]
    assert table.where == ["line 2", "line 4", "line 7", "line 8"]


def test_a_blank_looking_line_of_a_one_column_file_is_a_missing_cell(tmp_path: Path):
    table = read_table(write(tmp_path, "v\n1\n   \n2\n"))
    assert table.cells == [["1", None, "2"]]
    assert table.where == ["line 2", "line 3", "line 4"]


def test_a_header_without_a_name_says_which_column(tmp_path: Path):
    with pytest.raises(VaekitError, match=r"t\.csv: column 2 of the header has no name$"):
        read_table(write(tmp_path, "a, ,c\n1,2,3\n"))


def test_the_column_limit_admits_exactly_max_columns():
    assert len(check_header([f"c{i}" for i in range(MAX_COLUMNS)], "x")) == MAX_COLUMNS
    with pytest.raises(VaekitError, match=r"^x: 10001 columns, more than 10000$"):
        check_header([f"c{i}" for i in range(MAX_COLUMNS + 1)], "x")


def test_a_missing_column_lists_twenty_known_names_then_dots():
    names = [f"c{i}" for i in range(21)]
    table = RawTable(Path("w.csv"), names, [["1"] for _ in names], ["line 2"])
    with pytest.raises(VaekitError) as err:
        table.column("zz", "--columns")
    assert str(err.value) == (
        f"--columns: w.csv has no column 'zz' (its columns: {', '.join(names[:20])}, ...)"
    )
    short = RawTable(Path("w.csv"), names[:20], [["1"] for _ in names[:20]], ["line 2"])
    with pytest.raises(VaekitError) as err:
        short.column("zz", "--target")
    assert str(err.value).endswith(f"(its columns: {', '.join(names[:20])})")


def test_a_long_cell_up_to_the_field_limit_is_read(tmp_path: Path):
    long = "x" * 200_000  # beyond csv's own default limit of 131072 characters
    assert read_table(write(tmp_path, f"a,b\n{long},1\n")).cells[0] == [long]
    with pytest.raises(VaekitError, match=r"not a readable CSV file \(field larger than field"):
        read_table(write(tmp_path, f"a,b\n{'x' * ((1 << 20) + 1)},1\n", "huge.csv"))


def test_parquet_with_an_upper_case_suffix_and_missing_texts(tmp_path: Path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "T.PARQUET"
    columns = {"s": ["ok", "NA", "?", None, "none"], "f": [0.1, float("nan"), None, 2.0, 1e20]}
    pq.write_table(pa.table(columns), path)
    table = read_table(path)
    assert table.cells == [["ok", None, None, None, None], ["0.1", None, None, "2.0", "1e+20"]]
    assert table.where == [f"row {i}" for i in range(5)]


def test_parquet_text_cells_are_stripped_as_a_csvs_are(tmp_path: Path):
    """ " ok " read as "ok" from a .csv and as " ok " from a .parquet: a model fitted on one
    refused the other's values as unseen categories."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"s": [" ok ", "\tNA ", "b"]}), tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("s\n ok \n\tNA \nb\n")
    assert read_table(tmp_path / "t.parquet").cells == [["ok", None, "b"]]
    assert read_table(tmp_path / "t.csv").cells == read_table(tmp_path / "t.parquet").cells


# --- vaekit.data.numbers --------------------------------------------------------------------


def test_float32s_largest_value_is_still_a_number():
    assert number(repr(FLOAT32_MAX)) == FLOAT32_MAX
    assert number(repr(-FLOAT32_MAX)) == -FLOAT32_MAX
    observed, values = all_numbers([repr(FLOAT32_MAX), None])
    assert observed.tolist() == [True, False] and values.tolist() == [FLOAT32_MAX]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            "1,234.5",
            "is written with a thousands separator or a decimal comma (write it as 1234.5)",
        ),
        (
            "-12,345",
            "is written with a thousands separator or a decimal comma (write it as 1234.5)",
        ),
        ("1234,567", "is written with a decimal comma (write it with '.')"),
        (",5", "is written with a decimal comma (write it with '.')"),
        ("-0,01", "is written with a decimal comma (write it with '.')"),
        ("1,2,3", "other"),
    ],
)
def test_a_cell_with_commas_is_told_apart(text, why):
    assert no_number(text, "other") == why
    assert with_commas(text) is (why != "other")


def test_a_long_header_name_with_semicolons_is_cut_at_sixty_characters(tmp_path: Path):
    exact = "a;" * 30  # 60 characters: shown whole
    with pytest.raises(VaekitError, match=f"header holds semicolons \\({exact!r}\\)"):
        read_table(write(tmp_path, f"{exact}\n1\n"))
    longer = "b;" * 31  # 62: its first 57, then ...
    cut = repr(longer[:57] + "...")
    with pytest.raises(VaekitError, match=f"header holds semicolons \\({re.escape(cut)}\\)"):
        read_table(write(tmp_path, f"{longer}\n1\n", "long.csv"))


IDENTIFIER = (
    "an identifier or free text, not a category; name it with --id-column, or leave it out of "
    "--columns"
)


def test_dates_are_advised_as_dates_only_when_every_value_is_one():
    assert not_a_category("d", ["2024-01-05", "tuesday"]) == IDENTIFIER
    assert not_a_category("d", [" 2024-01-05 ", "2024-01-06T10:30Z"]).startswith(
        "dates or times, not a category"
    )
    assert not_a_category("d", ["2024-01-05"]).endswith("(--kind series --time-column d)")


@pytest.mark.parametrize(
    ("z", "mean", "std", "cell"),
    [
        (0.0, 1e-6, 1000.0, "1e-06"),  # a grid of float32's step at z=0 (1e-3), not coarser
        (0.0, 1.23456789, 1.0, "1.23457"),  # 6 significant digits
        (1.0, -5872012.6, 5872025.6, "10"),  # rounded to a grid two float32 steps wide
        (-1.0, 5.0, 5.0, "0"),  # -0.0 reads 0
    ],
)
def test_a_value_in_units_is_rounded_to_what_float32_kept(z, mean, std, cell):
    assert in_units(z, mean, std) == cell


# --- vaekit.kinds.table.data_schema: JSON ---------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns": []}, "table.columns: expected 1 to 10000 columns"),
        ({"columns": SCHEMA_JSON["columns"] * 2}, "table.columns: a column is named twice"),
        ({"target": 5}, "table: target and id_column are column names or null"),
        ({"id_column": ["a"]}, "table: target and id_column are column names or null"),
        ({"classes": ["x", 1]}, "table.classes: expected a list of names"),
        (
            {"columns": [{"name": "a", "kind": "numeric", "mean": True, "std": 1.0}]},
            "table.columns[0]: mean and std must be finite numbers, std not negative",
        ),
        (
            {"columns": [{"name": "c", "kind": "categorical", "categories": ["x", "x"]}]},
            "table.columns[0]: categories must be 1 to 1000 distinct names",
        ),
        (
            {"columns": [{"name": "c", "kind": "categorical", "categories": []}]},
            "table.columns[0]: categories must be 1 to 1000 distinct names",
        ),
    ],
)
def test_a_bad_schema_json_is_refused_by_field(change, message):
    with pytest.raises(VaekitError) as err:
        TableSchema.from_json({**SCHEMA_JSON, **change})
    assert str(err.value) == message


def test_a_constant_numeric_column_in_json_is_accepted():
    column = {"name": "a", "kind": "numeric", "mean": 3, "std": 0}
    schema = TableSchema.from_json({**SCHEMA_JSON, "columns": [column]})
    assert schema.columns == (Column("a", "numeric", 3.0, 0.0),)


# --- encoding, labels, ids, checking and decoding ---------------------------------------------


CATS = tuple(f"k{i:02d}" for i in range(12))


def test_an_unseen_category_lists_ten_known_ones():
    schema = TableSchema((Column("c", "categorical", categories=CATS),))
    with pytest.raises(VaekitError) as err:
        schema.encode(table_of(c=["k01", "new"]))
    assert str(err.value) == (
        f"m.csv: row 1, column 'c': category 'new' was not seen in training (known: "
        f"{', '.join(CATS[:10])}, ...)"
    )


def test_labels_ids_and_their_faults():
    schema = TableSchema((Column("a", "numeric"),), "y", CATS, "id")
    table = table_of(a=["1", "2"], y=["k11", "k00"], id=["r1", None])
    assert schema.labels(table).tolist() == [11, 0]
    assert schema.ids(table) == ["r1", ""]  # a missing id: an empty one
    assert schema.ids(table_of(a=["1", "2", "3"])) == ["0", "1", "2"]  # no id column: numbers
    with pytest.raises(VaekitError) as err:
        schema.labels(table_of(a=["1"], y=["zz"]))
    assert str(err.value) == (
        f"m.csv: row 0: 'y' value 'zz' is not one of the run's classes ({', '.join(CATS[:10])})"
    )
    assert schema.labels(table_of(a=["1"]), required=False) is None
    with pytest.raises(
        VaekitError, match=r"^--target: m\.csv has no column 'y' \(its columns: a\)"
    ):
        schema.labels(table_of(a=["1"]))


@pytest.mark.parametrize(
    ("x", "why"),
    [
        ([[0.0, 3.0]], "column 'c' holds category indices 0..2"),
        ([[0.0, -1.0]], "column 'c' holds category indices 0..2"),
        ([[0.0, 0.5]], "column 'c' holds category indices 0..2"),
        ([[np.inf, 1.0]], "values must be finite (NaN marks a missing one)"),
        ([[0.0, 1.0, 2.0]], "expected rows of 2 values, got shape (1, 3)"),
        ([[np.nan, np.nan], [1e30, 2.0]], None),
    ],
)
def test_values_are_checked_as_encoded_rows(x, why):
    categorical = Column("c", "categorical", categories=("p", "q", "r"))
    schema = TableSchema((Column("n", "numeric"), categorical))
    assert schema.check_values(np.array(x)) == why


def test_decoding_rounds_category_indices_to_the_nearest_known_one():
    schema = TableSchema((Column("c", "categorical", categories=("p", "q", "r")),))
    rows = schema.decode(np.array([[-2.0], [0.4], [0.6], [1.7], [9.0], [np.nan]]))
    assert rows == [["p"], ["p"], ["q"], ["r"], ["r"], [""]]


def test_the_checksum_covers_values_labels_and_ids():
    values = np.arange(4, dtype=np.float32).reshape(2, 2)
    labels = np.array([1, 0], dtype=np.int64)
    want = hashlib.sha256(values.tobytes() + labels.tobytes() + b"a\nb").hexdigest()
    assert table_checksum(values, labels, ["a", "b"]) == want
    assert (
        table_checksum(values, None, ["a", "b"])
        == hashlib.sha256(values.tobytes() + b"a\nb").hexdigest()
    )


# --- fitting ----------------------------------------------------------------------------------


def fit(table: RawTable, **options):
    return fit_schema(table, np.arange(len(table)), **options)


def test_the_target_and_the_id_column_must_differ():
    with pytest.raises(VaekitError) as err:
        fit(table_of(a=["1", "2"], b=["x", "y"]), target="b", id_column="b")
    assert str(err.value) == "--target and --id-column both name 'b'"


def test_a_missing_target_value_is_refused_when_fitting():
    with pytest.raises(VaekitError) as err:
        fit(table_of(a=["1", "2"], y=["x", None]), target="y")
    assert str(err.value) == (
        "m.csv: row 1: the target column 'y' is empty: fill it in, or leave the row out"
    )


def test_classes_sort_numbers_numerically_before_names():
    table = table_of(a=["1"] * 5, y=["10", "9", "!x", "2", "b"])
    assert fit(table, target="y").classes == ("2", "9", "10", "!x", "b")
    column = fit(table_of(c=["10", "9", "!x", "b", "c", "d"])).columns[0]
    assert column.categories == ("9", "10", "!x", "b", "c", "d")


def test_class_count_limits_at_their_boundaries():
    rows = [f"c{i}" for i in range(1000)]
    schema = fit(table_of(a=["1"] * 1000, y=rows), target="y", target_is_label=True)
    assert len(schema.classes) == 1000
    assert implausible_label([f"c{i}" for i in range(25)], 500) is None  # 5% exactly
    assert implausible_label([f"c{i}" for i in range(26)], 500) == (
        "26 classes in 500 rows, more than 5% of them"
    )
    assert implausible_label(["1.5", "x"], 10) is None  # not every class a number
    assert implausible_label(["1.5", "2"], 10) == "its values are continuous numbers (such as 1.5)"


def test_category_count_limits_at_their_boundaries():
    values = [f"v{i:04d}" for i in range(1000)]
    column = fit(table_of(c=[*values, "v0000"])).columns[0]  # 1000 categories in 1001 rows
    assert len(column.categories) == 1000
    with pytest.raises(VaekitError, match=r"column 'c' has 21 distinct values in 21 rows: an "):
        fit(table_of(c=[f"id{i}" for i in range(21)]))
    assert len(fit(table_of(c=[f"id{i}" for i in range(20)])).columns[0].categories) == 20


def test_a_column_half_of_numbers_is_numeric_and_names_its_other_cell():
    with pytest.raises(VaekitError) as err:
        fit(table_of(a=["1", "x"]))
    assert str(err.value) == (
        "m.csv: row 1, numeric column 'a' (at least half its values are numbers): 'x' is not a "
        "finite number within +-3.4e38 (leave it empty or NA if missing, or leave the column out "
        "with --columns)"
    )


def test_a_column_half_of_numbers_with_commas_is_refused_as_such():
    with pytest.raises(VaekitError, match=r"^m\.csv: column 'a' holds numbers written with a "):
        fit(table_of(a=["1,5", "x"]))


def test_a_column_of_missing_values_only_says_so():
    with pytest.raises(VaekitError) as err:
        fit(table_of(a=["1", "2"], b=[None, None]))
    assert str(err.value) == "m.csv: column 'b' has no values (every one is missing)"


# --- vaekit.data.objects: a DataFrame's and a Hugging Face dataset's rows -------------------


def test_a_dataframes_cells_read_as_a_csvs():
    pd = pytest.importorskip("pandas")
    from vaekit.data.objects import dataframe_rows

    df = pd.DataFrame(
        {
            "s": pd.Series([" ok ", "NA", pd.NA, [1, 2]], dtype=object),
            "f": pd.Series([np.float64(0.5), np.float64(2.0), None, pd.NaT], dtype=object),
        }
    )
    table = dataframe_rows(df)
    assert table.cells == [["ok", None, None, "[1, 2]"], ["0.5", "2.0", None, None]]
    assert str(table.path) == "<DataFrame 4x2>"
    with pytest.raises(VaekitError, match=r"^<DataFrame 0x1>: no rows$"):
        dataframe_rows(pd.DataFrame({"a": []}))


def test_a_hugging_face_datasets_scalar_columns_include_class_labels():
    datasets = pytest.importorskip("datasets")
    from vaekit.data.objects import hf_rows

    features = datasets.Features(
        {
            "x": datasets.Value("float64"),
            "y": datasets.ClassLabel(names=["cat", "dog"]),
            "v": datasets.Sequence(datasets.Value("int64")),
        }
    )
    ds = datasets.Dataset.from_dict({"x": [0.5, None], "y": [1, 0], "v": [[1], [2]]}, features)
    table = hf_rows(ds)
    assert table.names == ["x", "y"]
    assert table.cells == [["0.5", None], ["1", "0"]]
    only_lists = ds.select_columns(["v"])
    with pytest.raises(VaekitError, match=r"no column of single values \(numbers, text\) to read"):
        hf_rows(only_lists)


def test_a_filtered_hugging_face_dataset_reads_its_kept_rows():
    """hf_rows read the Arrow table under the dataset's row mapping: a filtered dataset of 2
    rows gave its 4 unfiltered cells (and select or shuffle their rows in the old order)."""
    datasets = pytest.importorskip("datasets")
    from vaekit.data.objects import hf_rows

    ds = datasets.Dataset.from_dict({"a": [1, 2, 3, 4], "b": ["w", "x", "y", "z"]})
    table = hf_rows(ds.filter(lambda r: r["a"] > 2))
    assert table.cells == [["3", "4"], ["y", "z"]] and table.where == ["row 0", "row 1"]
    assert hf_rows(ds.select([3, 0])).cells == [["4", "1"], ["z", "w"]]


def test_a_schema_fitted_on_padded_parquet_cells_reads_them_stripped(tmp_path: Path):
    """A run fitted on a .parquet file before its cells were stripped kept " ok " among its
    categories; that file's cells now read "ok", which must still be that category (an exact
    name is still matched first)."""
    schema = TableSchema.from_json(
        {
            "columns": [{"name": "c", "kind": "categorical", "categories": [" meh", " ok ", "ok"]}],
            "target": None,
            "classes": [],
            "id_column": None,
        }
    )
    table = RawTable(
        tmp_path / "t.parquet", ["c"], [["meh", "ok", " ok "]], ["row 0", "row 1", "row 2"]
    )
    assert schema.encode(table)[:, 0].tolist() == [0.0, 2.0, 1.0]
