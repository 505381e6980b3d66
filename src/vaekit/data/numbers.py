"""How a table's or a series' cell is read as a number: within float32's range (the models
compute in float32), a number written with commas (thousands separators, a decimal comma)
named as such, and a CSV file separated by another character than the comma refused."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from vaekit.errors import VaekitError

# The largest magnitude a value may have: models compute in float32, where a larger one is
# infinite (1e39 became inf, then a missing value, scored as if unobserved).
FLOAT32_MAX = float(np.finfo(np.float32).max)


def number(text: str) -> float | None:
    """A finite number within float32's range, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= FLOAT32_MAX else None


def all_numbers(cells: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray] | None:
    """Where every present cell of a column (None: missing) is a `number`: which cells are
    present (N,) and their values (float64), converted by numpy in one pass (the same values
    as `number`'s, without a Python call per cell); None where any is not (the caller then
    reads the cells one by one, to say which)."""
    try:
        values = np.array([c for c in cells if c is not None], dtype=np.float64)
    except (ValueError, TypeError):
        return None
    if not (np.abs(values) <= FLOAT32_MAX).all():  # (NaN and inf fail it too)
        return None
    return np.fromiter((c is not None for c in cells), dtype=bool, count=len(cells)), values


# A number with thousands separators, "1,234" or "-12,345.5": a spreadsheet's export. Not read
# as a number (with ";" between fields, "1,500" may be one and a half), nor as a category.
GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
# A number with a decimal comma, "-0,01" or "1234,5" (a German or French spreadsheet's): read
# neither as a number nor as a category either.
DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+")


def with_commas(text: str) -> bool:
    """Whether a cell is a number written with a comma: thousands separators or a decimal
    comma (a numeric column's cell, read as neither a number nor a category)."""
    return bool(GROUPED.fullmatch(text) or DECIMAL_COMMA.fullmatch(text))


def commas_refused(path: object, name: str, examples: Sequence[str]) -> str:
    """The message for a column of numbers written with commas (`examples`): a decimal comma
    where one cannot be a thousands separator ("-0,01": two digits after it), otherwise
    either."""
    decimal = next((t for t in examples if not GROUPED.fullmatch(t)), None)
    if decimal is not None:
        return (
            f"{path}: column {name!r} holds numbers written with a decimal comma (such as "
            f"{decimal!r}): save the file with '.' as the decimal mark (in pandas: "
            "pd.read_csv(f, decimal=',').to_csv(g, index=False)), or leave the column out "
            "with --columns"
        )
    return (
        f"{path}: column {name!r} holds numbers written with commas (such as {examples[0]!r}): "
        "thousands separators or decimal commas, read as neither numbers nor categories: write "
        "them as 1234.5, or leave the column out with --columns"
    )


def no_number(text: str, otherwise: str) -> str:
    """Why a numeric column's cell `text` is refused: a comma in it, or `otherwise`."""
    if GROUPED.fullmatch(text):
        return "is written with a thousands separator or a decimal comma (write it as 1234.5)"
    if DECIMAL_COMMA.fullmatch(text):
        return "is written with a decimal comma (write it with '.')"
    return otherwise


# A CSV saved in another encoding than UTF-8 (a spreadsheet's Latin-1 or Windows-1252).
NOT_UTF8 = (
    "{path}: not a UTF-8 text file: save it as UTF-8 (in pandas, for a Latin-1 or Windows "
    "file: pd.read_csv(f, encoding='latin-1').to_csv(g, index=False); or iconv -f latin1 -t "
    "utf-8)"
)


def refuse_other_separator(names: Sequence[str], path: object) -> None:
    """Refuse a CSV whose header, read with commas, holds a semicolon or a tab in a column's
    name: a file separated by ';' (saved where the comma is the decimal mark, by a German or
    French spreadsheet) or by tabs, whose fields would be read as a few columns of garbage
    ("Preis, EUR;Menge;Stadt" is two) or as one."""
    odd = next((n for n in names if ";" in n or "\t" in n), None)
    if odd is None:
        return
    shown = odd if len(odd) <= 60 else odd[:57] + "..."
    if ";" in odd:
        raise VaekitError(
            f"{path}: the header holds semicolons ({shown!r}): the file looks separated by "
            "';', and vaekit reads comma-separated CSV; save it with ',' as the separator and "
            "'.' as the decimal mark (in pandas: pd.read_csv(f, sep=';', decimal=',')"
            ".to_csv(g, index=False))"
        )
    raise VaekitError(
        f"{path}: the header holds tabs ({shown!r}): the file looks separated by tabs, and "
        "vaekit reads comma-separated CSV; save it with ',' as the separator (in pandas: "
        "pd.read_csv(f, sep='\\t').to_csv(g, index=False))"
    )


# A date or a time in ISO 8601, as a series' time column takes it: 2024-01-05,
# 2024-01-05 10:30(:00), 2024-01-05T10:30:00.5Z, 2024-01-05T10:30+01:00.
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


def not_a_category(name: str, values: Sequence[str]) -> str:
    """Why a column of nearly as many distinct `values` as rows is no category, and what to
    do: ISO dates or times can also order the rows as a time series."""
    if all(ISO_TIME.fullmatch(v.strip()) for v in values[:50]):
        return (
            "dates or times, not a category: name the rows with it (--id-column), leave it "
            f"out of --columns, or model the rows in time order as a time series (--kind "
            f"series --time-column {name})"
        )
    return (
        "an identifier or free text, not a category; name it with --id-column, or leave it "
        "out of --columns"
    )


def in_units(z: float, mean: float, std: float) -> str:
    """A standardized value z back in its column's units, as a CSV cell of 6 significant
    digits at most, rounded to what float32 holds of z there (a 0 encoded and decoded reads
    0, where it read 3.3e-09; no digits float32 did not keep)."""
    value = z * std + mean
    if std > 0 and math.isfinite(value):  # float32's step at z, in the column's units
        step = max(abs(z), 1e-3) * 2.0**-23 * std  # (an error of up to one step: a grid
        value = round(value, -math.ceil(math.log10(2 * step)))  # at least two steps wide)
    return f"{value + 0.0:.6g}"  # (+ 0.0: -0.0 reads 0)
