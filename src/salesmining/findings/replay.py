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
charged to a finding there first (a wait cut short loses its excess first). Everything is
vectorised over the gap table (numpy group sums), and confidence intervals come from a case
bootstrap drawn as index matrices, in blocks.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesmining.core.errors import ArgumentTypeError
from salesmining.findings.changes import Cap, Change, Parallel, Remove, changes
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
    """The gap table as arrays (one entry per gap, cases coded 0..n-1 in ``case_ids`` order)."""

    case_ids: np.ndarray
    closed: np.ndarray  # per case
    won: np.ndarray  # per case
    cases: pd.DataFrame  # the case facts, in case_ids order
    case: np.ndarray  # per gap: case code
    gap: np.ndarray  # seconds (working seconds under a calendar)
    activity: np.ndarray
    cause: np.ndarray
    kind: np.ndarray
    rule: np.ndarray
    charged: np.ndarray
    visit: np.ndarray  # global visit id (-1 before the first stage event)
    visit_stage: np.ndarray
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

    def rows_of(self, step: str) -> np.ndarray:
        """The gaps that make up a step: its visits' gaps for a stage, else the gaps ending at it."""
        if step in self.model.stages:
            return np.asarray(self.visit_stage == step, dtype=bool)
        return np.asarray(self.activity == step, dtype=bool)


def timeline(
    attribution: pd.DataFrame, cases: pd.DataFrame, model: StageModel, calendar: BusinessCalendar | None = None
) -> Timeline:
    """Arrays of the attribution table (rows in case and event order) and the case facts."""
    cases = cases.reset_index(drop=True)
    ids = cases["case_id"].astype(str).to_numpy(dtype=object)
    a = attribution.reset_index(drop=True)
    code = pd.Index(ids).get_indexer(a["case_id"].astype(str)).astype("int64")
    if len(code) and (np.diff(code) < 0).any():  # each case's gaps together, in event order
        order = np.argsort(code, kind="stable")
        a, code = a.iloc[order].reset_index(drop=True), code[order]
    gap = np.nan_to_num(a["gap_s"].to_numpy(dtype="float64"))
    charged = np.nan_to_num(a["charged_s"].to_numpy(dtype="float64"))
    if calendar is not None and len(a):
        work = np.asarray(calendar.seconds_between(a["gap_start"], a["gap_end"]), dtype="float64")
        charged = np.where(gap > 0, charged * work / np.where(gap > 0, gap, 1.0), 0.0)
        gap = work
    act = a["activity"].astype("object").to_numpy()
    prev = a["prev_activity"].astype("object").to_numpy()
    stage_like = list(set(model.stages) | set(model.won) | set(model.lost))
    is_st = pd.Series(act).isin(stage_like).to_numpy()
    prev_st = pd.Series(prev).isin(stage_like).to_numpy()
    n = len(a)
    pos = np.arange(n)
    first = np.ones(n, dtype=bool)
    first[1:] = code[1:] != code[:-1]
    case_start = np.maximum.accumulate(np.where(first, pos, 0))
    # the visit a gap belongs to: the number of stage events among the case's events up to the
    # gap's start (the previous events of the case's gaps so far), and the last of them
    p_int = prev_st.astype("int64")
    cum = np.cumsum(p_int)
    v_local = cum - (cum - p_int)[case_start]
    last = np.maximum.accumulate(np.where(prev_st, pos, -1))
    ok = last >= case_start
    stage = np.where(ok, prev[np.clip(last, 0, None)], None)
    is_int = is_st.astype("int64")
    # a visit id unique over the log; gaps before any stage event belong to no visit
    has_visit = v_local > 0
    new_visit = has_visit & (first | np.r_[True, v_local[1:] != v_local[:-1]])
    vid = np.where(has_visit, np.cumsum(new_visit) - 1, -1).astype("int64")
    n_visits = int(new_visit.sum())
    done_v = np.bincount(vid[has_visit], weights=is_int[has_visit], minlength=n_visits) > 0
    done = np.where(has_visit, done_v[np.clip(vid, 0, None)] if n_visits else False, False)
    heads = np.flatnonzero(new_visit)
    rank_v = pd.DataFrame({"c": code[heads], "s": stage[heads]}).groupby(["c", "s"], sort=False).cumcount()
    rank = np.where(has_visit, rank_v.to_numpy()[np.clip(vid, 0, None)] if n_visits else 0, 0).astype("int64")
    kind = a["kind"].astype("object").to_numpy()
    rule = a["rule"].astype("object").to_numpy()
    return Timeline(
        case_ids=ids,
        closed=cases["closed"].to_numpy(dtype=bool),
        won=cases["won"].to_numpy(dtype=bool),
        cases=cases,
        case=code.astype("int64"),
        gap=gap,
        activity=act,
        cause=a["cause"].astype("object").to_numpy(),
        kind=kind,
        rule=rule,
        charged=np.minimum(charged, gap),
        visit=vid.astype("int64"),
        visit_stage=np.where(has_visit, stage, np.array(None, dtype=object)),
        visit_rank=rank,
        visit_done=done,
        model=model,
        working=calendar is not None,
    )


def case_mask(tl: Timeline, where: Sequence[tuple[str, tuple[str, ...]]]) -> np.ndarray:
    """Per case: do its attributes match every ``(attribute, values)`` of ``where``?"""
    m = np.ones(tl.n, dtype=bool)
    for col, values in where:
        m &= tl.cases[col].astype("str").isin(list(values)).to_numpy()
    return m


def apply(tl: Timeline, change: Change, new: np.ndarray) -> np.ndarray:
    """The gaps after one change (``new``: the gaps the changes before it left)."""
    if isinstance(change, Remove):
        m = tl.rows_of(change.step)
        if change.repeats_only:
            if change.step in tl.model.stages:
                m &= tl.visit_rank > 0
            else:
                m &= pd.Series(tl.rule).isin(list(REPEAT_RULES)).to_numpy()
        if change.where:
            m &= case_mask(tl, change.where)[tl.case]
        return np.where(m, 0.0, new)
    if isinstance(change, Cap):
        lim = change.limit.total_seconds()
        if change.step not in tl.model.stages:
            m = tl.rows_of(change.step)
            return np.where(m, np.minimum(new, lim), new)
        m = np.flatnonzero(tl.rows_of(change.step) & (tl.cause == "stage"))
        out = new.copy()
        if len(m):
            vals = new[m]
            cum = pd.Series(vals).groupby(tl.visit[m]).cumsum().to_numpy()
            cut = np.clip(cum - lim, 0.0, vals)
            out[m] = vals - cut
        return out
    if isinstance(change, Parallel):
        ma, mb = tl.rows_of(change.a), tl.rows_of(change.b)
        da, db = tl.case_sum(new, ma), tl.case_sum(new, mb)
        both = (da > 0) & (db > 0)
        drop_a = both & (da <= db)
        drop_b = both & ~drop_a
        out = np.where(ma & drop_a[tl.case], 0.0, new)
        return np.where(mb & drop_b[tl.case], 0.0, out)
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


def count_blocks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The case-bootstrap resamples as counts (how often each of ``n`` cases is drawn), in
    blocks of rows small enough to keep memory bounded; the same seed gives the same resamples."""
    rng = np.random.default_rng(seed)
    per = max(1, _BLOCK // max(n, 1))
    done = 0
    while done < n_boot:
        k = min(per, n_boot - done)
        idx = rng.integers(0, n, size=(k, n))
        flat = (idx + (np.arange(k) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=k * n).astype(np.int32).reshape(k, n)
        done += k


def boot_stat(values: np.ndarray, counts: np.ndarray, how: str) -> np.ndarray:
    """The statistic of each resample given as a row of ``counts``: exactly what numpy gives on
    the resampled values (``np.quantile``'s linear rule for the median and p90), without
    materialising or sorting the resamples: the values are sorted once and each row's order
    statistics found from the running counts."""
    n = len(values)
    if how == "sum":
        return np.asarray(counts @ values, dtype="float64")
    if how == "mean":
        return np.asarray(counts @ values, dtype="float64") / n
    h = (n - 1) * _QUANTILE[how]
    lo = math.floor(h)
    frac = h - lo
    order = np.argsort(values, kind="stable")
    v = values[order]
    k = counts.shape[0]
    # each row's running counts, offset per row so that the whole block is one sorted array: the
    # number of entries ≤ a position in a row is then one vectorised binary search
    cs = np.cumsum(counts[:, order], axis=1, dtype=np.int64)
    cs += (np.arange(k, dtype=np.int64) * (n + 1))[:, None]
    flat = cs.ravel()
    base = np.arange(k, dtype=np.int64) * (n + 1)
    starts = np.arange(k, dtype=np.int64) * n
    j0 = np.minimum(np.searchsorted(flat, base + lo, side="right") - starts, n - 1)
    j1 = np.minimum(np.searchsorted(flat, base + min(lo + 1, n - 1), side="right") - starts, n - 1)
    return np.asarray(v[j0] + frac * (v[j1] - v[j0]))


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


def _resampled(x: np.ndarray, counts: np.ndarray, how: str, den_counts: np.ndarray | None) -> np.ndarray:
    if how == "ratio" and den_counts is not None:
        num = np.asarray(counts @ x, dtype="float64")
        return np.divide(num, den_counts, out=np.full(len(num), np.nan), where=den_counts > 0)
    return boot_stat(x, counts, how)


def bootstrap_many(
    n: int, stats: Sequence[Stat], *, n_boot: int, seed: int
) -> list[tuple[float, float, float, float, float, float]]:
    """Per statistic ``(today, projected, low, high, change_low, change_high)``: its value on both,
    the 95% case-bootstrap interval of the projected value and of ``projected − today`` (paired:
    the same resampled cases on both sides, and the same resamples for every statistic of the
    population). One pass over the resample blocks serves all statistics."""
    out_p: list[list[np.ndarray]] = [[] for _ in stats]
    out_d: list[list[np.ndarray]] = [[] for _ in stats]
    same = [np.array_equal(st.today, st.projected) for st in stats]
    if n and n_boot > 0:
        for counts in count_blocks(n, n_boot, seed):
            for j, st in enumerate(stats):
                dc = None if st.den is None else np.asarray(counts @ st.den, dtype="float64")
                sp = _resampled(st.projected, counts, st.how, dc)
                out_p[j].append(sp)
                out_d[j].append(np.zeros_like(sp) if same[j] else sp - _resampled(st.today, counts, st.how, dc))
    res = []
    for j, st in enumerate(stats):
        if not n:
            res.append((math.nan,) * 6)
            continue
        t, p = _value(st.today, st.how, st.den), _value(st.projected, st.how, st.den)
        if not out_p[j]:
            res.append((t, p, math.nan, math.nan, math.nan, math.nan))
            continue
        pa, da = np.concatenate(out_p[j]), np.concatenate(out_d[j])
        lo, hi = np.nanquantile(pa, [0.025, 0.975])
        dlo, dhi = np.nanquantile(da, [0.025, 0.975])
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
    today = tl.case_sum(tl.gap)[closed]
    t_med = _stat(today, "median")
    news = [replay(tl, c) for c in items]
    saved = [float(np.sum(tl.gap - new)) for new in news]
    projected = [tl.case_sum(new)[closed] for new in news]
    moved = [not np.array_equal(p, today) for p in projected]
    diffs: list[list[np.ndarray]] = [[] for _ in items]
    if n_boot > 0 and any(moved):
        for counts in count_blocks(len(closed), n_boot, seed):
            base = boot_stat(today, counts, "median")
            for j, p in enumerate(projected):
                if moved[j]:
                    diffs[j].append(base - boot_stat(p, counts, "median"))
    out = []
    for j, p in enumerate(projected):
        gain = t_med - _stat(p, "median")
        if n_boot <= 0:
            out.append((gain, math.nan, math.nan, saved[j]))
        elif not moved[j]:
            out.append((gain, 0.0, 0.0, saved[j]))
        else:
            lo, hi = np.quantile(np.concatenate(diffs[j]), [0.025, 0.975])
            out.append((gain, float(lo), float(hi), saved[j]))
    return out


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
