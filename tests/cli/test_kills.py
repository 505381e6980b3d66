"""Training killed with SIGKILL at random moments (seeded per case) -- in a step, in
validation, in a checkpoint write, while replacing an older run -- leaves a run directory that
loads, and `--resume` then ends with the numbers of a run never killed. `make soak` runs many
more of these (scripts/soak.py)."""

import random
from pathlib import Path

import pytest

import vaekit
from tests.cli.kills import OLD_SEED, OPTIONS, Case, point, run_case, shape_of
from tests.conftest import write_npz


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The data, a run never killed, and an older run (another seed) to replace."""
    root = tmp_path_factory.mktemp("kills")
    data = write_npz(root / "d.npz", n=120, size=6)
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in OPTIONS.items()}
    reference = vaekit.train(data, out=root / "reference", progress=False, **options).path
    old = vaekit.train(data, out=root / "old", progress=False, **{**options, "seed": OLD_SEED})
    return data, reference, old.path


@pytest.mark.parametrize(
    ("kind", "seed", "overwrite"),
    [
        ("step", 1, False),
        ("eval", 2, False),
        ("checkpoint-tensors", 3, False),
        ("after-exchange", 4, True),
    ],
)
def test_a_killed_run_loads_and_resumes_to_the_same_numbers(setup, tmp_path, kind, seed,
                                                           overwrite):  # fmt: skip
    data, reference, old = setup
    case = Case(kind, point(random.Random(seed), shape_of(reference), kind), overwrite=overwrite)
    assert run_case(case, data, tmp_path / "run", reference, old) == [kind]


def test_a_kill_between_the_two_renames_puts_the_old_run_back(setup, tmp_path):
    """Where folders cannot be exchanged in one step, the old run is moved aside first: a
    kill right then leaves no run at --out, and the next command puts the old one back."""
    data, reference, old = setup
    case = Case("between-renames", 1, overwrite=True)
    assert run_case(case, data, tmp_path / "run", reference, old) == ["between-renames"]
