"""Stage visits and event gaps: the timing facts every finding is built on.

Written once against narwhals (polars by default; the same code runs on pandas and DuckDB).
Every event gets the *gap* since the previous event of its case, and every gap is attributed
to exactly one cause, so no time is counted twice across findings:

* ``repeat``   — an approval directly repeating the same approval (no event in between, the
  earlier one not rejected): a redundant approval;
* ``approval`` — the wait for an approval step (from the previous event to the decision);
* ``handoff``  — a non-approval event by a different owner than the case's previous
  non-approval event (the case changed hands);
* ``stage``    — everything else: time spent in the stage.

A *stage visit* starts at a stage (or outcome) event and lasts until the next one of the same
case. Its gaps are the gaps of the events that follow its entry up to and including the next
stage entry, so the gaps of a visit add up to its dwell time. A visit entered while the case had
already reached a later stage is *behind the frontier*: rework.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesmining.core.schema import ACTIVITY, APPROVAL_RESULT, CASE, LIFECYCLE, OUTCOME, RESOURCE, SOURCE_ROW
from salesmining.engine.aggregations import TS, event_table, to_native

if TYPE_CHECKING:
    from salesmining.analysis.stages import StageModel
    from salesmining.log.eventlog import EventLog

__all__ = ["GAP_KINDS", "activity_roles", "event_gaps", "stage_visits"]

GAP_KINDS = ("repeat", "approval", "handoff", "stage")
_ORDER = ["ts_us", SOURCE_ROW]


def activity_roles(model: StageModel, activities: Any) -> pd.DataFrame:
    """One row per activity: ``role`` (stage/outcome/approval/anywhere/other) and stage ``order``."""
    order = {s: i for i, s in enumerate(model.stages)}
    n = len(model.stages)
    rows = []
    for a in pd.unique(pd.Series(list(activities), dtype="object")):
        if a in order:
            rows.append((a, "stage", float(order[a])))
        elif a in model.won or a in model.lost:
            rows.append((a, "outcome", float(n)))
        elif a in model.approvals:
            rows.append((a, "approval", np.nan))
        elif a in model.anywhere:
            rows.append((a, "anywhere", np.nan))
        else:
            rows.append((a, "other", np.nan))
    return pd.DataFrame(rows, columns=["activity", "role", "order"])


def _prepare(log: EventLog, model: StageModel) -> pd.DataFrame:
    table = event_table(log)
    ev = log._events
    roles = activity_roles(model, log.activities).set_index("activity")
    role = table[ACTIVITY].map(roles["role"]).fillna("other").astype("str")
    table["role"] = role.to_numpy()
    table["order"] = table[ACTIVITY].map(roles["order"]).astype("float64").to_numpy()
    table["is_stage"] = role.isin(["stage", "outcome"]).astype("int64").to_numpy()
    is_approval = (role == "approval").to_numpy()
    table["is_approval"] = is_approval
    if RESOURCE in ev.columns:
        owner = ev[RESOURCE].astype("object").where(~is_approval & ev[RESOURCE].notna().to_numpy(), None)
        table["owner"] = pd.Series(owner.to_numpy(), dtype="str")
        table["actor"] = ev[RESOURCE].astype("str").to_numpy()
    else:
        table["owner"] = pd.Series([None] * len(table), dtype="str")
        table["actor"] = pd.Series([None] * len(table), dtype="str")
    if LIFECYCLE in ev.columns:
        table["lifecycle"] = ev[LIFECYCLE].astype("str").str.lower().to_numpy()
    else:
        table["lifecycle"] = pd.Series([None] * len(table), dtype="str")
    if APPROVAL_RESULT in ev.columns:
        table["result"] = ev[APPROVAL_RESULT].astype("str").to_numpy()
    else:
        table["result"] = pd.Series([None] * len(table), dtype="str")
    return table


def event_gaps(log: EventLog, model: StageModel, *, backend: str = "polars") -> pd.DataFrame:
    """Per event (sorted by case, time, source row): gap since the previous event, its cause,
    the visit it belongs to, owners and the stage frontier. Returned as pandas.

    Computed once per (log, stage model, engine): findings, KPIs and charts of one diagnosis share
    it. The log is immutable, so the result is kept on it; callers get a copy-on-write copy.
    """
    cache: dict[tuple[Any, str], pd.DataFrame] = log.__dict__.setdefault("_gaps_cache", {})
    key = (model, backend)
    if key not in cache:
        cache[key] = _event_gaps(log, model, backend=backend)
    return cache[key].copy(deep=False)


def _event_gaps(log: EventLog, model: StageModel, *, backend: str) -> pd.DataFrame:
    import narwhals as nw  # imported here: keeps `import salesmining` fast

    table = _prepare(log, model)
    lf = nw.from_native(to_native(table, backend))
    if isinstance(lf, nw.DataFrame):
        lf = lf.lazy()
    over: dict[str, Any] = {"order_by": _ORDER}
    lf = lf.with_columns(
        prev_ts=nw.col(TS).shift(1).over(CASE, **over),
        prev_act=nw.col(ACTIVITY).shift(1).over(CASE, **over),
        prev_result=nw.col("result").shift(1).over(CASE, **over),
        visit_no=nw.col("is_stage").cum_sum().over(CASE, **over),
        owner_ff=nw.col("owner").fill_null(strategy="forward").over(CASE, **over),
        frontier=nw.col("order").fill_null(-1.0).cum_max().over(CASE, **over),
        stage_order_ff=nw.col("order").fill_null(strategy="forward").over(CASE, **over),
        pos=nw.col("is_stage").cum_count().over(CASE, **over),
    ).with_columns(
        prev_owner=nw.col("owner_ff").shift(1).over(CASE, **over),
        gap_visit=nw.col("visit_no").shift(1).over(CASE, **over),
        frontier_before=nw.col("frontier").shift(1).over(CASE, **over),
        prev_stage_order=nw.col("stage_order_ff").shift(1).over(CASE, **over),
    )
    out = lf.sort([CASE, *_ORDER]).collect().to_pandas()
    gap = (out[TS] - out["prev_ts"]).astype("float64") / 1e6
    out["gap_s"] = gap.where(out["prev_ts"].notna())
    same_as_prev = out[ACTIVITY].astype("object") == out["prev_act"].astype("object")
    not_rejected = ~out["prev_result"].astype("object").isin(["rejected"])
    handoff = (
        ~out["is_approval"].astype(bool)
        & out["owner"].notna()
        & out["prev_owner"].notna()
        & (out["owner"].astype("object") != out["prev_owner"].astype("object"))
    )
    out["gap_kind"] = np.select(
        [
            out["prev_ts"].isna(),
            out["is_approval"].astype(bool) & same_as_prev & not_rejected,
            out["is_approval"].astype(bool),
            handoff,
        ],
        ["none", "repeat", "approval", "handoff"],
        default="stage",
    )
    for col in ("visit_no", "gap_visit"):
        out[col] = out[col].astype("float64")
    return out.drop(columns=["owner_ff", "stage_order_ff"])


def stage_visits(gaps: pd.DataFrame, log: EventLog) -> pd.DataFrame:
    """One row per stage visit: ``case``, ``visit_no``, ``stage``, ``role``, ``order``, ``entry_us``,
    ``exit_us`` (next stage entry, NA for the last visit), ``dwell_s``, seconds by gap kind,
    ``net_s`` (dwell less approval, repeat and handoff gaps), ``behind`` (rework visit),
    ``backward_from`` (the stage left by a backward move into this visit) and the case ``outcome``."""
    st = gaps[gaps["is_stage"] == 1]
    visits = pd.DataFrame(
        {
            "case": st[CASE].to_numpy(),
            "visit_no": st["visit_no"].to_numpy(),
            "stage": st[ACTIVITY].to_numpy(),
            "role": st["role"].to_numpy(),
            "order": st["order"].to_numpy(),
            "entry_us": st[TS].to_numpy(),
            "owner": st["owner"].to_numpy(),
            "frontier_before": st["frontier_before"].fillna(-1.0).to_numpy(),
            "prev_stage_order": st["prev_stage_order"].to_numpy(),
        }
    )
    same_next = visits["case"].shift(-1) == visits["case"]
    visits["exit_us"] = visits["entry_us"].shift(-1).where(same_next)
    visits["dwell_s"] = (visits["exit_us"] - visits["entry_us"]) / 1e6
    g = gaps[gaps["gap_visit"].notna() & (gaps["gap_visit"] >= 1)]
    sums = g.pivot_table(index=[CASE, "gap_visit"], columns="gap_kind", values="gap_s", aggfunc="sum", fill_value=0.0)
    sums = sums.reindex(columns=list(GAP_KINDS), fill_value=0.0)
    sums.columns = [f"{k}_s" for k in GAP_KINDS]
    sums.index = sums.index.set_names(["case", "visit_no"])
    visits = visits.merge(sums.reset_index(), on=["case", "visit_no"], how="left")
    for k in GAP_KINDS:
        col = f"{k}_s"
        # the last visit's trailing gaps (after the final stage entry) are not part of a dwell
        visits[col] = visits[col].fillna(0.0).where(visits["exit_us"].notna(), np.nan)
    visits["net_s"] = visits["dwell_s"] - visits["approval_s"] - visits["repeat_s"] - visits["handoff_s"]
    is_stage_visit = visits["role"] == "stage"
    visits["behind"] = is_stage_visit & (visits["order"] < visits["frontier_before"])
    prev_stage = visits["stage"].shift(1).where(visits["case"].shift(1) == visits["case"])
    back = is_stage_visit & (visits["order"] < visits["prev_stage_order"])
    visits["backward_from"] = prev_stage.where(back)
    visits["repeat_of_prev"] = is_stage_visit & (visits["order"] == visits["prev_stage_order"]) & prev_stage.notna()
    outcome = log.cases.set_index(CASE)[OUTCOME]
    visits["outcome"] = visits["case"].map(outcome).to_numpy()
    return visits
