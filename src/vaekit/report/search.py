"""The page of a model search (`vaekit tune`): SEARCH/search.html, one self-contained file.

Its parts: the trials ranked by validation -ELBO (with their state, time and parameters), the
trials over the search's time, the parameters' importance (as Optuna's evaluator weighs it,
where it can), and the best run's samples. The api (vaekit.api.tune) reads the study and
hands this module plain rows; nothing here knows Optuna.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vaekit.report.html import Section, caption, escape, image, render_page, table
from vaekit.report.images import data_uri

TRIALS_HEADER = (
    "rank",
    "trial",
    "state",
    "val -ELBO",
    "epochs",
    "time (s)",
    "parameters",
    "run",
    "note",
)
STATE_COLOURS = {
    "complete": "#1f77b4",
    "pruned": "#ff7f0e",
    "failed": "#d62728",
    "killed": "#7f7f7f",
}


@dataclass
class TrialRow:
    """One trial as the table and the page show it.

    number: Optuna's trial number. state: complete, pruned, failed or killed. value: its
    validation -ELBO in nats per example (a pruned trial's: at its last epoch); None where it
    has none. epochs, time_s: what it trained and its wall time. params: the drawn options as
    their flags show them. rundir: its run directory's name inside the search folder.
    started_s, ended_s: seconds from the search's first trial. note: why it failed, or
    which killed trial it retries.
    """

    number: int
    state: str
    value: float | None
    epochs: int | None = None
    time_s: float | None = None
    params: dict[str, str] = field(default_factory=dict)
    rundir: str | None = None
    started_s: float | None = None
    ended_s: float | None = None
    note: str = ""


def table_rows(rows: Sequence[TrialRow]) -> list[list[Any]]:
    """The trials table's rows (TRIALS_HEADER), in the order given (ranked)."""
    return [
        [
            rank,
            r.number,
            r.state,
            r.value,
            r.epochs,
            r.time_s,
            " ".join(f"{k}={v}" for k, v in r.params.items()),
            r.rundir or "-",
            r.note,
        ]
        for rank, r in enumerate(rows, 1)
    ]


def trials_over_time_png(rows: Sequence[TrialRow]) -> bytes | None:
    """Each scored trial's validation -ELBO at the moment it ended, coloured by its state,
    and the best so far as a step line; None where no trial has a score."""
    scored = sorted(
        (r for r in rows if r.value is not None and r.ended_s is not None),
        key=lambda r: r.ended_s or 0.0,
    )
    if not scored:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.6), dpi=100)
    ax = fig.add_axes((0.12, 0.15, 0.84, 0.78))
    for state, colour in STATE_COLOURS.items():
        points = [r for r in scored if r.state == state]
        if points:
            ax.scatter(
                [r.ended_s for r in points], [r.value for r in points], c=colour, label=state, s=24
            )
    best, line = float("inf"), []
    for r in scored:
        if r.state == "complete":
            best = min(best, r.value)  # type: ignore[type-var]
        line.append(best if best < float("inf") else None)
    ax.step(
        [r.ended_s for r in scored],
        line,
        where="post",
        color="#2ca02c",
        label="best complete so far",
    )
    ax.set_xlabel("seconds into the search")
    ax.set_ylabel("validation -ELBO (nats)")
    ax.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def importance_rows(importances: dict[str, float]) -> list[list[Any]]:
    return [[name, weight] for name, weight in sorted(importances.items(), key=lambda x: -x[1])]


def search_page(
    rows: Sequence[TrialRow],
    importances: dict[str, float] | None,
    no_importance: str | None,
    best_samples: bytes | None,
    best: str | None,
    space: Sequence[str],
    stopped_by: str,
) -> str:
    """The whole page. `importances`: each parameter's share (Optuna's evaluator), or None
    with `no_importance` saying why; `best_samples`: the best run's samples.png; `best`: its
    folder's name; `space`: the search space, a line per option; `stopped_by`: what ended
    the search ("budget" or "trials")."""
    counts = {s: sum(r.state == s for r in rows) for s in STATE_COLOURS}
    subtitle = (
        f"{len(rows)} trials: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f"; ended by its {'time budget' if stopped_by == 'budget' else 'trial count'}"
        + (f"; best run: {best}" if best else "")
    )
    sections = [
        Section(
            "Trials",
            caption(
                "Ranked by validation -ELBO (nats per example; a pruned trial's at its last epoch)."
            )
            + table(TRIALS_HEADER, table_rows(rows)),
        ),
    ]
    plot = trials_over_time_png(rows)
    sections.append(
        Section("Trials over time", image(data_uri(plot), "trials over time", pixels=False))
        if plot is not None
        else Section("Trials over time", missing="no trial has a validation -ELBO")
    )
    if importances:
        sections.append(
            Section(
                "Parameter importance",
                caption(
                    "Each parameter's share of the variation in validation -ELBO among the "
                    "complete trials (Optuna's default evaluator, fANOVA)."
                )
                + table(("parameter", "importance"), importance_rows(importances)),
            )
        )
    else:
        why = no_importance or "too few complete trials"
        sections.append(Section("Parameter importance", missing=why))
    if best_samples is not None:
        sections.append(
            Section(
                "Best run",
                caption(f"{best}: samples from the prior")
                + image(data_uri(best_samples), f"{best} samples"),
            )
        )
    else:
        why = "no best run" if best is None else f"{best} has no samples.png (its kind draws none)"
        sections.append(Section("Best run", missing=why))
    sections.append(Section("Search space", "<pre>" + escape("\n".join(space)) + "</pre>"))
    return render_page("vaekit tune", subtitle, sections)
