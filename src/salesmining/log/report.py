"""The data-quality page of an event log: what it holds and how every input row was accounted for.

Reach it from the objects: :meth:`salesmining.EventLog.quality_html` /
:meth:`~salesmining.EventLog.write_quality_html` (the whole page) or
:meth:`salesmining.IngestReport.html` (the row accounting alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from salesmining.core import formatting as _fmt
from salesmining.log.quality import IngestReport, quality_context
from salesmining.present.report import render_template

__all__ = ["LogView", "quality_report_html"]


class LogView(Protocol):
    """The parts of an :class:`~salesmining.EventLog` the page shows (typed here so no import circle exists)."""

    @property
    def name(self) -> str | None: ...
    @property
    def n_cases(self) -> int: ...
    @property
    def n_events(self) -> int: ...
    @property
    def activities(self) -> tuple[str, ...]: ...
    @property
    def time_range(self) -> tuple[pd.Timestamp, pd.Timestamp] | None: ...
    @property
    def cases(self) -> pd.DataFrame: ...
    @property
    def quality(self) -> IngestReport: ...
    @property
    def meta(self) -> Mapping[str, Any]: ...
    @property
    def history(self) -> tuple[str, ...]: ...
    def to_frame(self) -> pd.DataFrame: ...


def quality_report_html(log: LogView, *, title: str | None = None) -> str:
    """A self-contained HTML page: what the log holds and how every input row was accounted for."""
    q = log.quality
    tr = log.time_range
    ev = log.to_frame()
    acts = ev["concept:name"].value_counts()
    act_cases = ev.groupby("concept:name")["case:concept:name"].nunique()
    cases = log.cases
    outcomes = cases["outcome"].fillna("unknown").value_counts()
    return render_template(
        "quality.html.j2",
        **quality_context(q),
        title=title or f"Data quality — {log.name or 'event log'}",
        facts=[
            ("cases", _fmt.count(log.n_cases)),
            ("events", _fmt.count(log.n_events)),
            ("activities", _fmt.count(len(log.activities))),
            ("from", f"{tr[0]:%Y-%m-%d}" if tr else _fmt.MISSING),
            ("to", f"{tr[1]:%Y-%m-%d}" if tr else _fmt.MISSING),
            ("rows read", _fmt.count(q.rows_read)),
            ("rows kept", _fmt.count(q.rows_kept)),
            ("rows rejected", _fmt.count(q.rows_rejected)),
        ],
        activities=[(a, int(c), int(act_cases.get(a, 0))) for a, c in acts.items()],
        outcomes=[(str(k), int(v)) for k, v in outcomes.items()],
        case_columns=[c for c in cases.columns if c not in ("case:concept:name",)],
        history=log.history,
        meta=log.meta,
    )
