"""`vaekit interpolate`, `vaekit traverse`, `vaekit embed`: the latent space, by hand."""

from __future__ import annotations

import argparse

from vaekit.cli.options import positive_float, positive_int


def dim_list(text: str) -> list[int]:
    """'0-9' or '0,3,5' (or both, '0-3,7') -> a list of dimensions."""
    dims: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                low, high = (int(v) for v in part.split("-", 1))
                dims.extend(range(low, high + 1))
            else:
                dims.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected dimensions like 0-9 or 0,3,5, got {text!r}"
        ) from None
    if not dims or min(dims) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative dimensions, got {text!r}")
    return dims


def add_parser(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "interpolate",
        help="decode a path through latent space between two images",
        description="Encode two images (test-split indices or image/.npy files), walk between "
        "their posterior means and decode each step. With --grid, fill a square between four "
        "corners (top-left, top-right, bottom-left, bottom-right).",
        epilog="examples:\n  vaekit interpolate runs/fm --from 0 --to 7 --steps 10 -o strip.png\n"
        "  vaekit interpolate runs/fm --grid 0 1 2 3 --steps 8 -o grid.png\n"
        "  vaekit interpolate runs/fm --from shoe.png --to 12 --method slerp",
        formatter_class=fmt,
    )
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("--from", dest="start", metavar="A", help="test-split index or image file")
    p.add_argument("--to", dest="end", metavar="B", help="test-split index or image file")
    p.add_argument("--grid", nargs=4, metavar="CORNER", help="four corners instead of --from/--to")
    p.add_argument("--steps", type=positive_int, default=10, help="(default: 10)")
    p.add_argument("--method", choices=("lerp", "slerp"), default="lerp",
                   help="straight line or great circle (default: lerp)")  # fmt: skip
    p.add_argument("--data", metavar="NAME|PATH", help="index into this dataset's test split")
    p.add_argument("-o", "--output", default="interpolation.png", metavar="FILE.png")
    p.add_argument("--npy", metavar="FILE.npy", help="also save the images (N, C, H, W)")
    p.set_defaults(run=run_interpolate)

    p = sub.add_parser(
        "traverse",
        help="vary one latent dimension at a time",
        description="One row per latent dimension, ordered by that dimension's KL on the test "
        "split so the informative ones come first; each row varies the dimension from -RANGE "
        "to +RANGE prior standard deviations around the posterior mean of --index (or the "
        "prior's mean), holding the others.",
        epilog="example:\n  vaekit traverse runs/fm --index 3 --dims 0-9 --range 3 -o t.png",
        formatter_class=fmt,
    )
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("--index", metavar="I", help="test-split index or image file to start from")
    p.add_argument("--dims", type=dim_list, metavar="D", help="e.g. 0-9 or 0,3,5 (default: all)")
    p.add_argument("--range", dest="span", type=positive_float, default=3.0, help="(default: 3)")
    p.add_argument("--steps", type=positive_int, default=9, help="images per row (default: 9)")
    p.add_argument("--data", metavar="NAME|PATH", help="use this dataset's test split")
    p.add_argument("-o", "--output", default="traverse.png", metavar="FILE.png")
    p.add_argument("--npy", metavar="FILE.npy", help="also save the images (N, C, H, W)")
    p.set_defaults(run=run_traverse)

    p = sub.add_parser(
        "embed",
        help="posterior means (and standard deviations) as features",
        description="Encode the test split of the run's data (or --data, or the INPUTS given) "
        "and write the posterior means, one row per image, with the label where there is one; "
        "--with-std adds the posterior standard deviations. .npy writes an array (N, Z) (or "
        "(N, 2Z) with --with-std) and a _labels.npy beside it; .csv writes a table with a "
        "header; .parquet a table (needs pyarrow).",
        epilog="examples:\n  vaekit embed runs/fm -o latents.npy\n"
        "  vaekit embed runs/fm --data mnist --with-std -o mnist.csv",
        formatter_class=fmt,
    )
    p.add_argument("rundir", metavar="RUNDIR")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="test-split indices or files")
    p.add_argument("--data", metavar="NAME|PATH", help="embed this dataset's test split")
    p.add_argument("--with-std", action="store_true", help="add the standard deviations")
    p.add_argument("-o", "--output", default="latents.npy", metavar="FILE.npy|.csv|.parquet")
    p.set_defaults(run=run_embed)


def run_interpolate(args: argparse.Namespace) -> int:
    from vaekit.api import apps
    from vaekit.api.model import load
    from vaekit.cli.output import save_array, writable
    from vaekit.errors import VaekitError
    from vaekit.report.images import save_grid

    output = writable(args.output, ".png")
    npy = writable(args.npy, ".npy") if args.npy else None
    if args.grid is None and (args.start is None or args.end is None):
        raise VaekitError("give --from A --to B, or --grid with four corners")
    model = load(args.rundir)
    if args.grid:
        images = apps.interpolate_grid(model, args.grid, args.steps, args.data)
    else:
        images = apps.interpolate(model, args.start, args.end, args.steps, args.method, args.data)
    save_grid(images, output, ncols=args.steps)
    print(f"wrote {len(images)} images to {output}")
    if npy:
        save_array(npy, images.numpy())
    return 0


def run_traverse(args: argparse.Namespace) -> int:
    from vaekit.api import apps
    from vaekit.api.model import load
    from vaekit.cli.output import save_array, writable
    from vaekit.report.images import save_grid

    output = writable(args.output, ".png")
    npy = writable(args.npy, ".npy") if args.npy else None
    model = load(args.rundir)
    images, dims, kl = apps.traverse(model, args.index, args.dims, args.span, args.steps, args.data)
    save_grid(images, output, ncols=args.steps)
    print(f"wrote {len(dims)} rows to {output}; rows are latent dimensions, by KL (nats):")
    print("  " + ", ".join(f"z{d} {v:.2f}" for d, v in zip(dims, kl, strict=True)))
    if npy:
        save_array(npy, images.numpy())
    return 0


def run_embed(args: argparse.Namespace) -> int:

    import numpy as np

    from vaekit.api import apps
    from vaekit.api.model import load
    from vaekit.cli.output import save_array, writable
    from vaekit.files import atomic_write

    output = writable(args.output, (".npy", ".csv", ".parquet"))
    suffix = output.suffix.lower()
    label_file = writable(output.with_name(output.stem + "_labels.npy"), ".npy")
    model = load(args.rundir)
    result = apps.embed(model, args.data, args.inputs)
    mean, std, labels = result["mean"].numpy(), result["std"].numpy(), result["labels"]
    table = np.concatenate([mean, std], axis=1) if args.with_std else mean
    if suffix == ".npy":
        save_array(output, table)
        if labels is not None:
            atomic_write(label_file, lambda p: np.save(p.open("wb"), labels.numpy()))
    else:
        z = mean.shape[1]
        stds = [f"std_{i}" for i in range(z)] if args.with_std else []
        header = [f"mean_{i}" for i in range(z)] + stds
        if suffix == ".parquet":
            _write_parquet(output, header, table, labels)
        else:
            rows = [",".join(f"{v:.6g}" for v in row) for row in table]
            if labels is not None:
                header.append("label")
                rows = [f"{r},{int(lab)}" for r, lab in zip(rows, labels.tolist(), strict=True)]
            text = ",".join(header) + "\n" + "\n".join(rows) + "\n"
            atomic_write(output, lambda p: p.write_text(text))
    print(f"wrote {table.shape[0]} embeddings of {table.shape[1]} numbers to {output}")
    return 0


def _write_parquet(output, header: list[str], table, labels) -> None:
    from vaekit.errors import VaekitError
    from vaekit.files import atomic_write

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise VaekitError("writing .parquet needs pyarrow: pip install 'vaekit[parquet]'") from None
    columns = {name: table[:, i] for i, name in enumerate(header)}
    if labels is not None:
        columns["label"] = labels.numpy()
    atomic_write(output, lambda p: pq.write_table(pa.table(columns), str(p)))
