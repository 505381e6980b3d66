"""NAB's scoring function, written from its description (Lavin and Ahmad, 2015, "Evaluating
Real-time Anomaly Detection Algorithms -- the Numenta Anomaly Benchmark", and NAB's wiki page
"NAB scoring details"). Pure functions over arrays; the files are `results.py`'s business.

A series has n rows (index i) and an anomaly score per row; a row is a detection when its score
is at least the threshold (a NaN score never is). A window is a labelled anomaly: (start, end)
row indices, both inclusive, sorted and disjoint. For one profile (weights tp, fp, fn):

- Probation: the first `probation_length(n)` rows (15% of the series, at most 750 rows) are the
  detector's to learn from; detections there count for nothing, and a window that ends there
  is neither rewarded nor missed. A window that begins in probation and ends after it counts
  by its rows after probation, each rewarded by its position in the whole window.
- A window earns tp * A(p) / A(-1) for its first detection alone, where p = -(end - i + 1) /
  width is the detection's relative position (-1 at the window's first row, -1/width at its
  last) and A is the scaled sigmoid below: the full tp at the start, little at the end.
- A window without a detection costs fn.
- A detection outside every window is a false positive. It costs fp * A(d) with d = (i - end)
  / (width - 1) measured from the preceding window (a detection just after a window is late,
  nearly right, and costs little; from 3 widths on it costs the full fp), and the full fp
  where no window precedes it.

The threshold is the one that maximizes the sum over the whole corpus, per profile (swept over
every distinct score, and "no detections"), and the sum is normalized so that the null
detector (no detections: every window missed) scores 0 and the perfect one (each window
detected at its first row, nothing else) scores 100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Window = tuple[int, int]
Series = tuple[np.ndarray, Sequence[Window]]  # (anomaly scores, shape (n,); windows)

PROBATION_FRACTION = 0.15
# NAB stops the probationary period growing at 15% of 5,000 rows: long series learn for 750
# rows at most (every window of the NAB v1.1 corpus starts after that).
PROBATION_CAP_ROWS = 5000


@dataclass(frozen=True)
class Profile:
    """One scoring profile's weights (NAB's cost matrix; its tnWeight plays no part in the
    score): `tp` scales a window's reward, `fp` a false positive's cost, `fn` a missed
    window's cost."""

    name: str
    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class SeriesScore:
    """One series at one threshold: its raw score (the sum of the window rewards, the missed
    windows' costs and the false positives' costs) and the counts behind it. `tp` + `fn` are
    the windows that count (those after the probation), so the series' null and perfect
    scores follow from them."""

    score: float
    tp: int  # windows detected
    fp: int  # detections outside every window
    fn: int  # windows missed
    tn: int  # rows outside every window, not detected


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """NAB's A(x) = 2 sigmoid(-5 x) - 1 = -tanh(2.5 x), floored to -1 past x = 3: positive
    before a window's end (x < 0), negative after it. Same shape as `position`."""
    x = np.asarray(position, dtype=float)
    return np.where(x >= 3.0, -1.0, -np.tanh(2.5 * x))


def probation_length(n: int) -> int:
    """The rows at the start of an n-row series whose detections do not count."""
    return min(
        math.floor(PROBATION_FRACTION * n), math.floor(PROBATION_FRACTION * PROBATION_CAP_ROWS)
    )


def check_windows(n: int, windows: Sequence[Window]) -> None:
    """Raise ValueError unless the windows are inside [0, n), each start <= end, sorted and
    disjoint: the scoring below relies on each row having at most one window before it."""
    previous_end = -1
    for start, end in windows:
        if not 0 <= start <= end < n:
            raise ValueError(f"window ({start}, {end}) is not inside the series' {n} rows")
        if start <= previous_end:
            raise ValueError(f"window ({start}, {end}) overlaps or precedes the one before it")
        previous_end = end


def point_weights(n: int, windows: Sequence[Window], profile: Profile) -> np.ndarray:
    """What a detection at each row would add to the score (NAB's per-row "sweep score"):
    tp * A(p) / A(-1) inside a window, fp * A(d) after one, -fp before the first. Shape (n,).
    Inside a window the weight falls strictly with i, so the first detection is the best."""
    check_windows(n, windows)
    rows = np.arange(n)
    weights = np.empty(n)
    full_reward = float(scaled_sigmoid(-1.0))
    cursor, previous = 0, None  # previous: (end, width) of the last window passed
    for start, end in [*windows, (n, n)]:  # (n, n): a sentinel closing the last stretch
        outside = rows[cursor:start]
        if previous is None:
            weights[cursor:start] = -profile.fp
        else:
            prev_end, prev_width = previous
            # A previous window one row wide: measured in rows (NAB's code divides by 0).
            distance = (outside - prev_end) / max(prev_width - 1, 1)
            weights[cursor:start] = profile.fp * scaled_sigmoid(distance)
        if start == n:
            break
        width = end - start + 1
        position = -(end - rows[start : end + 1] + 1) / width
        weights[start : end + 1] = profile.tp * scaled_sigmoid(position) / full_reward
        cursor, previous = end + 1, (end, width)
    return weights


def _counted(n: int, windows: Sequence[Window]) -> tuple[np.ndarray, list[Window], np.ndarray]:
    """(rows whose detections count, windows that count, rows outside every window)."""
    probation = probation_length(n)
    counted = np.arange(n) >= probation
    outside = np.ones(n, dtype=bool)
    kept = []
    for start, end in windows:
        outside[start : end + 1] = False
        if end >= probation:  # its rows in probation are not counted (above)
            kept.append((start, end))
    return counted, kept, outside


def score_series(
    scores: np.ndarray, windows: Sequence[Window], threshold: float, profile: Profile
) -> SeriesScore:
    """Score one series (scores, shape (n,)) at one threshold: rows scoring >= threshold are
    detections."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    weights = point_weights(n, windows, profile)
    counted, kept, outside = _counted(n, windows)
    detected = (scores >= threshold) & counted
    false_positive = detected & outside
    total = float(weights[false_positive].sum())
    tp = 0
    for start, end in kept:
        hits = np.flatnonzero(detected[start : end + 1])
        if hits.size:  # the first detection alone counts
            total += float(weights[start + hits[0]])
            tp += 1
        else:
            total -= profile.fn
    return SeriesScore(
        score=total,
        tp=tp,
        fp=int(false_positive.sum()),
        fn=len(kept) - tp,
        tn=int((counted & outside & ~detected).sum()),
    )


def score_curve(series: Iterable[Series], profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """The corpus' summed raw score at every threshold that changes it, in one sort rather than
    one scoring per threshold. Returns (thresholds, totals), both shape (T,), thresholds
    descending from +inf (no detections: every window missed).

    Lowering the threshold past a row's score adds that row's contribution: its weight for a
    false positive; for a row in a window, how much it raises the window's best detection so
    far (the first detection is the best one, see `point_weights`), from -fn."""
    base = 0.0
    row_scores, deltas = [], []
    for scores, windows in series:
        scores = np.asarray(scores, dtype=float)
        n = len(scores)
        weights = point_weights(n, windows, profile)
        counted, kept, outside = _counted(n, windows)
        false_positive = counted & outside & ~np.isnan(scores)
        row_scores.append(scores[false_positive])
        deltas.append(weights[false_positive])
        for start, end in kept:
            base -= profile.fn
            window_scores = scores[start : end + 1]
            window_weights = weights[start : end + 1]
            valid = ~np.isnan(window_scores)
            order = np.argsort(-window_scores[valid], kind="stable")
            best = np.maximum.accumulate(window_weights[valid][order])
            row_scores.append(window_scores[valid][order])
            deltas.append(np.diff(best, prepend=-profile.fn))
    all_scores = np.concatenate([np.empty(0), *row_scores])
    all_deltas = np.concatenate([np.empty(0), *deltas])
    order = np.argsort(-all_scores, kind="stable")
    all_scores = all_scores[order]
    totals = base + np.cumsum(all_deltas[order])
    group_ends = np.append(all_scores[1:] != all_scores[:-1], True)[: len(all_scores)]
    return (
        np.concatenate([[np.inf], all_scores[group_ends]]),
        np.concatenate([[base], totals[group_ends]]),
    )


def optimize_threshold(
    series: Sequence[Series], profile: Profile, candidates: Sequence[float] | None = None
) -> tuple[float, float]:
    """The threshold that maximizes the corpus' summed raw score, and that score. Candidates
    default to every distinct score (and +inf, no detections); ties go to the highest
    threshold, as in NAB's sweep from the top."""
    thresholds, totals = score_curve(series, profile)
    if candidates is None:
        best = int(np.argmax(totals))
        return float(thresholds[best]), float(totals[best])
    wanted = np.sort(np.asarray(candidates, dtype=float))[::-1]
    # The total at t is the curve's at its lowest threshold still >= t.
    at = np.searchsorted(-thresholds, -wanted, side="right") - 1
    best = int(np.argmax(totals[at]))
    return float(wanted[best]), float(totals[at][best])


def null_and_perfect(scored: Iterable[SeriesScore], profile: Profile) -> tuple[float, float]:
    """The raw scores of the null detector (every counted window missed) and the perfect one
    (every counted window detected at its first row, no false positive) on the same series."""
    windows = sum(s.tp + s.fn for s in scored)
    return -profile.fn * windows, profile.tp * windows


def normalized_score(scored: Sequence[SeriesScore], profile: Profile) -> float:
    """100 (raw - null) / (perfect - null) over these series: 0 for the null detector, 100 for
    the perfect one; NaN where they coincide (no window counts, so nothing to normalize by)."""
    null, perfect = null_and_perfect(scored, profile)
    if perfect == null:
        return math.nan
    return 100.0 * (sum(s.score for s in scored) - null) / (perfect - null)


@dataclass(frozen=True)
class CorpusScore:
    """A detector's score on a corpus under one profile: the corpus-wide best threshold, the
    normalized score there, and each series' score at that threshold (by name)."""

    profile: Profile
    threshold: float
    normalized: float
    series: dict[str, SeriesScore]


def score_corpus(series: Mapping[str, Series], profile: Profile) -> CorpusScore:
    """Optimize the threshold over every series together, then score each at it."""
    threshold, _ = optimize_threshold(list(series.values()), profile)
    scored = {
        name: score_series(scores, windows, threshold, profile)
        for name, (scores, windows) in series.items()
    }
    return CorpusScore(profile, threshold, normalized_score(list(scored.values()), profile), scored)
