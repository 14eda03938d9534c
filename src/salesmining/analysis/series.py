"""Tidy data behind the charts: stage dwell times, transition segments, work in progress.

Analysis, not drawing: each function returns a pandas DataFrame that :mod:`salesmining.present.charts`
plots as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesmining.analysis import visits as _visits
from salesmining.core.schema import ACTIVITY, CASE, TIMESTAMP

if TYPE_CHECKING:
    from salesmining.analysis.stages import StageModel
    from salesmining.log.eventlog import EventLog

__all__ = ["dotted_events", "stage_dwell", "transition_segments", "work_in_progress"]


def _stage_visits(log: EventLog, stages: StageModel, backend: str) -> pd.DataFrame:
    """The stage visits of the log's default gap table, computed once per log, model and backend
    (the log is immutable; the dwell and work-in-progress series share them). Read-only: callers
    filter, never assign."""
    cache: dict[tuple[object, ...], pd.DataFrame] = log.__dict__.setdefault("_visits_cache", {})
    key = ("series", stages, backend)
    if key not in cache:
        cache[key] = _visits.stage_visits(_visits.event_gaps(log, stages, backend=backend), log)
    return cache[key]


def stage_dwell(log: EventLog, stages: StageModel, *, backend: str = "polars") -> pd.DataFrame:
    """One row per completed stage visit: ``case_id``, ``stage``, ``order``, ``dwell_hours``,
    ``net_hours`` (without approval/handoff/repeat waits), ``rework`` (visit behind the frontier)."""
    v = _stage_visits(log, stages, backend)
    v = v[(v["role"] == "stage") & v["dwell_s"].notna()]
    return pd.DataFrame(
        {
            "case_id": v["case"].astype("str").to_numpy(),
            "stage": v["stage"].astype("str").to_numpy(),
            "order": v["order"].astype("int64").to_numpy(),
            "dwell_hours": (v["dwell_s"] / 3600).to_numpy(),
            "net_hours": (v["net_s"] / 3600).to_numpy(),
            "rework": v["behind"].astype(bool).to_numpy(),
        }
    )


def transition_segments(
    log: EventLog, pairs: list[tuple[str, str]], *, max_per_pair: int | None = 5000
) -> pd.DataFrame:
    """Directly-follows occurrences of the given ``(source, target)`` pairs, for a performance
    spectrum: ``pair``, ``case_id``, ``start``, ``end`` (UTC timestamps), ``hours``.

    With ``max_per_pair``, a pair with more occurrences keeps that many, evenly spread over time
    (a spectrum shows the pattern; the attrs ``total`` per pair say how many there were)."""
    ev = log._events
    case = ev[CASE].to_numpy()
    same = case[:-1] == case[1:]
    act = ev[ACTIVITY].to_numpy()
    src, tgt = act[:-1], act[1:]
    us = ev[TIMESTAMP].astype("int64").to_numpy()  # microseconds since the epoch (datetime64[us, UTC])
    t0, t1 = us[:-1], us[1:]
    frames = []
    totals: dict[str, int] = {}
    for a, b in pairs:
        idx = np.flatnonzero(same & (src == a) & (tgt == b))
        idx = idx[np.argsort(t0[idx], kind="stable")]
        label = f"{a} → {b}"
        totals[label] = len(idx)
        if max_per_pair is not None and len(idx) > max_per_pair:
            idx = idx[np.linspace(0, len(idx) - 1, max_per_pair).astype(int)]
        frames.append(pd.DataFrame({"pair": label, "case_id": case[idx], "start_us": t0[idx], "end_us": t1[idx]}))
    cols = {"pair": [], "case_id": [], "start_us": np.zeros(0, "int64"), "end_us": np.zeros(0, "int64")}
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(cols)
    out["start"] = pd.to_datetime(out["start_us"].to_numpy().astype("int64"), unit="us", utc=True)
    out["end"] = pd.to_datetime(out["end_us"].to_numpy().astype("int64"), unit="us", utc=True)
    out["hours"] = (out["end_us"] - out["start_us"]) / 3.6e9
    out = out.drop(columns=["start_us", "end_us"])
    out.attrs["total"] = totals
    return out


def work_in_progress(log: EventLog, stages: StageModel, *, freq: str = "W", backend: str = "polars") -> pd.DataFrame:
    """Cases in each stage at the end of every period: ``period`` (UTC), ``stage``, ``cases``.

    A case is *in* a stage from its entry until the next stage or outcome entry (open cases stay
    in their last stage until the end of the log)."""
    v = _stage_visits(log, stages, backend)
    v = v[v["role"] == "stage"]
    lo, hi = log._events[TIMESTAMP].min(), log._events[TIMESTAMP].max()
    end_us = int(hi.value // 1000)
    # entries and exits as int64 µs (an exit never recorded: just after the log's last event)
    start = v["entry_us"].to_numpy(dtype="int64")
    stop = v["exit_us"].fillna(end_us + 1).to_numpy(dtype="int64")
    grid = pd.date_range(lo.floor("D"), hi.ceil("D"), freq=freq, tz="UTC")
    if len(grid) == 0:
        grid = pd.DatetimeIndex([hi])
    g = grid.as_unit("us").asi8  # the period ends, µs (day boundaries or the last event: exact)
    rows = []
    for stage in stages.stages:
        m = (v["stage"] == stage).to_numpy()
        entered = np.searchsorted(np.sort(start[m]), g, side="right")
        left = np.searchsorted(np.sort(stop[m]), g, side="right")
        rows.append(pd.DataFrame({"period": grid, "stage": stage, "cases": (entered - left).astype("int64")}))
    return pd.concat(rows, ignore_index=True)


def dotted_events(log: EventLog, *, max_cases: int = 2000) -> pd.DataFrame:
    """Events for a dotted chart: ``case_rank`` (cases ordered by start), ``timestamp``,
    ``activity``; at most ``max_cases`` cases, evenly spread over the log."""
    ev = log._events
    first = ev.groupby(CASE, sort=False)[TIMESTAMP].min().sort_values(kind="stable")
    ids = first.index.to_numpy()
    if len(ids) > max_cases:
        ids = ids[np.linspace(0, len(ids) - 1, max_cases).astype(int)]
    rank = pd.Series(np.arange(len(ids)), index=ids)
    sel = ev[ev[CASE].isin(ids)]
    return pd.DataFrame(
        {
            "case_rank": sel[CASE].map(rank).to_numpy(),
            "timestamp": sel[TIMESTAMP].to_numpy(),
            "activity": sel[ACTIVITY].astype("str").to_numpy(),
        }
    )
