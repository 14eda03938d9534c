"""The equal follow-up window (the *horizon*) shared by :func:`~salesmining.compare` and
:func:`~salesmining.drift`, and the per-case metrics both judge.

A case counts only when its log observed it for at least the horizon after it started, and its
outcome is read *as of* that horizon — so cases that have had less time to close are not called
faster or better because only their quick deals have closed yet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from salesmining.analysis.conform import Conformance
from salesmining.analysis.stages import StageModel
from salesmining.core.schema import CASE, TIMESTAMP
from salesmining.core.vocabulary import PROCESS_LEVEL_RULES
from salesmining.findings.detect import Findings
from salesmining.log.eventlog import EventLog

__all__ = ["SHARE_KINDS", "DiagnosisParts", "horizon_days", "per_case", "within_horizon"]


class DiagnosisParts(Protocol):
    """What the per-case metrics read from a :class:`~salesmining.Diagnosis`."""

    @property
    def log(self) -> EventLog: ...
    @property
    def stages(self) -> StageModel: ...
    @property
    def conformance(self) -> Conformance: ...
    @property
    def findings(self) -> Findings: ...
    @property
    def series(self) -> Mapping[str, pd.DataFrame]: ...


#: Finding kinds whose share of affected cases is compared.
SHARE_KINDS = ("loop", "redundant_approval", "slow_response", "long_wait", "handoff_delay", "skipped_stage")


def per_case(d: DiagnosisParts) -> pd.DataFrame:
    """Per-case metrics: one row per case, with its start and how long its log followed it."""
    conf = d.conformance.to_frame()
    ev = d.log._events
    start = ev.groupby(CASE)[TIMESTAMP].min()
    end = ev[TIMESTAMP].max()
    out = pd.DataFrame(
        {
            "case_id": conf["case_id"],
            "closed": conf["outcome"].isin(["won", "lost"]),
            "won": (conf["outcome"] == "won").astype(float),
            "cycle_days": conf["throughput_s"] / 86400,
            "rework": ((conf["backtracks"].map(len) > 0) | (conf["repeats"].map(len) > 0)).astype(float),
            "conforms": conf["conforms"].astype(float),
            "skipped_any": (conf["skipped"].map(len) > 0).astype(float),
        }
    )
    started = out["case_id"].map(start)
    out["follow_up_days"] = ((end - started).dt.total_seconds() / 86400).astype("float64")
    dwell = d.series["stage_dwell"]
    first = dwell[dwell["stage"] == d.stages.stages[0]].drop_duplicates("case_id").set_index("case_id")["dwell_hours"]
    out["response_hours"] = out["case_id"].map(first)
    f = d.findings.to_frame()
    # the cases behind each kind's findings (``Findings.cases_for`` for every kind in one pass); process-level
    # rules (approval design, stalled open deals) are not events that happened to a case
    key = ["kind", "rule", "where"]
    ev = d.findings.evidence
    listed = f.loc[~f["rule"].isin(list(PROCESS_LEVEL_RULES)), key]
    hit = ev.loc[pd.MultiIndex.from_frame(ev[key]).isin(pd.MultiIndex.from_frame(listed)), ["kind", "case_id"]]
    # each hit's case as a row of ``out`` (one row per case; -1: not a case of the table)
    at = pd.Index(out["case_id"]).get_indexer(hit["case_id"].astype(str).to_numpy(dtype=object))
    for kind in SHARE_KINDS:
        rows = at[(hit["kind"] == kind).to_numpy()]
        flag = np.zeros(len(out), dtype=bool)
        flag[rows[rows >= 0]] = True
        out[f"share_{kind}"] = flag.astype(float)
    return out


def horizon_days(pa: pd.DataFrame, pb: pd.DataFrame, given: Any = None) -> float:
    """The equal follow-up window (days) both sides are compared over.

    ``given`` (a duration such as ``"90d"``) when the caller sets one; else the shorter of the 90th
    percentile of the closed cases' cycle time (both sides pooled) and each side's median follow-up
    — so at least half of each side's cases are observed for the whole window.
    """
    if given is not None:
        return float(pd.Timedelta(given).total_seconds()) / 86400
    closed = pd.concat([pa.loc[pa["closed"], "cycle_days"], pb.loc[pb["closed"], "cycle_days"]]).dropna()
    cands = [float(pa["follow_up_days"].median()), float(pb["follow_up_days"].median())]
    if len(closed):
        cands.append(float(np.quantile(closed.to_numpy(dtype=float), 0.9)))
    h = min(c for c in cands if not math.isnan(c)) if any(not math.isnan(c) for c in cands) else math.nan
    return h


def within_horizon(p: pd.DataFrame, h: float) -> pd.DataFrame:
    """The cases followed for at least ``h`` days, with their outcome as of ``h`` days after their start."""
    q = p[p["follow_up_days"] >= h].copy() if not math.isnan(h) else p.copy()
    closed_h = q["closed"] & (q["cycle_days"] <= h)
    q["closed_h"] = closed_h.astype(float)
    q["won_h"] = q["won"].where(closed_h)
    q["close_days_h"] = q["cycle_days"].where(closed_h, h)
    q["conforms"] = q["conforms"].where(closed_h)
    return q
