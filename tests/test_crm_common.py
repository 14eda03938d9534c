"""Rules shared by the CRM readers: bulk updates, system users, public names, row accounting."""

from __future__ import annotations

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
