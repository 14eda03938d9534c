"""Stage visits and event gaps: the timing facts every finding is built on.

Written once against narwhals (polars by default; the same code runs on pandas and DuckDB).
Every event gets the *gap* since the previous event of its case, and every gap is attributed
to exactly one cause, so no time is counted twice across findings:

* ``repeat``   — an approval directly repeating the same approval (no event in between, the
  earlier one not rejected): a redundant approval;
* ``approval`` — the wait for an approval step (from the previous event to the decision);
* ``handoff``  — a non-approval event by a different owner than the case's previous
  non-approval event (the case changed hands), on a step where a fair reference exists: at
  least ``min_reference`` gaps of the same step (``previous activity → activity``; with too few
  there, of the same activity) without an owner change and ``min_cases`` with one (``handoff_reference`` says which,
  empty when there is none: the change is then not judged), and an owner-change share below
  ``design_share``. A step where almost every case changes owner is the process's design: its
  owner changes are ``stage`` time, a wait at that step; so are owner changes at a step where
  waits with a change are not systematically longer than without one (a one-sided
  Mann–Whitney test), and a work item's wait in a queue (a ``start`` of an activity the case
  already had: scheduled, assigned or worked on before). System users
  (:mod:`salesmining.analysis.resources`) own nothing: a change to or from one is no handoff;
* ``stage``    — everything else: time spent in the stage.

**Ties.** Stage and outcome events of a case that share a timestamp (bulk updates, day-only
dates) are taken in the order of the stage model, not in file order (:func:`tie_order`), so
tie order alone never makes a backward move, a repeat or a reopen; :func:`salesmining.conform`
reads cases in the same order.

A *stage visit* starts at a stage (or outcome) event and lasts until the next one of the same
case. Its gaps are the gaps of the events that follow its entry up to and including the next
stage entry, so the gaps of a visit add up to its dwell time. A visit entered while the case had
already reached a later stage is *behind the frontier*: rework.

One meaning of backward moves and reopens, shared with :func:`salesmining.conform`: a
*backward move* goes from a stage to an earlier stage (outcome events in between are passed
over; allowed backtracks of the model are not moves); a *reopen* is the first stage event after
an outcome event.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesmining.analysis.resources import ResourceModel, resource_model
from salesmining.core.schema import ACTIVITY, APPROVAL_RESULT, CASE, LIFECYCLE, OUTCOME, RESOURCE, SOURCE_ROW
from salesmining.engine.aggregations import TS, event_table, to_native

if TYPE_CHECKING:
    from salesmining.analysis.stages import StageModel
    from salesmining.log.eventlog import EventLog

__all__ = [
    "GAP_KINDS",
    "HandoffReference",
    "activity_roles",
    "case_numbers",
    "case_positions",
    "per_visit",
    "coded_tie_order",
    "column_codes",
    "event_gaps",
    "group_cumsum",
    "group_sum",
    "mann_whitney_greater",
    "slower_with_change",
    "stage_visits",
    "tie_order",
]

GAP_KINDS = ("repeat", "approval", "handoff", "stage")
#: The event order within a case: time, then ``seq`` (the source row, stage ties in model order).
SEQ = "seq"
#: Lifecycle transitions after which a work item waits in a queue until someone starts it.
QUEUE_LIFECYCLES = frozenset({"schedule", "assign", "reassign"})
_ORDER = ["ts_us", SEQ]


@dataclasses.dataclass(frozen=True)
class HandoffReference:
    """When an owner change at a step is judged as a handoff: the step's owner-change share is
    below ``design_share``, it has at least ``min_reference`` gaps without a change (the reference
    distribution) and at least ``min_cases`` with one (a pattern, not a one-off), and waits with
    a change are systematically longer there than without one (a one-sided Mann–Whitney test,
    ``p < alpha``). Where handing over costs nothing, an owner change's time is the step's wait."""

    design_share: float = 0.9
    min_reference: int = 8
    min_cases: int = 3
    alpha: float = 0.05


def tie_order(table: pd.DataFrame, model: StageModel) -> np.ndarray:
    """Per row of ``table`` (CASE, ACTIVITY, ``ts_us``, SOURCE_ROW): the ``seq`` that orders a case.

    It is the source row, except that stage and outcome events sharing a timestamp within a case
    swap their source rows so that they come in stage-model order (outcomes last); other events
    keep their places. Ordering by ``(ts_us, seq)`` is then ``(ts_us, source_row)`` with ties of
    stages resolved by the intended order.
    """
    seq = table[SOURCE_ROW].to_numpy(dtype="int64").copy()
    rank = {s: float(i) for i, s in enumerate(model.stages)}
    rank.update(dict.fromkeys([*model.won, *model.lost], float(len(model.stages))))
    order = table[ACTIVITY].astype("object").map(rank)
    st = order.notna().to_numpy()
    if st.sum() < 2:
        return seq
    sub = pd.DataFrame(
        {
            "c": table[CASE].astype("str").to_numpy()[st],
            "t": table[TS].to_numpy()[st],
            "o": order.to_numpy(dtype="float64")[st],
            "r": seq[st],
            "i": np.flatnonzero(st),
        }
    )
    tied = sub.duplicated(["c", "t"], keep=False).to_numpy()
    if not tied.any():
        return seq
    sub = sub[tied]
    # within each (case, timestamp) group the k-th event in model order takes the k-th smallest
    # source row (both frames list the groups in the same order)
    slots = sub.sort_values(["c", "t", "r"], kind="stable")
    wanted = sub.sort_values(["c", "t", "o", "r"], kind="stable")
    seq[wanted["i"].to_numpy()] = slots["r"].to_numpy()
    return seq


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


def _prepare(log: EventLog, model: StageModel, resources: ResourceModel) -> pd.DataFrame:
    table = event_table(log)
    table[SEQ] = tie_order(table, model)
    ev = log._events
    roles = activity_roles(model, log.activities).set_index("activity")
    role = table[ACTIVITY].map(roles["role"]).fillna("other").astype("str")
    table["role"] = role.to_numpy()
    table["order"] = table[ACTIVITY].map(roles["order"]).astype("float64").to_numpy()
    table["is_stage"] = role.isin(["stage", "outcome"]).astype("int64").to_numpy()
    is_approval = (role == "approval").to_numpy()
    table["is_approval"] = is_approval
    if RESOURCE in ev.columns:
        res = ev[RESOURCE].astype("object")
        system = res.isin(list(resources.system)).to_numpy(dtype=bool)
        owner = res.where(~is_approval & ~system & res.notna().to_numpy(), None)
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


def event_gaps(
    log: EventLog,
    model: StageModel,
    *,
    backend: str = "polars",
    resources: ResourceModel | None = None,
    handoff: HandoffReference | None = None,
) -> pd.DataFrame:
    """Per event (sorted by case, time, ``seq``): gap since the previous event, its cause,
    the visit it belongs to, owners and the stage frontier. Returned as pandas.

    ``resources`` names the system users (default: detected, :func:`resource_model`);
    ``handoff`` says when an owner change is judged as a handoff (default
    :class:`HandoffReference`). ``owner_change`` marks every change of (human) owner,
    ``handoff_share`` is the share of the step's gaps with an owner change.

    Computed once per (log, stage model, engine, resources, handoff reference): findings, KPIs and
    charts of one diagnosis share it. The log is immutable, so the result is kept on it; callers
    get a copy-on-write copy.
    """
    resources = resources if resources is not None else resource_model(log)
    handoff = handoff if handoff is not None else HandoffReference()
    cache: dict[tuple[Any, ...], pd.DataFrame] = log.__dict__.setdefault("_gaps_cache", {})
    key = (model, backend, resources, handoff)
    if key not in cache:
        compute = _event_gaps_coded if backend == "polars" else _event_gaps
        cache[key] = compute(log, model, backend=backend, resources=resources, handoff=handoff)
    return cache[key].copy(deep=False)


def _judged_handoffs(out: pd.DataFrame, change: pd.Series, handoff: HandoffReference) -> tuple[np.ndarray, np.ndarray]:
    """Where an owner change can be judged: per event ``"step"`` (its step ``previous activity →
    activity`` has a fair reference), ``"activity"`` (too few at the step, but the gaps into the
    same activity have one) or ``""``; and the owner-change share of its step.

    A fair reference: at least ``min_reference`` gaps without an owner change, at least
    ``min_cases`` with one, and an owner-change share below ``design_share``."""
    design_share, min_reference, min_cases = handoff.design_share, handoff.min_reference, handoff.min_cases
    both = (~out["is_approval"].astype(bool) & out["owner"].notna() & out["prev_owner"].notna()).to_numpy()
    step = (out["prev_act"].astype("object") + "\x1f" + out[ACTIVITY].astype("object")).to_numpy()
    act = out[ACTIVITY].astype("object").to_numpy()
    ch = change.to_numpy(dtype=bool).astype(int)

    def level(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        stats = pd.DataFrame({"k": keys[both], "c": ch[both]}).groupby("k")["c"]
        n_ch, n_all = stats.sum(), stats.size()
        share = (n_ch / n_all).reindex(keys).to_numpy(dtype="float64")
        n_c = n_ch.reindex(keys).to_numpy(dtype="float64")
        n_s = (n_all - n_ch).reindex(keys).to_numpy(dtype="float64")
        fair = (n_c >= min_cases) & (n_s >= min_reference) & (share < design_share)
        return fair, share

    fair_step, share_step = level(step)
    fair_act, _ = level(act)
    designed = share_step >= design_share
    where = np.where(fair_step, "step", np.where(fair_act & ~designed, "activity", ""))
    gap = out["gap_s"].to_numpy(dtype="float64")
    slower = slower_with_change(
        np.where(where == "step", step, act), where != "", both, ch.astype(bool), gap, handoff.alpha
    )
    return np.where(slower, where, "not slower"), share_step


def slower_with_change(
    place: np.ndarray, judged: np.ndarray, both: np.ndarray, change: np.ndarray, gap: np.ndarray, alpha: float
) -> np.ndarray:
    """Per event: at its place (step or activity), are waits with an owner change systematically
    longer than without one? ``judged`` marks the changes to test, ``both`` the events that may
    take part (a change, or a reference without one). One one-sided Mann–Whitney test per place
    (a handful), not per event."""
    keys = pd.unique(place[judged & change])
    if not len(keys):
        return np.zeros(len(place), dtype=bool)
    small = place.dtype.kind in "iu" and int(place.min()) >= 0 and int(place.max()) < 4 * len(place) + 1_000_000
    if small:  # integer places: a lookup table instead of hashing every row
        lut = np.full(int(place.max()) + 1, -1, dtype="int64")
        lut[keys] = np.arange(len(keys))
        code = lut[place]
    else:
        code = pd.Index(keys).get_indexer(place)  # the place's test (-1: none)
    rows = np.flatnonzero(both & np.isfinite(gap) & (code >= 0))
    at = code[rows]
    # each test's rows together, in row order (a stable sort; radix on 16-bit codes)
    rows = rows[np.argsort(at.astype("int16") if len(keys) < 2**15 else at, kind="stable")]
    bounds = np.searchsorted(code[rows], np.arange(len(keys) + 1))
    slower = np.zeros(len(keys), dtype=bool)
    for i in range(len(keys)):
        at = rows[bounds[i] : bounds[i + 1]]
        with_change, without = gap[at[change[at]]], gap[at[~change[at]]]
        if len(with_change) and len(without):
            slower[i] = mann_whitney_greater(with_change, without) < alpha
    return (code >= 0) & slower[np.maximum(code, 0)]


def mann_whitney_greater(x: np.ndarray, y: np.ndarray) -> float:
    """The p-value of the one-sided Mann–Whitney U test that ``x`` tends to be greater than ``y``.

    The test of ``scipy.stats.mannwhitneyu(x, y, alternative="greater")`` with its defaults
    (``method="auto"``, continuity correction), in numpy: importing scipy.stats costs seconds.
    Average ranks with the tie correction and the normal approximation when both samples exceed
    8 values or any value ties, else the exact distribution of U (counted exactly, bit for bit
    scipy's p-value). The normal tail uses the standard library's ``erf``/``erfc``, so an
    approximate p-value can differ from scipy's in the last digits (about 1e-16): a decision
    ``p < alpha`` differs only for a p-value that close to ``alpha``.
    ``tests/test_visits_stats.py`` checks it against scipy.
    """
    return _mann_whitney(x, y, two_sided=False)


def mann_whitney_two_sided(x: np.ndarray, y: np.ndarray) -> float:
    """The two-sided p-value of the Mann–Whitney U test, as ``scipy.stats.mannwhitneyu(x, y)`` with
    its defaults: the one-sided tail of the larger of U₁ and U₂ = n₁n₂ − U₁, doubled and capped
    at 1 (normal approximation with the tie and continuity corrections, or the exact distribution
    in the same cases as :func:`mann_whitney_greater`). ``tests/test_drift_stats.py`` checks it
    against scipy.
    """
    return _mann_whitney(x, y, two_sided=True)


def _mann_whitney(x: np.ndarray, y: np.ndarray, *, two_sided: bool) -> float:
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n1, n2 = len(x), len(y)
    xy = np.concatenate([x, y])
    n = n1 + n2
    j = np.argsort(xy, kind="stable")
    srt = xy[j]
    first = np.concatenate([[True], srt[:-1] != srt[1:]])
    starts = np.arange(n)[first]
    counts = np.diff(starts, append=n)
    ordinal = np.arange(1, n + 1, dtype="float64")
    ranks = np.empty(n, dtype="float64")
    ranks[j] = np.repeat(ordinal[first] + (counts.astype("float64") - 1) / 2, counts)
    u1 = float(np.sum(ranks[:n1])) - n1 * (n1 + 1) / 2
    if two_sided:
        u1 = max(u1, n1 * n2 - u1)
    if (n1 > 8 and n2 > 8) or bool((counts > 1).any()):
        t = np.zeros(n, dtype="float64")
        t[first] = counts
        tie_term = float(np.sum(t**3 - t))
        sd = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
        z = (u1 - n1 * n2 / 2 - 0.5) / sd if sd > 0 else math.copysign(math.inf, u1 - n1 * n2 / 2 - 0.5)
        p = _ndtr(-z)
    else:
        p = _exact_sf(int(u1), min(n1, n2), max(n1, n2))
    if two_sided:
        p *= 2
    return min(max(p, 0.0), 1.0)


def normal_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z (``scipy.stats.norm.sf``, which is ``ndtr(-x)``)."""
    return _ndtr(-x)


def _ndtr(a: float) -> float:
    """The standard normal CDF from the standard library's error functions (erf near 0, erfc in the tails)."""
    if math.isnan(a):
        return math.nan
    x = a * math.sqrt(0.5)
    z = abs(x)
    if z < math.sqrt(0.5):
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(z)
    return 1.0 - y if x > 0 else y


def _exact_sf(k: int, n1: int, n2: int) -> float:
    """P(U >= k) under the null, ``n1 <= n2`` (scipy's symmetric sum from the left)."""
    total = float(math.comb(n1 + n2, n1))
    kc = n1 * n2 - k
    if k < kc:
        pmfs = _u_counts(k, n1, n2) / total
        return float(1.0 - np.cumsum(pmfs)[k] + pmfs[k])
    pmfs = _u_counts(kc, n1, n2) / total
    return float(np.cumsum(pmfs)[kc])


def _u_counts(maxu: int, n1: int, n2: int) -> np.ndarray:
    """How many arrangements give U = 0..maxu: the coefficients of the Gaussian binomial
    ``prod_{i<=n1} (1 - q^(n2+i)) / (1 - q^i)``, as exact integers."""
    size = n1 * n2 + 1
    exact = math.comb(n1 + n2, n1) < 2**62
    c = np.zeros(size, dtype="int64" if exact else object)
    c[0] = 1
    for i in range(1, n1 + 1):
        d = n2 + i
        c[d:] = c[d:] - c[: size - d].copy()  # times (1 - q^d)
        for r in range(i, size):  # divided by (1 - q^i): a running sum with stride i
            c[r] += c[r - i]
    return np.asarray(c[: maxu + 1], dtype="float64")


def _event_gaps(
    log: EventLog, model: StageModel, *, backend: str, resources: ResourceModel, handoff: HandoffReference
) -> pd.DataFrame:
    import narwhals as nw  # imported here: keeps `import salesmining` fast

    table = _prepare(log, model, resources)
    lf = nw.from_native(to_native(table, backend))
    if isinstance(lf, nw.DataFrame):
        lf = lf.lazy()
    over: dict[str, Any] = {"order_by": _ORDER}
    lf = lf.with_columns(
        prev_ts=nw.col(TS).shift(1).over(CASE, **over),
        prev_act=nw.col(ACTIVITY).shift(1).over(CASE, **over),
        prev_result=nw.col("result").shift(1).over(CASE, **over),
        prev_life=nw.col("lifecycle").shift(1).over(CASE, **over),
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
    # a work item waiting to be (re)started — scheduled or assigned earlier in the case, or picked
    # up again from a shared queue after an earlier round — is a queue at the step, not a handoff
    # of the case between steps (XES lifecycle: a ``start`` of an activity the case already had)
    life = out["lifecycle"].astype("object")
    seen_before = out.groupby([out[CASE], out[ACTIVITY]], sort=False).cumcount().to_numpy() > 0
    queued = (same_as_prev & out["prev_life"].astype("object").isin(list(QUEUE_LIFECYCLES))).to_numpy() | (
        (life == "start").to_numpy() & seen_before
    )
    change = (
        ~out["is_approval"].astype(bool)
        & out["owner"].notna()
        & out["prev_owner"].notna()
        & (out["owner"].astype("object") != out["prev_owner"].astype("object"))
        & ~queued
    )
    reference, share = _judged_handoffs(out, change, handoff)
    out["owner_change"] = change.to_numpy(dtype=bool)
    out["handoff_share"] = share
    # the process's design: almost every case changes owner at the step, so its time is the step's wait
    # ... or where handing over is not systematically slower than the same step without a change
    designed = change.to_numpy(dtype=bool) & ((share >= handoff.design_share) | (reference == "not slower"))
    reference = np.where(reference == "not slower", "", reference)
    out["handoff_reference"] = np.where(change.to_numpy(dtype=bool), reference, "")
    out["gap_kind"] = np.select(
        [
            out["prev_ts"].isna(),
            out["is_approval"].astype(bool) & same_as_prev & not_rejected,
            out["is_approval"].astype(bool),
            change.to_numpy(dtype=bool) & ~designed,
        ],
        ["none", "repeat", "approval", "handoff"],
        default="stage",
    )
    for col in ("visit_no", "gap_visit"):
        out[col] = out[col].astype("float64")
    out["is_stage"] = out["is_stage"].astype("int8")
    return _as_categoricals(out.drop(columns=_WORK_COLUMNS), log)


#: Columns the narwhals engine computes on the way that the gap table does not keep (no reader).
_WORK_COLUMNS = [
    "owner_ff",
    "stage_order_ff",
    "prev_life",
    SOURCE_ROW,
    SEQ,
    "frontier",
    "frontier_before",
    "prev_result",
]


# --- the gap table on the log's integer codes (the default engine) ------------------------
ROLES = ("stage", "outcome", "approval", "anywhere", "other")
#: ``gap_kind`` by code: a case's first event has no gap (``"none"``).
KIND_NAMES = ("none", "repeat", "approval", "handoff", "stage")
#: ``handoff_reference`` by code; :data:`_NOT_SLOWER` marks a change judged not slower (no reference).
_REFERENCES = ("", "step", "activity")
_NOT_SLOWER = len(_REFERENCES)


def _seen_before(case: np.ndarray, act: np.ndarray, n_act: int) -> np.ndarray:
    """Per event: did its case have the same activity at an earlier event?"""
    key = case.astype("int64") * max(n_act, 1) + act
    _, first_at = np.unique(key, return_index=True)
    seen = np.ones(len(key), dtype=bool)
    seen[first_at] = False
    return seen


def _shift(values: np.ndarray, first: np.ndarray, fill: Any) -> np.ndarray:
    """Per event: the previous event's value within its case (``fill`` at a case's first event)."""
    out = np.empty_like(values)
    out[1:] = values[:-1]
    out[first] = fill
    return out


def _narrow(codes: np.ndarray, n_names: int) -> np.ndarray:
    """Codes (``-1``: missing) into ``n_names`` names in the smallest integer type that holds them."""
    dtype = "int8" if n_names < 2**7 else "int16" if n_names < 2**15 else "int32"
    return codes.astype(dtype)


def _ffill_index(valid: np.ndarray, case_start: np.ndarray) -> np.ndarray:
    """Per event: the index of the latest event at or before it in its case with ``valid``; -1 if none."""
    idx = np.where(valid, np.arange(len(valid), dtype=case_start.dtype), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= case_start, idx, -1)


def _own(values: np.ndarray) -> np.ndarray:
    """``values``, copied when it is one of the log's read-only arrays (a table owns its columns)."""
    return values if values.flags.writeable else values.copy()


def _categorical(codes: np.ndarray, names: Any) -> pd.Categorical[Any]:
    """A categorical from codes (``-1``: missing) into ``names`` (distinct, sorted: the category
    order is the names' order, so sorting or grouping by it is sorting by the text)."""
    dtype = pd.CategoricalDtype(pd.Index(np.asarray(names, dtype=object), dtype="str"))
    return pd.Categorical.from_codes(np.asarray(codes), dtype=dtype, validate=False)


def _sorted_categorical(codes: np.ndarray, names: Any) -> pd.Categorical[Any]:
    """:func:`_categorical` for codes into distinct names in any order: renumbered to the sorted names."""
    names = np.asarray(names, dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.full(len(order) + 1, -1, dtype="int8" if len(order) < 127 else "int64")  # the last: missing
    rank[order] = np.arange(len(order))
    return _categorical(rank[np.asarray(codes)], names[order])  # a code -1 takes the last entry


def as_text(values: Any) -> pd.Series:
    """A text column of the gap table or the visits as pandas' ``str`` (Arrow-backed, missing as
    NaN), as public tables hold text: a categorical decoded through its codes (one Arrow take of
    the few categories), any other column cast."""
    import pyarrow as pa

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype("str")
    cats = series.cat.categories
    # the categories as Arrow text: shared with a ``str`` index (no copy), else converted once
    names = pa.array(cats.array if cats.dtype == "str" else np.asarray(cats, dtype=object), type=pa.large_string())
    codes = np.asarray(series.cat.codes, dtype="int64")
    text = names.take(pa.array(codes, mask=codes < 0))
    return pd.Series(
        pd.array(text, dtype=pd.StringDtype("pyarrow", na_value=np.nan)), index=series.index, name=series.name
    )


#: The gap table's text columns, categoricals of sorted names.
TEXT_COLUMNS = (
    CASE,
    ACTIVITY,
    "role",
    "owner",
    "actor",
    "lifecycle",
    "result",
    "prev_act",
    "prev_owner",
    "handoff_reference",
    "gap_kind",
)


def _as_categoricals(out: pd.DataFrame, log: EventLog) -> pd.DataFrame:
    """The text columns of :func:`_event_gaps`' table as the categoricals :func:`_event_gaps_coded`
    builds: the same category sets (the log's sorted names), so both engines give equal tables."""
    coded = log._coded
    ev = log._events
    none = np.array([], dtype=object)
    life = _codes_of(ev[LIFECYCLE], lower=True)[1] if LIFECYCLE in ev.columns else none
    result = _codes_of(ev[APPROVAL_RESULT])[1] if APPROVAL_RESULT in ev.columns else none
    names: dict[str, Any] = {
        CASE: coded.case_names,
        ACTIVITY: coded.activity_names,
        "prev_act": coded.activity_names,
        "role": sorted(ROLES),
        "owner": coded.resource_names,
        "actor": coded.resource_names,
        "prev_owner": coded.resource_names,
        "lifecycle": life,
        "result": result,
        "handoff_reference": sorted(_REFERENCES),
        "gap_kind": sorted(KIND_NAMES),
    }
    for col in TEXT_COLUMNS:
        cats = pd.Index(np.asarray(names[col], dtype=object), dtype="str")
        codes = cats.get_indexer(out[col].astype("str"))
        codes[out[col].isna().to_numpy()] = -1
        out[col] = _categorical(codes, cats)
    return out


def column_codes(values: pd.Series, *, sort: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A text column as integer codes (int64, ``-1`` = missing) and the names they stand for.

    The one way rules read a text column of the gap table or the visits: free for a categorical
    column (its own codes and categories), factorised otherwise. Codes number the names in an
    unspecified order unless ``sort``: then ``names`` is sorted and the codes follow it."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes, dtype="int64")
        names = np.asarray(values.cat.categories, dtype=object)
        if sort and len(names) > 1:
            order = np.argsort(names, kind="stable")
            rank = np.empty(len(order), dtype="int64")
            rank[order] = np.arange(len(order))
            codes = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
            names = names[order]
        return codes, names
    raw, uniques = pd.factorize(values, sort=sort)
    return np.asarray(raw, dtype="int64"), np.asarray(uniques, dtype=object)


def _codes_of(values: pd.Series, lower: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Factorise an event column (NA → -1) into codes of its sorted distinct values; ``lower``
    lower-cases the distinct values, not each row."""
    codes, uniques = pd.factorize(values.astype("str"), sort=True)
    names = np.asarray([str(u) for u in uniques], dtype=object)
    codes = np.asarray(codes, dtype="int64")
    if lower and len(names):
        low, inverse = np.unique(np.asarray([n.lower() for n in names], dtype=object), return_inverse=True)
        codes = np.where(codes >= 0, inverse.reshape(-1)[np.maximum(codes, 0)], -1)
        names = low
    return codes, names


def _coded_tie_order(case: np.ndarray, ts: np.ndarray, seq: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """:func:`tie_order` on codes: ``rank`` is the model order per event (NaN off the model);
    the events are in the log's order (case, ``ts_us``, source row)."""
    seq = seq.copy()
    st = np.flatnonzero(~np.isnan(rank))
    if len(st) < 2:
        return seq
    c, t = case[st], ts[st]
    same_prev = np.zeros(len(st), dtype=bool)
    same_prev[1:] = (c[1:] == c[:-1]) & (t[1:] == t[:-1])
    tied = same_prev.copy()
    tied[:-1] |= same_prev[1:]
    if not tied.any():
        return seq
    i = st[tied]
    # slots: the tied events' source rows in (case, ts, source row) order, i.e. as they stand;
    # wanted: the same events in (case, ts, model order, source row) order
    wanted = i[np.lexsort((seq[i], rank[i], ts[i], case[i]))]
    seq[wanted] = seq[i]
    return seq


def coded_tie_order(log: EventLog, model: StageModel) -> np.ndarray:
    """:func:`tie_order` of the log's events (in the log's order), on its integer codes."""
    coded = log._coded
    rank_of = np.full(len(coded.activity_names), np.nan)
    stage_rank = {s: float(i) for i, s in enumerate(model.stages)}
    stage_rank.update(dict.fromkeys([*model.won, *model.lost], float(len(model.stages))))
    for k, a in enumerate(coded.activity_names):
        if a in stage_rank:
            rank_of[k] = stage_rank[a]
    return _coded_tie_order(coded.case, coded.ts_us, coded.source_row, rank_of[coded.activity])


def _event_gaps_coded(
    log: EventLog, model: StageModel, *, backend: str, resources: ResourceModel, handoff: HandoffReference
) -> pd.DataFrame:
    """:func:`_event_gaps` on the log's integer codes with numpy: the same table, row for row."""
    del backend
    coded = log._coded
    ev = log._events
    n = coded.n_events
    # per activity code: role, stage order; per resource code: system user
    roles = activity_roles(model, coded.activity_names)
    role_of = np.asarray([ROLES.index(r) for r in roles["role"]], dtype="int8")
    order_of = roles["order"].to_numpy(dtype="float64")
    if len(roles):  # activity_roles keeps first-seen order; the codes are sorted names
        pos_of = pd.Index(roles["activity"].astype("object")).get_indexer(list(coded.activity_names))
        role_of, order_of = role_of[pos_of], order_of[pos_of]
    act0, case0, ts0 = coded.activity, coded.case, coded.ts_us
    seq0 = coded_tie_order(log, model)
    perm_free = np.array_equal(seq0, coded.source_row)  # no stage tie reordered: the log's order
    perm = None if perm_free else np.lexsort((seq0, ts0, case0))

    def sorted_(a: np.ndarray) -> np.ndarray:
        return a if perm is None else a[perm]

    case, act, ts = sorted_(case0), sorted_(act0), sorted_(ts0)
    del seq0, perm_free
    first = np.zeros(n, dtype=bool)
    first[coded.bounds[:-1][coded.bounds[:-1] < n]] = True
    case_start = np.repeat(coded.bounds[:-1].astype("int32" if n < 2**31 else "int64"), np.diff(coded.bounds))
    role = role_of[act]
    order = order_of[act]
    is_stage = (role <= 1).astype("int8")
    is_approval = role == 2
    has_res = RESOURCE in ev.columns
    res = sorted_(coded.resource)
    if has_res:
        system_of = np.isin(coded.resource_names, np.asarray(list(resources.system), dtype=object))
        owner = res.copy()
        if len(system_of) and system_of.any():
            owner[(res >= 0) & system_of[np.maximum(res, 0)]] = -1
        owner[is_approval] = -1
    else:
        owner = np.full(n, -1, dtype="int32")
    if LIFECYCLE in ev.columns:
        life, life_names = _codes_of(ev[LIFECYCLE], lower=True)
        life = sorted_(_narrow(life, len(life_names)))
    else:
        life, life_names = np.full(n, -1, dtype="int64"), np.array([], dtype=object)
    if APPROVAL_RESULT in ev.columns:
        result, result_names = _codes_of(ev[APPROVAL_RESULT])
        result = sorted_(_narrow(result, len(result_names)))
    else:
        result, result_names = np.full(n, -1, dtype="int64"), np.array([], dtype=object)

    prev_ts = _shift(ts, first, 0).astype("float64")
    prev_ts[first] = np.nan
    gap_s = (ts - _shift(ts, first, 0)).astype("float64")
    gap_s /= 1e6
    gap_s[first] = np.nan
    prev_act = _shift(act, first, -1)
    cum = np.cumsum(is_stage, dtype="int64")
    visit_no = (cum - np.where(case_start > 0, cum[np.maximum(case_start - 1, 0)], 0)).astype("float64")
    del cum
    pos = (np.arange(n, dtype="int64") - case_start + 1).astype("uint32")
    k = _ffill_index(owner >= 0, case_start)
    prev_owner = _shift(np.where(k >= 0, owner[np.maximum(k, 0)], -1).astype(owner.dtype, copy=False), first, -1)
    k = _ffill_index(~np.isnan(order), case_start)
    prev_stage_order = _shift(np.where(k >= 0, order[np.maximum(k, 0)], np.nan), first, np.nan)
    del k, case_start
    gap_visit = _shift(visit_no, first, np.nan)

    same_as_prev = act == prev_act
    rejected = np.flatnonzero(result_names == "rejected")
    not_rejected = ~np.isin(_shift(result, first, -1), rejected) if len(rejected) else np.ones(n, dtype=bool)
    queue_of = np.isin(life_names, list(QUEUE_LIFECYCLES))
    start_of = life_names == "start"
    queued = np.zeros(n, dtype=bool)
    if queue_of.any():
        prev_life = _shift(life, first, -1)
        queued |= same_as_prev & (prev_life >= 0) & queue_of[np.maximum(prev_life, 0)]
        del prev_life
    if start_of.any():
        is_start = (life >= 0) & start_of[np.maximum(life, 0)]
        queued |= is_start & _seen_before(case, act, len(coded.activity_names))
    both = ~is_approval & (owner >= 0) & (prev_owner >= 0)
    change = both & (owner != prev_owner) & ~queued
    del queued
    n_act = len(coded.activity_names)
    # one integer per step (previous activity → activity), above every activity code
    wide = "int32" if n_act + (n_act + 1) ** 2 < 2**31 else "int64"
    step = n_act + (prev_act.astype(wide) + 1) * (n_act + 1) + act.astype(wide, copy=False)
    reference, share = _judged_coded(step, act, both, change, gap_s, handoff)
    del step, both
    designed = change & ((share >= handoff.design_share) | (reference == _NOT_SLOWER))
    reference = np.where(change & (reference != _NOT_SLOWER), reference, 0)
    gap_kind = np.select(
        [first, is_approval & same_as_prev & not_rejected, is_approval, change & ~designed],
        [np.int8(0), np.int8(1), np.int8(2), np.int8(3)],
        default=np.int8(4),
    )
    del designed, same_as_prev, not_rejected
    acts = coded.activity_names
    rnames = coded.resource_names
    no_names = np.array([], dtype=object)
    out = pd.DataFrame(
        {
            CASE: _categorical(case, coded.case_names),
            ACTIVITY: _categorical(act, acts),
            TS: _own(ts),
            "role": _sorted_categorical(role, ROLES),
            "order": order,
            "is_stage": is_stage,
            "is_approval": is_approval,
            "owner": _categorical(owner, rnames),
            "actor": _categorical(res if has_res else np.full(n, -1, dtype="int64"), rnames if has_res else no_names),
            "lifecycle": _categorical(life, life_names),
            "result": _categorical(result, result_names),
            "prev_ts": prev_ts,
            "prev_act": _categorical(prev_act, acts),
            "visit_no": visit_no,
            "pos": pos,
            "prev_owner": _categorical(prev_owner, rnames),
            "gap_visit": gap_visit,
            "prev_stage_order": prev_stage_order,
            "gap_s": gap_s,
            "owner_change": change,
            "handoff_share": share,
            "handoff_reference": _sorted_categorical(reference, _REFERENCES),
            "gap_kind": _sorted_categorical(gap_kind, KIND_NAMES),
        },
        copy=False,  # the columns are this function's own arrays (the log's read-only ones copied): not copied again
    )
    return out


def _judged_coded(
    step: np.ndarray, act: np.ndarray, both: np.ndarray, change: np.ndarray, gap: np.ndarray, handoff: HandoffReference
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_judged_handoffs` on integer step and activity keys (bincounts, no strings); the
    judgement as a code into :data:`_REFERENCES` (``"step"``, ``"activity"``, ``""``) or
    :data:`_NOT_SLOWER`."""
    design_share, min_reference, min_cases = handoff.design_share, handoff.min_reference, handoff.min_cases
    changed = both & change

    def level(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per key: fair reference, owner-change share; and each row's key code."""
        # small non-negative keys count directly; others are factorised first
        small = len(keys) > 0 and keys.min() >= 0 and keys.max() < 4 * len(keys) + 1_000_000
        codes = keys if small else pd.factorize(keys)[0]
        m = int(codes.max()) + 1 if len(codes) else 0
        n_ch = np.bincount(codes[changed], minlength=m).astype("float64")
        n_all = np.bincount(codes[both], minlength=m).astype("float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            share_k = np.where(n_all > 0, n_ch / n_all, np.nan)
        n_c = np.where(n_all > 0, n_ch, np.nan)
        n_s = np.where(n_all > 0, n_all - n_ch, np.nan)
        fair_k = (n_c >= min_cases) & (n_s >= min_reference) & (share_k < design_share)
        return fair_k, share_k, codes

    fair_step, share_step, step_code = level(step)
    fair_act, _, act_code = level(act)
    designed = share_step >= design_share
    # per row, decided on the keys: 1 the step's reference, 2 the activity's, 0 none
    where = np.where(
        fair_step[step_code], np.int8(1), np.where(fair_act[act_code] & ~designed[step_code], np.int8(2), np.int8(0))
    )
    slower = slower_with_change(np.where(where == 1, step, act), where != 0, both, change, gap, handoff.alpha)
    return np.where(slower, where, np.int8(_NOT_SLOWER)), share_step[step_code]


def group_sum(labels: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group ``0..n_groups-1``: the sum of ``values`` over the rows with that label (0 for none).

    Bit for bit what a pandas ``groupby(...).sum()`` over the same rows with keys in the same order
    gives, added the way pandas adds them but on the ready integer labels (no factorising): numpy's
    ``add.reduceat`` over the runs when the labels are sorted and no value is NaN (pandas' own
    shortcut for monotonic groups), else pandas' Kahan-compensated kernel
    (``pandas._libs.groupby.group_sum``) in row order. A group's sum depends only on its rows and
    their order, not on how groups are numbered. Without that kernel (another pandas), pandas'
    groupby itself. ``tests/test_gaps7_group_sum.py`` checks it against pandas."""
    out = np.zeros(n_groups, dtype="float64")
    if not len(labels):
        return out
    labels = np.asarray(labels)
    values = np.asarray(values, dtype="float64")
    if labels.dtype.kind not in "iu" or int(labels.min()) < 0 or int(labels.max()) >= n_groups:
        return _pandas_group_sum(labels, values, out)
    if bool((labels[1:] >= labels[:-1]).all()) and not np.isnan(values).any():
        starts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
        starts = np.concatenate([np.zeros(1, dtype=starts.dtype), starts])
        out[labels[starts]] = np.add.reduceat(values, starts)
        return out
    kernel = _kahan_group_sum()
    if kernel is None:
        return _pandas_group_sum(labels, values, out)
    res = np.zeros((n_groups, 1), dtype="float64")
    counts = np.zeros(n_groups, dtype="int64")
    kernel(res, counts, values[:, None], labels.astype(np.intp, copy=False), None, min_count=0, initial=0, skipna=True)
    return res[:, 0]


def _pandas_group_sum(labels: np.ndarray, values: np.ndarray, out: np.ndarray) -> np.ndarray:
    sums = pd.Series(values).groupby(labels, sort=True).sum()
    out[sums.index.to_numpy()] = sums.to_numpy()
    return out


@functools.cache
def _kahan_group_sum() -> Any:
    """pandas' compensated group-sum kernel, if this pandas has it with the expected signature."""
    try:
        from pandas._libs import groupby as libgroupby  # type: ignore[attr-defined]

        kernel = libgroupby.group_sum
        res = np.zeros((1, 1), dtype="float64")
        counts = np.zeros(1, dtype="int64")
        kernel(res, counts, np.ones((2, 1)), np.zeros(2, dtype=np.intp), None, min_count=0, initial=0, skipna=True)
    except Exception:  # noqa: BLE001 - any failure means: use pandas' groupby instead
        return None
    return kernel if res[0, 0] == 2.0 else None


def group_cumsum(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row: the running sum of ``values`` within its label's group up to the row, as pandas'
    ``groupby(...).cumsum()`` gives it (computed by pandas on the integer labels)."""
    if not len(labels):
        return np.zeros(0, dtype="float64")
    return pd.Series(np.asarray(values, dtype="float64")).groupby(labels, sort=True).cumsum().to_numpy()


def case_numbers(gaps: pd.DataFrame) -> np.ndarray:
    """Per row of a gap table (sorted by case): the case's number, 0, 1, ... in table order."""
    first = gaps["prev_ts"].isna().to_numpy()
    return np.cumsum(first) - 1


def case_positions(gaps: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """Per case number of a gap table (:func:`case_numbers`): the position of its case in ``ids``
    (distinct case ids), -1 where it is not there.

    When ``ids`` are the table's case categories in order (the log's case table: the sorted case
    ids), a case's position is its category code and no text is looked up; otherwise the ids are
    matched as text."""
    first = np.flatnonzero(gaps["prev_ts"].isna().to_numpy())
    col = gaps[CASE]
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = np.asarray(col.cat.codes)[first].astype("int64")
        cats = col.cat.categories
        if (
            len(cats) == len(ids)
            and cats.dtype == "str"
            and ids.dtype == "str"
            and (not len(codes) or int(codes.min()) >= 0)
            and bool(np.asarray(ids.array == cats.array, dtype=bool).all())
        ):
            return codes
    names = pd.Index(np.asarray(col.array[first], dtype=object), dtype=object)
    return np.asarray(pd.Index(np.asarray(ids, dtype=object), dtype=object).get_indexer(names), dtype="int64")


def _prev_in_case(valid: np.ndarray, same_case: np.ndarray) -> np.ndarray:
    """Per row: the index of the latest earlier row of the same case with ``valid`` (-1 if none);
    ``same_case[i]`` says row ``i - 1`` is of row ``i``'s case."""
    n = len(valid)
    idx = np.where(valid, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    start = np.maximum.accumulate(np.where(same_case, 0, np.arange(n))) if n else idx
    prev = np.full(n, -1, dtype="int64")
    prev[1:] = idx[:-1]
    return np.where(prev >= start, prev, -1)


def stage_visits(gaps: pd.DataFrame, log: EventLog, model: StageModel | None = None) -> pd.DataFrame:
    """One row per stage visit: ``case``, ``visit_no``, ``stage``, ``role``, ``order``, ``entry_us``,
    ``exit_us`` (next stage entry, NA for the last visit), ``dwell_s``, seconds by gap kind,
    ``net_s`` (dwell less approval, repeat and handoff gaps), ``behind`` (rework visit),
    ``backward_from`` (the stage left by a backward move into this visit: the previous stage
    visit, outcomes passed over, not an allowed backtrack of ``model``), ``reopen_from`` (the
    outcome this visit reopens), ``repeat_of_prev`` and the case ``outcome``."""
    case_no = case_numbers(gaps)
    st = np.flatnonzero(gaps["is_stage"].to_numpy() == 1)
    vcase = case_no[st]
    visit_no = gaps["visit_no"].to_numpy(dtype="float64")[st]
    entry = gaps[TS].to_numpy()[st]
    n = len(st)
    same_next = np.zeros(n, dtype=bool)
    same_next[:-1] = vcase[1:] == vcase[:-1]
    same_case = np.zeros(n, dtype=bool)
    same_case[1:] = same_next[:-1]
    exit_us = np.full(n, np.nan)
    exit_us[:-1] = np.where(same_next[:-1], entry[1:], np.nan)
    role = gaps["role"].array.take(st)
    order = gaps["order"].to_numpy(dtype="float64")[st]
    stage = gaps[ACTIVITY].array.take(st)
    visits = pd.DataFrame(
        {
            "case": gaps[CASE].array.take(st),
            "visit_no": visit_no,
            "stage": stage,
            "role": role,
            "order": order,
            "entry_us": entry,
            "owner": gaps["owner"].array.take(st),
            "frontier_before": _frontier_before(order, same_case),
            "prev_stage_order": gaps["prev_stage_order"].to_numpy(dtype="float64")[st],
            "exit_us": exit_us,
            "dwell_s": (exit_us - entry) / 1e6,
        },
        copy=False,  # new columns: not copied into one block
    )
    for k, col in _kind_sums(gaps, case_no, vcase, visit_no).items():
        # the last visit's trailing gaps (after the final stage entry) are not part of a dwell
        visits[f"{k}_s"] = np.where(np.isnan(exit_us), np.nan, col)
    visits["net_s"] = visits["dwell_s"] - visits["approval_s"] - visits["repeat_s"] - visits["handoff_s"]
    is_stage_visit = np.asarray(role == "stage", dtype=bool)
    visits["behind"] = is_stage_visit & (order < visits["frontier_before"].to_numpy())
    # the previous *stage* visit of the case (outcomes passed over), as conform reads a case
    prev = _prev_in_case(is_stage_visit, same_case)
    prev_order = np.where(prev >= 0, order[np.maximum(prev, 0)], np.nan)
    back = is_stage_visit & (order < prev_order)
    stage_codes, stage_names = pd.factorize(stage)
    if model is not None and model.allowed_backtracks and n:
        allowed = set(model.allowed_backtracks)
        ok_pair = np.array([[(a, b) in allowed for b in stage_names] for a in stage_names], dtype=bool)
        back &= ~np.where(prev >= 0, ok_pair[stage_codes[np.maximum(prev, 0)], stage_codes], False)
    visits["backward_from"] = stage.take(np.where(back, prev, -1), allow_fill=True)
    before = np.arange(n) - 1
    prev_outcome = np.zeros(n, dtype=bool)  # the previous visit is an outcome's
    prev_outcome[1:] = np.asarray(role == "outcome", dtype=bool)[:-1]
    reopen = same_case & is_stage_visit & prev_outcome
    visits["reopen_from"] = stage.take(np.where(reopen, before, -1), allow_fill=True)
    # the same stage entered again directly; a re-entry at the same instant is a duplicate, not rework
    lasted = np.zeros(n, dtype=bool)
    lasted[1:] = visits["dwell_s"].to_numpy()[:-1] > 0
    same_stage = np.zeros(n, dtype=bool)
    same_stage[1:] = stage_codes[1:] == stage_codes[:-1]
    visits["repeat_of_prev"] = is_stage_visit & same_case & same_stage & lasted
    cases = log.cases
    at = case_positions(gaps, cases[CASE])  # each case's outcome looked up once, by position
    visits["outcome"] = per_visit(cases[OUTCOME], at, vcase)
    return visits


def per_visit(values: pd.Series, case_rows: np.ndarray, vcase: np.ndarray) -> Any:
    """A case table's column per visit, as a numpy array: ``values`` at the row of each visit's
    case (``case_rows`` by case number, -1: missing), each case's value taken once."""
    by_case = values.array.take(case_rows, allow_fill=True).to_numpy()
    return by_case[vcase] if len(vcase) else by_case[:0]


def _frontier_before(order: np.ndarray, same_case: np.ndarray) -> np.ndarray:
    """Per stage visit (in table order): the furthest stage order its case reached before it, -1
    for none (the running maximum of the case's earlier visits' orders; only stage and outcome
    events have an order, so the events between visits add nothing)."""
    n = len(order)
    if not n:
        return np.zeros(0, dtype="float64")
    start = np.flatnonzero(~same_case)
    case = np.cumsum(~same_case) - 1
    span = float(np.max(order)) + 2.0
    lift = case.astype("float64") * span
    reached = np.maximum.accumulate(order + lift) - lift  # exact: small integers
    out = np.empty(n, dtype="float64")
    out[1:] = reached[:-1]
    out[start] = -1.0
    return out


def _kind_sums(
    gaps: pd.DataFrame, case_no: np.ndarray, vcase: np.ndarray, visit_no: np.ndarray
) -> dict[str, np.ndarray]:
    """Per stage visit and gap kind: the seconds of the visit's gaps of that kind (0 where none).

    A gap with ``gap_visit`` v >= 1 belongs to its case's v-th visit: the visits are the stage
    rows in table order, so that visit's row is the case's first visit row plus ``v - 1``; the
    sums are :func:`group_sum` per (visit, kind) in row order, as a pivot over (case, visit, kind)
    adds them (its groups in the same order)."""
    del visit_no  # a visit's number is its place among its case's visits
    kinds = sorted(GAP_KINDS)
    n = len(vcase)
    gv = gaps["gap_visit"].to_numpy(dtype="float64")
    own = np.flatnonzero(gv >= 1)  # NaN: a case's first event
    raw, names = column_codes(gaps["gap_kind"])
    rank = np.asarray([kinds.index(k) if k in kinds else -1 for k in names], dtype="int64")
    kind = np.where(raw[own] >= 0, rank[np.maximum(raw[own], 0)] if len(rank) else -1, -1)
    keep = kind >= 0  # a first event's "none" has no visit
    own, kind = own[keep], kind[keep]
    n_cases = int(case_no[-1]) + 1 if len(case_no) else 0
    first_visit = np.searchsorted(vcase, np.arange(n_cases))
    visit = first_visit[case_no[own]] + gv[own].astype("int64") - 1
    gap = gaps["gap_s"].to_numpy(dtype="float64")[own]
    label = visit * len(kinds) + kind
    kernel = _kahan_group_sum()
    if kernel is None or (bool((label[1:] >= label[:-1]).all()) and not np.isnan(gap).any()):
        sums = group_sum(label, gap, n * len(kinds)).reshape(n, len(kinds))
        return {k: sums[:, kinds.index(k)] for k in GAP_KINDS}
    # pandas adds these labels with its compensated kernel, each group in row order: one kind at a
    # time gives the same sums (a group's rows and their order are unchanged) with sorted labels
    # (the kernel then writes its output in order, not at random)
    del label
    out = {}
    for k in GAP_KINDS:
        mine = kind == kinds.index(k)
        res = np.zeros((n, 1), dtype="float64")
        counts = np.zeros(n, dtype="int64")
        at = visit[mine].astype(np.intp, copy=False)
        kernel(res, counts, gap[mine][:, None], at, None, min_count=0, initial=0, skipna=True)
        out[k] = res[:, 0]
    return out
