"""Training speed: vaekit against a bare loop and the PyTorch VAE example's data path.

The reference configuration of the well-known PyTorch VAE example: MLP 784-400-20, Bernoulli
likelihood on gray pixels, Adam 1e-3, batch 128, all 60,000 training images (no validation),
10 epochs, on Fashion-MNIST. Trained three ways in one run, the same model and optimizer each:

  vaekit     vaekit.train(...): the library's own loop, run files and checkpoints included
  bare       batches indexed from one in-memory uint8 tensor, a minimal loop, vaekit's
             optimizer (fused Adam)
  reference  the example as written: a per-example Dataset that builds a PIL image and turns
             it into a float tensor, a torch DataLoader with default collation, and
             torch.optim.Adam with its defaults (not fused)
  ref-fused  the same data path with vaekit's fused Adam: isolates what the data path costs

For each: wall time of the training epochs (vaekit's per-epoch run files and checkpoints
included), the part of it spent producing batches (data) and
the rest (compute), and the test loss (-ELBO, one posterior sample, nats per example) computed
by the same estimator. vaekit's loop is not instrumented, so its data time is measured by
running its batch path (shuffled indices, indexing, scaling) alone for the same epochs.

This machine's speed drifts by 10-20% over minutes, so each contender runs --repeats times,
the order rotating between rounds, and the median wall time is compared.

    .venv/bin/python bench/train_speed.py [--epochs 10] [--data fashion-mnist]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np
import torch
from PIL import Image

import vaekit
from vaekit.data.batches import batch_indices
from vaekit.data.datasets import open_dataset
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.training.loop import OPTIMIZERS, Callback, mean_loss

BATCH, LR, SEED = 128, 1e-3, 0
MODEL = {"family": "mlp", "hidden_dims": (400,), "latent_dim": 20, "likelihood": "bernoulli"}


def fresh_model(shape):
    torch.manual_seed(SEED)
    return build_vae(ModelConfig.create(shape=shape, **MODEL))


class WallClock(Callback):
    """Wall time from the loop's start to its end: every epoch with vaekit's per-epoch
    metrics line, weights and checkpoint writes included."""

    def on_train_start(self, total_steps, state):
        self.start = time.perf_counter()

    def on_train_end(self):
        self.seconds = time.perf_counter() - self.start


def warm_up(data: str) -> None:
    """50 untimed steps, so that no contender pays the process's one-time start-up costs
    (allocator growth, oneDNN/MKL kernel selection)."""
    dataset = open_dataset(data)
    model = fresh_model(dataset.shape)
    optimizer = OPTIMIZERS["adam"](model.parameters(), LR)
    for index in list(batch_indices(len(dataset.train), BATCH, shuffle=True))[:50]:
        loss = model.loss(dataset.train.scaled(index)).loss.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def run_vaekit(data: str, epochs: int) -> dict:
    clock = WallClock()
    with tempfile.TemporaryDirectory() as tmp:
        run = vaekit.train(
            data,
            out=f"{tmp}/run",
            model="mlp",
            hidden_dims=(400,),
            latent_dim=20,
            epochs=epochs,
            batch_size=BATCH,
            lr=LR,
            seed=SEED,
            val_fraction=0,
            device="cpu",
            progress=False,
            callbacks=[clock],
        )
    wall = clock.seconds
    dataset = open_dataset(data)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for index in batch_indices(len(dataset.train), BATCH, shuffle=True, seed=SEED, epoch=epoch):
            dataset.train.scaled(index)
    data_time = time.perf_counter() - start
    return {"wall": wall, "data": data_time, "test": run.test["loss"]}


def run_bare(data: str, epochs: int) -> dict:
    dataset = open_dataset(data)
    images = dataset.train.images
    model = fresh_model(dataset.shape)
    optimizer = OPTIMIZERS["adam"](model.parameters(), LR)
    generator = torch.Generator().manual_seed(SEED)
    data_time = 0.0
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for begin in range(0, len(images), BATCH):
            t = time.perf_counter()
            x = images[order[begin : begin + BATCH]].float().div_(255)
            data_time += time.perf_counter() - t
            loss = model.loss(x).loss.mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    wall = time.perf_counter() - start
    test = mean_loss(model, dataset.test, BATCH, SEED)["loss"]
    return {"wall": wall, "data": data_time, "test": test}


class PILDataset(torch.utils.data.Dataset):
    """The example's data path: one PIL image per example, converted to a float tensor."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        picture = Image.fromarray(self.images[i], mode="L")
        array = np.asarray(picture, dtype=np.uint8)
        x = torch.from_numpy(array.copy()).float().div(255).unsqueeze(0)
        return x, int(self.labels[i])


def run_reference(data: str, epochs: int, fused: bool = False) -> dict:
    dataset = open_dataset(data)
    loader = torch.utils.data.DataLoader(
        PILDataset(dataset.train.images[:, 0].numpy(), dataset.train.labels.numpy()),
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(SEED),
    )
    model = fresh_model(dataset.shape)
    if fused:
        optimizer = OPTIMIZERS["adam"](model.parameters(), LR)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    data_time = 0.0
    start = time.perf_counter()
    for _ in range(epochs):
        t = time.perf_counter()
        for x, _labels in loader:
            data_time += time.perf_counter() - t
            loss = model.loss(x).loss.mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            t = time.perf_counter()
    wall = time.perf_counter() - start
    test = mean_loss(model, dataset.test, BATCH, SEED)["loss"]
    return {"wall": wall, "data": data_time, "test": test}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, {platform.processor() or platform.platform()}"
    )
    warm_up(args.data)
    runs = {
        "vaekit": run_vaekit,
        "bare": run_bare,
        "reference": run_reference,
        "ref-fused": lambda data, epochs: run_reference(data, epochs, fused=True),
    }
    names = list(runs)
    trials: dict[str, list[dict]] = {name: [] for name in names}
    for round_ in range(args.repeats):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            r = runs[name](args.data, args.epochs)
            trials[name].append(r)
            print(
                f"round {round_ + 1} {name:<10} wall {r['wall']:7.1f} s  data {r['data']:6.1f} s  "
                f"compute {r['wall'] - r['data']:6.1f} s  test -ELBO {r['test']:.2f}",
                flush=True,
            )
    results = {}
    print("median over rounds:")
    for name in names:
        results[name] = {k: float(np.median([t[k] for t in trials[name]])) for k in trials[name][0]}
        r = results[name]
        print(
            f"{name:<10} wall {r['wall']:7.1f} s  data {r['data']:6.1f} s  "
            f"compute {r['wall'] - r['data']:6.1f} s  test -ELBO {r['test']:.2f}"
        )
    v, b, ref = results["vaekit"], results["bare"], results["reference"]
    print(f"vaekit / bare wall: {v['wall'] / b['wall']:.3f}x (target <= 1.1)")
    print(f"reference / vaekit wall: {ref['wall'] / v['wall']:.2f}x (target >= 3)")
    print(
        f"ref-fused / vaekit wall: {results['ref-fused']['wall'] / v['wall']:.2f}x (data path only)"
    )
    gap = abs(v["test"] - ref["test"]) / ref["test"]
    print(f"test loss, vaekit vs reference: {100 * gap:.2f}% apart (target <= 0.5%)")


if __name__ == "__main__":
    main()
