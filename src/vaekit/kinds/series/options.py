"""The options of `vaekit train` particular to a time series (a .csv/.parquet file whose first
column is its time, a folder of them, or a .npy array with --kind series): its columns, its
windows and what an irregular clock means.

Part of the one declaration of every training option (vaekit.train_options), which puts each
kind's options (vaekit.kinds.base.Kind.options) after the data source's.
"""

from __future__ import annotations

from vaekit.options import Float, Int, Names, Option, Text

# The values this kind gives `vaekit train`'s options in place of their defaults (its model
# part's DEFAULTS; kept here, beside its options, so that `vaekit train --help` shows them).
DEFAULTS: dict[str, object] = {
    "model": "mlp",
    "likelihood": "gaussian",
    "gaussian_variance": "global",
    "gaussian_std": 1.0,
}

OPTIONS = [
    Option(
        "window",
        Int(least=2, most=1 << 16),
        None,
        "for a time series (a .csv/.parquet file whose first column is named timestamp, "
        "time, date, datetime or ds; a folder of such files, one series each, sharing their "
        "columns; or, with --kind series, a .npy array (series, time, channels) or (time, "
        "channels), NaN where missing): the steps the model sees at once, no window crossing "
        "two series; an anomaly score at a step comes from the window ending there, so from "
        "that step and the ones before (default: 32)",
        "data",
        section="data",
        optional=True,
        metavar="STEPS",
        show_default=False,
    ),
    Option(
        "stride",
        Int(least=1),
        None,
        "series: steps between the starts of two training windows (default: 1, every step)",
        "data",
        section="data",
        optional=True,
        metavar="STEPS",
        show_default=False,
    ),
    Option(
        "time_column",
        Text(),
        None,
        "series: the column of timestamps (dates or numbers; default: the first column, of "
        "a folder's first file; a .npy's steps are its indices)",
        "data",
        section="data",
        optional=True,
        metavar="COLUMN",
        show_default=False,
    ),
    Option(
        "value_columns",
        Names(),
        None,
        "series: the columns to model, its channels, comma-separated (default: every column "
        "but the time); an empty cell or NA, NaN, null, ? is a missing value",
        "data",
        section="data",
        optional=True,
        show_default=False,
    ),
    Option(
        "irregular",
        Text(("refuse", "keep")),
        None,
        "series: where the time between rows varies (or goes back), refuse the file "
        "(resample it first) or keep it, taking each row as one step in the file's order "
        "(default: refuse)",
        "data",
        section="data",
        optional=True,
        show_default=False,
    ),
    Option(
        "train_part",
        Float(positive=True, below=1.0),
        None,
        "series: the fraction of its steps, from its start, to train on (of each series' "
        "where there are several); the rest is its test part, scored step by step as a "
        "stream would be (anomaly detection trains on a first stretch: 0.15 is NAB's "
        "probation; default: 0.9)",
        "data",
        section="data",
        optional=True,
        metavar="F",
        show_default=False,
    ),
]
