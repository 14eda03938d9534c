"""Salesforce adapter: real exports (values recomputed here in plain pandas) and hand-worked inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm

REAL_LOGS = Path(
    os.environ.get("SALESMINING_REAL_LOGS", Path(__file__).resolve().parents[1].parent / "shared" / "real_logs")
)
UTC = "UTC"


def real(name: str) -> Path:
    p = REAL_LOGS / "salesforce" / name
    if not p.exists():
        pytest.skip(f"real log salesforce/{name} not found under {REAL_LOGS} (see shared/real_logs/SOURCES.md)")
    return p


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz=UTC)


def expected_stage_events(history: pd.DataFrame, when: pd.Series) -> pd.DataFrame:
    """OpportunityHistory → stage events, the issue's rule written out in plain pandas."""
    h = history.assign(ts=when).sort_values(["OpportunityId", "ts", "Id"], kind="stable")
    prev = h.groupby("OpportunityId")["StageName"].shift()
    return h[prev.isna() | (h["StageName"] != prev)]


def expected_outcomes(opps: pd.DataFrame) -> dict[str, str]:
    closed = opps["IsClosed"].str.lower().isin(["1", "true"])
    won = opps["IsWon"].str.lower().isin(["1", "true"])
    return dict(zip(opps["Id"], np.select([closed & won, closed & ~won], ["won", "lost"], "open"), strict=True))


def per_case(frame: pd.DataFrame, case: str, col: str) -> dict[str, list[object]]:
    return {str(k): list(v) for k, v in frame.groupby(case, sort=True)[col]}


# --- real exports ---------------------------------------------------------------------------------
def test_demo_org_bulk_load_all_same_timestamp() -> None:
    hist_path, opp_path = real("OpportunityHistory_demo_org.csv"), real("Opportunity_demo_org.csv")
    raw = pd.read_csv(hist_path, dtype=str, keep_default_na=False)
    opps = pd.read_csv(opp_path, dtype=str, keep_default_na=False)
    when = pd.to_datetime(raw["CreatedDate"], format="%Y-%m-%d %H:%M:%S", utc=True)
    exp = expected_stage_events(raw, when)

    log = sm.read_salesforce(hist_path, opportunities=opp_path)
    ev = log.to_frame()
    assert raw["CreatedDate"].nunique() == 1  # the export's defining trait: one bulk-load timestamp
    assert log.n_events == len(exp) == 31
    assert log.n_cases == raw["OpportunityId"].nunique() == 31
    assert per_case(ev, "case:concept:name", "concept:name") == per_case(exp, "OpportunityId", "StageName")
    assert (ev["time:timestamp"] == ts("2023-10-28 20:45:25")).all()
    assert (ev["event_type"] == "created").all()
    assert ev["input_row"].tolist() == sorted(ev["input_row"].tolist(), key=lambda r: (raw["OpportunityId"][r], r))

    # every other row only moved CloseDate: counted as not_a_stage_change, nothing silently lost
    rep = log.quality
    assert rep.rows_read == len(raw) + len(opps)
    rej = rep.rejections
    assert rej["reason"].tolist() == ["not_a_stage_change"] * (len(raw) - len(exp))
    assert set(rej["row"]) == set(raw.index) - set(exp.index)

    cases = log.cases.set_index("case:concept:name")
    assert cases["outcome"].to_dict() == expected_outcomes(opps)
    assert cases["outcome"].value_counts().to_dict() == {"won": 18, "open": 13}
    assert not cases["reopened"].any() and not cases["left_censored"].any()
    amounts = opps.set_index("Id")["Amount"].astype(float)
    assert cases["amount"].to_dict() == amounts.to_dict()
    # one user loaded 31 opportunities in the same second: a bulk update
    assert rep.has_warning("bulk_update") and ev["bulk_update"].all()
    assert log.meta["stage_classes"]["Closed Won"] == "won"
    assert log.meta["stages"][0]["stage"] == "Prospecting"  # Opportunity.StageSortOrder


def test_demo_org_close_date_rows_as_field_changes() -> None:
    hist_path = real("OpportunityHistory_demo_org.csv")
    raw = pd.read_csv(hist_path, dtype=str, keep_default_na=False)
    h = raw.sort_values(["OpportunityId", "CreatedDate", "Id"], kind="stable")
    g = h.groupby("OpportunityId")
    moved = h[g["CloseDate"].shift().notna() & (h["CloseDate"] != g["CloseDate"].shift())]
    moved_from = g["CloseDate"].shift()[moved.index]

    log = sm.read_salesforce(hist_path, field_changes=True)
    fc = log.to_frame().query("event_type == 'field_change'")
    assert len(fc) == len(moved) == 31
    assert set(fc["activity" if "activity" in fc else "concept:name"]) == {"CloseDate changed"}
    got = fc.set_index("input_row").sort_index()
    assert got.index.tolist() == sorted(moved.index)
    assert got["to_value"].tolist() == moved.sort_index()["CloseDate"].tolist()
    assert got["from_value"].tolist() == moved_from.sort_index().tolist()
    assert log.quality.rows_rejected == 0
    # ForecastCategory/Probability did not move on those rows, so they add nothing
    assert set(fc["field"]) == {"CloseDate"}


def test_us_locale_unsorted_rows_and_won_lost_flips() -> None:
    hist_path, opp_path = real("OpportunityHistory_us_locale.csv"), real("Opportunity_us_locale.csv")
    raw = pd.read_csv(hist_path, dtype=str, keep_default_na=False)
    opps = pd.read_csv(opp_path, dtype=str, keep_default_na=False)
    when = pd.to_datetime(raw["CreatedDate"], format="%m/%d/%y %I:%M %p", utc=True)
    exp = expected_stage_events(raw, when)
    # the file really is unsorted: some opportunity has a later row before an earlier one
    assert (when.groupby(raw["OpportunityId"]).diff().dt.total_seconds() < 0).any()

    log = sm.read_salesforce(hist_path, opportunities=opp_path)
    ev = log.to_frame()
    assert log.n_events == len(exp) == 48
    assert log.n_cases == 36
    assert per_case(ev, "case:concept:name", "concept:name") == per_case(exp, "OpportunityId", "StageName")
    assert per_case(ev, "case:concept:name", "time:timestamp") == per_case(exp, "OpportunityId", "ts")
    assert log.quality.rows_rejected == 0
    assert log.quality.has_warning("inferred_dayfirst")  # 02/23/26 decides month-first

    cases = log.cases.set_index("case:concept:name")
    assert cases["outcome"].to_dict() == expected_outcomes(opps)
    s = exp.assign(prev=exp.groupby("OpportunityId")["StageName"].shift())
    flips = s[(s["prev"] == "Closed Won") & (s["StageName"] == "Closed Lost")]["OpportunityId"]
    assert len(flips) == 7
    assert sorted(cases.index[cases["outcome_flips"] == 1]) == sorted(flips)
    assert (cases.loc[flips, "outcome"] == "lost").all()
    assert not cases["reopened"].any()  # Won → Lost is a flip, not a reopening
    # rows listed Closed Lost (02:20) before Prospecting (02:15) come out in time order
    assert cases.loc["006bm00000LKg0bAAD", ["first_stage", "last_stage"]].tolist() == ["Prospecting", "Closed Lost"]
    n_bulk = raw.loc[raw["CreatedDate"] == "02/23/26 08:55 PM", "OpportunityId"].nunique()
    assert int(ev["bulk_update"].sum()) == n_bulk == 31


def test_us_locale_dayfirst_decision_is_reused_for_the_opportunity_dates() -> None:
    # Opportunity.CloseDate holds only 02/03/24-style dates that cannot decide the order alone
    log = sm.read_salesforce(real("OpportunityHistory_us_locale.csv"), opportunities=real("Opportunity_us_locale.csv"))
    close = log.cases.set_index("case:concept:name")["close_date"]
    assert close["006bm00000LKJNNAA5"] == ts("2024-02-03")  # month-first, as the history decided


# --- encodings ------------------------------------------------------------------------------------
LATIN1_ROWS = [
    "Id,OpportunityId,CreatedById,CreatedDate,StageName,Amount",
    "h01,o1,u1,2024-01-02 09:00:00,Calificación,1000",
    "h02,o1,u1,2024-01-05 09:00:00,Negociación,1000",
    "h03,o1,u1,2024-01-09 09:00:00,Cerrada ganada,1200",
    "h04,o2,u2,2024-01-03 10:00:00,Calificación,500",
    "h05,o2,u2,2024-01-04 10:00:00,Propuesta económica,500",
    "h06,o2,u2,2024-01-08 10:00:00,Cerrada perdida,500",
]
SPANISH = {"Cerrada ganada": "won", "Cerrada perdida": "lost"}


def test_latin1_export_reads_accented_stages(tmp_path: Path) -> None:
    path = tmp_path / "OpportunityHistory.csv"
    path.write_bytes(("\r\n".join(LATIN1_ROWS) + "\r\n").encode("latin-1"))
    want = ["Calificación", "Negociación", "Cerrada ganada", "Calificación", "Propuesta económica", "Cerrada perdida"]

    log = sm.read_salesforce(path, encoding="latin-1", stage_map=SPANISH)
    assert log.to_frame()["concept:name"].tolist() == want
    assert log.quality.encoding == "latin-1" and not log.quality.has_warning("encoding_fallback")
    assert log.cases["outcome"].tolist() == ["won", "lost"]

    try:
        guessed = sm.read_salesforce(path, stage_map=SPANISH)
    except sm.EncodingError as exc:  # allowed: refuse, naming the encoding to pass
        assert "encoding=" in str(exc)
    else:
        assert guessed.to_frame()["concept:name"].tolist() == want
        assert guessed.quality.has_warning("encoding_fallback")


def test_wrong_encoding_is_an_error_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "OpportunityHistory.csv"
    path.write_bytes(("\n".join(LATIN1_ROWS) + "\n").encode("latin-1"))
    with pytest.raises(sm.EncodingError, match="utf-8"):
        sm.read_salesforce(path, encoding="utf-8")


# --- every related input joined, hand-worked -------------------------------------------------------
O1 = "0065g00000AbCdEAAZ"  # 18-character id; tasks refer to it by its 15-character form
O2 = "0065g00000AbCdFAAZ"


def related_inputs() -> dict[str, object]:
    history = pd.DataFrame(
        [  # deliberately unsorted
            ("h3", O1, "u1", "2024-03-10T10:00:00.000+0000", "Negotiation", "1000", ""),
            ("h1", O1, "u1", "2024-03-01T09:00:00.000+0000", "Prospecting", "800", ""),
            ("h2", O1, "u1", "2024-03-05T09:00:00.000+0000", "Prospecting", "1000", "Prospecting"),
            ("h4", O1, "u1", "2024-03-20T09:00:00.000+0000", "Closed Won", "1000", "Negotiation"),
            ("h5", O1, "u1", "2024-03-25T09:00:00.000+0000", "Negotiation", "1000", "Closed Won"),
            ("h7", O2, "u2", "2024-03-02T12:00:00.000+0000", "Closed Lost", "500", "Qualification"),
            ("h6", O2, "u2", "2024-03-02T12:00:00.000+0000", "Qualification", "500", "Prospecting"),
        ],
        columns=[
            "Id",
            "OpportunityId",
            "CreatedById",
            "CreatedDate",
            "StageName",
            "Amount",
            "FromOpportunityStageName",
        ],
    )
    field_history = pd.DataFrame(
        [
            ("f1", O1, "StageName", "Prospecting", "Negotiation", "2024-03-10T10:00:20Z", "u1"),
            ("f2", O1, "Amount", "800", "1000", "2024-03-05T09:00:00Z", "u1"),
            ("f3", O1, "created", "", "", "2024-03-01T09:00:00Z", "u1"),
            ("f4", "006000000000009AAA", "Amount", "1", "2", "2024-03-05T09:00:00Z", "u1"),
        ],
        columns=["Id", "OpportunityId", "Field", "OldValue", "NewValue", "CreatedDate", "CreatedById"],
    )
    instances = pd.DataFrame(
        [
            ("PI1", O1, "Approved", "2024-03-15T08:00:00Z", "2024-03-16T11:00:00Z", "U1", "U9"),
            ("PI2", O2, "Rejected", "2024-03-02T13:00:00Z", "2024-03-03T09:00:00Z", "U2", "U8"),
            ("PI3", "a0B000000000001AAA", "Approved", "2024-03-02T13:00:00Z", "", "U2", "U8"),
        ],
        columns=["Id", "TargetObjectId", "Status", "CreatedDate", "CompletedDate", "SubmittedById", "LastActorId"],
    )
    steps = pd.DataFrame(
        [
            ("S2", "PI1", "Approved", "U9", "2024-03-16T11:00:00Z"),
            ("S1", "PI1", "Started", "U1", "2024-03-15T08:00:00Z"),
            ("S3", "PI404", "Approved", "U9", "2024-03-16T11:00:00Z"),
        ],
        columns=["Id", "ProcessInstanceId", "StepStatus", "ActorId", "CreatedDate"],
    )
    tasks = pd.DataFrame(
        [
            ("T1", O1[:15], "Call", "Call", "2024-03-06", "", "U1"),
            ("T2", O1, "Email", "Email", "2024-03-30", "2024-03-07T15:30:00.000+0000", "U1"),
            ("T3", "001000000000001AAA", "Call", "Call", "2024-03-06", "", "U1"),
        ],
        columns=["Id", "WhatId", "Subject", "Type", "ActivityDate", "CompletedDateTime", "OwnerId"],
    )
    events = pd.DataFrame(
        [
            ("E1", O2, "Demo", "Meeting", "2024-03-02T14:00:00Z", "2024-03-02T15:00:00Z", "false", "", "U2"),
            ("E2", O2, "Offsite", "", "", "", "true", "2024-03-04", "U2"),
        ],
        columns=[
            "Id",
            "WhatId",
            "Subject",
            "Type",
            "StartDateTime",
            "EndDateTime",
            "IsAllDayEvent",
            "ActivityDate",
            "OwnerId",
        ],
    )
    opportunities = pd.DataFrame(
        [(O1, "Negotiation", "false", "false", "1000", "U1"), (O2, "Closed Lost", "true", "false", "500", "U2")],
        columns=["Id", "StageName", "IsClosed", "IsWon", "Amount", "OwnerId"],
    )
    return {
        "history": history,
        "field_history": field_history,
        "approvals": (instances, steps),
        "tasks": tasks,
        "events": events,
        "opportunities": opportunities,
    }


def test_related_exports_join_into_one_log() -> None:
    inputs = related_inputs()
    before = {k: (v.copy() if isinstance(v, pd.DataFrame) else tuple(x.copy() for x in v)) for k, v in inputs.items()}
    history = inputs.pop("history")
    # timezone applies to zone-less values only: every value here carries a zone, and
    # Task.ActivityDate (a due date at midnight UTC) must not move
    log = sm.read_salesforce(history, stage_map={"Closed Won": "won"}, timezone="Europe/Berlin", **inputs)  # type: ignore[arg-type]

    ev = log.to_frame()
    got = list(
        zip(
            ev["case:concept:name"],
            ev["concept:name"],
            ev["time:timestamp"],
            ev["event_type"],
            ev["org:resource"].fillna(""),
            ev["source_object"],
            ev["input_row"],
            strict=True,
        )
    )
    expected = [
        (O1, "Prospecting", ts("2024-03-01 09:00"), "created", "u1", "OpportunityHistory", 1),
        (O1, "Amount changed", ts("2024-03-05 09:00"), "field_change", "u1", "OpportunityFieldHistory", 1),
        (O1, "Task: Call", ts("2024-03-06 00:00"), "activity", "U1", "Task", 0),
        (O1, "Task: Email", ts("2024-03-07 15:30"), "activity", "U1", "Task", 1),
        (O1, "Negotiation", ts("2024-03-10 10:00"), "stage_change", "u1", "OpportunityHistory", 0),
        (O1, "Approval Submitted", ts("2024-03-15 08:00"), "approval_step", "U1", "ProcessInstanceStep", 1),
        (O1, "Approval Approved", ts("2024-03-16 11:00"), "approval_step", "U9", "ProcessInstanceStep", 0),
        (O1, "Closed Won", ts("2024-03-20 09:00"), "stage_change", "u1", "OpportunityHistory", 3),
        (O1, "Negotiation", ts("2024-03-25 09:00"), "stage_change", "u1", "OpportunityHistory", 4),
        (O2, "Qualification", ts("2024-03-02 12:00"), "stage_change", "u2", "OpportunityHistory", 6),
        (O2, "Closed Lost", ts("2024-03-02 12:00"), "stage_change", "u2", "OpportunityHistory", 5),
        (O2, "Approval Submitted", ts("2024-03-02 13:00"), "approval_step", "U2", "ProcessInstance", 1),
        (O2, "Event: Meeting", ts("2024-03-02 15:00"), "activity", "U2", "Event", 0),
        (O2, "Approval Rejected", ts("2024-03-03 09:00"), "approval_step", "U8", "ProcessInstance", 1),
        (O2, "Event", ts("2024-03-04 00:00"), "activity", "U2", "Event", 1),
    ]
    assert got == expected
    assert ev["source_row"].tolist() == list(range(len(expected)))
    meeting = ev[ev["concept:name"] == "Event: Meeting"].iloc[0]
    assert meeting["start_timestamp"] == ts("2024-03-02 14:00")
    assert ev.loc[ev["concept:name"] == "Negotiation", "from_value"].tolist() == ["Prospecting", "Closed Won"]
    assert ev.loc[ev["concept:name"] == "Qualification", "from_value"].tolist() == ["Prospecting"]

    cases = log.cases.set_index("case:concept:name")
    assert cases.loc[O1, ["outcome", "reopened", "reopen_count", "first_stage", "left_censored"]].tolist() == [
        "open",
        True,
        1,
        "Prospecting",
        False,
    ]
    assert cases.loc[O2, ["outcome", "reopened", "first_stage", "left_censored"]].tolist() == [
        "lost",
        False,
        "Prospecting",
        True,
    ]

    rej = log.quality.rejections
    assert sorted(zip(rej["source"], rej["row"], rej["reason"], strict=True)) == sorted(
        [
            ("OpportunityHistory", 2, "not_a_stage_change"),
            ("OpportunityFieldHistory", 0, "duplicate_event"),
            ("OpportunityFieldHistory", 2, "creation_marker"),
            ("OpportunityFieldHistory", 3, "unmatched_reference"),
            ("ProcessInstanceStep", 2, "unmatched_reference"),
            ("ProcessInstance", 2, "unmatched_reference"),
            ("Task", 2, "unmatched_reference"),
        ]
    )
    q = log.quality
    assert q.rows_read == 7 + 4 + 3 + 3 + 3 + 2 + 2 and q.rows_kept == q.rows_read - 7
    for w in ("reopened_cases", "left_censored", "timestamp_ties", "date_only"):
        assert q.has_warning(w), w
    for k, v in before.items():  # inputs untouched
        now = related_inputs()[k]
        assert v.equals(now) if isinstance(v, pd.DataFrame) else all(a.equals(b) for a, b in zip(v, now, strict=True))


def test_approvals_as_one_prejoined_table_and_as_a_mapping() -> None:
    inp = related_inputs()
    instances, steps = inp["approvals"]  # type: ignore[misc]
    joined = steps.merge(
        instances[["Id", "TargetObjectId"]].rename(columns={"Id": "ProcessInstanceId"}),
        on="ProcessInstanceId",
        how="left",
    )
    joined["ProcessInstance.ProcessDefinition.Name"] = "Discount"
    log = sm.read_salesforce(inp["history"], approvals=joined)  # type: ignore[arg-type]
    appr = log.to_frame().query("event_type == 'approval_step'")
    assert appr["concept:name"].tolist() == ["Approval Submitted (Discount)", "Approval Approved (Discount)"]
    # the step of an unknown instance has no target after the join
    assert log.quality.rejections.query("source == 'ProcessInstanceStep'")["reason"].tolist() == ["missing_case_id"]

    log2 = sm.read_salesforce(
        inp["history"],
        approvals={
            "ProcessInstance": instances,  # type: ignore[arg-type]
            "ProcessInstanceStep": steps,
        },
    )
    assert log2.to_frame().query("event_type == 'approval_step'")["concept:name"].tolist() == [
        "Approval Submitted",
        "Approval Approved",
        "Approval Submitted",
        "Approval Rejected",
    ]


def test_without_outcome_sources_the_forecast_category_decides() -> None:
    h = pd.DataFrame(
        {
            "OpportunityId": ["a", "a", "b", "b"],
            "Id": ["1", "2", "3", "4"],
            "CreatedDate": [
                "2024-01-01 10:00:00Z",
                "2024-01-03 10:00:00Z",
                "2024-01-01 11:00:00Z",
                "2024-01-02 11:00:00Z",
            ],
            "StageName": ["Discovery", "Firmado", "Discovery", "Perdido"],
            "ForecastCategory": ["Pipeline", "Closed", "Pipeline", "Omitted"],
            "Probability": ["10", "100", "10", "0"],
        }
    )
    log = sm.read_salesforce(h)
    assert log.cases["outcome"].tolist() == ["won", "lost"]
    assert any("ForecastCategory" in n for n in log.quality.notes)


def test_data_loader_upper_case_headers_and_bad_rows_are_counted() -> None:
    h = pd.DataFrame(
        {
            "ID": ["1", "2", "3", "4", "5", "5"],
            "OPPORTUNITYID": ["a", "a", "", "b", "b", "b"],
            "STAGENAME": ["Discovery", "Proposal", "Discovery", "Discovery", "", ""],
            "CREATEDDATE": [
                "2024-01-01 10:00:00",
                "garbage",
                "2024-01-01 10:00:00",
                "1900-01-01 00:00:00",
                "2024-01-05 10:00:00",
                "2024-01-05 10:00:00",
            ],
        }
    )
    original = h.copy()
    log = sm.read_salesforce(h, stage_map={"Proposal": "open", "Discovery": "open"})
    assert h.equals(original)
    rej = log.quality.rejections
    assert list(zip(rej["row"], rej["reason"], strict=True)) == [
        (1, "unparsable_timestamp"),
        (2, "missing_case_id"),
        (3, "implausible_timestamp"),
        (4, "missing_activity"),
        (5, "missing_activity"),
    ]
    assert log.to_frame()["concept:name"].tolist() == ["Discovery"]
    assert log.quality.has_warning("assumed_utc")


def test_missing_required_column_names_the_closest() -> None:
    h = pd.DataFrame({"OpportunityId": ["a"], "Stage_Nm": ["x"], "CreatedDate": ["2024-01-01"]})
    with pytest.raises(sm.LogSchemaError, match="StageName"):
        sm.read_salesforce(h)


def test_bad_stage_map_value_is_refused() -> None:
    h = pd.DataFrame({"OpportunityId": ["a"], "StageName": ["x"], "CreatedDate": ["2024-01-01Z"]})
    with pytest.raises(sm.LogSchemaError, match="won"):
        sm.read_salesforce(h, stage_map={"x": "Closed Won"})


def test_task_times_zone_and_bad_values() -> None:
    history = related_inputs()["history"]
    tasks = pd.DataFrame(
        {
            "WhatId": [O1, O1, O1],
            "Type": ["Call", "Call", "Call"],
            "CompletedDateTime": ["2024-03-07 16:30:00", "yesterday", ""],
            "ActivityDate": ["2024-03-30", "2024-03-30", "2024-03-06"],
        }
    )
    log = sm.read_salesforce(history, tasks=tasks, timezone="Europe/Berlin")
    acts = log.to_frame().query("event_type == 'activity'")
    # a naive completion time is local (converted); the due date stays at midnight UTC
    assert acts[["time:timestamp", "time_basis"]].values.tolist() == [
        [ts("2024-03-06 00:00"), "ActivityDate"],
        [ts("2024-03-07 15:30"), "CompletedDateTime"],
    ]
    rej = log.quality.rejections.query("source == 'Task'")
    assert rej[["row", "reason", "value"]].values.tolist() == [[1, "unparsable_timestamp", "yesterday"]]

    utc = sm.read_salesforce(history, tasks=tasks)
    assumed = [w for w in utc.quality.warnings if w.code == "assumed_utc" and w.source == "Task"]
    assert len(assumed) == 1 and assumed[0].rows == (0,)
