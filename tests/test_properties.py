"""Property-based tests (hypothesis) of the whole pipeline on generated logs.

Each generated log is a handful of opportunities walking (or not) the sample stage model, with
calls, approvals and their decisions, unknown activities, timestamp ties, and broken rows (no
case id, no activity, an unreadable time, an exact duplicate). Properties:

* every input row is an event or a rejection, never both, with the reason an independent recount gives;
* DFG edge counts sum to events − cases and equal a pandas recount of consecutive pairs;
* every case appears once in the conformance table;
* every finding's example cases exist and contain what it is about;
* KPIs lie in their ranges and agree with a recount of outcomes;
* shuffling the rows without changing the order of tied events changes no result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import salesmining as sm

STAGES = sm.StageModel.from_yaml(Path(__file__).parents[1] / "sample_logs" / "stages.yaml")
PATH = [*STAGES.stages]
EXTRA = ["Call", "Email", "Discount Approval", "Manager Approval", "Site Visit"]  # "Site Visit" is unknown
ENDINGS = ["Contract Signed", "Closed Lost", None]
RESULTS = ["Approved", "Rejected", "驳回", "通过", ""]
CASE, ACT, TS, ROW = "case:concept:name", "concept:name", "time:timestamp", "source_row"
MAP = {"case": "case", "activity": "activity", "timestamp": "timestamp", "approval_result": "result"}
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def opportunity(draw: st.DrawFn, i: int) -> list[tuple[str, str, int, str, str]]:
    """(case, activity, minute, owner, result) rows of one opportunity."""
    depth = draw(st.integers(1, len(PATH)))
    acts = list(PATH[:depth])
    for _ in range(draw(st.integers(0, 3))):  # detours, loops and skips
        pos = draw(st.integers(0, len(acts)))
        acts.insert(pos, draw(st.sampled_from(EXTRA + PATH)))
    if draw(st.booleans()) and len(acts) > 2:
        del acts[draw(st.integers(1, len(acts) - 1))]
    ending = draw(st.sampled_from(ENDINGS))
    if ending:
        acts.append(ending)
    minute, rows = 0, []
    for a in acts:
        minute += draw(st.sampled_from([0, 0, 30, 240, 1440, 4 * 1440, 12 * 1440]))  # ties included
        result = draw(st.sampled_from(RESULTS)) if "Approval" in a else ""
        rows.append((f"OPP-{i:03d}", a, minute, draw(st.sampled_from(["Ana", "Bo", "陈"])), result))
    return rows


@st.composite
def export(draw: st.DrawFn) -> pd.DataFrame:
    """An all-string export with broken rows mixed in."""
    n = draw(st.integers(1, 8))
    rows = [r for i in range(n) for r in draw(opportunity(i))]
    start = pd.Timestamp("2024-03-01T08:00:00Z")
    out = [[c, a, (start + pd.Timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ"), o, r] for c, a, m, o, r in rows]
    for _ in range(draw(st.integers(0, 4))):
        k = draw(st.integers(0, len(out) - 1))
        broken = list(out[k])
        kind = draw(st.sampled_from(["case", "activity", "time", "duplicate"]))
        if kind == "case":
            broken[0] = draw(st.sampled_from(["", "  ", "NULL"]))
        elif kind == "activity":
            broken[1] = ""
        elif kind == "time":
            broken[2] = draw(st.sampled_from(["not a date", "2024-13-45", "31/31/2024"]))
        out.insert(draw(st.integers(k + 1, len(out))), broken)
    return pd.DataFrame(out, columns=["case", "activity", "timestamp", "owner", "result"])


def _expected_reasons(df: pd.DataFrame) -> dict[int, str]:
    """The first failed check of each row, recounted independently (row number → reason)."""
    out: dict[int, str] = {}
    seen: set[tuple[str, ...]] = set()
    for i, row in enumerate(df.itertuples(index=False)):
        key = tuple(row)
        if row.case.strip() in ("", "NULL"):
            out[i] = "missing_case_id"
        elif row.activity.strip() == "":
            out[i] = "missing_activity"
        elif pd.isna(pd.to_datetime(row.timestamp, errors="coerce", format="ISO8601")):
            out[i] = "unparsable_timestamp"
        elif key in seen:
            out[i] = "duplicate_row"
        seen.add(key)
    return out


def _read(df: pd.DataFrame) -> sm.EventLog:
    return sm.from_dataframe(df, **MAP, owner="owner")


@SETTINGS
@given(export())
def test_pipeline_invariants(df: pd.DataFrame) -> None:
    log = _read(df)
    q = log.quality
    ev = log.to_frame()

    # every input row is in the log or in the rejections, once, for the reason a recount gives
    kept = set(ev[ROW].tolist())
    rejected = dict(zip(q.rejections["row"].tolist(), q.rejections["reason"].tolist(), strict=True))
    assert not kept & set(rejected)
    assert kept | set(rejected) == set(range(len(df)))
    assert q.rows_read == len(df) == q.rows_kept + q.rows_rejected
    assert rejected == _expected_reasons(df)
    if not len(ev):
        return

    # DFG: edge counts sum to events − cases and match a recount of consecutive pairs
    g = sm.discover(log)
    s = ev.sort_values([CASE, TS, ROW], kind="stable")
    same = (s[CASE] == s[CASE].shift()).to_numpy()
    pairs = pd.DataFrame({"source": s[ACT].shift().to_numpy()[same], "target": s[ACT].to_numpy()[same]})
    recount = pairs.value_counts().sort_index()
    edges = g.edges.set_index(["source", "target"])["count"].sort_index()
    assert int(edges.sum()) == log.n_events - log.n_cases == len(pairs)
    assert edges.to_dict() == recount.to_dict()

    # conformance: every case once
    conf = sm.conform(log, STAGES)
    table = conf.to_frame()
    assert sorted(table["case_id"]) == sorted(log.cases[CASE]) and table["case_id"].is_unique

    # findings: example cases exist and contain what the finding is about
    findings = sm.find_bottlenecks(log, STAGES, conformance=conf).to_frame()
    activities = ev.groupby(CASE)[ACT].agg(set)
    for f in findings.itertuples(index=False):
        assert 1 <= f.cases <= log.n_cases
        assert f.share == pytest.approx(f.cases / log.n_cases)
        assert 0 < len(f.example_cases) <= f.cases
        for case in f.example_cases:
            assert case in activities.index
            # a slow response is placed on the model's edge first stage → next stage, whatever the case did next
            places = (f.from_activity,) if f.kind == "slow_response" else (f.activity, f.from_activity, f.to_activity)
            for place in places:
                if isinstance(place, str):
                    # a skip is shown by the stage's absence, every other finding by its presence
                    shown = place not in activities[case] if f.kind == "skipped_stage" else place in activities[case]
                    assert shown, (f.kind, f.rule, case, place)

    # KPIs: in range, and the outcome counts recounted
    k = sm.kpis(log, STAGES, conformance=conf).values
    last_terminal = s[s[ACT].isin(["Contract Signed", "Closed Lost"])].groupby(CASE)[ACT].last()
    won, lost = int((last_terminal == "Contract Signed").sum()), int((last_terminal == "Closed Lost").sum())
    assert (k["cases"], k["won"], k["lost"], k["open"]) == (log.n_cases, won, lost, log.n_cases - won - lost)
    assert k["closed"] == won + lost
    for rate in ("win_rate", "rework_rate", "first_time_right_rate", "skip_rate"):
        assert np.isnan(k[rate]) or 0.0 <= k[rate] <= 1.0, rate
    if won + lost:
        assert k["win_rate"] == pytest.approx(won / (won + lost))
    for duration in ("cycle_time_median_days", "cycle_time_p90_days", "lead_response_median_hours"):
        assert np.isnan(k[duration]) or k[duration] >= 0.0, duration
    if not np.isnan(k["cycle_time_median_days"]):
        assert k["cycle_time_median_days"] <= k["cycle_time_p90_days"] + 1e-9


def _shuffle_keeping_ties(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Rows in a random order, except that rows with the same case and timestamp keep their order."""
    order = np.random.default_rng(seed).permutation(len(df))
    shuffled = df.iloc[order].reset_index(drop=True)
    group = shuffled.groupby(["case", "timestamp"], sort=False).ngroup().to_numpy()
    original = order.copy()
    for gid in np.unique(group):
        at = np.flatnonzero(group == gid)
        original[at] = np.sort(order[at])  # the group's slots, filled in the original order
    return df.iloc[original].reset_index(drop=True)


def _results(log: sm.EventLog) -> dict[str, Any]:
    ev = log.to_frame().drop(columns=[ROW]).sort_values([CASE, TS], kind="stable").reset_index(drop=True)
    conf = sm.conform(log, STAGES)
    findings = sm.find_bottlenecks(log, STAGES, conformance=conf).to_frame()
    return {
        "events": ev,
        "cases": log.cases.sort_values(CASE).reset_index(drop=True),
        "rejections": log.quality.rejections["reason"].value_counts().sort_index(),
        "warnings": sorted((w.code, w.count) for w in log.quality.warnings),
        "edges": sm.discover(log).edges.sort_values(["source", "target"]).reset_index(drop=True),
        "conformance": conf.to_frame().sort_values("case_id").reset_index(drop=True),
        "findings": findings.assign(example_cases=findings["example_cases"].map(sorted)),
        "kpis": sm.kpis(log, STAGES, conformance=conf).values,
    }


@SETTINGS
@given(export(), st.integers(0, 2**32 - 1))
def test_shuffled_rows_give_identical_results(df: pd.DataFrame, seed: int) -> None:
    shuffled = _shuffle_keeping_ties(df, seed)
    assert sorted(map(tuple, shuffled.to_numpy())) == sorted(map(tuple, df.to_numpy()))
    a, b = _results(_read(df)), _results(_read(shuffled))
    assert a["warnings"] == b["warnings"] and a["kpis"] == pytest.approx(b["kpis"], nan_ok=True)
    for key in ("events", "cases", "edges", "conformance", "findings"):
        pd.testing.assert_frame_equal(a[key], b[key], obj=key)
    pd.testing.assert_series_equal(a["rejections"], b["rejections"])


def test_the_shuffle_keeps_tied_rows_in_order() -> None:
    df = pd.DataFrame(
        {"case": ["A", "A", "B", "A", "B"], "timestamp": ["t1", "t1", "t1", "t2", "t1"], "n": [0, 1, 2, 3, 4]}
    )
    for seed in range(20):
        out = _shuffle_keeping_ties(df, seed)
        assert sorted(out["n"]) == [0, 1, 2, 3, 4]
        for _, grp in out.groupby(["case", "timestamp"]):
            assert grp["n"].is_monotonic_increasing
