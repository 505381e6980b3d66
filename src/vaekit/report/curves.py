"""Loss curves from metrics.jsonl records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaekit.files import atomic_write
from vaekit.report.plots import plain_text


@plain_text
def save_curves(history: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Plot train (and validation) -ELBO per epoch to a PNG, and -IWAE_K beside it for a run
    trained on the importance-weighted bound (records of schema 1 runs hold only "loss",
    which was -ELBO or, with --iw-train, -IWAE_K)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [r["epoch"] for r in history]
    k = history[0]["train"].get("iwae_k") if history else None
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    # Train: the mean over the epoch's steps while the weights moved; validation: after it.
    shown = (("train", "o", "train (mean over the epoch)"), ("val", "s", "validation (after it)"))
    for split, marker, label in shown:
        if not history or split not in history[0]:
            continue
        neg_elbo = [r[split].get("neg_elbo", r[split]["loss"]) for r in history]
        ax.plot(epochs, neg_elbo, f"{marker}-", label=f"{label} -ELBO")
        if k:
            iwae = [r[split]["neg_iwae"] for r in history]
            ax.plot(epochs, iwae, f"{marker}--", label=f"{label} -IWAE (K={k}), minimized")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per example (lower is better)")
    ax.set_title(title or "training curves")
    ax.grid(alpha=0.3)
    if k:  # four long entries: below the axes, where they cover no curve
        fig.set_size_inches(6, 5.2)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize=8)
    else:
        ax.legend()
    if len(epochs) < 15:
        ax.set_xticks(epochs)
    fig.tight_layout()
    # the epochs drawn, in the PNG's text: what tells a wrap-up cut short after a resume
    # (pictures of fewer epochs than metrics.jsonl holds: vaekit.api.run.wrapup_cut_short)
    drawn = {"vaekit-epochs": str(len(history))}
    atomic_write(path, lambda p: fig.savefig(p, format="png", metadata=drawn))
    plt.close(fig)
