"""Disentanglement metrics on representations whose answer is known, the dSprites generator,
and `vaekit eval --factors` end to end."""

import json
from pathlib import Path

import numpy as np
import pytest

import vaekit
from tests.cli.test_cli import vaekit as cli
from tests.conftest import write_npz
from vaekit.data import dsprites
from vaekit.data.datasets import open_dataset
from vaekit.data.registry import dataset_names
from vaekit.evaluation.disentanglement import dci, factor_vae_score, mig, sap

FAST = {"train_votes": 400, "eval_votes": 300}


def _factors(n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, c, n) for c in (3, 6, 10, 8, 8)], 1)


def _representations(v: np.ndarray, seed: int = 1) -> dict[str, np.ndarray]:
    """The true factors (standardized, tiny noise), a random rotation of them, pure noise."""
    rng = np.random.default_rng(seed)
    true = (v - v.mean(0)) / v.std(0) + 0.01 * rng.standard_normal(v.shape)
    rotation = np.linalg.qr(rng.standard_normal((v.shape[1], v.shape[1])))[0]
    return {"true": true, "rotated": true @ rotation, "noise": rng.standard_normal(v.shape)}


@pytest.fixture(scope="module")
def scores() -> dict[str, dict[str, float]]:
    v = _factors()
    out = {}
    for name, z in _representations(v).items():
        d = dci(z, v, n_estimators=20)
        out[name] = {
            "mig": mig(z, v)["mig"],
            "sap": sap(z, v)["sap"],
            "dci_d": d["disentanglement"],
            "dci_c": d["completeness"],
            "dci_i": d["informativeness"],
            "fvae": factor_vae_score(z, v, **FAST)["factor_vae_score"],
        }
    return out


def test_true_factors_score_near_one(scores):
    true = scores["true"]
    assert true["mig"] > 0.95
    assert true["dci_d"] > 0.95 and true["dci_c"] > 0.95 and true["dci_i"] > 0.95
    assert true["fvae"] > 0.98
    # SAP's gap is best accuracy minus the second latent's chance-level balanced accuracy
    # (1/3 for the three-class factor), so it stays under 1 even when perfect.
    assert true["sap"] > 0.75


def test_a_rotation_scores_lower_and_noise_near_zero(scores):
    true, rotated, noise = scores["true"], scores["rotated"], scores["noise"]
    for metric in ("mig", "sap", "dci_d", "dci_c", "fvae"):
        assert rotated[metric] < true[metric] - 0.15, metric
    # A rotation keeps the information, only spreads it over the latents.
    assert rotated["dci_i"] > noise["dci_i"] + 0.2
    assert noise["mig"] < 0.03 and noise["sap"] < 0.05
    assert noise["dci_d"] < 0.1 and noise["dci_c"] < 0.1
    assert noise["fvae"] < 0.35  # chance is 1/5: a latent's majority vote is a random factor


def test_metrics_are_seeded_and_deterministic():
    v = _factors(600)
    z = _representations(v)["rotated"]
    for metric, options in (
        (mig, {}),
        (sap, {}),
        (dci, {"n_estimators": 5}),
        (factor_vae_score, FAST),
    ):
        first = metric(z, v, seed=3, **options)
        assert metric(z, v, seed=3, **options) == first, metric.__name__
    # The seed draws the points (and votes): another seed, other numbers.
    assert factor_vae_score(z, v, seed=4, **FAST) != factor_vae_score(z, v, seed=3, **FAST)
    assert mig(z, v, points=300, seed=4) != mig(z, v, points=300, seed=3)


def test_collapsed_latents_are_pruned_and_constant_factors_left_out():
    v = _factors(500)
    z = np.concatenate([_representations(v)["true"], np.zeros((500, 2))], 1)
    result = factor_vae_score(z, v, **FAST)
    assert result["active_latents"] == 5 and result["factor_vae_score"] > 0.98
    constant = np.concatenate([v, np.zeros((500, 1), dtype=np.int64)], 1)
    gaps = mig(z, constant)
    assert gaps["per_factor"][-1] is None and gaps["mig"] > 0.95
    with pytest.raises(ValueError, match="integer codes"):
        mig(z, v.astype(float))


def test_dsprites_counts_and_order():
    codes = dsprites.factor_codes()
    assert dsprites.FULL_SIZE == 737_280 == len(codes)
    assert codes.shape == (737_280, 5) and len(np.unique(codes, axis=0)) == 737_280
    # The published order: posY varies fastest, shape slowest.
    assert codes[1].tolist() == [0, 0, 0, 0, 1] and codes[32].tolist() == [0, 0, 0, 1, 0]
    assert codes[-1].tolist() == [2, 5, 39, 31, 31]
    values = dsprites.factor_values(codes[[0, -1]])
    assert values[0].tolist() == [1, 0.5, 0, 0, 0]
    assert np.allclose(values[1], [3, 1, 2 * np.pi, 1, 1])


def test_dsprites_subset_generation():
    made = dsprites.generate(position_step=8, orientation_step=8)
    n = 3 * 6 * 5 * 4 * 4
    assert made["imgs"].shape == (n, 64, 64) and made["imgs"].dtype == np.uint8
    assert set(np.unique(made["imgs"])) == {0, 1}
    assert made["latents_classes"].shape == (n, 5) and set(made["latents_classes"][:, 3]) == {
        0,
        8,
        16,
        24,
    }
    # Every image holds its shape whole: a bigger scale covers more pixels.
    area = made["imgs"].sum((1, 2))
    small, big = made["latents_classes"][:, 1] == 0, made["latents_classes"][:, 1] == 5
    assert area[big].mean() > 3 * area[small].mean() and area.min() > 20


def test_dsprites_shapes_at_the_centre_are_symmetric():
    square, ellipse, heart = dsprites.render([0, 1, 2], 1.0, 0.0, 0.5, 0.5)
    # The square |u|, |v| <= 0.12 of 64 pixels: 2 x 8 pixel centres fall inside per axis.
    assert square.sum() == 16 * 16 and square[24:40, 24:40].all()
    for image in (square, ellipse):
        assert (image == image[::-1]).all() and (image == image[:, ::-1]).all()
    assert (square == square.T).all() and not (ellipse == ellipse.T).all()
    # The ellipse lies along x: wider than tall.
    assert ellipse.any(0).sum() == 2 * ellipse.any(1).sum()
    # The heart is mirror-symmetric left-right, not up-down; its point is at the bottom.
    assert (heart == heart[:, ::-1]).all() and not (heart == heart[::-1]).all()
    rows = np.flatnonzero(heart.any(1))
    assert heart[rows[-1]].sum() < heart[rows[0] + 3].sum()
    # A half turn maps the square onto itself (its corners up to the sampling of pixels).
    turned = dsprites.render(0, 1.0, np.pi, 0.5, 0.5)[0]
    assert (turned != square).sum() <= 4


def test_dsprites_positions_move_the_centroid_linearly():
    steps = np.arange(0, 32, 3)
    images = dsprites.render(1, 0.5, 0.0, dsprites.POSITIONS[steps], 0.25)
    columns = (images.sum(1) * np.arange(64)).sum(1) / images.sum((1, 2))
    slope, intercept = np.polyfit(steps, columns, 1)
    assert slope == pytest.approx(0.6 * 64 / 31, rel=0.02)
    assert np.abs(columns - (slope * steps + intercept)).max() < 0.3
    rows = (images.sum(2) * np.arange(64)).sum(1) / images.sum((1, 2))
    assert np.ptp(rows) < 0.15  # posY held: the rows stay (up to the sampling of pixels)


@pytest.fixture
def small_dsprites(monkeypatch):
    """The registered dataset on a coarse grid (1,440 images): the same code, less time."""
    monkeypatch.setattr(dsprites, "POSITION_STEP", 8)
    monkeypatch.setattr(dsprites, "ORIENTATION_STEP", 8)


def test_dsprites_is_registered_generated_once_and_stored(small_dsprites, monkeypatch):
    assert "dsprites" in dataset_names()
    dataset = open_dataset("dsprites", seed=0)
    assert len(dataset.train) + len(dataset.test) == 1440
    assert dataset.info["pixels"] == "binary" and dataset.info["classes"] == list(dsprites.SHAPES)
    stored = dsprites.stored_path()
    assert stored.name == "dsprites-p8-o8.npz" and stored.is_file()
    with np.load(stored) as f:
        assert f["imgs"].shape == (1440, 64, 8)  # bits packed
    generate = dsprites.generate
    stamp = stored.stat().st_mtime_ns

    def generated_again(*args, **kwargs):
        raise AssertionError("dSprites generated again: the stored file was not read")

    monkeypatch.setattr(dsprites, "generate", generated_again)
    again = open_dataset("dsprites", seed=0)  # read from the stored file, not made again
    assert again.info["sha256"] == dataset.info["sha256"]
    assert stored.stat().st_mtime_ns == stamp  # nor written again
    monkeypatch.setattr(dsprites, "generate", generate)
    # The test split's factors follow its rows into the enumerated set.
    codes = dsprites.known_factors(dataset.info, dataset.test.rows, len(dataset.test))
    expected = dsprites.generate(8, 8)
    rows = dataset.test.rows.numpy()
    assert (codes == expected["latents_classes"][rows]).all()
    assert (dataset.test.images.numpy()[:, 0] == expected["imgs"][rows]).all()


def test_eval_factors_end_to_end(small_dsprites, tmp_path: Path, capsys):
    run = tmp_path / "run"
    vaekit.train(
        "dsprites", out=run, model="mlp", hidden_dims=(32,), latent_dim=4, epochs=1,
        batch_size=64, progress=False,
    )  # fmt: skip
    assert cli("eval", run, "--factors", "--iw-samples", "1", "--no-probe", "--quiet") == 0
    printed = capsys.readouterr().out
    assert "MIG" in printed and "FactorVAE score" in printed
    # A score of 0 where no latent is active is named for what it is, not a measurement.
    from vaekit.cli.evaluate import disentanglement_lines

    shown = json.loads((run / "eval.json").read_text())["disentanglement"]
    shown["factor_vae"] = {**shown["factor_vae"], "active_latents": 0, "factor_vae_score": 0.0}
    assert "no active latent to vote" in disentanglement_lines(shown)[-1]
    shown["factor_vae"]["active_latents"] = 2
    assert disentanglement_lines(shown)[-1].endswith("(Kim and Mnih 2018)")
    report = json.loads((run / "eval.json").read_text())["disentanglement"]
    assert report["factors"] == list(dsprites.FACTOR_NAMES) and report["examples"] == 144
    for value in (report["mig"]["mig"], report["sap"]["sap"], report["dci"]["completeness"]):
        assert 0 <= value <= 1
    # The same factors given as a file give the same numbers; a subset takes its rows.
    test = open_dataset("dsprites", seed=0).test
    codes = dsprites.factor_codes(test.rows.numpy())
    np.save(tmp_path / "f.npy", codes)
    given = vaekit.evaluate(run, iw_samples=1, probe=False, factors=tmp_path / "f.npy")
    assert given["disentanglement"]["mig"] == report["mig"]
    part = vaekit.evaluate(run, iw_samples=1, probe=False, factors=True, max_examples=50)
    assert part["disentanglement"]["examples"] == 50
    # the subset's own rows of the codes: those of the other examples changed, nothing moves
    from vaekit.data.batches import seeded_subset

    seed = json.loads((run / "config.json").read_text())["training"]["seed"]
    kept = seeded_subset(len(codes), 50, seed).numpy()
    others = np.setdiff1d(np.arange(len(codes)), kept)
    scrambled = codes.copy()
    scrambled[others] = codes[others][::-1]
    np.save(tmp_path / "s.npy", scrambled)
    same = vaekit.evaluate(run, iw_samples=1, probe=False, factors=tmp_path / "s.npy",
                           max_examples=50)  # fmt: skip
    assert same["disentanglement"] == part["disentanglement"]
    # A file of the wrong length, and data without known factors, are one-line errors.
    np.save(tmp_path / "short.npy", codes[:10])
    assert cli("eval", run, "--factors", tmp_path / "short.npy", "--quiet") == 1
    assert "expected integer factor codes shaped (144, K)" in capsys.readouterr().err
    np.save(tmp_path / "one.npy", codes[:, 0])  # one factor: nothing to disentangle from
    assert cli("eval", run, "--factors", tmp_path / "one.npy", "--quiet") == 1
    assert "got int64 (144,)" in capsys.readouterr().err
    np.save(tmp_path / "k1.npy", codes[:, :1])
    assert cli("eval", run, "--factors", tmp_path / "k1.npy", "--quiet") == 1
    assert "1 factor; disentanglement is measured between factors" in capsys.readouterr().err
    np.savetxt(tmp_path / "f.csv", codes, fmt="%d", delimiter=",")
    assert cli("eval", run, "--factors", tmp_path / "f.csv", "--quiet") == 1
    assert "expected a .npy array of integer codes" in capsys.readouterr().err
    (tmp_path / "text.npy").write_text("1,2\n")
    assert cli("eval", run, "--factors", tmp_path / "text.npy", "--quiet") == 1
    assert "cannot read a .npy array (not a .npy file)" in capsys.readouterr().err
    other = write_npz(tmp_path / "d.npz", n=60, size=64)
    assert cli("eval", run, "--data", other, "--factors", "--quiet") == 1
    err = capsys.readouterr().err.strip()
    assert "has no known generative factors" in err and len(err.splitlines()) == 1
