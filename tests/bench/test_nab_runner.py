"""The NAB runner's post-processing (bench/nab/run_vaekit.py) on small arrays worked out by
hand: no model is trained (`raw_scores` is replaced by planted raw scores). Every step must be
causal: a row's score looks at that row and the rows before it only."""

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
from bench.nab import run_vaekit


def phi(z: float) -> float:
    """The standard normal CDF."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def test_smoothed_averages_each_score_with_the_k_minus_1_before_it():
    """k = 3: each row the mean of itself and the two rows before it (fewer at the start)."""
    raw = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    # (1) / 1, (1 + 2) / 2, (1 + 2 + 3) / 3, (2 + 3 + 4) / 3, (3 + 4 + 5) / 3, (4 + 5 + 6) / 3.
    assert run_vaekit.smoothed(raw, 3).tolist() == pytest.approx([1.0, 1.5, 2.0, 3.0, 4.0, 5.0])
    assert run_vaekit.smoothed(raw, 1) is raw


def test_recent_scores_each_row_against_the_rows_before_it_only():
    """Row t's z-score is against rows t-history..t-1: including row t itself in its own
    history was not causal."""
    raw = np.array([1.0, 3.0, 1.0, 3.0, 4.0, 0.0])
    scaled = run_vaekit.recent(raw, history=4, first=4)
    # Row 4: history rows 0..3 = 1, 3, 1, 3: mean 2, std 1, z = (4 - 2) / 1 = 2.
    assert scaled[4] == pytest.approx(phi(2.0))
    # Row 5: history rows 1..4 = 3, 1, 3, 4: mean 2.75, std sqrt(1.1875) = 1.089725,
    # z = (0 - 2.75) / 1.089725 = -2.523573.
    assert scaled[5] == pytest.approx(phi(-2.523573), abs=1e-6)


def test_onsets_keep_a_score_above_every_score_of_the_span_before_it():
    """Span 2: a score survives when it exceeds the two scores before it, whatever comes after
    it (looking ahead, at row t itself and later, was not causal and dropped every score)."""
    scores = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.8])
    # Row 0: nothing before it, kept. Row 1: 0.1 < 0.9. Row 2: 0.5 < 0.9 (two rows back).
    # Row 3: 0.3 < 0.5. Row 4: 0.7 > 0.5, 0.3 (0.9 is three rows back): kept although 0.8
    # follows it. Row 5: 0.8 > 0.3, 0.7: kept.
    assert run_vaekit.onsets(scores, 2).tolist() == [0.9, 0.0, 0.0, 0.0, 0.7, 0.8]


def test_each_score_lands_on_the_row_its_window_ends(monkeypatch):
    """The raw score of the window of rows j..j+W-1 belongs to row j+W-1, its last row: the
    scores were shifted W-1 rows early, each anomaly flagged before it happened."""
    # n = 40 rows, window W = 4: 37 windows, raw[j] for the window ending at row j + 3.
    # Probation floor(0.15 * 40) = 6 rows (0..5). Calibration mean 0, std 1: a raw 0 scales to
    # phi(0) = 0.5 and a raw 10 to phi(10) = 1.0 (exactly, in float64).
    raw = np.zeros(37)
    raw[20] = 10.0  # the window of rows 20..23
    found = {"raw": raw, "calibration": np.array([0.0, 1.0]), "window": np.array(4)}
    monkeypatch.setattr(run_vaekit, "raw_scores", lambda path, out, args: [(6, found)])
    args = argparse.Namespace(smooth=1, history=0, span=5, spatial=0.0, rule_only=False)
    scores = run_vaekit.run_series(Path("unused.csv"), Path("unused"), args)
    # Windows 0..2 (ending in probation) score 0; window 3 (rows 3..6) is the first scored,
    # 0.5, an onset over the zeros before it: row 6. The planted window: row 23, 1.0. Every
    # other 0.5 follows an equal or higher score within 5 rows: 0.
    expected = np.zeros(40)
    expected[6], expected[23] = 0.5, 1.0
    assert scores.tolist() == expected.tolist()


def test_calibrated_is_the_gaussian_cdf_of_the_calibration_z_score():
    # Mean 2, std 0.5: 2 -> z 0 -> 0.5; 3 -> z 2 -> 0.977250; 1 -> z -2 -> 0.022750.
    assert run_vaekit.calibrated(np.array([2.0, 3.0, 1.0]), 2.0, 0.5).tolist() == pytest.approx(
        [0.5, 0.977250, 0.022750], abs=1e-6
    )


def test_beyond_range_flags_a_value_outside_the_range_before_it_widened_by_the_tolerance():
    """Tolerance 0.1. Rows 0-1: no range yet (one value, then a range of 0) -> 0. Row 2: the
    range before is [0, 10], widened by 1 to [-1, 11]: 10.5 is inside -> 0. Row 3: [0, 10.5]
    widened by 1.05 to [-1.05, 11.55]: 11.6 is above -> 1. Row 4: [0, 11.6] widened by 1.16:
    -1.2 is below -1.16 -> 1. Row 5: [-1.2, 11.6] widened by 1.28 to [-2.48, 12.88]: 12.6 is
    inside -> 0."""
    values = np.array([0.0, 10.0, 10.5, 11.6, -1.2, 12.6])
    assert run_vaekit.beyond_range(values, 0.1).tolist() == [0, 0, 0, 1, 1, 0]


def test_reuse_scores_saved_runs_again_with_another_score_without_training(tmp_path, monkeypatch):
    """--reuse --score S: a score not saved yet comes from the saved run (no training), is
    saved beside the first (the elbo's file left as it was) and read back the next time."""
    import vaekit

    path = tmp_path / "s.csv"
    wave = np.sin(np.arange(120) / 4.0).tolist()
    path.write_text("timestamp,value\n" + "".join(f"{t},{v!r}\n" for t, v in enumerate(wave)))
    out = tmp_path / "run"
    base = dict(window=4, epochs=1, latent_dim=2, model="mlp", hidden=8, seed=0, difference=False)
    first = argparse.Namespace(**base, score="elbo", reuse=False)
    elbo = run_vaekit.train_and_score(path, out, 60, 120, 1, first)
    saved = (out / "nab_raw.npz").read_bytes()

    def refused(**kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(vaekit, "train", refused)
    again = argparse.Namespace(**base, score="nll", reuse=True)
    nll = run_vaekit.train_and_score(path, out, 60, 120, 1, again)
    assert (out / "nab_raw_nll.npz").exists()
    assert (out / "nab_raw.npz").read_bytes() == saved
    assert nll["raw"].shape == elbo["raw"].shape == (117,)
    assert not np.array_equal(nll["raw"], elbo["raw"])  # another score of the same windows
    (out / "model.safetensors").unlink()  # read back from its file, not scored again
    np.testing.assert_array_equal(run_vaekit.train_and_score(path, out, 60, 120, 1, again)["raw"],
                                  nll["raw"])  # fmt: skip
