"""NAB's file layouts: the corpus it ships and the results its tools read.

Corpus (`--corpus`, e.g. ../shared/data/nab): `data/<group>/<file>.csv` with columns
`timestamp,value`; `labels/combined_windows.json` mapping "<group>/<file>.csv" to its windows,
[start, end] timestamp pairs (the list of series is its keys); `config/profiles.json` mapping
each profile's name to {"CostMatrix": {"tpWeight", "fpWeight", "fnWeight", "tnWeight"}}.

Results: `<results>/<detector>/<group>/<detector>_<file>.csv` with columns
`timestamp,value,anomaly_score,label` (label 1 inside a labelled window, else 0), one row per
row of the series, which NAB's own tools read. Scoring reads only timestamp and anomaly_score
(by name, so files with NAB's further columns read too); the windows come from the corpus.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from bench.nab.scorer import Profile, Series, Window

COLUMNS = ("timestamp", "value", "anomaly_score", "label")


def read_windows(corpus: Path) -> dict[str, list[tuple[str, str]]]:
    """Each series' labelled windows as (start, end) timestamps, by "<group>/<file>.csv"."""
    raw = json.loads((Path(corpus) / "labels" / "combined_windows.json").read_text())
    return {name: [(start, end) for start, end in windows] for name, windows in raw.items()}


def read_profiles(corpus: Path) -> dict[str, Profile]:
    """The scoring profiles' weights, by name, in the file's order."""
    raw = json.loads((Path(corpus) / "config" / "profiles.json").read_text())
    return {
        name: Profile(
            name=name,
            tp=float(entry["CostMatrix"]["tpWeight"]),
            fp=float(entry["CostMatrix"]["fpWeight"]),
            fn=float(entry["CostMatrix"]["fnWeight"]),
        )
        for name, entry in raw.items()
    }


def group_of(name: str) -> str:
    """The group (data folder) of "<group>/<file>.csv"."""
    return name.split("/", 1)[0]


def read_series(corpus: Path, name: str) -> tuple[list[str], np.ndarray]:
    """One corpus series "<group>/<file>.csv": its timestamps, as written, and its values
    (shape (n,))."""
    with open(Path(corpus) / "data" / name, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["timestamp"] for r in rows], np.array([float(r["value"]) for r in rows])


def window_indices(timestamps: Sequence[str], windows: Sequence[tuple[str, str]]) -> list[Window]:
    """Windows as (start, end) row indices, inclusive: the first row at or after the start
    timestamp and the last at or before the end. Timestamps must be sorted."""
    times = np.array(list(timestamps), dtype="datetime64[us]")
    found = []
    for start, end in windows:
        first = int(np.searchsorted(times, np.datetime64(start, "us"), side="left"))
        last = int(np.searchsorted(times, np.datetime64(end, "us"), side="right")) - 1
        if first > last:
            raise ValueError(f"window ({start}, {end}) holds no row of the series")
        found.append((first, last))
    return found


def window_labels(n: int, windows: Sequence[Window]) -> np.ndarray:
    """NAB's label column: 1 on the rows inside a window, else 0. Shape (n,), int."""
    labels = np.zeros(n, dtype=int)
    for start, end in windows:
        labels[start : end + 1] = 1
    return labels


def result_path(results: Path, detector: str, name: str) -> Path:
    """Where NAB looks for a detector's result on series "<group>/<file>.csv"."""
    group, file = name.split("/", 1)
    return Path(results) / detector / group / f"{detector}_{file}"


def write_result(
    results: Path,
    detector: str,
    name: str,
    timestamps: Sequence[str],
    values: np.ndarray,
    anomaly_scores: np.ndarray,
    labels: np.ndarray,
) -> Path:
    """Write one series' result file in NAB's layout; returns its path. Scores are written
    exactly (repr), so scoring the file gives what scoring the arrays gives."""
    if not len(timestamps) == len(values) == len(anomaly_scores) == len(labels):
        raise ValueError("timestamps, values, anomaly_scores and labels differ in length")
    path = result_path(results, detector, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in zip(timestamps, values, anomaly_scores, labels, strict=True):
            t, value, score, label = row
            writer.writerow([t, repr(float(value)), repr(float(score)), int(label)])
    return path


def read_result(path: Path) -> tuple[list[str], np.ndarray]:
    """A result file's timestamps and anomaly scores (shape (n,))."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"timestamp", "anomaly_score"} <= rows[0].keys():
        raise ValueError(f"{path}: no timestamp and anomaly_score columns")
    return [r["timestamp"] for r in rows], np.array([float(r["anomaly_score"]) for r in rows])


def read_detector(
    results: Path, detector: str, corpus: Path, partial: bool = False
) -> dict[str, Series]:
    """A detector's results on every corpus series, as (scores, windows) by series name,
    windows placed by the result's own timestamps. Missing files are an error (a score over
    part of the corpus is not NAB's score) unless `partial`, when they are left out."""
    series, missing = {}, []
    for name, windows in sorted(read_windows(corpus).items()):
        path = result_path(results, detector, name)
        if not path.exists():
            missing.append(str(path))
            continue
        timestamps, scores = read_result(path)
        series[name] = (scores, window_indices(timestamps, windows))
    if missing and not partial:
        raise FileNotFoundError(f"{len(missing)} result files missing, first: {missing[0]}")
    return series
