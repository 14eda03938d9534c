"""Small HTML building blocks for notebook display (``_repr_html_``): escaping, tables, cards.

Everything that came from data is escaped with :func:`esc`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

__all__ = ["card", "esc", "table"]

_STYLE = (
    "font-family:system-ui,-apple-system,'Segoe UI','Noto Sans','Noto Sans CJK SC',sans-serif;"
    "font-size:13px;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;max-width:900px"
)


def esc(value: object) -> str:
    """HTML-escape anything (quotes included)."""
    return html.escape(str(value), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, max_rows: int = 10) -> str:
    """A compact HTML table; cells are escaped."""
    body = []
    rows_l = list(rows)
    for r in rows_l[:max_rows]:
        body.append("<tr>" + "".join(f"<td style='padding:2px 8px'>{esc(c)}</td>" for c in r) + "</tr>")
    more = (
        f"<tr><td colspan='{len(headers)}'>… {len(rows_l) - max_rows:,} more</td></tr>"
        if len(rows_l) > max_rows
        else ""
    )
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{esc(h)}</th>" for h in headers)
    return (
        f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}{more}</tbody></table>"
    )


def card(title: str, facts: Sequence[tuple[str, object]], *sections: str) -> str:
    """A summary card: a title, key facts as a definition list, then pre-built HTML sections."""
    dl = "".join(
        f"<div style='display:inline-block;margin:0 18px 6px 0'><div style='color:#57606a'>{esc(k)}</div>"
        f"<div style='font-size:15px;font-weight:600'>{esc(v)}</div></div>"
        for k, v in facts
    )
    head = f"<div style='font-weight:600;margin-bottom:6px'>{esc(title)}</div>"
    return f'<div style="{_STYLE}">{head}{dl}{"".join(sections)}</div>'
