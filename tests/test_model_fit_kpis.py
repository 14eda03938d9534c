"""Issue 14, items 6, 7 and 9: model fit first, honest KPIs, root causes a client can read.

Every expectation is recounted independently (pandas on the raw frame / export, the sample
generator's stage model as ground truth)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.cli import main
from salesmining.core.errors import OptionError
from salesmining.findings.root_causes import root_causes

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_LOGS = ROOT / "sample_logs"
REAL_LOGS = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))


def real_log(relative: str) -> Path:
    p = REAL_LOGS / relative
    if not p.exists():
        pytest.skip(f"real log {relative} not found under {REAL_LOGS} (see shared/real_logs/SOURCES.md)")
    return p


DAY = pd.Timedelta("1D")
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def frame(paths: dict[str, str], **attrs: dict[str, object]) -> pd.DataFrame:
    rows = []
    for i, (c, p) in enumerate(paths.items()):
        for j, a in enumerate(p.split(",")):
            rows.append({"case": c, "act": a, "ts": T0 + i * DAY + j * pd.Timedelta("3h")})
    df = pd.DataFrame(rows)
    for name, values in attrs.items():
        df[name] = df["case"].map(values)
    return df


def log_of(df: pd.DataFrame, **kw: object) -> sm.EventLog:
    return sm.from_dataframe(df, case="case", activity="act", timestamp="ts", **kw)  # type: ignore[arg-type]


# --- model fit -------------------------------------------------------------------------------
PATHS = {
    "1": "Lead,Contact,Offer,Won",
    "2": "Lead,Contact,Offer,Lost",
    "3": "Lead,Contact,Call,Offer,Won",
    "4": "Lead,Offer,Lost",
    "5": "Lead,Contact",
}


def test_fit_of_the_right_model_is_good_and_recounts() -> None:
    df = frame(PATHS)
    model = sm.StageModel(["Lead", "Contact", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]}, anywhere=["Call"])
    conf = sm.conform(log_of(df), model)
    fit = conf.fit
    assert fit.verdict == "good" and fit.warnings == ()
    assert fit.events == len(df) and fit.events_outside == 0
    assert fit.cases_closed == df.groupby("case")["act"].last().isin(["Won", "Lost"]).sum() == 4
    assert fit.fitting_share == conf.fitting_share
    assert "model fit good" in repr(conf)


def test_a_model_for_another_process_is_poor_with_a_warning_that_says_what_to_do() -> None:
    df = frame(PATHS)
    other = sm.StageModel(
        ["Lead", "Invoice", "Payment", "Dunning"], outcomes={"won": ["Paid"], "lost": ["Written off"]}
    )
    conf = sm.conform(log_of(df), other)
    fit = conf.fit
    known = {"Lead", "Invoice", "Payment", "Dunning", "Paid", "Written off"}
    assert fit.events_outside == int((~df["act"].isin(known)).sum())
    assert fit.share_outside == pytest.approx((~df["act"].isin(known)).mean())
    assert fit.stages_never_seen == ("Invoice", "Payment", "Dunning")
    assert fit.outcomes_never_seen == ("Paid", "Written off")
    assert fit.cases_touching == df.loc[df["act"].isin(known), "case"].nunique() == 5
    assert fit.verdict == "poor"
    assert any(w.startswith("3 of 4 stages never occur") and "model for this process" in w for w in fit.warnings)
    assert "model fit poor" in repr(conf) and "\n" not in repr(conf)
    d = fit.to_dict()
    assert d["verdict"] == "poor" and d["warnings"] == list(fit.warnings)
    # the report says it at the top, before any finding
    html = sm.diagnose(log_of(df), other).html()
    top = html.index("Model fit: poor")
    assert top < html.index('id="findings"')
    assert "3 of 4 stages never occur in the log" in html


def test_fit_limits_are_the_documented_ones() -> None:
    from salesmining.analysis.fit import ModelFit

    doc = (Path(__file__).resolve().parents[1] / "docs" / "findings.md").read_text(encoding="utf-8")
    for name in ("POOR_OUTSIDE", "POOR_NEVER_SEEN", "POOR_TOUCHING", "POOR_FITNESS", "FAIR_OUTSIDE", "FAIR_FITTING"):
        assert f"`{name}` = {getattr(ModelFit, name)}" in doc


# --- StageModel.infer ------------------------------------------------------------------------
def test_infer_guesses_outcomes_from_names_only_when_exclusive_and_once_per_case() -> None:
    paths = {
        "1": "Open,Quote,Offer Accepted",
        "2": "Open,Quote,Offer Accepted",
        "3": "Open,Quote,Offer Declined",
        "4": "Open,Offer Declined",
        "5": "Open,Quote",
    }
    m = sm.StageModel.infer(log_of(frame(paths)))
    assert (m.won, m.lost) == (("Offer Accepted",), ("Offer Declined",))
    assert m.stages == ("Open", "Quote") and m.inferred
    assert any("activity names" in b for b in m.basis)
    # a "won" word that co-occurs with the lost one in many cases is not an outcome
    paths["6"] = "Open,Offer Accepted,Offer Declined"
    paths["7"] = "Open,Offer Accepted,Offer Declined"
    m2 = sm.StageModel.infer(log_of(frame(paths)), min_share=0.5)
    assert "Offer Accepted" not in m2.won


def test_infer_on_the_sample_log_without_outcomes_recovers_them_from_names() -> None:
    intended = sm.StageModel.from_yaml(SAMPLE_LOGS / "stages.yaml")
    log = sm.read_csv(
        SAMPLE_LOGS / "opportunities.csv", case="Opportunity ID", activity="Activity", timestamp="Timestamp"
    )
    m = sm.StageModel.infer(log)  # no outcome column, no won=/lost=
    assert (m.won, m.lost) == (intended.won, intended.lost)
    assert m.stages == intended.stages
    assert sm.StageModel.from_dict(m.to_dict()) == m and not sm.StageModel.from_dict(m.to_dict()).inferred


def _flag(s: pd.Series) -> pd.Series:
    return s.astype(str).str.strip().str.lower().isin(["true", "1"])


@pytest.mark.real_logs
def test_infer_on_salesforce_uses_the_crm_stage_order_and_flags() -> None:
    hist = real_log("salesforce/OpportunityHistory_demo_org.csv")
    opp = real_log("salesforce/Opportunity_demo_org.csv")
    log = sm.read_salesforce(hist, opportunities=opp)
    m = sm.StageModel.infer(log)
    raw = pd.read_csv(opp)
    flags = raw.assign(closed=_flag(raw["IsClosed"]), won=_flag(raw["IsWon"]))
    won_stages = set(flags.loc[flags["closed"] & flags["won"], "StageName"])
    open_stages = set(flags.loc[~flags["closed"], "StageName"])
    assert set(m.won) == won_stages
    assert set(open_stages) <= set(m.stages)
    assert not set(m.stages) & won_stages
    order = raw.drop_duplicates("StageName").set_index("StageName")["StageSortOrder"]
    assert list(m.stages) == list(order[order.index.isin(open_stages)].sort_values().index)
    assert any("CRM's stage definition" in b for b in m.basis)


@pytest.mark.real_logs
def test_infer_on_salesforce_us_never_makes_an_outcome_a_stage() -> None:
    log = sm.read_salesforce(
        real_log("salesforce/OpportunityHistory_us_locale.csv"),
        opportunities=real_log("salesforce/Opportunity_us_locale.csv"),
    )
    m = sm.StageModel.infer(log)
    raw = pd.read_csv(real_log("salesforce/Opportunity_us_locale.csv"))
    closed, won = _flag(raw["IsClosed"]), _flag(raw["IsWon"])
    assert set(m.won) == set(raw.loc[closed & won, "StageName"])
    assert set(m.lost) == set(raw.loc[closed & ~won, "StageName"])
    assert not (set(m.won) | set(m.lost)) & set(m.stages)
    seen_open = set(log.to_frame()["concept:name"]) - set(m.won) - set(m.lost)
    assert set(m.stages) == seen_open  # no stage order in this export: every open stage seen, none invented


@pytest.mark.real_logs
def test_infer_on_bpic2012_finds_the_offer_outcomes(bpic2012: sm.EventLog) -> None:
    m = sm.StageModel.infer(bpic2012)
    assert m.won == ("A_APPROVED",)
    assert {"A_DECLINED", "A_CANCELLED"} <= set(m.lost)
    assert m.stages[:2] == ("A_SUBMITTED", "A_PARTLYSUBMITTED")
    # independent recount: no case has both the won and a lost activity
    ev = bpic2012.to_frame()
    has = pd.crosstab(ev["case:concept:name"], ev["concept:name"]) > 0
    assert not (has[m.won[0]] & has[list(m.lost)].any(axis=1)).any()
    assert sm.conform(bpic2012, m).fit.verdict in ("good", "fair")


# --- honest KPIs -----------------------------------------------------------------------------
def test_win_rate_is_na_without_a_lost_outcome_and_says_why() -> None:
    log = log_of(frame({"1": "A,B,W", "2": "A,B,W", "3": "A,B"}))
    k = sm.kpis(log, sm.StageModel(["A", "B"], outcomes={"won": ["W"]}))
    assert math.isnan(k.values["win_rate"]) and k.to_dict()["win_rate"] is None
    assert "no lost outcome" in k.notes["win_rate"]
    assert "win rate n/a" in repr(k)
    row = k.to_frame().set_index("kpi").loc["win_rate"]
    assert row["definition"].startswith("won / closed") and "n/a" in row["note"]
    # with a lost outcome it is won / closed
    k2 = sm.kpis(log, sm.StageModel(["A", "B"], outcomes={"won": ["W"], "lost": ["L"]}))
    assert k2.values["win_rate"] == 1.0 and "win_rate" not in k2.notes


def _currency_log() -> tuple[sm.EventLog, pd.DataFrame]:
    paths = {str(i): ("A,B,W" if i % 3 else "A,L") for i in range(12)}
    cur = {str(i): ["MXN", "USD", "COP"][i % 3] for i in range(12)}
    amt = {str(i): 1000.0 * (i + 1) for i in range(12)}
    df = frame(paths, currency=cur, amount=amt)
    log = log_of(df, amount="amount", case_attributes=["currency"])
    return log, df.drop_duplicates("case").assign(won=lambda x: x["case"].map(paths).str.endswith("W"))


MODEL_AB = sm.StageModel(["A", "B"], outcomes={"won": ["W"], "lost": ["L"]})


def test_amounts_are_never_summed_across_currencies() -> None:
    log, cases = _currency_log()
    k = sm.kpis(log, MODEL_AB)
    won = cases[cases["won"]]
    expect = won.groupby("currency")["amount"].agg(["size", "mean", "sum"])
    got = k.amounts.set_index("currency")
    assert list(got.index) == sorted(expect.index)
    assert got["won_with_amount"].tolist() == expect["size"].tolist()
    assert np.allclose(got["avg_deal_size"], expect["mean"]) and np.allclose(got["won_amount_total"], expect["sum"])
    assert math.isnan(k.values["avg_deal_size"]) and math.isnan(k.values["won_amount_total"])
    assert "not added up" in k.notes["avg_deal_size"]
    rates = {"MXN": 0.05, "USD": 1.0, "cop": 0.00025}
    kc = sm.kpis(log, MODEL_AB, currency_rates=rates)
    conv = won["amount"] * won["currency"].map({"MXN": 0.05, "USD": 1.0, "COP": 0.00025})
    assert kc.values["avg_deal_size"] == pytest.approx(conv.mean())
    assert kc.values["won_amount_total"] == pytest.approx(conv.sum())
    with pytest.raises(OptionError, match="no rate for"):
        sm.kpis(log, MODEL_AB, currency_rates={"USD": 1.0})
    html = sm.diagnose(log, MODEL_AB).html()
    assert "Won amounts per currency" in html


def test_lead_response_only_for_a_declared_step() -> None:
    df = frame({"1": "A,B,W", "2": "A,X,B,L", "3": "A"})
    log = log_of(df)
    k = sm.kpis(log, MODEL_AB)
    assert math.isnan(k.values["lead_response_median_hours"])
    assert "no response step declared" in k.notes["lead_response_median_hours"]
    k2 = sm.kpis(log, MODEL_AB, response=("A", "B"))
    first = df[df["act"] == "A"].groupby("case")["ts"].min()
    reply = df[df["act"] == "B"].groupby("case")["ts"].min()
    expect = ((reply - first.reindex(reply.index)).dt.total_seconds() / 3600).median()
    assert k2.values["lead_response_median_hours"] == pytest.approx(expect) == pytest.approx(4.5)
    k3 = sm.kpis(log, MODEL_AB, rules=sm.FindingRules(response=("A", "B")))
    assert k3.values["lead_response_median_hours"] == k2.values["lead_response_median_hours"]
    with pytest.raises(OptionError, match="response names"):
        sm.kpis(log, MODEL_AB, response=("A", "Nope"))


# --- root causes -----------------------------------------------------------------------------
def test_root_causes_leave_out_tautologies_and_compare_closed_with_closed() -> None:
    n = 60
    ids = [f"c{i:02d}" for i in range(n)]
    closed = np.array([i < 40 for i in range(n)])
    won = np.array([i < 40 and i % 2 == 0 for i in range(n)])
    segment = np.where(np.arange(n) % 4 == 0, "Enterprise", "SMB")
    cases = pd.DataFrame(
        {
            "case_id": ids,
            "closed": closed,
            "won": won,
            "outcome": np.where(won, "won", np.where(closed, "lost", "open")),
            "last_stage": np.where(won, "Won", np.where(closed, "Lost", "Offer")),
            "account_id": [f"acc{i}" for i in range(n)],
            "result_code": np.where(won, "W1", np.where(closed, "L1", None)),  # derived from the outcome
            "created_at": pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
            "segment": segment,
        }
    )
    affected = [c for c, s, cl in zip(ids, segment, closed, strict=True) if cl and (s == "Enterprise" or c < "c06")]
    evidence = pd.DataFrame({"kind": "loop", "rule": "backtrack", "where": "B → A", "case_id": affected})
    findings = pd.DataFrame({"rank": [1], "kind": ["loop"], "rule": ["backtrack"], "where": ["B → A"]})
    rc = root_causes(evidence, findings, cases, top=5)
    assert not set(rc["attribute"]) & {"last_stage", "account_id", "result_code", "outcome", "won"}
    row = rc[rc["attribute"] == "segment"].iloc[0]
    pop = cases[cases["closed"]]
    aff = pop["case_id"].isin(affected)
    k = int((aff & (pop["segment"] == "Enterprise")).sum())
    t = int((pop["segment"] == "Enterprise").sum())
    assert (row["value"], row["affected_with"], row["affected"], row["all_with"], row["all"]) == (
        "Enterprise",
        k,
        int(aff.sum()),
        t,
        len(pop),
    )
    assert row["lift"] == pytest.approx((k / aff.sum()) / (t / len(pop)))
    assert row["population"] == "closed cases"
    # all cases as the population would inflate nothing here but change the base
    assert row["all"] == 40 != n
    bands = rc.loc[rc["attribute"] == "created_at band", "value"]
    assert all(" – " in b and b[:4] == "2024" for b in bands)
    # minimum support: a value held by fewer than root_cause_min_share of the affected cases is dropped
    strict = root_causes(evidence, findings, cases, top=5, rules=sm.FindingRules(root_cause_min_share=0.9))
    assert "segment" not in set(strict["attribute"])


# --- CLI -------------------------------------------------------------------------------------
def test_cli_prints_the_inferred_model_and_the_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = SAMPLE_LOGS / "opportunities.csv"
    rc = main(["diagnose", str(src), "-o", str(tmp_path / "r.html"), "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "INFERRED from the log" in out and "inferred: " in out
    assert out.index("model fit ") < out.index("#1 ")
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "The stage model was inferred from the log" in html
