"""`make soak`: kill training with SIGKILL at many random moments and count the kills it
survived. A kill is survived when, right after it, the run directory loads (config.json,
model.safetensors, checkpoint) -- or, killed before a new run's first epoch, there is none
and an older run being replaced is there byte for byte -- and when `vaekit train --resume`
(or the same command again) then ends with the numbers of a run that was never killed. The
moments are those of tests/cli/kills.py: steps, timers, validation, checkpoint and weights
writes, cut metrics lines, and the exchange of an old run for a new one (--overwrite); a
resumed run is killed again half of the time.

usage: python scripts/soak.py [--kills 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.cli.kills


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="kills to land (default: 50)")
    parser.add_argument("--seed", type=int, default=0, help="seeds every kill point (0)")
    args = parser.parse_args()

    from tests.cli.kills import OLD_SEED, OPTIONS, draw, run_case, shape_of
    from tests.conftest import write_npz

    import vaekit

    rng = random.Random(args.seed)
    landed, failed, kinds = 0, [], Counter()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vaekit-soak-") as tmp:
        root = Path(tmp)
        data = write_npz(root / "d.npz", n=120, size=6)
        options = {k: tuple(v) if isinstance(v, list) else v for k, v in OPTIONS.items()}
        reference = vaekit.train(data, out=root / "reference", progress=False, **options).path
        old = vaekit.train(data, out=root / "old", progress=False,
                           **{**options, "seed": OLD_SEED}).path  # fmt: skip
        shape = shape_of(reference)
        cases = 0
        while landed < args.kills:
            case = draw(rng, shape, overwrite=rng.random() < 0.3)
            cases += 1
            flag = " --overwrite" if case.overwrite else ""
            try:
                kills = run_case(case, data, root / "run", reference, old, rng)
            except Exception as err:  # a kill that was not survived: keep going, report it
                kills = []
                failed.append(f"{case}: {type(err).__name__}: {str(err)[:300]}")
                landed += 1
            landed += len(kills)
            kinds.update(kind + flag for kind in kills)
            print(f"case {cases}: {case.kind} at {case.n:.3g}{flag}: killed in {kills}", flush=True)
    seconds = time.perf_counter() - start
    print(f"\n{landed - len(failed)} of {landed} kills survived ({cases} cases, {seconds:.0f} s)")
    for kind, count in sorted(kinds.items()):
        print(f"  {kind:<40} {count}")
    for line in failed:
        print(f"FAILED {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
