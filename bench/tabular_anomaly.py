"""Anomaly detection on tables: vaekit's mixed-likelihood VAE against an Isolation Forest.

Three tables, each split per seed the same way for both detectors: 70% of the normal rows
(chosen with the seed) are the training rows; the other 30% of the normal rows and every
anomalous row are scored, and the AUROC (anomalous = positive) computed on them.

- planted: a table this script generates (`planted_table`, seeded): 2,000 normal rows of 8
  sensor readings driven by 2 hidden factors plus noise, and a categorical "mode" that
  follows the first factor; 5% of the cells are missing at random. 100 anomalies are planted
  in a further 100 rows drawn the same way, a third of each kind: a spike (one sensor moved 4
  standard deviations), a broken correlation (one sensor's value taken from another row, so
  each value alone is ordinary), and a wrong mode (another of the three modes than the one
  its readings go with).
- breast-cancer: scikit-learn's `load_breast_cancer` (569 rows, 30 numeric columns): benign
  (357) normal, malignant (212) anomalous. ODDS's version keeps only 10 malignant rows; here
  all of them are scored (AUROC does not depend on the share of anomalies, only on their
  ranking).
- wine: scikit-learn's `load_wine` (178 rows, 13 numeric columns): classes 1 and 2 (119)
  normal, class 0 (59) anomalous, the classes ODDS's version uses (it keeps 10 of class 0).

vaekit: `vaekit.train` on the training rows written as CSV (an MLP VAE with the mixed
likelihood, in one of the two configurations of MODELS; batch 32, EPOCHS below), scored by
`AnomalyDetector` with each of its scores. Isolation Forest: scikit-learn's
`IsolationForest(random_state=seed)` with its defaults, on the same rows (missing values
filled with the training means, the categorical column one-hot). Results to
bench/results/tabular-anomaly.json, one entry per configuration.

    .venv/bin/python bench/tabular_anomaly.py --model pixel-h64-z4|global-h32-z2|...
        [--seeds 0,1,2,3,4] [--out runs/bench-tables]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

import vaekit
from vaekit.api.anomaly import AnomalyDetector
from vaekit.api.inputs import Inputs

SCORES = ("elbo", "recon", "latent")
# The configurations reported: a standard deviation per row and column from the decoder
# ("pixel"), or one learned per column ("global", the tables' default), in two model sizes.
MODELS = {
    "pixel-h64-z4": {"gaussian_variance": "pixel", "hidden_dims": (64, 64), "latent_dim": 4},
    "global-h32-z2": {"gaussian_variance": "global", "hidden_dims": (32,), "latent_dim": 2},
    "pixel-h32-z2": {"gaussian_variance": "pixel", "hidden_dims": (32,), "latent_dim": 2},
    "pixel-h64-z2": {"gaussian_variance": "pixel", "hidden_dims": (64, 64), "latent_dim": 2},
}
COMMON = {"batch_size": 32, "lr": 1e-3, "val_fraction": 0.0}
TRAIN_SHARE = 0.7
# About 1,000-2,000 optimizer steps each: the planted table has 1,400 training rows, the
# others 83-249.
EPOCHS = {"planted": 40, "breast-cancer": 200, "wine": 200}
# What a configuration's numbers are, recorded in its entry beside them.
MEASURES = {
    "split": "per table and seed: 70% of the normal rows, chosen with the seed, to train on "
    "(vaekit.train carves its own 10% test split from them with the seed, so the VAE is fitted "
    "on 90% of them); the other 30% of the normal rows and every anomalous row scored "
    "(test_rows, of which `anomalous` are anomalies); no official split",
    "auroc": "vaekit_elbo, vaekit_recon, vaekit_latent and isolation_forest are AUROCs on the "
    "scored rows, anomalies as positives; summary: their mean and standard deviation (ddof 0) "
    "over the seeds",
    "vaekit_elbo": "AnomalyDetector's elbo score: -ELBO in nats per row, its terms averaged "
    "over 8 posterior samples (vaekit.apps.anomaly.ELBO_SAMPLES), noise keyed by the seed",
    "vaekit_recon": "AnomalyDetector's recon score: -log p(x | posterior mean) of the row's "
    "observed entries, nats per row",
    "vaekit_latent": "AnomalyDetector's latent score: the squared Mahalanobis distance of the "
    "posterior mean from a Gaussian fitted to the posterior means of the VAE's training part",
    "isolation_forest": "-score_samples of IsolationForest(random_state=seed), fitted on the "
    "same training rows",
}


def planted_table(seed: int = 0) -> tuple[list[str], list[list[str]], np.ndarray]:
    """(header, rows as text, anomalous (N,) 0/1): see the module docstring."""
    rng = np.random.default_rng(seed)
    n_normal, n_anomalous, sensors = 2000, 100, 8
    n = n_normal + n_anomalous
    factors = rng.normal(size=(n, 2))
    loadings = rng.normal(size=(2, sensors))
    values = factors @ loadings + 0.3 * rng.normal(size=(n, sensors))
    values = values * rng.uniform(1, 20, size=sensors) + rng.uniform(-50, 50, size=sensors)
    modes = np.array(["idle", "run", "boost"])[np.digitize(factors[:, 0], [-0.5, 0.8])]
    anomalous = np.zeros(n, dtype=int)
    anomalous[n_normal:] = 1
    std = values[:n_normal].std(0)
    for k, i in enumerate(range(n_normal, n)):
        j = rng.integers(sensors)
        kind = k % 3
        if kind == 0:  # a spike
            values[i, j] += rng.choice([-4, 4]) * std[j]
        elif kind == 1:  # a broken correlation: an ordinary value, from another row
            values[i, j] = values[rng.integers(n_normal), j]
        else:  # a mode that does not fit the readings
            modes[i] = rng.choice([m for m in ("idle", "run", "boost") if m != modes[i]])
    header = [f"sensor_{j}" for j in range(sensors)] + ["mode"]
    rows = [[f"{v:.4f}" for v in values[i]] + [modes[i]] for i in range(n)]
    missing = rng.random((n, sensors + 1)) < 0.05
    rows = [["" if missing[i, j] else cell for j, cell in enumerate(row)]
            for i, row in enumerate(rows)]  # fmt: skip
    return header, rows, anomalous


def sklearn_table(name: str) -> tuple[list[str], list[list[str]], np.ndarray]:
    if name == "breast-cancer":
        data = load_breast_cancer()
        anomalous = (data.target == 0).astype(int)  # 0 malignant, 1 benign
    else:
        data = load_wine()
        anomalous = (data.target == 0).astype(int)  # classes 1, 2 normal; 0 anomalous
    header = [str(c).replace(" ", "_") for c in data.feature_names]
    rows = [[repr(float(v)) for v in row] for row in data.data]
    return header, rows, anomalous


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def forest_features(header, rows, train_rows) -> np.ndarray:
    """Numbers for the Isolation Forest: numeric columns with missing values filled with
    the training mean, a categorical column one-hot."""
    columns = []
    for j in range(len(header)):
        cells = [row[j] for row in rows]
        try:
            numbers = np.array([float(c) if c else np.nan for c in cells])
        except ValueError:
            for category in sorted({c for c in cells if c}):
                columns.append(np.array([c == category for c in cells], dtype=float))
            continue
        fill = np.nanmean(numbers[train_rows])
        columns.append(np.where(np.isnan(numbers), fill, numbers))
    return np.stack(columns, axis=1)


def one_seed(name, header, rows, anomalous, seed, out: Path, model: dict) -> dict:
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(anomalous == 0)
    chosen = rng.permutation(normal)
    train_rows = np.sort(chosen[: int(TRAIN_SHARE * len(normal))])
    test_rows = np.setdiff1d(np.arange(len(rows)), train_rows)
    folder = out / f"{name}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "train.csv", header, [rows[i] for i in train_rows])
    write_csv(folder / "test.csv", header, [rows[i] for i in test_rows])
    truth = anomalous[test_rows]

    started = time.perf_counter()
    run = vaekit.train(
        data=str(folder / "train.csv"), out=str(folder / "run"), seed=seed, overwrite=True,
        progress=False, report=False, epochs=EPOCHS[name], **COMMON, **model,
    )  # fmt: skip
    trained = time.perf_counter() - started
    test = Inputs(run.model).rows([str(folder / "test.csv")])
    result = {"seed": seed, "train_rows": len(train_rows), "test_rows": len(test_rows),
              "anomalous": int(truth.sum()), "vaekit_train_s": round(trained, 1)}  # fmt: skip
    for score in SCORES:
        detector = AnomalyDetector(run.model, score, seed=seed).fit()
        result[f"vaekit_{score}"] = float(roc_auc_score(truth, detector.decision_function(test)))

    features = forest_features(header, rows, train_rows)
    forest = IsolationForest(random_state=seed).fit(features[train_rows])
    result["isolation_forest"] = float(
        roc_auc_score(truth, -forest.score_samples(features[test_rows]))
    )
    return result


def summary(results: list[dict]) -> dict:
    keys = [k for k in results[0] if k.startswith(("vaekit_", "isolation"))]
    return {k: {"mean": float(np.mean([r[k] for r in results])),
                "std": float(np.std([r[k] for r in results]))} for k in keys}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out", default="runs/bench-tables")
    parser.add_argument("--tables", default="planted,breast-cancer,wine")
    parser.add_argument("--model", choices=tuple(MODELS), default="pixel-h64-z4")
    parser.add_argument("--json", default="bench/results/tabular-anomaly.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out) / args.model
    model = MODELS[args.model]
    path = Path(args.json)
    everything = json.loads(path.read_text()) if path.exists() else {}
    report = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, no GPU",
        "torch": torch.__version__,
        "model": {
            k: list(v) if isinstance(v, tuple) else v for k, v in {**COMMON, **model}.items()
        },
        "epochs": EPOCHS,
        "train_share": TRAIN_SHARE,
        "measures": MEASURES,
        "tables": {},
    }
    for name in args.tables.split(","):
        header, rows, anomalous = planted_table(0) if name == "planted" else sklearn_table(name)
        results = []
        for seed in seeds:
            results.append(one_seed(name, header, rows, anomalous, seed, out, model))
            print(name, json.dumps(results[-1]), flush=True)
        report["tables"][name] = {"seeds": results, "summary": summary(results)}
        for key, value in report["tables"][name]["summary"].items():
            print(f"  {name} {key}: {value['mean']:.4f} ± {value['std']:.4f}")
    everything[args.model] = report  # the other configuration's results are kept
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(everything, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
