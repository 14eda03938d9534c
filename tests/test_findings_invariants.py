"""Time counted once, ties, system users and one meaning of backward moves / reopens.

Invariants checked on every shared real log and on hypothesis-generated logs: each gap is charged
to at most one finding and never more than itself, so per case the time charged is at most the
case's duration (a pandas recount: last minus first timestamp) and in total at most all case time;
every finding's time lost is the sum of its rows in ``Findings.attribution``; conformance's
backtracks and reopened cases are exactly the ``backward_move`` and ``reopened`` findings.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import salesmining as sm

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))
CASE, ACT, TS, RES = "case:concept:name", "concept:name", "time:timestamp", "org:resource"
T0 = pd.Timestamp("2024-01-01", tz="UTC")
P = "Request For Payment "


def _path(rel: str) -> Path:
    p = REAL / rel
    if not p.exists():
        pytest.skip(f"real log {rel} not found under {REAL} (see shared/real_logs/SOURCES.md)")
    return p


def _crm_model(log: sm.EventLog) -> sm.StageModel:
    st_ = log.meta["stages"]
    won = [s["activity"] for s in st_ if s["outcome"] == "won"]
    lost = [s["activity"] for s in st_ if s["outcome"] == "lost"]
    return sm.StageModel(
        [s["activity"] for s in st_ if s["outcome"] == "open"],
        outcomes={"won": won or ["(no won stage)"], "lost": lost or ["(no lost stage)"]},
    )


def _real(name: str) -> tuple[sm.EventLog, sm.StageModel]:
    if name == "bpic2012":
        log = sm.read_xes(_path("bpic2012/BPI_Challenge_2012.xes.gz"))
        stages = ["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "A_ACCEPTED", "A_FINALIZED"]
        return log, sm.StageModel(
            stages, outcomes={"won": ["A_ACTIVATED"], "lost": ["A_DECLINED", "A_CANCELLED"]}, anywhere=["A_APPROVED"]
        )
    if name == "bpic2020":
        log = sm.read_xes(_path("bpic2020/RequestForPayment.xes.gz"))
        approvals = [P + f"APPROVED by {x}" for x in ("ADMINISTRATION", "BUDGET OWNER", "PRE_APPROVER", "SUPERVISOR")]
        return log, sm.StageModel(
            [P + "SUBMITTED by EMPLOYEE", "Request Payment"],
            outcomes={"won": ["Payment Handled"], "lost": [P + "REJECTED by EMPLOYEE"]},
            approvals=dict.fromkeys([*approvals, P + "FINAL_APPROVED by SUPERVISOR"], P + "SUBMITTED by EMPLOYEE"),
        )
    if name in ("receipt", "roadtraffic"):
        rel = {"receipt": "receipt/receipt.csv.gz", "roadtraffic": "roadtraffic/roadtraffic100traces.csv"}[name]
        log = sm.read_csv(
            _path(rel), case=CASE, activity=ACT, timestamp=TS, resource=RES, lifecycle="lifecycle:transition"
        )
        return log, sm.StageModel.infer(log, min_share=0.5)
    hist, opp = {
        "salesforce_demo": ("OpportunityHistory_demo_org.csv", "Opportunity_demo_org.csv"),
        "salesforce_us": ("OpportunityHistory_us_locale.csv", "Opportunity_us_locale.csv"),
    }[name]
    log = sm.read_salesforce(_path(f"salesforce/{hist}"), opportunities=_path(f"salesforce/{opp}"))
    return log, _crm_model(log)


REAL_NAMES = ["bpic2012", "bpic2020", "receipt", "roadtraffic", "salesforce_demo", "salesforce_us"]


def assert_time_counted_once(log: sm.EventLog, f: sm.Findings) -> None:
    att = f.attribution
    ev = log.to_frame()
    span = ev.groupby(CASE)[TS].agg(lambda s: (s.max() - s.min()).total_seconds())
    span.index = span.index.astype(str)
    # each gap once, never more than itself
    assert (att["charged_s"] >= 0).all() and (att["charged_s"] <= att["gap_s"] + 1e-6).all()
    assert len(att) == len(ev) - ev[CASE].nunique()
    assert att.loc[att["charged_s"] > 0, "rule"].notna().all()
    per_case = att.groupby("case_id")["charged_s"].sum()
    assert (per_case <= span.reindex(per_case.index) + 1e-6).all()
    assert per_case.sum() <= span.sum() + 1e-6
    # the evidence's time (stalled open cases apart) is the attribution summed per case
    fev = f.evidence
    fev = fev[fev["rule"] != "stalled_open"]
    by_case = fev.groupby("case_id")["time_lost_s"].sum()
    assert (by_case <= span.reindex(by_case.index) + 1e-6).all()
    # every finding's time lost is the sum of its attribution rows
    frame = f.to_frame()
    charged = att.groupby(["kind", "rule", "where"])["charged_s"].sum() / 3600
    done = frame[frame["rule"] != "stalled_open"].set_index(["kind", "rule", "where"])["time_lost_hours"]
    got = charged.reindex(done.index).fillna(0.0)
    np.testing.assert_allclose(done.to_numpy(dtype=float), got.to_numpy(dtype=float), rtol=1e-9, atol=1e-9)


def assert_loops_agree_with_conformance(log: sm.EventLog, model: sm.StageModel, f: sm.Findings) -> None:
    conf = sm.conform(log, model)
    bt = conf.backtrack_rates
    table = {(a, b): int(n) for a, b, n in zip(bt["from"], bt["to"], bt["cases"], strict=True)}
    fr = f.to_frame()
    moves = fr[fr["rule"] == "backward_move"]
    found = {
        (a, b): int(n) for a, b, n in zip(moves["from_activity"], moves["to_activity"], moves["cases"], strict=True)
    }
    assert found == table
    reopened_conf = set(conf.to_frame().loc[lambda d: d["reopened"].fillna(False).astype(bool), "case_id"].astype(str))
    ev = f.evidence
    assert set(ev.loc[ev["rule"] == "reopened", "case_id"]) == reopened_conf


@pytest.mark.real_logs
@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_logs_count_time_once_and_loops_agree(name: str) -> None:
    log, model = _real(name)
    f = sm.find_bottlenecks(log, model)
    assert_time_counted_once(log, f)
    assert_loops_agree_with_conformance(log, model, f)


@pytest.mark.real_logs
def test_bpic2012_automation_user_is_detected_and_no_case_is_overcharged() -> None:
    log, model = _real("bpic2012")
    f = sm.find_bottlenecks(log, model)
    assert any(w.startswith("'112' is treated as a system user") for w in f.warnings)
    # '112' acts in every case (a pandas recount) and owns none of the handoffs
    ev = log.to_frame()
    assert ev.loc[ev[RES] == "112", CASE].nunique() == log.n_cases
    assert "112 →" not in " ".join(f.evidence.loc[f.evidence["kind"] == "handoff_delay", "detail"])
    given = sm.find_bottlenecks(log, model, system_users=[], kinds=["handoff_delay"])
    assert not any("system user" in w for w in given.warnings)


# --- hand-worked logs -----------------------------------------------------------------------
MODEL = sm.StageModel(
    ["Lead", "Contact", "Proposal", "Negotiation"],
    outcomes={"won": ["Won"], "lost": ["Lost"]},
    approvals={"Discount": "Negotiation"},
)


def mk(cases: dict[str, list[tuple[str, float, str]]], **kw: object) -> sm.EventLog:
    rows = [
        {"id": c, "act": a, "t": T0 + pd.Timedelta(days=d), "who": w} for c, evs in cases.items() for a, d, w in evs
    ]
    return sm.from_dataframe(pd.DataFrame(rows), case="id", activity="act", timestamp="t", resource="who", **kw)


def test_tied_stage_events_are_read_in_model_order() -> None:
    # a bulk update writes Proposal before Contact at the same instant: no backward move, no repeat
    tied = [
        ("Lead", 0, "ana"),
        ("Proposal", 1, "ana"),
        ("Contact", 1, "ana"),
        ("Negotiation", 3, "ana"),
        ("Won", 4, "ana"),
    ]
    real = [
        ("Lead", 0, "ana"),
        ("Proposal", 1, "ana"),
        ("Contact", 2, "ana"),
        ("Proposal", 3, "ana"),
        ("Won", 4, "ana"),
    ]
    log = mk({"tied": tied, "real": real})
    f = sm.find_bottlenecks(log, MODEL)
    moves = f.evidence[f.evidence["rule"] == "backward_move"]
    assert set(moves["case_id"]) == {"real"}
    assert moves["where"].tolist() == ["Proposal → Contact"]
    assert moves["time_lost_s"].tolist() == [86400.0]  # the Contact revisit, day 2 → 3
    conf = sm.conform(log, MODEL).to_frame().set_index("case_id")
    assert conf.loc["tied", "backtracks"] == () and conf.loc["real", "backtracks"] == (("Proposal", "Contact"),)
    assert any("sharing a timestamp" in w for w in f.warnings)


def test_reopen_after_an_outcome_is_its_own_rule_and_matches_conform() -> None:
    log = mk(
        {
            "reopened": [
                ("Lead", 0, "ana"),
                ("Contact", 1, "ana"),
                ("Lost", 2, "ana"),
                ("Contact", 5, "ana"),
                ("Won", 7, "ana"),
            ],
            "clean": [
                ("Lead", 0, "ana"),
                ("Contact", 1, "ana"),
                ("Proposal", 2, "ana"),
                ("Negotiation", 3, "ana"),
                ("Won", 4, "ana"),
            ],
        }
    )
    f = sm.find_bottlenecks(log, MODEL)
    fr = f.to_frame().set_index("rule")
    assert fr.loc["reopened", "where"] == "Lost → Contact" and fr.loc["reopened", "cases"] == 1
    assert fr.loc["reopened", "time_lost_hours"] == pytest.approx(48.0)  # Contact again, day 5 → 7
    assert "backward_move" not in fr.index
    assert sm.conform(log, MODEL).to_frame().set_index("case_id").loc["reopened", "reopened"]


def test_system_users_and_designed_steps_are_not_handoffs() -> None:
    # every case goes from an SDR to an account executive at Contact → Proposal (the design);
    # an integration user closes the deals
    cases = {}
    for i in range(12):
        late = 6 if i == 0 else 1 + (i % 4) * 0.1
        cases[f"c{i}"] = [
            ("Lead", 0, "sdr"),
            ("Contact", 0.5, "sdr"),
            ("Proposal", 0.5 + late, f"ae{i % 3}"),
            ("Negotiation", 2 + late + (i % 3) * 0.1, f"ae{i % 3}"),
            ("Won", 3 + late, "Salesforce Integration"),
        ]
    log = mk(cases)
    f = sm.find_bottlenecks(log, MODEL, rules=sm.FindingRules(min_reference=3))
    assert "handoff_delay" not in set(f.to_frame()["kind"])
    assert any("'Salesforce Integration' is treated as a system user" in w for w in f.warnings)
    assert any("process's design" in w and "Contact → Proposal" in w for w in f.warnings)
    # the designed step's slowness is a wait at Contact: c0 waited 6 d where the others waited 1 d
    att = f.attribution
    charged = att[(att["activity"] == "Proposal") & (att["charged_s"] > 0)]
    assert charged["case_id"].tolist() == ["c0"] and charged["rule"].tolist() == ["stage_outlier"]
    # naming nobody a system user turns the integration user into an owner again
    g = sm.find_bottlenecks(log, MODEL, rules=sm.FindingRules(min_reference=3), system_users=[])
    assert not any("system user" in w for w in g.warnings)


def test_roles_group_handoff_findings_by_pair_of_roles() -> None:
    cases = {}
    for i in range(12):
        d = 1 + (i % 4) * 0.1
        cases[f"same{i}"] = [
            ("Lead", 0, "ana"),
            ("Contact", 0.5, "ana"),
            ("Proposal", 0.5 + d, "ana"),
            ("Won", 3, "ana"),
        ]
    # every handoff slower than every wait without one: handing over costs time at this step
    for i, (who, late) in enumerate([("bob", 6), ("cy", 7), ("bob", 2), ("cy", 2.5)]):
        cases[f"ho{i}"] = [("Lead", 0, "ana"), ("Contact", 0.5, "ana"), ("Proposal", 0.5 + late, who), ("Won", 9, who)]
    log = mk(cases)
    roles = {"ana": "SDR", "bob": "AE", "cy": "AE"}
    rules = sm.FindingRules(min_reference=3)
    f = sm.find_bottlenecks(log, MODEL, rules=rules, roles=roles).to_frame()
    ho = f[f["kind"] == "handoff_delay"]
    assert ho["where"].tolist() == ["SDR → AE"] and ho["cases"].tolist() == [4]
    ref = np.median([1 + (i % 4) * 0.1 for i in range(12)])
    assert ho["time_lost_hours"].iloc[0] == pytest.approx((6 + 7 + 2 + 2.5 - 4 * ref) * 24)
    per_step = sm.find_bottlenecks(log, MODEL, rules=rules).to_frame()
    assert per_step.loc[per_step["kind"] == "handoff_delay", "where"].tolist() == ["Contact → Proposal"]


def test_start_only_lifecycles_still_show_repeated_work() -> None:
    rows = []
    for c, acts in {"a": ["Lead", "Check", "Check", "Contact"], "b": ["Lead", "Check", "Contact"]}.items():
        for k, a in enumerate(acts):
            rows.append({"id": c, "act": a, "t": T0 + pd.Timedelta(hours=k), "life": "start"})
    log = sm.from_dataframe(pd.DataFrame(rows), case="id", activity="act", timestamp="t", lifecycle="life")
    f = sm.find_bottlenecks(log, MODEL, kinds=["loop"]).to_frame()
    row = f[f["rule"] == "activity_repeat"].iloc[0]
    assert (row["where"], row["cases"], row["time_lost_hours"]) == ("Check", 1, 1.0)


# --- property tests -------------------------------------------------------------------------
STAGES = ["Lead", "Contact", "Proposal", "Negotiation"]
EVENTS = [*STAGES, "Won", "Lost", "Discount", "Call"]
PMODEL = sm.StageModel(
    STAGES,
    outcomes={"won": ["Won"], "lost": ["Lost"]},
    approvals={"Discount": "Negotiation"},
    allowed_backtracks=[("Negotiation", "Proposal")],
    sla={"Contact": "1d"},
)
event = st.tuples(
    st.sampled_from(EVENTS),
    st.integers(min_value=0, max_value=6),  # hours after the previous event: 0 makes ties
    st.sampled_from(["ana", "bob", "cy", "system"]),
)
logs = st.lists(st.lists(event, min_size=1, max_size=12), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs)
def test_generated_logs_count_time_once_and_loops_agree(cases: list[list[tuple[str, int, str]]]) -> None:
    rows = []
    for i, evs in enumerate(cases):
        t = T0
        for a, h, w in [("Lead", 0, "ana"), *evs]:  # every case starts at the first stage
            t = t + pd.Timedelta(hours=h)
            rows.append({"id": f"c{i}", "act": a, "t": t, "who": w})
    log = sm.from_dataframe(pd.DataFrame(rows), case="id", activity="act", timestamp="t", resource="who")
    f = sm.find_bottlenecks(
        log, PMODEL, rules=sm.FindingRules(min_reference=2, handoff_min_cases=1, as_of="2024-03-01")
    )
    assert_time_counted_once(log, f)
    assert_loops_agree_with_conformance(log, PMODEL, f)


def test_diagnose_passes_who_did_it_through() -> None:
    log = mk({"a": [("Lead", 0, "ana"), ("Contact", 1, "batch job"), ("Won", 2, "ana")]})
    assert any("'batch job' is treated as a system user" in w for w in sm.diagnose(log, MODEL).findings.warnings)
    d = sm.diagnose(log, MODEL, system_users=["ana"], roles={"ana": "SDR"})
    assert not any("system user" in w for w in d.findings.warnings)
    with pytest.raises(TypeError, match="list of user names"):
        sm.diagnose(log, MODEL, system_users="ana")


def test_three_stage_events_tied_in_any_file_order_are_read_in_model_order() -> None:
    # a bulk update wrote Negotiation, Contact, Proposal at one instant (every file order of a
    # three-way tie, including the cyclic ones a pairwise swap gets wrong)
    import itertools

    from salesmining.analysis.visits import tie_order
    from salesmining.engine.aggregations import event_table

    cases = {}
    for k, order in enumerate(itertools.permutations(["Contact", "Proposal", "Negotiation"])):
        cases[f"t{k}"] = [("Lead", 0, "ana"), *((a, 1, "ana") for a in order), ("Won", 2, "ana")]
    log = mk(cases)
    table = event_table(log)
    seq = tie_order(table, MODEL)
    read = table.assign(seq=seq).sort_values(["case:concept:name", "ts_us", "seq"])
    for case, acts in read.groupby("case:concept:name")["concept:name"]:
        assert acts.tolist() == ["Lead", "Contact", "Proposal", "Negotiation", "Won"], case
    f = sm.find_bottlenecks(log, MODEL).to_frame()
    assert "loop" not in set(f["kind"])
    assert len(sm.conform(log, MODEL).backtrack_rates) == 0
