"""Evaluation speed and the baselines later model work must beat.

Fashion-MNIST with dynamic binarization in training; the test split binarized once with
seed 0. Two models, each trained 10 epochs (batch 128, Adam 1e-3, 10% validation):
the reference MLP VAE (784-400-20) and a conv VAE (channels 32,64, latent 20). For each: the
wall time of `vaekit.evaluate` with K=1000 importance samples on all 10,000 test images, and
-ELBO, NLL (K=1000) with its standard error, active units and the probe accuracy.

A run directory that already holds a finished run is reused, so the table can be filled
across sittings.

    .venv/bin/python bench/eval_baselines.py [--out runs/bench] [--iw-samples 1000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import vaekit
from vaekit.api.run import read_metrics

MODELS = {
    "mlp-784-400-20": {"model": "mlp", "hidden_dims": (400,), "latent_dim": 20},
    "conv-32-64-20": {"model": "conv", "channels": (32, 64), "latent_dim": 20},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--iw-samples", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    for name, options in MODELS.items():
        rundir = Path(args.out) / f"fashion-mnist-binarized-{name}"
        if not any(line.get("final") for line in read_metrics(rundir)):
            start = time.perf_counter()
            vaekit.train(
                "fashion-mnist",
                out=rundir,
                epochs=args.epochs,
                binarize=True,
                overwrite=True,
                progress=False,
                device="cpu",
                **options,
            )
            print(f"{name}: trained {args.epochs} epochs in {time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        report = vaekit.evaluate(rundir, iw_samples=args.iw_samples, seed=0, probe=False)
        seconds = time.perf_counter() - start
        probe = vaekit.evaluate(rundir, iw_samples=1, seed=0)["probe"]
        row = {
            "model": name,
            "eval_seconds": round(seconds, 1),
            "examples": report["num_examples"],
            "k": report["iwae"]["k"],
            "neg_elbo": round(report["elbo"]["loss"], 2),
            "nll": round(report["iwae"]["nll"], 2),
            "nll_stderr": round(report["iwae"]["stderr"], 2),
            "kind": report["kind"],
            "active_units": report["latents"]["active_units"],
            "probe_accuracy": round(probe["accuracy"], 4),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
