"""The table kind's render part: see vaekit.kinds.protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaekit.files import save_csv
from vaekit.report.curves import save_curves
from vaekit.report.html import caption, figure, table
from vaekit.report.outputs import bits_per_dim_line, skipped_lines
from vaekit.report.view import Builder, RunView

# --- the command line's outputs (see vaekit.kinds.protocol, "render part") ---------------

# The file `sample`, `reconstruct` and `interpolate` write for a table: a CSV of rows.
OUTPUT_SUFFIX = ".csv"
# What `anomaly` writes beside its scores' CSV: nothing (the top rows are printed).
ANOMALY_BESIDE: tuple[str, ...] = ()
# The commands with a flow of the kind's own at the command line: none, a table takes the
# shared ones.
FLOWS: tuple[str, ...] = ()
# --npy is for images: a table's examples are written as CSV only.
ARRAYS = False
# INPUTs name rows: test-split indices or table files (Inputs.rows).
ROWS = True


def write_samples(model, x, out, n: int) -> str:
    """Sampled rows `x` (N, 1, 1, F), in the schema's encoding, as a CSV at `out` in the
    table's units and category names; returns what was written, for "wrote ... to"."""
    table = model.schema
    save_csv(out, list(table.names), table.decode(x.reshape(len(x), -1).numpy()))
    return f"{len(x)} sampled rows"


def write_reconstructions(model, ids, x, made, out) -> str:
    """Rows `x` beside their reconstructions `made` (both (N, 1, 1, F)) as a CSV at `out`:
    each row's id, then each column and COLUMN_reconstructed, in the table's units."""
    table = model.schema
    given = table.decode(x.reshape(len(x), -1).numpy())
    decoded = table.decode(made.reshape(len(x), -1).numpy())
    header = [_id_header(table)]
    for name in table.names:
        header += [name, f"{name}_reconstructed"]
    lines = [
        [row_id, *(cell for pair in zip(a, b, strict=True) for cell in pair)]
        for row_id, a, b in zip(ids or [], given, decoded, strict=True)
    ]
    save_csv(out, header, lines)
    return f"{len(lines)} rows and their reconstructions"


def write_interpolation(model, x, out, steps: int, grid: bool) -> str:
    """The decoded steps `x` as a CSV at `out` in the table's units, with each row's step
    (for a grid, its row and column); returns what was written, for "wrote ... to"."""
    table = model.schema
    decoded = table.decode(x.reshape(len(x), -1).numpy())
    if grid:
        header = ["row", "column", *table.names]
        lines = [[i // steps, i % steps, *r] for i, r in enumerate(decoded)]
    else:
        lines = [[i, *r] for i, r in enumerate(decoded)]
        header = ["step", *table.names]
    save_csv(out, header, lines)
    return f"{len(lines)} decoded rows"


def anomaly_ids(model, specs: list[str], test_ids) -> list[str] | None:
    """Not asked: a table's INPUTs are rows, which carry their ids (ROWS)."""
    return None


def write_scores(model, output, data, scores, flags, labels, detector, score: str):
    """`anomaly`'s CSV, one line per row: its id, score, flag, label (the class name), and
    each column's contribution (-log p(x_j|z), nats; empty where the value is missing); for
    the elbo score also the KL, so that the line adds up to the score (for recon, they
    alone add up to it; for nll, latent and knn they are no parts of it, but say which columns
    the model reconstructs worst). Returns the contributions (N, columns) and the score, which
    `show_top` prints."""
    import numpy as np

    table = model.schema
    parts = detector.contributions(data)
    header = [_id_header(table), "score", "anomalous"]
    header += ["label"] if labels is not None else []
    header += [f"nll_{name}" for name in table.names]
    header += ["kl"] if score == "elbo" else []
    with np.errstate(invalid="ignore"):  # inf - inf where a value overflowed: written empty
        kl = scores - np.nansum(parts, axis=1)
    rows = []
    for i, row_id in enumerate(data.ids):
        line = [row_id, f"{scores[i]:.6g}", int(flags[i])]
        line += [table.classes[labels[i]]] if labels is not None else []
        line += ["" if np.isnan(v) else f"{v:.6g}" for v in parts[i]]
        line += ["" if np.isnan(kl[i]) else f"{kl[i]:.6g}"] if score == "elbo" else []
        rows.append(line)
    save_csv(output, header, rows)
    return {"parts": parts, "score": score}


# The scores a row's column contributions add up to (column_contributions)
ADDING_UP = ("elbo", "recon")


def show_top(model, data, scores, top, maps, written) -> None:
    """The highest-scoring rows, printed, each with the columns that contribute most to its
    score (`written`: write_scores' contributions); `maps` is not written."""
    import numpy as np

    table, parts, ids = model.schema, written["parts"], data.ids
    if written["score"] in ADDING_UP:
        print(f"top {len(top)} rows, with the columns that contribute most (nats):")
    else:  # (the parts of the elbo's reconstruction term, or at the posterior mean)
        print(f"top {len(top)} rows, with the columns the model reconstructs worst "
              f"(-log p(x_j|z), nats; no parts of the {written['score']} score):")  # fmt: skip
    for i in top:
        worst = [j for j in np.argsort(-np.nan_to_num(parts[i], nan=-np.inf))[:3]]
        named = ", ".join(f"{table.names[j]} {parts[i, j]:.2f}" for j in worst)
        print(f"  {ids[i]}: {scores[i]:.4g} ({named})")


def class_names(model) -> list[str] | None:
    """The names of the classes (the --target's values) by label index, for `embed`."""
    return list(model.schema.classes)


def id_header(model) -> str:
    """The header of the id column `embed` writes first (_id_header)."""
    return _id_header(model.schema)


def _id_header(schema: Any) -> str:
    """The header of the column that names each row of an output: the --id-column, or "row"
    (its number from 0), "row_number" where a column of the table is called "row"."""
    if schema.id_column:
        return schema.id_column
    return "row_number" if "row" in schema.names else "row"


# --- `vaekit eval`'s table (see vaekit.kinds.protocol, "render part") -------------------


def eval_nouns(report: dict) -> tuple[str, str]:
    """What the likelihood is for and what the data is, as `vaekit eval`'s table names them:
    "table rows" (a support of another kind's likelihood: its pixels); the data's rows with
    their numeric columns standardized, as the bounds score them."""

    def noun(support: str) -> str:
        return "table rows" if support == "table" else f"{support} pixels"

    data = noun(report["data_support"])
    if report["data_support"] == "table":
        data += " (numeric columns standardized)"
    return noun(report["likelihood_support"]), data


# What a table's bounds are densities of: its -log p and nats/dim are not in the columns'
# own units, and a row's missing cells are left out of its likelihood.
UNITS_NOTE = [
    "  (numeric columns as standardized values, by the mean and standard deviation of the",
    "   training and validation rows; a row's missing cells left out of its likelihood;",
    "   nats/dim per column)",
]


# What the model card adds to its Limitations for a table (vaekit.report.card.limits).
card_limits = [
    "Its figures are densities of the numeric columns as standardized values (by the mean "
    "and standard deviation of the training and validation rows, in config.json's schema), "
    "with a row's "
    "missing cells left out: they compare only with models of the same columns standardized "
    "alike (a density of the raw values differs by the sum of the numeric columns' log "
    "standard deviations)."
]


def eval_lines(report: dict) -> list[str]:
    """`vaekit eval`'s lines after the bounds: bits/dim (a dash: a row is no 8-bit pixels),
    and the per-column reconstruction errors (or why they were skipped)."""
    rec = report.get("reconstruction", {})
    lines = [bits_per_dim_line(report), *UNITS_NOTE]
    if "columns" in rec:
        return lines + render_columns(rec["columns"])
    return lines + skipped_lines(rec)


def render_columns(columns: list[dict]) -> list[str]:
    """A table's per-column reconstruction errors (eval.json's reconstruction.columns), one
    line each."""

    def number(value, form: str) -> str:
        return "—" if value is None else format(value, form)

    lines = [f"  {'reconstruction, per column (posterior mean; RMSE in the column units)'}"]
    for c in columns:
        if c["kind"] == "numeric":
            error = f"RMSE {number(c['rmse'], '.4g')}"
        else:
            error = f"error rate {number(c['error_rate'], '.3f')}"
        lines.append(
            f"    {c['name'][:22]:<22}{error:<22} -log p {number(c['nll'], '.3f')} nats"
            f"   ({c['observed']} observed)"
        )
    return lines


# --- the report and the compare page (see vaekit.kinds.protocol, "render part") -----------


def report_sections(model: Any, shared: list[tuple[str, Builder]]) -> list[tuple[str, Builder]]:
    """The report's sections of a table model: a table's rows are no pictures, so its samples
    and reconstructions are shown as tables, then `shared`; the pictures of images
    (interpolation strips, traversals, the manifold) are left out."""
    return [
        ("Samples", samples_section),
        ("Reconstructions", reconstructions_section),
        *shared,
    ]


def samples_section(run: RunView, count: int = 10) -> str:
    schema = run.model.schema
    rows = run.model.sample(count, seed=run.seed)
    text = f"{count} rows decoded from prior samples (seed {run.seed}), in the table's units"
    return table(schema.names, schema.decode(rows.reshape(count, -1).numpy())) + caption(text)


def reconstructions_section(run: RunView, count: int = 10) -> str:
    schema = run.model.schema
    test = run.need_test()
    rows = test.subset(torch.arange(min(count, len(test))))
    x = rows.images
    given = schema.decode(x.reshape(len(x), -1).numpy())
    made = schema.decode(run.model.reconstruct(x).reshape(len(x), -1).numpy())
    header = [_id_header(schema), "", *schema.names]
    lines = []
    for row_id, a, b in zip(rows.ids or [], given, made, strict=True):
        lines += [[row_id, "input", *a], ["", "reconstruction", *b]]
    text = f"the first {len(x)} test rows above their posterior-mean reconstructions"
    return table(header, lines) + caption(text)


def compare_samples(model: Any, name: str, seed: int) -> str:
    """4 rows sampled from `model` (seed `seed`), in the table's units, as one figure of the
    compare page captioned `name`: rows, not pictures."""
    schema = model.schema
    rows = model.sample(4, seed=seed).reshape(4, -1).numpy()
    return figure(table(schema.names, schema.decode(rows)), name)


def schema_shown(schema: Any, checksum: bool = False) -> Any:
    """config.json's model.schema as a page shows it: a table's columns, as they are."""
    return schema


# --- the pictures `vaekit train` writes beside a run (vaekit.api.report.write_pictures) -----


def pictures(
    model: Any, test: Any, history: list[dict[str, Any]], files: dict[str, Path], seed: int
) -> dict[str, Path]:
    """files["curves"] only: rows are no pictures (`vaekit sample` and `reconstruct` write
    them as CSV)."""
    title = f"{model.config.family} mixed VAE on a table"
    save_curves(history, files["curves"], title=title)
    return {"curves": files["curves"]}


def info_lines(info: dict[str, Any]) -> list[str]:
    """`vaekit data info`'s lines for a table, after its name: its rows and splits, each
    column's kind and statistics (or categories), the classes and the checksum."""
    rows, train, test = info["num_rows"], info["num_train"], info["num_test"]
    lines = [f"  a table of {rows} rows: {train} train / {test} test (carved: "
             f"{info['test_carved']}); {info['missing_values']} missing values"]  # fmt: skip
    for c in info["columns"]:
        if c["kind"] == "numeric":
            what = f"mean {c['mean']:.4g}, std {c['std']:.4g} (training rows)"
        else:
            shown = ", ".join(c["categories"][:8]) + (", ..." if len(c["categories"]) > 8 else "")
            what = f"{len(c['categories'])} categories: {shown}"
        lines.append(f"  {c['name']:<20} {c['kind']:<12} {what}")
    if info.get("classes"):
        lines.append(f"  classes {', '.join(info['classes'])}")
    lines.append(f"  content sha256 {info['sha256']}")
    return lines
