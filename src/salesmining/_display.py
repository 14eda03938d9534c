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
    return f'<div style="{_STYLE}">{head}{dl}{"".join(sections)}</div>'


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


def _pct(x: float) -> str:
    return "–" if x != x else f"{x:+.0%}" if abs(x) < 10 else f"{x:+.0f}"


def findings_html(f: object) -> str:
    """Notebook card of a :class:`~salesmining.Findings` (top 12 rows)."""
    frame = f.to_frame()  # type: ignore[attr-defined]
    rows = [
        (
            r["rank"],
            r["severity"],
            r["kind"],
            r["where"],
            f"{r['cases']:,}",
            f"{r['share']:.1%}",
            f"{r['time_lost_hours']:,.0f}",
            _pct(r["win_rate_effect"]),
            ", ".join(r["example_cases"][:3]),
        )
        for r in frame.to_dict("records")
    ]
    facts = [(k, f"{int((frame['severity'] == k).sum())}") for k in ("high", "medium", "low")]
    facts.insert(0, ("cases", f"{f.n_cases:,}"))  # type: ignore[attr-defined]
    body = table(
        ["#", "severity", "kind", "where", "cases", "share", "hours lost", "win rate Δ", "examples"], rows, max_rows=12
    )
    warn = "".join(f"<div>⚠ {esc(w)}</div>" for w in f.warnings)  # type: ignore[attr-defined]
    return card("Findings", facts, body, warn)


def kpis_html(k: object) -> str:
    """Notebook card of :class:`~salesmining.KPIs`."""
    v = k.as_dict()  # type: ignore[attr-defined]

    def fmt(name: str, val: float) -> str:
        if val != val:
            return "–"
        if name.endswith("_rate"):
            return f"{val:.1%}"
        if name in ("cases", "closed", "won", "lost", "open"):
            return f"{val:,.0f}"
        return f"{val:,.1f}"

    facts = [(name.replace("_", " "), fmt(name, val)) for name, val in v.items()]
    funnel = k.funnel  # type: ignore[attr-defined]
    rows = []
    for r in funnel.to_dict("records"):
        conv = "–" if r["conversion"] != r["conversion"] else f"{r['conversion']:.0%}"
        rows.append((r["stage"], f"{r['reached']:,}", f"{r['share_of_cases']:.0%}", conv))
    fun = table(["stage", "reached", "share", "conversion"], rows)
    return card("KPIs", facts, fun)
