"""Memory layout and torch.compile for the conv and ResNet families, against plain eager.

For each model: a training step (batch 128, the model's loss with one posterior sample,
backward, fused Adam) and an evaluation decode (1,024 latents decoded and scored, in inference
mode, as the importance-sampled NLL does), in these variants:

    eager, NCHW            the default contiguous layout
    eager, channels-last   vaekit's default for conv and ResNet networks
    compiled, channels-last  torch.compile of the loss (training) and of decode + log_prob
    eager, NCHW, bf16      each with the forward pass (training: the loss; evaluation: the
    eager, channels-last, bf16   decode and log_prob) under bfloat16 autocast, as
                           `--precision bf16` runs a training step (backward and Adam outside)

(--variants picks some, by their names separated by ";"; the default is the first three.)

Each variant builds the same model from the same seed. Rounds rotate the variants' order; the
tables give the median over rounds of each round's mean time per call (after warm-up calls,
which include compilation; the first compilation's time is given separately).

    .venv/bin/python bench/layouts.py [--rounds 5]

Results: bench/results/layouts.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from vaekit.models import networks
from vaekit.models.factory import ModelConfig, build_vae

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "MLP 784-400-20, 28x28x1": ModelConfig.create(
        shape=(1, 28, 28), family="mlp", hidden_dims=(400,), latent_dim=20
    ),
    "conv 32,64, Z=20, 28x28x1": ModelConfig.create(
        shape=(1, 28, 28), family="conv", channels=(32, 64), latent_dim=20
    ),
    "conv 32,64, Z=64, 32x32x3, logistic mixture": ModelConfig.create(
        shape=(3, 32, 32),
        family="conv",
        channels=(32, 64),
        latent_dim=64,
        likelihood="logistic-mixture",
    ),
    "ResNet 32,64 depth 2, Z=64, 32x32x3, logistic mixture": ModelConfig.create(
        shape=(3, 32, 32),
        family="resnet",
        channels=(32, 64),
        latent_dim=64,
        likelihood="logistic-mixture",
    ),
}
VARIANTS = ("eager, NCHW", "eager, channels-last", "compiled, channels-last")
BF16 = ("eager, NCHW, bf16", "eager, channels-last, bf16")


class Contender:
    """One model in one variant: a training step and an evaluation decode, ready to time."""

    def __init__(self, config: ModelConfig, variant: str) -> None:
        layout = torch.contiguous_format if "NCHW" in variant else torch.channels_last
        networks.MEMORY_FORMAT = layout
        torch.manual_seed(0)
        self.layout = layout
        self.model = build_vae(config)
        self.opt = torch.optim.Adam(self.model.parameters(), 1e-3, fused=True)
        g = torch.Generator().manual_seed(1)
        c, h, w = config.shape
        self.x = torch.randint(0, 256, (128, c, h, w), generator=g).float() / 255
        self.eps = torch.randn(128, 1, config.latent_dim, generator=g)
        self.z = torch.randn(1024, config.latent_dim, generator=g)
        self.target = torch.randint(0, 256, (1024, c, h, w), generator=g).float() / 255

        self.autocast = variant.endswith("bf16")

        def loss(x, eps):
            with torch.autocast("cpu", torch.bfloat16, enabled=self.autocast):
                return self.model.loss(x, eps=eps).objective.mean()

        def score(z, target):
            with torch.autocast("cpu", torch.bfloat16, enabled=self.autocast):
                return self.model.decode(z).log_prob(target)

        compiled = variant.startswith("compiled")
        self.loss = torch.compile(loss) if compiled else loss
        self.score = torch.compile(score) if compiled else score
        start = time.perf_counter()
        self.train_step()
        self.eval_decode()
        self.first_call = time.perf_counter() - start

    def train_step(self) -> None:
        networks.MEMORY_FORMAT = self.layout
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.x, self.eps).backward()
        self.opt.step()

    def eval_decode(self) -> None:
        networks.MEMORY_FORMAT = self.layout
        self.model.eval()
        with torch.inference_mode():
            self.score(self.z, self.target)


def mean_time(fn, calls: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10, help="timed calls per round")
    parser.add_argument("--only", default="", help="only the models whose name contains this")
    parser.add_argument("--variants", default=";".join(VARIANTS), help="names, ';' between")
    args = parser.parse_args()
    chosen = [v.strip() for v in args.variants.split(";")]
    unknown = [v for v in chosen if v not in VARIANTS + BF16]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}: choose from {'; '.join(VARIANTS + BF16)}")
    results: dict = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["bench/layouts.py", *sys.argv[1:]]),
        "models": {},
    }
    for name, config in MODELS.items():
        if args.only not in name:
            continue
        variants = [v for v in chosen if not (config.family == "mlp" and "NCHW" in v)]
        contenders = {v: Contender(config, v) for v in variants}
        times: dict[str, dict[str, list[float]]] = {v: {"train": [], "eval": []} for v in variants}
        for r in range(args.rounds):
            order = list(variants[r % len(variants) :]) + list(variants[: r % len(variants)])
            for v in order:
                times[v]["train"].append(mean_time(contenders[v].train_step, args.calls))
                times[v]["eval"].append(mean_time(contenders[v].eval_decode, args.calls))
        rows = {}
        for v in variants:
            rows[v] = {
                "train_step_ms": 1e3 * statistics.median(times[v]["train"]),
                "eval_1024_decodes_ms": 1e3 * statistics.median(times[v]["eval"]),
                "first_calls_s": contenders[v].first_call,
            }
            row = rows[v]
            print(
                f"{name} | {v}: step {row['train_step_ms']:.1f} ms, 1,024 decodes "
                f"{row['eval_1024_decodes_ms']:.1f} ms (first calls {row['first_calls_s']:.1f} s)"
            )
        results["models"][name] = rows
    networks.MEMORY_FORMAT = torch.channels_last
    suffix = "-" + re.sub(r"\W+", "-", args.only).strip("-") if args.only else ""
    suffix += "-bf16" if any(v in BF16 for v in chosen) else ""
    out = ROOT / "bench" / "results" / f"layouts{suffix}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
