"""A learning curve: a run's validation -ELBO against its cumulative training time, as a PNG.

Reads RUNDIR/metrics.jsonl (one line per epoch: "time_s", the epoch's time, and the
validation split's -ELBO per example) and RUNDIR/config.json (the data's shape, for bits per
dimension). The time axis is the sum of the epochs' times. Runs trained since vaekit counts
each epoch's validation pass in its time_s follow the wall clock but for checkpoints and the
final test; in epochs trained before (the curves drawn before December 2, 2026, and the
first 25 epochs of the CIFAR-10 run resumed to 90 minutes) it is training time only, a
little behind the wall clock (the benchmark tables give each run's whole time).

    .venv/bin/python bench/learning_curve.py RUNDIR [RUNDIR ...] -o curve.png [--bits-per-dim]
        [--ymax Y]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import matplotlib

from vaekit.api.run import read_metrics
from vaekit.evaluation.evaluate import nats_to_bits_per_dim
from vaekit.report.plots import term_series

matplotlib.use("Agg")
from matplotlib import pyplot as plt


def curve(rundir: Path, bits_per_dim: bool) -> tuple[list[float], list[float]]:
    """(cumulative training minutes, validation -ELBO) after each epoch of the run."""
    epochs = [r for r in read_metrics(rundir) if "epoch" in r and "val" in r]
    minutes = [t / 60 for t in itertools.accumulate(r["time_s"] for r in epochs)]
    values = [float(v) for v in term_series(epochs, "val", "neg_elbo")]
    if bits_per_dim:
        shape = json.loads((rundir / "config.json").read_text())["model"]["shape"]
        values = [nats_to_bits_per_dim(v, math.prod(shape)) for v in values]
    return minutes, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rundirs", nargs="+", type=Path, metavar="RUNDIR")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the PNG to write")
    parser.add_argument("--bits-per-dim", action="store_true", help="bits/dim instead of nats")
    parser.add_argument("--title", default="validation -ELBO against training time")
    parser.add_argument("--ymax", type=float, help="clip the y axis here (the first epochs)")
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=110)
    for rundir in args.rundirs:
        minutes, values = curve(rundir, args.bits_per_dim)
        ax.plot(minutes, values, "o-", markersize=3, label=rundir.name)
        print(f"{rundir}: {len(values)} epochs, last {values[-1]:.4f} at {minutes[-1]:.1f} min")
    ax.set_xlabel("time (minutes: the epochs' summed time_s)")
    unit = "bits/dim" if args.bits_per_dim else "nats per example"
    ax.set_ylabel(f"validation -ELBO ({unit})")
    ax.set_title(args.title)
    if args.ymax is not None:
        ax.set_ylim(top=args.ymax)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.output, format="png")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
