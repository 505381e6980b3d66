"""What the applications buy on Fashion-MNIST: denoising PSNR and embedding probes.

Denoising: for each noise (Gaussian sigma 0.3; 25% of pixels masked), a conv VAE (channels
32,64, latent 20, Bernoulli) trained 10 epochs with `--train-noise` of that kind, and the plain
VAE of the same size trained without noise; PSNR (dB, mean over the 10,000 test images) of the
noisy input and of the reconstruction, against the clean image, the noise drawn with seed 0.

Embeddings: accuracy on the test split of the same logistic-regression probe (standardized
features, 10,000 training images) on the plain VAE's posterior means (20 numbers) and on the
raw pixels (784).

    .venv/bin/python bench/apps_quality.py [--out runs/bench-apps]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import vaekit
from vaekit.api import apps
from vaekit.api.run import read_metrics, reopen_dataset
from vaekit.data.batches import seeded_subset
from vaekit.evaluation.probe import probe_accuracy
from vaekit.models.posterior import posterior_moments_of

MODEL = {"model": "conv", "channels": (32, 64), "latent_dim": 20, "epochs": 10}
NOISES = ("gaussian:0.3", "mask:0.25")


def trained(out: Path, train_noise: str | None) -> vaekit.Model:
    if not any(line.get("final") for line in read_metrics(out)):
        start = time.perf_counter()
        vaekit.train("fashion-mnist", out=out, train_noise=train_noise, overwrite=True,
                     progress=False, device="cpu", **MODEL)  # fmt: skip
        print(f"trained {out.name} in {time.perf_counter() - start:.0f} s", flush=True)
    return vaekit.load(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/bench-apps")
    args = parser.parse_args()
    root = Path(args.out)
    plain = trained(root / "plain", None)
    for noise in NOISES:
        denoiser = trained(root / f"denoise-{noise.replace(':', '-')}", noise)
        for name, model in (("plain VAE", plain), (f"--train-noise {noise}", denoiser)):
            r = apps.denoise(model, add_noise=noise, n=10_000, seed=0)
            row = {
                "noise": noise,
                "model": name,
                "psnr_noisy": round(r["mean_psnr_noisy"], 2),
                "psnr_denoised": round(r["mean_psnr_denoised"], 2),
            }
            print(json.dumps(row), flush=True)

    dataset = reopen_dataset(plain.run_config)
    train = dataset.train.subset(seeded_subset(len(dataset.train), 10_000, 0))
    test = dataset.test
    latents = probe_accuracy(
        posterior_moments_of(plain.vae, train)[0],
        train.labels,
        posterior_moments_of(plain.vae, test)[0],
        test.labels,
    )
    pixels = probe_accuracy(
        train.scaled(slice(None)).flatten(1), train.labels, test.scaled(slice(None)).flatten(1),
        test.labels,
    )  # fmt: skip
    print(json.dumps({"probe": "latents (20)", **latents}))
    print(json.dumps({"probe": "raw pixels (784)", **pixels}))


if __name__ == "__main__":
    main()
