"""HubSpot adapter: hand-written API-history and wide-export fixtures, expected logs row by row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import salesmining as sm

FIX = Path(__file__).resolve().parent / "fixtures" / "crm"
HISTORY = FIX / "hubspot_deals_history.json"
PIPELINES = FIX / "hubspot_pipelines.json"
WIDE = FIX / "hubspot_deals_export.csv"
COLS = [
    "case:concept:name",
    "concept:name",
    "time:timestamp",
    "event_type",
    "stage_id",
    "from_value",
    "org:resource",
    "resource_type",
    "input_row",
]


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def rows(log: sm.EventLog, cols: list[str] = COLS) -> list[tuple[object, ...]]:
    ev = log.to_frame()[cols].astype("object")
    return [tuple(None if pd.isna(v) else v for v in r) for r in ev.itertuples(index=False)]


# input_row = position in the flattened version list (deals in file order, versions as listed, newest first)
SALES_EXPECTED = [
    # deal 101 loops Qualified To Buy ⇄ Contract Sent
    ("101", "Appointment Scheduled", ts("2024-04-01 09:00"), "created", "appointmentscheduled", None, "11", "human", 5),
    (
        "101",
        "Qualified To Buy",
        ts("2024-04-03 10:15"),
        "stage_change",
        "qualifiedtobuy",
        "Appointment Scheduled",
        "11",
        "human",
        4,
    ),
    (
        "101",
        "Contract Sent",
        ts("2024-04-10 12:00"),
        "stage_change",
        "contractsent",
        "Qualified To Buy",
        "11",
        "human",
        3,
    ),
    (
        "101",
        "Qualified To Buy",
        ts("2024-04-12 16:30"),
        "stage_change",
        "qualifiedtobuy",
        "Contract Sent",
        "11",
        "human",
        2,
    ),
    (
        "101",
        "Contract Sent",
        ts("2024-04-20 10:00"),
        "stage_change",
        "contractsent",
        "Qualified To Buy",
        "11",
        "human",
        1,
    ),
    ("101", "Closed Won", ts("2024-05-02 14:10"), "stage_change", "closedwon", "Contract Sent", "11", "human", 0),
    # deal 102: imported, lost, reopened (a workflow re-set the same stage: not a change), won
    (
        "102",
        "Appointment Scheduled",
        ts("2024-04-02 08:00"),
        "created",
        "appointmentscheduled",
        None,
        "import:9",
        "system",
        10,
    ),
    (
        "102",
        "Closed Lost",
        ts("2024-04-15 17:45"),
        "stage_change",
        "closedlost",
        "Appointment Scheduled",
        "12",
        "human",
        9,
    ),
    (
        "102",
        "Qualified To Buy",
        ts("2024-04-20 11:00"),
        "stage_change",
        "qualifiedtobuy",
        "Closed Lost",
        "12",
        "human",
        8,
    ),
    ("102", "Closed Won", ts("2024-05-10 09:00"), "stage_change", "closedwon", "Qualified To Buy", "12", "human", 6),
    # deal 103: two versions with the same timestamp; the later-listed one is the older
    (
        "103",
        "Appointment Scheduled",
        ts("2024-04-05 08:00"),
        "created",
        "appointmentscheduled",
        None,
        "13",
        "human",
        12,
    ),
    (
        "103",
        "Qualified To Buy",
        ts("2024-04-05 08:00"),
        "stage_change",
        "qualifiedtobuy",
        "Appointment Scheduled",
        "13",
        "human",
        11,
    ),
    # deal 105: its first version names a stage the definition lacks (rejected), so the history starts late
    ("105", "Qualified To Buy", ts("2024-04-09 10:00"), "stage_change", "qualifiedtobuy", None, "11", "human", 15),
]


def test_api_history_one_pipeline_row_by_row() -> None:
    log = sm.read_hubspot(HISTORY, pipelines=PIPELINES, pipeline="Sales Pipeline")
    assert rows(log) == SALES_EXPECTED
    rej = log.quality.rejections
    assert list(zip(rej["row"], rej["reason"], strict=True)) == [
        (7, "not_a_stage_change"),
        (13, "other_pipeline"),
        (14, "other_pipeline"),
        (16, "unknown_stage"),
    ]
    assert log.quality.rows_read == 17 and log.quality.rows_kept == 13

    cases = log.cases.set_index("case:concept:name")
    assert cases["outcome"].to_dict() == {"101": "won", "102": "won", "103": "open", "105": "open"}
    assert cases["reopened"].to_dict() == {"101": False, "102": True, "103": False, "105": False}
    assert cases["left_censored"].to_dict() == {"101": False, "102": False, "103": False, "105": True}
    assert cases.loc["101", ["name", "amount", "current_stage", "pipeline"]].tolist() == [
        "Loop Co",
        12000.0,
        "Closed Won",
        "Sales Pipeline",
    ]
    for w in ("reopened_cases", "left_censored", "timestamp_ties", "system_user"):
        assert log.quality.has_warning(w), w
    assert not log.meta["loops_unobservable"]
    assert [s["activity"] for s in log.meta["stages"]] == [
        "Appointment Scheduled",
        "Qualified To Buy",
        "Contract Sent",
        "Closed Won",
        "Closed Lost",
    ]


def test_two_pipelines_key_stages_by_pipeline() -> None:
    log = sm.read_hubspot(HISTORY, pipelines=PIPELINES)
    ev = log.to_frame()
    assert ev.loc[ev["case:concept:name"] == "104", "concept:name"].tolist() == [
        "Qualified To Buy (Renewals)",
        "Renewed (Renewals)",
    ]
    # the same label in two pipelines stays two activities
    assert {"Qualified To Buy (Renewals)", "Qualified To Buy (Sales Pipeline)"} <= set(log.activities)
    assert ev.loc[ev["case:concept:name"] == "104", "stage_label"].tolist() == ["Qualified To Buy", "Renewed"]
    assert log.cases.set_index("case:concept:name").loc["104", "outcome"] == "won"
    assert log.meta["stage_classes"]["Renewed (Renewals)"] == "won"
    with pytest.raises(sm.LogSchemaError, match="Renewals"):
        sm.read_hubspot(HISTORY, pipelines=PIPELINES, pipeline="Enterprise")


def test_long_table_gives_the_same_log() -> None:
    """The Fivetran-style long form (deal_id, value, date_entered, source, source_id) built from the same versions."""
    data = json.loads(HISTORY.read_text())
    long = pd.DataFrame(
        [
            {
                "deal_id": d["id"],
                "value": v["value"],
                "date_entered": v["timestamp"],
                "source": v["sourceType"],
                "source_id": str(v.get("updatedByUserId", v.get("sourceId"))),
            }
            for d in data["results"]
            for v in reversed(d["propertiesWithHistory"]["dealstage"])
        ]
    )
    log = sm.read_hubspot(long, pipelines=PIPELINES, pipeline="default", deals=HISTORY)
    got = [r[:8] for r in rows(log)]
    assert got == [r[:8] for r in SALES_EXPECTED]
    # the deal records are a case table: used, or unmatched when their deal has no events in the log
    deal_rej = log.quality.rejections.query("source == 'hubspot_deals_history.json'")
    assert list(zip(deal_rej["row"], deal_rej["reason"], strict=True)) == [(3, "other_pipeline")]
    # without deal records nobody says deal 105 existed before its first known version
    bare = sm.read_hubspot(long, pipelines=PIPELINES, pipeline="default")
    assert bare.to_frame()["event_type"].iloc[-1] == "created"


def test_v1_epoch_milliseconds_and_default_pipeline_ids() -> None:
    deal = {
        "dealId": 555,
        "properties": {
            "dealstage": {
                "value": "closedlost",
                "versions": [
                    {
                        "name": "dealstage",
                        "value": "closedlost",
                        "timestamp": 1714658400000,
                        "source": "CRM_UI",
                        "sourceId": "a@x.io",
                    },
                    {
                        "name": "dealstage",
                        "value": "contractsent",
                        "timestamp": 1713866400000,
                        "source": "CRM_UI",
                        "sourceId": "a@x.io",
                    },
                    {"name": "dealstage", "value": "appointmentscheduled", "timestamp": 1711962000000, "source": "API"},
                ],
            }
        },
    }
    log = sm.read_hubspot({"deals": [deal]})
    assert rows(log, ["concept:name", "time:timestamp", "resource_type"]) == [
        ("Appointment Scheduled", ts("2024-04-01 09:00"), "system"),
        ("Contract Sent", ts("2024-04-23 10:00"), "human"),
        ("Closed Lost", ts("2024-05-02 14:00"), "human"),
    ]
    assert log.cases["outcome"].tolist() == ["lost"]
    assert log.quality.has_warning("epoch_timestamps")


# --- wide export -------------------------------------------------------------------------------------
WIDE_EXPECTED = [  # the export shows portal time (Europe/Berlin, CEST = UTC+2)
    ("201", "Appointment Scheduled", ts("2024-04-01 09:00"), "created", "appointmentscheduled", 0),
    ("201", "Qualified To Buy", ts("2024-04-12 16:30"), "stage_change", "qualifiedtobuy", 0),
    ("201", "Contract Sent", ts("2024-04-20 10:00"), "stage_change", "contractsent", 0),
    ("201", "Closed Won", ts("2024-05-02 14:10"), "stage_change", "closedwon", 0),
    ("202", "Appointment Scheduled", ts("2024-04-02 08:00"), "created", "appointmentscheduled", 1),
    ("202", "Closed Lost", ts("2024-04-15 17:45"), "stage_change", "closedlost", 1),
    ("202", "Qualified To Buy", ts("2024-04-20 11:00"), "stage_change", "qualifiedtobuy", 1),
    ("202", "Closed Won", ts("2024-05-10 09:00"), "stage_change", "closedwon", 1),
    (
        "203",
        "Appointment Scheduled",
        ts("2024-04-05 08:00"),
        "created",
        "appointmentscheduled",
        2,
    ),  # tie: pipeline order
    ("203", "Qualified To Buy", ts("2024-04-05 08:00"), "stage_change", "qualifiedtobuy", 2),
    ("204", "Appointment Scheduled", ts("2024-04-08 07:00"), "created", "appointmentscheduled", 3),
    ("204", "Contract Sent", ts("2024-04-11 13:00"), "stage_change", "contractsent", 3),
]


def test_wide_export_melts_latest_entries_and_says_loops_are_invisible() -> None:
    log = sm.read_hubspot(WIDE, pipelines=PIPELINES, timezone="Europe/Berlin")
    got = rows(log, ["case:concept:name", "concept:name", "time:timestamp", "event_type", "stage_id", "input_row"])
    assert got == WIDE_EXPECTED
    assert log.meta["loops_unobservable"] is True
    assert log.quality.has_warning("loops_unobservable")
    rej = log.quality.rejections
    assert list(zip(rej["row"], rej["reason"], strict=True)) == [(4, "missing_timestamp")]
    dropped = [w for w in log.quality.warnings if w.code == "dropped_values"]
    assert len(dropped) == 1 and dropped[0].count == 1 and dropped[0].rows == (3,)

    cases = log.cases.set_index("case:concept:name")
    # deal 201 went back to Qualified To Buy and Contract Sent: only the time-in columns betray it
    assert cases["hidden_reentries"].to_dict() == {"201": 2, "202": 0, "203": 0, "204": 0}
    assert cases["reopened"].to_dict() == {"201": False, "202": True, "203": False, "204": False}
    assert cases["outcome"].to_dict() == {"201": "won", "202": "won", "203": "open", "204": "open"}
    assert cases.loc["201", "created_at"] == ts("2024-04-01 09:00")


def test_wide_export_without_a_definition_does_not_guess_outcomes_from_labels() -> None:
    df = pd.read_csv(WIDE, dtype=str, keep_default_na=False).drop(columns=["Is Closed Won"])
    log = sm.read_hubspot(df, timezone="Europe/Berlin")
    ev = log.to_frame()
    assert ev["concept:name"].tolist() == [r[1] for r in WIDE_EXPECTED]
    assert ev["stage_id"].isna().all()  # labels only: ids unknown without the pipeline definition
    assert log.cases["outcome"].isna().all()  # "Closed Won" is just a label here


def test_wide_internal_names_prefer_v2_over_legacy_columns() -> None:
    df = pd.DataFrame(
        {
            "hs_object_id": ["9"],
            "dealstage": ["contractsent"],
            "pipeline": ["default"],
            "hs_date_entered_appointmentscheduled": ["1711962000000"],
            "hs_v2_date_entered_appointmentscheduled": ["2024-04-01T09:00:00Z"],
            "hs_v2_date_entered_contractsent": ["2024-04-03T09:00:00Z"],
            "hs_v2_date_entered_current_stage": ["2024-04-03T09:00:00Z"],
        }
    )
    log = sm.read_hubspot(df, pipelines=PIPELINES)
    assert rows(log, ["concept:name", "time:timestamp", "pipeline"]) == [
        ("Appointment Scheduled", ts("2024-04-01 09:00"), "Sales Pipeline"),
        ("Contract Sent", ts("2024-04-03 09:00"), "Sales Pipeline"),
    ]
    assert log.cases["outcome"].tolist() == ["open"]
    assert not log.quality.has_warning("epoch_timestamps")  # the legacy column was not read


def test_pipeline_as_a_dict_and_a_stage_map_override() -> None:
    pipes = {
        "s1": {"label": "Discovery", "outcome": "open", "pipeline": "EMEA", "order": 0},
        "s2": {"label": "Signed", "outcome": "won", "pipeline": "EMEA", "order": 1},
        "s3": {"label": "No decision", "pipeline": "EMEA", "order": 2},
    }
    long = pd.DataFrame(
        {
            "deal_id": ["1", "1", "1", "2", "2"],
            "value": ["s1", "s2", "s1", "s1", "s3"],
            "timestamp": ["1711962000000", "1712048400000", "1712134800000", "1711962000000", "1712048400000"],
        }
    )
    log = sm.read_hubspot(long, pipelines=pipes)
    cases = log.cases.set_index("case:concept:name")
    # deal 2 ends in a stage without a class: its outcome is unknown, not the class of an earlier stage
    assert cases.loc["1", "outcome"] == "open" and pd.isna(cases.loc["2", "outcome"])
    assert cases["reopen_count"].to_dict() == {"1": 1, "2": 0}
    relabelled = sm.read_hubspot(long, pipelines=pipes, stage_map={"No decision": "lost"})
    assert relabelled.cases["outcome"].tolist() == ["open", "lost"]
    assert relabelled.meta["stage_classes"] == {"Discovery": "open", "Signed": "won", "No decision": "lost"}
