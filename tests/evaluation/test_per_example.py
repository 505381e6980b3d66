"""Per-example numbers (`evaluate(per_example=True)`, `vaekit eval --per-example`) and the
paired comparison of two models on the same examples."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz
from vaekit.data.batches import seeded_subset
from vaekit.evaluation.evaluate import paired_difference


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("paired")
    data = write_npz(root / "d.npz", n=300, size=6)
    common = dict(model="mlp", hidden_dims=(16,), progress=False, report=False)
    a = vaekit.train(data, out=root / "a", latent_dim=2, epochs=1, **common)
    b = vaekit.train(data, out=root / "b", latent_dim=4, epochs=3, **common)
    return a.path, b.path


def test_per_example_numbers_are_the_reports_own(runs):
    report = vaekit.evaluate(runs[0], iw_samples=3, max_examples=20, seed=4, probe=False,
                             per_example=True)  # fmt: skip
    each = report["per_example"]
    split = report["split_size"]
    assert each["index"] == seeded_subset(split, 20, 4).tolist()
    # Gray pixels under a Bernoulli: the bound is an objective, named as the CSV's column.
    assert report["kind"] == "objective" and list(each) == ["index", "neg_elbo", "neg_iwae"]
    assert math.isclose(np.mean(each["neg_iwae"]), report["iwae"]["nll"], rel_tol=1e-6)
    assert math.isclose(np.mean(each["neg_elbo"]), report["elbo"]["loss"], rel_tol=1e-6)
    assert np.isfinite(each["neg_elbo"]).all() and len(set(each["neg_iwae"])) == 20
    plain = vaekit.evaluate(runs[0], iw_samples=3, max_examples=20, seed=4, probe=False)
    assert "per_example" not in plain and plain["iwae"]["nll"] == report["iwae"]["nll"]


def test_paired_difference_is_the_mean_and_standard_error_of_the_differences():
    rng = np.random.default_rng(0)
    hardness = rng.normal(200, 30, size=500)  # shared by both models: cancels in a - b
    a = hardness + rng.normal(0, 1, size=500)
    b = hardness - 2 + rng.normal(0, 1, size=500)
    mean, se = paired_difference(a.tolist(), b.tolist())
    d = a - b
    assert mean == pytest.approx(d.mean()) and se == pytest.approx(d.std(ddof=1) / 500**0.5)
    unpaired = math.hypot(a.std(ddof=1), b.std(ddof=1)) / 500**0.5
    assert se < unpaired / 10 and abs(mean - 2) < 4 * se
    with pytest.raises(ValueError, match="same examples"):
        paired_difference([1.0, 2.0], [1.0])


def test_eval_writes_a_csv_that_pairs_up_across_runs(runs, tmp_path: Path, capsys):
    files = []
    for run in runs:
        out = tmp_path / f"{run.name}.csv"
        assert cli("eval", run, "--iw-samples", "2", "--max-examples", "30", "--no-probe",
                   "--seed", "1", "--per-example", out, "--quiet") == 0  # fmt: skip
        with out.open() as f:
            rows = list(csv.DictReader(f))
        eval_json = (run / "eval.json").read_text()
        # gray pixels under a Bernoulli: the bound is an objective, not -log p(x), and the
        # column says so as the table does
        assert json.loads(eval_json)["kind"] == "objective"
        assert len(rows) == 30 and list(rows[0]) == ["index", "neg_elbo", "neg_iwae"]
        files.append(rows)
        assert "per_example" not in eval_json
        bound = [float(r["neg_iwae"]) for r in rows]
        assert np.mean(bound) == pytest.approx(json.loads(eval_json)["iwae"]["nll"], rel=1e-6)
    assert [r["index"] for r in files[0]] == [r["index"] for r in files[1]]
    mean, se = paired_difference(
        [float(r["neg_iwae"]) for r in files[0]], [float(r["neg_iwae"]) for r in files[1]]
    )
    assert math.isfinite(mean) and se > 0
    assert "wrote" in capsys.readouterr().out
    assert cli("eval", runs[0], "--per-example", tmp_path / "x.txt") == 1
    assert "expected a .csv file name" in capsys.readouterr().err


def test_paired_values_come_from_torch_tensors_too():
    mean, se = paired_difference(torch.tensor([3.0, 5.0]), torch.tensor([1.0, 2.0]))
    assert mean == 2.5 and se == pytest.approx(0.5)


def test_the_probe_is_skipped_with_its_reason_where_it_has_one_class(runs, tmp_path):
    """Data of one class (one digit, say): every other number is still given, and the probe
    says why it is missing (scikit-learn's classifier refuses one class: it ended eval)."""
    with np.load(write_npz(tmp_path / "all.npz", n=200, size=6)) as f:
        images, labels = f["images"], f["labels"]
    one = labels == 1
    np.savez(tmp_path / "one.npz", images=images[one], labels=labels[one])
    report = vaekit.evaluate(runs[0], data=tmp_path / "one.npz", iw_samples=2)
    assert math.isfinite(report["iwae"]["nll"])
    assert "hold 1 class: a probe needs at least 2" in report["probe"]["skipped"]
    tiny = vaekit.evaluate(runs[0], iw_samples=2, probe_examples=1)
    assert "learns from at least 2 examples" in tiny["probe"]["skipped"]


def test_a_binarized_runs_active_units_are_counted_on_the_bits_eval_scores(tmp_path):
    """Train's closing count (and so the model card's) and eval's are of the same examples:
    binarized once with the run's seed (train counted them on the gray images)."""
    data = write_npz(tmp_path / "d.npz", n=300, size=6)
    run = vaekit.train(data, out=tmp_path / "b", model="hvae", layers=2, latent_dim=6,
                       epochs=3, binarize=True, progress=False, report=False)  # fmt: skip
    report = vaekit.evaluate(run.path, iw_samples=2, probe=False)
    assert report["binarized"] == {"seed": 0}
    assert run.latents["active_units"] == report["latents"]["active_units"]
