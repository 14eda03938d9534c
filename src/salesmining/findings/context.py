"""What every rule family reads about one log: its stage visits, per-event gaps and case facts.

Built once per :func:`~salesmining.find_bottlenecks` / :func:`~salesmining.kpis` call; the gaps
between consecutive events are each attributed to one cause (see
:mod:`salesmining.analysis.visits`), so no rule counts the same time twice.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesmining.analysis import visits as _visits
from salesmining.analysis.conform import Conformance, conform
from salesmining.analysis.resources import ResourceModel, resource_model
from salesmining.analysis.stages import StageModel
from salesmining.core.errors import StageModelError
from salesmining.core.schema import CASE, OUTCOME
from salesmining.findings.backfill import backfilled_cases
from salesmining.findings.rules import FindingRules

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = ["FindingContext", "build_context", "fence", "previous_same", "reference_rows", "stall_limits", "targets"]


@dataclasses.dataclass(frozen=True)
class FindingContext:
    """The shared per-log facts of one findings run."""

    log: EventLog
    model: StageModel
    rules: FindingRules
    gaps: pd.DataFrame  # one row per event: the gap before it and its cause
    visits: pd.DataFrame  # one row per stage (or outcome) visit; its index is the row position
    cases: pd.DataFrame  # case_id, outcome, throughput_s, closed, won + attributes
    conformance: Conformance
    #: back-filled cases (see :mod:`salesmining.findings.backfill`): span of their first entries, seconds
    backfilled: pd.Series = dataclasses.field(default_factory=lambda: pd.Series(dtype="float64"))
    resources: ResourceModel = dataclasses.field(default_factory=ResourceModel)
    #: the gap claims the rule families make (see :mod:`salesmining.findings.attribution`)
    claims: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    #: per gap row: its case's number (0, 1, ... in the table's case order)
    case_no: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype="int64"))
    #: per visit row: the gap row of the event that entered it
    visit_rows: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype="int64"))
    #: the case ids by case number
    case_index: pd.Index = dataclasses.field(default_factory=lambda: pd.Index([], dtype=object))

    def case_flags(self, ids: object) -> np.ndarray:
        """Per case number: is the case one of ``ids``? (One more entry, ``False``, for an unknown case.)"""
        wanted = np.zeros(len(self.case_index) + 1, dtype=bool)
        at = self.case_index.get_indexer(pd.Index(np.asarray(ids, dtype=object).astype(str), dtype=object))
        wanted[at[at >= 0]] = True
        return wanted

    def of_cases(self, ids: object) -> np.ndarray:
        """Per gap row: is its case one of ``ids``? (Looked up once per case, not per row.)"""
        return self.case_flags(ids)[self.case_no]

    @functools.cached_property
    def case_rows(self) -> np.ndarray:
        """Per case number: the row of its case in :attr:`cases` (-1: none); by position when the
        case table lists the gap table's cases in order (no case id looked up as text)."""
        return _visits.case_positions(self.gaps, self.cases["case_id"])

    @functools.cached_property
    def _reference_cases(self) -> tuple[np.ndarray, np.ndarray]:
        """Per case number: (closed and not back-filled, not back-filled); looked up once per run."""
        usable = (
            ~self.case_flags(self.backfilled.index)
            if len(self.backfilled)
            else np.ones(len(self.case_index) + 1, dtype=bool)
        )
        rows = self.case_rows
        closed_row = self.cases["closed"].to_numpy(dtype=bool)
        closed = np.zeros(len(self.case_index) + 1, dtype=bool)
        closed[: len(rows)] = (rows >= 0) & closed_row[np.maximum(rows, 0)] if len(closed_row) else False
        return usable & closed, usable

    def reference_flags(self, case_no: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`reference_rows` for rows given by their case numbers: (closed and not back-filled,
        not back-filled)."""
        closed, usable = self._reference_cases
        return closed[case_no], usable[case_no]

    def visit_case_no(self, visit_rows: np.ndarray) -> np.ndarray:
        """The case numbers of the rows ``visit_rows`` of :attr:`visits`."""
        return self.case_no[self.visit_rows[visit_rows]]


def previous_same(keys: np.ndarray) -> np.ndarray:
    """Per row: the index of the latest earlier row with the same key (-1 for a key's first row);
    a grouped ``shift(1)`` by position, on integer keys."""
    order = np.argsort(keys, kind="stable")
    same = np.r_[False, keys[order][1:] == keys[order][:-1]] if len(keys) else np.zeros(0, dtype=bool)
    prev = np.full(len(keys), -1, dtype="int64")
    prev[order[same]] = order[np.flatnonzero(same) - 1]
    return prev


def _case_facts(log: EventLog, conf: Conformance) -> pd.DataFrame:
    cf = conf.to_frame()[["case_id", "outcome", "throughput_s", "skipped", "backtracks", "repeats", "conforms"]]
    attrs = log.cases.drop(columns=[OUTCOME]).rename(columns={CASE: "case_id"})
    extra = [c for c in attrs.columns if c != "case_id"]
    if not set(extra) & set(cf.columns) and _same_ids(cf["case_id"], attrs["case_id"]):
        # the same cases in the same order (conformance lists the log's cases): the join is by position
        out = cf.reset_index(drop=True)
        for col in extra:
            out[col] = attrs[col].array
    else:
        out = cf.merge(attrs, on="case_id", how="left")
    out["closed"] = out["outcome"].isin(["won", "lost"])
    out["won"] = out["outcome"] == "won"
    return out


def _same_ids(left: pd.Series, right: pd.Series) -> bool:
    """Are both columns the same distinct text case ids in the same order? (Compared in Arrow, no
    Python strings.)"""
    if len(left) != len(right) or left.dtype != "str" or right.dtype != "str":
        return False
    if left.isna().any() or not bool(np.asarray(left.array == right.array, dtype=bool).all()):
        return False
    # distinct: strictly increasing (the case table is sorted) shows it without hashing
    rising = right.array[1:] > right.array[:-1]
    return bool(np.asarray(rising, dtype=bool).all()) or right.is_unique


def build_context(
    log: EventLog,
    model: StageModel,
    rules: FindingRules,
    conformance: Conformance | None,
    backend: str,
    resources: ResourceModel | None = None,
) -> FindingContext:
    """Conformance (unless given), per-event gaps, stage visits with their case's outcome, case facts.

    ``resources`` (system users, roles) defaults to :func:`resource_model` of the log (detected)."""
    if len(model.stages) < 1:
        raise StageModelError("the stage model has no stages")
    conf = conformance if conformance is not None else conform(log, model)
    res = resources if resources is not None else resource_model(log)
    reference = _visits.HandoffReference(
        rules.handoff_design_share, rules.min_reference, rules.handoff_min_cases, rules.handoff_alpha
    )
    gaps = _visits.event_gaps(log, model, backend=backend, resources=res, handoff=reference)
    cases = _case_facts(log, conf)
    # one visit table per gap table (the log is immutable): findings, KPIs and charts share it
    cache: dict[tuple[object, ...], pd.DataFrame] = log.__dict__.setdefault("_visits_cache", {})
    key = (model, backend, res, reference)
    if key not in cache:
        cache[key] = _visits.stage_visits(gaps, log, model)
    visits = cache[key].copy(deep=False)
    case_no = _visits.case_numbers(gaps)
    visit_rows = np.flatnonzero(gaps["is_stage"].to_numpy() == 1)  # the visits are these rows' stage entries
    case_index = pd.Index(gaps[CASE].array[gaps["prev_ts"].isna().to_numpy()].astype("object"), dtype=object)
    # each case's outcome looked up once (by case number), not once per visit
    case_rows = _visits.case_positions(gaps, cases["case_id"])
    visits["outcome"] = _visits.per_visit(cases["outcome"], case_rows, case_no[visit_rows])
    backfilled = backfilled_cases(gaps, rules)
    ctx = FindingContext(
        log,
        model,
        rules,
        gaps,
        visits,
        cases,
        conf,
        backfilled,
        res,
        case_no=case_no,
        visit_rows=visit_rows,
        case_index=case_index,
    )
    ctx.__dict__["case_rows"] = case_rows  # computed above: the cached property's value
    return ctx


def fence(values: pd.Series, k: float, min_n: int) -> float:
    """The robust outlier fence ``exp(Q3 + k·IQR)`` of the positive log durations; ``inf`` with too few."""
    v = values[(values > 0) & values.notna()]
    if len(v) < min_n:
        return math.inf
    lg = np.log(v.to_numpy(dtype="float64"))
    q1, q3 = np.quantile(lg, [0.25, 0.75])
    return float(np.exp(q3 + k * (q3 - q1)))


def _case_column(values: pd.DataFrame) -> str:
    return "case" if "case" in values.columns else CASE


def reference_rows(ctx: FindingContext, values: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Which rows of ``values`` may serve as references for a limit: (closed cases', all finished).

    Both leave out back-filled cases, whose times are data-entry times. A limit is learned from
    the rows of *closed* cases (a deal still open may yet take much longer, and ends nothing);
    the second mask (every row not back-filled) is the fallback when too few closed rows exist.
    """
    case = values[_case_column(values)]
    # each distinct case looked up once
    codes, uniques = pd.factorize(case)
    distinct = pd.Index(np.asarray(uniques, dtype=object), dtype=object)
    closed_ids = ctx.cases.loc[ctx.cases["closed"].to_numpy(), "case_id"]
    late = distinct.isin(np.asarray(ctx.backfilled.index, dtype=object))[codes]
    closed = distinct.isin(np.asarray(closed_ids, dtype=object))[codes]
    usable = pd.Series(~late, index=values.index, name=case.name)
    return usable & pd.Series(closed, index=values.index, name=case.name), usable


def targets(
    ctx: FindingContext,
    values: pd.DataFrame,
    key: str,
    durations: str,
    sla: Mapping[str, pd.Timedelta],
    *,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.Series:
    """Per row: the target duration (seconds) — the SLA of its key, else the robust fence of the same
    key's durations in closed cases (in all finished ones when fewer than ``min_reference`` closed).

    ``reference``: the rows' :func:`reference_rows` masks when the caller has them already."""
    if reference is None:
        closed_s, usable_s = reference_rows(ctx, values)
        reference = closed_s.to_numpy(dtype=bool), usable_s.to_numpy(dtype=bool)
    closed, usable = reference
    k, min_n = ctx.rules.outlier_k, ctx.rules.min_reference
    codes, names = pd.factorize(values[key], sort=True)
    dur = values[durations].to_numpy(dtype="float64")
    limit = np.full(len(names) + 1, math.inf)  # the last: a missing key
    for i, name in enumerate(names):
        if name in sla:
            limit[i] = sla[name].total_seconds()
            continue
        mine = codes == i
        ref = dur[mine & closed]
        if np.count_nonzero(~np.isnan(ref)) < min_n:
            ref = dur[mine & usable]
        limit[i] = fence(pd.Series(ref), k, min_n)
    out = limit[codes]
    out[np.isnan(out)] = math.inf
    return pd.Series(out, index=values.index, name=values[key].name, dtype="float64")


def stall_limits(ctx: FindingContext, stages: pd.Series) -> pd.Series:
    """Per stage in ``stages``: how long (seconds) an open case may sit in it before it is stalled.

    The SLA where the model has one; otherwise the ``stall_quantile`` (0.9) of the time *closed*
    cases spent in the same stage — their visits' full dwell, as an open case's age is measured —
    needing ``min_reference`` of them. Without enough closed cases there is no limit (``inf``):
    an open case can be called stalled only against cases that did close.
    """
    v = ctx.visits
    closed, _ = ctx.reference_flags(ctx.visit_case_no(np.arange(len(v))))
    ok = closed & ((v["role"] == "stage") & v["dwell_s"].notna() & ~v["behind"].astype(bool)).to_numpy(dtype=bool)
    rows = np.flatnonzero(ok)
    stage, names = pd.factorize(v["stage"].array.take(rows))
    counts = np.bincount(stage, minlength=len(names))
    q = pd.Series(v["dwell_s"].to_numpy(dtype="float64")[rows]).groupby(stage).quantile(ctx.rules.stall_quantile)
    enough = {names[i]: float(x) for i, x in q.items() if counts[i] >= ctx.rules.min_reference}
    limits = {s: td.total_seconds() for s, td in ctx.model.sla.items()}
    uniq = pd.unique(stages)
    return pd.Series({s: limits.get(s, enough.get(s, math.inf)) for s in uniq}, dtype="float64")
