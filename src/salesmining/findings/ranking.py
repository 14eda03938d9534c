"""From evidence to ranked findings: one row per ``(kind, rule, where)`` with its effects and severity.

Effects compare closed cases *with* a finding against closed cases *without* it that reached the
same place (:func:`comparison_base`); severity weighs the share of cases, the time lost and the
win-rate drop (:class:`~salesmining.FindingRules`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from salesmining.analysis import visits as _visits
from salesmining.core.schema import ACTIVITY
from salesmining.findings.context import FindingContext
from salesmining.findings.evidence import LOCATION_COLUMNS, arrow_text, sorted_codes
from salesmining.findings.rules import FindingRules

__all__ = ["FINDING_COLUMNS", "SEVERITY_ORDER", "assemble"]

#: The columns of ``Findings.to_frame()``, in order.
FINDING_COLUMNS = [
    "kind",
    "where",
    "cases",
    "share",
    "time_lost_hours",
    "win_rate_effect",
    "cycle_time_effect_hours",
    "severity",
    "example_cases",
    "rule",
    "rank",
    "time_lost_per_case_hours",
    "closed_affected",
    "closed_unaffected",
    "win_rate_affected",
    "win_rate_unaffected",
    "detail",
    *LOCATION_COLUMNS,
]

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}

Key = Callable[[str, Mapping[str, Any]], "tuple[str, Any] | None"]
Base = Callable[["tuple[str, Any] | None"], "pd.Series | None"]


class _Pool(NamedTuple):
    """The closed cases a finding is compared among (those of its base): a mask over the cases'
    rows, how many, how many won, their durations sorted (NaN left out) and each row's place in
    that order (``-1``: not there)."""

    keep: np.ndarray
    n: int
    wins: int
    seconds: np.ndarray
    place: np.ndarray


class _Outcomes(NamedTuple):
    """The case facts the effects compare, as arrays over the cases' rows; ``order``: the rows
    by duration (stable), those without one left out."""

    closed: np.ndarray
    won: np.ndarray
    seconds: np.ndarray
    order: np.ndarray

    @classmethod
    def of(cls, cases: pd.DataFrame) -> _Outcomes:
        seconds = cases["throughput_s"].to_numpy(dtype="float64")
        order = np.argsort(seconds, kind="stable")
        return cls(
            cases["closed"].to_numpy(dtype=bool),
            cases["won"].to_numpy(dtype=bool),
            seconds,
            order[~np.isnan(seconds[order])],
        )

    def pool(self, base: np.ndarray | None) -> _Pool:
        """The closed cases of ``base`` (a mask over the rows; ``None``: all)."""
        keep = self.closed if base is None else self.closed & base
        rows = self.order[keep[self.order]]
        place = np.full(len(keep), -1, dtype="int64")
        place[rows] = np.arange(len(rows))
        return _Pool(
            keep, int(np.count_nonzero(keep)), int(np.count_nonzero(self.won & keep)), self.seconds[rows], place
        )


def _median(values: np.ndarray) -> float:
    """The median of the values that are not NaN (NaN for none), as pandas' ``Series.median``."""
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else math.nan


def _median_without(ordered: np.ndarray, removed: np.ndarray) -> float:
    """The median of ``ordered`` (sorted, no NaN) without the entries at the sorted positions
    ``removed``, exactly as ``np.median`` of what is left: the middle one, or the mean of the two."""
    m = len(ordered) - len(removed)
    if m <= 0:
        return math.nan
    # the k-th entry left is at k plus the number of removed positions before it
    shifted = removed - np.arange(len(removed))

    def kth(k: int) -> float:
        return float(ordered[k + int(np.searchsorted(shifted, k, side="right"))])

    if m % 2:
        return kth(m // 2)
    return float(np.mean(np.array([kth(m // 2 - 1), kth(m // 2)])))


def _effects(affected: np.ndarray, outcomes: _Outcomes, pool: _Pool) -> dict[str, Any]:
    """:func:`effects` with the affected cases as (unique) rows of the cases and their base as a :class:`_Pool`.

    Counts and win rates of the unaffected side are the pool's less the affected cases'; its median
    duration is read off the pool's sorted durations with the affected ones left out."""
    a = affected[pool.keep[affected]]
    n_a = len(a)
    n_u = pool.n - n_a
    wins_a = int(outcomes.won[a].sum())
    removed = np.sort(pool.place[a])
    removed = removed[removed >= 0]
    wr_a = wins_a / n_a if n_a else math.nan
    wr_u = (pool.wins - wins_a) / n_u if n_u else math.nan
    ct_a = _median(outcomes.seconds[a]) / 3600 if n_a else math.nan
    ct_u = _median_without(pool.seconds, removed) / 3600 if n_u else math.nan
    return {
        "closed_affected": n_a,
        "closed_unaffected": n_u,
        "win_rate_affected": wr_a,
        "win_rate_unaffected": wr_u,
        "win_rate_effect": wr_a - wr_u,
        "cycle_time_effect_hours": ct_a - ct_u,
    }


def comparison_base(ctx: FindingContext) -> tuple[Key, Base]:
    """Which cases a finding is compared with: those that reached its place; as ``(key, base)``:
    ``key(kind, place)`` names a finding's base (findings with one key share it), ``base(key)`` is
    the mask over the cases (``None``: all cases).

    A skipped stage is compared among cases whose recorded path passes the stage (a stage
    before it and one after it); a finding at a stage, a step out of a stage or a stalled stage
    among cases that reached that stage (or a later one, or won); an approval finding among cases
    with that approval; anything else among all cases. The place is the finding's ``activity``,
    else its ``from_activity``.
    """
    order = {s: i for i, s in enumerate(ctx.model.stages)}
    v, cases = ctx.visits, ctx.cases
    ids = cases["case_id"]
    # furthest stage recorded; a won case has passed every stage, a lost one only those it recorded
    at_case = _case_numbers(ids, ctx.case_index)
    rows = np.flatnonzero((v["role"] == "stage").to_numpy(dtype=bool))
    lowest, highest = _stage_order_range(ctx, rows, v["order"].to_numpy(dtype="float64")[rows])
    max_order = pd.Series(highest[at_case], index=ids.index).fillna(-1)
    max_order = max_order.where(~cases["won"], float(len(ctx.model.stages)))
    min_order = pd.Series(lowest[at_case], index=ids.index).fillna(math.inf)
    won = cases["won"]
    with_activity = _cases_with_approval(ctx, ids, at_case)

    def key(kind: str, place: Mapping[str, Any]) -> tuple[str, Any] | None:
        at = place["activity"] if place["activity"] is not None else place["from_activity"]
        if at is None:
            return None
        if kind == "skipped_stage" and at in order:
            return ("passes", at)
        if at in order:
            return ("reached", at)
        if at in with_activity:
            return ("has", at)
        return None

    def base(which: tuple[str, Any] | None) -> pd.Series | None:
        if which is None:
            return None
        how, at = which
        if how == "passes":
            k = order[at]
            return (min_order < k) & (max_order > k)
        if how == "reached":
            return (max_order >= order[at]) | won
        return with_activity[at]

    return key, base


def _case_numbers(ids: pd.Series, case_index: pd.Index) -> np.ndarray:
    """Per id of ``ids``: its case number (its position in ``case_index``), ``-1`` for none: the
    positions themselves when the ids are ``case_index`` in order, else text ids hashed in Arrow,
    other ids looked up in pandas."""
    text = arrow_text(ids)
    if text is not None:
        try:
            index = pa.array(np.asarray(case_index, dtype=object), type=pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # ids that are not text: looked up in pandas
            index = None
        same = index is not None and len(index) == len(text) and not text.null_count and not index.null_count
        if same and pc.all(pc.equal(text, index)).as_py():  # the cases in case-number order
            return np.arange(len(text), dtype="int64")
        if index is not None:
            found = pc.index_in(text, value_set=index)
            return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype="int64")
    return np.asarray(case_index.get_indexer(pd.Index(np.asarray(ids, dtype=object), dtype=object)), dtype="int64")


def _stage_order_range(ctx: FindingContext, rows: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per case number (and one more, NaN, for an unknown case): the lowest and highest stage order
    of the stage visits ``rows`` of ``ctx.visits`` (NaN for a case without one)."""
    lowest = np.full(len(ctx.case_index) + 1, np.nan)
    highest = lowest.copy()
    if len(rows):
        case_no = ctx.visit_case_no(rows)  # sorted: the visits' order
        starts = np.flatnonzero(np.r_[True, case_no[1:] != case_no[:-1]])
        lowest[case_no[starts]] = np.minimum.reduceat(order, starts)
        highest[case_no[starts]] = np.maximum.reduceat(order, starts)
    return lowest, highest


def _cases_with_approval(ctx: FindingContext, ids: pd.Series, at: np.ndarray) -> dict[Any, pd.Series]:
    """Per approval activity of the log: which of ``ids`` (a case-id column, at case numbers ``at``) have it."""
    rows = np.flatnonzero(ctx.gaps["is_approval"].to_numpy(dtype=bool))
    act, names = pd.factorize(ctx.gaps[ACTIVITY].array.take(rows))
    case_no = ctx.case_no[rows]
    out = {}
    for k, name in enumerate(names):
        has = np.zeros(len(ctx.case_index) + 1, dtype=bool)  # the last: an id not in the gap table
        has[case_no[act == k]] = True
        out[name] = pd.Series(has[at], index=ids.index, name=ids.name)
    return out


def typical_case_hours(cases: pd.DataFrame, rules: FindingRules) -> float:
    """The log's typical case duration (hours): the median of closed cases, of all cases when
    fewer than ``min_reference`` are closed."""
    closed = cases.loc[cases["closed"].to_numpy(), "throughput_s"].dropna()
    pool = closed if len(closed) >= rules.min_reference else cases["throughput_s"].dropna()
    return float(pool.median()) / 3600 if len(pool) else 0.0


def win_rate_z(row: Mapping[str, Any]) -> float:
    """Two-proportion z of the win rate of affected against comparable unaffected closed cases."""
    na, nu = row["closed_affected"], row["closed_unaffected"]
    wa, wu = row["win_rate_affected"], row["win_rate_unaffected"]
    if not na or not nu or math.isnan(wa) or math.isnan(wu):
        return 0.0
    pooled = (wa * na + wu * nu) / (na + nu)
    se = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nu))
    return (wa - wu) / se if se > 0 else 0.0


def severity(row: Mapping[str, Any], total_hours: float, rules: FindingRules, typical_hours: float = 0.0) -> str:
    """``high``, ``medium`` or ``low`` (see :class:`~salesmining.FindingRules`).

    Time counts only when it is material: at least ``material_time_share`` of all case time and,
    per affected case, at least ``material_case_share`` of the typical case duration. A win-rate
    move counts only with at least 10 closed cases on each side and a significant z-test.
    """
    drop = -row["win_rate_effect"] if not math.isnan(row["win_rate_effect"]) else 0.0
    judged = (
        row["closed_affected"] >= 10 and row["closed_unaffected"] >= 10 and abs(win_rate_z(row)) >= rules.win_rate_z
    )
    time_share = row["time_lost_hours"] / total_hours if total_hours > 0 else 0.0
    per_case = row["time_lost_per_case_hours"]
    material = (
        row["time_lost_hours"] > 0
        and time_share >= rules.material_time_share
        and per_case >= rules.material_case_share * typical_hours
    )
    if row["share"] >= rules.high_share and (
        (material and time_share >= rules.high_time_share) or (judged and drop >= rules.high_win_rate_drop)
    ):
        return "high"
    moves = material or (judged and abs(drop) >= rules.high_win_rate_drop / 2)
    if row["cases"] >= rules.medium_min_cases and moves:
        return "medium"
    return "low"


class _Finding(NamedTuple):
    """One ``(kind, rule, where)`` of the evidence: its first row, its cases (their rows in the case
    table, ``-1`` for none; in case-id order) with their time lost, its example cases (most time
    lost first) and the row of its typical detail."""

    first_row: int
    case_rows: np.ndarray
    lost: np.ndarray
    examples: np.ndarray
    typical_row: int


def _sorted(values: np.ndarray) -> bool:
    """Are the values nondecreasing?"""
    return bool(np.all(values[1:] >= values[:-1]))


def _unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` (flat inverse), without a sort when the values are
    sorted already (the evidence comes sorted by finding and case)."""
    if not _sorted(values):
        uniques, inverse = np.unique(values, return_inverse=True)
        return uniques, inverse.reshape(-1)
    head = np.r_[True, values[1:] != values[:-1]] if len(values) else np.zeros(0, dtype=bool)
    return values[head], np.cumsum(head) - 1


def _per_finding(evidence: pd.DataFrame, ids: pd.Series, n_examples: int | None = None) -> list[_Finding]:
    """The evidence by finding, in ``(kind, rule, where)`` order, grouped once (no per-finding string groupby):
    per finding its :class:`_Finding` (with its first ``n_examples`` example cases only, when given),
    its cases' rows looked up in ``ids`` (the case table's ids).

    Per case: the sum of its rows' time lost (as pandas adds, :func:`~salesmining.analysis.visits.group_sum`),
    floored at 0, cases sorted by id. The typical detail is the description of the median case: the
    evidence row at the (lower) median time lost. Per-case descriptions carry that case's numbers;
    the most common text among them is an accident of rounding (``23 min in stage`` where half the
    cases lost hours), the median one is not.

    Evidence sorted by finding and then case id (as :func:`~salesmining.findings.evidence.tidy`
    leaves it) is read in runs, without sorting or hashing the case ids; other evidence is
    grouped in full (:func:`_per_finding_any`)."""
    runs = _sorted_runs(evidence)
    if runs is None:
        return _per_finding_any(evidence, ids, n_examples)
    f_start, pair_start, case = runs
    n = len(evidence)
    lost = evidence["time_lost_s"].to_numpy(dtype="float64")
    n_f = len(f_start)
    f_bounds: np.ndarray = np.r_[f_start, n]
    bounds: np.ndarray = np.searchsorted(pair_start, f_bounds)  # each finding's pairs (a pair: one case of a finding)
    # per pair, as pandas adds a group (a group's sum depends only on its own rows, in order)
    pair_of_row = np.repeat(np.arange(len(pair_start)), np.diff(np.r_[pair_start, n]))
    sums = _visits.group_sum(pair_of_row, lost, len(pair_start))
    sums = np.where(sums >= 0, sums, 0.0)  # clip(lower=0), as pandas does it
    rows = _lookup(case.take(pa.array(pair_start)), ids)
    out = []
    for f in range(n_f):
        lo, hi = bounds[f], bounds[f + 1]
        top = _top(sums[lo:hi], n_examples)
        out.append(
            _Finding(
                int(f_start[f]),
                rows[lo:hi],
                sums[lo:hi],
                np.asarray(case.take(pa.array(pair_start[lo:hi][top])).to_pylist(), dtype=object),
                int(f_bounds[f] + _lower_median_row(lost[f_bounds[f] : f_bounds[f + 1]])),
            )
        )
    return out


def _sorted_runs(evidence: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pa.Array] | None:
    """``(first row of each finding, first row of each (finding, case) pair, the case ids in
    Arrow)`` when the evidence is sorted by ``(kind, rule, where)`` and then case id with no key
    missing, else ``None``."""
    texts = [arrow_text(evidence[c]) for c in ("kind", "rule", "where", "case_id")]
    if any(t is None or t.null_count for t in texts):
        return None
    n = len(evidence)
    key = np.zeros(n, dtype="int64")
    for t in texts[:3]:
        assert t is not None
        codes, names = sorted_codes(t)
        key = key * (len(names) + 1) + codes
    case = texts[3]
    assert case is not None
    if not n or bool(np.any(key[1:] < key[:-1])):
        return None
    same_f = key[1:] == key[:-1]
    before = pc.less(case[1:], case[:-1]).to_numpy(zero_copy_only=False)
    if bool(np.any(before & same_f)):
        return None
    same_case = pc.equal(case[1:], case[:-1]).to_numpy(zero_copy_only=False)
    f_start = np.flatnonzero(np.r_[True, ~same_f])
    pair_start = np.flatnonzero(np.r_[True, ~(same_f & same_case)])
    return f_start, pair_start, case


def _top(sums: np.ndarray, k: int | None) -> np.ndarray:
    """The positions of the ``k`` largest ``sums`` (all when ``k`` is ``None`` or negative), largest
    first, ties in position order (as a lexsort by ``-sums`` then position)."""
    if k is None or k < 0 or k >= len(sums):
        cand = np.arange(len(sums))
    elif k == 0:
        return np.zeros(0, dtype="int64")
    else:
        kth = -np.partition(-sums, k - 1)[k - 1]  # the k-th largest
        cand = np.flatnonzero(sums >= kth)
    return cand[np.lexsort((cand, -sums[cand]))][: len(sums) if k is None or k < 0 else k]


def _lower_median_row(lost: np.ndarray) -> int:
    """The position of the row at the lower median of ``lost`` (sorted by value, NaN last, ties in
    position order): as ``np.lexsort``'s order at position ``(len - 1) // 2``."""
    k = (len(lost) - 1) // 2
    v = np.partition(lost, k)[k]
    if np.isnan(v):
        same = np.flatnonzero(np.isnan(lost))
        below = len(lost) - len(same)
    else:
        same = np.flatnonzero(lost == v)
        below = int(np.count_nonzero(lost < v))
    return int(same[k - below])


def _lookup(values: pa.Array, ids: pd.Series) -> np.ndarray:
    """Per value: its row in ``ids`` (unique case ids), ``-1`` for none; hashed in Arrow."""
    if not pd.api.types.is_string_dtype(ids.dtype) or isinstance(ids.dtype, pd.CategoricalDtype):
        names = np.asarray(values.to_pylist(), dtype=object)
        return np.asarray(pd.Index(ids.astype("object")).get_indexer(pd.Index(names, dtype="object")), dtype="int64")
    value_set = pa.array(ids.array, from_pandas=True)
    if isinstance(value_set, pa.ChunkedArray):
        value_set = value_set.combine_chunks()
    found = pc.index_in(values, value_set=value_set.cast(values.type))
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype="int64")


def _per_finding_any(evidence: pd.DataFrame, ids: pd.Series, n_examples: int | None) -> list[_Finding]:
    """:func:`_per_finding` of evidence in any order: the findings numbered by a groupby, the case
    ids factorised in sorted order."""
    fid = evidence.groupby(["kind", "rule", "where"], sort=True).ngroup().to_numpy(dtype="int64")
    case_code, case_names = pd.factorize(evidence["case_id"], sort=True)
    names = np.asarray(case_names, dtype=object)
    lost = evidence["time_lost_s"].to_numpy(dtype="float64")
    width = max(len(names), 1)
    pairs, pair_of_row = _unique(fid * width + case_code)  # by finding, then case id
    pair_f, pair_c = pairs // width, pairs % width
    n_f = int(fid.max()) + 1
    bounds = np.searchsorted(pair_f, np.arange(n_f + 1))
    # added per finding, as a groupby over the finding's rows adds them
    sums = np.zeros(len(pairs), dtype="float64")
    by_finding = np.arange(len(fid)) if _sorted(fid) else np.argsort(fid, kind="stable")
    finding_rows = np.searchsorted(fid[by_finding], np.arange(n_f + 1))
    for f, (lo, hi) in enumerate(itertools.pairwise(finding_rows)):
        rows = by_finding[lo:hi]
        first, last = bounds[f], bounds[f + 1]
        sums[first:last] = _visits.group_sum(pair_of_row[rows] - first, lost[rows], last - first)
    sums = np.where(sums >= 0, sums, 0.0)  # clip(lower=0), as pandas does it
    examples = np.lexsort((pair_c, -sums, pair_f))  # per finding: most time lost first, then by id
    _, first_row = np.unique(fid, return_index=True)
    # the typical detail: the row at the lower median of (time lost, case id), ties in row order
    typical = np.lexsort((case_code, lost, fid))
    row_bounds = np.searchsorted(fid[typical], np.arange(n_f + 1))
    position = _rows_of(names, ids)  # each evidence case's row in the case table
    out = []
    for f in range(n_f):
        lo, hi = bounds[f], bounds[f + 1]
        r_lo, r_hi = row_bounds[f], row_bounds[f + 1]
        shown = examples[lo:hi][:n_examples] if n_examples is not None and n_examples >= 0 else examples[lo:hi]
        out.append(
            _Finding(
                int(first_row[f]),
                position[pair_c[lo:hi]],
                sums[lo:hi],
                names[pair_c[shown]],
                int(typical[r_lo + (r_hi - r_lo - 1) // 2]),
            )
        )
    return out


def _rows_of(names: np.ndarray, ids: pd.Series) -> np.ndarray:
    """Per name: its row in ``ids`` (unique case ids), ``-1`` for none; text ids are looked up in Arrow."""
    if not pd.api.types.is_string_dtype(ids.dtype) or isinstance(ids.dtype, pd.CategoricalDtype):
        return np.asarray(pd.Index(ids.astype("object")).get_indexer(pd.Index(names, dtype="object")), dtype="int64")
    found = pc.index_in(pa.array(names, from_pandas=True), value_set=pa.array(ids.array, from_pandas=True))
    return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype="int64")


def assemble(evidence: pd.DataFrame, ctx: FindingContext) -> pd.DataFrame:
    """One row per ``(kind, rule, where)`` of the evidence, most severe first, with ``rank``."""
    cases = ctx.cases
    n = len(cases)
    total_hours = float(cases["throughput_s"].sum()) / 3600
    if not len(evidence):
        return pd.DataFrame(columns=FINDING_COLUMNS)
    key_of, base_of = comparison_base(ctx)
    pools: dict[tuple[str, Any] | None, _Pool] = {}  # many findings share a comparison base
    outcomes = _Outcomes.of(cases)
    rows = []
    findings = _per_finding(evidence, cases["case_id"], ctx.rules.examples)
    heads = evidence[["kind", "rule", "where", *LOCATION_COLUMNS]].iloc[[f.first_row for f in findings]]
    details = evidence["detail"].iloc[[f.typical_row for f in findings]].tolist()
    for f, ev_first, detail in zip(findings, heads.to_dict("records"), details, strict=True):
        kind = str(ev_first["kind"])
        place = {c: ev_first[c] for c in LOCATION_COLUMNS}
        per_case = pd.Series(f.lost)
        at = f.case_rows
        key = key_of(kind, place)
        if key not in pools:
            base = base_of(key)
            pools[key] = outcomes.pool(None if base is None else base.to_numpy(dtype=bool))
        # distinct case ids have distinct rows: sorted, they are the unique rows
        eff = _effects(np.sort(at[at >= 0]), outcomes, pools[key])
        rows.append(
            {
                "kind": kind,
                "rule": str(ev_first["rule"]),
                "where": str(ev_first["where"]),
                "cases": len(per_case),
                "share": len(per_case) / n if n else math.nan,
                "time_lost_hours": float(per_case.sum()) / 3600,
                "time_lost_per_case_hours": float(per_case.mean()) / 3600 if len(per_case) else 0.0,
                "example_cases": tuple(str(c) for c in f.examples[: ctx.rules.examples]),
                "detail": str(detail),
                **eff,
                **place,
            }
        )
    df = pd.DataFrame(rows)
    for c in ("activity", "from_activity", "to_activity"):
        col = df[c].astype("object")
        df[c] = col.where(col.notna(), None)
    df["stalled"] = df["stalled"].astype(bool)
    typical = typical_case_hours(cases, ctx.rules)
    df["severity"] = [severity(r, total_hours, ctx.rules, typical) for r in df.to_dict("records")]
    df["_sev"] = df["severity"].map(SEVERITY_ORDER)
    # stalled open deals rank after findings about finished work of the same severity: their time keeps
    # growing and some of them are abandoned deals nobody closed
    df["_stalled"] = df["rule"] == "stalled_open"
    df = df.sort_values(
        ["_sev", "_stalled", "time_lost_hours", "cases", "kind", "where"],
        ascending=[True, True, False, False, True, True],
        kind="stable",
    ).drop(columns=["_sev", "_stalled"])
    df["rank"] = np.arange(1, len(df) + 1)
    return df[FINDING_COLUMNS].reset_index(drop=True)
