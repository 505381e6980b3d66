"""`vaekit reconstruct`: encode images and decode them again."""

from __future__ import annotations

import argparse

from vaekit.cli.options import add_device, add_rundir, checked_device, load_run, positive_int
from vaekit.cli.output import add_kind_arguments, add_overwrite
from vaekit.report.limits import MAX_GRID_IMAGES

SHOWN = MAX_GRID_IMAGES // 2  # inputs in the PNG, each above its reconstruction

DESCRIPTION = f"""Encode images and decode the posterior mean: the INPUTs (test-split indices
or image/.npy files, checked against the model: its size, its channels, its value range), or
else the first N images of the run's test split (or of --data). The PNG shows each row of
inputs above its reconstructions, at most {SHOWN} inputs: -n above that needs --npy, which
holds all the reconstructions (the PNG shows the first {SHOWN}). A conditional model
reconstructs test-split images with their labels; it cannot take INPUT files. For a table
or a time series, INPUTs are test-split indices or its files (every row, every window), and
the reconstructions are written as CSV in the data's units; for audio, .wav clips, written as
.wav files in a folder; for text, sentences or .txt files, written as CSV (input, as_read,
reconstruction)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct test examples (or given ones) through a run's model",
        description=DESCRIPTION,
        epilog="examples:\n  vaekit reconstruct runs/fm -n 16 -o reconstructions.png\n"
        "  vaekit reconstruct runs/fm 0 7 shoe.png -o mine.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="test-split index or a file of the run's kind of data: image/.npy, table, "
        "series or .wav file, or a sentence for text (default: the first -n test examples)",
    )
    p.add_argument(
        "-n",
        type=positive_int,
        default=16,
        help=f"number of test images without INPUTs (default: 16; above {SHOWN}, give --npy)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.png|.csv",
        help="what to write (default: RUNDIR/outputs/reconstruct/): for images a PNG "
        "(reconstructions.png); for a table's model a CSV with each row's id, then each "
        "column beside its reconstruction, COLUMN_reconstructed, in the table's units "
        "(reconstructions.csv); for text a CSV of sentences (reconstructions.csv); for audio "
        "a FOLDER of WAV files, NAME_input.wav and NAME_reconstruction.wav, and "
        "spectrograms.png",
    )
    p.add_argument(
        "--data",
        metavar="NAME|PATH",
        help="reconstruct this dataset's test split instead of the run's own",
    )
    p.add_argument(
        "--npy",
        metavar="FILE.npy",
        help="also save all the reconstructions as a float32 array (N, C, H, W)",
    )
    add_kind_arguments("reconstruct", p)  # text's --decode, --beam-width
    add_device(p)
    add_overwrite(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vaekit.api.inputs import Inputs
    from vaekit.api.model import reconstruct_first
    from vaekit.api.run import run_kind
    from vaekit.cli.output import Outputs, own_flow, save_array
    from vaekit.errors import VaekitError

    checked_device(args)
    kind = run_kind(args.rundir)
    flow = own_flow(kind, "reconstruct")
    if flow is not None:  # audio's clips, text's sentences
        return flow(args)
    part = kind.part("render")
    suffix = part.OUTPUT_SUFFIX
    if args.npy and not part.ARRAYS:
        raise VaekitError(f"--npy is for images: {kind.noun}'s reconstructions are written as "
                          f"{suffix[1:].upper()}")  # fmt: skip
    outputs = Outputs(args)
    output = outputs.file(args.output, f"reconstructions{suffix}", suffix)
    npy = outputs.file(args.npy, "", ".npy") if args.npy else None
    outputs.claim()
    model = load_run(args)
    ids = None
    if part.ROWS:
        ids, inputs, made = _reconstruct_rows(model, args)
    elif args.inputs:
        if model.num_classes:
            raise VaekitError(
                "this model is conditional: it reconstructs an image given its label, which "
                "INPUTs do not carry; leave them out to reconstruct the labelled test split"
            )
        inputs = Inputs(model, args.data).images(args.inputs).cpu()
        made = model.reconstruct(inputs)
    else:
        test = Inputs(model, args.data, conditional=True).test
        n = min(args.n, len(test))
        if args.n > n:
            print(f"note: -n {args.n}, and the test split holds {n}: reconstructing all {n}")
        if n > SHOWN and npy is None:
            raise VaekitError(
                f"-n {n}: the PNG shows at most {SHOWN} inputs above their reconstructions; "
                f"give --npy FILE.npy to keep all {n} (the PNG then shows the first {SHOWN})"
            )
        inputs, made = reconstruct_first(model, test, n)
    if npy:
        save_array(npy, made.numpy())
        print(f"wrote {tuple(made.shape)} float32 array to {npy}")
    written = part.write_reconstructions(model, ids, inputs, made, output)
    print(f"wrote {written} to {output}")
    return 0


def _reconstruct_rows(model, args: argparse.Namespace):
    """Where INPUTs name rows (a table's model): (their ids, the rows, their posterior-mean
    reconstructions), the INPUTs' rows (test-split indices or table files) or else the first
    -n of the test split."""
    import torch

    from vaekit.api.inputs import Inputs

    resolver = Inputs(model, args.data)
    if args.inputs:
        rows = resolver.rows(args.inputs)
    else:
        test = resolver.test
        rows = test.subset(torch.arange(min(args.n, len(test))))
    x = rows.images
    made = torch.cat([model.reconstruct(x[i : i + 1024]) for i in range(0, len(x), 1024)])
    return rows.ids, x, made
