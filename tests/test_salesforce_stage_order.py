"""Without a StageSortOrder, the Salesforce reader orders stages by their default Probability."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import salesmining as sm

REAL = Path(
    os.environ.get("SALESMINING_REAL_LOGS", Path(__file__).resolve().parents[1].parent / "shared" / "real_logs")
)

# (stage, default probability) of Salesforce's standard sales process
PROCESS = [("Prospecting", 10), ("Qualification", 10), ("Needs Analysis", 20), ("Value Proposition", 50),
           ("Proposal/Price Quote", 75), ("Negotiation/Review", 90)]  # fmt: skip


def _history() -> pd.DataFrame:
    rows = []
    t0 = pd.Timestamp("2024-03-01T09:00:00Z")
    for i in range(12):
        # each deal passes a stretch of the process; the file lists rows shuffled and by name
        path = PROCESS[i % 3 : i % 3 + 3] + ([("Closed Won", 100)] if i % 2 else [("Closed Lost", 0)])
        for k, (stage, p) in enumerate(path):
            rows.append({"OpportunityId": f"006{i:03d}", "CreatedDate": (t0 + pd.Timedelta(days=i + k)).isoformat(),
                         "StageName": stage, "Probability": p, "Id": f"008{i:03d}{k}"})  # fmt: skip
    return pd.DataFrame(rows).sample(frac=1, random_state=3).sort_values("StageName", kind="stable")


def test_stage_order_follows_probability_when_the_export_has_no_sort_order() -> None:
    log = sm.read_salesforce(_history())
    order = {r["activity"]: r["order"] for r in log.meta["stages"]}
    seen = [s for s, _ in PROCESS if s in order]
    assert [order[s] for s in seen] == sorted(order[s] for s in seen)
    assert order["Prospecting"] == order["Qualification"] < order["Needs Analysis"] < order["Value Proposition"]
    model = sm.StageModel.infer(log)
    assert (
        list(model.stages)[2:]
        == ["Needs Analysis", "Value Proposition", "Proposal/Price Quote"][: len(model.stages) - 2]
    )
    assert any("Probability" in n for n in log.quality.notes)


def test_us_locale_export_gets_the_standard_stage_order() -> None:
    hist, opp = REAL / "salesforce/OpportunityHistory_us_locale.csv", REAL / "salesforce/Opportunity_us_locale.csv"
    if not hist.exists():
        pytest.skip(f"real log salesforce/OpportunityHistory_us_locale.csv not found under {REAL}")
    model = sm.StageModel.infer(sm.read_salesforce(hist, opportunities=opp))
    assert list(model.stages) == [
        "Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
        "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review",
    ]  # fmt: skip
    assert model.won == ("Closed Won",) and model.lost == ("Closed Lost",)
