"""How close vaekit comes to this machine's own arithmetic limit.

1. The machine's rates: 2048 x 2048 matrix products in float32 and bfloat16 on all of torch's
   threads, the median of --repeats timings after warm-up.
2. Training: the FLOPs of one training step of the reference model (MLP 784-400-20, Bernoulli,
   batch 128) counted by torch's FlopCounterMode (the matrix products of the forward and
   backward passes), times the steps of a run, plus the final test pass. Then a whole
   `vaekit train` process (start to exit: imports, data, training, the test pass, checkpoints,
   pictures, report) is timed and the fraction of the float32 rate it achieves is printed;
   the same with --precision bf16 (its fraction of the float32 and of the bfloat16 rate). For
   the gap, the step's matrix products alone are timed in a loop (the same shapes, forward and
   backward): the share of a step that is matrix products at all.
3. Evaluation: the importance-sampled NLL (K = --k, on --images images) of the reference MLP,
   the conv model (channels 32,64, latent 20) and a VampPrior MLP (512-512, Z = 32,
   200 pseudo-inputs): the FLOPs of the workload (counted the same way on one batch), its floor
   (FLOPs / the float32 rate), the time taken and the ratio. The models are freshly
   initialized: the work per image does not depend on the weights.

    .venv/bin/python bench/hardware_limit.py [--epochs 10] [--images 1000] [--k 1000]

Results: bench/results/hardware-limit.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vaekit.models.factory import ModelConfig, build_vae
from vaekit.models.importance import importance_terms

ROOT = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, "-m", "vaekit", "train", "--data", "fashion-mnist", "--model", "mlp"]
TRAIN += ["--hidden-dims", "400", "--latent-dim", "20", "--batch-size", "128"]
TRAIN += ["--val-fraction", "0", "--seed", "1", "--quiet"]
TRAIN_EXAMPLES, TEST_EXAMPLES, BATCH = 60_000, 10_000, 128
SHAPE = (1, 28, 28)


def matmul_rate(dtype: torch.dtype, repeats: int, n: int = 2048) -> float:
    """FLOP/s of an n x n product: the median of `repeats` after three warm-up products."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def reference_model():
    return build_vae(ModelConfig.create(SHAPE, family="mlp", hidden_dims=(400,), latent_dim=20))


def step_flops(batch: int) -> int:
    """Forward and backward matrix-product FLOPs of one training step on `batch` examples."""
    model = reference_model()
    x = torch.rand(batch, *SHAPE).round()
    return flops(lambda: model.loss(x).objective.mean().backward())


def test_flops(batch: int) -> int:
    model = reference_model()
    x = torch.rand(batch, *SHAPE).round()
    with torch.no_grad():
        return flops(lambda: model.loss(x))


def matmul_share(repeats: int = 200) -> tuple[float, float]:
    """(seconds of the step's matrix products alone, seconds of a whole optimizer step), each
    per step: the same shapes as the reference step, timed in loops."""
    g = torch.Generator().manual_seed(0)
    shapes = [(784, 400), (400, 40), (20, 400), (400, 784)]  # (in, out) of each linear layer
    xs = [torch.randn(BATCH, i, generator=g) for i, _ in shapes]
    ws = [torch.randn(i, o, generator=g) for i, o in shapes]
    gs = [torch.randn(BATCH, o, generator=g) for _, o in shapes]

    def products():
        for x, w, grad in zip(xs, ws, gs, strict=True):
            x @ w  # forward
            grad @ w.T  # gradient with respect to the input
            x.T @ grad  # gradient with respect to the weight

    model = reference_model()
    opt = torch.optim.Adam(model.parameters(), 1e-3, fused=True)
    x = torch.rand(BATCH, *SHAPE, generator=g).round()

    def step():
        opt.zero_grad(set_to_none=True)
        model.loss(x, g).objective.mean().backward()
        opt.step()

    out = []
    for fn in (products, step):
        for _ in range(20):
            fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        out.append((time.perf_counter() - start) / repeats)
    return out[0], out[1]


def whole_run(extra: list[str], epochs: int, workdir: Path) -> float:
    out = workdir / ("run" + "-".join(extra).replace(" ", ""))
    command = [*TRAIN, "--epochs", str(epochs), *extra, "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"vaekit train failed:\n{done.stderr[-2000:]}")
    return seconds


def eval_models() -> dict[str, ModelConfig]:
    return {
        "MLP 784-400-20": ModelConfig.create(
            SHAPE, family="mlp", hidden_dims=(400,), latent_dim=20
        ),
        "conv 32,64, Z=20": ModelConfig.create(
            shape=SHAPE, family="conv", channels=(32, 64), latent_dim=20
        ),
        "VampPrior MLP 512-512, Z=32, 200 pseudo-inputs": ModelConfig.create(
            shape=SHAPE,
            family="mlp",
            hidden_dims=(512, 512),
            latent_dim=32,
            prior="vamp",
            prior_components=200,
        ),
    }


def eval_workload(config: ModelConfig, images: int, k: int, rate: float) -> dict:
    torch.manual_seed(0)
    model = build_vae(config).eval()
    x = torch.rand(images, *SHAPE).round()
    index = torch.arange(images)
    batch = 128  # vaekit eval's default batch
    counted = flops(lambda: importance_terms(model, x[:batch], index[:batch], 64))
    total = counted * (k / 64) * (images / batch)
    start = time.perf_counter()
    for i in range(0, images, batch):
        importance_terms(model, x[i : i + batch], index[i : i + batch], k)
    seconds = time.perf_counter() - start
    floor = total / rate
    return {
        "images": images,
        "k": k,
        "tflop": total / 1e12,
        "floor_s": floor,
        "seconds": seconds,
        "ratio": seconds / floor,
        "per_10000_images_s": seconds * 10_000 / images,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--images", type=int, default=1000, help="images per eval workload")
    parser.add_argument("--k", type=int, default=1000, help="importance samples")
    parser.add_argument("--repeats", type=int, default=15, help="timings per matmul rate")
    parser.add_argument("--skip-train", action="store_true", help="only rates and evaluation")
    args = parser.parse_args()

    results: dict = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["bench/hardware_limit.py", *sys.argv[1:]]),
    }
    fp32 = matmul_rate(torch.float32, args.repeats)
    bf16 = matmul_rate(torch.bfloat16, args.repeats)
    results["gflops_fp32"], results["gflops_bf16"] = fp32 / 1e9, bf16 / 1e9
    print(f"2048x2048 products: fp32 {fp32 / 1e9:.0f} GFLOP/s, bf16 {bf16 / 1e9:.0f} GFLOP/s")

    if not args.skip_train:
        steps_full, last = divmod(TRAIN_EXAMPLES, BATCH)
        per_epoch = steps_full * step_flops(BATCH) + (step_flops(last) if last else 0)
        test = (TEST_EXAMPLES // BATCH) * test_flops(BATCH) + test_flops(TEST_EXAMPLES % BATCH)
        total = args.epochs * per_epoch + test
        products, step = matmul_share()
        step_rate = step_flops(BATCH) / step
        print(
            f"training: {total / 1e12:.2f} TFLOP in matrix products ({args.epochs} epochs and "
            f"the test pass); one step {step * 1e3:.2f} ms = {step_rate / 1e9:.0f} GFLOP/s "
            f"({step_rate / fp32:.0%} of fp32), its products alone {products * 1e3:.2f} ms "
            f"({products / step:.0%} of the step)"
        )
        results["train"] = {
            "tflop": total / 1e12,
            "step_ms": step * 1e3,
            "step_products_ms": products * 1e3,
            "step_fraction_fp32": step_rate / fp32,
        }
        with tempfile.TemporaryDirectory() as tmp:
            for name, extra in (("fp32", []), ("bf16", ["--precision", "bf16"])):
                seconds = whole_run(extra, args.epochs, Path(tmp))
                achieved = total / seconds
                line = {
                    "seconds": seconds,
                    "gflops": achieved / 1e9,
                    "fraction_fp32": achieved / fp32,
                }
                text = f"whole `vaekit train` {name}: {seconds:.1f} s, {achieved / 1e9:.0f} "
                text += f"GFLOP/s = {achieved / fp32:.0%} of the fp32 rate"
                if name == "bf16":
                    line["fraction_bf16"] = achieved / bf16
                    text += f", {achieved / bf16:.0%} of the bf16 rate"
                print(text)
                results["train"][name] = line

    results["eval"] = {}
    for name, config in eval_models().items():
        r = eval_workload(config, args.images, args.k, fp32)
        results["eval"][name] = r
        print(
            f"eval {name}: K={r['k']} on {r['images']} images: {r['tflop']:.2f} TFLOP, floor "
            f"{r['floor_s']:.1f} s, took {r['seconds']:.1f} s = {r['ratio']:.2f}x the floor "
            f"({r['per_10000_images_s']:.0f} s per 10,000 images)"
        )
    out = ROOT / "bench" / "results" / "hardware-limit.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
