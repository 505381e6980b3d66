"""`vaekit sample`: draw new images from a trained model."""

from __future__ import annotations

import argparse

from vaekit.cli.options import positive_float, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="draw new images from a run's model",
        description="Draw z from the prior, decode it, and save the likelihood's mean as a "
        "grid of images (and optionally as a .npy array of shape (N, C, H, W) in [0, 1]).",
        epilog="examples:\n  vaekit sample runs/fm -n 64 -o samples.png --seed 1 --npy s.npy\n"
        "  vaekit sample runs/cvae --label 3 -o threes.png   # a conditional model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rundir", metavar="RUNDIR", help="a run directory written by vaekit train")
    p.add_argument("-n", type=positive_int, default=64, help="number of images (default: 64)")
    p.add_argument(
        "-o",
        "--output",
        default="samples.png",
        metavar="FILE.png",
        help="PNG grid to write (default: samples.png)",
    )
    p.add_argument("--npy", metavar="FILE.npy", help="also save the images as a float32 array")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--temperature",
        type=positive_float,
        default=1.0,
        metavar="T",
        help="scale of the prior's standard deviation (default: 1.0)",
    )
    p.add_argument(
        "--label",
        type=int,
        metavar="CLASS",
        help="for a conditional model (trained --conditional): the class to draw",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vaekit.api.model import load
    from vaekit.cli.output import save_array, writable
    from vaekit.report.images import save_grid

    output = writable(args.output, ".png")
    npy = writable(args.npy, ".npy") if args.npy else None
    model = load(args.rundir)
    images = model.sample(args.n, seed=args.seed, temperature=args.temperature, label=args.label)
    save_grid(images, output)
    print(f"wrote {args.n} samples to {output}")
    if npy:
        save_array(npy, images.numpy())
        print(f"wrote {tuple(images.shape)} float32 array to {npy}")
    return 0
