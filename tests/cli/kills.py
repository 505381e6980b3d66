"""SIGKILL a training process at a chosen moment, check what it left, and continue it: the
harness of tests/cli/test_kills.py (a few kills) and scripts/soak.py (many).

A case names where the kill lands: a training step, a timer from the start of training,
a validation batch, a checkpoint write (between its temporary file and the rename, or between
the tensors and the JSON), a weights write, a metrics line cut in half, or, when the run
replaces an older one (--overwrite), the moments around the exchange of the two folders.
After every kill the run directory must be readable (config.json, model.safetensors and the
checkpoint load) -- or, before the first epoch of a new run, absent -- and an older run being
replaced must be there byte for byte until the new one has a finished epoch. Continued with
`vaekit train --resume` (or run again), the run must end with the numbers of a run that was
never killed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import random
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

OPTIONS = {"model": "mlp", "hidden_dims": [8], "latent_dim": 2, "batch_size": 16, "epochs": 3,
           "binarize": True, "seed": 3}  # fmt: skip
OLD_SEED = 9  # the run that --overwrite replaces
KINDS = ("step", "timer", "eval", "checkpoint-tensors", "checkpoint-json", "weights", "metrics")
SWAP_KINDS = ("before-exchange", "after-exchange", "removing-old", "between-renames")

CHILD = r"""
import json, os, signal, sys, threading
case = json.loads(sys.argv[1])
import vaekit
from vaekit.api import rundir, train as api_train
from vaekit.models import io
from vaekit.training import checkpoint, scoring
from vaekit.training.loop import Callback

kind, n = case["kind"], case["n"]
calls = {"count": 0}

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def on_nth(module, name, before=None, after=None):
    real = getattr(module, name)
    def wrapper(*args, **kwargs):
        calls["count"] += 1
        hit = calls["count"] == n
        if hit and before:
            before(*args)
        result = real(*args, **kwargs)
        if hit:
            die()
        return result
    setattr(module, name, wrapper)

def half_line(path, record):
    text = json.dumps(record)
    with open(path, "a") as f:
        f.write(text[: len(text) // 2])
    die()

class Kill(Callback):
    def on_train_start(self, total_steps, state):
        if kind == "timer":
            threading.Timer(n, die).start()
    def on_step(self, step, epoch, loss):
        if kind == "step" and step == n:
            die()

if kind == "eval":
    on_nth(scoring, "importance_terms", before=lambda *a: die())
elif kind == "checkpoint-tensors":
    on_nth(checkpoint, "save_file")  # the temporary file is written, not renamed
elif kind == "checkpoint-json":
    on_nth(checkpoint, "write_json", before=lambda *a: die())
elif kind == "weights":
    on_nth(io, "save_file")
elif kind == "metrics":
    on_nth(api_train, "append_jsonl", before=half_line)
elif kind == "before-exchange":
    on_nth(rundir, "exchange", before=lambda *a: die())
elif kind == "after-exchange":
    on_nth(rundir, "exchange")
elif kind == "removing-old":
    on_nth(rundir, "remove_run_files",
           before=lambda folder: ((folder / "config.json").unlink(), die()))
elif kind == "between-renames":  # a filesystem that cannot exchange two folders
    rundir.exchange = lambda a, b: False
    real_rename = os.rename
    def rename(src, dst):
        real_rename(src, dst)
        if str(src) == case["out"]:
            die()
    os.rename = rename

if case["resume"]:
    vaekit.resume(case["out"], progress=False, callbacks=[Kill()])
else:
    vaekit.train(case["data"], out=case["out"], overwrite=case["overwrite"], progress=False,
                 callbacks=[Kill()], **case["options"])
"""


@dataclass
class Case:
    kind: str
    n: float  # the step, the call (1-based) or the seconds at which the kill lands
    resume: bool = False
    overwrite: bool = False


@dataclass
class Shape:
    """How much a run has of each moment, to draw kill points within it."""

    steps: int
    eval_calls: int
    epochs: int
    seconds: float


def shape_of(run: Path) -> Shape:
    lines = metrics(run)
    config = json.loads((run / "config.json").read_text())
    batch, data = config["training"]["batch_size"], config["data"]
    steps = math.ceil(data["num_train"] / batch) * OPTIONS["epochs"]
    evals = math.ceil(data["num_val"] / batch) * OPTIONS["epochs"] + 1  # and the test split
    seconds = sum(line.get("time_s", 0) for line in lines)
    return Shape(steps, evals, OPTIONS["epochs"], max(seconds, 0.05))


def point(rng: random.Random, shape: Shape, kind: str) -> float:
    """Where a kill of `kind` lands, drawn over the whole run."""
    draws = {
        "step": lambda: rng.randint(1, shape.steps),
        "timer": lambda: rng.uniform(0, 1.5 * shape.seconds),
        "eval": lambda: rng.randint(1, shape.eval_calls),
        "checkpoint-tensors": lambda: rng.randint(1, shape.epochs),
        "checkpoint-json": lambda: rng.randint(1, shape.epochs),
        "weights": lambda: rng.randint(1, shape.epochs + 1),
        "metrics": lambda: rng.randint(1, shape.epochs + 1),
    }
    return draws[kind]() if kind in draws else 1  # the swap happens once


def draw(rng: random.Random, shape: Shape, overwrite: bool = False) -> Case:
    kind = rng.choice(KINDS + (SWAP_KINDS if overwrite else ()))
    return Case(kind, point(rng, shape, kind), overwrite=overwrite)


def run_child(case: Case, data: Path, out: Path, timeout: float = 300) -> bool:
    """Run the case in a new process; True if it was killed (False: it finished first)."""
    args = {**asdict(case), "data": str(data), "out": str(out), "options": OPTIONS}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)],
                          stderr=subprocess.PIPE, timeout=timeout)  # fmt: skip
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"{case}: exit {proc.returncode}\n{proc.stderr.decode()[-2000:]}")
    return proc.returncode == -signal.SIGKILL


def metrics(run: Path) -> list[dict]:
    lines = []
    for text in (run / "metrics.jsonl").read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue  # the line a kill cut off
    return lines


def finished(run: Path) -> bool:
    return any(line.get("final") for line in metrics(run))


def files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def check_readable(out: Path) -> int | None:
    """Assert that `out` loads as a run (config, weights, checkpoint); returns the seed it
    was trained with, or None where there is no run directory."""
    import torch

    import vaekit
    from vaekit.api.run import train_config_from
    from vaekit.models.factory import build_vae
    from vaekit.models.io import model_config_from, read_config
    from vaekit.training.checkpoint import load_checkpoint
    from vaekit.training.loop import make_state

    if not out.exists():
        return None
    config = read_config(out)
    model = vaekit.load(out)
    assert all(torch.isfinite(p).all() for p in model.vae.parameters()), "non-finite weights"
    state = make_state(build_vae(model_config_from(config)), train_config_from(config))
    load_checkpoint(out, state)
    assert 1 <= state.epoch <= OPTIONS["epochs"]
    return config["training"]["seed"]


def cli(*args: str | Path) -> int:
    """`vaekit ARGS` in this process, quietly; its exit code."""
    from vaekit.cli.main import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main([str(a) for a in args])
        except SystemExit as exit:
            return int(exit.code or 0)
    return 0


def carry_on(out: Path, data: Path, seed: int | None) -> None:
    """Continue after a kill as a user would: --resume the run that is there, or run the
    command again where there is none (or only the older run)."""
    if seed == OPTIONS["seed"]:
        done = finished(out)  # killed after its last line: --resume has nothing to do
        code = cli("train", "--out", out, "--resume", "--quiet")
        assert code == 0 or (done and code == 1), f"--resume exited {code}"
    else:
        flags = ["--model", "mlp", "--hidden-dims", "8", "--latent-dim", "2", "--batch-size",
                 "16", "--epochs", "3", "--binarize", "--seed", "3", "--quiet"]  # fmt: skip
        overwrite = ["--overwrite"] if out.exists() else []
        assert cli("train", "--data", data, "--out", out, *flags, *overwrite) == 0


def same_numbers(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want), (len(got), len(want))
    for a, b in zip(got, want, strict=True):
        for split in ("train", "val", "test"):
            if split in b:
                for term in ("loss", "rec", "kl"):
                    assert math.isclose(a[split][term], b[split][term], rel_tol=1e-6,
                                        abs_tol=1e-6), (split, term, a, b)  # fmt: skip


def run_case(case: Case, data: Path, out: Path, reference: Path, old: Path | None,
             rng: random.Random | None = None) -> list[str]:  # fmt: skip
    """One case: kill (and maybe, with `rng`, kill the resumed run too), check, continue,
    compare with `reference`. `old` is a finished run to copy to `out` for --overwrite.
    Returns the kinds of the kills that landed."""
    if out.exists():
        shutil.rmtree(out)
    old_files = None
    if case.overwrite and old is not None:
        shutil.copytree(old, out)
        old_files = files(out)
    kills = [case.kind] if run_child(case, data, out) else []
    if case.kind == "between-renames":
        # Killed between the two renames: no run at --out for the moment. Both are complete
        # under hidden names, and the next vaekit command with this --out puts the old back.
        assert not out.exists()
        from vaekit.api.rundir import clear_leftovers

        clear_leftovers(out)
        seed = check_readable(out)  # the old run, whole, and not the new one
        assert seed == OLD_SEED and files(out) == old_files, f"{case}: {seed} put back"
    seed = check_readable(out)
    if case.overwrite:
        assert seed is not None, f"{case}: the old run is gone and no new one took its place"
    if seed == OLD_SEED:
        assert files(out) == old_files, f"{case}: the old run changed before it was replaced"
    if rng is not None and seed == OPTIONS["seed"] and not finished(out) and rng.random() < 0.5:
        again = draw(rng, shape_of(reference))
        again.resume = True
        kills += [f"{again.kind} (resuming)"] if run_child(again, data, out) else []
        seed = check_readable(out)
    carry_on(out, data, seed)
    same_numbers(metrics(out), metrics(reference))
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert leftovers == [], leftovers
    return kills
