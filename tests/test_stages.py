"""StageModel: construction, validation, YAML round-trip, inference."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

import salesmining as sm
from salesmining.analysis.stages import parse_duration
from salesmining.core.formatting import duration_spec as format_duration

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"


def sample(name: str) -> Path:
    p = SAMPLE / name
    if not p.exists():
        pytest.skip(f"sample_logs/{name} not found (run sample_logs/generate.py)")
    return p


@pytest.fixture(scope="module")
def stages_yaml() -> Path:
    return sample("stages.yaml")


def _log(paths: dict[str, str], *, outcome: dict[str, str] | None = None) -> sm.EventLog:
    rows = [(c, a) for c, p in paths.items() for a in p.split(",")]
    df = pd.DataFrame(rows, columns=["case", "act"])
    df["ts"] = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(range(len(df)), unit="h")
    kw: dict[str, str] = {}
    if outcome is not None:
        df["result"] = df["case"].map(outcome)
        kw["outcome"] = "result"
    return sm.from_dataframe(df, case="case", activity="act", timestamp="ts", **kw)


# --- reading the sample files -------------------------------------------------------------------
def test_sample_yaml_is_read_with_every_field(stages_yaml: Path) -> None:
    m = sm.StageModel.from_yaml(stages_yaml)
    raw = yaml.safe_load(stages_yaml.read_text(encoding="utf-8"))
    assert m.name == raw["name"]
    assert m.stages == tuple(raw["stages"])
    assert m.won == tuple(raw["outcomes"]["won"])
    assert m.lost == tuple(raw["outcomes"]["lost"])
    assert dict(m.approvals) == raw["approvals"]
    assert m.anywhere == tuple(raw["anywhere"])
    assert m.allowed_backtracks == tuple(tuple(p) for p in raw["allowed_backtracks"])
    # durations: "1d" is one day, "14d" two weeks — compare with pandas' own reading of "<n> days"
    for stage, text in raw["sla"].items():
        assert m.sla[stage] == pd.Timedelta(days=int(text.rstrip("d")))
    for act, text in raw["approval_sla"].items():
        assert m.approval_sla[act] == pd.Timedelta(days=int(text.rstrip("d")))
    assert list(m.sla) == [s for s in m.stages if s in raw["sla"]]


def test_yaml_round_trip_keeps_unicode(tmp_path: Path) -> None:
    src = sample("stages_zh.yaml")
    m = sm.StageModel.from_yaml(src)
    assert m.stages[0] == "潜在客户识别" and m.won == ("合同签署",) and m.lost == ("输单",)
    out = tmp_path / "copy.yaml"
    text = m.to_yaml(out)
    assert out.read_text(encoding="utf-8") == text
    assert "潜在客户识别" in text and "\\u" not in text  # written as characters, not escapes
    back = sm.StageModel.from_yaml(out)
    assert back == m and hash(back) == hash(m)
    assert back.sla["报价与谈判"] == pd.Timedelta(days=14)


def test_dict_round_trip_with_every_feature() -> None:
    m = sm.StageModel(
        ["A", "B", "C"],
        optional=["B"],
        outcomes={"won": "W", "lost": ["L1", "L2"]},
        approvals={"OK": "C"},
        anywhere=["Call"],
        allowed_backtracks=[("C", "A"), ["B", "B"]],
        sla={"A": "36h", "C": dt.timedelta(minutes=90)},
        approval_sla={"OK": "P1DT12H"},
        name="x",
    )
    d = m.to_dict()
    assert d["sla"] == {"A": "36h", "C": "90m"}
    assert d["approval_sla"] == {"OK": "36h"}
    assert d["allowed_backtracks"] == [["C", "A"], ["B", "B"]]
    assert sm.StageModel.from_dict(d) == m
    assert sm.StageModel.from_dict(yaml.safe_load(m.to_yaml())) == m
    assert m.activities == frozenset({"A", "B", "C", "W", "L1", "L2", "OK", "Call"})


def test_empty_yaml_values_mean_empty() -> None:
    m = sm.StageModel.from_dict({"stages": ["A"], "optional": None, "approvals": None, "sla": None, "outcomes": None})
    assert m.optional == () and dict(m.approvals) == {} and m.won == () and m.lost == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d", pd.Timedelta(hours=24)),
        ("36h", pd.Timedelta(hours=36)),
        ("90m", pd.Timedelta(minutes=90)),
        ("90min", pd.Timedelta(minutes=90)),
        ("45s", pd.Timedelta(seconds=45)),
        ("2w", pd.Timedelta(days=14)),
        ("1d12h", pd.Timedelta(hours=36)),
        ("1.5h", pd.Timedelta(minutes=90)),
        ("P2D", pd.Timedelta(days=2)),
        ("PT36H", pd.Timedelta(hours=36)),
        ("P1W", pd.Timedelta(days=7)),
        ("P1DT2H30M", pd.Timedelta(minutes=26 * 60 + 30)),
    ],
)
def test_parse_duration(text: str, expected: pd.Timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["", "abc", "5", "1M", "P1M", "P1Y", "-1d", "0h", "P", "1d junk"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(sm.StageModelError):
        parse_duration(text)


def test_numbers_are_not_durations() -> None:
    with pytest.raises(sm.StageModelError, match="with a unit"):
        sm.StageModel(["A"], sla={"A": 5})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stages": []}, "at least one stage"),
        ({"stages": ["A", "A"]}, "twice"),
        ({"stages": ["A", 3]}, "must be text"),
        ({"stages": ["A", " "]}, "must not be empty"),
        ({"stages": ["A"], "optional": ["B"]}, "not a stage"),
        ({"stages": ["A"], "approvals": {"OK": "B"}}, "not a stage"),
        ({"stages": ["A"], "sla": {"B": "1d"}}, "not a stage"),
        ({"stages": ["A"], "allowed_backtracks": [["A", "B"]]}, "not a stage"),
        ({"stages": ["A", "B"], "allowed_backtracks": [["A", "B"]]}, "forward move"),
        ({"stages": ["A", "B"], "allowed_backtracks": [["B"]]}, "pairs"),
        ({"stages": ["A"], "outcomes": {"won": ["A"]}}, "both a stage and a won outcome"),
        ({"stages": ["A"], "outcomes": {"won": ["W"], "lost": ["W"]}}, "both a won outcome and a lost"),
        ({"stages": ["A"], "outcomes": {"draw": ["D"]}}, "only 'won' and 'lost'"),
        ({"stages": ["A"], "anywhere": ["A"]}, "both a stage and an anywhere"),
        ({"stages": ["A"], "approvals": {"OK": "A"}, "anywhere": ["OK"]}, "both an approval"),
        ({"stages": ["A"], "approval_sla": {"OK": "1d"}}, "not an approval"),
        ({"stages": ["A"], "colour": "red"}, "unknown key"),
    ],
)
def test_validation_errors_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(sm.StageModelError, match=message):
        sm.StageModel.from_dict(kwargs)


def test_yaml_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [A, A]\n", encoding="utf-8")
    with pytest.raises(sm.StageModelError, match=r"bad\.yaml: stages lists 'A' twice"):
        sm.StageModel.from_yaml(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("stages: [A, B\n", encoding="utf-8")
    with pytest.raises(sm.StageModelError, match="not valid YAML"):
        sm.StageModel.from_yaml(broken)
    with pytest.raises(sm.StageModelError, match="no such"):
        sm.StageModel.from_yaml(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(sm.StageModelError, match="empty"):
        sm.StageModel.from_yaml(empty)


def test_yaml_numbers_and_booleans_as_names_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "m.yaml"
    p.write_text("stages: [Lead, yes, 2]\n", encoding="utf-8")
    with pytest.raises(sm.StageModelError, match="quote it in YAML"):
        sm.StageModel.from_yaml(p)


def test_awkward_names_survive_yaml() -> None:
    names = ["a: b", "- x", "yes", "123", "#c", "[x]", "Quote & Negotiation", "null"]
    m = sm.StageModel(names, allowed_backtracks=[("123", "yes")], name="weird: name")
    assert sm.StageModel.from_dict(yaml.safe_load(m.to_yaml())) == m


# --- protocol -----------------------------------------------------------------------------------
def test_model_is_frozen_and_displays(stages_yaml: Path) -> None:
    m = sm.StageModel.from_yaml(stages_yaml)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.stages = ("X",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.sla["Lead"] = pd.Timedelta(0)  # type: ignore[index]
    r = repr(m)
    assert "\n" not in r and r.startswith("<StageModel 'B2B opportunity process': Lead → Contact")
    frame = m.to_frame()
    assert list(frame["stage"]) == list(m.stages)
    assert frame.loc[frame["stage"] == "Quote & Negotiation", "approvals"].item() == tuple(m.approvals)
    assert frame["sla"].tolist() == [m.sla[s] for s in m.stages]
    html = sm.StageModel(["<b>x</b>", "B"])._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


# --- inference ----------------------------------------------------------------------------------
def test_infer_orders_by_majority_precedence() -> None:
    # C before B in 2 of 3 won cases -> C first; X in 1 of 3 won cases only -> not a stage
    log = _log({"1": "A,C,B,W", "2": "A,C,B,W", "3": "A,B,C,X,W", "4": "A,L", "5": "A,C,L"})
    m = sm.StageModel.infer(log, won=["W"], lost=["L"])
    assert m.stages == ("A", "C", "B")
    assert m.won == ("W",) and m.lost == ("L",)


def test_infer_finds_outcome_activities_from_the_case_table() -> None:
    paths = {"1": "A,B,Sign", "2": "A,B,Sign", "3": "A,Drop", "4": "A,B,Drop", "5": "A,B"}
    log = _log(paths, outcome={"1": "won", "2": "won", "3": "lost", "4": "lost", "5": "open"})
    m = sm.StageModel.infer(log)
    assert (m.won, m.lost, m.stages) == (("Sign",), ("Drop",), ("A", "B"))


def test_infer_on_the_sample_log_recovers_the_intended_stages(stages_yaml: Path) -> None:
    intended = sm.StageModel.from_yaml(stages_yaml)
    log = sm.read_csv(sample("opportunities.csv"), case="Opportunity ID", activity="Activity", timestamp="Timestamp")
    closed = log.with_outcomes(won=intended.won, lost=intended.lost)
    m = sm.StageModel.infer(closed)
    assert m.stages == intended.stages
    assert (m.won, m.lost) == (intended.won, intended.lost)
    assert set(m.anywhere) == set(intended.anywhere)  # calls and e-mails repeat within cases
    # without outcomes, naming the won activity gives the same suggestion
    assert sm.StageModel.infer(log, won=intended.won, lost=intended.lost).stages == intended.stages


def test_infer_refuses_nonsense() -> None:
    log = _log({"1": "A,B"})
    with pytest.raises(ValueError, match="min_share"):
        sm.StageModel.infer(log, min_share=0)
    with pytest.raises(sm.StageModelError, match="lower min_share"):
        sm.StageModel.infer(log, anywhere=["A", "B"])
