"""One-class anomaly detection on Fashion-MNIST.

For each of the 10 classes: a conv VAE (channels 32,64, latent 16, Bernoulli, 25 epochs, batch
128, Adam 1e-3) trained on that class's training images only (6,000; 10% held out to
calibrate), then the whole test split (10,000 images, 1,000 normal) scored by each score of
`vaekit anomaly`; AUROC per class and score, and the mean over classes. The training budget
is what the script prints (the brief allows at most 5 minutes per class).

A class whose run directory already holds a finished run is not trained again; results go
to runs/bench-anomaly/results.jsonl as they come, so the table can be filled across sittings.

    .venv/bin/python bench/anomaly_oneclass.py [--out runs/bench-anomaly] [--classes 0,1,...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import vaekit
from vaekit.api.anomaly import AnomalyDetector, detection_quality
from vaekit.api.run import read_metrics
from vaekit.data.datasets import open_dataset

SCORES = ("elbo", "complexity", "latent", "recon", "knn")
MODEL = {"model": "conv", "channels": (32, 64), "latent_dim": 16, "epochs": 25}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/bench-anomaly")
    parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    args = parser.parse_args()
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    fmnist = open_dataset("fashion-mnist")
    test, test_labels = fmnist.test, fmnist.test.labels.numpy()
    results = root / "results.jsonl"
    done = (
        {json.loads(line)["class"] for line in results.read_text().splitlines()}
        if results.exists()
        else set()
    )
    for c in (int(v) for v in args.classes.split(",")):
        if c in done:
            continue
        data = root / f"class{c}.npy"
        if not data.exists():
            keep = (fmnist.train.labels == c).numpy()
            np.save(data, fmnist.train.images.numpy()[keep][:, 0])
        run_dir = root / f"class{c}"
        seconds = None
        if not any(line.get("final") for line in read_metrics(run_dir)):
            start = time.perf_counter()
            vaekit.train(
                str(data), out=run_dir, overwrite=True, progress=False, device="cpu", **MODEL
            )
            seconds = round(time.perf_counter() - start, 1)
        model = vaekit.load(run_dir)
        row = {"class": c, "train_seconds": seconds}
        for score in SCORES:
            detector = AnomalyDetector(model, score).fit()
            scores = detector.decision_function(test)
            row[score] = round(
                detection_quality(scores, (test_labels != c).astype(int))["auroc"], 4
            )
        print(json.dumps(row), flush=True)
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    if rows:
        means = {s: round(float(np.mean([r[s] for r in rows])), 4) for s in SCORES}
        print(json.dumps({"mean_auroc": means, "classes": len(rows)}))


if __name__ == "__main__":
    main()
