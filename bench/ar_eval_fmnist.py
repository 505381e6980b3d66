"""Fashion-MNIST's importance-weighted bound for the best 15-minute model, by two versions of
vaekit: issue 28's "K=1000 on 2,000 Fashion-MNIST images for the best model (MLP + PixelCNN +
VampPrior + EMA) in at most 150 s", measured as whole processes in the same session.

The model: the Fashion-MNIST suite's MLP + PixelCNN + VampPrior + EMA row (bench/
model_families.py), trained by the version on the path for --epochs (1 by default) into
--rundir unless that folder already holds a model: the evaluation's cost does not depend on
how long the weights were trained, only on the architecture. The call timed is the suite's
own (`bench.model_families.evaluate_row`): `vaekit.evaluate(rundir, iw_samples=1000,
max_examples=2000, per_example=True, seed=0, reconstruction=False)`, which scores the ELBO and
the K=1000 bound on the same 2,000 test images, counts the active units and fits the probe.

Each version is a source folder (`--before SRC --after SRC`, e.g. the `src` of git worktrees
of two commits); one process per measurement, in alternating rounds (before, after, ...).

    python -m bench.ar_eval_fmnist --before /tmp/old/src --after src [--rounds 2]
        [--rundir runs/bench-ar-eval-fmnist] [--json bench/results/ar-eval-fmnist.json]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.ar_eval_cifar import compare, versions_parser

ROW = "MLP + PixelCNN + VampPrior + EMA"


def reference() -> tuple[str, dict]:
    """The suite's row: its full name and its options."""
    from bench.model_families import FMNIST

    name = next(name for name in FMNIST if name.startswith(ROW))
    return name, dict(FMNIST[name])


def worker(rundir: str, epochs: int) -> None:
    """One measurement with the vaekit on the path: a JSON line with seconds and NLL."""
    from bench.model_families import FMNIST_EXAMPLES, FMNIST_K

    import vaekit

    if not (Path(rundir) / "model.safetensors").exists():
        options = reference()[1]
        vaekit.train("fashion-mnist", out=rundir, binarize=True, seed=0, epochs=epochs,
                     progress=False, report=False, **options)  # fmt: skip
    start = time.perf_counter()
    report = vaekit.evaluate(rundir, iw_samples=FMNIST_K, max_examples=FMNIST_EXAMPLES,
                             per_example=True, seed=0, reconstruction=False)  # fmt: skip
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "nll": report["iwae"]["nll"]}), flush=True)


def main() -> None:
    parser = versions_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--rundir", default="runs/bench-ar-eval-fmnist")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    if args.worker:
        worker(args.rundir, args.epochs)
        return
    worker_args = ["--rundir", str(Path(args.rundir).resolve()), "--epochs", str(args.epochs)]
    compare(parser, args, "bench.ar_eval_fmnist", worker_args, reference()[0])


if __name__ == "__main__":
    main()
