"""`vaekit anomaly`: score inputs, flag the anomalous ones, measure detection quality."""

from __future__ import annotations

import argparse

from vaekit.cli import text as text_cli
from vaekit.cli.options import add_rundir, add_seed, count, fraction, label_list, positive_int
from vaekit.cli.output import add_overwrite
from vaekit.report.limits import MAX_GRID_IMAGES

TOP = MAX_GRID_IMAGES // 2  # inputs above their error maps in one PNG


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "anomaly",
        help="anomaly scores, flags, error maps and AUROC",
        description="Score INPUTS (test-split indices or image/.npy files; default: the whole "
        "test split of the run's data or of --data): higher is more anomalous. The threshold "
        "is calibrated on the validation split (its --quantile, or 1 - --contamination) and "
        "saved in RUNDIR/anomaly.json with the weights it was computed on; it is reused while "
        "the score settings and the weights stay the same, else calibrated again (with a note). "
        "Writes a CSV (index, score, anomalous, label), a PNG of the top-scoring inputs above "
        "their per-pixel reconstruction-error maps, and with --normal-labels the AUROC and "
        "average precision. For a table, INPUTs are test-split indices or .csv/.parquet files "
        "(every row), and the CSV has each row's id (--id-column, or its row number), score, "
        "flag, label and each column's contribution nll_COLUMN, -log p(x_j|z) in nats (with "
        "kl for --score elbo, so that a line adds up to its score); the top rows are printed "
        "with their worst columns instead of drawn.\n\nscores: elbo (-ELBO), nll "
        "(importance-weighted -log p(x)), "
        "complexity (-ELBO minus the PNG-compressed size: likelihoods favour simple images, "
        "this corrects for it), latent (Mahalanobis distance of the posterior mean from the "
        "training data's), recon (reconstruction MSE), knn (mean distance to the 5 nearest "
        "training images in the space of posterior means and log standard deviations, "
        "Mahalanobis metric: the best on one-class Fashion-MNIST, see BENCHMARKS.md).",
        epilog="examples:\n  vaekit anomaly runs/fm -o scores.csv --normal-labels 0 "
        "--score complexity\n  vaekit anomaly runs/fm odd1.png odd2.png -o odd.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rundir(p)
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="test-split index or image/.npy file (default: the whole test split)",
    )
    p.add_argument("--data", metavar="NAME|PATH", help="score (and calibrate on) this dataset")
    p.add_argument(
        "--score",
        choices=("elbo", "nll", "complexity", "latent", "recon", "knn"),
        default="elbo",
        help="what to score by (see above; default: elbo)",
    )
    p.add_argument(
        "--quantile",
        type=fraction,
        metavar="Q",
        help="threshold at this quantile of the validation scores (default: 0.99)",
    )
    p.add_argument(
        "--contamination",
        type=fraction,
        metavar="C",
        help="expected share of anomalies: the threshold is the 1 - C quantile",
    )
    p.add_argument(
        "--normal-labels",
        type=label_list,
        metavar="L[,L...]",
        help="labels that are normal; the others count as anomalies for AUROC",
    )
    p.add_argument(
        "--iw-samples",
        type=positive_int,
        default=100,
        metavar="K",
        help="importance samples per input for --score nll (default: 100)",
    )
    p.add_argument(
        "--top",
        type=count(1, TOP),
        default=16,
        help=f"the highest-scoring inputs drawn above their error maps (default: 16; at most "
        f"{TOP})",
    )
    add_seed(p)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE.csv",
        help="the scores to write; for images and audio the error maps go beside it as "
        "FILE_errors.png (default: RUNDIR/outputs/anomaly/scores.csv)",
    )
    add_overwrite(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from vaekit.api.anomaly import AnomalyDetector, detection_quality, load_or_fit
    from vaekit.api.apps import Inputs
    from vaekit.api.model import load
    from vaekit.api.run import is_table_run, is_text_run
    from vaekit.cli.output import Outputs
    from vaekit.data.batches import ImageSet

    if is_text_run(args.rundir):
        return text_cli.anomaly(args)
    outputs = Outputs(args)
    beside = () if is_table_run(args.rundir) else ("_errors.png",)
    output = outputs.file(args.output, "scores.csv", ".csv", beside)
    maps = output.with_name(output.stem + "_errors.png")
    outputs.claim()
    model = load(args.rundir)
    wanted = AnomalyDetector(model, args.score, args.quantile, args.contamination,
                             args.iw_samples, args.seed)  # fmt: skip
    resolver = Inputs(model, args.data)
    if model.table is not None:
        data = resolver.rows(args.inputs) if args.inputs else resolver.test
    elif args.inputs:
        names = None  # audio: a clip per INPUT, named by its file (an index: the test file's)
        if model.audio is not None:
            names = [resolver.test.ids[int(a)] if a.isdigit() else a for a in args.inputs]
        data = ImageSet(resolver.images(args.inputs).cpu(), None, 1.0, ids=names)
    else:
        data = resolver.test
    labels = data.labels.numpy() if data.labels is not None else None
    truth = _truth(labels, args.normal_labels) if args.normal_labels else None

    detector, note = load_or_fit(wanted, args.rundir, args.data)
    if note:
        print(note)
    scores = detector.decision_function(data)
    flags = (scores > detector.threshold_).astype(int)
    if model.table is not None:
        parts = detector.contributions(data)
        _write_table_scores(output, model.table, data.ids, scores, flags, labels, parts,
                            args.score)  # fmt: skip
    else:
        _write_scores(output, scores, flags, labels, data.ids if model.audio else None)
    print(f"scored {len(scores)} inputs ({args.score}); threshold {detector.threshold_:.4g} "
          f"({detector.calibration.get('split', 'val')} quantile {detector.quantile}); "
          f"{int(flags.sum())} flagged; wrote {output}")  # fmt: skip
    top = np.argsort(-scores)[: args.top]
    if model.table is not None:
        _print_top_rows(model.table, data.ids, scores, parts, top)
    else:
        _draw_error_maps(model, data, top, maps)
        print(f"top {len(top)} inputs above their error maps: {maps}")
    if truth is not None:
        quality = detection_quality(scores, truth)
        print(f"AUROC {quality['auroc']:.4f}, average precision {quality['average_precision']:.4f}"
              f" ({int(truth.sum())} anomalies of {len(truth)})")  # fmt: skip
    return 0


def _truth(labels, normal: list[int]):
    """1 for each input whose label is not among the normal ones, checked before any work:
    AUROC needs labels, and both kinds among them."""
    import numpy as np

    from vaekit.errors import VaekitError

    if labels is None:
        raise VaekitError("--normal-labels needs labelled inputs (a labelled test split)")
    anomalous = (~np.isin(labels, normal)).astype(int)
    if anomalous.min() == anomalous.max():
        kind = "anomalous" if anomalous.min() else "normal"
        raise VaekitError(
            f"--normal-labels {','.join(map(str, normal))}: every input is {kind}; AUROC needs "
            f"both normal and anomalous ones (labels present: {sorted(set(labels.tolist()))})"
        )
    return anomalous


def _write_scores(output, scores, flags, labels, ids=None) -> None:
    """index (or, for audio, file: each clip's file name), score, anomalous, label."""
    import csv
    import io

    from vaekit.files import atomic_write

    header = (
        ("file" if ids else "index") + ",score,anomalous" + (",label" if labels is not None else "")
    )
    names = []
    for i in range(len(scores)):
        line = io.StringIO()
        csv.writer(line, lineterminator="").writerow([ids[i] if ids else i])
        names.append(line.getvalue())
    rows = [
        f"{names[i]},{s:.6g},{f}" + (f",{labels[i]}" if labels is not None else "")
        for i, (s, f) in enumerate(zip(scores, flags, strict=True))
    ]
    text = header + "\n" + "\n".join(rows) + "\n"
    atomic_write(output, lambda p: p.write_text(text))


def _write_table_scores(output, schema, ids, scores, flags, labels, parts, score) -> None:
    """One line per row: its id, score, flag, label (the class name), and each column's
    contribution (-log p(x_j|z), nats; empty where the value is missing); for the elbo
    score also the KL, so that the line adds up to the score."""
    import numpy as np

    from vaekit.cli.output import save_csv

    header = [schema.id_column or "row", "score", "anomalous"]
    header += ["label"] if labels is not None else []
    header += [f"nll_{name}" for name in schema.names]
    header += ["kl"] if score == "elbo" else []
    kl = scores - np.nansum(parts, axis=1)
    rows = []
    for i, row_id in enumerate(ids):
        line = [row_id, f"{scores[i]:.6g}", int(flags[i])]
        line += [schema.classes[labels[i]]] if labels is not None else []
        line += ["" if np.isnan(v) else f"{v:.6g}" for v in parts[i]]
        line += [f"{kl[i]:.6g}"] if score == "elbo" else []
        rows.append(line)
    save_csv(output, header, rows)


def _print_top_rows(schema, ids, scores, parts, top) -> None:
    """The highest-scoring rows, each with the columns that contribute most to its score."""
    import numpy as np

    print(f"top {len(top)} rows, with the columns that contribute most (nats):")
    for i in top:
        worst = [j for j in np.argsort(-np.nan_to_num(parts[i], nan=-np.inf))[:3]]
        named = ", ".join(f"{schema.names[j]} {parts[i, j]:.2f}" for j in worst)
        print(f"  {ids[i]}: {scores[i]:.4g} ({named})")


def _draw_error_maps(model, data, top, maps) -> None:
    """The inputs at `top` above their per-pixel reconstruction errors (brighter = worse)."""
    import torch

    from vaekit.apps.anomaly import error_map
    from vaekit.report.images import pairs_grid, save_grid

    x = data.scaled(torch.from_numpy(top.copy())).to(model.device)
    errors = error_map(model.vae, x)
    errors = (errors / errors.max().clamp_min(1e-8)).expand(-1, x.shape[1], -1, -1)
    if model.audio is not None:  # spectrograms in dB, low frequencies at the bottom
        x, errors = model.audio.picture(x), errors.flip(2)
    save_grid(pairs_grid(x.cpu(), errors.cpu()), maps, ncols=8)
