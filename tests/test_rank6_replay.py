"""The what-if replay's fast parts against plain computations: visits per gap, one change as the
rows it touches, the findings' gains (whole and fractional seconds, a candidate given twice)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
import yaml

import salesmining as sm
from salesmining.datasets import generate_sales_log, stages_yaml
from salesmining.findings import replay
from salesmining.findings.changes import Cap, Parallel, Remove
from salesmining.findings.replay import Timeline, apply, case_mask, count_blocks, gains, timeline


@pytest.fixture(scope="module")
def tl() -> Timeline:
    ev, _ = generate_sales_log(seed=3, n_cases=400)
    log = sm.from_dataframe(
        ev,
        case="Opportunity ID",
        activity="Activity",
        timestamp="Timestamp",
        resource="Owner",
        approval_result="Approval Result",
        case_attributes=["Segment", "Amount"],
    )
    model = sm.StageModel.from_dict(yaml.safe_load(stages_yaml()))
    f = sm.find_bottlenecks(log, model)
    return timeline(f._coded_attribution, f._cases, model)


def plain_visits(case: np.ndarray, prev: list[str | None], act: list[str], stages: set[str]) -> list[tuple]:
    """Per gap (visit id, stage, rank, done), walked case by case in Python."""
    out: list[tuple] = []
    vid = -1
    starts = np.flatnonzero(np.r_[True, case[1:] != case[:-1]])
    for lo, hi in itertools.pairwise([*starts, len(case)]):
        mine, seen, cur = [], {}, None
        for i in range(lo, hi):
            if prev[i] in stages:  # the gap's previous event enters a visit
                vid += 1
                seen[prev[i]] = seen.get(prev[i], -1) + 1
                cur = [vid, prev[i], seen[prev[i]], False]
            if cur is not None and act[i] in stages:
                cur[3] = True
            mine.append(cur)
        out += [(-1, None, 0, False) if c is None else tuple(c) for c in mine]
    return out


def _codes(names: list[str], values: list[str | None]) -> np.ndarray:
    return np.asarray([names.index(v) if v is not None else -1 for v in values], dtype="int32")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_visits_walked_case_by_case(seed: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["S1", "S2", "S3", "Won", "a", "b"]
    stages = {"S1", "S2", "S3", "Won"}
    n = 3_000
    case = np.sort(rng.integers(0, 400, n)).astype("int64")
    act = [names[i] for i in rng.integers(0, len(names), n)]
    prev = [
        None if (i == 0 or case[i] != case[i - 1]) and rng.random() < 0.5 else names[j]
        for i, j in enumerate(rng.integers(0, len(names), n))
    ]
    is_stage = np.array([nm in stages for nm in names] + [False])
    a, p = _codes(names, act), _codes(names, prev)
    vid, stage, rank, done = replay._visits(case, p, is_stage[p], is_stage[a], len(names))
    want = plain_visits(case, prev, act, stages)
    got = [
        (int(v), names[s] if s >= 0 else None, int(r), bool(d))
        for v, s, r, d in zip(vid, stage, rank, done, strict=True)
    ]
    assert got == want
    assert vid.dtype == stage.dtype == rank.dtype == np.int32 and done.dtype == bool


def test_visits_of_a_log_without_stage_events() -> None:
    case = np.array([0, 0, 1], dtype="int64")
    none = np.zeros(3, dtype=bool)
    vid, stage, rank, done = replay._visits(case, np.zeros(3, dtype="int32"), none, none, 1)
    assert vid.tolist() == stage.tolist() == [-1, -1, -1] and rank.tolist() == [0, 0, 0] and not done.any()
    empty = replay._visits(np.zeros(0, dtype="int64"), np.zeros(0, dtype="int32"), none[:0], none[:0], 1)
    assert all(len(x) == 0 for x in empty)


def _candidates(tl: Timeline) -> list[sm.changes]:
    model = tl.model
    steps = [s for s in tl.names if tl.rows_of(s).any()]
    out = []
    for s in steps:
        out += [sm.changes.remove(s), sm.changes.remove(s, repeats_only=True)]
        out += [sm.changes.cap(s, lim) for lim in ("1h", "1d", "90s", pd.Timedelta(milliseconds=2500))]
    approvals = [a for a in model.approvals if a in steps]
    out += [sm.changes.parallel(a, b) for a, b in itertools.combinations(approvals, 2)]
    seg = tl.cases["Segment"].astype(str).iloc[0]
    out.append(sm.changes.skip(approvals[0], where={"Segment": seg}))
    return out


def _plain_apply(tl: Timeline, change: object, new: np.ndarray) -> np.ndarray:
    """Each change written out over the whole table, with pandas for the per-visit running sums
    and per-case sums: the reference the library's row-wise ``apply`` must equal."""
    if isinstance(change, Remove):
        m = tl.rows_of(change.step)
        if change.repeats_only:
            m &= (tl.visit_rank > 0) if change.step in tl.model.stages else tl.repeat
        if change.where:
            m &= case_mask(tl, change.where)[tl.case]
        return np.where(m, 0.0, new)
    if isinstance(change, Cap):
        lim = change.limit.total_seconds()
        m = tl.rows_of(change.step)
        if change.step not in tl.model.stages:
            return np.where(m, np.minimum(new, lim), new)
        m &= tl.own
        run = pd.Series(np.where(m, new, 0.0)).groupby(tl.visit).cumsum().to_numpy()
        return np.where(m, new - np.clip(run - lim, 0.0, new), new)
    assert isinstance(change, Parallel)
    ma, mb = tl.rows_of(change.a), tl.rows_of(change.b)
    by_case = lambda g: pd.Series(g).groupby(tl.case).sum().reindex(range(tl.n), fill_value=0.0).to_numpy()  # noqa: E731
    da, db = by_case(np.where(ma, new, 0.0)), by_case(np.where(mb, new, 0.0))
    both = (da > 0) & (db > 0)
    drop_a, drop_b = both & (da <= db), both & (db < da)
    return np.where((ma & drop_a[tl.case]) | (mb & drop_b[tl.case]), 0.0, new)


def test_one_change_as_the_rows_it_touches(tl: Timeline) -> None:
    """``apply`` (the rows a change touches, written into a copy) equals each change written out
    over the whole table, on whole and on fractional seconds, and after an earlier change."""
    cands = _candidates(tl)
    assert len(cands) > 20
    fractional = dataclasses.replace(tl, gap=tl.gap + 0.37)
    for t in (tl, fractional):
        halved = t.gap / 2
        for c in cands:
            for before in (t.gap, halved):
                want = _plain_apply(t, c, before)
                np.testing.assert_allclose(apply(t, c, before), want, rtol=0, atol=1e-6, err_msg=repr(c))
            rows, _ = replay._delta(t, c)
            assert np.array_equal(np.unique(rows), rows)  # each row once, in order


def plain_gains(tl: Timeline, items: list[list], n_boot: int, seed: int) -> list[tuple[float, ...]]:
    """Replay every gap of every candidate, sum per case in pandas, resample the closed cases explicitly."""
    closed = np.flatnonzero(tl.closed)
    by_case = lambda g: pd.Series(g).groupby(tl.case).sum().reindex(range(tl.n), fill_value=0.0).to_numpy()  # noqa: E731
    today = by_case(tl.gap)[closed]
    rng = np.random.default_rng(seed)
    n = len(closed)
    idx = []
    per = max(1, replay._BLOCK // n)
    while sum(len(i) for i in idx) < n_boot:
        idx.append(rng.integers(0, n, size=(min(per, n_boot - sum(len(i) for i in idx)), n), dtype=np.int32))
    draws = np.concatenate(idx)
    out = []
    for c in items:
        new = replay.replay(tl, c)
        proj = by_case(new)[closed]
        diffs = [np.median(today[d]) - np.median(proj[d]) for d in draws]
        lo, hi = np.quantile(diffs, [0.025, 0.975]) if not np.array_equal(proj, today) else (0.0, 0.0)
        out.append((np.median(today) - np.median(proj), float(lo), float(hi), float(np.sum(tl.gap - new))))
    return out


@pytest.mark.parametrize("shift", [0.0, 0.37])
def test_gains_equal_the_plain_replay(tl: Timeline, shift: float) -> None:
    t = dataclasses.replace(tl, gap=tl.gap + shift)
    assert replay._integral(t.gap) == (shift == 0.0)  # whole seconds take the exact path, fractions the plain one
    cands = [[c] for c in _candidates(t)[::3]]
    cands += [cands[1], [sm.changes.cap(t.model.stages[1], "1d"), sm.changes.remove(t.model.stages[0])]]
    got = gains(t, cands, n_boot=40, seed=5)
    want = plain_gains(t, cands, n_boot=40, seed=5)
    assert len(got) == len(want)
    for c, g, w in zip(cands, got, want, strict=True):
        assert g[0] == pytest.approx(w[0], rel=1e-12, abs=1e-6), c
        assert g[1:3] == pytest.approx(w[1:3], rel=1e-12, abs=1e-6), c
        assert g[3] == pytest.approx(w[3], rel=1e-12, abs=1e-6), c
    assert got[len(cands) - 2] == got[1]  # a candidate given twice: the same result
    assert sum(1 for _ in count_blocks(len(np.flatnonzero(t.closed)), 40, 5)) >= 1
