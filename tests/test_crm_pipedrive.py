"""Pipedrive adapter: a hand-written deal flow (loop, reopen, tie) and the history-less Deals export."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import salesmining as sm

FIX = Path(__file__).resolve().parent / "fixtures" / "crm"
FLOW = FIX / "pipedrive_flow.json"
STAGES = FIX / "pipedrive_stages.json"
COLS = [
    "case:concept:name",
    "concept:name",
    "time:timestamp",
    "event_type",
    "stage_id",
    "from_value",
    "to_value",
    "org:resource",
    "resource_type",
    "bulk_update",
    "input_row",
]


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def rows(log: sm.EventLog, cols: list[str] = COLS) -> list[tuple[object, ...]]:
    ev = log.to_frame()[cols].astype("object")
    return [tuple(None if pd.isna(v) else v for v in r) for r in ev.itertuples(index=False)]


# input_row: position in the flattened flow (deal responses in file order, items newest first)
FLOW_EXPECTED = [
    # deal 1: created in Qualified, loops Contact Made ⇄ Proposal Made, won
    ("1", "Qualified", ts("2024-03-01 09:00"), "created", "1", None, "Qualified", "7", "human", False, 8),
    (
        "1",
        "Contact Made",
        ts("2024-03-05 09:00"),
        "stage_change",
        "2",
        "Qualified",
        "Contact Made",
        "7",
        "human",
        False,
        7,
    ),
    ("1", "Activity: call", ts("2024-03-06 15:00"), "activity", None, None, None, "7", None, False, 5),
    (
        "1",
        "Proposal Made",
        ts("2024-03-08 11:00"),
        "stage_change",
        "3",
        "Contact Made",
        "Proposal Made",
        "7",
        "human",
        False,
        4,
    ),
    (
        "1",
        "Contact Made",
        ts("2024-03-10 14:00"),
        "stage_change",
        "2",
        "Proposal Made",
        "Contact Made",
        "7",
        "human",
        False,
        2,
    ),
    (
        "1",
        "Proposal Made",
        ts("2024-03-12 09:30"),
        "stage_change",
        "3",
        "Contact Made",
        "Proposal Made",
        "7",
        "human",
        False,
        1,
    ),
    ("1", "Won", ts("2024-03-15 10:00"), "status_change", None, "open", "won", "7", "human", False, 0),
    # deal 2: lost by an API bulk update, reopened and moved in the same second (change id orders), won
    ("2", "Qualified", ts("2024-03-02 10:00"), "created", "1", None, "Qualified", "8", "human", False, 14),
    (
        "2",
        "Contact Made",
        ts("2024-03-04 13:00"),
        "stage_change",
        "2",
        "Qualified",
        "Contact Made",
        "8",
        "human",
        False,
        13,
    ),
    ("2", "Lost", ts("2024-03-09 18:00"), "status_change", None, "open", "lost", "99", "system", True, 12),
    ("2", "Reopened", ts("2024-03-11 10:00"), "status_change", None, "lost", "open", "8", "human", False, 11),
    (
        "2",
        "Proposal Made",
        ts("2024-03-11 10:00"),
        "stage_change",
        "3",
        "Contact Made",
        "Proposal Made",
        "8",
        "human",
        False,
        10,
    ),
    ("2", "Won", ts("2024-03-20 16:00"), "status_change", None, "open", "won", "8", "human", False, 9),
    # deal 3: created and moved at the same timestamp
    ("3", "Qualified", ts("2024-03-03 10:00"), "created", "1", None, "Qualified", "7", "human", False, 16),
    (
        "3",
        "Contact Made",
        ts("2024-03-03 10:00"),
        "stage_change",
        "2",
        "Qualified",
        "Contact Made",
        "7",
        "human",
        False,
        15,
    ),
    # deal 4: the flow starts with a move, so its history starts late (in Proposal Made)
    (
        "4",
        "Negotiations Started",
        ts("2024-03-16 12:00"),
        "stage_change",
        "4",
        "Proposal Made",
        "Negotiations Started",
        "8",
        "human",
        False,
        18,
    ),
    ("4", "Note", ts("2024-03-18 08:00"), "activity", None, None, None, "8", None, False, 17),
]


def test_flow_row_by_row() -> None:
    log = sm.read_pipedrive(FLOW, stages=STAGES)
    assert rows(log) == FLOW_EXPECTED
    rej = log.quality.rejections
    assert list(zip(rej["row"], rej["reason"], rej["value"], strict=True)) == [
        (3, "out_of_scope", "file"),
        (6, "not_a_stage_change", "value"),
    ]
    assert log.quality.rows_read == 19 and log.quality.rows_kept == 17

    cases = log.cases.set_index("case:concept:name")
    assert cases["outcome"].to_dict() == {"1": "won", "2": "won", "3": "open", "4": "open"}
    assert cases["reopen_count"].to_dict() == {"1": 0, "2": 1, "3": 0, "4": 0}
    assert cases["first_stage"].to_dict() == {
        "1": "Qualified",
        "2": "Qualified",
        "3": "Qualified",
        "4": "Proposal Made",
    }
    assert cases["left_censored"].to_dict() == {"1": False, "2": False, "3": False, "4": True}
    q = log.quality
    for w in ("reopened_cases", "left_censored", "timestamp_ties", "bulk_update", "system_user"):
        assert q.has_warning(w), w
    assert log.meta["stages"][0] == {
        "pipeline": "Sales",
        "stage_id": "1",
        "stage": "Qualified",
        "activity": "Qualified",
        "order": 1,
        "outcome": None,
    }


def test_flow_other_fields_become_field_changes_on_request() -> None:
    log = sm.read_pipedrive(FLOW, stages=STAGES, field_changes=True)
    fc = rows(log, ["case:concept:name", "concept:name", "time:timestamp", "field", "from_value", "to_value"])
    assert ("1", "value changed", ts("2024-03-06 12:00"), "value", "1000", "1500") in fc
    assert log.quality.rejections["reason"].tolist() == ["out_of_scope"]


def test_flow_as_flat_table_with_deals() -> None:
    """singer/Fivetran 'dealflow' rows (dealChange data only) plus the deals list for the case table."""
    items = [it for resp in json.loads(FLOW.read_text()) for it in resp["data"] if it["object"] == "dealChange"]
    flat = pd.DataFrame([{k: v for k, v in it["data"].items() if k != "additional_data"} for it in items])
    deals = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "title": ["A", "B", "C", "D", "E"],
            "status": ["won", "won", "open", "lost", "open"],
            "stage_id": [3, 3, 2, 4, 1],
            "value": [1500, 900, 300, 50, 10],
            "add_time": [
                "2024-03-01 09:00:00",
                "2024-03-02 10:00:00",
                "2024-03-03 10:00:00",
                "2024-02-20 10:00:00",
                "2024-03-01 00:00:00",
            ],
        }
    )
    before = flat.copy()
    log = sm.read_pipedrive(flat, stages=STAGES, deals=deals)
    assert flat.equals(before)
    ev = log.to_frame()
    expected_changes = [r for r in FLOW_EXPECTED if r[3] != "activity"]
    assert [tuple(r[:8]) for r in rows(log, COLS[:8])] == [r[:8] for r in expected_changes]
    cases = log.cases.set_index("case:concept:name")
    assert cases["outcome"].to_dict() == {"1": "won", "2": "won", "3": "open", "4": "lost"}  # deals status wins
    assert cases.loc["4", "left_censored"] and cases.loc["4", "created_at"] == ts("2024-02-20 10:00")
    assert cases["amount"].to_dict() == {"1": 1500.0, "2": 900.0, "3": 300.0, "4": 50.0}
    # deal 5 has no flow: its deals row is counted as unmatched, not dropped silently
    rej = log.quality.rejections
    assert rej.query("source == 'deals'")[["row", "reason"]].values.tolist() == [[4, "unmatched_reference"]]
    assert set(ev["case:concept:name"]) == {"1", "2", "3", "4"}


def test_deals_export_without_history() -> None:
    csv = (
        b"Deal - ID,Deal - Title,Deal - Value,Deal - Currency,Deal - Pipeline,Deal - Stage,Deal - Status,Deal - Owner,"
        b"Deal - Deal created,Deal - Last stage change,Deal - Won time,Deal - Lost time,Deal - Lost reason\n"
        b"101,Acme,12000,EUR,Sales,Negotiations Started,Won,Rep A,2024-03-01 09:12:44,2024-04-02 15:00:10,"
        b"2024-04-10 11:20:00,,\n"
        b"102,Globex,5000,EUR,Sales,Proposal Made,Lost,Rep B,2024-03-05 10:00:00,2024-03-20 08:30:00,,"
        b"2024-03-28 16:45:00,Price\n"
        b"103,Initech,800,EUR,Sales,Qualified,Open,Rep A,2024-03-07 10:00:00,,,,\n"
        b"104,Hooli,,EUR,Sales,,Open,Rep B,,,,,\n"
    )
    log = sm.read_pipedrive(csv, stages=STAGES)
    assert rows(log, ["case:concept:name", "concept:name", "time:timestamp", "event_type", "stage_id"]) == [
        ("101", "Negotiations Started", ts("2024-04-02 15:00:10"), "stage_change", "4"),
        ("101", "Won", ts("2024-04-10 11:20"), "status_change", None),
        ("102", "Proposal Made", ts("2024-03-20 08:30"), "stage_change", "3"),
        ("102", "Lost", ts("2024-03-28 16:45"), "status_change", None),
        ("103", "Qualified", ts("2024-03-07 10:00"), "created", "1"),  # no stage change since creation
    ]
    assert log.meta["history_absent"] is True and log.quality.has_warning("history_absent")
    cases = log.cases.set_index("case:concept:name")
    assert cases["outcome"].to_dict() == {"101": "won", "102": "lost", "103": "open"}
    assert cases["left_censored"].to_dict() == {"101": True, "102": True, "103": False}
    assert cases.loc["102", "lost_reason"] == "Price"
    rej = log.quality.rejections
    assert list(zip(rej["row"], rej["reason"], strict=True)) == [(3, "missing_timestamp")]


def test_flow_keyed_by_deal_id_and_as_bytes() -> None:
    responses = json.loads(FLOW.read_text())
    for resp in responses:  # drop the deal ids from dealChange items: the mapping key must supply them
        for it in resp["data"]:
            it["data"].pop("item_id", None)
            it["data"].pop("deal_id", None)
    keyed = {str(i + 1): resp for i, resp in enumerate(responses)}
    log = sm.read_pipedrive(keyed, stages=STAGES)
    assert rows(log) == FLOW_EXPECTED
    same = sm.read_pipedrive(json.dumps(keyed).encode(), stages=STAGES)
    assert rows(same) == FLOW_EXPECTED
