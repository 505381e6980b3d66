"""The importance-weighted bound of an autoregressive decoder: the plain path (every draw of z
decoded in full, x's masked convolution computed once per draw, 1,024 rows per pass) against
the shared one (x's part computed once per image, the PixelCNN run in cache-sized passes).

One model, one set of images, both paths timed in alternating rounds (plain, shared, plain,
...), the evaluation call only (`evaluate_vae` without the reconstruction, whose greedy decode
is the same for both): best and median seconds per path, the speedup of the medians, and the
two NLLs, which must agree to 0.01 nats. The model is freshly initialized (the time does not
depend on the weights): an MLP decoder (400 hidden, Z=20) and a PixelCNN of 2 gated layers,
width 32, kernel 3, Bernoulli; on Fashion-MNIST's first test images binarized once where
/usr/share/datasets/fashion-mnist has them, else random binary images of the same size.

With --generation, instead: decoding --samples images pixel by pixel (each pixel's mean fed
back) with PixelCNNs of 2 and 4 gated layers, by window passes (the network over each pixel's
window, as before) and keeping each layer's values (PixelSteps), in alternating rounds.

    .venv/bin/python bench/ar_eval_speed.py [--images 200] [--k 100] [--rounds 3] [--threads 2]
    .venv/bin/python bench/ar_eval_speed.py --generation [--samples 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from vaekit.data.batches import ImageSet, binarize_once
from vaekit.evaluation import evaluate
from vaekit.evaluation.evaluate import EvalConfig, evaluate_vae
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.importance import importance_terms

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def images(count: int) -> tuple[ImageSet, str]:
    """The first `count` Fashion-MNIST test images binarized once (seed 0), or random binary
    images where the files are missing; and where they came from."""
    if FASHION.exists():
        with gzip.open(FASHION) as f:
            raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28)
        data = ImageSet(torch.from_numpy(raw[:count].copy()), None, 255.0)
        return binarize_once(data, 0), f"Fashion-MNIST test[:{count}], binarized"
    g = torch.Generator().manual_seed(0)
    pixels = (torch.rand(count, 1, 28, 28, generator=g) > 0.5).to(torch.uint8)
    return ImageSet(pixels, None, 1.0), f"{count} random binary 28 x 28 images"


def timed(model, data: ImageSet, config: EvalConfig, shared: bool) -> tuple[float, float]:
    """Seconds of one `evaluate_vae` call by one path, and its NLL."""
    # The switch is importance_terms' own; evaluate_vae calls it through the module's name.
    chosen = functools.partial(importance_terms, share_image=shared)
    evaluate.importance_terms = chosen
    try:
        start = time.perf_counter()
        report, _ = evaluate_vae(model, data, config)
        return time.perf_counter() - start, report["iwae"]["nll"]
    finally:
        evaluate.importance_terms = importance_terms


def generation(samples: int, rounds: int) -> None:
    """Seconds to draw `samples` images, 2 and 4 gated layers, window passes and kept layers."""
    z = torch.randn(samples, 20, generator=torch.Generator().manual_seed(0))
    decoders = {}
    for layers in (2, 4):
        torch.manual_seed(0)
        config = ModelConfig.create(
            (1, 28, 28), "mlp", likelihood="bernoulli", autoregressive=layers
        )
        decoders[layers] = build_vae(config).eval().decode(z)
    seconds: dict[tuple[int, bool], list[float]] = {}
    for r in range(rounds):
        for layers, px in decoders.items():
            for windowed in (True, False):
                start = time.perf_counter()
                px._generate(lambda pixel: (pixel.mean, pixel.mean), None, windowed)
                took = time.perf_counter() - start
                seconds.setdefault((layers, windowed), []).append(took)
                how = "window passes" if windowed else "kept layers  "
                print(f"round {r + 1}, {layers} layers, {how}: {took:6.2f} s", flush=True)
    for (layers, windowed), times in seconds.items():
        how = "window passes" if windowed else "kept layers"
        print(f"{layers} layers, {how}: median {statistics.median(times):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--generation", action="store_true")
    parser.add_argument("--samples", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.generation:
        generation(args.samples, args.rounds)
        return
    torch.manual_seed(0)
    shape = (1, 28, 28)
    config = ModelConfig.create(shape, "mlp", likelihood="bernoulli", autoregressive=2)
    model = build_vae(config).eval()
    data, source = images(args.images)
    eval_config = EvalConfig(iw_samples=args.k, seed=0, reconstruction=False)
    print(f"{source}; K={args.k}; {args.threads} threads; mlp 400-20 + PixelCNN 2 x 32, k=3")
    # One small call per path first: oneDNN compiles a kernel per new shape on first use.
    small = EvalConfig(iw_samples=min(args.k, 64), seed=0, reconstruction=False)
    for shared in (False, True):
        timed(model, ImageSet(data.storage[:8], None, data.max_value), small, shared)
    seconds: dict[bool, list[float]] = {False: [], True: []}
    nll: dict[bool, float] = {}
    for r in range(args.rounds):
        for shared in (False, True):
            took, nll[shared] = timed(model, data, eval_config, shared)
            seconds[shared].append(took)
            print(f"round {r + 1} {'shared' if shared else 'plain '}: {took:6.2f} s", flush=True)
    for shared in (False, True):
        times = seconds[shared]
        print(
            f"{'shared' if shared else 'plain '}: best {min(times):.2f} s, median "
            f"{statistics.median(times):.2f} s, NLL {nll[shared]:.4f} nats"
        )
    speedup = statistics.median(seconds[False]) / statistics.median(seconds[True])
    print(f"speedup (medians): {speedup:.2f}x; NLL difference {abs(nll[True] - nll[False]):.5f}")


if __name__ == "__main__":
    main()
