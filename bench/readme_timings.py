"""Every timing the README states outside the training benchmarks, measured as its sentence
states it, so that each README speed sentence has a BENCHMARKS.md row behind it (issue 25).

README, Autoregressive decoder, "What it costs" (28 x 28, `bernoulli`, `--model conv` at the
default widths, N = 3, K = 3, W = 32, one thread), without and with the PixelCNN:
  ar.step.*         a training step of 64 images: vaekit's own loop (vaekit.training.loop.fit,
                    fused Adam, fp32), the wall time between consecutive steps
  ar.sample1.*      one image alone       what `vaekit sample` runs
  ar.sample64.*     64 images at once     (vaekit.apps.generate.sample: z from the prior, then
  ar.sample256.*    256 images at once    the mean, or for the PixelCNN a draw pixel by pixel)
  ar.colour16.with  16 color 32 x 32 images at once, `logistic-mixture-coupled`, 5 components
  ar.busy.*         one 28 x 28 image with 2 threads and with 1 thread while one other process
                    keeps a core busy ("one 28 x 28 image took 31 s with 2 threads while other
                    jobs ran")
README, Audio, "Back to sound" (8 kHz, 1 s clips, FFT 512, hop 128, 64 mel bins, one thread):
  audio.to_clips    64 clips at once (the commands' batch): AudioFeatures.to_clips, i.e. the
                    non-negative least squares (100 updates) and 64 Griffin-Lim iterations
  audio.to_clips.busy  the same while one other process keeps a core busy ("0.15 s on a
                    loaded machine")
README, report: "vaekit train writes the report at the end of training ... (about a second
on a small run)":
  report.small_run  write_report(run, model=..., test=...) as vaekit.train calls it, for a
                    1-epoch default run (conv, Z = 20) on 2,000 synthetic 28 x 28 images

Each figure: the whole operation timed with time.perf_counter after untimed warm-up calls,
the median of the repeats (fewer where a figure's time cap is reached: the count is recorded).
The models are untrained (the cost does not depend on the weights); the data is synthetic.
Results: bench/results/readme-timings.json (each figure's operation, sizes, threads, load,
repeats, times, median; torch's version). 80 s on 2 quiet CPU cores (2026-12-06).

    .venv/bin/python bench/readme_timings.py [--only PREFIX,...] [--quick] [--out PATH]

--quick runs each figure once, without warm-up, at a minimal size (a smoke test; its numbers
mean nothing), and writes to a temporary file unless --out is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import vaekit
from vaekit.api.report import write_report
from vaekit.api.run import reopen_dataset
from vaekit.apps.generate import sample
from vaekit.data.batches import ImageSet
from vaekit.kinds.audio.data_mel import DEFAULTS as AUDIO_DEFAULTS
from vaekit.kinds.audio.data_mel import fit_features
from vaekit.models.factory import ModelConfig, build_vae
from vaekit.training.loop import Callback, TrainConfig, fit

RESULTS = Path(__file__).parent / "results" / "readme-timings.json"
SEED = 0
# The README table's model: --model conv at the default widths, N = 3, K = 3, W = 32.
AR = {"family": "conv", "autoregressive": 3, "ar_kernel": 3, "ar_width": 32}


@dataclass
class Figure:
    """One README number: how to measure it and what it is."""

    key: str
    readme: str  # the README's words it backs
    operation: str
    run: Callable[[Size], list[float]]  # the repeats' wall times (s)
    sizes: Callable[[Size], dict[str, Any]]
    per: str  # the unit the README states it in: "step", "image", "clip", "report"
    count: Callable[[Size], int] = lambda size: 1  # units per timed operation
    threads: int = 1
    busy: bool = False  # one other process keeps a core busy meanwhile
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Size:
    """Full (the README's sizes) or quick (a smoke test: minimal sizes, one repeat)."""

    quick: bool

    def side(self, full: int) -> int:
        return 8 if self.quick else full

    def n(self, full: int) -> int:
        return min(full, 2) if self.quick else full

    def reps(self, warmup: int, repeats: int) -> tuple[int, int]:
        return (0, 1) if self.quick else (warmup, repeats)


@contextmanager
def threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to n within the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def busy_process(active: bool) -> Iterator[None]:
    """Within the block (where `active`), one other process spinning on a core: "a loaded
    machine", made the same on every run rather than left to whatever else runs."""
    if not active:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # started and scheduled
        yield
    finally:
        spinner.kill()
        spinner.wait()


def timed(op: Callable[[], Any], warmup: int, repeats: int, cap_s: float) -> list[float]:
    """Wall times of `repeats` calls of op after `warmup` untimed ones; fewer (at least one)
    where another repeat would take the figure past cap_s seconds."""
    for _ in range(warmup):
        op()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats:
        begun = time.perf_counter()
        op()
        times.append(time.perf_counter() - begun)
        if time.perf_counter() - start + times[-1] > cap_s:
            break
    return times


def synthetic_images(n: int, channels: int, side: int, seed: int = SEED) -> np.ndarray:
    """n smooth random uint8 images (n, C, side, side): noise on a coarse grid, upsampled."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, max(2, side // 4), max(2, side // 4), generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(side, side), mode="bilinear")
    return (smooth * 255).round().to(torch.uint8).numpy()


def model(shape: tuple[int, int, int], likelihood: str, pixelcnn: bool) -> torch.nn.Module:
    """The README table's model (untrained, seeded), with or without the PixelCNN."""
    torch.manual_seed(SEED)
    options = AR if pixelcnn else {"family": "conv"}
    return build_vae(ModelConfig.create(shape=shape, likelihood=likelihood, **options))


# --- the autoregressive decoder's table --------------------------------------------------


class StepClock(Callback):
    """The time at the loop's start and after each of its steps."""

    def on_train_start(self, total_steps: int, state: Any) -> None:
        self.marks = [time.perf_counter()]

    def on_step(self, step: int, epoch: int, loss: torch.Tensor) -> None:
        self.marks.append(time.perf_counter())


def training_steps(pixelcnn: bool, size: Size) -> list[float]:
    """Steps of 64 images in vaekit's loop: the wall time from one step's end to the next's,
    the first `warmup` steps left out."""
    warmup, repeats = size.reps(3 if not pixelcnn else 2, 20 if not pixelcnn else 5)
    side, batch = size.side(28), size.n(64) * (2 if size.quick else 1)
    images = torch.from_numpy(synthetic_images(batch * (warmup + repeats), 1, side))
    vae = model((1, side, side), "bernoulli", pixelcnn)
    clock = StepClock()
    with threads(1):
        fit(
            vae,
            ImageSet(images, None, 255),
            None,
            TrainConfig(epochs=1, batch_size=batch),
            callbacks=[clock],
        )
    return list(np.diff(clock.marks)[warmup:])


def generation(n: int, pixelcnn: bool, size: Size, n_threads: int = 1, **how: Any) -> list[float]:
    """`vaekit sample`'s generation of n images at once (28 x 28 Bernoulli, or as `how`)."""
    channels, side = how.get("channels", 1), size.side(how.get("side", 28))
    vae = model((channels, side, side), how.get("likelihood", "bernoulli"), pixelcnn).eval()
    n = size.n(n)
    fast = not pixelcnn
    warmup, repeats = size.reps(*((5, 30) if fast else how.get("reps", (1, 5))))
    generator = torch.Generator().manual_seed(SEED)
    with threads(n_threads), busy_process(how.get("busy", False)):
        if warmup and pixelcnn and how.get("warm_with_one"):
            # One image warms every pass's kernels (the windows' shapes) at 1/n of the cost.
            sample(vae, 1, generator)
            warmup = 0
        return timed(lambda: sample(vae, n, generator), warmup, repeats, how.get("cap_s", 60.0))


def ar_figures() -> list[Figure]:
    table = "README, Autoregressive decoder, 'What it costs' table (28 x 28, bernoulli)"

    def shape(s: Size) -> dict[str, Any]:
        return {"image": [1, s.side(28), s.side(28)], "batch": s.n(64) * (1 + s.quick)}

    out = []
    for pixelcnn, column in ((False, "without"), (True, "with")):
        out.append(
            Figure(
                f"ar.step.{column}",
                f"{table}: 'a training step of 64 images', column '{column}'",
                "one optimizer step of vaekit's training loop (vaekit.training.loop.fit: loss, "
                "backward, gradient norm, fused Adam; fp32); untrained conv VAE"
                + (", PixelCNN N=3 K=3 W=32" if pixelcnn else ""),
                lambda s, p=pixelcnn: training_steps(p, s),
                shape,
                "step",
            )
        )
        for n, words, reps in (
            (1, "one image alone", (1, 5)),
            (64, "per image, 64 at once", (1, 3)),
            (256, "per image, 256 at once", (1, 3)),
        ):
            out.append(
                Figure(
                    f"ar.sample{n}.{column}",
                    f"{table}: '{words}', column '{column}'",
                    f"vaekit.apps.generate.sample(model, {n}) as `vaekit sample` runs it: z from "
                    "the prior, then "
                    + ("a draw pixel by pixel (784 passes)" if pixelcnn else "the mean"),
                    lambda s, n=n, p=pixelcnn, r=reps: generation(
                        n, p, s, reps=r, warm_with_one=n > 1, cap_s=120.0
                    ),
                    lambda s, n=n: {"image": [1, s.side(28), s.side(28)], "images": s.n(n)},
                    "image",
                    count=lambda s, n=n: s.n(n),
                )
            )
    out.append(
        Figure(
            "ar.colour16.with",
            "README, Autoregressive decoder: 'a 32 x 32 color image (logistic-mixture-coupled, "
            "5 components) about 0.8 s each, 16 at once'",
            "vaekit.apps.generate.sample(model, 16): a draw pixel by pixel (1,024 passes)",
            lambda s: generation(
                16,
                True,
                s,
                channels=3,
                side=32,
                likelihood="logistic-mixture-coupled",
                reps=(1, 3),
                warm_with_one=True,
                cap_s=60.0,
            ),
            lambda s: {"image": [3, s.side(32), s.side(32)], "images": s.n(16), "mixtures": 5},
            "image",
            count=lambda s: s.n(16),
        )
    )
    for n_threads in (2, 1):
        out.append(
            Figure(
                f"ar.busy.{n_threads}thread{'s' if n_threads > 1 else ''}",
                "README, Autoregressive decoder: 'on a busy machine OMP_NUM_THREADS=1 was much "
                "faster (one 28 x 28 image took 31 s with 2 threads while other jobs ran)'",
                "vaekit.apps.generate.sample(model, 1) with the PixelCNN, while one other "
                "process spins on a core",
                lambda s, t=n_threads: generation(
                    1, True, s, n_threads=t, busy=True, reps=(0, 3), cap_s=40.0
                ),
                lambda s: {"image": [1, s.side(28), s.side(28)], "images": 1},
                "image",
                threads=n_threads,
                busy=True,
            )
        )
    return out


# --- audio: back to sound ----------------------------------------------------------------


def synthetic_clips(n: int, rate: int, seconds: float) -> torch.Tensor:
    """n clips (n, L) in [-1, 1): a decaying tone each, at a random pitch, with a little noise."""
    g = torch.Generator().manual_seed(SEED)
    t = torch.arange(round(rate * seconds)) / rate
    pitch = 150 + 1500 * torch.rand(n, 1, generator=g)
    tone = 0.5 * torch.sin(2 * torch.pi * pitch * t) * torch.exp(-3 * t)
    return (tone + 0.01 * torch.randn(n, len(t), generator=g)).clamp(-1, 0.999)


def to_clips(n: int, busy: bool, size: Size) -> list[float]:
    """AudioFeatures.to_clips on n log-mel spectrograms at once, as the audio commands call it
    (64 at a time): dB -> mel power -> linear power -> Griffin-Lim, 64 iterations."""
    n = size.n(n)
    clips = synthetic_clips(n, 8000, AUDIO_DEFAULTS["clip_seconds"])
    features, db = fit_features(clips, torch.arange(n), 8000, dict(AUDIO_DEFAULTS), None)
    x = features.standardize(db)
    generator = torch.Generator().manual_seed(SEED)
    warmup, repeats = size.reps(1, 3)
    with threads(1), busy_process(busy):
        return timed(lambda: features.to_clips(x, generator=generator), warmup, repeats, 40.0)


def audio_figures() -> list[Figure]:
    def sizes(s: Size) -> dict[str, Any]:
        return {"clips": s.n(64), "sample_rate": 8000, **AUDIO_DEFAULTS, "griffin_lim_iters": 64}

    operation = (
        "AudioFeatures.to_clips on 64 log-mel spectrograms at once (the audio commands' batch): "
        "mel to linear power (100 multiplicative updates), 64 Griffin-Lim iterations"
    )
    return [
        Figure(
            "audio.to_clips",
            "README, Audio, Back to sound: 'about 0.04 s per 1 s clip at 8 kHz on one CPU "
            "core, in batches'",
            operation,
            lambda s: to_clips(64, False, s),
            sizes,
            "clip",
            count=lambda s: s.n(64),
        ),
        Figure(
            "audio.to_clips.busy",
            "README, Audio, Back to sound: '(0.15 s on a loaded machine)'",
            operation + ", while one other process spins on a core",
            lambda s: to_clips(64, True, s),
            sizes,
            "clip",
            count=lambda s: s.n(64),
            busy=True,
        ),
    ]


# --- the report --------------------------------------------------------------------------


def report_time(size: Size) -> list[float]:
    """write_report as vaekit.train calls it at the end of training (the model and the test
    split in hand), for a small run: 1 epoch of the default model on synthetic images."""
    n, side = (100, 8) if size.quick else (2000, 28)
    images = synthetic_images(n, 1, side)[:, 0]
    warmup, repeats = size.reps(1, 3)
    with tempfile.TemporaryDirectory() as tmp:
        run = vaekit.train(
            images, out=Path(tmp) / "run", epochs=1, report=False, progress=False, seed=SEED
        )
        test = reopen_dataset(run.config, images).test
        return timed(
            lambda: write_report(run.path, model=run.model, test=test), warmup, repeats, 60.0
        )


def report_figures() -> list[Figure]:
    return [
        Figure(
            "report.small_run",
            "README, report: 'vaekit train writes the report at the end of training unless "
            "--no-report (about a second on a small run)'",
            "vaekit.api.report.write_report(run, model=..., test=...) as vaekit.train calls it; "
            "the run: 1 epoch of the default model (conv 32,64, Z=20, bernoulli)",
            report_time,
            lambda s: {
                "images": 100 if s.quick else 2000,
                "image": [1, s.side(28), s.side(28)],
                "test_images": 10 if s.quick else 200,
            },
            "report",
            threads=torch.get_num_threads(),
        )
    ]


# --- main ----------------------------------------------------------------------------------


def measure(figure: Figure, size: Size) -> dict[str, Any]:
    times = figure.run(size)
    median = statistics.median(times)
    count = figure.count(size)
    return {
        "key": figure.key,
        "readme": figure.readme,
        "operation": figure.operation,
        "sizes": figure.sizes(size),
        "threads": figure.threads,
        "load": "one other process spinning on a core" if figure.busy else "none added",
        "repeats": len(times),
        "times_s": [round(t, 6) for t in times],
        "median_s": round(median, 6),
        f"per_{figure.per}_median_ms": round(1000 * median / count, 4),
        f"{figure.per}s_per_operation": count,
    }


def line(record: dict[str, Any], per: str) -> str:
    ms = record[f"per_{per}_median_ms"]
    value = f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.3g} ms"
    return (
        f"{record['key']:<22} {value:>10} per {per}  (median of {record['repeats']}, "
        f"{record['threads']} thread{'s' if record['threads'] > 1 else ''}, "
        f"load: {record['load']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="once each, minimal sizes")
    parser.add_argument("--only", help="comma-separated key prefixes (e.g. ar.sample,audio)")
    parser.add_argument("--out", type=Path, help=f"results JSON (default {RESULTS})")
    args = parser.parse_args()
    size = Size(args.quick)
    out = args.out or (
        Path(tempfile.gettempdir()) / "readme-timings-quick.json" if args.quick else RESULTS
    )
    figures = [*ar_figures(), *audio_figures(), *report_figures()]
    if args.only:
        prefixes = tuple(args.only.split(","))
        figures = [f for f in figures if f.key.startswith(prefixes)]
    start = time.perf_counter()
    records = []
    for figure in figures:
        record = measure(figure, size)
        records.append(record)
        print(line(record, figure.per), flush=True)
    result = {
        "command": " ".join([".venv/bin/python", "bench/readme_timings.py", *sys.argv[1:]]),
        "quick": args.quick,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "timer": "time.perf_counter around the whole operation; median of the repeats",
        "total_wall_s": round(time.perf_counter() - start, 1),
        "figures": records,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['total_wall_s']} s in all; wrote {out}")


if __name__ == "__main__":
    main()
