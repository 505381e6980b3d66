"""The same `vaekit train` command run several times from scratch: do the runs agree to the bit?

vaekit promises that the same command and seed give the same run. Tests check it on tiny
models; this checks it at full size, where an intermittent difference once showed (two runs
of the reference configuration ended at test -ELBO 244.2285 and 244.3102, diverging in the
first epoch). Each run is a whole process into a fresh run directory; the script compares the
weights' SHA-256 and each epoch's training -ELBO, and names the first epoch where a run
departs from the first one.

    .venv/bin/python bench/repeat_run.py [--runs 4] [--epochs 10] [-- extra train options]

The default command is the reference configuration of bench/example_vs_vaekit.py on
Fashion-MNIST (MLP 784-400-20, batch 128, no validation split, --seed 1, --no-report). The
exit status is 1 when any run differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REFERENCE = ["--data", "fashion-mnist", "--model", "mlp", "--hidden-dims", "400"]
REFERENCE += ["--latent-dim", "20", "--batch-size", "128", "--val-fraction", "0", "--seed", "1"]
REFERENCE += ["--no-report", "--quiet"]


def one_run(out: Path, epochs: int, extra: list[str]) -> tuple[str, list[float], float]:
    """(weights' SHA-256, training -ELBO per epoch, test -ELBO) of one fresh whole process."""
    command = [sys.executable, "-m", "vaekit", "train", *REFERENCE, "--epochs", str(epochs)]
    done = subprocess.run([*command, *extra, "--out", str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"vaekit train failed:\n{done.stderr[-2000:]}")
    digest = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs_seen = [r["train"]["loss"] for r in records if "epoch" in r]
    return digest, epochs_seen, records[-1]["test"]["loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("extra", nargs="*", help="more `vaekit train` options (after --)")
    args = parser.parse_args()
    differs = False
    with tempfile.TemporaryDirectory() as tmp:
        first = None
        for i in range(args.runs):
            digest, losses, test = one_run(Path(tmp) / f"run{i}", args.epochs, args.extra)
            note = "same as run 1"
            if first is None:
                first, note = (digest, losses), "the reference"
            elif digest != first[0]:
                differs = True
                pairs = zip(first[1], losses, strict=True)
                apart = [e + 1 for e, (a, b) in enumerate(pairs) if a != b]
                note = f"DIFFERS from run 1, from epoch {apart[0] if apart else '?'}"
            print(f"run {i + 1}: weights {digest[:16]}, test -ELBO {test:.4f}: {note}", flush=True)
    print("the runs differ" if differs else f"all {args.runs} runs agree to the bit")
    sys.exit(1 if differs else 0)


if __name__ == "__main__":
    main()
