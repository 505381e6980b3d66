"""`vaekit fit-prior`: the second training stage of a model with discrete latents."""

from __future__ import annotations

import argparse

from vaekit.cli.options import (
    add_device,
    add_rundir,
    add_seed,
    checked_device,
    positive_float,
    positive_int,
)

DESCRIPTION = """Train the prior over a VQ-VAE's code maps (van den Oord et al. 2017, section
3.2): the run's training split (less its validation part) is encoded to code maps once, and a
PixelCNN of --layers masked, gated layers (a K-way categorical at each position, given the
codes before it in raster order) is fit to them by Adam. It is saved in the run directory as
code_prior.safetensors (weights only) and code_prior.json (its sizes, what it was fit on, and
the sha256 of the weights whose codes it models); running it again replaces them.

After it, `vaekit sample RUNDIR` draws code maps from it and decodes them, and `vaekit eval
RUNDIR` reports the bound -log p(x) <= -log p(x|z_q) - log p(z_q) (before it: the uniform
prior's, -log p(x|z_q) + h w log K). Numbers printed are nats per code map."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-prior",
        help="train a VQ-VAE's code prior (a PixelCNN over its code maps), which sample needs",
        description=DESCRIPTION,
        epilog="examples:\n  vaekit train --data digits --model vqvae --out runs/vq\n"
        "  vaekit fit-prior runs/vq --epochs 20\n  vaekit sample runs/vq -n 64",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p, "a --model vqvae run")
    p.add_argument("--epochs", type=positive_int, default=10, metavar="N",
                   help="passes over the training split's codes (default: 10)")  # fmt: skip
    p.add_argument("--lr", type=positive_float, default=1e-3, metavar="X",
                   help="Adam's learning rate (default: 0.001)")  # fmt: skip
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="B",
                   help="code maps per step (default: 64)")  # fmt: skip
    p.add_argument("--layers", type=positive_int, default=5, metavar="L",
                   help="masked, gated layers of the PixelCNN (default: 5)")  # fmt: skip
    p.add_argument("--width", type=positive_int, default=64, metavar="W",
                   help="channels of its layers (default: 64)")  # fmt: skip
    p.add_argument("--data", metavar="NAME|PATH",
                   help="the run's data where it has moved, or was an in-memory array")  # fmt: skip
    add_seed(p, "the prior's initial weights and the order of its batches")
    add_device(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vaekit.api.fit_prior import fit_prior
    from vaekit.api.run import run_kind
    from vaekit.progress import Bars

    checked_device(args)
    with Bars(unit=run_kind(args.rundir).unit) as bars:
        record = fit_prior(
            args.rundir,
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            layers=args.layers,
            width=args.width,
            device=args.device,
            seed=args.seed,
            progress=None if args.quiet else bars.update,
            data=args.data,
        )
    val = record["val_nll"]
    print(f"code prior: -log p(z_q) {record['train_nll']:.2f} nats per code map on the "
          f"training codes" + ("" if val is None else f", {val:.2f} on the validation codes")
          + f" (uniform prior: {record['uniform_nll']:.2f})")  # fmt: skip
    for path in record["files"]:
        print(f"wrote {path}")
    return 0
