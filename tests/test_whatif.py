"""What-if estimates: a hand-worked log, the generator's before/after pair, the findings' what-ifs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.core.errors import ArgumentTypeError, OptionError, SalesminingError
from salesmining.datasets import SAMPLE_COLUMNS, generate_sales_log, stages_yaml
from salesmining.findings.replay import boot_stat

T0 = pd.Timestamp("2024-01-01", tz="UTC")
D = 86400.0
MODEL = sm.StageModel(
    ["Lead", "Offer"],
    outcomes={"won": ["Won"], "lost": ["Lost"]},
    approvals={"Approval": "Offer"},
    sla={"Offer": "3d"},
    approval_sla={"Approval": "1d"},
)
# (case, tier, [(activity, day)]): the hand-worked timelines
CASES = {
    # Lead→Offer 1d, Offer→Approval 2d (an approval wait over its 1d SLA), Approval→Won 1d: 4 days
    "A": ("gold", [("Lead", 0), ("Offer", 1), ("Approval", 3), ("Won", 4)]),
    # 2d, approval 1d, the same approval again 3d later with nothing in between (a redundant repeat), 1d: 7 days
    "B": ("silver", [("Lead", 0), ("Offer", 2), ("Approval", 3), ("Approval", 6), ("Won", 7)]),
    # 1d, then 5d in Offer (SLA 3d: 2 days over): 6 days
    "C": ("silver", [("Lead", 0), ("Offer", 1), ("Lost", 6)]),
}


def hand_log() -> sm.EventLog:
    rows = [
        {"id": c, "act": a, "t": T0 + pd.Timedelta(days=d), "tier": tier}
        for c, (tier, evs) in CASES.items()
        for a, d in evs
    ]
    return sm.from_dataframe(
        pd.DataFrame(rows), case="id", activity="act", timestamp="t", case_attributes=["tier"], timezone="UTC"
    )


def p90(values: list[float]) -> float:
    """The 90th percentile by linear interpolation, worked by hand: rank 0.9·(n−1)."""
    v = sorted(values)
    r = 0.9 * (len(v) - 1)
    lo = math.floor(r)
    return v[lo] + (r - lo) * (v[min(lo + 1, len(v) - 1)] - v[lo])


def kpi(w: sm.WhatIf, name: str) -> pd.Series:
    return w.to_frame().set_index("kpi").loc[name]


@pytest.mark.parametrize(
    ("change", "projected_days"),
    [
        # the approval's waits go: A loses its 2d wait, B both (1d + 3d); C has none
        (sm.changes.remove("Approval"), {"A": 2, "B": 3, "C": 6}),
        # only B's redundant second round (3d) goes
        (sm.changes.remove("Approval", repeats_only=True), {"A": 4, "B": 4, "C": 6}),
        # Offer's own time (not the approval waits inside it) held to 2d: only C's 5d becomes 2d
        (sm.changes.cap("Offer", "2d"), {"A": 4, "B": 7, "C": 3}),
        # each wait for the approval cut to 1d: A 2d → 1d, B's 3d repeat → 1d
        (sm.changes.cap("Approval", "1d"), {"A": 3, "B": 5, "C": 6}),
        # only the gold case skips the approval
        (sm.changes.skip("Approval", where={"tier": "gold"}), {"A": 2, "B": 7, "C": 6}),
        # removing the Lead stage removes its dwell (entry to the Offer entry)
        (sm.changes.remove("Lead"), {"A": 3, "B": 5, "C": 5}),
    ],
)
def test_hand_worked_projections(change: object, projected_days: dict[str, float]) -> None:
    w = sm.what_if(hand_log(), MODEL, change, n_boot=0)
    today = {"A": 4, "B": 7, "C": 6}
    cases = w.cases.set_index("case_id")
    assert cases["today_s"].to_dict() == {k: v * D for k, v in today.items()}
    assert cases["projected_s"].to_dict() == {k: v * D for k, v in projected_days.items()}
    med = kpi(w, "cycle_time_median_days")
    assert med["today"] == 6.0
    assert med["projected"] == pytest.approx(float(np.median(list(projected_days.values()))))
    assert med["change"] == pytest.approx(med["projected"] - 6.0)
    top = kpi(w, "cycle_time_p90_days")
    assert top["today"] == pytest.approx(p90([4, 7, 6]))  # 6.8
    assert top["projected"] == pytest.approx(p90(list(projected_days.values())))
    assert math.isnan(med["low"]) and math.isnan(med["high"])  # no resamples asked for
    assert w.affected_cases == sum(projected_days[c] < today[c] for c in today)


def test_hand_worked_time_lost_and_sla() -> None:
    log = hand_log()
    f = sm.find_bottlenecks(log, MODEL)
    # today's findings, by hand: B's repeat (3d, redundant), A's approval 1d over its SLA, C 2d over Offer's SLA
    lost = f.to_frame().groupby("kind")["time_lost_hours"].sum().to_dict()
    assert lost == {"redundant_approval": 72.0, "long_wait": 24.0 + 48.0}
    w = sm.what_if(log, MODEL, [sm.changes.remove("Approval"), sm.changes.cap("Offer", "2d")], n_boot=0)
    # removing the approval frees A's over-SLA wait and B's repeat; the cap cuts C's 2 days over the SLA
    assert kpi(w, "time_lost_hours:redundant_approval")[["today", "projected"]].tolist() == [72.0, 0.0]
    assert kpi(w, "time_lost_hours:long_wait")[["today", "projected"]].tolist() == [72.0, 0.0]
    # Offer's SLA (3d): A and B spend 1d of their own there, C 5d → 2 of 3 today, all after the cap
    offer = kpi(w, "within_sla:Offer")
    assert offer[["today", "projected", "cases"]].tolist() == [pytest.approx(2 / 3), 1.0, 3]
    # the approval's SLA (1d): A waited 2d, B 3d on the repeat → 0 of 2 today; removed, both within
    appr = kpi(w, "within_sla:Approval")
    assert appr[["today", "projected", "cases"]].tolist() == [0.0, 1.0, 2]
    cases = w.cases.set_index("case_id")["projected_s"] / D
    assert cases.to_dict() == {"A": 2.0, "B": 3.0, "C": 3.0}


def test_changes_apply_in_order_and_parallel_keeps_the_longer() -> None:
    # Offer's visit in A: an approval wait of 2d, then 1d of its own; in parallel the case waits max(2, 1)
    rows = [
        ("A", "Lead", 0),
        ("A", "Offer", 1),
        ("A", "Approval", 3),
        ("A", "Check", 4),
        ("A", "Won", 4.5),
        ("B", "Lead", 0),
        ("B", "Offer", 1),
        ("B", "Check", 5),
        ("B", "Won", 6),
    ]
    frame = pd.DataFrame(
        [{"id": c, "act": a, "t": T0 + pd.Timedelta(days=d)} for c, a, d in rows], columns=["id", "act", "t"]
    )
    log = sm.from_dataframe(frame, case="id", activity="act", timestamp="t", timezone="UTC")
    w = sm.what_if(log, MODEL, sm.changes.parallel("Approval", "Check"), n_boot=0)
    # A: Approval 2d and Check 1d → the shorter (Check, 1d) is saved; B has no approval: unchanged
    assert (w.cases.set_index("case_id")["projected_s"] / D).to_dict() == {"A": 3.5, "B": 6.0}
    assert not w.outcomes.iloc[0]["may_change_outcomes"]  # nothing to compare for a parallel change


@pytest.mark.parametrize("n", [51, 50, 7])
def test_bootstrap_statistics_match_explicit_resamples(n: int) -> None:
    """The counts-based statistics equal numpy's on the resampled values themselves."""
    rng = np.random.default_rng(3)
    values = np.round(rng.lognormal(size=n), 1)  # ties too
    idx = rng.integers(0, n, size=(200, n))
    counts = np.stack([np.bincount(i, minlength=n) for i in idx]).astype(np.int32)
    assert np.allclose(boot_stat(values, counts, "median"), np.median(values[idx], axis=1))
    assert np.allclose(boot_stat(values, counts, "p90"), np.quantile(values[idx], 0.9, axis=1))
    assert np.allclose(boot_stat(values, counts, "sum"), values[idx].sum(axis=1))
    assert np.allclose(boot_stat(values, counts, "mean"), values[idx].mean(axis=1))


def test_intervals_cover_the_projection_and_are_reproducible() -> None:
    log = _sample(seed=5, n_cases=400)
    a = sm.what_if(log, _MODEL, sm.changes.cap("Lead", "1d"), n_boot=300, seed=1)
    b = sm.what_if(log, _MODEL, sm.changes.cap("Lead", "1d"), n_boot=300, seed=1)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    fr = a.to_frame()
    ok = fr[fr["low"].notna()]
    assert (ok["low"] <= ok["projected"] + 1e-9).all() and (ok["projected"] <= ok["high"] + 1e-9).all()
    med = kpi(a, "cycle_time_median_days")
    assert med["change_low"] <= med["change"] <= med["change_high"]
    # the KPIs of today agree with sm.kpis on the same log
    k = sm.kpis(log, _MODEL).values
    assert med["today"] == pytest.approx(k["cycle_time_median_days"])
    assert kpi(a, "cycle_time_p90_days")["today"] == pytest.approx(k["cycle_time_p90_days"])


# ---------------------------------------------------------------------------- validated against the generator

_MODEL = sm.StageModel.from_dict(__import__("yaml").safe_load(stages_yaml()))
STRUCTURAL = {
    "remove": ["Manager Approval"],
    "parallel": [("Discount Approval", "Legal Review")],
    "cap": {"Lead": "1d", "Contact": "2d"},
}
CHANGES = [
    sm.changes.remove("Manager Approval"),
    sm.changes.parallel("Discount Approval", "Legal Review"),
    sm.changes.cap("Lead", "1d"),
    sm.changes.cap("Contact", "2d"),
]


def _sample(**kw: object) -> sm.EventLog:
    key = repr(sorted(kw.items()))
    if key not in _SAMPLES:  # logs are immutable: each generated once per session
        _SAMPLES[key] = _generate(**kw)
    return _SAMPLES[key]


_SAMPLES: dict[str, sm.EventLog] = {}


def _generate(**kw: object) -> sm.EventLog:
    ev, _ = generate_sales_log(**kw)  # type: ignore[arg-type]
    return sm.from_dataframe(
        ev,
        case="Opportunity ID",
        activity="Activity",
        timestamp="Timestamp",
        resource="Owner",
        approval_result="Approval Result",
        case_attributes=["Segment", "Amount"],
    )


def test_what_if_predicts_the_after_log() -> None:
    """The Must show: the "after" log, simulated with the structural changes (another seed), has
    its cycle-time median and p90 inside the what-if's interval from the "before" log."""
    before = _sample(seed=101, n_cases=1500)
    after = _sample(seed=102, n_cases=1500, structural_changes=STRUCTURAL)
    unchanged = _sample(seed=102, n_cases=1500)
    w = sm.what_if(before, _MODEL, CHANGES, n_boot=1000, seed=0)
    real = sm.kpis(after, _MODEL).values
    control = sm.kpis(unchanged, _MODEL).values
    for name in ("cycle_time_median_days", "cycle_time_p90_days"):
        r = kpi(w, name)
        off = real[name] - r["projected"]
        print(
            f"{name}: before {r['today']:.2f} d, projected {r['projected']:.2f} d "
            f"[{r['low']:.2f}, {r['high']:.2f}], after really {real[name]:.2f} d "
            f"(off by {off:+.2f} d), without the changes {control[name]:.2f} d"
        )
        assert r["low"] <= real[name] <= r["high"]
        # the changes matter: the same seed without them falls outside the interval
        assert not r["low"] <= control[name] <= r["high"]
    assert not w.may_change_outcomes or all("Manager Approval" in n for n in w.notes)


def test_a_change_that_alters_who_wins_is_flagged() -> None:
    """Removing Needs Analysis makes every case go on as a skipping one does (more early
    losses): the projection keeps today's winners and cannot see that — the result says so."""
    before = _sample(seed=101, n_cases=1500)
    after = _sample(seed=102, n_cases=1500, structural_changes={"remove": ["Needs Analysis"]})
    w = sm.what_if(before, _MODEL, sm.changes.remove("Needs Analysis"), n_boot=1000)
    assert w.may_change_outcomes
    row = w.outcomes.iloc[0]
    assert row["win_rate_without"] < row["win_rate_with"] - 0.2
    assert "Segment" in row["comparison"]
    assert any("may alter who wins" in n for n in w.notes)
    real_wr = sm.kpis(after, _MODEL).values["win_rate"]
    today_wr = sm.kpis(before, _MODEL).values["win_rate"]
    assert real_wr < today_wr - 0.05  # the generator's truth: fewer wins after the change
    r = kpi(w, "cycle_time_p90_days")
    real = sm.kpis(after, _MODEL).values["cycle_time_p90_days"]
    print(f"p90 projected {r['projected']:.2f} [{r['low']:.2f}, {r['high']:.2f}], after really {real:.2f}")
    assert "may alter who wins" in w.html()


def test_generator_structural_changes_are_simulated() -> None:
    ev, _ = generate_sales_log(seed=3, n_cases=300, structural_changes=STRUCTURAL)
    assert "Manager Approval" not in set(ev["Activity"])
    ev = ev.sort_values(["Opportunity ID", "Timestamp"], kind="stable")
    nxt = ev.groupby("Opportunity ID")["Timestamp"].shift(-1)
    lead = ev[(ev["Activity"] == "Lead")]
    assert ((nxt.loc[lead.index] - lead["Timestamp"]).dropna() <= pd.Timedelta(days=1, seconds=1)).all()
    plain, _ = generate_sales_log(seed=3, n_cases=300)
    same, _ = generate_sales_log(seed=3, n_cases=300, structural_changes=None)
    pd.testing.assert_frame_equal(plain, same)
    with pytest.raises(OptionError, match="not one of"):
        generate_sales_log(seed=3, n_cases=5, structural_changes={"remove": ["Lead"]})
    with pytest.raises(OptionError, match="unknown structural"):
        generate_sales_log(seed=3, n_cases=5, structural_changes={"drop": ["Lead"]})


# ---------------------------------------------------------------------------- findings carry their what-if


def test_every_redundant_approval_and_long_wait_finding_carries_its_what_if() -> None:
    log = hand_log()
    f = sm.find_bottlenecks(log, MODEL).to_frame().set_index(["kind", "rule"])
    # by hand, median of [4, 7, 6] = 6 days today
    rep = f.loc[("redundant_approval", "repeated_no_change")]
    assert rep["whatif_change"] == "drop the redundant repeats of Approval"
    assert rep["whatif_median_gain_s"] == 2 * D  # [4, 4, 6] → median 4
    stage = f.loc[("long_wait", "stage_over_sla")]
    assert stage["whatif_change"] == "cap Offer at 3d"
    assert stage["whatif_median_gain_s"] == 2 * D  # C 6 → 4: [4, 7, 4] → median 4
    appr = f.loc[("long_wait", "approval_over_sla")]
    assert appr["whatif_change"] == "cap Approval at 1d"
    assert appr["whatif_median_gain_s"] == 1 * D  # A 4 → 3, B 7 → 5: [3, 5, 6] → median 5
    for r in (rep, stage, appr):
        assert r["whatif_low_s"] <= r["whatif_median_gain_s"] <= r["whatif_high_s"]


def test_findings_what_if_agrees_with_what_if_on_the_sample() -> None:
    log = _sample(seed=7, n_cases=800)
    f = sm.find_bottlenecks(log, _MODEL).to_frame()
    elig = f[f["kind"].isin(["redundant_approval", "long_wait", "slow_response"]) & (f["rule"] != "stalled_open")]
    assert elig["whatif_change"].notna().all() and len(elig) >= 5
    assert f.loc[~f.index.isin(elig.index), "whatif_change"].isna().all()
    cap = elig[elig["rule"] == "response_over_sla"].iloc[0]
    assert cap["whatif_change"] == "cap Lead at 1d"  # the model's SLA for the first stage
    w = sm.what_if(log, _MODEL, sm.changes.cap("Lead", "1d"), n_boot=0)
    med = kpi(w, "cycle_time_median_days")
    assert cap["whatif_median_gain_s"] == pytest.approx((med["today"] - med["projected"]) * D)
    d = sm.find_bottlenecks(log, _MODEL).to_dict()
    json.dumps(d)
    assert "whatif_change" in d["findings"][0]


# ---------------------------------------------------------------------------- validation and protocol


def test_changes_are_validated() -> None:
    log = hand_log()
    with pytest.raises(OptionError, match=r"unknown step 'Manager'; the steps are \['Approval', 'Lead'"):
        sm.what_if(log, MODEL, sm.changes.remove("Manager"))
    with pytest.raises(OptionError, match="outcome"):
        sm.what_if(log, MODEL, sm.changes.remove("Won"))
    with pytest.raises(OptionError, match="not a case attribute"):
        sm.what_if(log, MODEL, sm.changes.skip("Approval", where={"segment": "SMB"}))
    with pytest.raises(OptionError, match="at least one change"):
        sm.what_if(log, MODEL, [])
    with pytest.raises(ArgumentTypeError, match=r"sm\.changes"):
        sm.what_if(log, MODEL, ["remove Approval"])  # type: ignore[list-item]
    with pytest.raises(OptionError, match="cap of 'Offer'"):
        sm.changes.cap("Offer", "3 months")
    with pytest.raises(OptionError, match="two different steps"):
        sm.changes.parallel("A", "A")
    with pytest.raises(ArgumentTypeError):
        sm.changes.remove("")
    with pytest.raises(OptionError, match="n_boot"):
        sm.what_if(log, MODEL, sm.changes.remove("Approval"), n_boot=-1)
    for exc in (OptionError, ArgumentTypeError):
        assert issubclass(exc, SalesminingError)


def test_result_protocol_copies_and_escaping() -> None:
    rows = [
        ("A", "Lead", 0),
        ("A", "<b>审批</b>", 2),
        ("A", "Won", 3),
        ("B", "Lead", 0),
        ("B", "Won", 1),
    ]
    frame = pd.DataFrame([{"id": c, "act": a, "t": T0 + pd.Timedelta(days=d)} for c, a, d in rows])
    log = sm.from_dataframe(frame, case="id", activity="act", timestamp="t", timezone="UTC")
    model = sm.StageModel(["Lead"], outcomes={"won": ["Won"]}, approvals={"<b>审批</b>": "Lead"})
    w = sm.what_if(log, model, sm.changes.remove("<b>审批</b>"), n_boot=50)
    assert "<b>审批</b>" not in w.html() and "&lt;b&gt;审批&lt;/b&gt;" in w.html()
    assert "<b>审批</b>" in repr(w) and "\n" not in repr(w)
    d = w.to_dict()
    json.dumps(d)
    assert d["changes"][0] == {
        "type": "remove",
        "step": "<b>审批</b>",
        "repeats_only": False,
        "where": {},
        "description": "remove <b>审批</b>",
    }
    assert list(w.to_frame().columns) == [
        "kpi",
        "today",
        "projected",
        "low",
        "high",
        "change",
        "change_low",
        "change_high",
        "unit",
        "cases",
        "definition",
    ]
    for name, get in {
        "to_frame": w.to_frame,
        "kpis": lambda: w.kpis,
        "outcomes": lambda: w.outcomes,
        "cases": lambda: w.cases,
    }.items():
        original = get()
        snapshot = original.copy(deep=True)
        for c in list(original.columns):  # change every column of the handed-out table in place
            s = original[c]
            if pd.api.types.is_bool_dtype(s.dtype):
                original.loc[:, c] = ~s
            elif pd.api.types.is_numeric_dtype(s.dtype):
                original.loc[:, c] = 999
            else:
                original[c] = "vandal"
        assert not original.equals(snapshot)
        pd.testing.assert_frame_equal(get(), snapshot, obj=name)
    assert w.assumptions and any("queueing" in a for a in w.assumptions)
    assert "No queueing effects" in w._repr_html_()


# ---------------------------------------------------------------------------- command line


def test_cli_what_if_json_contract_and_exit_codes(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from salesmining.cli import main

    root = Path(__file__).resolve().parents[1] / "sample_logs"
    log, stages = str(root / "opportunities.csv"), str(root / "stages.yaml")
    out = Path(str(tmp_path)) / "w.json"
    html = Path(str(tmp_path)) / "w.html"
    args = ["what-if", log, "--stages", stages, "--remove", "Manager Approval", "--cap", "Contact=2d"]
    assert main([*args, "--parallel", "Discount Approval,Legal Review", "--json", str(out), "-o", str(html)]) == 0
    got = json.loads(out.read_text(encoding="utf-8"))
    assert [c["type"] for c in got["changes"]] == ["remove", "cap", "parallel"]
    assert got["changes"][1]["limit"] == "2d"
    # the same numbers as the Python call
    ev = sm.read_csv(root / "opportunities.csv", **SAMPLE_COLUMNS)
    w = sm.what_if(
        ev,
        stages,
        [
            sm.changes.remove("Manager Approval"),
            sm.changes.cap("Contact", "2d"),
            sm.changes.parallel("Discount Approval", "Legal Review"),
        ],
    )
    assert got["kpis"] == json.loads(json.dumps(w.to_dict()["kpis"]))
    assert "What if" in html.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main([*args, "--json", "-", "-q", "--bootstrap", "50"]) == 0
    assert json.loads(capsys.readouterr().out)["n_boot"] == 50
    assert main(["what-if", log, "--stages", stages, "--remove", "Manager", "-q"]) == 2
    assert "unknown step 'Manager'" in capsys.readouterr().err
    assert main(["what-if", log, "--stages", stages, "--cap", "Contact", "-q"]) == 2
    assert main(["what-if", log, "--stages", stages, "-q"]) == 2
    assert main(["what-if", str(root / "missing.csv"), "--stages", stages, "--remove", "Lead", "-q"]) == 3


def test_report_ranks_the_candidate_changes() -> None:
    from salesmining.diagnosis.whatif_section import whatif_section

    log = hand_log()
    d = sm.diagnose(log, MODEL)
    sec = whatif_section(d)
    # by hand (median of [4, 7, 6] = 6 d today): drop the repeats → 4 d, cap Offer at 3d → 4 d,
    # remove Approval → [2, 3, 6] → 3 d, cap Approval at 1d → [3, 5, 6] → 5 d
    got = [(c["change"], c["gain"]) for c in sec["candidates"]]
    assert got == [
        ("remove Approval", "3.0 d"),
        ("drop the redundant repeats of Approval", "2.0 d"),
        ("cap Offer at 3d", "2.0 d"),
        ("cap Approval at 1d", "24.0 h"),
    ]
    # ties on the median go to the change saving more time in all: the cap saves C's 2 days, the repeat 3 days
    saved = {c["change"]: c["saved"] for c in sec["candidates"]}
    assert saved["drop the redundant repeats of Approval"] == "3.0 d" and saved["cap Offer at 3d"] == "2.0 d"
    html = d.html()
    assert 'id="whatif"' in html and "What if: drop the redundant repeats of Approval: −2.0 d median cycle time" in html
    assert "No queueing effects" in html


def test_working_time_under_a_business_calendar() -> None:
    # Fri 16:00 → Mon 10:00 is 2 working hours (09:00–17:00, Mon–Fri); Mon 10:00 → 12:00 two more
    rows = [("A", "Lead", "2024-01-05 16:00"), ("A", "Approval", "2024-01-08 10:00"), ("A", "Won", "2024-01-08 12:00")]
    frame = pd.DataFrame(rows, columns=["id", "act", "t"])
    log = sm.from_dataframe(frame, case="id", activity="act", timestamp="t", timezone="UTC")
    model = sm.StageModel(["Lead"], outcomes={"won": ["Won"]}, approvals={"Approval": "Lead"})
    cal = sm.BusinessCalendar()
    w = sm.what_if(log, model, sm.changes.cap("Approval", "1h"), calendar=cal, n_boot=0)
    assert w.working_time
    assert (w.cases.set_index("case_id").loc["A", ["today_s", "projected_s"]] / 3600).tolist() == [4.0, 3.0]
    assert "working" in kpi(w, "cycle_time_median_days")["definition"]
    assert "working" in w._repr_html_()
