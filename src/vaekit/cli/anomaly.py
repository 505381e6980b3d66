"""`vaekit anomaly`: score inputs, flag the anomalous ones, measure detection quality."""

from __future__ import annotations

import argparse

from vaekit.cli.options import (
    add_device,
    add_rundir,
    add_seed,
    checked_device,
    count,
    fraction,
    label_list,
    load_run,
    positive_int,
)
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
        "kl for --score elbo, so that a line adds up to its score; for --score nll, latent and "
        "knn the columns say which the model reconstructs worst, no parts of the score); the "
        "top rows are printed "
        "with their worst columns instead of drawn. For a time series, INPUTs are test-split "
        "indices or series files (.csv/.parquet, a folder of them, a .npy: every window, each "
        "named by its last step), and the CSV has per step its time (after a series column "
        "where there are several), each channel's value, the score, the flag and each "
        "channel's error error_CHANNEL; FILE_errors.png draws the channels, the score and the "
        "flags. For audio, INPUTs are .wav clips (the CSV: file, score). For text, INPUTs are "
        "sentences or .txt files, scored per word with no threshold (the CSV: index, the score "
        "per word and per line, tokens, the line and what was read of it).\n\nscores: elbo "
        "(-ELBO), nll "
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
        help="test-split index, or a file of the run's kind of data: image/.npy, table, "
        "series or .wav file, or a sentence or .txt file for text (default: the whole test "
        "split)",
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
        help="classes that are normal, by index or by name (where the data names its "
        "classes: image subfolders, a table's --target; `vaekit data info` lists them; digits "
        "are an index); the others count as anomalies for AUROC",
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
        help="the scores to write; for images and audio the error maps, for a series its "
        "plot, go beside it as FILE_errors.png (default: RUNDIR/outputs/anomaly/scores.csv)",
    )
    add_device(p)
    add_overwrite(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from vaekit.api.anomaly import AnomalyDetector, detection_quality, load_or_fit
    from vaekit.api.apps import Inputs
    from vaekit.api.run import run_kind
    from vaekit.cli.output import Outputs, own_flow
    from vaekit.data.batches import ImageSet

    checked_device(args)
    kind = run_kind(args.rundir)
    flow = own_flow(kind, "anomaly")
    if flow is not None:  # text's sentences
        return flow(args)
    part = kind.part("render")
    outputs = Outputs(args)
    output = outputs.file(args.output, "scores.csv", ".csv", part.ANOMALY_BESIDE)
    maps = output.with_name(output.stem + "_errors.png")
    outputs.claim()
    model = load_run(args)
    wanted = AnomalyDetector(model, args.score, args.quantile, args.contamination,
                             args.iw_samples, args.seed)  # fmt: skip
    resolver = Inputs(model, args.data)
    if part.ROWS:  # a table's: test-split indices or table files, each row with its id
        data = resolver.rows(args.inputs) if args.inputs else resolver.test
    elif args.inputs:
        x, given = resolver.named_images(args.inputs)
        names = part.anomaly_ids(model, args.inputs, lambda: resolver.test.ids) or given
        data = ImageSet(x.cpu(), None, 1.0, ids=names)
    else:
        data = resolver.test
    labels = data.labels.numpy() if data.labels is not None else None
    truth = None
    if args.normal_labels:  # by index or name: the classes the run names, as embed does
        names = part.class_names(model) or model.class_names
        normal = model.class_indices(args.normal_labels, names)
        said = model.classes_said(names)
        truth = _truth(labels, normal, names, ",".join(args.normal_labels), said)

    detector, note = load_or_fit(wanted, args.rundir, args.data)
    if note:
        print(note)
    scores = detector.decision_function(data)
    flags = (scores > detector.threshold_).astype(int)
    written = part.write_scores(model, output, data, scores, flags, labels, detector, args.score)
    empty = int(np.isnan(scores).sum())
    unscored = f" ({empty} with no observed value: score NaN, not flagged)" if empty else ""
    print(f"scored {len(scores)} inputs ({args.score}){unscored}; threshold "
          f"{detector.threshold_:.4g} ({detector.calibration.get('split', 'val')} quantile "
          f"{detector.quantile}); {int(flags.sum())} flagged; wrote {output}")  # fmt: skip
    top = np.argsort(-scores)[: args.top]
    part.show_top(model, data, scores, top, maps, written)
    if truth is not None:
        quality = detection_quality(scores, truth)
        print(f"AUROC {quality['auroc']:.4f}, average precision {quality['average_precision']:.4f}"
              f" ({int(truth.sum())} anomalies of {len(truth)})")  # fmt: skip
    return 0


def _truth(labels, normal: list[int], names: list[str] | None, given: str, said: str):
    """1 for each input whose label is not among the normal ones, checked before any work:
    AUROC needs labels, both kinds among them, and each normal label one of the classes
    `names` (their names by index, where the run has them: a table's --target). `given`:
    the option as the user wrote it, `said` the run's classes (Model.classes_said), for the
    messages."""
    import numpy as np

    from vaekit.errors import VaekitError

    if labels is None:
        raise VaekitError("--normal-labels needs labelled inputs (a labelled test split, or "
                          "files whose every row has one of the run's labels)")  # fmt: skip
    unknown = [label for label in normal if names and not 0 <= label < len(names)]
    if unknown:
        raise VaekitError(f"--normal-labels {unknown[0]}: not a class of the run's ({said})")
    anomalous = (~np.isin(labels, normal)).astype(int)
    if anomalous.min() == anomalous.max():
        kind = "anomalous" if anomalous.min() else "normal"
        raise VaekitError(
            f"--normal-labels {given}: every input is {kind}; "
            f"AUROC needs both normal and anomalous ones (labels present, by index: "
            f"{sorted(set(labels.tolist()))})"
        )
    return anomalous
