"""Tests of the synthetic opportunity log generator (salesmining.datasets).

The checks recompute every injected problem independently from the events with
plain pandas, so the ground truth is verified against what the log shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pandas as pd
import pytest
import yaml

from salesmining.datasets import (
    DEFAULT_NEGATIVES,
    DEFAULT_RATES,
    NEGATIVE_KINDS,
    NEGATIVE_MUST_NOT_RAISE,
    PROBLEM_KINDS,
    SAMPLE_COLUMNS,
    generate_sales_log,
    write_sample_logs,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = ROOT / "sample_logs"

EVENT_COLUMNS = [
    "Opportunity ID",
    "Activity",
    "Timestamp",
    "Owner",
    "Approval Result",
    "Segment",
    "Region",
    "Lead Source",
    "Amount",
    "Product",
]
STAGES = ["Lead", "Contact", "Needs Analysis", "Solution Proposal", "Quote & Negotiation"]
OUTCOMES = ["Contract Signed", "Closed Lost"]
APPROVALS = ["Discount Approval", "Manager Approval", "Legal Review"]
DAY = pd.Timedelta(days=1)
ZH = {
    "Lead": "潜在客户识别",
    "Contact": "客户接触",
    "Needs Analysis": "需求分析",
    "Solution Proposal": "解决方案制定",
    "Quote & Negotiation": "报价与谈判",
    "Contract Signed": "合同签署",
    "Closed Lost": "输单",
    "Discount Approval": "折扣审批",
    "Manager Approval": "经理审批",
    "Legal Review": "法务审核",
    "Call": "电话",
    "Email": "邮件",
}


def _days(text: str) -> pd.Timedelta:
    return cast(pd.Timedelta, pd.Timedelta(text.replace("d", "D")))


SPEC = yaml.safe_load((SAMPLE_LOGS / "stages.yaml").read_text(encoding="utf-8"))
STAGE_SLA = {k: _days(v) for k, v in SPEC["sla"].items()}
APPROVAL_SLA = {k: _days(v) for k, v in SPEC["approval_sla"].items()}


@pytest.fixture(scope="module")
def log() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_sales_log()


def _cases(gt: pd.DataFrame, kind: str) -> set[str]:
    return set(gt.loc[gt["kind"] == kind, "case_id"])


def _with_prev(events: pd.DataFrame) -> pd.DataFrame:
    out: pd.DataFrame = events.copy()
    grp = out.groupby("Opportunity ID", sort=False)
    out["prev_activity"] = grp["Activity"].shift(1)
    out["prev_ts"] = grp["Timestamp"].shift(1)
    out["wait"] = out["Timestamp"] - out["prev_ts"]
    return out


def _stage_dwell(events: pd.DataFrame) -> pd.DataFrame:
    """Dwell of every stage visit: entry -> entry of the next stage or outcome."""
    st = events[events["Activity"].isin(STAGES + OUTCOMES)].copy()
    grp = st.groupby("Opportunity ID", sort=False)
    st["next_activity"] = grp["Activity"].shift(-1)
    st["dwell"] = grp["Timestamp"].shift(-1) - st["Timestamp"]
    return cast(pd.DataFrame, st[st["Activity"].isin(STAGES) & st["dwell"].notna()])


def _first_ts(events: pd.DataFrame, activity: str) -> pd.Series:
    return cast(pd.Series, events[events["Activity"] == activity].groupby("Opportunity ID")["Timestamp"].min())


def _consecutive_manager(events: pd.DataFrame) -> set[str]:
    e = _with_prev(events)
    hit = (e["Activity"] == "Manager Approval") & (e["prev_activity"] == "Manager Approval")
    return set(e.loc[hit, "Opportunity ID"])


def _reps(events: pd.DataFrame) -> pd.Series:
    """Number of distinct non-approver owners per case."""
    rows = events[~events["Activity"].isin(APPROVALS)]
    return cast(pd.Series, rows.groupby("Opportunity ID")["Owner"].nunique())


def _backtrack_cases(events: pd.DataFrame) -> set[str]:
    first_q = _first_ts(events, "Quote & Negotiation")
    sp = events[events["Activity"] == "Solution Proposal"]
    later = sp["Timestamp"] > sp["Opportunity ID"].map(first_q)
    return set(sp.loc[later.fillna(False), "Opportunity ID"])


def _skip_cases(events: pd.DataFrame) -> set[str]:
    acts = events.groupby("Opportunity ID")["Activity"].agg(set)
    return {str(c) for c, a in acts.items() if "Solution Proposal" in a and "Needs Analysis" not in a}


# --------------------------------------------------------------------------
# structure and determinism
# --------------------------------------------------------------------------
def test_deterministic_for_equal_seed_and_differs_for_other_seed() -> None:
    ev1, gt1 = generate_sales_log(seed=3, n_cases=150)
    ev2, gt2 = generate_sales_log(seed=3, n_cases=150)
    pd.testing.assert_frame_equal(ev1, ev2)
    pd.testing.assert_frame_equal(gt1, gt2)
    ev3, _ = generate_sales_log(seed=4, n_cases=150)
    assert not ev1.equals(ev3)
    assert not ev1["Timestamp"].head(20).equals(ev3["Timestamp"].head(20))


def test_columns_types_and_sorting(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = log
    assert list(ev.columns) == EVENT_COLUMNS
    assert list(gt.columns) == ["case_id", "kind", "where", "detail", "must_not_raise"]
    assert (gt["must_not_raise"] == "").all()
    assert str(ev["Timestamp"].dt.tz) == "UTC"
    assert (ev["Timestamp"].dt.microsecond == 0).all()
    assert ev["Opportunity ID"].str.fullmatch(r"OPP-\d{6}").all()
    # sorted by (case, time) and strictly increasing within each case
    assert ev.equals(ev.sort_values(["Opportunity ID", "Timestamp"], kind="stable", ignore_index=True))
    assert (ev.groupby("Opportunity ID")["Timestamp"].diff().dropna() > pd.Timedelta(0)).all()
    assert set(ev["Activity"]) == set(STAGES + OUTCOMES + APPROVALS + ["Call", "Email"])
    assert set(ev["Segment"]) == {"SMB", "Mid-Market", "Enterprise"}
    assert set(ev["Lead Source"]) == {"Web", "Referral", "Event", "Outbound", "Partner"}
    attrs = ["Segment", "Region", "Lead Source", "Amount", "Product"]
    assert (ev.groupby("Opportunity ID")[attrs].nunique() == 1).all().all()
    assert ((ev["Amount"] * 100).round() == ev["Amount"] * 100).all()
    is_appr = ev["Activity"].isin(APPROVALS)
    assert set(ev.loc[is_appr, "Approval Result"]) == {"approved", "rejected"}
    assert ev.loc[~is_appr, "Approval Result"].isna().all()
    assert ev.loc[is_appr, "Owner"].str.startswith("Approver: ").all()
    assert set(gt["kind"]) == set(PROBLEM_KINDS)
    assert not gt.duplicated(["case_id", "kind"]).any()
    assert set(gt["case_id"]) <= set(ev["Opportunity ID"])


def test_sample_columns_read_a_generated_log(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The reader keywords name the generator's own columns and read every event, with its
    owner, approval result and deal amount."""
    import salesmining as sm

    ev, _ = log
    assert set(SAMPLE_COLUMNS.values()) <= set(EVENT_COLUMNS)
    with pytest.raises(TypeError):
        SAMPLE_COLUMNS["case"] = "x"  # type: ignore[index]  # read-only: a test cannot change it for the next
    read = sm.from_dataframe(ev, **SAMPLE_COLUMNS)
    assert read.n_events == len(ev) and read.n_cases == ev["Opportunity ID"].nunique()
    frame = read.to_frame()
    assert (
        frame["org:resource"]
        .value_counts()
        .sort_index()
        .equals(ev["Owner"].value_counts().sort_index().rename_axis("org:resource"))
    )
    assert int(frame["approval_result"].notna().sum()) == int(ev["Approval Result"].notna().sum())
    amounts = read.cases.set_index("case:concept:name")["amount"].sort_index()
    want = ev.groupby("Opportunity ID")["Amount"].last().sort_index()
    assert amounts.to_numpy().tolist() == want.to_numpy().tolist()


def test_case_shape_and_period(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, _ = log
    first = ev.groupby("Opportunity ID").first()
    assert (first["Activity"] == "Lead").all()
    assert first["Timestamp"].min() >= pd.Timestamp("2024-01-01", tz="UTC")
    assert first["Timestamp"].max() <= pd.Timestamp("2024-12-31 23:59:59", tz="UTC") - 30 * DAY
    assert ev["Timestamp"].max() <= pd.Timestamp("2024-12-31 23:59:59", tz="UTC")
    # outcomes end a case; Contract Signed only after Quote & Negotiation
    last = ev.groupby("Opportunity ID")["Activity"].last()
    assert ev[ev["Activity"].isin(OUTCOMES)].groupby("Opportunity ID").size().max() == 1
    stage_rows = ev[ev["Activity"].isin(STAGES + OUTCOMES)]
    before_won = stage_rows.groupby("Opportunity ID")["Activity"].shift(1)[stage_rows["Activity"] == "Contract Signed"]
    assert (before_won == "Quote & Negotiation").all()
    # approvals only inside Quote & Negotiation
    e = ev.copy()
    e["stage"] = e["Activity"].where(e["Activity"].isin(STAGES)).groupby(e["Opportunity ID"]).ffill()
    assert (e.loc[e["Activity"].isin(APPROVALS), "stage"] == "Quote & Negotiation").all()
    # ~80 % closed, won 35-45 % of the closed ones; open cases stop mid-process
    closed = last.isin(OUTCOMES)
    assert 0.72 <= closed.mean() <= 0.88
    assert 0.33 <= (last == "Contract Signed").sum() / closed.sum() <= 0.47
    # Enterprise deals are bigger and slower
    amount = ev.groupby("Segment")["Amount"].median()
    assert amount["SMB"] < amount["Mid-Market"] < amount["Enterprise"]
    med = _stage_dwell(ev).groupby("Segment")["dwell"].median()
    assert med["SMB"] < med["Enterprise"]


def test_mostly_working_hours(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, _ = log
    offsets = {"North America": -5, "UK & Ireland": 0}
    local = ev["Timestamp"] + pd.to_timedelta(ev["Region"].map(offsets).fillna(1), unit="h")
    working = (local.dt.day_of_week < 5) & (local.dt.hour >= 8) & (local.dt.hour < 19)
    assert working.mean() > 0.9


# --------------------------------------------------------------------------
# ground truth is visible in the events (and only there)
# --------------------------------------------------------------------------
def test_skipped_stage_matches_events(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = log
    skipped = _cases(gt, "skipped_stage")
    assert len(skipped) >= 40
    assert skipped == _skip_cases(ev)
    acts = ev.groupby("Opportunity ID")["Activity"].agg(set)
    assert all({"Contact", "Solution Proposal"} <= acts[c] for c in skipped)
    assert (gt.loc[gt["kind"] == "skipped_stage", "where"] == "Needs Analysis").all()
    # skipping the analysis hurts the win rate
    last = ev.groupby("Opportunity ID")["Activity"].last()
    reached = set(ev.loc[ev["Activity"] == "Solution Proposal", "Opportunity ID"])
    closed = last[last.isin(OUTCOMES) & last.index.isin(reached)]
    in_skip = closed.index.isin(list(skipped))
    assert (closed[in_skip] == "Contract Signed").mean() < (closed[~in_skip] == "Contract Signed").mean() - 0.1


def test_loop_matches_events(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = log
    loops = gt[gt["kind"] == "loop"].set_index("case_id")
    assert len(loops) >= 40
    assert set(loops.index) == _backtrack_cases(ev)
    assert (loops["where"] == "Quote & Negotiation -> Solution Proposal").all()
    first_q = _first_ts(ev, "Quote & Negotiation")
    sp = ev[ev["Activity"] == "Solution Proposal"]
    n_back = sp[sp["Timestamp"] > sp["Opportunity ID"].map(first_q)].groupby("Opportunity ID").size()
    assert (loops["detail"] == "loop x" + n_back.reindex(loops.index).astype(str)).all()
    assert set(n_back) <= {1, 2} and 2 in set(n_back)


def test_slow_response_matches_events(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = log
    slow = _cases(gt, "slow_response")
    assert len(slow) >= 40
    delay = (_first_ts(ev, "Contact") - _first_ts(ev, "Lead")).dropna()
    assert (delay[delay.index.isin(list(slow))] >= 3 * DAY).all()
    assert (delay[delay.index.isin(list(slow))] <= 10 * DAY).all()
    assert set(delay[delay > DAY].index) == slow
    normal = delay[~delay.index.isin(list(slow))]
    assert normal.quantile(0.95) < DAY


def test_redundant_approval_matches_events(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = log
    redundant = _cases(gt, "redundant_approval")
    assert len(redundant) >= 25
    assert _consecutive_manager(ev) == redundant
    e = _with_prev(ev)
    repeats = e[(e["Activity"] == "Manager Approval") & (e["prev_activity"] == "Manager Approval")]
    assert (repeats["Approval Result"] == "approved").all()
    assert repeats["wait"].between(DAY, 3 * DAY + pd.Timedelta(hours=1)).all()
    # legitimate re-approvals after a rejection are separated by a revised quote
    rejected = e[e["Activity"].isin(APPROVALS) & (e["Approval Result"] == "rejected")]
    assert len(rejected) > 0
    nxt = e.groupby("Opportunity ID")["Activity"].shift(-1).loc[rejected.index]
    assert not nxt.isin(APPROVALS).any()


def test_handoff_delay_matches_events(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = log
    handoffs = gt[gt["kind"] == "handoff_delay"].set_index("case_id")
    assert len(handoffs) >= 20
    reps = _reps(ev)
    assert set(reps[reps > 1].index) == set(handoffs.index)
    assert (reps <= 2).all()
    stages = ev[ev["Activity"].isin(STAGES)].copy()
    grp = stages.groupby("Opportunity ID", sort=False)
    stages["prev_owner"] = grp["Owner"].shift(1)
    stages["prev_activity"] = grp["Activity"].shift(1)
    stages["gap"] = stages["Timestamp"] - grp["Timestamp"].shift(1)
    change = stages[stages["prev_owner"].notna() & (stages["Owner"] != stages["prev_owner"])].set_index(
        "Opportunity ID"
    )
    assert set(change.index) == set(handoffs.index)
    assert (handoffs["where"] == change["prev_activity"] + " -> " + change["Activity"]).all()
    assert change["gap"].between(5 * DAY, 12 * DAY).all()


def test_long_wait_matches_events(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = log
    waits = gt[gt["kind"] == "long_wait"].set_index("case_id")
    assert len(waits) >= 40
    on_approval = waits[waits["where"].isin(APPROVALS)]
    on_stage = waits[waits["where"].isin(STAGES)]
    assert len(on_approval) > 10 and len(on_stage) > 10
    assert len(on_approval) + len(on_stage) == len(waits)
    assert "Lead" not in set(on_stage["where"])
    e = _with_prev(ev)
    for case, where in on_approval["where"].items():
        rows = e[(e["Opportunity ID"] == case) & (e["Activity"] == where)]
        assert rows["wait"].max() >= 6 * DAY
    dwell = _stage_dwell(ev)
    for case, where in on_stage["where"].items():
        rows = dwell[(dwell["Opportunity ID"] == case) & (dwell["Activity"] == where)]
        assert rows["dwell"].max() >= 4 * STAGE_SLA[where]
    # normal behaviour stays clearly below the SLAs
    normal = ~dwell["Opportunity ID"].isin(set(gt["case_id"]))
    for stage, sla in STAGE_SLA.items():
        x = dwell.loc[normal & (dwell["Activity"] == stage), "dwell"]
        assert x.quantile(0.95) <= sla
        assert x.max() <= sla
    ok = ~e["Opportunity ID"].isin(set(waits.index) | _cases(gt, "redundant_approval"))
    for appr, sla in APPROVAL_SLA.items():
        assert (e.loc[ok & (e["Activity"] == appr), "wait"] < min(sla, 1.5 * DAY)).all()
    # no other stage dwell reaches 4x its SLA
    long_cases = set(on_stage.index)
    for stage, sla in STAGE_SLA.items():
        if stage == "Lead":
            continue
        x = dwell[(dwell["Activity"] == stage) & ~dwell["Opportunity ID"].isin(long_cases)]
        assert (x["dwell"] < 4 * sla).all()


@pytest.mark.parametrize("kind", PROBLEM_KINDS)
def test_rate_zero_disables_kind(kind: str) -> None:
    ev, gt = generate_sales_log(seed=5, n_cases=400, rates={kind: 0.0})
    assert kind not in set(gt["kind"])
    assert len(gt) > 0
    if kind == "loop":
        assert not _backtrack_cases(ev)
    elif kind == "skipped_stage":
        assert not _skip_cases(ev)
    elif kind == "slow_response":
        delay = (_first_ts(ev, "Contact") - _first_ts(ev, "Lead")).dropna()
        assert (delay < DAY).all()
    elif kind == "redundant_approval":
        assert not _consecutive_manager(ev)
    elif kind == "handoff_delay":
        assert (_reps(ev) == 1).all()
    else:  # long_wait
        e = _with_prev(ev)
        slow_appr = e[e["Activity"].isin(["Discount Approval", "Legal Review"]) & (e["wait"] > 2 * DAY)]
        assert slow_appr.empty
        dwell = _stage_dwell(ev)
        sla = dwell["Activity"].map(STAGE_SLA)
        assert not ((dwell["Activity"] != "Lead") & (dwell["dwell"] >= 4 * sla)).any()


def test_rates_change_counts_and_are_validated() -> None:
    _, none = generate_sales_log(seed=5, n_cases=300, rates=dict.fromkeys(PROBLEM_KINDS, 0.0))
    assert none.empty
    assert list(none.columns) == ["case_id", "kind", "where", "detail", "must_not_raise"]
    _, many = generate_sales_log(seed=5, n_cases=300, rates={"loop": 0.5})
    _, few = generate_sales_log(seed=5, n_cases=300)
    assert (many["kind"] == "loop").sum() > 2 * (few["kind"] == "loop").sum()
    with pytest.raises(ValueError, match="unknown problem kind"):
        generate_sales_log(n_cases=5, rates={"loops": 0.1})
    with pytest.raises(ValueError, match="within"):
        generate_sales_log(n_cases=5, rates={"loop": 1.5})
    with pytest.raises(ValueError, match="language"):
        generate_sales_log(n_cases=5, language="de")
    assert set(DEFAULT_RATES) == set(PROBLEM_KINDS)


def test_export_time_truncates_and_keeps_ground_truth_visible() -> None:
    export = "2024-06-15T12:00:00Z"
    ev, gt = generate_sales_log(seed=9, n_cases=300, export_time=export)
    assert ev["Timestamp"].max() <= pd.Timestamp(export)
    assert ev["Timestamp"].groupby(ev["Opportunity ID"]).min().max() <= pd.Timestamp(export)
    assert _cases(gt, "loop") == _backtrack_cases(ev)
    assert _cases(gt, "skipped_stage") == _skip_cases(ev)
    assert _cases(gt, "redundant_approval") == _consecutive_manager(ev)


def test_two_thousand_cases() -> None:
    # its speed is the benchmarks' business (benchmarks/), not a timed test's: it failed under load
    ev, _ = generate_sales_log(seed=1, n_cases=2000)
    assert ev["Opportunity ID"].nunique() == 2000


# --------------------------------------------------------------------------
# Chinese log and committed sample files
# --------------------------------------------------------------------------
def test_chinese_log_uses_chinese_names() -> None:
    ev, gt = generate_sales_log(seed=21, n_cases=120, language="zh")
    assert set(ev["Activity"]) <= set(ZH.values())
    assert {ZH[s] for s in STAGES} <= set(ev["Activity"])
    assert ev["Opportunity ID"].str.fullmatch(r"OPP-ZH-\d{6}").all()
    wheres = set(gt["where"])
    english = set(ZH) | {f"{a} -> {b}" for a in ZH for b in ZH}
    assert not wheres & english
    assert f"{ZH['Quote & Negotiation']} -> {ZH['Solution Proposal']}" in wheres
    assert set(gt["kind"]) == set(PROBLEM_KINDS)
    # the same checks as in English hold after translating the names back
    back = ev.assign(Activity=ev["Activity"].map({v: k for k, v in ZH.items()}))
    assert _cases(gt, "skipped_stage") == _skip_cases(back)
    assert _cases(gt, "loop") == _backtrack_cases(back)
    assert _cases(gt, "redundant_approval") == _consecutive_manager(back)
    assert ev.loc[ev["Activity"] == ZH["Manager Approval"], "Owner"].str.startswith("审批人").all()


def test_committed_sample_logs_are_up_to_date(tmp_path: Path) -> None:
    written = write_sample_logs(tmp_path)
    names = {p.name for p in written}
    assert names == {
        "opportunities.csv",
        "opportunities_ground_truth.csv",
        "opportunities_before.csv",
        "opportunities_before_ground_truth.csv",
        "opportunities_after.csv",
        "opportunities_after_ground_truth.csv",
        "opportunities_zh.csv",
        "opportunities_zh_ground_truth.csv",
        "opportunities_artefacts.csv",
        "opportunities_artefacts_ground_truth.csv",
        "stages.yaml",
        "stages_zh.yaml",
    }
    total = 0
    for path in written:
        fresh = path.read_bytes()
        committed = (SAMPLE_LOGS / path.name).read_bytes()
        assert fresh == committed, f"{path.name} is stale: run python sample_logs/generate.py"
        assert not fresh.startswith(b"\xef\xbb\xbf") and b"\r" not in fresh
        total += len(fresh)
    assert total < 5_000_000
    header = (tmp_path / "opportunities.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(EVENT_COLUMNS)


def test_committed_sample_logs_content() -> None:
    read = {
        name: pd.read_csv(SAMPLE_LOGS / f"{name}.csv", dtype=str, keep_default_na=False)
        for name in ("opportunities_before", "opportunities_after", "opportunities_zh")
    }
    before, after = read["opportunities_before"], read["opportunities_after"]
    assert before["Opportunity ID"].str.startswith("OPP-B-").all()
    assert after["Opportunity ID"].str.startswith("OPP-A-").all()
    assert before["Timestamp"].max() <= "2024-06-30T23:59:59Z" <= after["Timestamp"].min()
    assert before["Timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    assert before["Amount"].str.fullmatch(r"\d+\.\d\d").all()
    gt_b = pd.read_csv(SAMPLE_LOGS / "opportunities_before_ground_truth.csv")
    gt_a = pd.read_csv(SAMPLE_LOGS / "opportunities_after_ground_truth.csv")
    n_b, n_a = before["Opportunity ID"].nunique(), after["Opportunity ID"].nunique()
    share_b = gt_b["kind"].value_counts() / n_b
    share_a = gt_a["kind"].value_counts() / n_a
    for kind in ("loop", "redundant_approval", "slow_response"):
        assert share_a[kind] < 0.5 * share_b[kind]
    for kind in ("skipped_stage", "long_wait", "handoff_delay"):
        assert 0.6 < share_a[kind] / share_b[kind] < 1.6
    zh = read["opportunities_zh"]
    assert set(zh["Activity"]) == set(ZH.values())
    spec_zh = yaml.safe_load((SAMPLE_LOGS / "stages_zh.yaml").read_text(encoding="utf-8"))
    assert spec_zh["name"] == "B2B 商机流程"
    assert spec_zh["stages"] == [ZH[s] for s in STAGES]
    assert set(spec_zh["approval_sla"]) == {ZH[a] for a in APPROVALS}
    assert SPEC["stages"] == STAGES and SPEC["allowed_backtracks"] == []


# --------------------------------------------------------------------------
# negatives: artefacts that are not problems, recounted from the events
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def neg_log() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_sales_log(seed=31, n_cases=1500, negatives=True)


def _neg(gt: pd.DataFrame, kind: str) -> pd.DataFrame:
    return cast(pd.DataFrame, gt[gt["kind"] == kind].set_index("case_id"))


def test_negatives_off_is_the_classic_log() -> None:
    ev, gt = generate_sales_log(seed=3, n_cases=200)
    for off in (None, False, dict.fromkeys(NEGATIVE_KINDS, 0.0)):
        ev2, gt2 = generate_sales_log(seed=3, n_cases=200, negatives=off)
        pd.testing.assert_frame_equal(ev, ev2)
        pd.testing.assert_frame_equal(gt, gt2)
    _, gt3 = generate_sales_log(seed=3, n_cases=200, negatives=True)
    assert set(gt3["kind"]) == set(PROBLEM_KINDS) | set(NEGATIVE_KINDS)
    assert set(DEFAULT_NEGATIVES) == set(NEGATIVE_KINDS) == set(NEGATIVE_MUST_NOT_RAISE)
    with pytest.raises(ValueError, match="unknown negative"):
        generate_sales_log(n_cases=5, negatives={"bots": 0.1})
    with pytest.raises(ValueError, match="within"):
        generate_sales_log(n_cases=5, negatives={"system_user": 2.0})
    with pytest.raises(ValueError, match="mapping"):
        generate_sales_log(n_cases=5, negatives=0.5)  # type: ignore[arg-type]


def test_negative_rows_are_labelled(neg_log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, gt = neg_log
    is_neg = gt["kind"].isin(NEGATIVE_KINDS)
    assert (gt.loc[~is_neg, "must_not_raise"] == "").all()
    expected = gt.loc[is_neg, "kind"].map(lambda k: " ".join(NEGATIVE_MUST_NOT_RAISE[k]))
    assert (gt.loc[is_neg, "must_not_raise"] == expected).all()
    assert not gt.duplicated(["case_id", "kind"]).any()
    counts = gt["kind"].value_counts()
    n = 1500
    assert counts["system_user"] > 0.5 * n
    assert counts["designed_handoff"] > 0.6 * n
    for kind in ("bulk_update_tie", "backfilled_deal", "censored_open"):
        assert 0.4 * DEFAULT_NEGATIVES[kind] * n <= counts[kind] <= 1.6 * DEFAULT_NEGATIVES[kind] * n, kind


def test_system_user_matches_events(neg_log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = neg_log
    sys_rows = ev[ev["Owner"] == "System"]
    assert (sys_rows["Activity"] == "Archived").all()
    assert set(sys_rows["Opportunity ID"]) == set(_neg(gt, "system_user").index)
    assert not sys_rows["Opportunity ID"].duplicated().any()
    e = _with_prev(ev)
    arch = e[e["Activity"] == "Archived"]
    assert arch["prev_activity"].isin(OUTCOMES).all()
    assert arch["wait"].between(30 * DAY, 31 * DAY + pd.Timedelta(hours=3)).all()
    assert (e.groupby("Opportunity ID")["Activity"].last().loc[arch["Opportunity ID"]] == "Archived").all()
    where = _neg(gt, "system_user")["where"]
    assert (where == arch.set_index("Opportunity ID")["prev_activity"] + " -> Archived").all()


def test_designed_handoff_matches_events(neg_log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = neg_log
    st = ev[ev["Activity"].isin(STAGES)].copy()
    # the ground truth names places in the intended order: tied stage events sorted by stage order
    st["order"] = st["Activity"].map({s: i for i, s in enumerate(STAGES)})
    st = st.sort_values(["Opportunity ID", "Timestamp", "order"], kind="stable")
    grp = st.groupby("Opportunity ID", sort=False)
    st["prev_activity"], st["prev_owner"] = grp["Activity"].shift(1), grp["Owner"].shift(1)
    after_contact = st[st["prev_activity"] == "Contact"].set_index("Opportunity ID")
    changed = after_contact[after_contact["Owner"] != after_contact["prev_owner"]]
    designed = _neg(gt, "designed_handoff")
    assert set(changed.index) == set(designed.index)
    assert (designed["where"] == "Contact -> " + changed["Activity"]).all()
    # nearly every case that leaves Contact forwards changes owner there: the process's design
    assert len(changed) / len(after_contact) > 0.9
    # at a normal pace: the Contact dwell before the designed step stays below the SLA
    st["gap"] = st["Timestamp"] - grp["Timestamp"].shift(1)
    gap = st.loc[st["prev_activity"] == "Contact"].set_index("Opportunity ID")["gap"]
    gap = gap.drop(set(gt.loc[gt["kind"] == "long_wait", "case_id"]) & set(gap.index))  # injected long Contact dwells
    with_change = gap.index.isin(changed.index)
    assert gap[with_change].max() <= 0.95 * STAGE_SLA["Contact"]
    # the injected handoff delays are never on the designed step, and the SDR never owns a later stage
    ho = gt[gt["kind"] == "handoff_delay"]
    assert not ho["where"].str.startswith("Contact -> ").any()
    sdr_of = changed["prev_owner"]
    later = st[st["Opportunity ID"].isin(sdr_of.index) & ~st["Activity"].isin(["Lead", "Contact"])]
    assert (later["Owner"] != later["Opportunity ID"].map(sdr_of)).all()


def test_bulk_update_ties_match_events(neg_log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = neg_log
    order = {s: i for i, s in enumerate(STAGES)}
    st = ev[ev["Activity"].isin(STAGES)]
    dup = st[st.duplicated(["Opportunity ID", "Timestamp"], keep=False)]
    ties = _neg(gt, "bulk_update_tie")
    assert set(dup["Opportunity ID"]) == set(ties.index)
    for case, rows in dup.groupby("Opportunity ID"):
        stages = list(rows["Activity"])
        assert len(stages) in (2, 3)
        # exported in a row order that is never the intended one, listed in the intended order
        assert stages != sorted(stages, key=order.__getitem__)
        assert ties.loc[case, "where"] == " -> ".join(sorted(stages, key=order.__getitem__))
    # the only equal timestamps of the log are these ties; the cases have no loop and no skip
    assert not ev[~ev.index.isin(dup.index)].duplicated(["Opportunity ID", "Timestamp"]).any()
    assert not set(ties.index) & (_cases(gt, "loop") | _cases(gt, "skipped_stage"))


def test_backfilled_deals_match_events(neg_log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = neg_log
    span = ev.groupby("Opportunity ID")["Timestamp"].agg(lambda s: s.max() - s.min())
    n_stages = ev[ev["Activity"].isin(STAGES)].groupby("Opportunity ID").size()
    quick = set(span[span < pd.Timedelta(hours=1)].index) & set(n_stages[n_stages >= 5].index)
    back = _neg(gt, "backfilled_deal")
    assert quick == set(back.index)
    rows = ev[ev["Opportunity ID"].isin(quick)]
    assert (rows.groupby("Opportunity ID")["Activity"].last() == "Contract Signed").all()
    assert (rows.groupby("Opportunity ID")["Owner"].nunique() == 1).all()
    assert not rows["Activity"].isin([*APPROVALS, "Call", "Email"]).any()
    assert not set(back.index) & set(gt.loc[gt["kind"].isin(PROBLEM_KINDS), "case_id"])


def test_censored_open_deals_are_young(neg_log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = neg_log
    export = pd.Timestamp("2024-12-31 23:59:59", tz="UTC")
    young = _neg(gt, "censored_open")
    rows = ev[ev["Opportunity ID"].isin(young.index)]
    assert not rows["Activity"].isin(OUTCOMES).any()
    st = rows[rows["Activity"].isin(STAGES)].groupby("Opportunity ID").last()
    assert (st["Activity"] == young["where"]).all()
    age = export - st["Timestamp"]
    assert (age < st["Activity"].map(STAGE_SLA) * 0.95).all()
    # shorter than closed cases can take in that stage (their normal dwell never reaches 0.95 x SLA)
    assert (age > pd.Timedelta(0)).all()


def test_positives_stay_visible_with_negatives(neg_log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ev, gt = neg_log
    assert _cases(gt, "loop") == _backtrack_cases(ev)
    assert _cases(gt, "skipped_stage") == _skip_cases(ev)
    assert _cases(gt, "redundant_approval") == _consecutive_manager(ev)
    # injected handoffs: an owner change between stages after the first stage after Contact
    st = ev[ev["Activity"].isin(STAGES)].copy()
    grp = st.groupby("Opportunity ID", sort=False)
    st["prev_owner"], st["prev_activity"] = grp["Owner"].shift(1), grp["Activity"].shift(1)
    st["gap"] = st["Timestamp"] - grp["Timestamp"].shift(1)
    change = st[st["prev_owner"].notna() & (st["Owner"] != st["prev_owner"]) & ~st["prev_activity"].isin(["Contact"])]
    handoffs = gt[gt["kind"] == "handoff_delay"].set_index("case_id")
    assert set(change["Opportunity ID"]) == set(handoffs.index)
    assert change["gap"].between(5 * DAY, 12 * DAY).all()


def test_negatives_keep_the_positive_rates() -> None:
    _, off = generate_sales_log(seed=41, n_cases=2500)
    _, on = generate_sales_log(seed=41, n_cases=2500, negatives=True)
    a, b = off["kind"].value_counts(), on["kind"].value_counts()
    for kind in PROBLEM_KINDS:
        assert 0.75 < b[kind] / a[kind] < 1.25, (kind, a[kind], b[kind])
