"""HTML reports (Jinja2, autoescaping on). Reads results; computes nothing."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import jinja2

from salesmining._log import EventLog

__all__ = ["quality_report_html", "render_template"]

_ENV: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("salesmining", "templates"),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _ENV.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) else v
    return _ENV


def render_template(name: str, **context: Any) -> str:
    """Render a packaged template with autoescaping."""
    return _env().get_template(name).render(**context)


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


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text, creating parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p
