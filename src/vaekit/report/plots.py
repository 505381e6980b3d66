"""Plots for the report, as PNG bytes: loss curves (one run, or several on shared axes), the KL
per latent dimension, and 2-D maps of the latent space.

A metrics.jsonl record holds per split `neg_elbo`, `rec`, `kl` and `loss` (and with
--iw-train K `neg_iwae` and `iwae_k`); records of older runs hold only `loss`, `rec` and `kl`,
where -ELBO is rec + kl whatever `loss` was.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

# Train: the mean over the epoch's steps while the weights moved; validation: after it (so
# validation can sit below train in the first epochs without any leak).
SPLITS = (("train", "train (mean over the epoch)"), ("val", "validation (after it)"))
TERMS = (
    ("neg_elbo", "-ELBO"),
    ("rec", "reconstruction (-log p(x|z))"),
    ("kl", "KL(q(z|x) || p(z))"),
)
# A conditional model's (--conditional): the encoder and the decoder read the label y.
GIVEN_TERMS = (
    ("neg_elbo", "-ELBO, given the label"),
    ("rec", "reconstruction (-log p(x|z,y))"),
    ("kl", "KL(q(z|x,y) || p(z))"),
)
# Conditional and unconditional runs on one compare figure: each title names both.
MIXED_TERMS = (
    ("neg_elbo", "-ELBO (given the label where conditional)"),
    ("rec", "reconstruction (-log p(x|z) or p(x|z,y))"),
    ("kl", "KL(q(z|x) or q(z|x,y) || p(z))"),
)


def plain_text(draw: Callable[..., Any]) -> Callable[..., Any]:
    """A drawing function run with matplotlib's math markup off, so that every label is drawn
    as it is: a `$` in a class, column, channel or run name began math mode (a table's
    "$5-$10" was drawn as "5-10" in italics, and "$x^$" ended the report in a parse error)."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed. (Margins are set by hand:
    tight_layout would double the time a report takes at the end of every training run.)"""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def term_series(history: list[dict[str, Any]], split: str, term: str) -> list[float | None]:
    """One term per epoch for a split ("train", "val"): neg_elbo, rec, kl or neg_iwae; None
    where a record lacks it (-ELBO of an older record is its rec + kl)."""
    out: list[float | None] = []
    for record in history:
        terms = record.get(split) or {}
        if term == "neg_elbo" and "neg_elbo" not in terms and "rec" in terms and "kl" in terms:
            value = (
                None if terms["rec"] is None or terms["kl"] is None else terms["rec"] + terms["kl"]
            )
        else:
            value = terms.get(term)
        out.append(None if value is None else float(value))
    return out


def _plot(ax, epochs: list[int], values: list[float | None], style: str, **kw: Any) -> None:
    if any(v is not None for v in values):
        y = [np.nan if v is None else v for v in values]
        ax.plot(epochs, y, style, **kw)


@plain_text
def loss_curves_png(history: list[dict[str, Any]], title: str = "", given: bool = False) -> bytes:
    """Three panels, -ELBO (with -IWAE_K for a run trained on it), reconstruction and KL, per
    epoch, train and validation, in nats per example; `given`: a conditional model's, each
    term's title with the label."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=100)
    epochs = [int(r["epoch"]) for r in history]
    k = next((r["train"].get("iwae_k") for r in history if r.get("train")), None)
    for ax, (term, name) in zip(axes, GIVEN_TERMS if given else TERMS, strict=True):
        # one colour per split in every panel: the legend, drawn from the first, holds for all
        for (split, label), marker, color in zip(SPLITS, "os", ("C0", "C1"), strict=True):
            series = term_series(history, split, term)
            _plot(ax, epochs, series, f"{marker}-", label=label, color=color)
            if term == "neg_elbo" and k:
                iwae = term_series(history, split, "neg_iwae")
                _plot(ax, epochs, iwae, f"{marker}--", label=f"{label} -IWAE (K={k})", color=color)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs: no 1.2, 1.4
        ax.grid(alpha=0.3)
        if len(epochs) < 15:
            ax.set_xticks(epochs)
    axes[0].set_ylabel("nats per example")
    bottom = 0.14
    if k:  # four entries: below the panels, where they cover no curve
        fig.set_size_inches(12, 4.2)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8)
        bottom = 0.24
    else:
        axes[0].legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=bottom, top=0.84, wspace=0.25)
    return figure_png(fig)


@plain_text
def compare_curves_png(
    runs: Sequence[tuple[str, list[dict[str, Any]]]], given: Collection[str] = ()
) -> bytes:
    """-ELBO, reconstruction and KL per epoch of several runs on shared axes: one colour per
    run, validation solid, train dashed; `given`: the names of the runs conditional on the
    label (each marked so in the legend; the terms titled with the label where every run is,
    with both forms where some are)."""
    conditional = sum(name in given for name, _ in runs)
    mixed = 0 < conditional < len(runs)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), dpi=100, sharex=True)
    colors = plt.get_cmap("tab10")
    for i, (name, history) in enumerate(runs):
        epochs = [int(r["epoch"]) for r in history]
        color = colors(i % 10)
        # a run without a validation split is named by its train curve, the one it has
        has_val = any(v is not None for v in term_series(history, "val", "neg_elbo"))
        label = f"{name} (given the label)" if mixed and name in given else name
        for ax, (term, _) in zip(axes, TERMS, strict=True):
            val = term_series(history, "val", term)
            _plot(ax, epochs, val, "-", color=color, label=label if has_val else None)
            train = term_series(history, "train", term)
            trained = label if not has_val else None
            _plot(ax, epochs, train, "--", color=color, alpha=0.6, label=trained)
    titles = MIXED_TERMS if mixed else GIVEN_TERMS if conditional else TERMS
    for ax, (_, title) in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs: no 1.2, 1.4
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("nats per example (validation solid, train dashed)", fontsize=8)
    axes[0].legend(fontsize=8, loc="upper right")
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.13, top=0.92, wspace=0.25)
    return figure_png(fig)


@plain_text
def kl_bars_png(kl: Sequence[float], layer_sizes: Sequence[int] = ()) -> bytes:
    """The mean KL of each latent dimension (Z,) as bars, coloured by layer where there are
    several (bottom layer first)."""
    plt = _pyplot()
    z = len(kl)
    width = max(4.0, min(12.0, 0.3 * z + 2))
    fig, ax = plt.subplots(figsize=(width, 3.2), dpi=100)
    sizes = list(layer_sizes) if sum(layer_sizes) == z and len(layer_sizes) > 1 else [z]
    colors = plt.get_cmap("tab10")
    start = 0
    for layer, size in enumerate(sizes):
        dims = list(range(start, start + size))
        label = f"layer {layer + 1}" if len(sizes) > 1 else None
        ax.bar(dims, [kl[d] for d in dims], color=colors(layer % 10), label=label)
        start += size
    ax.set_xlabel("latent dimension")
    ax.set_ylabel("KL (nats)")
    ax.grid(alpha=0.3, axis="y")
    if z <= 32:
        ax.set_xticks(range(z))
    if len(sizes) > 1:
        ax.legend(fontsize=8, loc="upper right")
    # The y axis' ticks and label take about 0.8 inch whatever the width (it was cut off
    # at the narrowest, for a few dimensions).
    fig.subplots_adjust(left=0.8 / width, right=0.98, bottom=0.15, top=0.95)
    return figure_png(fig)


def _class_name(label: int, names: Sequence[str]) -> str:
    return names[label] if 0 <= label < len(names) else str(label)


def latent_map_png(
    points: np.ndarray,
    labels: np.ndarray | None,
    axes: Sequence[str],
    title: str = "",
    class_names: Sequence[str] | None = None,
) -> bytes:
    """A scatter of 2-D points (N, 2) coloured by label (N,): see `latent_map_figure`."""
    return figure_png(latent_map_figure(points, labels, axes, title, class_names))


@plain_text
def latent_map_figure(
    points: np.ndarray,
    labels: np.ndarray | None,
    axes: Sequence[str],
    title: str = "",
    class_names: Sequence[str] | None = None,
) -> Any:
    """The matplotlib figure of `latent_map_png`: a legend for up to 10 classes, a colour bar
    for more, one colour without labels. The legend calls label i `class_names[i]` where the
    data names its classes, else i."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    size = 8 if len(points) > 2000 else 14
    x, y = points[:, 0], points[:, 1]
    if labels is None:
        ax.scatter(x, y, s=size, alpha=0.6)
    else:
        classes = np.unique(labels)
        if len(classes) <= 10:  # one scatter, coloured by class; the legend from proxies
            colors = plt.get_cmap("tab10")
            index = np.searchsorted(classes, labels)
            ax.scatter(x, y, s=size, alpha=0.7, c=[colors(i) for i in index])
            names = list(class_names or ())
            handles = [
                ax.scatter([], [], color=colors(i), label=_class_name(int(c), names))
                for i, c in enumerate(classes)
            ]
            ax.legend(
                handles=handles,
                title="class" if names else "label",
                fontsize=7,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
            )
        else:
            shown = ax.scatter(x, y, c=labels, s=size, cmap="viridis")
            fig.colorbar(shown, ax=ax, label="label")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.11, right=0.84, bottom=0.11, top=0.95)
    return fig
