"""`vaekit train`: train a VAE and write a run directory."""

from __future__ import annotations

import argparse

from vaekit.cli.options import fraction, int_list, positive_float, positive_int

HELP = "train a VAE on a dataset and write a run directory"
DESCRIPTION = """Train a VAE and write a run directory (RUNDIR):
  config.json        the full resolved config: data, model, training, versions, data checksum
  model.safetensors  the weights (saved after every epoch)
  metrics.jsonl      one line per epoch: train and validation -ELBO, reconstruction and KL
                     (nats per example), then a final line with the test split's numbers
  samples.png  reconstructions.png  curves.png

The objective is the batch mean of the per-example negative ELBO = reconstruction + KL,
with one posterior sample per example (the reparameterization trick) and the KL in closed form."""

EPILOG = """examples:
  vaekit train                                   # conv VAE on Fashion-MNIST, 10 epochs
  vaekit train --data digits --model mlp --hidden-dims 256,128 --epochs 20 --out runs/digits
  vaekit train --data fashion-mnist --likelihood gaussian --gaussian-std 0.1 --out runs/fm-g"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        default="fashion-mnist",
        metavar="NAME|PATH",
        help="a dataset name (fashion-mnist, digits) or a folder holding the four IDX files "
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte (plain or .gz) (default: fashion-mnist)",
    )
    data.add_argument(
        "--val-fraction",
        type=fraction,
        default=0.1,
        metavar="F",
        help="share of the training split held out for validation, carved with the seed; "
        "0 trains on all of it (default: 0.1)",
    )
    model = p.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=("mlp", "conv"),
        default="conv",
        help="encoder/decoder family: fully connected (mlp) or convolutional (conv) "
        "(default: conv)",
    )
    model.add_argument(
        "--latent-dim",
        type=positive_int,
        default=20,
        metavar="Z",
        help="number of latent dimensions (default: 20)",
    )
    model.add_argument(
        "--hidden-dims",
        type=int_list,
        default=(400,),
        metavar="W[,W...]",
        help="MLP hidden layer widths, encoder order; the decoder mirrors them (default: 400)",
    )
    model.add_argument(
        "--channels",
        type=int_list,
        default=(32, 64),
        metavar="C[,C...]",
        help="conv channels per stride-2 stage; the decoder mirrors them (default: 32,64)",
    )
    model.add_argument(
        "--likelihood",
        choices=("bernoulli", "gaussian"),
        default="bernoulli",
        help="p(x|z): bernoulli (pixel intensities in [0, 1]) or gaussian with a fixed "
        "standard deviation (default: bernoulli)",
    )
    model.add_argument(
        "--gaussian-std",
        type=positive_float,
        default=0.1,
        metavar="S",
        help="standard deviation of the gaussian likelihood, in [0, 1] pixel units (default: 0.1)",
    )
    training = p.add_argument_group("training")
    training.add_argument(
        "--epochs",
        type=positive_int,
        default=10,
        help="passes over the training split (default: 10)",
    )
    training.add_argument(
        "--batch-size", type=positive_int, default=128, metavar="B", help="(default: 128)"
    )
    training.add_argument(
        "--lr", type=positive_float, default=1e-3, help="Adam learning rate (default: 0.001)"
    )
    training.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the splits, the initial weights and every random draw (default: 0)",
    )
    training.add_argument(
        "--device", default="auto", help="auto (CUDA when present), cpu or cuda (default: auto)"
    )
    output = p.add_argument_group("output")
    output.add_argument(
        "--out",
        metavar="RUNDIR",
        help="run directory to create (default: runs/<data>-<model>-<date>-<time>)",
    )
    output.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is an existing run directory",
    )
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vaekit.api.train import train

    result = train(
        data=args.data,
        out=args.out,
        model=args.model,
        latent_dim=args.latent_dim,
        hidden_dims=args.hidden_dims,
        channels=args.channels,
        likelihood=args.likelihood,
        gaussian_std=args.gaussian_std,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        val_fraction=args.val_fraction,
        overwrite=args.overwrite,
        device=args.device,
        progress=not args.quiet,
    )
    last = result.history[-1]
    seconds = sum(r["time_s"] for r in result.history)
    print(f"trained {len(result.history)} epochs in {seconds:.0f} s")
    for split, terms in (("train", last["train"]), ("val", last.get("val")), ("test", result.test)):
        if terms:
            print(
                f"  {split:<5} -ELBO {terms['loss']:9.2f}  rec {terms['rec']:9.2f}  "
                f"kl {terms['kl']:7.2f}  (nats per example)"
            )
    print(f"run directory: {result.path}")
    for name, path in result.pictures.items():
        print(f"  {name:<16} {path}")
    return 0
