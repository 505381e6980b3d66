"""A run's short HTML summary for a notebook (`Model._repr_html_`, `Run._repr_html_`): the
model card's facts (vaekit.report.card) as a few tables."""

from __future__ import annotations

from vaekit.report.card import CardFacts, configuration, data_name, figures_of, run_data
from vaekit.report.html import escape
from vaekit.report.page import model_line


def summary_html(facts: CardFacts, samples: str | None = None) -> str:
    """A short HTML summary for a notebook (`_repr_html_`): the model line, the data, the
    test figures and `samples` (HTML of a few samples, the kind's compare figure). Every
    string from the run is escaped."""
    data = run_data(facts)
    rows = [("data", data_name(facts)), ("data sha256", str(data.get("sha256", "?"))[:16] + "…")]
    rows += configuration(facts)[1:]
    config = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    figures = "".join(
        f"<tr><th>{escape(f.name)}</th><td>{escape(f.shown())}</td><td>{escape(f.what)}</td></tr>"
        for f in figures_of(facts)
    )
    parts = [
        f"<div><strong>{escape(facts.name)}</strong>: {escape(model_line(facts.config))}",
        f"<table><tbody>{config}</tbody></table>",
        f"<table><tbody>{figures}</tbody></table>" if figures else "<p>No test figures.</p>",
        samples or "",
        "</div>",
    ]
    return "".join(parts)
