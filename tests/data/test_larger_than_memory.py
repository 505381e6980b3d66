"""Training reads a prepared array without loading it: over a 516 MB memory-mapped dataset,
the training process's peak anonymous memory stays under its baseline plus 100 MB.

The baseline is the process's anonymous memory once it is set up for this training: after
the same training on a small prepared array (1,000 images), so that PyTorch, its BLAS and
the allocator have made their own working buffers (about 80 MB here, the same whatever the
data size)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

N, SHAPE = 42_000, (3, 64, 64)  # 42,000 x 12,288 bytes = 516 MB

SCRIPT = r"""
import sys, threading, time
import torch
import vaekit
from vaekit.training.loop import Callback

def rss_anon_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])

peak = 0
done = False
def sample():
    global peak
    while not done:
        peak = max(peak, rss_anon_kb())
        time.sleep(0.005)

# The report (pictures of a fixed number of test images, whatever the data's size) is left
# out: this measures what training itself holds while it streams the data.
options = dict(model="mlp", hidden_dims=(16,), latent_dim=4, epochs=1, batch_size=64,
               progress=False, report=False)
vaekit.train(sys.argv[3], out=sys.argv[2] + "-warm-up", **options)
baseline = rss_anon_kb()
thread = threading.Thread(target=sample, daemon=True)
thread.start()
run = vaekit.train(sys.argv[1], out=sys.argv[2], **options)
done = True
thread.join()
peak = max(peak, rss_anon_kb())
print(baseline, peak, len(run.history))
"""


def _write_prepared(folder: Path, n: int = N) -> None:
    """A prepared dataset in vaekit's layout (images.u8 + header.json), written in chunks."""
    folder.mkdir()
    images = np.memmap(folder / "images.u8", dtype=np.uint8, mode="w+", shape=(n, *SHAPE))
    rng = np.random.default_rng(0)
    for start in range(0, n, 2000):
        stop = min(n, start + 2000)
        images[start:stop] = rng.integers(0, 256, (stop - start, *SHAPE), dtype=np.uint8)
    images.flush()
    del images
    header = {
        "format": 1, "shape": [n, *SHAPE], "labels": False, "classes": [], "split": False,
        "source": "test", "fingerprint": f"{n:064d}", "decode": None, "skipped": [],
    }  # fmt: skip
    (folder / "header.json").write_text(json.dumps(header))


def test_training_on_a_prepared_array_keeps_anonymous_memory_flat(tmp_path: Path):
    folder, small = tmp_path / "big", tmp_path / "small"
    _write_prepared(folder)
    _write_prepared(small, 1000)
    assert (folder / "images.u8").stat().st_size >= 500 * 10**6
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder), str(tmp_path / "run"), str(small)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    baseline_kb, peak_kb, epochs = map(int, result.stdout.split())
    assert epochs == 1
    assert peak_kb - baseline_kb < 100 * 1024, (baseline_kb, peak_kb)
