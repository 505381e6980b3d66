"""How a table's or a series' cell is read as a number: within float32's range (the models
compute in float32), and a number written with thousands separators named as such."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

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


def no_number(text: str, otherwise: str) -> str:
    """Why a numeric column's cell `text` is refused: a thousands separator, or `otherwise`."""
    grouped = GROUPED.fullmatch(text)
    return "is written with a thousands separator (write it without)" if grouped else otherwise
