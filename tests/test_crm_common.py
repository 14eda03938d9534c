"""Rules shared by the CRM readers: bulk updates, system users, public names, row accounting."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
import salesmining.crm


def history(n_cases: int, *, gap_s: float, user: str = "u1", start: str = "2024-05-06 18:00:00") -> pd.DataFrame:
    t0 = pd.Timestamp(start, tz="UTC")
    return pd.DataFrame(
        {
            "record_id": [f"C{i:03d}" for i in range(n_cases)],
            "field": "stage",
            "old_value": "Qualified",
            "new_value": "Proposal",
            "changed_at": [(t0 + pd.Timedelta(seconds=gap_s * i)).isoformat() for i in range(n_cases)],
            "changed_by": user,
        }
    )


def test_bulk_update_burst_is_flagged_and_slow_work_is_not() -> None:
    burst = history(12, gap_s=5)  # one user moves 12 deals within a minute
    slow = history(12, gap_s=600, user="u2", start="2024-05-07 08:00:00")  # every 10 minutes
    log = sm.read_field_history(pd.concat([burst, slow], ignore_index=True))
    ev = log.to_frame()
    flagged = ev.loc[ev["bulk_update"], "org:resource"]
    assert flagged.tolist() == ["u1"] * 12
    w = [w for w in log.quality.warnings if w.code == "bulk_update"]
    assert len(w) == 1 and w[0].count == 12 and "'u1', 12 cases" in w[0].message
    assert w[0].rows == tuple(range(10))

    # thresholds are options
    assert not sm.read_field_history(burst, bulk_min_cases=13).to_frame()["bulk_update"].any()
    assert sm.read_field_history(slow, bulk_window=601).to_frame()["bulk_update"].all()


def test_system_users_are_marked() -> None:
    h = pd.concat([history(2, gap_s=60), history(1, gap_s=60, user="integration@corp")], ignore_index=True)
    h.loc[2, "record_id"] = "C900"
    log = sm.read_field_history(h, system_users=["integration@corp"])
    ev = log.to_frame().set_index("case:concept:name")
    assert ev["resource_type"].to_dict() == {"C000": "human", "C001": "human", "C900": "system"}
    assert log.quality.has_warning("system_user")


def test_public_names() -> None:
    names = ["read_field_history", "read_hubspot", "read_pipedrive", "read_salesforce"]
    assert salesmining.crm.__all__ == names
    for n in names:
        assert getattr(sm, n) is getattr(salesmining.crm, n)
        assert n in sm.__all__
    assert sm.__all__ == sorted(sm.__all__)


def test_every_row_is_an_event_or_a_counted_rejection() -> None:
    h = history(5, gap_s=3600)
    h.loc[1, "changed_at"] = "soon"
    h.loc[2, "record_id"] = ""
    h = pd.concat([h, h.iloc[[3]]], ignore_index=True)  # an exact duplicate row
    log = sm.read_field_history(h)
    q = log.quality
    assert q.rows_read == 6 and q.rows_kept == log.n_events == 3
    assert q.rejections[["row", "reason"]].values.tolist() == [
        [1, "unparsable_timestamp"],
        [2, "missing_case_id"],
        [5, "duplicate_row"],
    ]
    assert sorted(log.to_frame()["input_row"]) == [0, 3, 4]
    assert (q.counts().set_index("reason")["rows"].sum()) == 3


def test_no_event_at_all_says_why() -> None:
    h = history(2, gap_s=1)
    h["changed_at"] = "not a date"
    with pytest.raises(sm.LogSchemaError, match="unparsable_timestamp: 2"):
        sm.read_field_history(h)


# --- no reader changes a caller's frame -----------------------------------------------------------
FIX = Path(__file__).resolve().parent / "fixtures" / "crm"
O1, O2 = "006000000000001AAA", "006000000000002AAA"


def _salesforce_inputs() -> dict[str, Any]:
    history = pd.DataFrame(
        {
            "Id": ["h2", "h1", "h3", "h4", "h5"],
            "OpportunityId": [O1, O1, O1, O2, O2],
            "CreatedById": ["u1", "u1", "u1", "u2", "u2"],
            "CreatedDate": [
                "2024-03-05T09:00:00.000+0000",
                "2024-03-01T09:00:00.000+0000",
                "2024-03-20T09:00:00.000+0000",
                "2024-03-02T12:00:00.000+0000",
                "2024-03-02T12:00:00.000+0000",
            ],
            "StageName": ["Negotiation", "Prospecting", "Closed Won", "Prospecting", "Closed Lost"],
            "Amount": [1000.0, 800.0, 1000.0, np.nan, 500.0],  # numbers, not text: no dtype may change
        }
    )
    field_history = pd.DataFrame(
        {
            "Id": ["f1", "f2"],
            "OpportunityId": [O1, O1],
            "Field": ["Amount", "StageName"],
            "OldValue": ["800", "Prospecting"],
            "NewValue": ["1000", "Negotiation"],
            "CreatedDate": ["2024-03-05T09:00:00Z", "2024-03-05T09:00:10Z"],
            "CreatedById": ["u1", "u1"],
        }
    )
    instances = pd.DataFrame(
        {
            "Id": ["PI1"],
            "TargetObjectId": [O1],
            "Status": ["Approved"],
            "CreatedDate": ["2024-03-15T08:00:00Z"],
            "CompletedDate": ["2024-03-16T11:00:00Z"],
        }
    )
    steps = pd.DataFrame(
        {
            "Id": ["S1", "S2"],
            "ProcessInstanceId": ["PI1", "PI1"],
            "StepStatus": ["Started", "Approved"],
            "ActorId": ["U1", "U9"],
            "CreatedDate": ["2024-03-15T08:00:00Z", "2024-03-16T11:00:00Z"],
        }
    )
    tasks = pd.DataFrame(
        {
            "Id": ["T1", "T2"],
            "WhatId": [O1[:15], O2],
            "Subject": ["Call", "Email"],
            "ActivityDate": ["2024-03-06", "2024-03-03"],
            "CompletedDateTime": ["", "2024-03-03T15:30:00.000+0000"],
            "OwnerId": ["U1", "U2"],
        }
    )
    events = pd.DataFrame(
        {
            "Id": ["E1"],
            "WhatId": [O2],
            "Subject": ["Demo"],
            "StartDateTime": ["2024-03-02T14:00:00Z"],
            "EndDateTime": ["2024-03-02T15:00:00Z"],
            "OwnerId": ["U2"],
        }
    )
    opportunities = pd.DataFrame(
        {
            "Id": [O1, O2],
            "StageName": ["Closed Won", "Closed Lost"],
            "IsClosed": [True, True],
            "IsWon": [True, False],
            "Amount": [1000, 500],
        }
    )
    return {
        "history": history,
        "field_history": field_history,
        "approvals": (instances, steps),
        "tasks": tasks,
        "events": events,
        "opportunities": opportunities,
    }


def _hubspot_long() -> pd.DataFrame:
    data = json.loads((FIX / "hubspot_deals_history.json").read_text())
    return pd.DataFrame(
        [
            {
                "deal_id": int(d["id"]),
                "value": v["value"],
                "date_entered": v["timestamp"],
                "source": v["sourceType"],
            }
            for d in data["results"]
            for v in d["propertiesWithHistory"]["dealstage"]
        ]
    )


def _pipedrive_flat() -> pd.DataFrame:
    flow = json.loads((FIX / "pipedrive_flow.json").read_text())
    items = [it for resp in flow for it in resp["data"] if it["object"] == "dealChange"]
    return pd.DataFrame([{k: v for k, v in it["data"].items() if k != "additional_data"} for it in items])


def _reads() -> list[tuple[str, Callable[[dict[str, Any]], sm.EventLog], dict[str, Any]]]:
    plain = pd.DataFrame(
        {
            "deal": ["D1", "D1", "D2", "D2", None, "D2"],
            "stage": ["Lead", " Won ", "Lead", "Lead", "Lead", "Lost"],
            "at": ["2024-01-02", "2024-01-05", "2024-01-03", "2024-01-03", "2024-01-04", "bad"],
            "amount": [1.0, 1.0, 2.5, 2.5, 3.0, np.nan],
            "outcome": ["won", "won", "lost", "lost", None, "lost"],
            "case:region": ["EU", "EU", "US", "US", "US", "US"],
            "segment": ["SMB", "SMB", "ENT", "ENT", "ENT", "ENT"],
        },
        index=[10, 11, 12, 13, 14, 15],  # not a RangeIndex
    )
    fh = pd.read_csv(FIX / "field_history.csv")  # inferred dtypes (audit_id is an integer column)
    cases = pd.DataFrame({"record_id": ["R1", "R2"], "outcome": ["won", "open"], "created_at": ["2024-01-01", None]})
    wide = pd.read_csv(FIX / "hubspot_deals_export.csv")
    return [
        (
            "from_dataframe",
            lambda i: sm.from_dataframe(
                i["df"],
                case="deal",
                activity="stage",
                timestamp="at",
                amount="amount",
                outcome="outcome",
                case_attributes="auto",
            ),
            {"df": plain},
        ),
        ("read_salesforce", lambda i: sm.read_salesforce(i.pop("history"), **i), _salesforce_inputs()),
        (
            "read_salesforce field_changes",
            lambda i: sm.read_salesforce(i.pop("history"), field_changes=True, stage_map={"Closed Won": "won"}, **i),
            _salesforce_inputs(),
        ),
        (
            "read_hubspot long",
            lambda i: sm.read_hubspot(i["h"], pipelines=FIX / "hubspot_pipelines.json"),
            {"h": _hubspot_long()},
        ),
        ("read_hubspot wide", lambda i: sm.read_hubspot(i["h"], timezone="Europe/Berlin"), {"h": wide}),
        (
            "read_pipedrive",
            lambda i: sm.read_pipedrive(i["flow"], stages=FIX / "pipedrive_stages.json", deals=i["deals"]),
            {
                "flow": _pipedrive_flat(),
                "deals": pd.DataFrame({"id": [1, 2], "status": ["won", "open"], "value": [1500, 900]}),
            },
        ),
        (
            "read_field_history",
            lambda i: sm.read_field_history(i["h"], change_id="audit_id", cases=i["cases"], field_changes=True),
            {"h": fh, "cases": cases},
        ),
    ]


def _frames_in(obj: object) -> list[pd.DataFrame]:
    if isinstance(obj, pd.DataFrame):
        return [obj]
    if isinstance(obj, dict):
        return [f for v in obj.values() for f in _frames_in(v)]
    if isinstance(obj, (list, tuple)):
        return [f for v in obj for f in _frames_in(v)]
    return []


@pytest.mark.parametrize(("label", "read", "inputs"), _reads(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_reader_changes_a_callers_frame(
    label: str, read: Callable[[dict[str, Any]], sm.EventLog], inputs: dict[str, Any]
) -> None:
    frames = _frames_in(inputs)
    before = [(f.copy(deep=True), list(f.columns), f.index.copy(), f.dtypes.copy()) for f in frames]
    log = read(dict(inputs))
    assert log.n_events > 0, label  # the read did real work
    for f, (values, columns, index, dtypes) in zip(frames, before, strict=True):
        assert list(f.columns) == columns, label
        assert f.index.equals(index), label
        assert f.dtypes.equals(dtypes), label
        pd.testing.assert_frame_equal(f, values, check_exact=True)
    # and the log does not share memory with the caller's data
    ev = log.to_frame()
    for f in frames:
        for col in set(f.columns) & set(ev.columns):
            assert not np.shares_memory(np.asarray(ev[col].array), np.asarray(f[col].array)), (label, col)


def test_assembly_helpers_return_values_instead_of_changing_their_input() -> None:
    """The helpers behind assemble() (pipeline names, case table, bulk updates, pipeline choice)
    used to write into the frame they were given; they now leave it as it was."""
    from salesmining.ingest.crm import assemble as asm
    from salesmining.ingest.crm.accounting import RowAccount
    from salesmining.ingest.crm.events import Part, make_events

    t0 = pd.Timestamp("2024-05-06 18:00", tz="UTC")
    n = 12
    ev = make_events(
        n,
        case=pd.Series([f"C{i % 6}" for i in range(n)], dtype="str"),
        activity=pd.Series(["Won" if i >= 6 else "Open" for i in range(n)], dtype="str"),
        ts=pd.Series([t0 + pd.Timedelta(seconds=5 * i) for i in range(n)], dtype="datetime64[us, UTC]"),
        input_row=np.arange(n),
        source_object="x",
        event_type="stage_change",
        resource="u1",
        stage_label=pd.Series(["Won" if i >= 6 else "Open" for i in range(n)], dtype="str"),
        pipeline=pd.Series(["A" if i % 2 else "B" for i in range(n)], dtype="str"),
        pipeline_id=pd.Series(["a" if i % 2 else "b" for i in range(n)], dtype="str"),
        state=pd.Series(["won" if i < 6 else "open" if i < 9 else "lost" for i in range(n)], dtype="str"),
    ).assign(_input=0)
    part = Part("x", ev.iloc[0:0], RowAccount(n, "x"))
    is_stage = np.ones(n, dtype=bool)
    before = ev.copy(deep=True)

    named, note = asm._pipeline_activity_names(ev, is_stage)
    assert named is not None and named.iloc[0] == "Open (B)" and "2 pipelines" in note
    cases, reopen = asm._case_table(ev, is_stage, None)
    assert cases["reopen_count"].sum() == int(reopen.sum()) == 3  # C0, C1, C2: won, then open again
    assert cases["outcome_flips"].sum() == 3  # C3, C4, C5: won, then lost
    flags, warnings = asm._bulk_updates(ev, [part], 5, 60.0)
    assert flags.all() and [w.code for w in warnings] == ["bulk_update"]
    kept, dropped, why = asm._select_pipeline(ev, "A")
    assert len(kept) + len(dropped) == n and why is not None and "pipeline='A'" in why
    pd.testing.assert_frame_equal(ev, before, check_exact=True)
