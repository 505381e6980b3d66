"""Self-contained HTML pages: every picture is embedded as a data: URI and the style is inline,
so a page is one file that opens anywhere, offline, and loads nothing from a network."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5rem; color: #1d232a; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d8dde3; padding-bottom: 0.2rem;
     margin-top: 2rem; }
.sub { color: #5b6673; margin-top: 0; }
nav a { margin-right: 0.8rem; font-size: 0.9rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
th, td { border: 1px solid #d8dde3; padding: 0.25rem 0.6rem; text-align: left;
         vertical-align: top; overflow-wrap: anywhere; }
th { background: #f1f4f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img.pixels { image-rendering: pixelated; max-width: 100%; }
img.plot { max-width: 100%; }
.missing { color: #8a5a00; background: #fff7e6; border-left: 3px solid #e0a100;
           padding: 0.4rem 0.8rem; }
.caption { color: #5b6673; font-size: 0.85rem; }
.runs, .columns { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.runs figure { margin: 0; }
"""


@dataclass
class Section:
    """One part of a page: a title and its HTML, or, where it could not be made, the reason
    (shown in its place, so a reader knows why it is missing)."""

    title: str
    body: str = ""
    missing: str | None = None

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def image(uri: str, alt: str, pixels: bool = True) -> str:
    """An <img> of a data: URI; `pixels` keeps small images sharp when the browser enlarges
    them."""
    if not uri.startswith("data:image/png;base64,"):
        raise ValueError("a report embeds its images as PNG data: URIs")
    kind = "pixels" if pixels else "plot"
    return f'<img class="{kind}" src="{uri}" alt="{escape(alt)}">'


def caption(text: str) -> str:
    return f'<p class="caption">{escape(text)}</p>'


def figure(body: str, name: str) -> str:
    """A <figure> of `body` (HTML) captioned with `name`: one run's part on a compare page."""
    return f"<figure>{body}<figcaption>{escape(name)}</figcaption></figure>"


def number(value: Any, digits: int = 2) -> str:
    """A table cell's text for a number (or anything else)."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        # Below 1, four significant digits: an error of 0.01665 is not "0.02" (a table's
        # per-column RMSE, an MSE, an accuracy).
        return f"{value:,.{digits}f}" if abs(value) >= 1 or value == 0 else f"{value:.4g}"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An HTML table; numbers are right-aligned and formatted, the rest escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cls = ' class="num"' if numeric else ""
            cells.append(f"<td{cls}>{escape(number(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"section.key": value}; lists and other leaves shown as JSON."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            shown = json.dumps(value, ensure_ascii=False)  # ["ünïcode"], not ["\\u00fc..."]
            out[name] = value if isinstance(value, int | float | str) else shown
    return out


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole page: a title, a line under it, links to the sections, then each section
    (or the reason it is missing)."""
    nav = " ".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    parts = []
    for s in sections:
        body = f'<p class="missing">Not shown: {escape(s.missing)}</p>' if s.missing else s.body
        parts.append(f'<section id="{s.anchor}"><h2>{escape(s.title)}</h2>{body}</section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p><nav>{nav}</nav>'
        + "".join(parts)
        + "</body></html>\n"
    )
