"""`vaekit interpolate`, `vaekit traverse`, `vaekit embed`: the latent space, by hand."""

from __future__ import annotations

import argparse

from vaekit.cli.options import (
    add_device,
    add_rundir,
    checked_device,
    count,
    load_run,
    positive_float,
)
from vaekit.cli.output import add_kind_arguments, add_overwrite
from vaekit.report.limits import MAX_GRID_COLUMNS, MAX_GRID_IMAGES

IMAGE_HELP = "a test-split index or an image/.npy file (of one image, the model's size)"
GRID_STEPS = 32  # a --grid of steps x steps images: at most MAX_GRID_IMAGES


def dim_list(text: str) -> list[int]:
    """'0-9' or '0,3,5' (or both, '0-3,7') -> a list of dimensions, at most one grid's rows
    (counted before a range is spelled out, so '0-99999999999' costs nothing)."""
    ranges: list[tuple[int, int]] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            ranges.append((int(low), int(high) if high else int(low)))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected dimensions like 0-9 or 0,3,5, got {text!r}"
        ) from None
    if any(low < 0 for low, _ in ranges):
        raise argparse.ArgumentTypeError(f"expected non-negative dimensions, got {text!r}")
    if any(high < low for low, high in ranges):
        raise argparse.ArgumentTypeError(f"a range runs low to high (2-5, not 5-2), got {text!r}")
    if sum(high - low + 1 for low, high in ranges) > MAX_GRID_IMAGES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: at most {MAX_GRID_IMAGES} dimensions (one row of the PNG each)"
        )
    return [d for low, high in ranges for d in range(low, high + 1)]


def add_parser(sub: argparse._SubParsersAction) -> None:
    _add_interpolate(sub)
    _add_traverse(sub)
    _add_embed(sub)


def _add_interpolate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate",
        help="decode a path through latent space between two inputs",
        description="Encode two inputs (test-split indices or image/.npy files; for a table or "
        "a series its rows or windows, for audio .wav clips, for text sentences), walk between "
        "their posterior means and decode each step. With --grid (images), fill a square "
        "between four corners (top-left, top-right, bottom-left, bottom-right). A strip holds "
        "at most "
        f"{MAX_GRID_IMAGES} steps, wrapping after {MAX_GRID_COLUMNS}; a --grid at most "
        f"{GRID_STEPS} x {GRID_STEPS}.",
        epilog="examples:\n  vaekit interpolate runs/fm --from 0 --to 7 --steps 10 -o strip.png\n"
        "  vaekit interpolate runs/fm --grid 0 1 2 3 --steps 8 -o grid.png\n"
        "  vaekit interpolate runs/fm --from shoe.png --to 12 --method slerp",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument("--from", dest="start", metavar="A", help=f"the start: {IMAGE_HELP}")
    p.add_argument("--to", dest="end", metavar="B", help=f"the end: {IMAGE_HELP}")
    p.add_argument("--grid", nargs=4, metavar="CORNER", help="four corners instead of --from/--to")
    p.add_argument("--steps", type=count(2, MAX_GRID_IMAGES), default=10,
                   help=f"images along the path, or along each side of a --grid (default: 10; "
                   f"at most {GRID_STEPS} with --grid)")  # fmt: skip
    p.add_argument("--method", choices=("lerp", "slerp"), default="lerp",
                   help="straight line or great circle (default: lerp)")  # fmt: skip
    p.add_argument("--data", metavar="NAME|PATH", help="index into this dataset's test split")
    p.add_argument("-o", "--output", metavar="FILE.png|.csv|.txt|FOLDER",
                   help="what to write (default: RUNDIR/outputs/interpolate/): for images a "
                   "PNG (interpolation.png); for a table's model a CSV of the decoded rows in "
                   "the table's units, with their step (and grid row and column) "
                   "(interpolation.csv); for text a .txt file, a sentence per step "
                   "(interpolation.txt); for audio a FOLDER of WAV files, step_00.wav, ..., "
                   "and spectrograms.png")  # fmt: skip
    p.add_argument("--npy", metavar="FILE.npy", help="also save the images (N, C, H, W)")
    add_kind_arguments("interpolate", p)  # text's --decode, --beam-width
    add_device(p)
    add_overwrite(p)
    p.set_defaults(run=run_interpolate)


def _add_traverse(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "traverse",
        help="vary one latent dimension at a time",
        description="One row per latent dimension, ordered by that dimension's KL on the test "
        "split so the informative ones come first; each row varies the dimension from -RANGE "
        "to +RANGE prior standard deviations around the posterior mean of --index (or the "
        f"prior's mean), holding the others. The PNG holds at most {MAX_GRID_IMAGES} images: "
        f"without --dims, a model with more than {MAX_GRID_IMAGES} // STEPS latent dimensions "
        "shows its most informative ones (and says so).",
        epilog="example:\n  vaekit traverse runs/fm --index 3 --dims 0-9 --range 3 -o t.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument("--index", metavar="I", help=f"the image to start from: {IMAGE_HELP}")
    p.add_argument("--dims", type=dim_list, metavar="D", help="e.g. 0-9 or 0,3,5 (default: all)")
    p.add_argument("--range", dest="span", type=positive_float, default=3.0, metavar="RANGE",
                   help="prior standard deviations each way (default: 3)")  # fmt: skip
    p.add_argument("--steps", type=count(2, MAX_GRID_COLUMNS), default=9,
                   help=f"images per row (default: 9, at most {MAX_GRID_COLUMNS})")  # fmt: skip
    p.add_argument("--data", metavar="NAME|PATH", help="use this dataset's test split")
    p.add_argument("-o", "--output", metavar="FILE.png",
                   help="PNG to write (default: RUNDIR/outputs/traverse/traverse.png)")  # fmt: skip
    p.add_argument("--npy", metavar="FILE.npy", help="also save the images (N, C, H, W)")
    add_device(p)
    add_overwrite(p)
    p.set_defaults(run=run_traverse)


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "embed",
        help="posterior means (and standard deviations) as features",
        description="Encode the test split of the run's data (or --data, or the INPUTS given) "
        "and write the posterior means, one row per example (image, row, clip, line or window, "
        "named by its id or its last step's time where it has one), with the label where "
        "there is one; "
        "--with-std adds the posterior standard deviations. .npy writes an array (N, Z) (or "
        "(N, 2Z) with --with-std) and a _labels.npy beside it; .csv writes a table with a "
        "header; .parquet a table (needs pyarrow).",
        epilog="examples:\n  vaekit embed runs/fm -o latents.npy\n"
        "  vaekit embed runs/fm --data mnist --with-std -o mnist.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="test-split indices or files of the run's kind of data: image/.npy, "
                   "table, series or .wav files, or sentences for text (default: the whole "
                   "test split)")  # fmt: skip
    p.add_argument("--data", metavar="NAME|PATH", help="embed this dataset's test split")
    p.add_argument("--with-std", action="store_true", help="add the standard deviations")
    p.add_argument("-o", "--output", metavar="FILE.npy|.csv|.parquet",
                   help="the table to write; its suffix picks the format; a .npy file has its "
                   "labels beside it in FILE_labels.npy (default: "
                   "RUNDIR/outputs/embed/latents.npy)")  # fmt: skip
    add_device(p)
    add_overwrite(p)
    p.set_defaults(run=run_embed)


def run_interpolate(args: argparse.Namespace) -> int:
    from vaekit.api import apps
    from vaekit.api.run import run_kind
    from vaekit.cli.output import Outputs, own_flow, save_array
    from vaekit.errors import VaekitError

    checked_device(args)
    kind = run_kind(args.rundir)
    flow = own_flow(kind, "interpolate")
    if flow is not None:  # audio's clips, text's sentences
        return flow(args)
    part = kind.part("render")
    suffix = part.OUTPUT_SUFFIX
    if args.npy and not part.ARRAYS:
        raise VaekitError(f"--npy is for images: {kind.noun}'s interpolation is written as "
                          f"{suffix[1:].upper()}")  # fmt: skip
    outputs = Outputs(args)
    output = outputs.file(args.output, f"interpolation{suffix}", suffix)
    npy = outputs.file(args.npy, "", ".npy") if args.npy else None
    if args.grid is None and (args.start is None or args.end is None):
        raise VaekitError("give --from A --to B, or --grid with four corners")
    if args.grid is not None and (args.start is not None or args.end is not None):
        raise VaekitError("give --from A --to B, or --grid with four corners, not both")
    if args.grid and args.steps > GRID_STEPS:
        raise VaekitError(
            f"--steps {args.steps}: a --grid is at most {GRID_STEPS} x {GRID_STEPS} images"
        )
    outputs.claim()
    model = load_run(args)
    if args.grid:
        images = apps.interpolate_grid(model, args.grid, args.steps, args.data)
    else:
        images = apps.interpolate(model, args.start, args.end, args.steps, args.method, args.data)
    if npy:
        save_array(npy, images.numpy())
    written = part.write_interpolation(model, images, output, args.steps, bool(args.grid))
    print(f"wrote {written} to {output}")
    return 0


def run_traverse(args: argparse.Namespace) -> int:
    from vaekit.api import apps
    from vaekit.cli.output import Outputs, save_array
    from vaekit.errors import VaekitError
    from vaekit.report.images import save_grid

    checked_device(args)
    outputs = Outputs(args)
    output = outputs.file(args.output, "traverse.png", ".png")
    npy = outputs.file(args.npy, "", ".npy") if args.npy else None
    rows = MAX_GRID_IMAGES // args.steps
    if args.dims is not None and len(args.dims) > rows:
        raise VaekitError(
            f"--dims: {len(args.dims)} rows of {args.steps} images; a PNG holds at most "
            f"{MAX_GRID_IMAGES}: give at most {rows} dimensions, or fewer --steps"
        )
    outputs.claim()
    model = load_run(args)
    images, dims, kl = apps.traverse(
        model, args.index, args.dims, args.span, args.steps, args.data, most=rows
    )
    if npy:
        save_array(npy, images.numpy())
    save_grid(images, output, ncols=args.steps)
    if len(dims) < model.latent_dim and args.dims is None:
        print(f"the PNG holds {rows} rows of {args.steps}: the {rows} most informative of "
              f"{model.latent_dim} latent dimensions (pick others with --dims)")  # fmt: skip
    print(f"wrote {len(dims)} rows to {output}; rows are latent dimensions, by KL (nats):")
    print("  " + ", ".join(f"z{d} {v:.2f}" for d, v in zip(dims, kl, strict=True)))
    return 0


def run_embed(args: argparse.Namespace) -> int:
    import importlib.util
    from pathlib import Path

    import numpy as np

    from vaekit.api import apps
    from vaekit.api.run import run_kind
    from vaekit.cli.output import Outputs, own_flow, save_array, save_npy
    from vaekit.errors import VaekitError
    from vaekit.files import atomic_write, save_csv

    checked_device(args)
    flow = own_flow(run_kind(args.rundir), "embed")
    if flow is not None:  # text's sentences
        return flow(args)
    outputs = Outputs(args)
    given = args.output
    suffix = Path(given).suffix.lower() if given else ".npy"
    beside = ("_labels.npy",) if suffix == ".npy" else ()
    output = outputs.file(given, "latents.npy", (".npy", ".csv", ".parquet"), beside)
    label_file = output.with_name(output.stem + "_labels.npy")
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise VaekitError("writing .parquet needs pyarrow: pip install 'vaekit[parquet]'")
    outputs.claim()
    model = load_run(args)
    result = apps.embed(model, args.data, args.inputs)
    mean, std, labels = result["mean"].numpy(), result["std"].numpy(), result["labels"]
    table = np.concatenate([mean, std], axis=1) if args.with_std else mean
    ids = result.get("ids")
    part = model.kind.part("render")
    classes = part.class_names(model)
    if labels is not None and classes is not None and suffix != ".npy":
        labels = [classes[k] for k in labels.tolist()]  # the class names
    if suffix == ".npy":
        save_array(output, table)
        if labels is not None:
            save_npy(label_file, labels.numpy())
    elif ids is not None:  # a table's rows (an audio model's files): their ids first
        z = mean.shape[1]
        stds = [f"std_{i}" for i in range(z)] if args.with_std else []
        # a kind whose names are of several parts (a series' window: its series and time)
        # writes them in columns of their own
        split = getattr(part, "id_columns", None)
        named, cells = (split(list(ids), part.id_header(model)) if split is not None
                        else ([part.id_header(model)], [[i] for i in ids]))  # fmt: skip
        header = [*named, *(f"mean_{i}" for i in range(z)), *stds]
        header += ["label"] if labels is not None else []
        lines = [
            [*cells[i], *(f"{v:.6g}" for v in values), *([labels[i]] if labels is not None else [])]
            for i, values in enumerate(table)
        ]
        if suffix == ".parquet":
            _write_parquet_rows(output, header, lines)
        else:
            save_csv(output, header, lines)
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
    import pyarrow as pa  # checked to be there before any work
    import pyarrow.parquet as pq

    from vaekit.files import atomic_write

    columns = {name: table[:, i] for i, name in enumerate(header)}
    if labels is not None:
        columns["label"] = labels.numpy()
    atomic_write(output, lambda p: pq.write_table(pa.table(columns), str(p)))


def _write_parquet_rows(output, header: list[str], lines: list[list]) -> None:
    """A table's embeddings as Parquet: the id (and label) as text, the rest as numbers."""
    import pyarrow as pa  # checked to be there before any work
    import pyarrow.parquet as pq

    from vaekit.files import atomic_write

    columns = {}
    for j, name in enumerate(header):
        values = [line[j] for line in lines]
        text = j == 0 or name == "label"
        columns[name] = values if text else [float(v) for v in values]
    atomic_write(output, lambda p: pq.write_table(pa.table(columns), str(p)))
