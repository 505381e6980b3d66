"""`vaekit train`: train a VAE and write a run directory (or resume one)."""

from __future__ import annotations

import argparse

from vaekit.cli.options import (
    fraction,
    int_list,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

HELP = "train a VAE on a dataset and write a run directory"
DESCRIPTION = """Train a VAE and write a run directory (RUNDIR):
  config.json        the full resolved config: data, model, training, versions, data checksum
  model.safetensors  the weights (saved after every epoch)
  checkpoint/        the full training state after the last finished epoch, for --resume
  metrics.jsonl      one line per epoch: train and validation -ELBO, reconstruction and KL
                     (nats per example), then a final line with the test split's numbers
  samples.png  reconstructions.png  curves.png

The objective is the batch mean of the per-example negative ELBO = reconstruction + KL,
with one posterior sample per example (the reparameterization trick) and the KL in closed form.

Options can also come from a TOML file (--config): its keys are the option names
(latent-dim = 16, hidden-dims = [512, 256], binarize = true, ...); flags given on the
command line win over the file."""

EPILOG = """examples:
  vaekit train                                   # conv VAE on Fashion-MNIST, 10 epochs
  vaekit train --data digits --model mlp --hidden-dims 256,128 --epochs 20 --out runs/digits
  vaekit train --data mnist --binarize --config mnist.toml --out runs/mnist
  vaekit train --data cifar10 --model resnet --channels 64,128 --likelihood logistic-mixture
  vaekit train --data fashion-mnist --binarize --model hvae --layers 2 --kl-warmup 5000
  vaekit train --data fashion-mnist --binarize --prior vamp --patience 5 --lr-schedule cosine
  vaekit train --data mnist --conditional --out runs/cvae && vaekit sample runs/cvae --label 3
  vaekit train --out runs/digits --resume --epochs 40   # continue after a crash, or train on"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from vaekit.api.options import DEFAULTS as D

    p = sub.add_parser(
        "train",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Every option defaults to None here, so that a flag the user gave can be told apart from
    # one left out: flags win over --config, which wins over the defaults shown in the help.
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        metavar="NAME|PATH",
        help="a dataset name (fashion-mnist, mnist, binarized-mnist, digits, cifar10, svhn, "
        "olivetti, celeba: see `vaekit data list`); a folder holding the four IDX files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, plain or .gz), CIFAR-10 batches, a prepared dataset, or "
        "PNG/JPEG images (subfolder names = labels); or a .npy/.npz file of images "
        f"(default: {D.data})",
    )
    data.add_argument(
        "--image-size",
        type=positive_int,
        metavar="S",
        help="for image files (folders, CelebA): crop each to its centre square and resize it "
        "to S x S; without it, a folder's images must share one size (CelebA: 64)",
    )
    data.add_argument(
        "--color",
        choices=("auto", "gray", "rgb"),
        help="decode image files as grayscale or RGB (default: auto, RGB if any has color)",
    )
    data.add_argument(
        "--crop",
        choices=("center", "none"),
        help="with --image-size: crop each image's centre square before resizing, or resize "
        "the whole image, changing its aspect (default: center)",
    )
    data.add_argument(
        "--val-fraction",
        type=fraction,
        metavar="F",
        help="share of the training split held out for validation, carved with the seed; "
        f"0 trains on all of it; ignored where the data has an official validation split "
        f"(default: {D.val_fraction})",
    )
    data.add_argument(
        "--train-noise",
        metavar="KIND:AMOUNT",
        help="train a denoising VAE: corrupt each batch on the way in (gaussian:0.3, "
        "saltpepper:0.1 or mask:0.25) and score the reconstruction against the clean images",
    )
    data.add_argument(
        "--binarize",
        action=argparse.BooleanOptionalAction,
        help="dynamic binarization: train on a fresh Bernoulli draw of the pixel intensities "
        "each batch; validation and test use one draw made with the seed (default: off)",
    )
    model = p.add_argument_group("model")
    model.add_argument(
        "--model",
        choices=("mlp", "conv", "resnet", "hvae"),
        help="encoder/decoder family: mlp (fully connected), conv (stride-2 convolutions), "
        "resnet (residual blocks per stage; He et al. 2016), or hvae, a hierarchical VAE with "
        "--layers stochastic layers and top-down inference (Ladder VAE, Sonderby et al. 2016; "
        f"NVAE, Vahdat & Kautz 2020) (default: {D.model})",
    )
    model.add_argument(
        "--latent-dim",
        type=positive_int,
        metavar="Z",
        help=f"number of latent dimensions, per layer for hvae (default: {D.latent_dim})",
    )
    model.add_argument(
        "--hidden-dims",
        type=int_list,
        metavar="W[,W...]",
        help="MLP hidden layer widths, encoder order; the decoder mirrors them; hvae's blocks "
        f"use the first (default: {','.join(map(str, D.hidden_dims))})",
    )
    model.add_argument(
        "--channels",
        type=int_list,
        metavar="C[,C...]",
        help="conv/resnet channels per stride-2 stage; the decoder mirrors them "
        f"(default: {','.join(map(str, D.channels))})",
    )
    model.add_argument(
        "--depth",
        type=non_negative_int,
        metavar="N",
        help=f"resnet: residual blocks per stage (default: {D.depth})",
    )
    model.add_argument(
        "--layers",
        type=positive_int,
        metavar="L",
        help=f"hvae: stochastic layers, at least 2 (default: {D.layers})",
    )
    model.add_argument(
        "--likelihood",
        choices=(
            "bernoulli",
            "gaussian",
            "logistic",
            "logistic-mixture",
            "logistic-mixture-coupled",
        ),
        help="p(x|z): bernoulli (intensities in [0, 1]); gaussian (see --gaussian-variance); "
        "logistic or logistic-mixture, discretized to the 256 values of 8-bit pixels (Kingma "
        "et al. 2016; Salimans et al. 2017, PixelCNN++), so that -ELBO and NLL are real "
        "likelihoods and bits/dim are reported; logistic-mixture-coupled: each color channel's "
        "mixture also depends on the previous channel's value (R -> G -> B), after PixelCNN++ "
        f"(default: {D.likelihood})",
    )
    model.add_argument(
        "--gaussian-variance",
        choices=("fixed", "global", "pixel"),
        help="gaussian: a fixed standard deviation (--gaussian-std), one learned for all "
        "pixels (starting at --gaussian-std), or one per pixel predicted by the decoder "
        f"(default: {D.gaussian_variance})",
    )
    model.add_argument(
        "--gaussian-std",
        type=positive_float,
        metavar="S",
        help="standard deviation of the gaussian likelihood, in [0, 1] pixel units "
        f"(default: {D.gaussian_std})",
    )
    model.add_argument(
        "--mixtures",
        type=positive_int,
        metavar="N",
        help="logistic-mixture(-coupled): components per pixel and channel "
        f"(default: {D.mixtures})",
    )
    model.add_argument(
        "--prior",
        choices=("standard-normal", "mog", "vamp"),
        help="p(z): standard-normal; mog, a learned mixture of Gaussians; or vamp, the "
        "VampPrior, a mixture of the encoder's posteriors at learned pseudo-inputs (Tomczak & "
        f"Welling 2018) (default: {D.prior})",
    )
    model.add_argument(
        "--prior-components",
        type=positive_int,
        metavar="K",
        help=f"mog components or vamp pseudo-inputs (default: {D.prior_components})",
    )
    model.add_argument(
        "--conditional",
        action=argparse.BooleanOptionalAction,
        help="a conditional VAE (Sohn et al. 2015): the class label goes to the encoder and "
        "the decoder; then `vaekit sample RUNDIR --label 3` draws class 3 (default: off)",
    )
    objective = p.add_argument_group("objective")
    objective.add_argument(
        "--beta",
        type=non_negative_float,
        metavar="B",
        help="weight of the KL term: beta-VAE (Higgins et al. 2017); the metrics stay the "
        f"plain -ELBO (default: {D.beta})",
    )
    objective.add_argument(
        "--kl-warmup",
        type=non_negative_int,
        metavar="STEPS",
        help="raise the KL weight linearly from 0 to --beta over this many optimizer steps "
        "(Bowman et al. 2016; Sonderby et al. 2016) (default: 0, off)",
    )
    objective.add_argument(
        "--free-bits",
        type=non_negative_float,
        metavar="NATS",
        help="free bits: each latent dimension's batch-mean KL counts as at least this many "
        "nats, so it is not pushed below it (Kingma et al. 2016) (default: 0, off)",
    )
    objective.add_argument(
        "--iw-train",
        type=positive_int,
        metavar="K",
        help="train on the importance-weighted bound with K samples: the IWAE (Burda et al. "
        "2016); the metrics' loss and early stopping then use that bound (default: 1, the ELBO)",
    )
    training = p.add_argument_group("training")
    training.add_argument(
        "--epochs",
        type=positive_int,
        help=f"passes over the training split, in all (default: {D.epochs})",
    )
    training.add_argument(
        "--batch-size", type=positive_int, metavar="B", help=f"(default: {D.batch_size})"
    )
    training.add_argument("--lr", type=positive_float, help=f"learning rate (default: {D.lr})")
    training.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine", "plateau"),
        help="constant; cosine, annealed to 0 over the run (Loshchilov & Hutter 2017); or "
        "plateau, halved after 2 epochs without a better validation loss "
        f"(default: {D.lr_schedule})",
    )
    training.add_argument(
        "--clip-grad",
        type=positive_float,
        metavar="NORM",
        help="clip the gradients' global norm to NORM (default: off)",
    )
    training.add_argument(
        "--patience",
        type=positive_int,
        metavar="EPOCHS",
        help="early stopping: stop after EPOCHS epochs without a better validation -ELBO; "
        "model.safetensors then holds the best validation epoch's weights (default: off)",
    )
    training.add_argument(
        "--optimizer",
        choices=("adam", "adamw", "sgd"),
        help=f"adam, adamw, or sgd with momentum 0.9 (default: {D.optimizer})",
    )
    training.add_argument(
        "--seed",
        type=int,
        help="seeds the splits, the initial weights and every random draw; each step's draws "
        f"come from (seed, step), so a resumed run repeats them exactly (default: {D.seed})",
    )
    training.add_argument(
        "--device", help=f"auto (CUDA when present), cpu or cuda (default: {D.device})"
    )
    output = p.add_argument_group("run")
    output.add_argument(
        "--config",
        metavar="FILE.toml",
        help="read options from a TOML file; flags on the command line win",
    )
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
    output.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint, with its recorded config; "
        "only --epochs may change (and --data, for data that has moved: it must be the same "
        "data)",
    )
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vaekit.api.options import OPTION_NAMES, check_resume_options, read_options_file
    from vaekit.errors import VaekitError

    options = read_options_file(args.config) if args.config else {}
    options.update({k: getattr(args, k) for k in OPTION_NAMES if getattr(args, k) is not None})
    if args.resume:
        from vaekit.api.run import load_run_config
        from vaekit.api.train import resume

        if not options.get("out"):
            raise VaekitError("--resume needs --out RUNDIR, the run to continue")
        if args.overwrite:
            raise VaekitError("--resume and --overwrite contradict each other: choose one")
        check_resume_options(load_run_config(options["out"]), options)
        result = resume(
            options["out"],
            epochs=options.get("epochs"),
            data=options.get("data"),
            device=options.get("device", "auto"),
            progress=not args.quiet,
        )
    else:
        from vaekit.api.train import train

        result = train(**options, overwrite=args.overwrite, progress=not args.quiet)
    print_summary(result)
    return 0


def print_summary(result) -> None:
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
