"""Whole processes, the same data and machine: the PyTorch VAE example (bench/vae_example.py, a
faithful reproduction of pytorch/examples vae/main.py) against `vaekit train` on the reference
configuration (MLP 784-400-20, Bernoulli on gray pixels, Adam 1e-3, batch 128, all 60,000
Fashion-MNIST training images with no validation split, 10 epochs, a test pass and pictures).

Each contender is timed from process start to exit (imports, data, training, test, files),
in rotated order over --rounds rounds; the median is reported. vaekit runs as users run it
(its report on by default), without the report, and with --precision bf16. Beside them,
bench/bare_loop.py, the same training with nothing else (fp32, bf16, and bf16 with the loss
compiled, compilation included, once with Inductor's cache filled by an untimed run before
the rounds and once with an empty cache each time, as a user's first compiled run finds it):
plain eager PyTorch's time for this work, the practical floor for vaekit. And the bare loop
in fp32 and bf16 with the one CPU-specific step of vaekit's loop added (Adam's subnormal
averages set to 0 every 64 steps, `--flush-subnormals`): the floor for the rest of vaekit's
own cost.

    .venv/bin/python bench/example_vs_vaekit.py [--rounds 3] [--epochs 10] [--before SRC]
        [--only NAME ...]

--only NAME (repeatable) times those rows alone, written to example-vs-vaekit-only.json (the
full table's file is left as it is): more rounds of a few rows in the time of one full run.
--before SRC adds two rows, "vaekit --no-report" and "vaekit --precision bf16" with the vaekit
of source folder SRC (an earlier commit's src/, in its own git worktree) on PYTHONPATH: the
version before a change, timed in the same rounds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
VAEKIT = [sys.executable, "-m", "vaekit", "train", "--data", "fashion-mnist", "--model", "mlp"]
VAEKIT += ["--hidden-dims", "400", "--latent-dim", "20", "--batch-size", "128"]
VAEKIT += ["--val-fraction", "0", "--seed", "1", "--quiet"]
BARE = [sys.executable, str(ROOT / "bench" / "bare_loop.py")]
# What the results' numbers are, recorded beside them.
MEASURES = {
    "split": "test: the official Fashion-MNIST test set (t10k), gray pixels in [0, 1], not "
    "binarized, the same for every row",
    "examples": 10_000,
    "iw_samples": 1,
    "test_loss": "the median over the rounds of each process's final test figure: -ELBO with one "
    "posterior sample per image (K=1), the summed binary cross-entropy against the gray pixels "
    "plus the closed-form KL, nats per image, averaged over all 10,000 test images; a "
    "cross-entropy against gray pixels is no normalized likelihood of them, so this is the "
    "training objective, not a bound on -log p(x)",
    "test_loss_by_row": {
        "example": "the last 'Test set loss' line of bench/vae_example.py (after the last epoch; "
        "z drawn with torch.randn after torch.manual_seed(1))",
        "bare loop, its three rows": "the 'Test set loss' line of bench/bare_loop.py (one "
        "pass after training, in float32 for every --precision; z drawn with torch.randn after "
        "torch.manual_seed(1))",
        "vaekit, its three rows": "test.neg_elbo on the last line of the run's metrics.jsonl "
        "(the model after the last epoch, no validation split; each image's noise keyed by "
        "--seed 1 and its index)",
    },
}


def contenders(epochs: int) -> dict[str, list[str]]:
    e = ["--epochs", str(epochs)]
    return {
        "example": [sys.executable, str(ROOT / "bench" / "vae_example.py"), *e],
        "vaekit": [*VAEKIT, *e],
        "vaekit --no-report": [*VAEKIT, *e, "--no-report"],
        "vaekit --precision bf16": [*VAEKIT, *e, "--precision", "bf16", "--no-report"],
        # Plain eager PyTorch with nothing around it (bench/bare_loop.py: no files).
        "bare loop": [*BARE, *e],
        "bare loop, bf16": [*BARE, *e, "--precision", "bf16"],
        # The bare loop with vaekit's one CPU-specific step added (training.optimizers.
        # flush_subnormals): what is left of vaekit's own cost beside it.
        "bare loop, subnormals flushed": [*BARE, *e, "--flush-subnormals"],
        "bare loop, bf16, subnormals flushed": [
            *BARE,
            *e,
            "--precision",
            "bf16",
            "--flush-subnormals",
        ],
        "bare loop, bf16, compiled": [*BARE, *e, "--precision", "bf16", "--compile"],
        "bare loop, bf16, compiled, cold cache": [*BARE, *e, "--precision", "bf16", "--compile"],
    }


# Inductor's on-disk cache for the compiled rows: "compiled" runs with a cache filled by one
# untimed run before the rounds (what a user's second compiled run finds), "cold cache" with
# an empty one each time (a user's first): the script sets TORCHINDUCTOR_CACHE_DIR for both,
# so neither depends on what earlier runs on the machine left in the default cache.
WARM, COLD = "bare loop, bf16, compiled", "bare loop, bf16, compiled, cold cache"


BEFORE = ", before"  # the rows of --before's vaekit end with this


def cache_env(
    name: str, workdir: Path, round_: int, before: str | None = None
) -> dict[str, str] | None:
    """The environment of one contender's process: its own Inductor cache for a compiled row,
    the earlier vaekit's source on PYTHONPATH for a --before row (None: the environment as
    it is)."""
    if name.endswith(BEFORE):
        return {**os.environ, "PYTHONPATH": str(Path(before).resolve())}
    if name == WARM:
        return {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(workdir / "inductor-warm")}
    if name == COLD:
        fresh = workdir / f"inductor-cold-{round_}"
        return {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(fresh)}
    return None


def run(
    name: str, command: list[str], workdir: Path, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """(wall seconds, final test loss in nats per example) of one whole process."""
    out = workdir / re.sub(r"\W+", "-", name)
    again = out.exists() and name.startswith("vaekit")  # the others write over their files
    extra = ["--out", str(out)] + (["--overwrite"] if again else [])
    start = time.perf_counter()
    done = subprocess.run(command + extra, capture_output=True, text=True, cwd=workdir, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    if not name.startswith("vaekit"):
        loss = float(re.findall(r"Test set loss: ([\d.]+)", done.stdout)[-1])
    else:
        final = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
        loss = final["test"]["neg_elbo"]
    return seconds, loss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--before", help="src/ folder of an earlier vaekit: two more rows")
    parser.add_argument("--only", action="append", help="time this row (repeatable)")
    args = parser.parse_args()
    commands = contenders(args.epochs)
    if args.before:
        for name in ("vaekit --no-report", "vaekit --precision bf16"):
            commands[name + BEFORE] = commands[name]
    if args.only:
        unknown = set(args.only) - set(commands)
        if unknown:
            parser.error(f"no such rows: {sorted(unknown)}; the rows: {list(commands)}")
        commands = {name: commands[name] for name in args.only}
    names = list(commands)
    times: dict[str, list[float]] = {n: [] for n in names}
    losses: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        # fill the warm row's cache: one untimed epoch of the same compiled loss
        warm_up = [*BARE, "--epochs", "1", "--precision", "bf16", "--compile"]
        if WARM in commands:
            run("warm-up", warm_up, Path(tmp), cache_env(WARM, Path(tmp), 0))
        for r in range(args.rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                env = cache_env(name, Path(tmp), r, args.before)
                seconds, loss = run(name, commands[name], Path(tmp), env)
                times[name].append(seconds)
                losses[name].append(loss)
                print(
                    f"round {r + 1} {name:<26} {seconds:7.1f} s  test loss {loss:.2f}", flush=True
                )
    reference = statistics.median(times["example"]) if "example" in times else math.nan
    rows = {
        n: {
            "median_s": statistics.median(times[n]),
            "times_s": times[n],
            "test_loss": statistics.median(losses[n]),
            "speedup": reference / statistics.median(times[n]),
        }
        for n in names
    }
    for n, row in rows.items():
        print(
            f"{n:<26} {row['median_s']:7.1f} s  {row['speedup']:.2f}x  loss {row['test_loss']:.2f}"
        )
    record = {
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "epochs": args.epochs,
        "rounds": args.rounds,
        "before": args.before,
        "only": args.only,
        "measures": MEASURES,
        "rows": rows,
    }
    only = "-only" if args.only else ""
    path = ROOT / "bench" / "results" / f"example-vs-vaekit{only}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
