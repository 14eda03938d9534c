"""Small HTML building blocks for notebook display (``_repr_html_``). Formats; computes nothing.

Everything that came from data is escaped with :func:`esc`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from salesmining._log import EventLog
    from salesmining._quality import IngestReport

__all__ = ["card", "esc", "event_log_html", "ingest_report_html", "table"]

_STYLE = (
    "font-family:system-ui,-apple-system,'Segoe UI','Noto Sans','Noto Sans CJK SC',sans-serif;"
    "font-size:13px;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;max-width:900px"
)


def esc(value: object) -> str:
    """HTML-escape anything (quotes included)."""
    return html.escape(str(value), quote=True)


def fmt_int(v: int) -> str:
    return f"{v:,}"


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
    return f"<div style=\"{_STYLE}\">{head}{dl}{''.join(sections)}</div>"


def event_log_html(log: EventLog) -> str:
    tr = log.time_range
    facts: list[tuple[str, object]] = [
        ("cases", fmt_int(log.n_cases)),
        ("events", fmt_int(log.n_events)),
        ("activities", fmt_int(len(log.activities))),
        ("from", f"{tr[0]:%Y-%m-%d %H:%M}" if tr else "–"),
        ("to", f"{tr[1]:%Y-%m-%d %H:%M}" if tr else "–"),
    ]
    q = log.quality
    facts.append(("rows rejected", f"{q.rows_rejected:,} of {q.rows_read:,}"))
    outcomes = log.cases["outcome"].value_counts(dropna=False)
    oc = ", ".join(f"{k if isinstance(k, str) else 'unknown'}: {v:,}" for k, v in outcomes.items())
    acts = table(
        ["activity", "events"],
        [(a, f"{c:,}") for a, c in log._events["concept:name"].value_counts().items()],
        max_rows=8,
    )
    extra = f"<div style='margin:6px 0;color:#57606a'>outcomes — {esc(oc)}</div>"
    warns = ""
    if q.warnings:
        warns = (
            "<div style='margin-top:6px'>"
            + "".join(f"<div>⚠ {esc(w.code)}: {esc(w.message)} ({w.count:,})</div>" for w in q.warnings[:5])
            + "</div>"
        )
    hist = f"<div style='color:#57606a'>filters: {esc(' | '.join(log.history))}</div>" if log.history else ""
    return card(f"EventLog {log.name or ''}".strip(), facts, extra, acts, warns, hist)


def ingest_report_html(rep: IngestReport) -> str:
    facts = [
        ("rows read", fmt_int(rep.rows_read)),
        ("kept", fmt_int(rep.rows_kept)),
        ("rejected", fmt_int(rep.rows_rejected)),
        ("encoding", rep.encoding or "–"),
    ]
    counts = rep.counts()
    counts = counts[counts["rows"] > 0]
    reasons = table(["reason", "rows", "meaning"], counts.itertuples(index=False)) if len(counts) else ""
    warns = (
        table(["warning", "count", "message"], [(w.code, f"{w.count:,}", w.message) for w in rep.warnings])
        if rep.warnings
        else ""
    )
    return card(f"Ingest report — {rep.source}", facts, reasons, warns)
