"""Tidy data behind the charts: stage dwell times, transition segments, work in progress.

Analysis, not drawing: each function returns a pandas DataFrame that :mod:`salesmining.present.charts`
plots as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesmining.analysis import visits as _visits
from salesmining.core.schema import ACTIVITY, TIMESTAMP

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
    cols = ["case", "stage", "order", "dwell_s", "net_s", "behind"]
    v = v.loc[((v["role"] == "stage") & v["dwell_s"].notna()).to_numpy(), cols]
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
    coded = log._coded  # events in the log's order: integer codes, int64 µs
    case = coded.case
    same = case[:-1] == case[1:]
    src, tgt = coded.activity[:-1], coded.activity[1:]
    t0, t1 = coded.ts_us[:-1], coded.ts_us[1:]
    code_of = {str(name): k for k, name in enumerate(coded.activity_names)}
    frames = []
    totals: dict[str, int] = {}
    for a, b in pairs:
        if a not in code_of or b not in code_of:
            idx = np.zeros(0, dtype=np.intp)
        else:
            idx = np.flatnonzero(same & (src == code_of[a]) & (tgt == code_of[b]))
        idx = idx[np.argsort(t0[idx], kind="stable")]
        label = f"{a} → {b}"
        totals[label] = len(idx)
        if max_per_pair is not None and len(idx) > max_per_pair:
            idx = idx[np.linspace(0, len(idx) - 1, max_per_pair).astype(int)]
        frames.append(
            pd.DataFrame(
                {"pair": label, "case_id": coded.case_names[case[idx]], "start_us": t0[idx], "end_us": t1[idx]}
            )
        )
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
    v = v.loc[(v["role"] == "stage").to_numpy(), ["stage", "entry_us", "exit_us"]]
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
    coded = log._coded  # events in the log's order, so a case's first event is its start
    ids = np.argsort(coded.ts_us[coded.bounds[:-1]], kind="stable")  # case codes by start (ties: log order)
    if len(ids) > max_cases:
        ids = ids[np.linspace(0, len(ids) - 1, max_cases).astype(int)]
    rank = np.full(coded.n_cases, -1, dtype=np.int64)
    rank[ids] = np.arange(len(ids))
    of_event = rank[coded.case]
    sel = of_event >= 0
    ev = log._events
    return pd.DataFrame(
        {
            "case_rank": of_event[sel],
            "timestamp": ev[TIMESTAMP].array[sel],
            "activity": ev[ACTIVITY].array[sel].astype("str"),
        }
    )
