"""`vaekit reconstruct`: encode images and decode them again."""

from __future__ import annotations

import argparse

from vaekit.cli.options import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct",
        help="reconstruct test images through a run's model",
        description="Encode the first N images of the run's test split (or of --data) and "
        "decode the posterior mean; the PNG shows each row of inputs above its reconstructions.",
        epilog="example:\n  vaekit reconstruct runs/fm -n 16 -o reconstructions.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rundir", metavar="RUNDIR", help="a run directory written by vaekit train")
    p.add_argument("-n", type=positive_int, default=16, help="number of images (default: 16)")
    p.add_argument(
        "-o",
        "--output",
        default="reconstructions.png",
        metavar="FILE.png",
        help="PNG to write (default: reconstructions.png)",
    )
    p.add_argument(
        "--data",
        metavar="NAME|PATH",
        help="reconstruct this dataset's test split instead of the run's own",
    )
    p.add_argument(
        "--npy",
        metavar="FILE.npy",
        help="also save the reconstructions as a float32 array (N, C, H, W)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vaekit.api.model import load, reconstruct_first
    from vaekit.api.run import reopen_dataset
    from vaekit.cli.output import save_array, writable
    from vaekit.report.images import pairs_grid, save_grid

    output = writable(args.output, ".png")
    npy = writable(args.npy, ".npy") if args.npy else None
    model = load(args.rundir)
    dataset = reopen_dataset(model.run_config, args.data)
    inputs, outputs = reconstruct_first(model, dataset.test, args.n)
    save_grid(pairs_grid(inputs, outputs), output, ncols=8)
    print(f"wrote {len(inputs)} test images and their reconstructions to {output}")
    if npy:
        save_array(npy, outputs.numpy())
        print(f"wrote {tuple(outputs.shape)} float32 array to {npy}")
    return 0
