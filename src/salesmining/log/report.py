"""The data-quality page of an event log: what it holds and how every input row was accounted for."""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

from salesmining.present.report import render_template

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = ["quality_report_html"]


def quality_report_html(log: EventLog, *, title: str | None = None) -> str:
    """A self-contained HTML page: what the log holds and how every input row was accounted for."""
    q = log.quality
    tr = log.time_range
    counts = q.counts()
    ev = log._events
    acts = ev["concept:name"].value_counts()
    act_cases = ev.groupby("concept:name")["case:concept:name"].nunique()
    outcomes = log.cases["outcome"].fillna("unknown").value_counts()
    rej = q.rejections
    return render_template(
        "quality.html.j2",
        title=title or f"Data quality — {log.name or 'event log'}",
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        log=log,
        facts=[
            ("cases", f"{log.n_cases:,}"),
            ("events", f"{log.n_events:,}"),
            ("activities", f"{len(log.activities):,}"),
            ("from", f"{tr[0]:%Y-%m-%d}" if tr else "–"),
            ("to", f"{tr[1]:%Y-%m-%d}" if tr else "–"),
            ("rows read", f"{q.rows_read:,}"),
            ("rows kept", f"{q.rows_kept:,}"),
            ("rows rejected", f"{q.rows_rejected:,}"),
        ],
        report=q,
        reasons=list(counts.itertuples(index=False)),
        rejections=list(rej.head(200).itertuples(index=False)),
        n_rejections=len(rej),
        warnings=q.warnings,
        activities=[(a, int(c), int(act_cases.get(a, 0))) for a, c in acts.items()],
        outcomes=[(str(k), int(v)) for k, v in outcomes.items()],
        case_columns=[c for c in log.cases.columns if c not in ("case:concept:name",)],
        notes=q.notes,
        history=log.history,
        meta=log.meta,
    )
