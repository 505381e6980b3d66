"""Disentanglement on dSprites (issue 27's figure): a plain VAE, beta-VAE, beta-TCVAE,
FactorVAE and InfoVAE, each over several seeds, scored by vaekit's own `eval --factors` path.

Rows (each with --seeds, default 0 1 2):

    VAE                        the ELBO (beta 1)
    beta-VAE (beta 4)          --beta 4 (Higgins et al. 2017)
    beta-TCVAE (TC weight 6)   --objective tcvae --tc-weight 6 (Chen et al. 2018)
    FactorVAE (gamma 35)       --objective factorvae --factor-weight 35 (Kim and Mnih 2018)
    InfoVAE (MMD)              --objective infovae, its default --mmd-weight (Zhao et al. 2017)

Data: vaekit's dSprites (vaekit.data.dsprites: Matthey et al.'s 737,280 64x64 binary images,
factors shape, scale, orientation, posX, posY). The data API has no training-subset option,
so --max-train N (default 50,000) draws N images at random (seed 0) and a disjoint evaluation
set of --eval-points (default 15,000) and writes them, rendered by vaekit's own dSprites code,
as an .npz in --runs (x_train/x_test, shape as the label; vaekit holds 10% of x_train out for
validation). Every model and seed is then scored on the same images. --max-train 0 trains on
all of it as `--data dsprites` (vaekit carves its 10% test split with each run's seed, and
--eval-points of those are scored); one epoch of that takes about 16 minutes on one CPU core
(about 630 images/s, measured); the budget below cuts that epoch short.

Model: the conv encoder/decoder of the disentanglement papers scaled to a 2-core CPU: vaekit's
conv VAE with channels 32-32-64-64 (stride 2, 64x64 -> 4x4), Z = 10, a Bernoulli likelihood,
batch 64, Adam at vaekit's default rate 1e-3. Where it differs from the papers (Higgins et al.,
Chen et al., Kim and Mnih, and Locatello et al. 2019's common setting): 3x3 kernels instead of
4x4, no 256-unit fully connected layer between the convolutions and the latents, a learning
rate of 1e-3 instead of 1e-4, and minutes of training (--minutes per model, default 3: vaekit's
--time-budget, which stops before the budget is overrun, within an epoch if need be) on a
subset instead of 300,000 steps on all of dSprites. Expect lower MIGs than the published ones.

Numbers, per run, on the evaluation set (`vaekit.evaluate(..., factors=...)`, seed 0):
- neg_elbo: the test -ELBO (beta 1, whatever the training objective), nats per image, one
  posterior sample per image;
- mig: the mutual information gap (Chen et al. 2018; 20 bins, 10,000 points);
- sap: the separated attribute predictability (Kumar et al. 2018);
- dci_d, dci_c, dci_i: DCI disentanglement, completeness and informativeness (test accuracy of
  gradient-boosted trees; Eastwood and Williams 2018);
- factor_vae: the FactorVAE score (Kim and Mnih 2018; majority vote, batches of 64);
- train_seconds, eval_seconds: wall time of training (validation and the run's closing test
  pass included) and of the evaluation.
vaekit.evaluation.disentanglement gives each metric's protocol. DCI is most of the evaluation's
time: gradient-boosted trees, 100 per class of each factor (113 classes), about 35 s per 1,000
evaluation points on one core, so about 9 minutes per run at the default 15,000 (DCI's 10,000
+ 5,000), three times the training; MIG, SAP and the FactorVAE score take seconds. Fewer
--eval-points trim it (each metric uses at most that many points), at the cost of noisier
metrics: 5,000 take about 3 minutes.

Each finished run is written to the results file (JSON) at once and skipped when the script
runs again, so the study can be filled across sittings. Rows whose options this vaekit lacks,
or whose --objective it accepts without applying (the first epoch's loss is exactly the VAE's
with the same seed), are named under NOT RUN and left for a later sitting.

    .venv/bin/python bench/disentangle.py                  # the whole study, 15 runs
    .venv/bin/python bench/disentangle.py --only beta-TCVAE --seeds 0
    .venv/bin/python bench/disentangle.py --table          # mean ± sd over seeds
    .venv/bin/python bench/disentangle.py --traversals     # the best run's traversals PNG
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import vaekit

# Imported now, not lazily after training, so that an edit of vaekit meanwhile cannot pair a
# new evaluate with an old model.
import vaekit.api.evaluate
import vaekit.api.train
from vaekit.data import dsprites
from vaekit.errors import VaekitError
from vaekit.files import write_json
from vaekit.train_options import TRAIN_OPTIONS

ROWS: dict[str, dict[str, Any]] = {
    "VAE": {"beta": 1.0},
    "beta-VAE (beta 4)": {"beta": 4.0},
    "beta-TCVAE (TC weight 6)": {"objective": "tcvae", "tc_weight": 6.0},
    "FactorVAE (gamma 35)": {"objective": "factorvae", "factor_weight": 35.0},
    "InfoVAE (MMD)": {"objective": "infovae"},
}
# Every row's model and training (see the docstring for how it differs from the papers).
COMMON: dict[str, Any] = {
    "model": "conv",
    "channels": (32, 32, 64, 64),
    "latent_dim": 10,
    "likelihood": "bernoulli",
    "batch_size": 64,
    "epochs": 10_000,  # the time budget ends training
}
DATA_SEED = 0  # draws the training subset and the evaluation set
EVAL_SEED = 0  # every run's metrics use the same random draws
METRICS = ("neg_elbo", "mig", "sap", "dci_d", "dci_c", "dci_i", "factor_vae")
HEADERS = ("-ELBO", "MIG", "SAP", "DCI D", "DCI C", "DCI I", "FactorVAE score")
MEASURES = {
    "neg_elbo": "test -ELBO (beta 1), nats per image, 1 posterior sample per image",
    "mig": "mutual information gap (Chen et al. 2018), 20 bins",
    "sap": "separated attribute predictability (Kumar et al. 2018)",
    "dci_d": "DCI disentanglement (Eastwood and Williams 2018)",
    "dci_c": "DCI completeness",
    "dci_i": "DCI informativeness: held-out accuracy of the gradient-boosted trees",
    "factor_vae": "FactorVAE score (Kim and Mnih 2018), majority-vote accuracy",
    "eval_examples": "evaluation images the numbers are computed on",
}


def missing_options(options: dict[str, Any]) -> list[str]:
    """The options of a row that this vaekit's `train` does not have (by name)."""
    known = {o.name for o in TRAIN_OPTIONS}
    return [name for name in options if name not in known]


def study_data(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """(what `vaekit.train` gets as data, what `vaekit.evaluate` gets as factors, extra
    training options): the registered dSprites with --max-train 0, else the subset's .npz
    (written once into --runs; the same arguments always give the same file)."""
    if args.max_train == 0:
        return "dsprites", True, {}
    if args.max_train + args.eval_points > dsprites.FULL_SIZE:
        raise SystemExit(f"--max-train plus --eval-points exceed {dsprites.FULL_SIZE:,} images")
    path = Path(args.runs) / f"dsprites-train{args.max_train}-eval{args.eval_points}.npz"
    order = np.random.default_rng(DATA_SEED).permutation(dsprites.FULL_SIZE)
    train_rows = np.sort(order[: args.max_train])
    eval_rows = np.sort(order[args.max_train : args.max_train + args.eval_points])
    eval_codes = dsprites.factor_codes(eval_rows)
    if not path.is_file():
        print(f"writing {path} ...", flush=True)
        train_codes = dsprites.factor_codes(train_rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez_compressed(
            part,
            x_train=images(train_codes),
            y_train=train_codes[:, 0],
            x_test=images(eval_codes),
            y_test=eval_codes[:, 0],
        )
        os.replace(part, path)
    # 0/255 bytes: vaekit reads uint8 arrays as 0..255, and --pixels binary says what they are.
    return str(path), eval_codes, {"pixels": "binary"}


def images(codes: np.ndarray) -> np.ndarray:
    """The dSprites images (N, 1, 64, 64) of factor codes (N, 5), as uint8 0 or 255."""
    values = dsprites.factor_values(codes)
    out = np.empty((len(codes), 1, dsprites.SIZE, dsprites.SIZE), dtype=np.uint8)
    for start in range(0, len(codes), 8192):
        part = slice(start, start + 8192)
        drawn = dsprites.render(codes[part, 0], *(values[part, k] for k in range(1, 5)))
        out[part, 0] = drawn * 255
    return out


class NotApplied(Exception):
    """A row's objective trained exactly as the plain VAE did: accepted but not applied."""


def run_one(
    name: str, seed: int, options: dict[str, Any], args: argparse.Namespace, done: dict[str, Any]
) -> dict[str, Any]:
    """Train one row's model with one seed and score it: the results file's row. Raises
    NotApplied, before the evaluation, where an --objective row's first epoch has the very
    loss of the VAE row's run with that seed (`done`: the results so far): an objective
    this vaekit accepts but does not apply in training yet."""
    data, factors, extra = study_data(args)
    slug = name.split(" (")[0].lower()
    rundir = Path(args.runs) / f"{slug}-seed{seed}"
    start = time.perf_counter()
    run = vaekit.train(
        data,
        out=rundir,
        overwrite=True,
        progress=False,
        report=False,
        seed=seed,
        time_budget=args.minutes * 60,
        **COMMON,
        **extra,
        **options,
    )
    train_seconds = time.perf_counter() - start
    first_loss = run.history[0]["train"]["loss"]
    twin = done.get(f"VAE, seed {seed}", {})
    same_data = twin.get("data") == str(data)
    if "objective" in options and same_data and twin["first_epoch_loss"] == first_loss:
        raise NotApplied(
            f"its first epoch's loss is the VAE's ({first_loss:.4f}): this vaekit accepts "
            f"--objective {options['objective']} but does not apply it"
        )
    start = time.perf_counter()
    report = vaekit.evaluate(
        rundir,
        iw_samples=1,
        max_examples=args.eval_points if factors is True else None,
        seed=EVAL_SEED,
        probe=False,
        reconstruction=False,
        factors=factors,
    )
    eval_seconds = time.perf_counter() - start
    d = report["disentanglement"]
    return {
        "model": name,
        "seed": seed,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
        "rundir": str(rundir),
        "data": str(data),
        "max_train": args.max_train,
        "num_train": run.config["data"]["num_train"],
        "budget_minutes": args.minutes,
        "epochs": run.history[-1]["epoch"],
        "first_epoch_loss": first_loss,
        "train_seconds": round(train_seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "eval_examples": report["num_examples"],
        "neg_elbo": report["elbo"]["loss"],
        "mig": d["mig"]["mig"],
        "mig_per_factor": dict(zip(d["factors"], d["mig"]["per_factor"], strict=True)),
        "sap": d["sap"]["sap"],
        "dci_d": d["dci"]["disentanglement"],
        "dci_c": d["dci"]["completeness"],
        "dci_i": d["dci"]["informativeness"],
        "factor_vae": d["factor_vae"]["factor_vae_score"],
        "active_latents": d["factor_vae"]["active_latents"],
        "measures": MEASURES,
    }


def by_model(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The results' runs grouped by row, in ROWS's order (rows without runs left out)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for name in ROWS:
        runs = sorted((r for r in results.values() if r["model"] == name), key=lambda r: r["seed"])
        if runs:
            groups[name] = runs
    return groups


def mean_sd(values: list[float]) -> str:
    """'mean ± sd' over seeds (the sample standard deviation; a dash for one seed)."""
    if len(values) == 1:
        return f"{values[0]:.3f} ± –"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def best(results: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(the row with the highest mean MIG, its run with the highest MIG), or None."""
    groups = by_model(results)
    if not groups:
        return None
    name = max(groups, key=lambda n: statistics.mean(r["mig"] for r in groups[n]))
    return name, max(groups[name], key=lambda r: r["mig"])


def table(results: dict[str, Any]) -> str:
    """The markdown table: per row, the mean ± sd over its seeds of every number, and the
    best row by mean MIG."""
    lines = [
        "| model | seeds | " + " | ".join(HEADERS) + " | epochs | train, min | eval, s |",
        "| --- | --- | " + " | ".join("---" for _ in HEADERS) + " | --- | --- | --- |",
    ]
    for name, runs in by_model(results).items():
        cells = [mean_sd([r[m] for r in runs]) for m in METRICS]
        epochs = "/".join(str(r["epochs"]) for r in runs)
        train = statistics.mean(r["train_seconds"] for r in runs) / 60
        evaluation = statistics.mean(r["eval_seconds"] for r in runs)
        seeds = ",".join(str(r["seed"]) for r in runs)
        lines.append(
            f"| {name} | {seeds} | " + " | ".join(cells)
            + f" | {epochs} | {train:.1f} | {evaluation:.0f} |"
        )  # fmt: skip
    chosen = best(results)
    if chosen:
        name, run = chosen
        lines.append(
            f"\nBest by mean MIG: {name} (its best run: seed {run['seed']}, MIG {run['mig']:.3f})."
        )
    some = next(iter(results.values()), None)
    if some:
        lines.append(
            f"Mean ± sample standard deviation over seeds; {some['eval_examples']:,} evaluation "
            f"images; {some['num_train']:,} training images; {some['budget_minutes']:g} minutes "
            f"per model on {some['threads']} thread(s). -ELBO: {MEASURES['neg_elbo']}."
        )
    return "\n".join(lines)


def traversals(results: dict[str, Any], path: Path) -> None:
    """The latent traversals of the best run (`vaekit traverse`'s figure: one row per latent,
    by KL, each varied over ±3 prior standard deviations around test image 0) as a PNG."""
    from vaekit.api.apps import traverse
    from vaekit.report.images import save_grid

    chosen = best(results)
    if chosen is None:
        raise SystemExit("no runs yet: nothing to traverse")
    name, run = chosen
    model = vaekit.load(run["rundir"])
    steps = 9
    pictures, dims, kl = traverse(model, index="0", steps=steps)
    save_grid(pictures, path, ncols=steps)
    print(f"wrote {path}: {name}, seed {run['seed']}; rows are latents by KL (nats): "
          + ", ".join(f"z{d} {v:.2f}" for d, v in zip(dims, kl, strict=True)))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    short = {name.split(" (")[0]: name for name in ROWS}  # VAE, beta-VAE, ...
    parser.add_argument("--only", nargs="+", choices=short, metavar="MODEL",
                        help=f"only these rows: {', '.join(short)}")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=3.0, help="budget per model")
    parser.add_argument(
        "--max-train",
        type=int,
        default=50_000,
        help="training images drawn from dSprites; 0: all (--data dsprites)",
    )
    parser.add_argument(
        "--eval-points",
        type=int,
        default=15_000,
        help="evaluation images (each metric uses at most this many)",
    )
    parser.add_argument("--results", default="bench/results/disentangle.json")
    parser.add_argument("--runs", default="runs/bench-disentangle")
    parser.add_argument("--table", action="store_true", help="only print the table")
    parser.add_argument(
        "--traversals",
        action="store_true",
        help="write the best run's traversals beside --results (PNG)",
    )
    parser.add_argument("--redo", action="store_true", help="run the chosen rows again")
    args = parser.parse_args()  # fmt: skip
    if args.max_train < 0 or args.eval_points < 2 or args.minutes <= 0:
        parser.error("--max-train must be >= 0, --eval-points >= 2, --minutes > 0")
    path = Path(args.results)
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    skipped: list[str] = []
    if not (args.table or args.traversals):
        for name, options in ROWS.items():
            if args.only and name not in {short[w] for w in args.only}:
                continue
            lacking = missing_options(options)
            if lacking:
                skipped.append(f"{name}: this vaekit has no option {', '.join(lacking)}")
                continue
            for seed in args.seeds:
                key = f"{name}, seed {seed}"
                if key in results and not args.redo:
                    continue
                print(f"{key} ...", flush=True)
                try:
                    results[key] = run_one(name, seed, options, args, results)
                except (VaekitError, NotApplied) as err:  # an objective refused or not applied
                    skipped.append(f"{key}: {err}")
                    break
                path.parent.mkdir(parents=True, exist_ok=True)
                write_json(path, results)
                print(json.dumps({k: v for k, v in results[key].items() if k != "measures"}),
                      flush=True)  # fmt: skip
    if args.traversals:
        traversals(results, path.with_name(f"{path.stem}-traversals.png"))
        return
    print(table(results))
    for line in skipped:
        print(f"NOT RUN: {line}")


if __name__ == "__main__":
    main()
