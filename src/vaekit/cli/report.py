"""`vaekit report` (one run's page) and `vaekit compare` (several runs side by side)."""

from __future__ import annotations

import argparse
from typing import Any

from vaekit.cli.options import add_device, add_rundir, add_seed, checked_device
from vaekit.cli.output import add_overwrite


def add_parser(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "report",
        help="write RUNDIR/report.html: config, curves, eval table and latent pictures",
        description="Write one self-contained HTML page about a run (RUNDIR/report.html; every "
        "image embedded, nothing loaded from a network): its configuration, the loss curves "
        "(-ELBO, reconstruction and KL per epoch, train and validation), the eval table where "
        "`vaekit eval` wrote eval.json, samples, reconstructions, an interpolation strip, a "
        "latent traversal, the KL per latent dimension, a 2-D map of the test set's posterior "
        "means coloured by label and, for a 2-D latent space, the decoded manifold. A section "
        "the model cannot have says why. `vaekit train` writes it too, unless --no-report. "
        "It also rewrites the run's model card (RUNDIR/README.md, whole: text added to it is "
        "lost; a README.md without its vaekit_card line is left alone, the card going to "
        "MODEL_CARD.md), and writes a finished run's missing pictures (curves.png, ...).",
        epilog="examples:\n  vaekit report runs/fm\n  vaekit report runs/fm --map tsne\n"
        "  vaekit report runs/array-run --data images.npz",
        formatter_class=fmt,
    )
    add_rundir(p, "report.html is written in it")
    p.add_argument(
        "--map",
        choices=("auto", "pca", "tsne"),
        default="auto",
        help="the latent map: the latents for Z = 2, else PCA (auto); pca; or tsne (slower, "
        "for looking only) (default: auto)",
    )
    p.add_argument("--data", metavar="NAME|PATH", help="the data of a run trained on an array")
    add_seed(p, "the pictures", from_run=True)
    add_device(p)
    p.set_defaults(run=run_report, writes_in_run="report.html")

    p = sub.add_parser(
        "compare",
        help="put several runs side by side: config differences, numbers, curves, samples",
        description="Write one self-contained HTML page comparing runs -- the options in which "
        "their configs differ, their final numbers, eval.json's bound named with its K "
        "(an NLL, or an objective where the likelihood cannot model the data; shown only "
        "where it judged the run's current weights, else 'stale'), their loss curves on "
        "shared axes and samples from each -- and print the tables of numbers. Runs trained "
        "on different data are warned about.",
        epilog="example:\n  vaekit compare runs/fm-z8 runs/fm-z32 -o z.html",
        formatter_class=fmt,
    )
    add_rundir(p, several=True)
    p.add_argument("-o", "--output", metavar="FILE.html",
                   help="the page to write (default: FIRST_RUNDIR/outputs/compare/"
                   "compare.html)")  # fmt: skip
    add_seed(p, "the samples")
    add_device(p)
    add_overwrite(p, together=False)  # (it reads eval.json back)
    p.set_defaults(run=run_compare)


def run_report(args: argparse.Namespace) -> int:
    from vaekit.api.card import write_model_card
    from vaekit.api.model import load
    from vaekit.api.report import finish_run

    # A run whose wrap-up was cut short gets its pictures too (curves.png, samples, ...).
    written = finish_run(args.rundir, data=args.data, map_method=args.map, seed=args.seed,
                         device=checked_device(args))  # fmt: skip
    for path in written.values():
        print(f"wrote {path}")
    # The model card, with the eval and anomaly files as they are now.
    print(f"wrote {write_model_card(args.rundir, load(args.rundir))}")
    return 0


# The widest line a table prints: wider tables are printed one row per block instead.
WIDTH = 120


def format_table(header: tuple[str, ...], rows: list[list[Any]], width: int = WIDTH) -> str:
    """Rows as aligned text columns; numbers as the pages show them (2 decimals, 4
    significant digits below 1: a learning rate of 0.0005 is not 0.00), missing ones as '-'.
    Where that would print a line wider than `width` (long config values, many runs), each
    row is a block instead: its first cell, then one line per column, wrapped to `width`."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"
        return str(value)

    def line(cells: list[str]) -> str:  # numbers right-aligned, the rest left
        pairs = zip(cells, widths, numeric, strict=True)
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in pairs).rstrip()

    numeric = [
        i > 0 and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(header))
    ]
    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(header)]
    if sum(widths) + 2 * (len(widths) - 1) <= width:
        return "\n".join([line(list(header))] + [line(r) for r in text])
    return "\n\n".join(_block(header, r, width) for r in text)


def _block(header: tuple[str, ...], cells: list[str], width: int) -> str:
    """One row of a table too wide for the terminal: the first cell, then "  column  value"
    lines, every line wrapped to `width` (a column name too long to share its line gets
    a line of its own)."""
    import textwrap

    def wrap(text: str, first: str, rest: str) -> list[str]:
        return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                             break_on_hyphens=False) or [first.rstrip()]  # fmt: skip

    label = min(max(len(h) for h in header[1:]), width // 3)
    lines = wrap(cells[0], "", "  ")
    for name, value in zip(header[1:], cells[1:], strict=True):
        if len(name) > label:
            lines += wrap(name, "  ", "  ")
            lines += wrap(value, " " * (label + 4), " " * (label + 4))
        else:
            lines += wrap(value, f"  {name.ljust(label)}  ", " " * (label + 4))
    return "\n".join(lines)


def run_compare(args: argparse.Namespace) -> int:
    import sys

    from vaekit.api.compare import compare_runs
    from vaekit.cli.output import Outputs
    from vaekit.report.comparison import as_given

    checked_device(args)
    args.rundir = args.rundirs[0]  # the default output goes into the first run directory
    outputs = Outputs(args)
    output = outputs.file(args.output, "compare.html", ".html")
    outputs.claim()
    result = compare_runs(args.rundirs, output, seed=args.seed, device=args.device)
    print(format_table(result.metrics_header, result.metrics_rows))
    print("(nats per example, from each run's metrics.jsonl)\n")
    print(format_table(result.eval_header, result.eval_rows))
    print(
        "(nats per example, from each run's eval.json where it judged the run's current\n"
        " weights: an objective, not an NLL, where the likelihood cannot model the data)"
    )
    if result.differences:
        print("\nconfigs differ in:")
        header = ("option", *result.names)
        print(format_table(header, [[k, *map(as_given, v)] for k, v in result.differences]))
    else:
        print("\nthe configs are the same")
    for warning in result.warnings:
        print(f"vaekit: warning: {warning}", file=sys.stderr)
    print(f"\nwrote {result.path}")
    return 0
