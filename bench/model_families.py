"""Model families under one time budget: which models and objectives make better VAEs.

Suite "fmnist" (issue 6's protocol): Fashion-MNIST, dynamic binarization in training, the test
split binarized once with seed 0; NLL by importance sampling with K=1000 on a fixed 2,000-image
test subset (seeded with 0), with its standard error. Each family trains for the same budget
(--minutes, default 15) on this machine's CPU cores with early stopping on the validation split
(patience 10: the kept weights are the best validation epoch's; model choice never sees the
test split). The reference MLP VAE (784-400-20, 10 epochs, no budget) is the baseline row.
Rows record each test image's NLL, and the table gives each row's NLL minus the VampPrior
row's with the paired standard error (per-image differences on the same 2,000 images); rows
run before that was recorded show a dash there.

Suite "cifar": CIFAR-10 from the five training batches in --cifar (5,000 images carved out as
the test split, seed 0), 8-bit pixels with the discretized logistic mixture (channels
independent for the conv VAE, coupled for the best model); each model trains
for --minutes (default 30). Bits/dim from the ELBO on all 5,000 test images and from K=100
importance samples on 1,000 of them.

A row may set its own budget ("minutes"), or continue another row's run for what is left of
its budget ("continues": the run directory is copied and resumed, which is exact).
`--reevaluate` scores the saved models of the --only rows again, keeping their training
figures; `--floor` prints the entropy of the binarized test images given the gray ones.

Each finished configuration is written to the results file (JSON) at once and skipped when the
script is run again, so the table can be filled across several sittings:

    .venv/bin/python bench/model_families.py --suite fmnist [--only mlp conv] [--minutes 15]
    .venv/bin/python bench/model_families.py --suite cifar   # --cifar FOLDER: the batches
    .venv/bin/python bench/model_families.py --suite fmnist --table     # print the table
    .venv/bin/python bench/model_families.py --suite fmnist --only VampPrior --redo
    .venv/bin/python bench/model_families.py --floor    # the binarization's entropy floor
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

import vaekit

# Imported now rather than lazily after an hour of training, so that an edit of vaekit's
# sources meanwhile cannot pair a new evaluate with an old Model (it did once).
import vaekit.api.evaluate
import vaekit.api.train
from vaekit.evaluation.evaluate import paired_difference
from vaekit.files import write_json
from vaekit.training.loop import Callback, LoopState

WARMUP = 5000  # KL warm-up steps for the budgeted one-layer and hierarchical models alike
# The VampPrior row with issue 14's flow posterior and Polyak averaging (two rows: 15 and 60
# minutes).
VAMP_IAF_EMA: dict[str, Any] = {
    "model": "mlp",
    "hidden_dims": (512, 512),
    "latent_dim": 32,
    "prior": "vamp",
    "prior_components": 200,
    "flow_steps": 2,
    "ema": 0.999,
}
# Issue 14's pieces together: one PixelCNN layer, the VampPrior, EMA and a short warm-up
# (rows on the conv network and on the MLP).
PIXELCNN_VAMP_EMA: dict[str, Any] = {
    "autoregressive": 1,
    "ar_kernel": 7,
    "ar_width": 8,
    "prior": "vamp",
    "prior_components": 200,
    "ema": 0.999,
    "kl_warmup": 1000,
}
CONV_PIXELCNN_VAMP_EMA = (
    "conv + PixelCNN + VampPrior + EMA (32-64, Z=32, 1 gated layer, kernel 7, width 8, "
    "200 pseudo-inputs, EMA 0.999, warm-up 1,000 steps)"
)
FMNIST: dict[str, dict[str, Any]] = {
    "reference MLP VAE (784-400-20, 10 epochs)": {
        "model": "mlp",
        "hidden_dims": (400,),
        "latent_dim": 20,
        "epochs": 10,
        "budget": False,
    },
    "MLP VAE (512-512, Z=32)": {"model": "mlp", "hidden_dims": (512, 512), "latent_dim": 32},
    "conv VAE (32-64, Z=32)": {"model": "conv", "channels": (32, 64), "latent_dim": 32},
    "ResNet VAE (32-64, depth 1, Z=32)": {
        "model": "resnet",
        "channels": (32, 64),
        "depth": 1,
        "latent_dim": 32,
    },
    "IWAE (MLP 512-512, Z=32, K=5)": {
        "model": "mlp",
        "hidden_dims": (512, 512),
        "latent_dim": 32,
        "iw_train": 5,
        "kl_warmup": 0,  # the IWAE bound has no separate KL term to warm up
    },
    "VampPrior (MLP 512-512, Z=32, 200 pseudo-inputs)": {
        "model": "mlp",
        "hidden_dims": (512, 512),
        "latent_dim": 32,
        "prior": "vamp",
        "prior_components": 200,
    },
    # Issue 14's pieces on the VampPrior row: a flow posterior and Polyak averaging.
    "VampPrior + IAF + EMA (MLP 512-512, Z=32, 200 pseudo-inputs, 2 IAF steps, EMA 0.999)": (
        VAMP_IAF_EMA
    ),
    # Issue 14: the same best configuration, with four times the budget.
    "VampPrior + IAF + EMA for 60 minutes (the row above, --minutes 60)": {
        **VAMP_IAF_EMA,
        "minutes": 60,
    },
    "HVAE (2 layers x Z=32, width 512)": {
        "model": "hvae",
        "hidden_dims": (512,),
        "latent_dim": 32,
        "layers": 2,
    },
    # Issue 14's ablations: each new piece alone on the row it modifies.
    "MLP + IAF (512-512, Z=32, 2 IAF steps)": {
        "model": "mlp",
        "hidden_dims": (512, 512),
        "latent_dim": 32,
        "flow_steps": 2,
    },
    "MLP + EMA (512-512, Z=32, EMA 0.999)": {
        "model": "mlp",
        "hidden_dims": (512, 512),
        "latent_dim": 32,
        "ema": 0.999,
    },
    # Sized for 15 CPU minutes: 4 gated layers of width 32 (kernel 3) took 212 s per epoch
    # and would need about 105 minutes for the K=1000 evaluation; one layer of width 8 with a
    # 7 x 7 mask (3 rows up) took 26 s per epoch in a 3-minute pilot.
    "conv + PixelCNN decoder (32-64, Z=32, 1 gated layer, kernel 7, width 8)": {
        "model": "conv",
        "channels": (32, 64),
        "latent_dim": 32,
        "autoregressive": 1,
        "ar_kernel": 7,
        "ar_width": 8,
    },
    # The pieces together: the PixelCNN row's model with the VampPrior and EMA, and the
    # 1,000-step warm-up with which its 3-minute pilot did best.
    CONV_PIXELCNN_VAMP_EMA: {
        "model": "conv",
        "channels": (32, 64),
        "latent_dim": 32,
        **PIXELCNN_VAMP_EMA,
    },
    # Issue 14's 60 minutes for the best configuration: the row above's run directory copied
    # and resumed (resume is exact) for what is left of 60 minutes of training.
    "conv + PixelCNN + VampPrior + EMA for 60 minutes (the row above, resumed)": {
        "continues": CONV_PIXELCNN_VAMP_EMA,
        "minutes": 60,
    },
    # The same pieces on the VampPrior row's MLP instead of the conv network (its decoder's
    # 784 outputs condition the PixelCNN layer).
    "MLP + PixelCNN + VampPrior + EMA (512-512, Z=32, 1 gated layer, kernel 7, width 8, "
    "200 pseudo-inputs, EMA 0.999, warm-up 1,000 steps)": {
        "model": "mlp",
        "hidden_dims": (512, 512),
        "latent_dim": 32,
        **PIXELCNN_VAMP_EMA,
    },
    # Sized for 15 CPU minutes: with --channels 32,64 --depth 1 --latent-dim 4 an epoch took
    # 90 s (10 epochs, the 5,000 warm-up steps unfinished, -ELBO 325 at epoch 4: stopped).
    "conv hierarchy hconv (16-32, depth 0, one 2-channel map per scale)": {
        "model": "hconv",
        "channels": (16, 32),
        "depth": 0,
        "latent_dim": 2,
        "layers": 1,
        "clip_grad": 200.0,
    },
}
# The row each other row is compared with, example by example (paired standard errors).
PAIRED_WITH = "VampPrior (MLP 512-512, Z=32, 200 pseudo-inputs)"
CIFAR: dict[str, dict[str, Any]] = {
    "conv VAE (64-128-256, Z=128)": {
        "model": "conv",
        "channels": (64, 128, 256),
        "latent_dim": 128,
    },
    # The best model: chosen by short pilots on the validation split (see BENCHMARKS.md).
    "best conv VAE (32-64, Z=1024, coupled mixture)": {
        "model": "conv",
        "channels": (32, 64),
        "latent_dim": 1024,
        "likelihood": "logistic-mixture-coupled",
    },
    # Issue 14: an autoregressive decoder (60-minute budget: --minutes 60). Chosen by two
    # 5-minute pilots (validation bits/dim after 2 epochs): 1 layer of width 8, kernel 7, on
    # the 64-128-256 conv VAE 4.83; this one 4.67.
    "conv + PixelCNN decoder (32-64, Z=128, 2 gated layers, kernel 5, width 16, coupled)": {
        "model": "conv",
        "channels": (32, 64),
        "latent_dim": 128,
        "likelihood": "logistic-mixture-coupled",
        "autoregressive": 2,
        "ar_kernel": 5,
        "ar_width": 16,
    },
    # Issue 14's 90 minutes: the row above's run directory copied and resumed (resume is exact)
    # for what is left of 90 minutes of training.
    "conv + PixelCNN decoder, 90 minutes (the row above, resumed)": {
        "continues": "conv + PixelCNN decoder (32-64, Z=128, 2 gated layers, kernel 5, width 16, "
        "coupled)",
        "minutes": 90,
    },
    # Ablation: the conv VAE with only the likelihood changed, to split the best model's lead.
    "coupled conv VAE (64-128-256, Z=128)": {
        "model": "conv",
        "channels": (64, 128, 256),
        "latent_dim": 128,
        "likelihood": "logistic-mixture-coupled",
    },
}


class TimeBudget(Callback):
    """Stops training before an epoch that would end past the budget (judged by the last
    epoch's time, validation included)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()
        self.last_end = self.start

    def on_train_start(self, total_steps: int, state: LoopState) -> None:
        self.start = self.last_end = time.perf_counter()

    def should_stop(self, state: LoopState) -> bool:
        now = time.perf_counter()
        epoch_seconds, self.last_end = now - self.last_end, now
        return now - self.start + epoch_seconds > self.seconds


def run_config(
    suite: str,
    name: str,
    options: dict[str, Any],
    args: argparse.Namespace,
    results: dict[str, Any],
) -> dict[str, Any]:
    options = dict(options)
    budgeted = options.pop("budget", True)
    minutes = options.pop("minutes", args.minutes)
    continues = options.pop("continues", None)
    slug = name.split(" (")[0].replace(" ", "-").replace(",", "").lower()
    rundir = Path(args.runs) / suite / slug
    callbacks = [TimeBudget(minutes * 60)] if budgeted else []
    common: dict[str, Any] = {"out": rundir, "overwrite": True, "progress": False, "seed": 0}
    if suite == "fmnist":
        data: Any = "fashion-mnist"
        common.update(binarize=True)
        if budgeted:
            common.update(epochs=10_000, patience=10, kl_warmup=WARMUP)
    else:
        data = args.cifar
        common.update(likelihood="logistic-mixture", mixtures=5, epochs=10_000, patience=5)
        # (a configuration may name its own likelihood: **options comes last below)
    start = time.perf_counter()
    if continues:
        # Train on from where the earlier row's run stopped, in a copy of its directory.
        if continues not in results:
            raise SystemExit(f"{name!r} continues {continues!r}, which has no row yet: run it")
        earlier = results[continues]
        left = minutes * 60 - earlier["train_seconds"]
        if left <= 0:
            raise SystemExit(f"{continues!r} already took {earlier['train_seconds']:.0f} s")
        shutil.rmtree(rundir, ignore_errors=True)
        shutil.copytree(earlier["rundir"], rundir)
        # (Early stopping goes on as before: patience, counted over all the epochs.)
        run = vaekit.resume(rundir, time_budget=left, progress=False, report=False)
        train_seconds = earlier["train_seconds"] + time.perf_counter() - start
        options = earlier["config"]
    else:
        run = vaekit.train(data, callbacks=callbacks, **{**common, **options})
        train_seconds = time.perf_counter() - start
    params = sum(p.numel() for p in run.model.vae.parameters())
    final = run.history[-1]
    row: dict[str, Any] = {
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
        "rundir": str(rundir),
        "budget_minutes": minutes if budgeted else None,
        "parameters": params,
        "epochs": final["epoch"],
        "best_epoch": min(run.history, key=lambda r: r["val"]["loss"])["epoch"],
        "train_seconds": round(train_seconds, 1),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }
    row.update(evaluate_row(suite, rundir))
    return row


# The evaluation protocol of each suite: K and the number of test examples of each figure.
FMNIST_K, FMNIST_EXAMPLES = 1000, 2000
CIFAR_K, CIFAR_IW_EXAMPLES = 100, 1000


def measures(suite: str) -> dict[str, Any]:
    """What a row's numbers are, recorded in each row beside them: the split, the bound and
    its K, the number of examples (a row's own `examples`, `elbo_examples` and `iw_examples`
    give the counts it was scored on)."""
    if suite == "fmnist":
        return {
            "split": "test: the official Fashion-MNIST test split (10,000 images), binarized "
            f"once with seed 0; a fixed subset of {FMNIST_EXAMPLES:,} seeded with 0",
            "iw_samples": FMNIST_K,
            "measures": {
                "neg_elbo": f"-ELBO, nats per image, its terms averaged over K={FMNIST_K} "
                "importance samples",
                "nll": f"-IWAE bound with K={FMNIST_K} (an upper bound on -log p(x)), nats "
                "per image",
                "nll_stderr": "standard error of nll across the examples",
                "kl": "KL(q(z|x) || p(z)), nats per image",
                "per_image_nll": "each example's nll, in the subset's order",
                "probe": "accuracy of a logistic regression on posterior means, fitted on "
                "10,000 training-part images, scored on the test subset",
            },
        }
    return {
        "split": "test: 5,000 images carved (seed 0) from the five CIFAR-10 training batches, "
        "not the official test batch",
        "elbo_iw_samples": 1,
        "iw_samples": CIFAR_K,
        "measures": {
            "bpd_elbo": "-ELBO (one posterior sample per image) in bits/dim, on all "
            "elbo_examples test images",
            "bpd_iwae": f"-IWAE bound with K={CIFAR_K} in bits/dim, on a fixed subset of "
            "iw_examples test images seeded with 0",
            "bpd_iwae_stderr": "standard error of bpd_iwae across those images",
        },
    }


def evaluate_row(suite: str, rundir: str | Path) -> dict[str, Any]:
    """A row's test numbers, from its run directory's model, with what they are (`measures`).
    (No reconstruction MSE, which the table does not show: a PixelCNN decoder would make it
    pixel by pixel.)"""
    quick = {"seed": 0, "reconstruction": False}
    if suite == "fmnist":
        start = time.perf_counter()
        report = vaekit.evaluate(rundir, iw_samples=FMNIST_K, max_examples=FMNIST_EXAMPLES,
                                 per_example=True, **quick)  # fmt: skip
        return dict(
            **measures(suite),
            kind=report["kind"],  # "log-likelihood", or "objective" where it cannot be one
            eval_seconds=round(time.perf_counter() - start, 1),
            examples=report["num_examples"],
            neg_elbo=report["elbo"]["loss"],
            nll=report["iwae"]["nll"],
            nll_stderr=report["iwae"]["stderr"],
            active_units=report["latents"]["active_units"],
            latent_dim=report["latents"]["latent_dim"],
            probe=report["probe"]["accuracy"],
            kl=report["elbo"]["kl"],
            kl_layers=report["latents"].get("kl_layers"),
            # Each image's NLL (the subset's order), for paired differences between rows.
            per_image_nll=[
                round(v, 4) for v in vaekit.api.evaluate.per_example_bound(report["per_example"])
            ],
        )
    elbo = vaekit.evaluate(rundir, iw_samples=1, probe=False, **quick)
    start = time.perf_counter()
    iw = vaekit.evaluate(rundir, iw_samples=CIFAR_K, max_examples=CIFAR_IW_EXAMPLES, probe=False,
                         **quick)  # fmt: skip
    return dict(
        **measures(suite),
        kind=iw["kind"],
        eval_seconds=round(time.perf_counter() - start, 1),
        elbo_examples=elbo["num_examples"],
        bpd_elbo=elbo["bits_per_dim"]["elbo"],
        iw_examples=iw["num_examples"],
        bpd_iwae=iw["bits_per_dim"]["iwae"],
        bpd_iwae_stderr=iw["iwae"]["stderr"] / (iw["dims"] * 0.6931471805599453),
    )


def binarization_floor() -> tuple[float, float]:
    """A lower bound on any model's expected NLL of dynamically binarized Fashion-MNIST: the
    entropy of the bits given the gray image, the sum of the pixels' binary entropies
    H(g) = -g ln g - (1 - g) ln(1 - g), averaged over the fixed 2,000-image test subset (mean
    and standard error, nats). A model's NLL can exceed it by I(bits; gray image), which is
    not known, and by its own misfit."""
    from vaekit.data.batches import seeded_subset
    from vaekit.data.datasets import open_dataset

    test = open_dataset("fashion-mnist").test
    g = test.scaled(seeded_subset(len(test), 2000, 0)).double().flatten(1)
    per_image = -(torch.xlogy(g, g) + torch.xlogy(1 - g, 1 - g)).sum(1)
    return float(per_image.mean()), float(per_image.std() / len(per_image) ** 0.5)


def table(suite: str, results: dict[str, Any]) -> str:
    if suite == "fmnist":
        lines = [
            "| model | -ELBO | NLL (K=1000) ± s.e. | NLL - VampPrior's ± paired s.e. | KL | "
            "active units | probe | parameters | epochs (best) | train time |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        reference = results.get(PAIRED_WITH, {}).get("per_image_nll")
        for name, r in results.items():
            paired = "—"
            if reference and r.get("per_image_nll") and name != PAIRED_WITH:
                mean, se = paired_difference(r["per_image_nll"], reference)
                paired = f"{mean:+.2f} ± {se:.2f}"
            kl = f"{r['kl']:.1f}" if "kl" in r else "—"
            lines.append(
                f"| {name} | {r['neg_elbo']:.2f} | {r['nll']:.2f} ± {r['nll_stderr']:.2f} | "
                f"{paired} | {kl} | {r['active_units']}/{r['latent_dim']} | {r['probe']:.3f} | "
                f"{r['parameters']:,} | {r['epochs']} ({r['best_epoch']}) | "
                f"{r['train_seconds'] / 60:.1f} min |"
            )
    else:
        lines = [
            "| model | bits/dim, ELBO (5,000) | bits/dim, K=100 (1,000) ± s.e. | parameters | "
            "epochs (best) | train time |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, r in results.items():
            lines.append(
                f"| {name} | {r['bpd_elbo']:.3f} | {r['bpd_iwae']:.3f} ± "
                f"{r['bpd_iwae_stderr']:.3f} | {r['parameters']:,} | "
                f"{r['epochs']} ({r['best_epoch']}) | {r['train_seconds'] / 60:.1f} min |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--suite", choices=("fmnist", "cifar"), default="fmnist")
    parser.add_argument("--only", nargs="+", metavar="WORD", help="configs whose name has WORD")
    parser.add_argument("--minutes", type=float, help="budget per model (15 fmnist, 30 cifar)")
    parser.add_argument("--results", help="default bench/results/families-<suite>.json")
    parser.add_argument("--runs", default="runs/bench-families")
    parser.add_argument("--cifar", default="../shared/data/cifar-10-batches-bin")
    parser.add_argument("--table", action="store_true", help="only print the table")
    parser.add_argument(
        "--reevaluate",
        action="store_true",
        help="score the --only rows' saved models again (e.g. a row run before the table "
        "kept per-image values), keeping their training figures",
    )
    parser.add_argument(
        "--floor", action="store_true", help="print the binarization entropy floor (fmnist)"
    )
    parser.add_argument(
        "--redo", action="store_true", help="run the --only configs again, replacing their rows"
    )
    args = parser.parse_args()
    if args.reevaluate and not args.only:
        parser.error("--reevaluate needs --only: the rows to score again")
    args.minutes = args.minutes or (15 if args.suite == "fmnist" else 30)
    path = Path(args.results or f"bench/results/families-{args.suite}.json")
    results = json.loads(path.read_text()) if path.exists() else {}
    configs = FMNIST if args.suite == "fmnist" else CIFAR
    if args.floor:
        mean, se = binarization_floor()
        print(f"H(bits | gray image), the fixed 2,000 test images: {mean:.2f} ± {se:.2f} nats")
        return
    if not args.table:
        for name, options in configs.items():
            chosen = not args.only or any(w in name for w in args.only)
            if chosen and args.reevaluate:
                if name in results:
                    print(f"{args.suite}: {name}, evaluated again ...", flush=True)
                    results[name].update(evaluate_row(args.suite, results[name]["rundir"]))
                    write_json(path, results)
                continue
            if not chosen or (name in results and not (args.redo and args.only)):
                continue
            print(f"{args.suite}: {name} ...", flush=True)
            results[name] = run_config(args.suite, name, options, args, results)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, results)
            print(json.dumps(results[name]), flush=True)
    ordered = {name: results[name] for name in configs if name in results}
    print(table(args.suite, ordered))


if __name__ == "__main__":
    main()
