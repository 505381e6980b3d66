"""The series kind's render part: see vaekit.kinds.protocol.

A series' examples are windows (N, 1, C, W) of standardized values; every file and picture
here shows them in the data's own units (SeriesSchema.unstandardize), named by the timestamp
of each window's last step. Files are CSV; pictures are line plots, one panel per channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.files import atomic_write, save_csv
from vaekit.kinds.series.data import SHORT_VALIDATION, SeriesSchema
from vaekit.report.curves import save_curves
from vaekit.report.html import caption, figure, image
from vaekit.report.images import data_uri
from vaekit.report.outputs import bits_per_dim_line, skipped_lines
from vaekit.report.plots import _pyplot, figure_png, plain_text
from vaekit.report.view import Builder, RunView

# --- the command line's outputs (see vaekit.kinds.protocol, "render part") ---------------

OUTPUT_SUFFIX = ".csv"  # windows are written as CSV, one line per step
ANOMALY_BESIDE = ("_errors.png",)  # the scored series, its errors and flags, drawn
FLOWS: tuple[str, ...] = ()  # the shared flows serve a series
ARRAYS = False  # --npy is for images
ROWS = True  # INPUTs name windows: test-split indices or series files (every window of each)
PANEL_HEIGHT = 1.6  # inches per channel in every plot
MAX_PANELS = 8  # channels drawn at most, the first ones (the CSV files hold every one)


def _units(model: Any, x: torch.Tensor) -> np.ndarray:
    """Windows (N, 1, C, W), standardized -> (N, W, C) in the data's units (NaN: missing)."""
    values = x.detach().cpu().double().numpy()[:, 0].transpose(0, 2, 1)
    return model.schema.unstandardize(values)


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.6g}"


def write_samples(model: Any, x: torch.Tensor, out: Path, n: int) -> str:
    """Sampled windows as a CSV: each window's number, each step's offset in it, then the
    channels in their units."""
    s, values = model.schema, _units(model, x)
    rows = [[i, t, *map(_cell, values[i, t])] for i in range(len(x)) for t in range(s.window)]
    save_csv(out, ["sample", "step", *s.channels], rows)
    return f"{len(x)} sampled windows of {s.window} steps"


def write_reconstructions(model: Any, ids: Any, x: torch.Tensor, made: torch.Tensor,
                          out: Path) -> str:  # fmt: skip
    """Windows beside their reconstructions as a CSV: the window (its last step's time), each
    step's offset, then each channel and CHANNEL_reconstructed, in their units."""
    s, given, back = model.schema, _units(model, x), _units(model, made)
    names = list(ids) if ids else [str(i) for i in range(len(x))]
    named, cells = id_columns(names, "window")
    header = [*named, "step"]
    for name in s.channels:
        header += [name, f"{name}_reconstructed"]
    rows = []
    for i in range(len(names)):
        for t in range(s.window):
            pairs = zip(given[i, t], back[i, t], strict=True)
            rows.append([*cells[i], t, *(_cell(v) for pair in pairs for v in pair)])
    save_csv(out, header, rows)
    return f"{len(x)} windows and their reconstructions"


def write_interpolation(model: Any, x: torch.Tensor, out: Path, steps: int, grid: bool) -> str:
    """The decoded windows along the path as a CSV: each one's place on it (for a grid, its
    row and column), each step's offset, then the channels in their units."""
    s, values = model.schema, _units(model, x)
    rows = []
    for i in range(len(x)):
        place = [i // steps, i % steps] if grid else [i]
        rows += [[*place, t, *map(_cell, values[i, t])] for t in range(s.window)]
    header = ["row", "column"] if grid else ["point"]
    save_csv(out, [*header, "step", *s.channels], rows)
    return f"{len(x)} decoded windows"


def anomaly_ids(model: Any, specs: list[str], test_ids: Any) -> list[str] | None:
    """Not asked: a series' INPUTs are windows, which carry their times (ROWS)."""
    return None


@torch.no_grad()
def step_errors(model: Any, data: Any, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """(values, errors), each (N, C) in the data's units: the last step of each window of
    `data` and the absolute error of its posterior-mean reconstruction there (NaN where
    missing). The last step is the one a window's score is the score of."""
    values, errors = [], []
    for start in range(0, len(data), batch):
        x = data.scaled(torch.arange(start, min(start + batch, len(data))))
        made = model.reconstruct(x).cpu()
        given, back = _units(model, x)[:, -1], _units(model, made)[:, -1]
        values.append(given)
        errors.append(np.abs(given - back))
    c = len(model.schema.channels)
    empty = np.zeros((0, c))
    return (
        np.concatenate(values) if values else empty,
        np.concatenate(errors) if errors else empty,
    )


def write_scores(model: Any, output: Path, data: Any, scores: np.ndarray, flags: np.ndarray,
                 labels: Any, detector: Any, score: str) -> dict[str, Any]:  # fmt: skip
    """`anomaly`'s CSV, one line per step scored (each window's last): its time, the
    channels' values, the score of the window ending there (from that step and the ones
    before it only), whether it is flagged, and each channel's reconstruction error at that
    step (|x - x̂|, in its units), which says which channel is off. Returns what `show_top`
    draws."""
    s = model.schema
    values, errors = step_errors(model, data)
    names = data.ids or [str(i) for i in range(len(scores))]
    # Steps of several series (a folder's files, a .npy's series, several INPUT files): a
    # first column names each one's series (StepName.place), the time column its time alone.
    places = _places(names)
    named, cells = id_columns(names, s.time_column)
    header = [*named, *s.channels, "score", "anomalous", *(f"error_{c}" for c in s.channels)]
    rows = [
        [*cells[i], *map(_cell, values[i]), f"{scores[i]:.6g}", int(flags[i]),
         *map(_cell, errors[i])]
        for i in range(len(names))
    ]  # fmt: skip
    save_csv(output, header, rows)
    return {"values": values, "errors": errors, "flags": flags, "threshold": detector.threshold_,
            "times": [getattr(name, "time", name) for name in names], "places": places,
            "score": SCORE_AXES.get(score, score)}  # fmt: skip


# What each --score is, as the score axis of a series' plot says it.
SCORE_AXES = {"elbo": "-ELBO of the window, nats", "nll": "-log p of the window, nats",
              "recon": "reconstruction MSE", "latent": "Mahalanobis distance of E[z]",
              "knn": "distance to the 5 nearest"}  # fmt: skip


def _places(names: list[Any]) -> list[str | None]:
    """The series each named step is of (StepName.place), given the INPUTs there were: each
    by its file name, or by its path as given where two share a file name (d1/data.csv,
    d2/data.csv)."""
    sources = {getattr(name, "source", None) for name in names}
    files = [Path(s).name for s in sources if s is not None]
    whole = len(set(files)) < len(files)
    return [name.place(len(sources), whole) if hasattr(name, "place") else None
            for name in names]  # fmt: skip


def show_top(model: Any, data: Any, scores: np.ndarray, top: np.ndarray, maps: Path,
             written: dict[str, Any]) -> None:  # fmt: skip
    """The highest-scoring steps, printed with the channel whose error is largest there, and
    the whole scored stretch drawn at `maps`: each channel, the score with its threshold, the
    flagged steps shaded."""
    s, names = model.schema, data.ids or [str(i) for i in range(len(scores))]
    ids = [" ".join(cells) for cells in id_columns(names, s.time_column)[1]]  # as the CSV's
    errors = written["errors"]
    print(f"top {len(top)} steps, with the channel most off there (the most training "
          "standard deviations: channels in other units compare so):")  # fmt: skip
    spread = np.abs(errors) / np.asarray(s.std)
    for i in top:
        j = int(np.nanargmax(spread[i])) if not np.isnan(spread[i]).all() else 0
        print(f"  {ids[i]}  score {scores[i]:.4g}  {s.channels[j]} off by {errors[i, j]:.4g} "
              f"({spread[i, j]:.3g} std)")  # fmt: skip
    png = scores_png(s, written["values"], scores, written["flags"], written["threshold"],
                     written["times"], written["places"], "calibrated threshold",
                     written["score"])  # fmt: skip
    atomic_write(maps, lambda p: p.write_bytes(png))
    print(f"drew the series, its scores and flags in {maps}")


def class_names(model: Any) -> list[str] | None:
    """A series has no classes."""
    return None


# What the page of `vaekit serve` calls the examples on its map.
served_noun = "windows"


def id_header(model: Any) -> str:
    """The header of `embed`'s id column: the time column's name (each window's last step)."""
    return model.schema.time_column


def id_columns(names: list[Any], column: str) -> tuple[list[str], list[list[str]]]:
    """Windows' names (StepName) as columns of a CSV: `column` holding each one's last step's
    time, after a "series" column where they are of data of several series (a folder's
    files, a .npy's series, several INPUTs), as `anomaly` writes them; (header, each
    window's cells)."""
    places = _places(names)
    times = [str(getattr(name, "time", name)) for name in names]
    if any(place is not None for place in places):  # (a few windows may all be of one)
        return ["series", column], [[str(p), t] for p, t in zip(places, times, strict=True)]
    return [column], [[t] for t in times]


# --- pictures ---------------------------------------------------------------------------


@plain_text
def windows_png(s: SeriesSchema, windows: list[np.ndarray], styles: list[str], title: str) -> bytes:
    """Windows (each (N, W, C) in the data's units) drawn one panel per channel, every
    window's steps along x; `styles` gives each list entry its line ("-", "--")."""
    plt = _pyplot()
    c = min(len(s.channels), MAX_PANELS)
    fig, axes = plt.subplots(c, 1, figsize=(7, 0.6 + PANEL_HEIGHT * c), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j in range(c):
        ax = axes[j, 0]
        for values, style in zip(windows, styles, strict=True):
            for i in range(len(values)):
                ax.plot(values[i, :, j], style, color=colors[i % len(colors)], lw=1)
        ax.set_ylabel(s.channels[j][:16], fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1, 0].set_xlabel("step in the window", fontsize=8)
    axes[0, 0].set_title(title, fontsize=9)
    fig.subplots_adjust(left=0.12, right=0.98, top=0.92, bottom=0.1, hspace=0.3)
    return figure_png(fig)


@plain_text
def scores_png(s: SeriesSchema, values: np.ndarray, scores: np.ndarray, flags: np.ndarray,
               threshold: float, times: list[str], places: list[str | None],
               line: str, score: str = "-ELBO of the window, nats") -> bytes:  # fmt: skip
    """A scored stretch: each channel's value per step, then the score with the threshold
    (`line` says which), the steps above it shaded in every panel; x is labelled with the
    steps' `times`, and where `places` names several series, a dotted line starts each."""
    plt = _pyplot()
    c = min(len(s.channels), MAX_PANELS)
    height = 0.8 + PANEL_HEIGHT * (c + 1)
    fig, axes = plt.subplots(c + 1, 1, figsize=(8, height), sharex=True)
    axes = np.atleast_1d(axes)
    starts = [i for i in range(len(places)) if i == 0 or places[i] != places[i - 1]]
    for a, b in zip(starts, [*starts[1:], len(scores)], strict=True):  # no line across series
        steps = np.arange(a, b)
        for j in range(c):
            axes[j].plot(steps, values[a:b, j], lw=0.8, color="C0")
        axes[c].plot(steps, scores[a:b], lw=0.8, color="black")
    for j in range(c):
        axes[j].set_ylabel(s.channels[j][:16], fontsize=8)
    axes[c].axhline(threshold, color="red", lw=0.8, ls="--")
    axes[c].set_ylabel(f"score ({score})", fontsize=8)
    for start, end in _stretches(flags):
        for ax in axes:
            ax.axvspan(start - 0.5, end - 0.5, color="red", alpha=0.2, lw=0)
    several = len(starts) > 1
    for i in starts[1:] if several else []:
        for ax in axes:
            ax.axvline(i - 0.5, color="gray", lw=0.8, ls=":")
    for i in starts if several else []:
        axes[0].annotate(str(places[i])[:24], (i, 1.0), xycoords=("data", "axes fraction"),
                         fontsize=6, va="top", color="gray")  # fmt: skip
    for ax in axes:
        ax.tick_params(labelsize=7)
    ticks = np.unique(np.linspace(0, len(scores) - 1, 6).round().astype(int)) if len(scores) else []
    axes[c].set_xticks(ticks, [str(times[i])[:19] for i in ticks], rotation=15)
    axes[0].set_title("the series, and the score of the window ending at each step\n(red: "
                      f"{line}, {threshold:.4g}; shaded: above it)", fontsize=9)  # fmt: skip
    where = f"{s.time_column} (series one after another)" if several else s.time_column
    axes[c].set_xlabel(where, fontsize=8)
    # two lines of title in 0.45 inch, whatever the number of panels
    fig.subplots_adjust(left=0.1, right=0.98, top=1 - 0.45 / height, bottom=0.08, hspace=0.15)
    return figure_png(fig)


def _stretches(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of flagged steps."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _sampled(model: Any, n: int, seed: int) -> np.ndarray:
    return _units(model, model.sample(n, seed=seed))


def _reconstructed(run_or_model: Any, test: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = test.scaled(torch.arange(min(n, len(test))))
    return _units(run_or_model, x), _units(run_or_model, run_or_model.reconstruct(x).cpu())


# --- the report and the compare page (see vaekit.kinds.protocol, "render part") -----------


def report_sections(model: Any, shared: list[tuple[str, Builder]]) -> list[tuple[str, Builder]]:
    """Samples, reconstructions and the test part's scores of a series model, then `shared`."""
    return [
        ("Samples", samples_section),
        ("Reconstructions", reconstructions_section),
        ("Scores over the test part", scores_section),
        *shared,
    ]


def samples_section(run: RunView, count: int = 4) -> str:
    s = run.model.schema
    png = windows_png(s, [_sampled(run.model, count, run.seed)], ["-"], "windows sampled")
    text = f"{count} windows decoded from prior samples (seed {run.seed}), in the data's units"
    return image(data_uri(png), "sampled windows", pixels=False) + caption(text)


def reconstructions_section(run: RunView, count: int = 3) -> str:
    s = run.model.schema
    given, made = _reconstructed(run.model, run.need_test(), count)
    png = windows_png(s, [given, made], ["-", "--"], "test windows (solid), reconstructions "
                      "(dashed)")  # fmt: skip
    text = f"the first {len(given)} test windows and their posterior-mean reconstructions"
    return image(data_uri(png), "reconstructed windows", pixels=False) + caption(text)


def elbo_scores(model: Any, data: Any, batch: int = 512) -> np.ndarray:
    """`vaekit anomaly`'s default score of each window of `data` (N,): --score elbo at
    --seed 0, each window's posterior draws keyed by its values (content_keys)."""
    from vaekit.apps.anomaly import anomaly_scores, content_keys

    scored = [np.zeros(0)]
    for start in range(0, len(data), batch):
        x = data.scaled(torch.arange(start, min(start + batch, len(data)))).to(model.device)
        scored.append(anomaly_scores(model.vae, x, content_keys(x), "elbo").cpu().numpy())
    return np.concatenate(scored)


def scores_section(run: RunView, limit: int = 5000) -> str:
    """The test part scored step by step as `vaekit anomaly` scores it by default (its elbo
    score at seed 0: the -ELBO of the window ending at each step, nats, each window's draws
    keyed by its values), with the steps above the 0.99 quantile of these scores shaded: a
    picture of where the test part is surprising, not `vaekit anomaly`'s calibrated flags."""
    s, test = run.model.schema, run.need_test()
    part = test.subset(torch.arange(min(limit, len(test))))
    scores = elbo_scores(run.model, part)
    values, _ = step_errors(run.model, part)
    threshold = float(np.quantile(scores, 0.99))
    names = part.ids or [str(i) for i in range(len(part))]
    png = scores_png(s, values, scores, scores > threshold, threshold,
                     [getattr(n, "time", n) for n in names], _places(names),
                     "0.99 quantile of these scores")  # fmt: skip
    text = (f"the first {len(part)} test steps: each channel, the -ELBO of the window ending "
            "at the step (nats), as `vaekit anomaly RUN` scores it (--score elbo, --seed 0), "
            "and the 0.99 quantile of these scores (not the threshold `vaekit anomaly` "
            "calibrates on the validation windows)")  # fmt: skip
    return image(data_uri(png), "scores over the test part", pixels=False) + caption(text)


def compare_samples(model: Any, name: str, seed: int) -> str:
    """4 sampled windows of `model`, drawn, as one figure of the compare page."""
    png = windows_png(model.schema, [_sampled(model, 4, seed)], ["-"], f"samples of {name}")
    return figure(image(data_uri(png), f"samples of {name}", pixels=False), name)


def schema_shown(schema: Any, checksum: bool = False) -> Any:
    """config.json's model.schema as a page shows it: as it is."""
    return schema


def served(model: Any, x: torch.Tensor, ncols: int | None = None) -> dict[str, str]:
    """Decoded windows x (N, 1, C, W), standardized, drawn as `vaekit serve`'s "image": a
    plot of each channel, named, in its units."""
    png = windows_png(model.schema, [_units(model, x)], ["-"], "decoded windows")
    return {"image": data_uri(png)}


# --- `vaekit eval`'s table and `vaekit data info` ----------------------------------------


def eval_nouns(report: dict) -> tuple[str, str]:
    """What the likelihood is for and what the data is, as `vaekit eval`'s table names them."""
    return f"{report['likelihood_support']} values", "standardized series values"


# What the model card adds to its Limitations for a series (vaekit.report.card.limits).
card_limits = [
    "Its figures are densities of the windows' values standardized by each channel's "
    "training mean and standard deviation (in config.json's schema), with missing values "
    "left out: they compare only with models of the same series standardized alike, not "
    "with densities of the raw values."
]


def eval_lines(report: dict) -> list[str]:
    """`vaekit eval`'s lines after the bounds: bits/dim (a dash) and the per-channel
    reconstruction errors (or why they were skipped)."""
    rec = report.get("reconstruction", {})
    lines = [bits_per_dim_line(report)]
    if "channels" not in rec:
        return lines + skipped_lines(rec)
    lines.append("  reconstruction, per channel (posterior mean; in the channel's units; over "
                 "every window's values, a step counted in each window holding it)")  # fmt: skip
    for c in rec["channels"]:
        rmse = "—" if c["rmse"] is None else f"{c['rmse']:.4g}"
        mae = "—" if c["mae"] is None else f"{c['mae']:.4g}"
        lines.append(f"    {c['name'][:22]:<22}RMSE {rmse:<12} MAE {mae:<12} "
                     f"({c['observed']} observed values in windows)")  # fmt: skip
    return lines


def eval_rows(report: dict) -> list[tuple[str, float | None, None, str]]:
    """report.html's Evaluation rows beside the bounds: each channel's reconstruction errors,
    as `eval` prints them."""
    rows: list[tuple[str, float | None, None, str]] = []
    for c in report.get("reconstruction", {}).get("channels", []):
        mae = "—" if c["mae"] is None else f"{c['mae']:.4g}"
        note = f"RMSE in the channel's units; MAE {mae}; {c['observed']} observed values in windows"
        rows.append((f"reconstruction: {c['name']}", c["rmse"], None, note))
    return rows


def info_lines(info: dict[str, Any]) -> list[str]:
    """`vaekit data info`'s lines for a series: its steps, windows and splits, each channel's
    training statistics, and the checksum."""
    step = info.get("step_seconds")
    unit = " in the time column's units" if info.get("time_is_number") else " s"
    clock = f"one step every {step:g}{unit}" if step else "rows taken as steps"
    count = info.get("num_series", 1)
    what = "a time series of" if count == 1 else f"{count} time series of"
    steps = f"{info['num_rows']} steps" + ("" if count == 1 else " in all")
    lines = [
        f"  {what} {steps} ({clock}), {len(info['channels'])} "
        f"channel{'s' if len(info['channels']) != 1 else ''}; windows of {info['window']} "
        f"steps: {info['num_train']} train (stride {info['stride']}) / "
        f"{info.get('num_val') or 'no held-out'} validation / {info['num_test']} test; "
        f"{info['missing_values']} missing values"
    ]
    if not info.get("num_val"):
        lines.append(f"  {SHORT_VALIDATION}")
    for c in info.get("statistics", []):
        constant = " (constant: left unscaled)" if c["std"] == 0 else ""
        lines.append(
            f"  {c['channel']:<20} mean {c['mean']:.4g}, std {c['std']:.4g}{constant} "
            "(training part)"
        )
    lines.append(f"  content sha256 {info['sha256']}")
    return lines


# --- the pictures `vaekit train` writes beside a run (vaekit.api.report.write_pictures) -----


def pictures(model: Any, test: Any, history: list[dict[str, Any]], files: dict[str, Path],
             seed: int) -> dict[str, Path]:  # fmt: skip
    """samples.png (sampled windows), reconstructions.png (test windows and their
    reconstructions) and curves.png."""
    s = model.schema
    png = windows_png(s, [_sampled(model, 4, seed)], ["-"], "windows sampled from the prior")
    atomic_write(files["samples"], lambda p: p.write_bytes(png))
    written = {"samples": files["samples"]}
    if len(test):
        given, made = _reconstructed(model, test, 3)
        png = windows_png(s, [given, made], ["-", "--"], "test windows (solid) and their "
                          "reconstructions (dashed)")  # fmt: skip
        atomic_write(files["reconstructions"], lambda p: p.write_bytes(png))
        written["reconstructions"] = files["reconstructions"]
    save_curves(history, files["curves"], title=f"{model.config.family} VAE on a time series")
    return {**written, "curves": files["curves"]}
