"""A VQ-VAE on CIFAR-10 (issue 27's anchor: van den Oord et al. 2017 report 4.67 bits/dim for
the VQ-VAE and 4.51 for a VAE), on bench/model_families.py's CIFAR-10 protocol.

Data: the five training batches in --cifar (50,000 images; vaekit carves 5,000 out as the test
split with seed 0, and holds 10% of the rest out for validation, as in model_families.py's
CIFAR suite), 8-bit pixels with a discretized mixture of 5 logistics.

1. `vaekit.train(..., model="vqvae")` with vaekit's VQ-VAE defaults otherwise (the conv
   network 32-64 with 2 residual blocks, a code map of 8 x 8 vectors of 20 dimensions, a
   codebook of 512 updated by moving averages, commitment 0.25), Adam 1e-3, batch 128, seed
   0, for --minutes (its --time-budget), with early stopping on the validation split
   (patience 5: the best validation epoch's weights are kept).
2. `vaekit.evaluate` on all 5,000 test images (without the linear probe): the bound -log p(x)
   <= -log p(x|z_q) - log p(z_q) under the uniform prior (h w log K), and the MSE.
3. `vaekit.fit_prior` (its defaults: a PixelCNN of 5 gated layers of width 64 over the code
   maps, --prior-epochs passes), timed.
4. `vaekit.evaluate` again: the same bound with the fitted prior, in bits per dimension.

    .venv/bin/python bench/vqvae_cifar.py [--minutes 30] [--prior-epochs 10]

Results, with the wall times and the settings, in --results (JSON).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import vaekit


def scored(run: Path) -> dict:
    """The test split's bound and its terms (bits per dimension), from vaekit's evaluation."""
    begun = time.perf_counter()
    report = vaekit.evaluate(run, reconstruction=True, probe=False)  # the probe: not asked
    return {
        "bits_per_dim": report["bits_per_dim"]["iwae"],
        "label": report["iwae"].get("label"),
        "nats": report["iwae"]["nll"],
        "stderr_nats": report["iwae"]["stderr"],
        "terms": report.get("bound_terms"),
        "examples": report["num_examples"],
        "mse": report["reconstruction"],
        "eval_seconds": round(time.perf_counter() - begun, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", default="../shared/data/cifar-10-batches-bin")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget")
    parser.add_argument("--prior-epochs", type=int, default=10)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench/vqvae-cifar"))
    parser.add_argument("--results", type=Path, default=Path("bench/results/vqvae-cifar.json"))
    args = parser.parse_args()

    begun = time.perf_counter()
    run = vaekit.train(
        args.cifar,
        model="vqvae",
        likelihood="logistic-mixture",
        mixtures=5,
        epochs=10_000,
        patience=5,
        time_budget=args.minutes * 60,
        seed=0,
        out=args.runs,
        overwrite=True,
        progress=False,
        report=False,
    )
    train_seconds = time.perf_counter() - begun
    uniform = scored(args.runs)
    begun = time.perf_counter()
    fitted = vaekit.fit_prior(args.runs, epochs=args.prior_epochs)
    prior_seconds = time.perf_counter() - begun
    with_prior = scored(args.runs)
    results = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "settings": vars(args) | {"runs": str(args.runs), "results": str(args.results)},
        "model": run.config["model"],
        "parameters": sum(p.numel() for p in run.model.vae.parameters()),
        "epochs": run.history[-1]["epoch"],
        "best_epoch": min(run.history, key=lambda r: r["val"]["loss"])["epoch"],
        "train_seconds": round(train_seconds, 1),
        "uniform_prior": uniform,
        "prior_fit": {k: v for k, v in fitted.items() if not isinstance(v, dict | list)},
        "prior_seconds": round(prior_seconds, 1),
        "with_prior": with_prior,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps({k: results[k] for k in ("epochs", "best_epoch", "train_seconds")}))
    print(f"uniform prior: {uniform['bits_per_dim']:.3f} bits/dim")
    print(f"fitted prior:  {with_prior['bits_per_dim']:.3f} bits/dim ({with_prior['label']})")


if __name__ == "__main__":
    main()
