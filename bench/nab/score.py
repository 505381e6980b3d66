"""Score detectors' results the way NAB does and print each profile's normalized score (null
detector 0, perfect 100) with its corpus-wide threshold, then the score of each group at that
same threshold (normalized by the group's own null and perfect scores; "n/a" for a group with
no window, such as artificialNoAnomaly, whose raw score, false positives only, is shown).

    python -m bench.nab.score RESULTS_DIR --corpus ../shared/data/nab [--detector NAME]
        [--partial] [--json PATH]

RESULTS_DIR is NAB's results folder (one folder per detector) or one detector's folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from bench.nab.results import group_of, read_detector, read_profiles, read_windows
from bench.nab.scorer import normalized_score, score_corpus


def find_detectors(results: Path, groups: set[str]) -> list[tuple[Path, str]]:
    """(results folder, detector name) pairs: RESULTS_DIR itself where it holds group folders,
    else each folder inside it."""
    if any((results / group).is_dir() for group in groups):
        return [(results.parent, results.name)]
    return [(results, d.name) for d in sorted(results.iterdir()) if d.is_dir()]


def _number(x: float) -> float | None:
    """JSON has no NaN or infinity: an undefined score or a no-detection threshold is null."""
    return None if math.isnan(x) or math.isinf(x) else x


def score_detector(results: Path, detector: str, corpus: Path, partial: bool = False) -> dict:
    """Every profile's corpus score and every group's score for one detector, as plain data."""
    series = read_detector(results, detector, corpus, partial=partial)
    groups = sorted({group_of(name) for name in series})
    out: dict = {"detector": detector, "series": len(series), "profiles": {}, "groups": {}}
    for name, profile in read_profiles(corpus).items():
        scored = score_corpus(series, profile)
        parts = scored.series.values()
        out["profiles"][name] = {
            "score": _number(scored.normalized),
            "threshold": _number(scored.threshold),
            "tp": sum(s.tp for s in parts),
            "fp": sum(s.fp for s in parts),
            "fn": sum(s.fn for s in parts),
        }
        for group in groups:
            members = [s for n, s in scored.series.items() if group_of(n) == group]
            out["groups"].setdefault(group, {})[name] = {
                "score": _number(normalized_score(members, profile)),
                "raw": sum(s.score for s in members),
            }
    return out


def render(report: dict) -> str:
    """The report as the text the command prints."""
    lines = [f"{report['detector']}: {report['series']} series"]
    lines.append(f"  {'profile':<22}{'score':>8}{'threshold':>12}{'TP':>6}{'FP':>7}{'FN':>6}")
    for name, p in report["profiles"].items():
        threshold = "none" if p["threshold"] is None else f"{p['threshold']:.6g}"
        score = "n/a" if p["score"] is None else f"{p['score']:.2f}"
        lines.append(f"  {name:<22}{score:>8}{threshold:>12}{p['tp']:>6}{p['fp']:>7}{p['fn']:>6}")
    names = list(report["profiles"])
    lines.append("  " + f"{'group':<24}" + "".join(f"{n:>22}" for n in names))
    for group, by_profile in report["groups"].items():
        cells = []
        for n in names:
            g = by_profile[n]
            cells.append(f"n/a (raw {g['raw']:.2f})" if g["score"] is None else f"{g['score']:.2f}")
        lines.append("  " + f"{group:<24}" + "".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nab.score", description=__doc__)
    parser.add_argument("results", type=Path, help="NAB results folder, or one detector's")
    parser.add_argument("--corpus", type=Path, required=True, help="the NAB corpus folder")
    parser.add_argument("--detector", help="score only this detector")
    parser.add_argument(
        "--partial", action="store_true", help="score the series present, not all of the corpus"
    )
    parser.add_argument("--json", type=Path, help="also write the scores here as JSON")
    args = parser.parse_args(argv)
    groups = {group_of(name) for name in read_windows(args.corpus)}
    found = find_detectors(args.results, groups)
    if args.detector:
        found = [(folder, d) for folder, d in found if d == args.detector]
    if not found:
        print(f"no detector results in {args.results}", file=sys.stderr)
        return 2
    reports = []
    for folder, detector in found:
        try:
            reports.append(score_detector(folder, detector, args.corpus, args.partial))
        except (FileNotFoundError, ValueError) as error:
            print(f"{detector}: {error}", file=sys.stderr)
            return 2
        print(render(reports[-1]))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
