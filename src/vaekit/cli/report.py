"""`vaekit report` (one run's page) and `vaekit compare` (several runs side by side)."""

from __future__ import annotations

import argparse
from typing import Any


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
        "the model cannot have says why. `vaekit train` writes it too, unless --no-report.",
        epilog="examples:\n  vaekit report runs/fm\n  vaekit report runs/fm --map tsne\n"
        "  vaekit report runs/array-run --data images.npz",
        formatter_class=fmt,
    )
    p.add_argument("rundir", metavar="RUNDIR", help="the run directory to write report.html in")
    p.add_argument(
        "--map",
        choices=("auto", "pca", "tsne"),
        default="auto",
        help="the latent map: the latents for Z = 2, else PCA (auto); pca; or tsne (slower, "
        "for looking only) (default: auto)",
    )
    p.add_argument("--data", metavar="NAME|PATH", help="the data of a run trained on an array")
    p.add_argument("--seed", type=int, help="seeds the pictures (default: the run's seed)")
    p.set_defaults(run=run_report)

    p = sub.add_parser(
        "compare",
        help="put several runs side by side: config differences, numbers, curves, samples",
        description="Write one self-contained HTML page comparing runs -- the options in which "
        "their configs differ, their final numbers (with eval.json's NLL and bits/dim where "
        "there is one), their loss curves on shared axes and samples from each -- and print "
        "the table of numbers.",
        epilog="example:\n  vaekit compare runs/fm-z8 runs/fm-z32 -o z.html",
        formatter_class=fmt,
    )
    p.add_argument("rundirs", nargs="+", metavar="RUNDIR", help="two or more run directories")
    p.add_argument("-o", "--output", default="compare.html", metavar="FILE.html",
                   help="the page to write (default: compare.html)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seeds the samples (default: 0)")
    p.set_defaults(run=run_compare)


def run_report(args: argparse.Namespace) -> int:
    from vaekit.api.report import write_report

    path = write_report(args.rundir, data=args.data, map_method=args.map, seed=args.seed)
    print(f"wrote {path}")
    return 0


def format_table(header: tuple[str, ...], rows: list[list[Any]]) -> str:
    """Rows as aligned text columns; numbers with 2 decimals, missing ones as '-'."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    def line(cells: list[str]) -> str:  # the first column left-aligned, the rest right
        pairs = zip(cells, widths, strict=True)
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(pairs))

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(header)]
    return "\n".join([line(list(header))] + [line(r) for r in text])


def run_compare(args: argparse.Namespace) -> int:
    from vaekit.api.compare import compare_runs
    from vaekit.cli.output import writable

    output = writable(args.output, ".html")
    result = compare_runs(args.rundirs, output, seed=args.seed)
    print(format_table(result.metrics_header, result.metrics_rows))
    print("(nats per example; NLL and bits/dim from each run's eval.json where there is one)")
    if result.differences:
        print("\nconfigs differ in:")
        header = ("option", *result.names)
        print(format_table(header, [[k, *v] for k, v in result.differences]))
    else:
        print("\nthe configs are the same")
    print(f"\nwrote {result.path}")
    return 0
