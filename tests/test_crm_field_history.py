"""Generic field-history adapter: hand-written audit table (loop, reopen, ties) and the recipe shapes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import salesmining as sm

FIX = Path(__file__).resolve().parent / "fixtures" / "crm"
HISTORY = FIX / "field_history.csv"
STATUS = {"Open": "open", "Won": "won", "Lost": "lost"}
COLS = [
    "case:concept:name",
    "concept:name",
    "time:timestamp",
    "event_type",
    "from_value",
    "to_value",
    "org:resource",
    "input_row",
]


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def rows(log: sm.EventLog, cols: list[str] = COLS) -> list[tuple[object, ...]]:
    ev = log.to_frame()[cols].astype("object")
    return [tuple(None if pd.isna(v) else v for v in r) for r in ev.itertuples(index=False)]


EXPECTED = [
    # R1: Develop ⇄ Propose loop, then won
    ("R1", "Qualify", ts("2024-01-02 09:00"), "created", None, "Qualify", "u1", 0),
    ("R1", "Develop", ts("2024-01-05 10:00"), "stage_change", "Qualify", "Develop", "u1", 1),
    ("R1", "Propose", ts("2024-01-10 09:30"), "stage_change", "Develop", "Propose", "u1", 3),
    ("R1", "Develop", ts("2024-01-12 14:00"), "stage_change", "Propose", "Develop", "u2", 4),
    ("R1", "Propose", ts("2024-01-15 08:00"), "stage_change", "Develop", "Propose", "u1", 5),
    ("R1", "Won", ts("2024-01-20 17:00"), "status_change", "Open", "Won", "u1", 6),
    # R2: lost, reopened and moved in the same second (audit id 10 before 11), won
    ("R2", "Qualify", ts("2024-01-03 09:00"), "created", None, "Qualify", "u2", 7),
    ("R2", "Lost", ts("2024-01-08 12:00"), "status_change", "Open", "Lost", "u2", 8),
    ("R2", "Reopened", ts("2024-01-09 10:00"), "status_change", "Lost", "Open", "u2", 10),
    ("R2", "Develop", ts("2024-01-09 10:00"), "stage_change", "Qualify", "Develop", "u2", 9),
    ("R2", "Won", ts("2024-01-25 16:00"), "status_change", "Open", "Won", "u2", 11),
    # R3: history starts with a change out of Develop: left-censored
    ("R3", "Propose", ts("2024-01-06 09:00"), "stage_change", "Develop", "Propose", "u3", 12),
    # R4: two changes in the same second, in audit-id order although the file lists them the other way
    ("R4", "Qualify", ts("2024-01-04 09:00"), "created", None, "Qualify", "u1", 14),
    ("R4", "Develop", ts("2024-01-11 10:00"), "stage_change", "Qualify", "Develop", "u1", 16),
    ("R4", "Propose", ts("2024-01-11 10:00"), "stage_change", "Develop", "Propose", "u1", 15),
]


def test_audit_table_row_by_row() -> None:
    raw = pd.read_csv(HISTORY, dtype=str, keep_default_na=False)
    log = sm.read_field_history(
        HISTORY, change_id="audit_id", status_field="statecode", status_map=STATUS, source_system="dynamics365"
    )
    assert rows(log) == EXPECTED
    rej = log.quality.rejections
    assert list(zip(rej["row"], rej["reason"], strict=True)) == [
        (2, "not_a_stage_change"),  # estimatedvalue: another field, not asked for
        (13, "not_a_stage_change"),  # Propose → Propose
        (17, "missing_activity"),  # empty new stage
    ]
    assert log.quality.rows_read == len(raw) == log.quality.rows_kept + 3
    cases = log.cases.set_index("case:concept:name")
    # R3 and R4 never changed status and no stage_map says which stages are closed: unknown
    assert cases.loc[["R1", "R2"], "outcome"].tolist() == ["won", "won"]
    assert cases.loc[["R3", "R4"], "outcome"].isna().all()
    assert cases["reopen_count"].to_dict() == {"R1": 0, "R2": 1, "R3": 0, "R4": 0}
    assert cases["first_stage"].to_dict() == {"R1": "Qualify", "R2": "Qualify", "R3": "Develop", "R4": "Qualify"}
    assert cases["left_censored"].to_dict() == {"R1": False, "R2": False, "R3": True, "R4": False}
    assert log.meta["source_system"] == "dynamics365"
    for w in ("reopened_cases", "left_censored", "timestamp_ties"):
        assert log.quality.has_warning(w), w


def test_other_fields_as_field_changes_and_a_case_table() -> None:
    cases_in = pd.DataFrame(
        {
            "record_id": ["R1", "R3", "R4", "R7"],
            "outcome": ["won", "open", "lost", "open"],
            "segment": ["SMB", "ENT", "ENT", "SMB"],
        }
    )
    log = sm.read_field_history(
        HISTORY, change_id="audit_id", status_field="statecode", status_map=STATUS, field_changes=True, cases=cases_in
    )
    ev = log.to_frame()
    fc = ev[ev["event_type"] == "field_change"]
    assert rows(log.filter(activities=["estimatedvalue changed"]), ["concept:name", "from_value", "to_value"]) == [
        ("estimatedvalue changed", "10000", "12000")
    ]
    assert len(fc) == 1
    cs = log.cases.set_index("case:concept:name")
    assert cs.loc["R4", ["outcome", "segment"]].tolist() == ["lost", "ENT"]
    assert cs.loc["R2", "outcome"] == "won"  # from its status history
    rej = log.quality.rejections
    assert rej.query("source == 'cases'")[["row", "reason"]].values.tolist() == [[3, "unmatched_reference"]]


def test_gap_in_the_history_is_reported() -> None:
    h = pd.DataFrame(
        {
            "record_id": ["A", "A", "A"],
            "field": ["stage"] * 3,
            "old_value": ["", "New", "Proposal"],
            "new_value": ["New", "Qualified", "Negotiation"],
            "changed_at": ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-05T00:00:00Z"],
        }
    )
    log = sm.read_field_history(h)
    assert log.quality.has_warning("history_gaps")
    assert [w.rows for w in log.quality.warnings if w.code == "history_gaps"] == [(2,)]


def test_zoho_stage_history_recipe() -> None:
    """Zoho Stage_History: one row per stage entered (Modified_Time), no field/old-value columns."""
    zoho = pd.DataFrame(
        {
            "deal_id": ["Z1", "Z1", "Z1", "Z2"],
            "Stage": ["Qualification", "Proposal/Price Quote", "Closed Won", "Qualification"],
            "Modified_Time": [
                "2026-09-22T13:00:27-04:00",
                "2026-09-30T16:41:29-04:00",
                "2026-10-02T09:00:00-04:00",
                "2026-09-23T08:00:00-04:00",
            ],
            "Modified_By": ["Rep A", "Rep A", "Rep A", "Rep B"],
        }
    )
    log = sm.read_field_history(
        zoho,
        case="deal_id",
        field=None,
        old_value=None,
        new_value="Stage",
        timestamp="Modified_Time",
        resource="Modified_By",
        stage_map={"Closed Won": "won", "Closed Lost": "lost"},
        source_system="zoho",
    )
    assert rows(log, ["case:concept:name", "concept:name", "time:timestamp", "event_type", "from_value"]) == [
        ("Z1", "Qualification", ts("2026-09-22 17:00:27"), "created", None),
        ("Z1", "Proposal/Price Quote", ts("2026-09-30 20:41:29"), "stage_change", "Qualification"),
        ("Z1", "Closed Won", ts("2026-10-02 13:00"), "stage_change", "Proposal/Price Quote"),
        ("Z2", "Qualification", ts("2026-09-23 12:00"), "created", None),
    ]
    assert log.cases["outcome"].tolist() == ["won", "open"]  # stages the stage_map does not list are open


def test_odoo_recipe_stage_ids_with_labels_and_two_teams() -> None:
    odoo = pd.DataFrame(
        {
            "lead_id": [7, 7, 7, 8, 8],
            "field": ["stage_id", "stage_id", "active", "stage_id", "stage_id"],
            "old": ["1", "2", "True", "1", "2"],
            "new": ["2", "3", "False", "2", "4"],
            "changed_at_utc": [
                "2024-05-01 10:00:00",
                "2024-05-03 10:00:00",
                "2024-05-04 10:00:00",
                "2024-05-02 09:00:00",
                "2024-05-06 12:00:00",
            ],
            "author": ["p1", "p1", "p1", "p2", "p2"],
            "team": ["Direct", "Direct", "Direct", "Partners", "Partners"],
        }
    )
    log = sm.read_field_history(
        odoo,
        case="lead_id",
        old_value="old",
        new_value="new",
        timestamp="changed_at_utc",
        resource="author",
        stage_field="stage_id",
        stage_labels={"1": "New", "2": "Qualified", "3": "Proposition", "4": "Won"},
        stage_map={"Won": "won"},
        status_field="active",
        status_map={"True": "open", "False": "lost"},
        pipeline_column="team",
        timezone="UTC",
    )
    assert rows(log, ["case:concept:name", "concept:name", "stage_id", "stage_label", "event_type"]) == [
        ("7", "Qualified (Direct)", "2", "Qualified", "stage_change"),
        ("7", "Proposition (Direct)", "3", "Proposition", "stage_change"),
        ("7", "Lost", None, None, "status_change"),
        ("8", "Qualified (Partners)", "2", "Qualified", "stage_change"),
        ("8", "Won (Partners)", "4", "Won", "stage_change"),
    ]
    cs = log.cases.set_index("case:concept:name")
    assert cs["outcome"].to_dict() == {"7": "lost", "8": "won"}
    assert cs["first_stage"].to_dict() == {"7": "New", "8": "New"}  # created before the tracked changes
    assert not log.quality.has_warning("assumed_utc")

    direct = sm.read_field_history(
        odoo,
        case="lead_id",
        old_value="old",
        new_value="new",
        timestamp="changed_at_utc",
        resource="author",
        stage_field="stage_id",
        stage_labels={"1": "New", "2": "Qualified", "3": "Proposition", "4": "Won"},
        pipeline_column="team",
        pipeline="Direct",
        timezone="UTC",
    )
    assert direct.to_frame()["concept:name"].tolist() == ["Qualified", "Proposition"]
    assert direct.quality.rejections["reason"].value_counts().to_dict() == {
        "other_pipeline": 2,
        "not_a_stage_change": 1,
    }


def test_unknown_stage_field_lists_the_fields_present() -> None:
    with pytest.raises(sm.LogSchemaError, match="statecode"):
        sm.read_field_history(HISTORY, stage_field="StageName")
    with pytest.raises(sm.LogSchemaError, match="changed_on"):
        sm.read_field_history(HISTORY, timestamp="changed_on")
