"""The NAB scorer on cases worked out by hand, and NAB's file layouts on small files the tests
write themselves (never the real corpus).

Shared set-up unless a test says otherwise: a series of n = 100 rows, so its probation is
floor(0.15 * 100) = 15 rows (0..14); one window, rows 40..49 (width 10); the standard profile
(tp 1, fp 0.11, fn 1). The scaled sigmoid is A(x) = 2 sigmoid(-5x) - 1 = -tanh(2.5x), so a
full reward is A(-1) = tanh(2.5) = 0.986614.
"""

import json
import math

import numpy as np
import pytest
from bench.nab import results, scorer
from bench.nab.score import main

STANDARD = scorer.Profile("standard", tp=1.0, fp=0.11, fn=1.0)
LOW_FN = scorer.Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0)
N = 100
WINDOW = (40, 49)


def detections(*rows: int, n: int = N) -> np.ndarray:
    """Scores of 1 on the given rows, 0 elsewhere: at threshold 1 exactly those rows detect."""
    scores = np.zeros(n)
    scores[list(rows)] = 1.0
    return scores


def score(*rows: int, windows=(WINDOW,), profile=STANDARD) -> scorer.SeriesScore:
    return scorer.score_series(detections(*rows), list(windows), 1.0, profile)


def test_probation_is_15_percent_capped_at_750_rows():
    # floor(0.15 * 100) = 15; floor(0.15 * 22695) = 3404 > floor(0.15 * 5000) = 750.
    assert scorer.probation_length(100) == 15
    assert scorer.probation_length(22695) == 750


def test_detection_at_the_start_of_a_window_earns_the_full_reward():
    # Row 40: p = -(49 - 40 + 1) / 10 = -1, reward 1 * A(-1) / A(-1) = 1.
    # tn: rows 15..99 outside the window not detected = 85 - 10 = 75.
    assert score(40) == scorer.SeriesScore(score=pytest.approx(1.0), tp=1, fp=0, fn=0, tn=75)


def test_detection_at_the_end_of_a_window_earns_little():
    # Row 49: p = -(49 - 49 + 1) / 10 = -0.1, A(-0.1) = tanh(0.25) = 0.244919;
    # reward 0.244919 / 0.986614 = 0.248242.
    assert score(49).score == pytest.approx(0.248242, abs=1e-6)


def test_late_false_positive_costs_by_its_distance_after_the_window():
    # Window missed: -1. Row 50: d = (50 - 49) / (10 - 1) = 1/9, A(1/9) = -tanh(2.5 / 9)
    # = -0.270847, cost 0.11 * -0.270847 = -0.029793. Total -1.029793.
    late = score(50)
    assert late.score == pytest.approx(-1.029793, abs=1e-6)
    assert (late.tp, late.fp, late.fn) == (0, 1, 1)
    # Row 99: d = 50 / 9 = 5.6 > 3, A = -1, cost the full -0.11: total -1.11.
    assert score(99).score == pytest.approx(-1.11)


def test_false_positive_before_any_window_costs_the_full_fp_weight():
    # Row 20: no window precedes it, cost -0.11; window missed -1. Total -1.11.
    assert score(20).score == pytest.approx(-1.11)


def test_missed_window_costs_the_profiles_fn_weight():
    # No detection: standard fn 1 -> -1; reward_low_FN_rate fn 2 -> -2.
    assert score() == scorer.SeriesScore(score=-1.0, tp=0, fp=0, fn=1, tn=75)
    assert score(profile=LOW_FN).score == -2.0


def test_only_the_first_detection_in_a_window_counts():
    # Rows 40 and 45: 40 earns 1 (see above); 45 (p = -0.5, tanh(1.25) / tanh(2.5) = 0.859793)
    # adds nothing, nor is it a false positive. Total 1, not 1.859793.
    assert score(40, 45) == scorer.SeriesScore(score=pytest.approx(1.0), tp=1, fp=0, fn=0, tn=75)
    # The same for 45 then 49: 45 alone counts, 0.859793.
    assert score(45, 49).score == pytest.approx(0.859793, abs=1e-6)


def test_detection_in_the_probationary_period_does_not_count():
    # Row 10 < 15: neither a false positive (-0.11) nor anything else; the window is missed: -1.
    assert score(10) == scorer.SeriesScore(score=-1.0, tp=0, fp=0, fn=1, tn=75)
    # A window starting in probation (rows 5..9) is neither rewarded nor missed: only the
    # window at 40 counts, detected at its start: 1, tp 1, fn 0.
    both = score(40, windows=[(5, 9), WINDOW])
    assert (both.score, both.tp, both.fn) == (pytest.approx(1.0), 1, 0)


def test_a_window_across_the_end_of_probation_counts_by_its_later_rows():
    # Window 10..20 (width 11), probation rows 0..14. Row 17: p = -(20 - 17 + 1) / 11 = -4/11,
    # A(p) = tanh(2.5 * 4/11) = tanh(0.909091) = 0.720696, / A(-1) = 0.986614: 0.730474.
    hit = score(17, windows=[(10, 20)])
    assert (hit.score, hit.tp, hit.fn) == (pytest.approx(0.730474, abs=1e-6), 1, 0)
    # Row 12 is in probation: not counted, so the window is missed: -1.
    missed = score(12, windows=[(10, 20)])
    assert (missed.score, missed.tp, missed.fn) == (-1.0, 0, 1)


def test_two_windows_false_positive_measured_from_the_nearest_preceding_one():
    # Windows 40..49 and 70..74 (width 5), both missed: -2. Row 76: after the second window,
    # d = (76 - 74) / (5 - 1) = 0.5, A(0.5) = -tanh(1.25) = -0.848284, cost -0.093311.
    # Total -2.093311.
    assert score(76, windows=[WINDOW, (70, 74)]).score == pytest.approx(-2.093311, abs=1e-6)


def corpus_of(scores_a: np.ndarray, scores_b: np.ndarray) -> dict[str, scorer.Series]:
    """Two series of 100 rows: "g1/a.csv" with the window 40..49, "g2/b.csv" with 60..69."""
    return {"g1/a.csv": (scores_a, [WINDOW]), "g2/b.csv": (scores_b, [(60, 69)])}


def test_null_detector_normalizes_to_0_and_perfect_to_100():
    # Null (all 0.5): detecting at 0.5 catches each window at its start (+2), but the 70 false
    # positives before the windows (rows 15..39 of g1/a.csv, 15..59 of g2/b.csv) alone cost
    # 70 * 0.11 = 7.7 > 2 - (-2), so the best threshold is none at all: raw -2 = null -> 0.
    null = scorer.score_corpus(corpus_of(np.full(N, 0.5), np.full(N, 0.5)), STANDARD)
    assert null.normalized == pytest.approx(0.0)
    assert null.threshold == math.inf
    # Perfect (1 at each window's first row): threshold 1, raw 1 + 1 = 2 = perfect -> 100.
    perfect = scorer.score_corpus(corpus_of(detections(40), detections(60)), STANDARD)
    assert perfect.normalized == pytest.approx(100.0)
    assert perfect.threshold == 1.0
    # One of two windows at its start, the other missed: raw 1 - 1 = 0, (0 + 2) / 4 -> 50.
    half = scorer.score_corpus(corpus_of(detections(40), np.zeros(N)), STANDARD)
    assert half.normalized == pytest.approx(50.0)


def threshold_case() -> np.ndarray:
    """Row 20 scores 0.9 (a false positive before the window), row 45 0.6 (in the window),
    row 80 0.3 (a false positive 3.4 widths after it), every other row 0."""
    scores = np.zeros(N)
    scores[[20, 45, 80]] = [0.9, 0.6, 0.3]
    return scores


def test_threshold_optimization_picks_the_best_of_a_few_thresholds():
    # t = 0.9: row 20 only: -0.11 - 1 (window missed) = -1.11.
    # t = 0.6: rows 20, 45: -0.11 + 0.859793 (p = -0.5, as above) = 0.749793.
    # t = 0.3: rows 20, 45, 80: 0.749793 - 0.11 (d = 31 / 9 > 3) = 0.639793.
    series = [(threshold_case(), [WINDOW])]
    threshold, total = scorer.optimize_threshold(series, STANDARD, candidates=[0.3, 0.9, 0.6])
    assert threshold == 0.6
    assert total == pytest.approx(0.749793, abs=1e-6)
    # Swept over every distinct score the best is the same.
    assert scorer.optimize_threshold(series, STANDARD) == (0.6, pytest.approx(0.749793, abs=1e-6))


def test_sweep_agrees_with_scoring_each_threshold():
    """The one-sort sweep gives, at every threshold, what scoring the series there gives."""
    rng = np.random.default_rng(0)
    series = [
        (rng.random(200).round(2), [(50, 69), (120, 139)]),
        (rng.random(300).round(2), [(10, 19), (200, 229)]),  # the first window in probation
        (rng.random(150).round(2), []),
    ]
    for profile in (STANDARD, LOW_FN):
        thresholds, totals = scorer.score_curve(series, profile)
        assert list(thresholds) == sorted(set(thresholds), reverse=True)
        for t, total in zip(thresholds, totals, strict=True):
            direct = sum(scorer.score_series(s, w, t, profile).score for s, w in series)
            assert total == pytest.approx(direct, abs=1e-9)


@pytest.mark.parametrize("windows", [[(40, 100)], [(40, 49), (45, 60)], [(50, 49)]])
def test_bad_windows_are_refused(windows):
    with pytest.raises(ValueError):
        scorer.score_series(np.zeros(N), windows, 0.5, STANDARD)


def test_a_nan_score_in_a_window_is_never_a_detection():
    """NaN scores in a window were sorted into the sweep as if they were detections: on this
    corpus the threshold came out NaN and the score 0 instead of 0.5 and 50."""
    # g1/a.csv scores NaN on every row: its window is missed (-1). g2/b.csv scores NaN but
    # for row 60 = 0.5, its window's first row: detected at threshold 0.5 (+1), with no false
    # positive. Raw 0 against null -2 and perfect 2: 100 * 2 / 4 = 50.
    only = np.full(N, np.nan)
    only[60] = 0.5
    scored = scorer.score_corpus(corpus_of(np.full(N, np.nan), only), STANDARD)
    assert scored.threshold == 0.5
    assert scored.normalized == pytest.approx(50.0)


def test_a_nan_score_outside_windows_is_never_a_false_positive():
    """NaN scores outside the windows were counted in the sweep as false positives, below
    every real threshold: the curve held NaN thresholds with totals no threshold gives."""
    # Every row NaN but row 40 = 0.5 (the window's first row). No detections: -1; at 0.5 the
    # window is detected at its start: +1. Nothing else changes the score.
    scores = np.full(N, np.nan)
    scores[40] = 0.5
    thresholds, totals = scorer.score_curve([(scores, [WINDOW])], STANDARD)
    assert thresholds.tolist() == [math.inf, 0.5]
    assert totals.tolist() == [pytest.approx(-1.0), pytest.approx(1.0)]


def test_threshold_ties_go_to_the_highest_threshold():
    """Thresholds scoring the same total: the highest is the one chosen (as in NAB's sweep
    from the top); the lowest of them would flag rows that earn nothing."""
    # Row 40 = 0.9 (the window's first row, +1), row 45 = 0.5 (in the same window: adds
    # nothing after row 40). t = 0.9 and t = 0.5 both total 1; t = 0 flags the 25 rows
    # before the window (-2.75) and more. Every other row scores 0.
    scores = np.zeros(N)
    scores[[40, 45]] = [0.9, 0.5]
    series = [(scores, [WINDOW])]
    assert scorer.optimize_threshold(series, STANDARD) == (0.9, pytest.approx(1.0))
    chosen = scorer.optimize_threshold(series, STANDARD, candidates=[0.5, 0.9])
    assert chosen == (0.9, pytest.approx(1.0))


def test_windows_sharing_a_row_are_refused():
    """Windows 40..49 and 49..60 share row 49: they are not disjoint, but were accepted."""
    with pytest.raises(ValueError, match="overlaps"):
        scorer.check_windows(N, [(40, 49), (49, 60)])
    scorer.check_windows(N, [(40, 49), (50, 60)])  # adjacent, not sharing: fine


# --- Files: the corpus layout read, NAB's results layout written ---------------------------

STAMPS = [f"2014-01-01 {h:02d}:{m:02d}:00" for h in range(9) for m in range(0, 60, 5)][:N]


def write_corpus(root, names=("g1/a.csv", "g2/b.csv")):
    """A corpus in NAB's layout: series of 100 five-minute rows, one window each (rows 40..49
    of g1/a.csv, 60..69 of g2/b.csv, given as NAB gives them, with microseconds), and the
    three profiles."""
    spans = {"g1/a.csv": (40, 49), "g2/b.csv": (60, 69)}
    windows = {}
    for name in names:
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        lines = ["timestamp,value", *(f"{t},{i}" for i, t in enumerate(STAMPS))]
        (root / "data" / name).write_text("\n".join(lines) + "\n")
        start, end = spans[name]
        windows[name] = [[STAMPS[start] + ".000000", STAMPS[end] + ".000000"]]
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    (root / "config").mkdir()
    weights = {"standard": (0.11, 1.0), "reward_low_FP_rate": (0.22, 1.0)}
    weights["reward_low_FN_rate"] = (0.11, 2.0)
    profiles = {
        name: {"CostMatrix": {"tpWeight": 1.0, "fpWeight": fp, "fnWeight": fn, "tnWeight": 1.0}}
        for name, (fp, fn) in weights.items()
    }
    (root / "config" / "profiles.json").write_text(json.dumps(profiles))
    return root


def write_detector(corpus, out, detector, rows):
    """Write `detector`'s results on every series: score 1 on rows[name], else 0."""
    for name, windows in results.read_windows(corpus).items():
        timestamps, values = results.read_series(corpus, name)
        labels = results.window_labels(len(values), results.window_indices(timestamps, windows))
        scores = detections(*rows[name], n=len(values))
        results.write_result(out, detector, name, timestamps, values, scores, labels)


def test_corpus_files_read(tmp_path):
    corpus = write_corpus(tmp_path / "nab")
    assert results.read_profiles(corpus)["reward_low_FN_rate"] == LOW_FN
    timestamps, values = results.read_series(corpus, "g1/a.csv")
    windows = results.read_windows(corpus)["g1/a.csv"]
    assert results.window_indices(timestamps, windows) == [WINDOW]
    assert values[41] == 41.0


def test_results_written_in_nabs_layout_and_read_back(tmp_path):
    corpus = write_corpus(tmp_path / "nab")
    write_detector(corpus, tmp_path / "results", "vaekit", {"g1/a.csv": [40], "g2/b.csv": [75]})
    path = tmp_path / "results" / "vaekit" / "g1" / "vaekit_a.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,label"
    assert lines[41] == "2014-01-01 03:20:00,40.0,1.0,1"  # row 40: the window's first
    assert lines[40].endswith(",0.0,0")
    assert sum(line.endswith(",1") for line in lines) == 10
    series = results.read_detector(tmp_path / "results", "vaekit", corpus)
    assert series["g2/b.csv"][1] == [(60, 69)]
    np.testing.assert_array_equal(series["g1/a.csv"][0], detections(40))


def test_command_prints_profiles_and_groups(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "nab")
    out = tmp_path / "results"
    write_detector(corpus, out, "perfect", {"g1/a.csv": [40], "g2/b.csv": [60]})
    # Half: g1's window at its start (1), g2's missed (-fn): standard (1 - 1 + 2) / 4 -> 50;
    # reward_low_FN_rate (1 - 2 + 4) / 6 -> 50; per group g1 100, g2 0.
    write_detector(corpus, out, "half", {"g1/a.csv": [40], "g2/b.csv": []})
    report = tmp_path / "scores.json"
    assert main([str(out), "--corpus", str(corpus), "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "perfect: 2 series" in printed and "half: 2 series" in printed
    half, perfect = json.loads(report.read_text())
    assert [p["score"] for p in perfect["profiles"].values()] == [pytest.approx(100.0)] * 3
    assert half["profiles"]["reward_low_FN_rate"]["score"] == pytest.approx(50.0)
    assert half["groups"]["g1"]["standard"]["score"] == pytest.approx(100.0)
    assert half["groups"]["g2"]["standard"]["score"] == pytest.approx(0.0)
    # One detector's folder works as RESULTS_DIR too.
    assert main([str(out / "half"), "--corpus", str(corpus)]) == 0
    assert capsys.readouterr().out.startswith("half: 2 series")


def test_command_refuses_a_partial_result_unless_told(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "nab")
    write_detector(corpus, tmp_path / "results", "d", {"g1/a.csv": [40], "g2/b.csv": [60]})
    (tmp_path / "results" / "d" / "g2" / "d_b.csv").unlink()
    assert main([str(tmp_path / "results"), "--corpus", str(corpus)]) == 2
    assert "1 result files missing" in capsys.readouterr().err
    assert main([str(tmp_path / "results"), "--corpus", str(corpus), "--partial"]) == 0
    assert "d: 1 series" in capsys.readouterr().out


def test_command_counts_thresholds_and_group_raw_scores(tmp_path, capsys):
    """The JSON's counts, threshold and per-group raw scores, and the printed TP/FP/FN columns,
    on two detectors whose tp, fp and fn all differ (none of them was checked before)."""
    corpus = write_corpus(tmp_path / "nab")
    out = tmp_path / "results"
    # "late": g1's window at its start (row 40, +1) and rows 50, 51, 52 just after it, late
    # false positives at d = 1/9, 2/9, 3/9: 0.11 * (tanh(2.5/9) + tanh(5/9) + tanh(7.5/9))
    # = 0.11 * (0.270847 + 0.504672 + 0.682262) = 0.160356; g2's window missed (-1).
    # Standard: threshold 1, tp 1, fp 3, fn 1, raw -0.160356, (2 - 0.160356) / 4 -> 45.9911;
    # group raws g1 1 - 0.160356 = 0.839644, g2 -1.
    write_detector(corpus, out, "late", {"g1/a.csv": [40, 50, 51, 52], "g2/b.csv": []})
    # "silent": no detections at threshold 1 (scores 0 everywhere; detecting every row would
    # cost far more): no threshold, tp 0, fp 0, fn 2, score 0.
    write_detector(corpus, out, "silent", {"g1/a.csv": [], "g2/b.csv": []})
    report = tmp_path / "scores.json"
    assert main([str(out), "--corpus", str(corpus), "--json", str(report)]) == 0
    late, silent = json.loads(report.read_text())
    standard = late["profiles"]["standard"]
    assert (standard["tp"], standard["fp"], standard["fn"]) == (1, 3, 1)
    assert standard["threshold"] == 1.0
    assert standard["score"] == pytest.approx(45.9911, abs=1e-4)
    assert late["groups"]["g1"]["standard"]["raw"] == pytest.approx(0.839644, abs=1e-6)
    assert late["groups"]["g2"]["standard"]["raw"] == pytest.approx(-1.0)
    quiet = silent["profiles"]["standard"]
    assert (quiet["tp"], quiet["fp"], quiet["fn"]) == (0, 0, 2)
    assert quiet["threshold"] is None and quiet["score"] == pytest.approx(0.0)
    # The printed table: columns TP, FP, FN in that order, "late"'s row under them.
    printed = capsys.readouterr().out.splitlines()
    header = next(line for line in printed if line.strip().startswith("profile"))
    assert header.split()[-3:] == ["TP", "FP", "FN"]
    row = next(line for line in printed if line.strip().startswith("standard"))
    assert row.split()[1:] == ["45.99", "1", "1", "3", "1"]
