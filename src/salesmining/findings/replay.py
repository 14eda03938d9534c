"""Replaying structural changes on every case's timeline, through the attribution table.

A case's timeline is its gaps (:attr:`Findings.attribution`: the time between two consecutive
events, each with its cause and the one finding charged for it). A change rewrites some gaps
and leaves every other gap as it was:

* ``remove(step)`` — an activity (approval, task): every gap ending at one of its events (the
  time from the previous event to the step's completion) becomes 0; a stage: every gap of its
  visits (the dwell, from the stage's entry to the next stage entry) becomes 0.
  ``repeats_only``: only the gaps the findings charge to a redundant repeat of the step
  (approved again after an approval that was not a rejection); for a stage, its visits after
  the first.
* ``skip(step, where=…)`` — ``remove`` for the cases whose attributes match.
* ``parallel(a, b)`` — in a case with both, the step with the shorter total time (its gaps, as
  for ``remove``) becomes 0: the case waits max(a, b) instead of a + b.
* ``cap(step, limit)`` — an activity: each gap ending at it is cut to ``limit``; a stage: each
  visit's own time in the stage (its ``stage`` gaps: dwell less approval, repeat and handoff
  waits, as the long-wait findings judge it) is cut to ``limit``, the time after the limit
  taken off the visit's last gaps.

Several changes apply one after the other, each to the timeline the previous ones left. A
case's projected cycle time is the sum of its new gaps; time saved on a gap comes off the time
charged to a finding there first (a wait cut short loses its excess first).

Everything is vectorised over the gap table, coded once as integers (:func:`timeline`). The
confidence intervals come from a case bootstrap drawn as count matrices, in blocks
(:func:`count_blocks`); a resample's median or p90 is found from running counts in a narrow band
of sorted positions (:class:`_Quantile`), its sums as matrix products (:class:`_Sums`). Every fast
path gives bit for bit what the plain computation gives (``tests/test_replay_exact.py``).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesmining.analysis.visits import column_codes
from salesmining.core.errors import ArgumentTypeError
from salesmining.findings.changes import Cap, Change, Parallel, Remove, changes
from salesmining.findings.codes import text_in
from salesmining.findings.evidence import LOCATION_COLUMNS

if TYPE_CHECKING:
    from salesmining.analysis.discover import BusinessCalendar
    from salesmining.analysis.stages import StageModel
    from salesmining.findings.context import FindingContext

__all__ = [
    "FINDING_WHATIF_COLUMNS",
    "REPEAT_RULES",
    "Timeline",
    "apply",
    "Stat",
    "boot_stat",
    "bootstrap",
    "bootstrap_many",
    "count_blocks",
    "finding_change",
    "finding_whatifs",
    "finding_n_boot",
    "timeline",
]

#: The rules whose gaps are redundant repeats of an approval (``remove(step, repeats_only=True)``).
REPEAT_RULES = ("repeated_no_change", "repeated_after_approval", "redone_after_loop")
#: What ``Findings.to_frame()`` gains: each eligible finding's change and its median gain (CI).
FINDING_WHATIF_COLUMNS = ["whatif_change", "whatif_median_gain_s", "whatif_low_s", "whatif_high_s", "whatif_saved_s"]
#: Bootstrap resamples behind the findings' what-if columns (the ``what_if`` default is 2000):
#: 500, fewer on large logs so that resamples × closed cases stays near FINDING_BOOT_CELLS, never
#: below FINDING_MIN_BOOT (the cost grows with both; ``what_if`` itself always uses its ``n_boot``).
FINDING_N_BOOT = 500
FINDING_MIN_BOOT = 100
FINDING_BOOT_CELLS = 2_000_000


def finding_n_boot(n_closed: int) -> int:
    """Resamples for the findings' what-if intervals on a log with ``n_closed`` closed cases.

    >>> finding_n_boot(800), finding_n_boot(9_000), finding_n_boot(90_000)
    (500, 222, 100)
    """
    return max(FINDING_MIN_BOOT, min(FINDING_N_BOOT, FINDING_BOOT_CELLS // max(n_closed, 1)))


_BLOCK = 4_000_000  # elements of one bootstrap index block
#: Set while :func:`~salesmining.what_if` runs the findings only for their attribution table: the
#: findings' own what-if columns are then left empty (they would be computed and thrown away).
_SKIP: contextvars.ContextVar[bool] = contextvars.ContextVar("salesmining_skip_finding_whatifs", default=False)


@dataclasses.dataclass(frozen=True, eq=False)
class Timeline:
    """The gap table as integer-coded arrays (one entry per gap, in case and event order; cases
    coded 0..n-1 in ``case_ids`` order, activities coded by their index in ``names``)."""

    case_ids: np.ndarray
    closed: np.ndarray  # per case
    won: np.ndarray  # per case
    cases: pd.DataFrame  # the case facts, in case_ids order
    case: np.ndarray  # per gap: case code
    gap: np.ndarray  # seconds (working seconds under a calendar)
    names: tuple[str, ...]  # the activities the codes stand for
    activity: np.ndarray  # per gap: code of the activity it ends at
    own: np.ndarray  # per gap: the visit's own time in its stage (cause ``stage``)
    repeat: np.ndarray  # per gap: charged to a redundant repeat (one of REPEAT_RULES)
    kinds: tuple[str, ...]  # the finding kinds charged for some gap, sorted
    kind: np.ndarray  # per gap: code in ``kinds`` of the kind charged for it, -1 for none
    charged: np.ndarray
    visit: np.ndarray  # global visit id (-1 before the first stage event)
    visit_stage: np.ndarray  # code of the visit's stage (-1 before the first stage event)
    visit_rank: np.ndarray  # 0 for a case's first visit of that stage
    visit_done: np.ndarray  # the visit ended (a later stage or outcome event)
    model: StageModel
    working: bool = False

    @property
    def n(self) -> int:
        return len(self.case_ids)

    def case_sum(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is None:
            return np.bincount(self.case, weights=values, minlength=self.n)
        return np.bincount(self.case[mask], weights=values[mask], minlength=self.n)

    def code(self, step: str) -> int:
        """The code of an activity, -1 when the log has no gap at it."""
        return self.names.index(step) if step in self.names else -1

    def rows_of(self, step: str) -> np.ndarray:
        """The gaps that make up a step: its visits' gaps for a stage, else the gaps ending at it."""
        c = self.code(step)
        if c < 0:
            return np.zeros(len(self.case), dtype=bool)
        return (self.visit_stage if step in self.model.stages else self.activity) == c

    def rows_at(self, step: str) -> np.ndarray:
        """:meth:`rows_of` as the gaps' positions, ascending (``np.flatnonzero`` of it), read off
        the gaps sorted once by code instead of a pass over all gaps per step."""
        c = self.code(step)
        if c < 0:
            return np.zeros(0, dtype="int64")
        order, bounds = self._by_stage if step in self.model.stages else self._by_activity
        return order[bounds[c + 1] : bounds[c + 2]]

    @functools.cached_property
    def _by_activity(self) -> tuple[np.ndarray, np.ndarray]:
        return _by_code(self.activity, len(self.names))

    @functools.cached_property
    def _by_stage(self) -> tuple[np.ndarray, np.ndarray]:
        return _by_code(self.visit_stage, len(self.names))

    @functools.cached_property
    def whole_gaps(self) -> bool:
        """Are the gaps whole numbers whose every partial sum is exact (:func:`_integral`)?"""
        return _integral(self.gap)


def _by_code(codes: np.ndarray, n_names: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions sorted by code (-1 first; stable: ascending within a code) and where each
    code's run starts: code ``c``'s positions are ``order[bounds[c + 1]:bounds[c + 2]]``."""
    shifted = codes.astype(np.int16 if n_names < 2**15 - 1 else np.int64) + 1  # radix sort on small codes
    order = np.argsort(shifted, kind="stable")
    bounds = np.zeros(n_names + 2, dtype="int64")
    bounds[1:] = np.cumsum(np.bincount(shifted, minlength=n_names + 1))
    return order, bounds


def _case_codes(attribution: pd.DataFrame, ids: pd.Series) -> np.ndarray:
    """Per gap: the position of its case in ``ids`` (-1 for none); each case id of the table is
    looked up once (a hash look-up in Arrow), the gaps read it through their codes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes, names = column_codes(attribution["case_id"])
    if not len(codes):
        return np.zeros(0, dtype="int64")
    names = np.asarray(names, dtype=object)
    if pd.api.types.infer_dtype(names, skipna=False) != "string":  # names that are text need no conversion
        names = pd.Index(names, dtype=object).astype(str).to_numpy()
    text = pa.array(names, type=pa.large_string())
    value_set = pa.array(ids.array, from_pandas=True)
    if isinstance(value_set, pa.ChunkedArray):
        value_set = value_set.combine_chunks()
    value_set = value_set.cast(pa.large_string())
    same = len(text) == len(value_set) and not text.null_count and not value_set.null_count
    if same and pc.all(pc.equal(text, value_set)).as_py():  # the table's cases are the case facts', in order
        return np.asarray(codes, dtype="int64")
    found = pc.fill_null(pc.index_in(text, value_set=value_set), -1)
    at = np.append(np.asarray(found.to_numpy(zero_copy_only=False), dtype="int64"), -1)  # code -1: no case
    return at[codes]


def _factorized(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values)`` (codes, distinct values in order of first appearance); for a
    categorical read off its codes: the first appearances are found in a prefix of the rows."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(values)
        return np.asarray(codes), np.asarray(uniques, dtype=object)
    raw = np.asarray(values.cat.codes, dtype="int64")
    n_cats = len(values.cat.categories)
    present = np.flatnonzero(np.bincount(raw + 1, minlength=n_cats + 1)[1:])
    m = 4096
    while True:  # the shortest prefix (growing 16-fold) holding every category present
        seen, first = np.unique(raw[:m], return_index=True)
        first, seen = first[seen >= 0], seen[seen >= 0]
        if len(seen) == len(present) or m >= len(raw):
            break
        m *= 16
    order = seen[np.argsort(first, kind="stable")]  # the categories in order of first appearance
    remap = np.full(n_cats + 1, -1, dtype="int64")
    remap[order] = np.arange(len(order))
    return remap[raw], np.asarray(values.cat.categories, dtype=object)[order]


def _activity_codes(attribution: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """``(names, activity codes, previous-activity codes)``: both columns coded in one vocabulary."""
    act, act_names = _factorized(attribution["activity"])
    prev, prev_names = _factorized(attribution["prev_activity"])
    names = [str(x) for x in act_names]
    names += sorted({str(x) for x in prev_names} - set(names))
    remap = np.append(pd.Index(names).get_indexer([str(x) for x in prev_names]), -1)  # -1 (a missing one) stays
    return tuple(names), act.astype("int32"), remap[prev].astype("int32")


def _kind_codes(attribution: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray]:
    """``(kinds, codes)``: the finding kinds charged, sorted, and per gap its kind's code (-1: none)."""
    raw, found = _factorized(attribution["kind"])
    kinds = sorted({str(k) for k in found if isinstance(k, str)})
    remap = np.append(pd.Index(kinds).get_indexer([str(k) for k in found]), -1)
    return tuple(kinds), remap[raw].astype("int32")


def _finite(values: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(values)`` (a copy), its passes over the values skipped when all are finite."""
    if bool(np.isfinite(values).all()):
        return values.copy()
    return np.nan_to_num(values)


def _ranks(keys: np.ndarray) -> np.ndarray:
    """Per entry: how many earlier entries have the same key (a cumulative count)."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    head = np.ones(len(sk), dtype=bool)
    head[1:] = sk[1:] != sk[:-1]
    pos = np.arange(len(sk))
    out = np.empty(len(sk), dtype="int64")
    out[order] = pos - np.maximum.accumulate(np.where(head, pos, 0))
    return out


def _visits(
    code: np.ndarray, prev: np.ndarray, prev_st: np.ndarray, is_st: np.ndarray, n_names: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per gap ``(visit id, visit's stage code, visit's rank among the case's visits of its stage,
    visit ended)``; a gap before the case's first stage event has visit and stage -1.

    A visit starts at each gap whose previous event is a stage event (``prev_st``): its id is the
    number of such gaps before it, its stage that event's activity; a gap belongs to the latest
    visit started up to it when that visit is its own case's. Positions and counts are int32 (a
    gap table has fewer than 2**31 rows)."""
    heads = np.flatnonzero(prev_st)
    n_visits = len(heads)
    g = np.cumsum(prev_st, dtype=np.int32) - 1  # the latest visit started up to each gap (-1: none)
    at = np.maximum(g, 0)
    has_visit = (g >= 0) & (code[heads][at] == code) if n_visits else np.zeros(len(code), dtype=bool)
    vid = np.where(has_visit, g, -1).astype("int32")
    del g
    stage_v = prev[heads].astype("int32")
    stage = np.where(has_visit, stage_v[at], -1).astype("int32") if n_visits else vid.copy()
    done_v = np.zeros(n_visits, dtype=bool)
    done_v[vid[has_visit & is_st]] = True  # a gap of the visit ends at a stage event
    done = np.where(has_visit, done_v[at], False) if n_visits else np.zeros(len(code), dtype=bool)
    # the visit's rank among its case's visits of its stage: visits are in case order, so a stable
    # sort by stage (radix, on small codes) puts each (stage, case) run together
    if n_names < 2**15 - 1:
        order = np.argsort(stage_v.astype(np.int16), kind="stable")
        key_s, key_c = stage_v[order], code[heads][order]
        head = np.ones(n_visits, dtype=bool)
        head[1:] = (key_s[1:] != key_s[:-1]) | (key_c[1:] != key_c[:-1])
        pos = np.arange(n_visits, dtype=np.int32)
        rank_v = np.empty(n_visits, dtype=np.int32)
        rank_v[order] = pos - np.maximum.accumulate(np.where(head, pos, 0))
    else:
        rank_v = _ranks(code[heads] * (n_names + 1) + stage_v)
    rank = np.where(has_visit, rank_v[at], 0).astype("int32") if n_visits else np.zeros(len(code), dtype="int32")
    return vid, stage, rank, done


def timeline(
    attribution: pd.DataFrame, cases: pd.DataFrame, model: StageModel, calendar: BusinessCalendar | None = None
) -> Timeline:
    """Arrays of the attribution table (rows in case and event order) and the case facts; the
    strings are coded once here, so every change and KPI works on integers."""
    cases = cases.reset_index(drop=True)
    ids = cases["case_id"].astype(str)
    a = attribution.reset_index(drop=True)
    code = _case_codes(a, ids)
    if len(code) and (np.diff(code) < 0).any():  # each case's gaps together, in event order
        order = np.argsort(code, kind="stable")
        a, code = a.iloc[order].reset_index(drop=True), code[order]
    gap = _finite(a["gap_s"].to_numpy(dtype="float64"))
    charged = _finite(a["charged_s"].to_numpy(dtype="float64"))
    if calendar is not None and len(a):
        work = np.asarray(calendar.seconds_between(a["gap_start"], a["gap_end"]), dtype="float64")
        charged = np.where(gap > 0, charged * work / np.where(gap > 0, gap, 1.0), 0.0)
        gap = work
    names, act, prev = _activity_codes(a)
    stage_like = set(model.stages) | set(model.won) | set(model.lost)
    is_stage = np.array([nm in stage_like for nm in names] + [False])  # code -1 (none) is no stage
    visit, visit_stage, visit_rank, visit_done = _visits(code, prev, is_stage[prev], is_stage[act], len(names))
    kinds, kind = _kind_codes(a)
    return Timeline(
        case_ids=ids.to_numpy(dtype=object),
        closed=cases["closed"].to_numpy(dtype=bool),
        won=cases["won"].to_numpy(dtype=bool),
        cases=cases,
        case=code,
        gap=gap,
        names=names,
        activity=act,
        own=a["cause"].eq("stage").to_numpy(dtype=bool, na_value=False),
        repeat=text_in(a["rule"], REPEAT_RULES),
        kinds=kinds,
        kind=kind,
        charged=np.minimum(charged, gap),
        visit=visit,
        visit_stage=visit_stage,
        visit_rank=visit_rank,
        visit_done=visit_done,
        model=model,
        working=calendar is not None,
    )


def case_mask(tl: Timeline, where: Sequence[tuple[str, tuple[str, ...]]]) -> np.ndarray:
    """Per case: do its attributes match every ``(attribute, values)`` of ``where``?"""
    m = np.ones(tl.n, dtype=bool)
    for col, values in where:
        m &= tl.cases[col].astype("str").isin(list(values)).to_numpy()
    return m


def _integral(values: np.ndarray) -> bool:
    """Are all values whole numbers small enough that every partial sum of them is exact? Then any
    order of summation gives the same bits (pandas' compensated group sums included)."""
    return bool(np.all(np.trunc(values) == values)) and float(np.sum(np.abs(values))) < 2.0**52


def group_cumsum(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The running sum of ``values`` within each group (``groups`` nondecreasing: each group's
    entries together), exactly as pandas' ``groupby(...).cumsum()`` gives it."""
    if not _integral(values):  # compensated sums: pandas' own
        return np.asarray(pd.Series(values).groupby(groups).cumsum().to_numpy(), dtype="float64")
    cum = np.cumsum(values)
    head = np.ones(len(values), dtype=bool)
    head[1:] = groups[1:] != groups[:-1]
    before = (cum - values)[np.maximum.accumulate(np.where(head, np.arange(len(values)), 0))]
    return np.asarray(cum - before)


def group_sums(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per group (``groups`` nondecreasing: each group's entries together), in order, the sum of
    its ``values``, exactly as pandas' ``groupby(...).sum()`` gives it."""
    if not _integral(values):  # compensated sums: pandas' own
        return np.asarray(pd.Series(values).groupby(groups, sort=False).sum().to_numpy(), dtype="float64")
    return np.asarray(np.add.reduceat(values, np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])))


def apply(tl: Timeline, change: Change, new: np.ndarray) -> np.ndarray:
    """The gaps after one change (``new``: the gaps the changes before it left)."""
    rows, vals = _delta(tl, change, new)
    out = new.copy()
    out[rows] = vals
    return out


def _delta(tl: Timeline, change: Change, gap: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One change on the gaps ``gap`` (default: today's), as the rows it may touch and their new
    values, every other gap staying as it is: ``apply`` writes them into a copy, and a lone
    change's gain is read off them without a pass over the whole table. The rows of a step are
    read off :meth:`Timeline.rows_at` (ascending, as ``np.flatnonzero`` of its mask)."""
    gap = tl.gap if gap is None else gap
    if isinstance(change, Remove):
        rows = tl.rows_at(change.step)
        if change.repeats_only:
            rows = rows[(tl.visit_rank[rows] > 0) if change.step in tl.model.stages else tl.repeat[rows]]
        if change.where:
            rows = rows[case_mask(tl, change.where)[tl.case[rows]]]
        return rows, np.zeros(len(rows))
    if isinstance(change, Cap):
        lim = change.limit.total_seconds()
        if change.step not in tl.model.stages:
            rows = tl.rows_at(change.step)
            return rows, np.minimum(gap[rows], lim)
        rows = tl.rows_at(change.step)
        rows = rows[tl.own[rows]]
        vals = gap[rows]
        if not len(rows):
            return rows, vals
        cut = np.clip(group_cumsum(tl.visit[rows], vals) - lim, 0.0, vals)
        return rows, vals - cut
    if isinstance(change, Parallel):
        ra, rb = tl.rows_at(change.a), tl.rows_at(change.b)
        da = np.bincount(tl.case[ra], weights=gap[ra], minlength=tl.n)
        db = np.bincount(tl.case[rb], weights=gap[rb], minlength=tl.n)
        both = (da > 0) & (db > 0)
        drop_a = both & (da <= db)
        drop_b = both & ~drop_a
        rows = np.union1d(ra[drop_a[tl.case[ra]]], rb[drop_b[tl.case[rb]]])
        return rows, np.zeros(len(rows))
    raise ArgumentTypeError(f"not a change: {change!r}")  # pragma: no cover - check() refuses it first


def replay(tl: Timeline, items: Sequence[Change]) -> np.ndarray:
    """The gaps after all changes, in order."""
    new = tl.gap.copy()
    for c in items:
        new = apply(tl, c, new)
    return new


_QUANTILE = {"median": 0.5, "p90": 0.9}


def _stat(values: np.ndarray, how: str) -> float:
    if how in _QUANTILE:
        return float(np.quantile(values, _QUANTILE[how]))
    return float(np.sum(values) if how == "sum" else np.mean(values))


def _count_dtype(n: int) -> type[np.floating[Any]]:
    """Counts of ``n`` draws as floats: float32 holds every whole number up to 2**24 exactly."""
    return np.float32 if n < 2**24 else np.float64


def count_blocks(n: int, n_boot: int, seed: int, dtype: type[np.floating[Any]] | None = None) -> Iterator[np.ndarray]:
    """The case-bootstrap resamples as counts (how often each of ``n`` cases is drawn; whole
    numbers as floats of ``dtype``, float32 when exact, ready for matrix products), in blocks of
    rows small enough to keep memory bounded; the same seed gives the same resamples."""
    rng = np.random.default_rng(seed)
    per = max(1, _BLOCK // max(n, 1))
    done = 0
    while done < n_boot:
        k = min(per, n_boot - done)
        # drawn as int32: the same numbers as numpy's default int64 draw (a range under 2**32 is
        # drawn 32 bits at a time either way), several times faster
        idx = rng.integers(0, n, size=(k, n), dtype=np.int32)
        counts = np.empty((k, n), dtype=dtype or _count_dtype(n))
        for r in range(k):  # one resample at a time: its counts stay in cache
            counts[r] = np.bincount(idx[r], minlength=n)
        yield counts
        done += k


#: Half-width of the band of sorted positions, around the quantile's rank, in which a resample's
#: order statistic is looked for first, in units of sqrt(n): the sorted position of a resample's
#: quantile moves by at most sqrt(n)/2 (one standard deviation), so a row outside the band is an
#: 8-sigma fluke, then handled over all positions.
_BAND_WIDTH = 4.0
_BAND_MIN = 256


class _Quantile:
    """A quantile (median or p90) of per-case ``values`` over resamples given as rows of counts, by
    numpy's linear rule on the resampled values: ``v[lo] + frac * (v[lo + 1] - v[lo])``.

    A resample's order statistic at rank r is the sorted value at the first position whose
    running count exceeds r. Only a band of sorted positions around the quantile's rank is
    searched: the cases below the band (``below``, one indicator per case) are counted for all
    rows at once by a matrix product, the band's cases are gathered and summed up in order. The
    values are sorted within the band only (``np.partition`` finds its bounds); a row whose rank
    falls outside the band is done over all sorted positions.
    """

    def __init__(self, values: np.ndarray, how: str) -> None:
        n = len(values)
        h = (n - 1) * _QUANTILE[how]
        self.lo = math.floor(h)
        self.hi = min(self.lo + 1, n - 1)
        self.frac = h - self.lo
        self.values = values
        half = max(_BAND_MIN, math.ceil(_BAND_WIDTH * math.sqrt(n)))
        first, last = max(0, self.lo - half), min(n - 1, self.hi + half)
        if first == 0 and last == n - 1:  # the band is everything
            self.below = np.zeros(n, dtype=bool)
            band = np.argsort(values, kind="stable")
        else:
            part = np.partition(values, [first, last])
            self.below = values < part[first]
            band = np.flatnonzero((values >= part[first]) & (values <= part[last]))
            band = band[np.argsort(values[band], kind="stable")]
        self.band = band
        self.sorted = values[band]
        self.start = int(np.count_nonzero(self.below))  # the band's first sorted position

    def of(self, counts: np.ndarray, below: np.ndarray) -> np.ndarray:
        """Per row of ``counts``: the quantile; ``below``: per row, the count of the cases below the band."""
        cs = np.cumsum(counts[:, self.band], axis=1) + below[:, None]
        # the order statistics are in the band when the rank is reached neither before nor after it
        inside = (below <= self.lo) & (cs[:, -1] > self.hi)
        v = self.sorted
        j0 = (cs <= self.lo).sum(axis=1)
        j1 = (cs <= self.hi).sum(axis=1)
        if not inside.all():
            j0, j1, v = self._everywhere(counts, inside, j0, j1)
        return np.asarray(v[j0] + self.frac * (v[j1] - v[j0]))

    def _everywhere(
        self, counts: np.ndarray, inside: np.ndarray, j0: np.ndarray, j1: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted positions over all values: the band's rows shifted by its start, the others searched in full."""
        n = len(self.values)
        order = np.argsort(self.values, kind="stable")
        j0, j1 = j0 + self.start, j1 + self.start
        out = np.flatnonzero(~inside)
        cs = np.cumsum(counts[out][:, order], axis=1)
        j0[out] = np.minimum((cs <= self.lo).sum(axis=1), n - 1)
        j1[out] = np.minimum((cs <= self.hi).sum(axis=1), n - 1)
        return j0, j1, self.values[order]


class _Quantiles:
    """Several :class:`_Quantile` over the same resamples: their below-band counts in one matrix
    product per block (exact: sums of whole numbers, each representable in the counts' dtype)."""

    def __init__(self, items: Sequence[tuple[np.ndarray, str]], dtype: type[np.floating[Any]]) -> None:
        self.items = [_Quantile(v, how) for v, how in items]
        self.below = np.stack([q.below for q in self.items], axis=1).astype(dtype) if self.items else None

    def of(self, counts: np.ndarray) -> list[np.ndarray]:
        """Per quantile: its value on every row of ``counts``."""
        if self.below is None:
            return []
        below = (counts.astype(self.below.dtype, copy=False) @ self.below).astype(np.float64)
        return [q.of(counts, below[:, i]) for i, q in enumerate(self.items)]


class _Sums:
    """``counts @ v`` for several per-case vectors ``v``. Vectors of whole numbers (counts of cases,
    0/1 flags) go into one matrix product per block: their sums are exact in any order. Every other
    vector gets its own matrix-vector product on float64 counts, whose rounding is the one it has
    always had (a matrix product would round differently)."""

    def __init__(self, vectors: Sequence[np.ndarray], n: int) -> None:
        self.vectors = vectors
        self.exact = [
            i for i, v in enumerate(vectors) if _integral(v) and n * float(np.max(np.abs(v), initial=0)) < 2**52
        ]
        self.matrix = np.stack([vectors[i] for i in self.exact], axis=1) if self.exact else None

    def of(self, counts: np.ndarray) -> list[np.ndarray]:
        """Per vector: its sum over every row of ``counts``."""
        if not self.vectors:
            return []
        c64 = counts.astype(np.float64, copy=False)
        out: list[np.ndarray] = [np.empty(0)] * len(self.vectors)
        if self.matrix is not None:
            both = c64 @ self.matrix
            for col, i in enumerate(self.exact):
                out[i] = np.ascontiguousarray(both[:, col])
        exact = set(self.exact)
        for i, v in enumerate(self.vectors):
            if i not in exact:
                out[i] = np.asarray(c64 @ v, dtype="float64")
        return out


def boot_stat(values: np.ndarray, counts: np.ndarray, how: str) -> np.ndarray:
    """The statistic of each resample given as a row of ``counts``: what numpy gives on the
    resampled values (``np.quantile``'s linear rule for the median and p90), without
    materialising or sorting the resamples (see :class:`_Quantile`)."""
    n = len(values)
    if how in _QUANTILE:
        return _Quantiles([(values, how)], np.float64).of(np.asarray(counts, dtype=np.float64))[0]
    total = _Sums([values], n).of(counts)[0]
    return total / n if how == "mean" else total


@dataclasses.dataclass(frozen=True, eq=False)
class Stat:
    """One statistic to bootstrap over a population of cases: per-case values today and
    projected; ``how`` is median, p90, sum, mean or ratio (``sum(values) / sum(den)``)."""

    today: np.ndarray
    projected: np.ndarray
    how: str
    den: np.ndarray | None = None


def _value(x: np.ndarray, how: str, den: np.ndarray | None) -> float:
    if how == "ratio" and den is not None:
        d = float(np.sum(den))
        return float(np.sum(x)) / d if d > 0 else math.nan
    return _stat(x, how)


def _finish(resampled: np.ndarray, how: str, n: int, den: np.ndarray | None) -> np.ndarray:
    """A statistic per resample from its resampled quantile or sum (a ratio: and its denominator's sum)."""
    if how == "ratio" and den is not None:
        return np.divide(resampled, den, out=np.full(len(resampled), np.nan), where=den > 0)
    return resampled / n if how == "mean" else resampled


def _slot(items: list[Any], item: Any) -> int:
    items.append(item)
    return len(items) - 1


def _resampled(
    n: int, stats: Sequence[Stat], same: Sequence[bool], *, n_boot: int, seed: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per statistic: its projected value on every resample, and projected − today on every resample."""
    # every vector the statistics need over the resamples, and per statistic where its own are:
    # (projected, today — None when the same —, a ratio's denominator)
    quant: list[tuple[np.ndarray, str]] = []
    sums: list[np.ndarray] = []
    slots: list[tuple[int, int | None, int | None]] = []
    for st, unchanged in zip(stats, same, strict=True):
        if st.how in _QUANTILE:
            today = None if unchanged else _slot(quant, (st.today, st.how))
            slots.append((_slot(quant, (st.projected, st.how)), today, None))
        else:
            den = None if st.den is None else _slot(sums, st.den)
            slots.append((_slot(sums, st.projected), None if unchanged else _slot(sums, st.today), den))
    # float64 counts when there are sums to take (their matrix-vector products need them), else float32
    dtype = np.float64 if sums else _count_dtype(n)
    quantiles, totals = _Quantiles(quant, dtype), _Sums(sums, n)
    out_p: list[list[np.ndarray]] = [[] for _ in stats]
    out_d: list[list[np.ndarray]] = [[] for _ in stats]
    for counts in count_blocks(n, n_boot, seed, dtype):
        qs, ss = quantiles.of(counts), totals.of(counts)
        for j, (st, (at_p, at_t, at_d)) in enumerate(zip(stats, slots, strict=True)):
            got = qs if st.how in _QUANTILE else ss
            den_sums = None if at_d is None else ss[at_d]
            proj = _finish(got[at_p], st.how, n, den_sums)
            out_p[j].append(proj)
            out_d[j].append(np.zeros_like(proj) if at_t is None else proj - _finish(got[at_t], st.how, n, den_sums))
    return [np.concatenate(x) for x in out_p], [np.concatenate(x) for x in out_d]


def bootstrap_many(
    n: int, stats: Sequence[Stat], *, n_boot: int, seed: int
) -> list[tuple[float, float, float, float, float, float]]:
    """Per statistic ``(today, projected, low, high, change_low, change_high)``: its value on both,
    the 95% case-bootstrap interval of the projected value and of ``projected − today`` (paired:
    the same resampled cases on both sides, and the same resamples for every statistic of the
    population). One pass over the resample blocks serves all statistics."""
    same = [np.array_equal(st.today, st.projected) for st in stats]
    boot = _resampled(n, stats, same, n_boot=n_boot, seed=seed) if n and n_boot > 0 else None
    res = []
    for j, st in enumerate(stats):
        if not n:
            res.append((math.nan,) * 6)
            continue
        t, p = _value(st.today, st.how, st.den), _value(st.projected, st.how, st.den)
        if boot is None:
            res.append((t, p, math.nan, math.nan, math.nan, math.nan))
            continue
        lo, hi = np.nanquantile(boot[0][j], [0.025, 0.975])
        dlo, dhi = np.nanquantile(boot[1][j], [0.025, 0.975])
        res.append((t, p, float(lo), float(hi), float(dlo), float(dhi)))
    return res


def bootstrap(
    today: np.ndarray, projected: np.ndarray, how: str, *, n_boot: int, seed: int
) -> tuple[float, float, float, float, float, float]:
    """:func:`bootstrap_many` of one statistic."""
    return bootstrap_many(len(today), [Stat(today, projected, how)], n_boot=n_boot, seed=seed)[0]


# ---------------------------------------------------------------------------- findings' what-ifs


def finding_change(row: Mapping[str, Any], limits: Mapping[tuple[str, str], float]) -> Change | None:
    """The change that would remove a redundant-approval or long-wait finding, else ``None``:
    a repeat → drop the repeats; a chain → run the two in parallel; a rubber stamp → remove the
    step; a long wait or slow response → cap the step at the finding's limit (SLA or learned)."""
    kind, rule = row["kind"], row["rule"]
    if kind == "redundant_approval":
        if rule in REPEAT_RULES and row["activity"]:
            return changes.remove(str(row["activity"]), repeats_only=True)
        if rule == "sequential_chain" and row["from_activity"] and row["to_activity"]:
            return changes.parallel(str(row["from_activity"]), str(row["to_activity"]))
        if rule == "rubber_stamp" and row["activity"]:
            return changes.remove(str(row["activity"]))
        return None
    if kind in ("long_wait", "slow_response") and rule != "stalled_open":
        step = row["activity"] if kind == "long_wait" else row["from_activity"]
        lim = limits.get((str(rule), str(step)), math.inf)
        if step and math.isfinite(lim) and lim > 0:
            return changes.cap(str(step), pd.Timedelta(seconds=round(lim)))
    return None


def finding_limits(ctx: FindingContext, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """``(rule, step) → limit`` (seconds) the long-wait and slow-response findings judged against:
    the SLA, else the same :func:`~salesmining.findings.context.targets` the rules use (computed for
    the ``wanted`` steps only; a step's limit depends only on its own durations)."""
    from salesmining.core.schema import ACTIVITY
    from salesmining.findings.context import targets

    out: dict[tuple[str, str], float] = {}
    model = ctx.model
    learned: dict[str, set[str]] = {"response_outlier": set(), "stage_outlier": set(), "approval_outlier": set()}
    for rule, step in wanted:
        sla = model.approval_sla if rule.startswith("approval") else model.sla
        if rule.endswith("_over_sla") and step in sla:
            out[(rule, step)] = sla[step].total_seconds()
        elif rule in learned:
            learned[rule].add(step)
    v = ctx.visits
    if learned["response_outlier"] or learned["stage_outlier"]:
        st = v[(v["role"] == "stage") & ~v["behind"].astype(bool) & v["net_s"].notna()]
        first = ctx.rules.response[0] if ctx.rules.response else model.stages[0]
        resp = st[(st["stage"] == first) & ~st.duplicated(["case", "stage"])]
        rest = st[(st["stage"] != first) & st["stage"].isin(list(learned["stage_outlier"]))]
        for frame, rule in ((resp, "response_outlier"), (rest, "stage_outlier")):
            if len(frame) and learned[rule]:
                lim = targets(ctx, frame, "stage", "net_s", {}).groupby(frame["stage"].to_numpy()).first()
                out.update({(rule, str(s)): float(x) for s, x in lim.items()})
    if learned["approval_outlier"]:
        g = ctx.gaps
        ap = g[(g["gap_kind"] == "approval") & g[ACTIVITY].isin(list(learned["approval_outlier"]))]
        if len(ap):
            lim = targets(ctx, ap, ACTIVITY, "gap_s", {}).groupby(ap[ACTIVITY].to_numpy()).first()
            out.update({("approval_outlier", str(s)): float(x) for s, x in lim.items()})
    return out


def gains(
    tl: Timeline, items: Sequence[Sequence[Change]], *, n_boot: int, seed: int
) -> list[tuple[float, float, float, float]]:
    """Per candidate (a list of changes): the median cycle-time gain of closed cases (seconds,
    today − projected), its 95% paired-bootstrap interval, and the time saved over all cases
    (seconds). The same resamples serve every candidate."""
    closed = np.flatnonzero(tl.closed)
    if not len(closed) or not items:
        return [(math.nan, math.nan, math.nan, math.nan)] * len(items)
    every = tl.case_sum(tl.gap)
    today = every[closed]
    t_med = _stat(today, "median")
    # the same candidate twice (two findings, one change) is replayed once
    first: dict[tuple[Change, ...], int] = {}
    of = [first.setdefault(tuple(c), j) for j, c in enumerate(items)]
    unique = sorted(set(of))
    exact = tl.whole_gaps  # whole seconds: every sum of gaps is exact, in any order
    saved, projected = {}, {}
    for j in unique:  # one candidate's gaps at a time: memory holds one copy of the gaps
        c = items[j]
        if len(c) == 1:  # only the gaps the change touches
            rows, vals = _delta(tl, c[0])
            diff = tl.gap[rows] - vals
            if exact and _integral(vals):  # whole numbers: the case sums less the change are exact
                saved[j] = float(np.sum(diff))
                projected[j] = (every - np.bincount(tl.case[rows], weights=diff, minlength=tl.n))[closed]
                continue
            new = tl.gap.copy()
            new[rows] = vals
        else:
            new = replay(tl, c)
        saved[j] = float(np.sum(tl.gap - new))
        projected[j] = tl.case_sum(new)[closed]
        del new
    moved = {j: not np.array_equal(projected[j], today) for j in unique}
    diffs: dict[int, list[np.ndarray]] = {j: [] for j in unique}
    if n_boot > 0 and any(moved.values()):
        who = [j for j in unique if moved[j]]
        quantiles = _Quantiles([(today, "median")] + [(projected[j], "median") for j in who], _count_dtype(len(closed)))
        for counts in count_blocks(len(closed), n_boot, seed):
            base, *medians = quantiles.of(counts)
            for j, m in zip(who, medians, strict=True):
                diffs[j].append(base - m)
    res = {}
    for j in unique:
        gain = t_med - _stat(projected[j], "median")
        if n_boot <= 0:
            res[j] = (gain, math.nan, math.nan, saved[j])
        elif not moved[j]:
            res[j] = (gain, 0.0, 0.0, saved[j])
        else:
            lo, hi = np.quantile(np.concatenate(diffs[j]), [0.025, 0.975])
            res[j] = (gain, float(lo), float(hi), saved[j])
    return [res[j] for j in of]


def finding_whatifs(findings: pd.DataFrame, attribution: pd.DataFrame, ctx: FindingContext) -> pd.DataFrame:
    """``findings`` with :data:`FINDING_WHATIF_COLUMNS`: for every redundant-approval and
    long-wait (and slow-response) finding, the change that removes it and the median cycle-time
    gain of closed cases with its 95% interval (``None``/NaN for other findings)."""
    out = findings.copy()
    out["whatif_change"] = pd.Series([None] * len(out), dtype="object")
    skip = _SKIP.get()
    for c in FINDING_WHATIF_COLUMNS[1:]:
        out[c] = np.nan
    # the what-if columns go before the place columns, which stay last
    cols = [c for c in findings.columns if c not in LOCATION_COLUMNS]
    out = out[[*cols, *FINDING_WHATIF_COLUMNS, *[c for c in LOCATION_COLUMNS if c in findings.columns]]]
    if not len(out) or skip:
        return out
    eligible = out["kind"].isin(["redundant_approval", "long_wait", "slow_response"]) & (out["rule"] != "stalled_open")
    if not eligible.any():
        return out
    waits = out[eligible & out["kind"].isin(["long_wait", "slow_response"])]
    step = waits["activity"].where(waits["kind"] == "long_wait", waits["from_activity"])
    limits = finding_limits(ctx, {(str(r), str(s)) for r, s in zip(waits["rule"], step, strict=True)})
    rows, cands = [], []
    for i, r in out[eligible].iterrows():  # one per finding (a handful), not per case
        ch = finding_change(r, limits)
        if ch is not None:
            rows.append(i)
            cands.append([ch])
    if not cands:
        return out
    tl = timeline(attribution, ctx.cases, ctx.model)
    res = gains(tl, cands, n_boot=finding_n_boot(int(np.count_nonzero(tl.closed))), seed=0)
    out.loc[rows, "whatif_change"] = [c[0].describe() for c in cands]
    arr = np.asarray(res, dtype="float64")
    out.loc[rows, "whatif_median_gain_s"] = arr[:, 0]
    out.loc[rows, "whatif_low_s"] = arr[:, 1]
    out.loc[rows, "whatif_high_s"] = arr[:, 2]
    out.loc[rows, "whatif_saved_s"] = arr[:, 3]
    return out
