"""The options of `vaekit train` particular to a table (.csv, .parquet):
its columns, label and row names.

Part of the one declaration of every training option (vaekit.train_options), which puts each
kind's options (vaekit.kinds.base.Kind.options) after the data source's.
"""

from __future__ import annotations

from vaekit.components import Component
from vaekit.options import Flag, Names, Option, Text

# The values this kind gives `vaekit train`'s options in place of their defaults (its model
# part's DEFAULTS; kept here, beside its options, so that `vaekit train --help` shows them).
DEFAULTS: dict[str, object] = {
    "model": "mlp",
    "likelihood": "mixed",
    "gaussian_variance": "global",
    "gaussian_std": 1.0,
}

OPTIONS = [
    Option(
        "columns",
        Names(),
        None,
        "for a table (.csv, .parquet): the columns to model, comma-separated. A column whose "
        "values are numbers is numeric (standardized with the training rows' mean and standard "
        "deviation, modelled by a Gaussian), any other categorical (modelled by a categorical); "
        "an empty cell or NA, NaN, null, ? is a missing value, left out of the likelihood "
        "(default: every column but --target and --id-column)",
        "data",
        section="data",
        optional=True,
        show_default=False,
    ),
    Option(
        "target",
        Text(),
        None,
        "for a table: the column holding each row's label (a class), used where images use "
        "theirs (eval's probe, anomaly --normal-labels, embed); never a feature. A column "
        "of fractional numbers, or with more classes than 5 in 100 rows (and than 20), is "
        "refused as unlikely to be a label, unless --target-is-label confirms it",
        "data",
        section="data",
        optional=True,
        metavar="COLUMN",
    ),
    Option(
        "target_is_label",
        Flag(),
        False,
        "for a table: take --target as a class label even where its values look like "
        "measurements (fractional numbers, or very many classes)",
        "data",
    ),
    Option(
        "id_column",
        Text(),
        None,
        "for a table: the column naming each row, written beside its scores and "
        "reconstructions; never a feature (default: the row number, from 0)",
        "data",
        section="data",
        optional=True,
        metavar="COLUMN",
        show_default=False,
    ),
]

# The likelihood only a table takes, for --likelihood's choices and help (vaekit.components);
# the model part builds it, and its OWNED refuses it for other data.
LIKELIHOODS = [
    Component(
        "mixed",
        "for tables (and chosen for them): a Gaussian per numeric column, a categorical per "
        "categorical column, missing values left out",
        options=("gaussian_variance", "gaussian_std"),
    ),
]
