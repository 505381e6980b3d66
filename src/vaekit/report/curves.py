"""Loss curves from metrics.jsonl records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaekit.files import atomic_write


def save_curves(history: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Plot train (and validation) -ELBO per epoch to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot(epochs, [r["train"]["loss"] for r in history], "o-", label="train")
    if history and "val" in history[0]:
        ax.plot(epochs, [r["val"]["loss"] for r in history], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("-ELBO (nats per example)")
    ax.set_title(title or "training curves")
    ax.grid(alpha=0.3)
    ax.legend()
    if len(epochs) < 15:
        ax.set_xticks(epochs)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    plt.close(fig)
