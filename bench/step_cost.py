"""vaekit's training step against the bare one, in one process (issue 28: "per step within 3%
of the bare loop").

The reference configuration of bench/bare_loop.py (MLP 784-400-20, Bernoulli, fused Adam 1e-3,
batch 128) on 60,000 random 28x28 uint8 images (the time of a step does not depend on the
pixel values): vaekit's own step (`vaekit.training.loop._step`: keyed random streams, the
stored uint8 rows scaled each batch, the loss through the model's generic terms, the
gradient-norm check, one synchronization) against bench/bare_loop.py's (float rows sliced
from one tensor, the bare forward, backward and step). Both run in alternating rounds of
--steps steps after a warm-up, so that the machine's drift falls on both; the ratio of the
medians is printed.

    .venv/bin/python -m bench.step_cost [--steps 100] [--rounds 30] [--threads 2] [--precision bf16]

It prints the ratio of the medians and the median of the rounds' ratios (each round's vaekit
time over the bare time right after it: the steadier figure on a machine whose speed drifts
within seconds). With --precision bf16 both run under bfloat16 autocast, as bench/bare_loop.py
and `vaekit train --precision bf16` do.

(from the repository's root, so that `bench` imports). To compare two versions of vaekit,
run it with PYTHONPATH at each one's src/ in turn.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench.bare_loop import VAE as Bare  # its model and loss, the reference
from bench.bare_loop import flush

from vaekit.data.batches import ImageSet
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.training.distributed import SINGLE
from vaekit.training.loop import TrainConfig, _step, _Steps, make_state
from vaekit.training.scoring import labels_for

N, BATCH = 60_000, 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    stored = torch.randint(0, 256, (N, 1, 28, 28), dtype=torch.uint8)
    order = torch.randperm(N)

    config = TrainConfig(batch_size=BATCH, seed=1, precision=args.precision)
    bf16 = args.precision == "bf16"
    model = build_vae(
        ModelConfig.create(
            (1, 28, 28), family="mlp", hidden_dims=(400,), latent_dim=20, likelihood="bernoulli"
        )
    )
    train = ImageSet(stored, None, 255.0)
    state = make_state(model, config)
    steps = _Steps.make(config, model, SINGLE)
    labels = labels_for(model, train)

    def vaekit_steps(n: int) -> None:
        for i in range(n):
            index = order[(i * BATCH) % (N - BATCH) :][:BATCH]
            _step(state, model, train, labels, index, config, 1e-3, steps)

    bare = Bare()
    optimizer = torch.optim.Adam(bare.parameters(), lr=1e-3, fused=True)
    rows = stored.view(N, 784).float().div(255)

    done = 0

    def bare_steps(n: int) -> None:
        nonlocal done
        for i in range(n):
            x = rows[order[(i * BATCH) % (N - BATCH) :][:BATCH]]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = bare(x, torch.randn(len(x), 20)) / len(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done % 64 == 0:  # as vaekit's loop does on a CPU (and bare_loop.py can)
                flush(optimizer)

    vaekit_steps(50)
    bare_steps(50)
    times: dict[str, list[float]] = {"vaekit": [], "bare": []}
    for _ in range(args.rounds):
        for name, run in (("vaekit", vaekit_steps), ("bare", bare_steps)):
            begun = time.perf_counter()
            run(args.steps)
            times[name].append((time.perf_counter() - begun) / args.steps * 1e3)
    for name, values in times.items():
        spread = f"{min(values):.2f}-{max(values):.2f}"
        print(f"{name}: median {statistics.median(values):.3f} ms a step ({spread})")
    ratio = statistics.median(times["vaekit"]) / statistics.median(times["bare"])
    paired = statistics.median(v / b for v, b in zip(times["vaekit"], times["bare"], strict=True))
    print(f"ratio of the medians {ratio:.3f}; median of the rounds' ratios {paired:.3f}")


if __name__ == "__main__":
    main()
