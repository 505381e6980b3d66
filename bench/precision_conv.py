"""Training conv and ResNet models in fp32 and in bf16, as users run them: whole `vaekit train`
processes, the same options but `--precision`, in rotated rounds; per-epoch times (from each
run's metrics.jsonl) and the test -ELBO, so that bf16 is judged at the same loss (issue 28:
"keep what is faster at the same loss, +-0.5%").

Suites (--suite):
    fmnist   Fashion-MNIST, conv 32-64, Z=20, Bernoulli (vaekit's defaults for the family)
    cifar    CIFAR-10 (the five training batches in --cifar), conv 32-64, Z=64, the
             discretized mixture of 5 logistics
    resnet   the same CIFAR-10 data, ResNet 32-64 depth 2, Z=64, the same likelihood

    python -m bench.precision_conv --suite fmnist [--epochs 3] [--rounds 2]
        [--json bench/results/precision-conv-fmnist.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITES = {
    "fmnist": ["--data", "fashion-mnist", "--model", "conv", "--latent-dim", "20"],
    "cifar": ["--model", "conv", "--latent-dim", "64", "--likelihood", "logistic-mixture"],
    "resnet": [
        "--model",
        "resnet",
        "--depth",
        "2",
        "--latent-dim",
        "64",
        "--likelihood",
        "logistic-mixture",
    ],
}
PRECISIONS = ("fp32", "bf16")


def train(options: list[str], precision: str, out: Path) -> dict:
    """One whole `vaekit train` process: its wall time, epoch times and test -ELBO."""
    command = [sys.executable, "-m", "vaekit", "train", *options, "--precision", precision]
    command += ["--out", str(out), "--quiet", "--no-report", "--seed", "0"]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "epoch" in r and not r.get("final")]
    final = next(r for r in records if r.get("final"))
    config = json.loads((out / "config.json").read_text())
    return {
        "wall_s": wall,
        "epoch_s": [r["time_s"] for r in epochs],
        "test_neg_elbo": final["test"]["neg_elbo"],
        "precision_resolved": config["training"].get("precision_resolved"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=SUITES, default="fmnist")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cifar", default="../shared/data/cifar-10-batches-bin")
    parser.add_argument("--json", help="write the runs and medians here")
    args = parser.parse_args()
    options = [*SUITES[args.suite], "--epochs", str(args.epochs), "--batch-size", "128"]
    if args.suite != "fmnist":
        options = ["--data", str(Path(args.cifar).resolve()), *options]
    runs: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]
            for precision in order:
                found = train(options, precision, Path(tmp) / f"{precision}-{r}")
                runs[precision].append(found)
                epochs = ", ".join(f"{t:.1f}" for t in found["epoch_s"])
                print(
                    f"round {r + 1} {precision}: epochs {epochs} s, whole {found['wall_s']:.1f} s,"
                    f" test -ELBO {found['test_neg_elbo']:.3f}",
                    flush=True,
                )
    summary = {}
    for precision, found in runs.items():
        summary[precision] = {
            "median_epoch_s": statistics.median(t for f in found for t in f["epoch_s"]),
            "median_wall_s": statistics.median(f["wall_s"] for f in found),
            "test_neg_elbo": found[0]["test_neg_elbo"],
        }
    fp32, bf16 = summary["fp32"], summary["bf16"]
    change = (bf16["test_neg_elbo"] - fp32["test_neg_elbo"]) / abs(fp32["test_neg_elbo"])
    print(
        f"median epoch: fp32 {fp32['median_epoch_s']:.1f} s, bf16 {bf16['median_epoch_s']:.1f} s "
        f"({fp32['median_epoch_s'] / bf16['median_epoch_s']:.2f}x); test -ELBO fp32 "
        f"{fp32['test_neg_elbo']:.3f}, bf16 {bf16['test_neg_elbo']:.3f} ({100 * change:+.2f}%)"
    )
    if args.json:
        record = {"args": vars(args), "options": options, "runs": runs, "summary": summary}
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
