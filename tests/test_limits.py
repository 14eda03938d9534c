"""Materiality, limits without an SLA, censoring-aware comparisons, back-filled cases (issue 14).

Every expectation is recounted here with plain numpy/pandas from the rows the test builds.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.core.errors import OptionError
from salesmining.datasets import DEFAULT_RATES, generate_sales_log

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = ROOT / "sample_logs"
REAL_LOGS = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))


def real_log(relative: str) -> Path:
    p = REAL_LOGS / relative
    if not p.exists():
        pytest.skip(f"real log {relative} not found under {REAL_LOGS} (see shared/real_logs/SOURCES.md)")
    return p


T0 = pd.Timestamp("2023-01-02", tz="UTC")
DAY = 86400.0
TWO = sm.StageModel(["Lead", "Contact"], outcomes={"won": ["Won"], "lost": ["Lost"]})
GEN = {
    "case": "Opportunity ID",
    "activity": "Activity",
    "timestamp": "Timestamp",
    "resource": "Owner",
    "approval_result": "Approval Result",
}


def log_of(rows: list[tuple[str, str, pd.Timestamp]]) -> sm.EventLog:
    df = pd.DataFrame(rows, columns=["id", "act", "t"])
    return sm.from_dataframe(df, case="id", activity="act", timestamp="t")


def tukey(values: np.ndarray, k: float = 2.0) -> float:
    lg = np.log(values[values > 0])
    q1, q3 = np.quantile(lg, [0.25, 0.75])
    return float(np.exp(q3 + k * (q3 - q1)))


# --- materiality -----------------------------------------------------------------------------------
def _contact_cases(extra: dict[str, float]) -> tuple[sm.EventLog, np.ndarray]:
    """30 ordinary closed cases (Contact dwell 1-2 d) and ``extra`` cases with a given Contact dwell."""
    rows = []
    dwell = {f"c{i:02d}": DAY * (1 + i / 29) for i in range(30)} | extra
    for i, (cid, d) in enumerate(dwell.items()):
        start = T0 + pd.Timedelta(days=i)
        rows += [
            (cid, "Lead", start),
            (cid, "Contact", start + pd.Timedelta(hours=12)),
            (cid, "Won" if i % 2 else "Lost", start + pd.Timedelta(hours=12) + pd.Timedelta(seconds=d)),
        ]
    return log_of(rows), np.array([DAY * (1 + i / 29) for i in range(30)])


def test_an_outlier_by_minutes_is_low_and_a_material_one_is_not() -> None:
    # the fence is learned from the 30 ordinary closed cases (the extra ones are closed too, but
    # far fewer); recompute it by hand from all 33 Contact dwells, as the rule does
    ordinary = np.array([DAY * (1 + i / 29) for i in range(30)])
    f0 = tukey(np.concatenate([ordinary, [DAY * 3] * 3]))
    slight = {f"s{i}": f0 + 60 for i in range(3)}  # one minute over the fence
    log, _ = _contact_cases(slight)
    f = sm.find_bottlenecks(log, TWO).to_frame()
    row = f[(f["rule"] == "stage_outlier")].iloc[0]
    assert row["cases"] == 3
    assert row["time_lost_hours"] == pytest.approx(3 * 60 / 3600, rel=1e-6)
    assert row["severity"] == "low"  # before issue 14: medium (any time lost, three cases)

    big = {f"b{i}": 40 * DAY for i in range(3)}
    log, _ = _contact_cases(big)
    f = sm.find_bottlenecks(log, TWO).to_frame()
    row = f[(f["rule"] == "stage_outlier")].iloc[0]
    f_big = tukey(np.concatenate([ordinary, [40 * DAY] * 3]))
    assert row["time_lost_hours"] == pytest.approx(3 * (40 * DAY - f_big) / 3600, rel=1e-6)
    cases = log.to_frame().groupby("case:concept:name")["time:timestamp"].agg(["min", "max"])
    total_h = float((cases["max"] - cases["min"]).dt.total_seconds().sum()) / 3600
    typical_h = float((cases["max"] - cases["min"]).dt.total_seconds().median()) / 3600
    assert row["time_lost_hours"] / total_h >= 0.02 and row["time_lost_per_case_hours"] >= 0.05 * typical_h
    assert row["share"] == pytest.approx(3 / 33)
    assert row["severity"] == "high"


def test_severity_needs_material_time_or_a_significant_win_rate_move() -> None:
    from salesmining.findings.ranking import severity, win_rate_z

    rules = sm.FindingRules()
    base = {
        "cases": 50,
        "share": 0.10,
        "time_lost_hours": 100.0,
        "time_lost_per_case_hours": 2.0,
        "closed_affected": 40,
        "closed_unaffected": 400,
        "win_rate_affected": 0.40,
        "win_rate_unaffected": 0.40,
        "win_rate_effect": 0.0,
    }
    # 100 h of 10,000 h (1%) but 2 h per case against a 100 h typical case (2% < 5%): not material
    assert severity(base, 10_000.0, rules, 100.0) == "low"
    assert severity({**base, "time_lost_per_case_hours": 6.0}, 10_000.0, rules, 100.0) == "medium"
    assert severity({**base, "time_lost_hours": 300.0, "time_lost_per_case_hours": 6.0}, 10_000.0, rules, 100.0) == (
        "high"
    )
    # a 15-point drop: 10/40 won vs 40% of 400; z recounted by hand
    moved = {**base, "time_lost_hours": 0.0, "win_rate_affected": 0.25, "win_rate_effect": -0.15}
    p = (0.25 * 40 + 0.40 * 400) / 440
    z = (0.25 - 0.40) / math.sqrt(p * (1 - p) * (1 / 40 + 1 / 400))
    assert win_rate_z(moved) == pytest.approx(z)
    assert abs(z) < 1.96 and severity(moved, 10_000.0, rules, 100.0) == "low"  # not significant
    big = {**moved, "closed_affected": 400, "closed_unaffected": 4000}
    assert abs(win_rate_z(big)) > 1.96 and severity(big, 10_000.0, rules, 100.0) == "high"


# --- limits without an SLA -------------------------------------------------------------------------
def _crm_table(seed: int = 7) -> tuple[sm.EventLog, pd.DataFrame, pd.Timestamp]:
    """An opportunity table as events: closed deals Engaging → Won/Lost with widely spread
    durations, open deals only engaged, of every age up to 400 days."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp("2024-12-31", tz="UTC")
    rows = []
    closed = []
    for i in range(300):
        d = float(np.exp(rng.normal(np.log(30), 1.4))) * DAY
        start = end - pd.Timedelta(days=500) + pd.Timedelta(days=float(rng.uniform(0, 400)))
        stop = min(start + pd.Timedelta(seconds=d), end)
        rows += [(f"c{i}", "Engaging", start), (f"c{i}", "Won" if rng.random() < 0.5 else "Lost", stop)]
        closed.append((stop - start).total_seconds())
    open_rows = []
    for i in range(150):
        start = end - pd.Timedelta(days=float(rng.uniform(1, 400)))
        rows.append((f"o{i}", "Engaging", start))
        open_rows.append((f"o{i}", start))
    rows.append(("anchor", "Engaging", end))  # the log ends at ``end``
    opened = pd.DataFrame(open_rows, columns=["id", "start"])
    return log_of(rows), opened.assign(closed_q90=np.quantile(closed, 0.9)), end


def test_stall_limit_is_learned_from_closed_deals_at_the_same_stage() -> None:
    log, opened, end = _crm_table()
    model = sm.StageModel(["Engaging"], outcomes={"won": ["Won"], "lost": ["Lost"]})
    f = sm.find_bottlenecks(log, model)
    stalled = f.cases_for("long_wait", rules=["stalled_open"])
    limit = float(opened["closed_q90"].iloc[0])
    age = (end - opened["start"]).dt.total_seconds()
    expected = set(opened.loc[age > limit, "id"])
    assert stalled == expected and len(expected) > 40
    # the Tukey fence of the same durations would flag almost none of them
    closed_d = log.to_frame().groupby("case:concept:name")["time:timestamp"].agg(lambda s: s.max() - s.min())
    fence = tukey(closed_d[~closed_d.index.str.startswith(("o", "anchor"))].dt.total_seconds().to_numpy())
    assert fence > 5 * limit and int((age > fence).sum()) < len(expected) / 4
    row = f.to_frame().query("rule == 'stalled_open'").iloc[0]
    assert f"limit {sm_duration(limit)}: 90% of closed cases left this stage sooner" in row["detail"]


def sm_duration(seconds: float) -> str:
    from salesmining.core import formatting

    return formatting.short_duration(seconds, smallest="min")


def test_no_stall_verdict_without_closed_cases() -> None:
    # a model without outcomes: nothing is closed, so nothing can be called stalled
    log, _, _ = _crm_table()
    f = sm.find_bottlenecks(log, sm.StageModel(["Engaging", "Won"])).to_frame()
    assert "stalled_open" not in set(f["rule"])


# --- back-filled cases -----------------------------------------------------------------------------
def _with_backfilled(n: int) -> tuple[pd.DataFrame, set[str]]:
    events, _ = generate_sales_log(seed=303, n_cases=300, rates=dict.fromkeys(DEFAULT_RATES, 0.0))
    t = pd.to_datetime(events["Timestamp"], utc=True)
    late = t.max() - pd.Timedelta(days=20)
    stages = ["Lead", "Contact", "Needs Analysis", "Solution Proposal", "Quote & Negotiation", "Contract Signed"]
    rows = []
    for i in range(n):
        at = late + pd.Timedelta(hours=3 * i)
        for j, act in enumerate(stages):
            rows.append({"Opportunity ID": f"BF-{i}", "Activity": act, "Timestamp": at + pd.Timedelta(minutes=2 * j)})
    extra = pd.DataFrame(rows).assign(Owner="Ana Ruiz", **{"Approval Result": None})
    extra["Timestamp"] = extra["Timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return pd.concat([events, extra[events.columns.intersection(extra.columns)]], ignore_index=True), {
        f"BF-{i}" for i in range(n)
    }


def test_backfilled_deals_are_a_data_quality_finding_and_not_judged_as_waits() -> None:
    events, injected = _with_backfilled(12)
    log = sm.from_dataframe(events, **GEN)
    f = sm.find_bottlenecks(log, SAMPLE_LOGS / "stages.yaml")
    assert f.cases_for("data_quality", rules=["backfilled"]) == injected
    ev = f.evidence
    judged = ev[ev["kind"].isin(["long_wait", "slow_response", "skipped_stage"])]
    assert not set(judged["case_id"]) & injected
    # nothing else fires on the clean generator log: back-filling is not a wait, a loop or a skip
    assert set(f.to_frame()["rule"]) <= {"stalled_open", "sequential_chain", "backfilled"}
    row = f.to_frame().query("rule == 'backfilled'").iloc[0]
    assert row["cases"] == 12 and row["time_lost_hours"] == 0
    # all twelve were entered as won: a win-rate move that is significant, so not low
    assert row["win_rate_affected"] == 1.0 and row["win_rate_unaffected"] < 0.6 and row["severity"] == "medium"
    assert "first 3 stage entries within 4 min" in row["detail"]


def test_a_process_that_is_fast_everywhere_is_not_backfilled() -> None:
    # every case runs Lead → Contact → Won within seconds (an automated intake): that is the process
    rows = []
    for i in range(40):
        s = T0 + pd.Timedelta(hours=i)
        rows += [
            (f"a{i}", "Lead", s),
            (f"a{i}", "Contact", s + pd.Timedelta(seconds=5)),
            (f"a{i}", "Won", s + pd.Timedelta(seconds=9)),
        ]
    f = sm.find_bottlenecks(log_of(rows), TWO).to_frame()
    assert "backfilled" not in set(f["rule"])


# --- comparisons that respect censoring --------------------------------------------------------------
def _censored_log(seed: int = 11) -> sm.EventLog:
    """One unchanging process over two years, exported at the end: quick deals are won more often,
    and the deals of the last months are still open at the export."""
    rng = np.random.default_rng(seed)
    export = pd.Timestamp("2024-12-31", tz="UTC")
    rows = []
    for i in range(1400):
        start = pd.Timestamp("2023-01-01", tz="UTC") + pd.Timedelta(days=float(rng.uniform(0, 720)))
        d = float(np.exp(rng.normal(np.log(45), 1.0)))
        won = rng.random() < (0.8 if d < 25 else 0.15)
        contact = start + pd.Timedelta(days=min(2.0, d / 3))
        rows += [(f"c{i:04d}", "Lead", start)]
        if contact < export:
            rows.append((f"c{i:04d}", "Contact", contact))
        close = start + pd.Timedelta(days=d)
        if close < export:
            rows.append((f"c{i:04d}", "Won" if won else "Lost", close))
    rows.append(("zz-anchor", "Lead", export))
    return log_of(rows)


def test_split_at_a_date_compares_equal_follow_up_windows() -> None:
    log = _censored_log()
    before, after = log.split(at="2024-07-01")
    c = sm.compare(before, after, TWO, n_boot=400, seed=3)
    assert c.mode == "before_after"
    k = c.kpis.set_index("metric")
    # the same process on both sides: neither the win rate nor the time to close changed
    assert k.loc["win_rate", "verdict"] == "no significant change"
    assert k.loc["cycle_time_median_days", "verdict"] == "no significant change"
    # recount: the horizon and the cases followed at least that long on each side
    h = c.horizon_days
    for side, part in (("n_before", before), ("n_after", after)):
        ev = part.to_frame()
        starts = ev.groupby("case:concept:name")["time:timestamp"].min()
        follow = (ev["time:timestamp"].max() - starts).dt.total_seconds() / DAY
        assert k.loc["skip_rate", side] == int((follow >= h).sum())

    # and the plain comparison of closed cases, which ignores censoring, would call the later half better
    def closed_stats(part: sm.EventLog) -> tuple[float, float]:
        ev = part.to_frame()
        g = ev.groupby("case:concept:name")
        last = g["concept:name"].last()
        span = (g["time:timestamp"].max() - g["time:timestamp"].min()).dt.total_seconds() / DAY
        done = last.isin(["Won", "Lost"])
        return float((last[done] == "Won").mean()), float(span[done].median())

    (wr_b, ct_b), (wr_a, ct_a) = closed_stats(before), closed_stats(after)
    assert wr_a - wr_b > 0.07 and ct_b - ct_a > 10


def test_the_same_share_gets_the_same_verdict_in_every_table() -> None:
    log = sm.read_csv(SAMPLE_LOGS / "opportunities.csv", **GEN, amount="Amount")  # type: ignore[arg-type]
    before, after = log.split(at="2024-07-01")
    c = sm.compare(before, after, SAMPLE_LOGS / "stages.yaml", n_boot=200)
    k = c.kpis.set_index("metric")
    a, b = k.loc["skip_rate"], k.loc["share of cases with skipped stage"]
    assert (a["before"], a["after"], a["verdict"]) == (b["before"], b["after"], b["verdict"])
    assert a["test"] == b["test"] == "two proportions"
    # the interval recounted: p_a - p_b ± 1.96·SE
    se = math.sqrt(a["before"] * (1 - a["before"]) / a["n_before"] + a["after"] * (1 - a["after"]) / a["n_after"])
    assert a["ci_low"] == pytest.approx(a["delta"] - 1.959963984540054 * se)
    # the findings table judges the skip's share of the same cases by the same test
    f = c.findings.set_index(["kind", "rule", "where"]).loc[("skipped_stage", "skip", "Needs Analysis")]
    assert f["affected_before"] / f["eligible_before"] == pytest.approx(a["before"])
    assert bool(f["significant"]) == bool(a["significant"])


def test_segments_are_their_own_mode() -> None:
    log = _censored_log()
    ev = log.to_frame()
    ids = ev["case:concept:name"].drop_duplicates()
    odd = set(ids[ids.str[-1].isin(list("13579"))])
    a = log.filter(cases=odd)
    b = log.filter(cases=set(ids) - odd)
    c = sm.compare(a, b, TWO, n_boot=200)
    assert c.mode == "segments" and c.labels == ("A", "B")
    html = c.html()
    assert "Segments A vs B" in html and "A segment comparison" in html
    assert "<Comparison A vs B" in repr(c)
    with pytest.raises(OptionError):
        sm.compare(a, b, TWO, mode="later")


# --- duplicates ------------------------------------------------------------------------------------------
def test_distinct_events_differing_only_in_a_named_index_are_kept() -> None:
    df = pd.DataFrame(
        {"id": ["a", "a", "a"], "act": ["X", "X", "Y"], "t": ["2024-01-01Z", "2024-01-01Z", "2024-01-02Z"]},
        index=pd.Index(["e1", "e2", "e3"], name="event_id"),
    )
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    assert log.n_events == 3 and log.quality.rows_rejected == 0
    plain = sm.from_dataframe(df.reset_index(drop=True), case="id", activity="act", timestamp="t")
    assert plain.n_events == 2 and plain.quality.rows_rejected == 1  # a true duplicate is still one


# --- real logs -------------------------------------------------------------------------------------------
@pytest.mark.real_logs
def test_receipt_severities_are_material_and_nothing_stalls_without_closed_cases() -> None:
    from salesmining.findings.ranking import win_rate_z

    log = sm.read_csv(
        real_log("receipt/receipt.csv.gz"),
        case="case:concept:name",
        activity="concept:name",
        timestamp="time:timestamp",
    )
    model = sm.StageModel.infer(log)
    f = sm.find_bottlenecks(log, model).to_frame()
    assert "stalled_open" not in set(f["rule"])  # no outcomes: no case is known to be open
    ev = log.to_frame()
    g = ev.groupby("case:concept:name")["time:timestamp"]
    span_h = (g.max() - g.min()).dt.total_seconds() / 3600
    rules = sm.FindingRules()
    for r in f[f["severity"] != "low"].to_dict("records"):
        material = (
            r["time_lost_hours"] >= rules.material_time_share * span_h.sum()
            and r["time_lost_per_case_hours"] >= rules.material_case_share * span_h.median()
        )
        assert material or abs(win_rate_z(r)) >= 1.96, r["where"]
