"""Audio: a VAE on the Free Spoken Digit Dataset's log-mel spectrograms (issue 16).

FSDD (3,000 recordings at 8 kHz, `{digit}_{speaker}_{index}.wav`, 6 speakers x 10 digits x 50)
with its official split: recordings with index 0-4 are the test split (300), the others the
training split (2,700). vaekit reads the folder as `vaekit train --data FOLDER` does: 1 s
clips, 64 HTK mel bins, FFT 512, hop 128 (the defaults), labels from the file names.

Reported on the official test split:
- the -ELBO and the importance-weighted NLL (K = IW below), nats per clip, and the
  reconstruction's log-spectral distance (dB; vaekit.kinds.audio.evaluate), from
  `vaekit.evaluate`;
- a logistic-regression probe (vaekit.evaluation.probe: standardized features, scikit-learn's
  LogisticRegression) trained on the posterior means of all 2,700 training clips and scored
  on the test clips' posterior means, beside the same probe on the raw standardized log-mel
  spectrograms (64 x 63 = 4,032 numbers per clip) and on their time-averaged mel spectrum (64).

Results to bench/results/audio-fsdd.json.

    PYTHONPATH=src .venv/bin/python bench/audio_fsdd.py [--data /work/shared/data/fsdd/recordings]
        [--epochs 40] [--latent-dim 32] [--channels 32,64] [--batch-size 64]
        [--time-budget 25m] [--threads N] [--out runs/bench-fsdd] [--results FILE.json]
        [--eval-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

import vaekit
from vaekit.api.inputs import model_dataset
from vaekit.evaluation.probe import probe_accuracy
from vaekit.models.posterior import posterior_moments_of

LABELS = r"^(\d+)_"  # the digit
OFFICIAL_TEST = r"_[0-4]\.wav$"  # index 0-4
IW = 100
# What the result's numbers are, recorded beside them.
MEASURES = {
    "split": "test: FSDD's official test split, the recordings with index 0-4 (all of them)",
    "test_neg_elbo_nats": f"-ELBO, nats per clip (a density over standardized log-mel values, so "
    f"it can be negative), its terms averaged over K={IW} importance samples",
    "test_iwae_nll_nats": f"-IWAE bound with K={IW} (an upper bound on -log p(x)), nats per clip",
    "log_spectral_distance_db": "posterior-mean reconstruction, log-mel, dB, mean over test clips",
    "probe_accuracy": "logistic regression fitted on the training clips' features, scored on "
    "the test clips'",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="/work/shared/data/fsdd/recordings")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--channels", default="32,64")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--time-budget", default=None, help="vaekit's --time-budget, e.g. 25m")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument(
        "--eval-only",
        action="store_true",
        help="evaluate the finished run at --out again (its training figures from --results)",
    )
    parser.add_argument("--out", default="runs/bench-fsdd")
    parser.add_argument("--results", default="bench/results/audio-fsdd.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    options = {
        "model": "conv",
        "latent_dim": args.latent_dim,
        "channels": tuple(int(c) for c in args.channels.split(",")),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "label_pattern": LABELS,
        "test_pattern": OFFICIAL_TEST,
        "seed": 0,
        "time_budget": args.time_budget,
    }
    if args.eval_only:  # a finished run at --out: its training figures from --results
        model = vaekit.load(args.out)
        before = json.loads(Path(args.results).read_text())
        train_s, epochs_run = before["train_seconds"], before["epochs_run"]
    else:
        start = time.perf_counter()
        run = vaekit.train(args.data, out=args.out, overwrite=True, progress=False, **options)
        train_s, model, epochs_run = time.perf_counter() - start, run.model, len(run.history)

    start = time.perf_counter()
    report = vaekit.evaluate(model, iw_samples=IW)
    eval_s = time.perf_counter() - start

    dataset = model_dataset(model)
    train, test = dataset.train, dataset.test
    z_train = posterior_moments_of(model.vae, train)[0]
    z_test = posterior_moments_of(model.vae, test)[0]
    raw_train, raw_test = train.images.flatten(1), test.images.flatten(1)
    probes = {
        "latent_means": probe_accuracy(z_train, train.labels, z_test, test.labels),
        "raw_log_mel": probe_accuracy(raw_train, train.labels, raw_test, test.labels),
        "mean_mel_spectrum": probe_accuracy(
            train.images.mean(dim=3).flatten(1), train.labels,
            test.images.mean(dim=3).flatten(1), test.labels,
        ),
    }  # fmt: skip
    result = {
        "data": args.data,
        "split": {"train": len(train), "test": len(test), "test_pattern": OFFICIAL_TEST},
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
        "audio": {
            k: v for k, v in model.run_config["model"]["audio"].items() if k not in ("mean", "std")
        },
        "shape": list(model.shape),
        "epochs_run": epochs_run,
        "test_neg_elbo_nats": report["elbo"]["loss"],
        "test_iwae_nll_nats": report["iwae"]["nll"],
        "iw_samples": IW,
        "test_examples": report["num_examples"],
        "kind": report["kind"],  # "log-likelihood", or "objective" where it cannot be one
        "measures": MEASURES,
        "log_spectral_distance_db": report["reconstruction"]["lsd_db"],
        "log_spectral_distance_stderr_db": report["reconstruction"]["lsd_db_stderr"],
        "rmse_db": report["reconstruction"]["rmse_db"],
        "active_units": report["latents"]["active_units"],
        "probe_accuracy": {k: v["accuracy"] for k, v in probes.items()},
        "probe_train_examples": len(train),
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(eval_s, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
