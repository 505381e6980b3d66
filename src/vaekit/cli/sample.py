"""`vaekit sample`: draw new images from a trained model."""

from __future__ import annotations

import argparse

from vaekit.cli.options import (
    add_device,
    add_rundir,
    add_seed,
    checked_device,
    label,
    load_run,
    positive_int,
    temperature,
)
from vaekit.cli.output import add_kind_arguments, add_overwrite
from vaekit.report.limits import MAX_GRID_IMAGES as GRID

DESCRIPTION = f"""Draw z from the prior, decode it, and write the result in the form of the
run's data:
  images   the likelihood's mean as a PNG grid (and with --npy as a .npy array of shape
           (N, C, H, W) in [0, 1])
  a table  rows as CSV: each numeric column's mean and each categorical column's most
           probable category, in the table's units and category names
  audio    WAV clips (each mean spectrogram through Griffin-Lim) and spectrograms.png,
           in a folder
  text     sentences, one a line, in a .txt file (and printed), decoded as --decode says
  a series windows as CSV, one line per step (sample, step, each channel in its units)

For images a PNG grid holds at most {GRID}: -n above that needs --npy, which then holds all
of them (drawn and written {GRID} at a time, with a progress bar, so memory stays that of
one batch) while the PNG shows the first {GRID}. The same --seed and -n give the same
samples."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="draw new examples from a run's model: images, table rows, audio clips or text",
        description=DESCRIPTION,
        epilog="examples:\n  vaekit sample runs/fm -n 64 -o samples.png --seed 1 --npy s.npy\n"
        "  vaekit sample runs/cvae --label 3 -o threes.png   # a conditional model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument(
        "-n",
        type=positive_int,
        default=64,
        help=f"how many to draw (default: 64; for images above {GRID}, give --npy)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.png|.csv",
        help=f"what to write (default: RUNDIR/outputs/sample/): for images a PNG grid of the "
        f"first {GRID} at most (samples.png); for a table's model a CSV of the rows in "
        "the table's units and category names (samples.csv); for text a .txt file of sentences "
        "(samples.txt); for audio a FOLDER of WAV files, sample_000.wav, ..., and "
        "spectrograms.png",
    )
    p.add_argument(
        "--npy", metavar="FILE.npy", help="also save all the images as a float32 array (N, C, H, W)"
    )
    add_seed(p)
    p.add_argument(
        "--temperature",
        type=temperature,
        default=1.0,
        metavar="T",
        help="scale of the prior's standard deviation (default: 1.0); for text, the "
        "softmax temperature of --decode sample",
    )
    p.add_argument(
        "--label",
        type=label,
        metavar="CLASS",
        help="for a conditional model (trained --conditional): the class to draw, by index "
        "or by name (where the data names its classes: image subfolders; digits are an "
        "index)",
    )
    add_kind_arguments("sample", p)  # text's --decode, --beam-width
    add_device(p)
    add_overwrite(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import math

    from vaekit.api.run import run_kind
    from vaekit.cli.output import Outputs, check_space, own_flow
    from vaekit.errors import VaekitError

    checked_device(args)
    kind = run_kind(args.rundir)
    flow = own_flow(kind, "sample")
    if flow is not None:  # audio's clips, text's sentences
        return flow(args)
    part = kind.part("render")
    suffix = part.OUTPUT_SUFFIX
    if args.npy and not part.ARRAYS:
        raise VaekitError(f"--npy is for images: {kind.noun}'s samples are written as "
                          f"{suffix[1:].upper()} (-o)")  # fmt: skip
    outputs = Outputs(args)
    output = outputs.file(args.output, f"samples{suffix}", suffix)
    npy = outputs.file(args.npy, "", ".npy") if args.npy else None
    if part.ARRAYS and args.n > GRID and npy is None:
        raise VaekitError(
            f"-n {args.n}: a PNG grid holds at most {GRID} images; give --npy FILE.npy to keep "
            f"all {args.n} (the PNG then shows the first {GRID})"
        )
    outputs.claim()
    model = load_run(args)
    # A model trained in stages (a VQ-VAE) samples only once they are done (its code prior).
    from vaekit.api.fit_prior import sampling_refusal

    why = sampling_refusal(model)
    if why is not None:
        raise VaekitError(why)
    model.labels(args.label, 1)  # a conditional model needs a label, in range: before work
    shape = (args.n, *model.shape)
    if npy is None:
        x = model.sample(args.n, args.seed, args.temperature, args.label)
    else:
        check_space(npy, 4 * math.prod(shape))
        batches = model.sample_batches(args.n, args.seed, args.temperature, args.label)
        x = _save_stream(npy, shape, batches, quiet=args.quiet)
        print(f"wrote {shape} float32 array to {npy}")
    written = part.write_samples(model, x, output, args.n)
    print(f"wrote {written} to {output}")
    return 0


def _save_stream(npy, shape: tuple[int, ...], batches, quiet: bool = False):
    """Write every batch into `npy` (with a progress bar for more than one, unless `quiet`);
    return the first batch."""
    from vaekit.api.model import BATCH
    from vaekit.cli.output import save_batches
    from vaekit.progress import Bars

    first = []

    def numpy_batches():
        for batch in batches:
            if not first:
                first.append(batch)
            yield batch.numpy()

    with Bars() as bars:
        many = shape[0] > BATCH and not quiet

        def progress(done: int) -> None:
            if many:
                bars.update("sampling", done, shape[0])

        save_batches(npy, shape, numpy_batches(), progress)
    return first[0]
