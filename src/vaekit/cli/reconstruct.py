"""`vaekit reconstruct`: encode images and decode them again."""

from __future__ import annotations

import argparse

from vaekit.cli import text as text_cli
from vaekit.cli.options import add_rundir, positive_int
from vaekit.cli.output import add_overwrite
from vaekit.report.limits import MAX_GRID_IMAGES

SHOWN = MAX_GRID_IMAGES // 2  # inputs in the PNG, each above its reconstruction

DESCRIPTION = f"""Encode images and decode the posterior mean: the INPUTs (test-split indices
or image/.npy files, checked against the model: its size, its channels, its value range), or
else the first N images of the run's test split (or of --data). The PNG shows each row of
inputs above its reconstructions, at most {SHOWN} inputs: -n above that needs --npy, which
holds all the reconstructions (the PNG shows the first {SHOWN}). A conditional model
reconstructs test-split images with their labels; it cannot take INPUT files."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct test images (or given ones) through a run's model",
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
        help="test-split index or image/.npy file (default: the first -n test images)",
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
    text_cli.add_decoding(p)
    add_overwrite(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vaekit.api.inputs import Inputs
    from vaekit.api.model import load, reconstruct_first
    from vaekit.api.run import is_audio_run, is_table_run, is_text_run
    from vaekit.cli import audio
    from vaekit.cli.output import Outputs, save_array
    from vaekit.errors import VaekitError
    from vaekit.report.images import pairs_grid, save_grid

    if is_audio_run(args.rundir):
        return audio.reconstruct(args)
    if is_table_run(args.rundir):
        return _reconstruct_rows(args)
    if is_text_run(args.rundir):
        return text_cli.reconstruct(args)
    outputs = Outputs(args)
    output = outputs.file(args.output, "reconstructions.png", ".png")
    npy = outputs.file(args.npy, "", ".npy") if args.npy else None
    outputs.claim()
    model = load(args.rundir)
    if args.inputs:
        if model.num_classes:
            raise VaekitError(
                "this model is conditional: it reconstructs an image given its label, which "
                "INPUTs do not carry; leave them out to reconstruct the labelled test split"
            )
        inputs = Inputs(model, args.data).images(args.inputs).cpu()
        outputs = model.reconstruct(inputs)
    else:
        test = Inputs(model, args.data, conditional=True).test
        n = min(args.n, len(test))
        if n > SHOWN and npy is None:
            raise VaekitError(
                f"-n {n}: the PNG shows at most {SHOWN} inputs above their reconstructions; "
                f"give --npy FILE.npy to keep all {n} (the PNG then shows the first {SHOWN})"
            )
        inputs, outputs = reconstruct_first(model, test, n)
    if npy:
        save_array(npy, outputs.numpy())
        print(f"wrote {tuple(outputs.shape)} float32 array to {npy}")
    save_grid(pairs_grid(inputs[:SHOWN], outputs[:SHOWN]), output, ncols=8)
    of = f" (the first {SHOWN} of {len(inputs)})" if len(inputs) > SHOWN else ""
    print(f"wrote {min(len(inputs), SHOWN)} images{of} and their reconstructions to {output}")
    return 0


def _reconstruct_rows(args: argparse.Namespace) -> int:
    """A table's model: the rows (INPUTs: test-split indices or table files; else the first
    -n of the test split) beside their posterior-mean reconstructions, as CSV."""
    import torch

    from vaekit.api.inputs import Inputs
    from vaekit.api.model import load
    from vaekit.cli.output import Outputs, save_csv
    from vaekit.errors import VaekitError

    if args.npy:
        raise VaekitError("--npy is for images: a table's reconstructions are written as CSV")
    outputs = Outputs(args)
    output = outputs.file(args.output, "reconstructions.csv", ".csv")
    outputs.claim()
    model = load(args.rundir)
    schema = model.table
    assert schema is not None
    resolver = Inputs(model, args.data)
    if args.inputs:
        rows = resolver.rows(args.inputs)
    else:
        test = resolver.test
        rows = test.subset(torch.arange(min(args.n, len(test))))
    x = rows.images
    outputs = torch.cat([model.reconstruct(x[i : i + 1024]) for i in range(0, len(x), 1024)])
    given = schema.decode(x.reshape(len(x), -1).numpy())
    made = schema.decode(outputs.reshape(len(x), -1).numpy())
    header = [schema.id_column or "row"]
    for name in schema.names:
        header += [name, f"{name}_reconstructed"]
    lines = [
        [row_id, *(cell for pair in zip(a, b, strict=True) for cell in pair)]
        for row_id, a, b in zip(rows.ids or [], given, made, strict=True)
    ]
    save_csv(output, header, lines)
    print(f"wrote {len(lines)} rows and their reconstructions to {output}")
    return 0
