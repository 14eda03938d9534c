"""Findings and KPIs: the result protocol, tables handed out as copies, structured finding places."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import salesmining as sm
from salesmining.core.errors import OptionError, StageModelTypeError

T0 = pd.Timestamp("2024-01-01", tz="UTC")
MODEL = sm.StageModel(
    ["Lead", "Contact", "Proposal", "Negotiation"],
    outcomes={"won": ["Won"], "lost": ["Lost"]},
    approvals={"Discount": "Negotiation", "Legal": "Negotiation"},
    sla={"Lead": "1d", "Contact": "2d", "Proposal": "3d", "Negotiation": "4d"},
)


def _log() -> sm.EventLog:
    cases = {
        "clean": [("Lead", 0, "ana"), ("Contact", 0.5, "ana"), ("Proposal", 1, "ana"), ("Won", 3, "ana")],
        "slow": [("Lead", 0, "ana"), ("Contact", 3, "ana"), ("Proposal", 4, "ana"), ("Lost", 6, "ana")],
        "loop": [
            ("Lead", 0, "ana"),
            ("Contact", 0.5, "ana"),
            ("Proposal", 1, "ana"),
            ("Negotiation", 2, "ana"),
            ("Proposal", 3, "ana"),
            ("Negotiation", 5, "ana"),
            ("Discount", 5.5, "boss"),
            ("Legal", 6, "lawyer"),
            ("Won", 7, "ana"),
        ],
        "skip": [("Lead", 0, "ana"), ("Contact", 0.5, "ana"), ("Negotiation", 1, "ana"), ("Won", 2, "ana")],
        "open": [("Lead", 0, "ana"), ("Contact", 0.5, "ana"), ("Proposal", 1, "ana")],
    }
    rows = [
        {"id": c, "act": a, "t": T0 + pd.Timedelta(days=d), "who": w, "segment": c[:2]}
        for c, evs in cases.items()
        for a, d, w in evs
    ]
    return sm.from_dataframe(
        pd.DataFrame(rows), case="id", activity="act", timestamp="t", resource="who", case_attributes=["segment"]
    )


LOG = _log()
RULES = sm.FindingRules(as_of="2024-01-20")


@pytest.fixture(scope="module")
def findings() -> sm.Findings:
    return sm.find_bottlenecks(LOG, MODEL, rules=RULES)


def _frames(f: sm.Findings) -> dict[str, pd.DataFrame]:
    return {"to_frame": f.to_frame(), "evidence": f.evidence, "root_causes": f.root_causes}


def test_findings_tables_are_copies(findings: sm.Findings) -> None:
    before = _frames(findings)
    assert len(before["to_frame"]) and len(before["evidence"])
    tables = _frames(findings)
    tables["to_frame"].loc[:, "cases"] = 999
    tables["evidence"].loc[:, "time_lost_s"] = -1.0
    for table in tables.values():
        table["added"] = 1
    for name, table in _frames(findings).items():
        pd.testing.assert_frame_equal(table, before[name], obj=name)
    assert 999 not in findings.to_frame()["cases"].tolist()
    assert findings.filter(kind="loop").to_frame()["cases"].tolist() == [
        c for k, c in zip(before["to_frame"]["kind"], before["to_frame"]["cases"], strict=True) if k == "loop"
    ]


def test_kpi_tables_and_values_are_copies() -> None:
    k = sm.kpis(LOG, MODEL)
    funnel, tis, values, frame = k.funnel, k.time_in_stage, k.values, k.to_frame()
    handed_out = k.funnel, k.time_in_stage, k.to_frame(), k.values, k.to_dict()
    handed_out[0].loc[:, "reached"] = 999
    handed_out[1].loc[:, "visits"] = 999
    handed_out[2].loc[:, "value"] = 5.0
    handed_out[3]["win_rate"] = 5.0
    handed_out[4]["win_rate"] = 5.0
    pd.testing.assert_frame_equal(k.funnel, funnel)
    pd.testing.assert_frame_equal(k.time_in_stage, tis)
    pd.testing.assert_frame_equal(k.to_frame(), frame)
    assert k.values == values and k.to_dict()["win_rate"] == pytest.approx(3 / 4)  # clean, loop, skip won; slow lost
    assert 999 not in k.funnel["reached"].tolist()


def test_one_line_repr_html_and_json_ready_to_dict(findings: sm.Findings) -> None:
    k = sm.kpis(LOG, MODEL)
    for result in (findings, k):
        assert "\n" not in repr(result)
        assert result._repr_html_().startswith("<div")
        json.dumps(result.to_dict(), allow_nan=False)  # no NaN, no numpy scalars, no tuples left
    d = findings.to_dict()
    assert d["n_cases"] == 5 and len(d["findings"]) == len(findings)
    first = d["findings"][0]
    row = findings.to_frame().iloc[0]
    assert first["kind"] == row["kind"] and first["where"] == row["where"]
    assert first["example_cases"] == list(row["example_cases"])
    assert set(first) == set(findings.to_frame().columns)
    # a KPI that cannot be computed is None in to_dict, NaN in values
    none_closed = sm.kpis(_only_open(), MODEL)
    assert none_closed.to_dict()["win_rate"] is None
    assert none_closed.values["win_rate"] != none_closed.values["win_rate"]


def _only_open() -> sm.EventLog:
    df = LOG.to_frame()
    df = df[df["case:concept:name"] == "open"].drop(columns="source_row")
    return sm.from_dataframe(
        df, case="case:concept:name", activity="concept:name", timestamp="time:timestamp", resource="org:resource"
    )


def _place(f: pd.DataFrame, rule: str, where: str) -> tuple[object, ...]:
    r = f[(f["rule"] == rule) & (f["where"] == where)]
    assert len(r) == 1, (rule, where, f[["rule", "where"]])
    row = r.iloc[0]
    return (row["activity"], row["from_activity"], row["to_activity"], bool(row["stalled"]))


def test_structured_places(findings: sm.Findings) -> None:
    f = findings.to_frame()
    assert list(f.columns[-4:]) == ["activity", "from_activity", "to_activity", "stalled"]
    assert _place(f, "backward_move", "Negotiation → Proposal") == (None, "Negotiation", "Proposal", False)
    assert _place(f, "response_over_sla", "Lead → Contact") == (None, "Lead", "Contact", False)
    assert _place(f, "skip", "Proposal") == ("Proposal", None, None, False)
    assert _place(f, "stalled_open", "Proposal (open, stalled)") == ("Proposal", None, None, True)
    assert _place(f, "sequential_chain", "Discount → Legal") == (None, "Discount", "Legal", False)
    # the evidence carries the same places, row by row
    ev = findings.evidence
    chain = ev[ev["rule"] == "sequential_chain"]
    assert chain[["from_activity", "to_activity", "case_id"]].values.tolist() == [["Discount", "Legal", "loop"]]
    assert set(ev.columns) >= {"activity", "from_activity", "to_activity", "stalled"}
    assert (
        ev.loc[ev["rule"] == "stalled_open", "stalled"].all()
        and not ev.loc[ev["rule"] != "stalled_open", "stalled"].any()
    )


def test_handoff_before_the_first_stage_has_no_from_activity() -> None:
    model = sm.StageModel(["Lead", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]})
    rows = []
    for i in range(12):
        moved = i < 3  # three handoffs to bob, all slow: a pattern to judge
        who = "bob" if moved else "ana"
        rows += [
            (f"c{i}", "Intro", 0, "ana"),
            (f"c{i}", "Lead", 20 + 5 * i if moved else 0.1 + i / 100, who),
        ]
        rows += [(f"c{i}", "Offer", 31, who), (f"c{i}", "Won", 32, who)]
    df = pd.DataFrame([{"id": c, "act": a, "t": T0 + pd.Timedelta(days=d), "who": w} for c, a, d, w in rows])
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t", resource="who")
    f = sm.find_bottlenecks(log, model, kinds=["handoff_delay"], rules=sm.FindingRules(min_reference=3)).to_frame()
    assert _place(f, "handoff_wait", "(before first stage) → Lead") == (None, None, "Lead", False)


def test_filter_by_stage_uses_the_places(findings: sm.Findings) -> None:
    f = findings.filter(stage="Negotiation").to_frame()
    # at Negotiation, on a step into or out of it, or at one of its approvals
    keep = (
        f["activity"].isin(["Negotiation", "Discount", "Legal"])
        | (f["from_activity"] == "Negotiation")
        | (f["to_activity"] == "Negotiation")
    )
    assert len(f) and keep.all()
    assert "Negotiation → Proposal" in set(f["where"]) and "Discount → Legal" not in set(f["where"])
    everything = findings.to_frame()
    assert len(f) == int(
        (
            everything["activity"].isin(["Negotiation", "Discount", "Legal"])
            | (everything["from_activity"] == "Negotiation")
            | (everything["to_activity"] == "Negotiation")
        ).sum()
    )


def test_errors_are_salesmining_errors(findings: sm.Findings) -> None:
    with pytest.raises(StageModelTypeError):
        sm.find_bottlenecks(LOG, 42)
    with pytest.raises(StageModelTypeError):
        sm.kpis(LOG, 42)
    with pytest.raises(TypeError):  # still a TypeError for callers that expect one
        sm.kpis(LOG, 42)
    for call in (
        lambda: sm.find_bottlenecks(LOG, MODEL, kinds=["bottleneck"]),
        lambda: findings.filter(kind="bottleneck"),
        lambda: findings.filter(min_severity="urgent"),
    ):
        with pytest.raises(OptionError):
            call()
        with pytest.raises(ValueError):
            call()


def test_vocabulary_lives_in_core_and_is_the_public_one() -> None:
    from salesmining.core import vocabulary
    from salesmining.findings import detect

    assert sm.FINDING_KINDS is vocabulary.FINDING_KINDS is detect.FINDING_KINDS
    assert sm.FINDING_RULES is vocabulary.FINDING_RULES is detect.FINDING_RULES
    assert detect.PROCESS_LEVEL_RULES is vocabulary.PROCESS_LEVEL_RULES
    assert {r for rs in vocabulary.FINDING_RULES.values() for r in rs} >= vocabulary.PROCESS_LEVEL_RULES
