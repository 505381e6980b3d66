"""CIFAR-10's importance-weighted bound with the autoregressive decoder, by two versions of
vaekit: issue 28's "K=100 on 1,000 images at least 3x faster than today", measured as whole
processes in the same session.

The model is the CIFAR-10 suite's PixelCNN row (bench/model_families.py): the conv VAE 32-64
with Z=128 feeding a PixelCNN of 2 gated layers, kernel 5, width 16 per image channel, the
coupled mixture of 5 logistics; freshly initialized with seed 0 (the time does not depend on
the weights). The images: the first --images of --cifar (../shared/data's data_batch_1.bin), 8-bit.
The call timed: `evaluate_vae(model, data, EvalConfig(iw_samples=K, seed=0,
reconstruction=False))`, which both versions have (the ELBO pass, the K-sample bound and the
active units; no greedy reconstruction, no probe).

Each version is a source folder (`--before SRC --after SRC`, e.g. the `src` of git worktrees
of two commits); one process per measurement with PYTHONPATH set to it, in alternating
rounds (before, after, before, ...). Prints each round, the medians, the speedup and both
NLLs (equal weights and seed: they should agree).

    python -m bench.ar_eval_cifar --before /tmp/old/src --after src [--images 1000] [--k 100]
        [--rounds 2] [--json bench/results/ar-eval-cifar.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROW = "conv + PixelCNN decoder (32-64, Z=128, 2 gated layers, kernel 5, width 16, coupled)"


def model_options() -> dict:
    """The CIFAR-10 suite's PixelCNN row's model options (bench/model_families.py), less its
    family (conv)."""
    from bench.model_families import CIFAR

    return {k: v for k, v in CIFAR[ROW].items() if k != "model"}


def worker(cifar: str, images: int, k: int, threads: int) -> None:
    """One measurement with the vaekit on the path: a JSON line with seconds and NLL."""
    import numpy as np
    import torch

    from vaekit.data.batches import ImageSet
    from vaekit.evaluation.evaluate import EvalConfig, evaluate_vae
    from vaekit.models.factory import ModelConfig, build_vae

    torch.set_num_threads(threads)
    raw = np.fromfile(cifar, dtype=np.uint8).reshape(-1, 3073)[:images, 1:]
    data = ImageSet(torch.from_numpy(raw.reshape(-1, 3, 32, 32).copy()), None, 255.0)
    torch.manual_seed(0)
    model = build_vae(ModelConfig.create((3, 32, 32), "conv", **model_options())).eval()
    # A small call first: oneDNN builds a kernel per new shape on first use.
    small = ImageSet(data.storage[:4], None, 255.0)
    evaluate_vae(model, small, EvalConfig(iw_samples=8, seed=0, reconstruction=False))
    start = time.perf_counter()
    report, _ = evaluate_vae(model, data, EvalConfig(iw_samples=k, seed=0, reconstruction=False))
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "nll": report["iwae"]["nll"]}), flush=True)


def measure(src: str, module: str, worker_args: list[str]) -> dict[str, float]:
    """One whole-process measurement: `python -m module --worker *worker_args` with the vaekit
    of source folder `src` on the path; its last line's JSON."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(Path(__file__).parents[1])])}
    command = [sys.executable, "-m", module, "--worker", *worker_args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the worker for {src} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternate(
    before: str, after: str, rounds: int, module: str, worker_args: list[str]
) -> tuple[dict[str, list[dict[str, float]]], dict[str, float], float]:
    """`rounds` measurements of each version in turn (before, after, before, ...), printed as
    they come: the runs, the median seconds of each version and the speedup of the medians."""
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for r in range(rounds):
        for which, src in (("before", before), ("after", after)):
            result = measure(src, module, worker_args)
            runs[which].append(result)
            print(f"round {r + 1} {which:6}: {result['seconds']:7.1f} s, NLL {result['nll']:.4f}")
    medians = {w: statistics.median(x["seconds"] for x in runs[w]) for w in runs}
    speedup = medians["before"] / medians["after"]
    print(
        f"medians: before {medians['before']:.1f} s, after {medians['after']:.1f} s; "
        f"speedup {speedup:.2f}x",
        flush=True,
    )
    return runs, medians, speedup


def versions_parser(description: str) -> argparse.ArgumentParser:
    """A parser with what every two-version comparison takes: --before, --after, --rounds,
    --json and the hidden --worker."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--before", help="source folder of the earlier vaekit")
    parser.add_argument("--after", help="source folder of the later vaekit")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", help="write the rounds and medians here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser


def compare(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    module: str,
    worker_args: list[str],
    model: Any,
) -> None:
    """The two versions in alternating rounds (`alternate`), and --json's record of them."""
    if not (args.before and args.after):
        parser.error("--before and --after are required")
    runs, medians, speedup = alternate(args.before, args.after, args.rounds, module, worker_args)
    if args.json:
        record = {
            "args": {k: v for k, v in vars(args).items() if k != "worker"},
            "model": model,
            "runs": runs,
            "medians": medians,
            "speedup": speedup,
        }
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")


def main() -> None:
    parser = versions_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", default="../shared/data/cifar-10-batches-bin/data_batch_1.bin")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.worker:
        worker(args.cifar, args.images, args.k, args.threads)
        return
    worker_args = ["--cifar", str(Path(args.cifar).resolve()), "--images", str(args.images)]
    worker_args += ["--k", str(args.k), "--threads", str(args.threads)]
    compare(parser, args, "bench.ar_eval_cifar", worker_args, model_options())


if __name__ == "__main__":
    main()
