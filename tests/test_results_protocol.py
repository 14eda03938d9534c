"""One result protocol: one-line repr, escaped ``_repr_html_``, ``to_frame()``, JSON-safe ``to_dict()``,
tables handed out as copies; working-time labels; every deliberate error from the SalesminingError tree."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import salesmining as sm
from salesmining.analysis.conform import stage_model_edges
from salesmining.core.errors import ArgumentTypeError, OptionError, StageModelTypeError
from salesmining.present.interactive import assets_html

EVIL = "<script>alert('x')</script>"
STAGES = ["Lead", "Qualify", EVIL, "Offer"]
PATHS = {
    "1": ["Lead", "Qualify", EVIL, "Offer", "Won"],
    "2": ["Lead", EVIL, "Offer", "Won"],
    "3": ["Lead", "Qualify", "Lost"],
    "4": ["Lead", "Qualify", EVIL, "Qualify", EVIL, "Offer", "Lost"],
    "5": ["Lead", "Qualify"],
    "6": ["Lead", "Qualify", EVIL, "Offer", "Won"],
    "7": ["Lead", "Offer", "Lost"],
    "8": ["Lead", "Qualify", EVIL, "Offer", "Won"],
}
MODEL = sm.StageModel(STAGES, outcomes={"won": ["Won"], "lost": ["Lost"]}, name=EVIL)


def _log(paths: dict[str, list[str]], start: str = "2024-01-01 09:00", name: str | None = None) -> sm.EventLog:
    rows = [(c, a, k) for c, acts in paths.items() for k, a in enumerate(acts)]
    df = pd.DataFrame(rows, columns=["deal", "stage", "k"])
    base = pd.Timestamp(start, tz="UTC")
    df["at"] = base + pd.to_timedelta(df["k"] * 30 + df["deal"].astype(int) * 5, unit="h")
    df["segment"] = df["deal"].map(lambda c: EVIL if int(c) % 2 else "SMB")
    return sm.from_dataframe(
        df.drop(columns="k"), case="deal", activity="stage", timestamp="at", case_attributes=["segment"], name=name
    )


@pytest.fixture(scope="module")
def log() -> sm.EventLog:
    return _log(PATHS, name=f"{EVIL}\nsecond line")


@pytest.fixture(scope="module")
def diagnosis(log: sm.EventLog) -> sm.Diagnosis:
    return sm.diagnose(log, MODEL)


@pytest.fixture(scope="module")
def comparison(log: sm.EventLog) -> sm.Comparison:
    later = {str(int(c) + 100): acts for c, acts in PATHS.items()}
    return sm.compare(log, _log(later, start="2024-06-01 09:00"), MODEL, n_boot=50)


# --- tables are copies ----------------------------------------------------------------------------
def _vandalise(frame: pd.DataFrame) -> None:
    """Change a handed-out table in place, every column, and add one (must not reach the result)."""
    before = frame.copy()
    for c in list(frame.columns):
        s = frame[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            frame.loc[:, c] = ~s
        elif pd.api.types.is_numeric_dtype(s.dtype):
            frame.loc[:, c] = 999
        elif pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
            frame.loc[:, c] = "vandal"
        else:
            frame[c] = None
    frame["vandal"] = 1
    assert not frame.equals(before)  # the vandalism happened


def _check_tables(getters: dict[str, Callable[[], pd.DataFrame]]) -> None:
    for name, get in getters.items():
        original = get()
        snapshot = original.copy(deep=True)
        _vandalise(original)
        pd.testing.assert_frame_equal(get(), snapshot, obj=name)


def test_event_log_tables_are_copies(log: sm.EventLog) -> None:
    _check_tables(
        {
            "cases": lambda: log.cases,
            "to_frame": log.to_frame,
            "to_frame(with_cases)": lambda: log.to_frame(with_cases=True),
            "to_pm4py": log.to_pm4py,
            "variants": log.variants,
        }
    )


def test_ingest_report_tables_are_copies() -> None:
    df = pd.DataFrame({"deal": ["A", "A", None, "B"], "stage": ["x", "y", "x", "x"], "at": ["2024-01-01"] * 4})
    q = sm.from_dataframe(df, case="deal", activity="stage", timestamp="at").quality
    assert q.rows_rejected == 1
    _check_tables(
        {"rejections": lambda: q.rejections, "to_frame": q.to_frame, "counts": q.counts, "warnings": q.warnings_frame}
    )


def test_process_graph_tables_are_copies(log: sm.EventLog) -> None:
    g = sm.discover(log, activity_coverage=0.8)
    assert len(g.hidden_nodes)  # every table has rows to vandalise
    _check_tables(
        {
            "nodes": lambda: g.nodes,
            "edges": lambda: g.edges,
            "variants": lambda: g.variants,
            "hidden_nodes": lambda: g.hidden_nodes,
            "hidden_edges": lambda: g.hidden_edges,
            "to_frame": g.to_frame,
        }
    )


def test_conformance_tables_are_copies(log: sm.EventLog) -> None:
    conf = sm.conform(log, MODEL)
    assert len(conf.skip_rates) and len(conf.backtrack_rates) and len(conf.deviations)
    _check_tables(
        {
            "skip_rates": lambda: conf.skip_rates,
            "backtrack_rates": lambda: conf.backtrack_rates,
            "deviations": lambda: conf.deviations,
            "to_frame": conf.to_frame,
        }
    )
    # the example
    rates = conf.skip_rates
    rates.loc[:, "cases"] = 999
    assert (conf.skip_rates["cases"] != 999).all()


def test_diagnosis_tables_are_copies(diagnosis: sm.Diagnosis) -> None:
    getters: dict[str, Callable[[], pd.DataFrame]] = {"to_frame": diagnosis.to_frame}
    getters |= {f"tables[{k}]": (lambda k=k: diagnosis.tables()[k]) for k in diagnosis.tables()}
    getters |= {f"series[{k}]": (lambda k=k: diagnosis.series[k]) for k in diagnosis.series}
    _check_tables(getters)


def test_comparison_tables_are_copies(comparison: sm.Comparison) -> None:
    _check_tables(
        {
            "kpis": lambda: comparison.kpis,
            "findings": lambda: comparison.findings,
            "edges": lambda: comparison.edges,
            "to_frame": comparison.to_frame,
        }
    )


# --- repr, HTML, dict ----------------------------------------------------------------------------
def _results(log: sm.EventLog, diagnosis: sm.Diagnosis, comparison: sm.Comparison) -> dict[str, Any]:
    evil_report = sm.IngestReport(
        source=f"{EVIL}\n.csv", rows_read=0, rows_kept=0, _rejections=log.quality.rejections.iloc[:0]
    )
    return {
        "EventLog": log,
        "IngestReport": evil_report,
        "ProcessGraph": sm.discover(log),
        "Conformance": sm.conform(log, MODEL),
        "Diagnosis": diagnosis,
        "Comparison": comparison,
    }


def test_repr_is_one_line_and_html_is_escaped(
    log: sm.EventLog, diagnosis: sm.Diagnosis, comparison: sm.Comparison
) -> None:
    for name, result in _results(log, diagnosis, comparison).items():
        r = repr(result)
        assert "\n" not in r and r.startswith(f"<{name}"), (name, r)
        html = result._repr_html_()
        # maps come with their own scripts (pan-zoom, glue, JSON data); nothing else may run
        own = re.sub(r'<script type="application/json" class="sm-map-data">[^<]*</script>', "", html)
        assert "<script" not in own.replace(assets_html(), "").lower(), name
        if name != "Comparison":  # a comparison card shows KPI deltas and changed findings, no names
            assert "&lt;script&gt;" in html or "&amp;lt;script&amp;gt;" in html, name


def test_to_dict_round_trips_through_json(log: sm.EventLog, diagnosis: sm.Diagnosis, comparison: sm.Comparison) -> None:
    for name, result in _results(log, diagnosis, comparison).items():
        d = result.to_dict()
        assert json.loads(json.dumps(d, allow_nan=False)) == d, name
        assert isinstance(result.to_frame(), pd.DataFrame), name
    d = log.to_dict()
    assert (d["cases"], d["events"], d["quality"]["rows_read"]) == (log.n_cases, log.n_events, log.n_events)
    assert d["outcomes"] == {"unknown": 8}
    g = sm.discover(log).to_dict()
    assert g["edges"][0]["source"] == sm.discover(log).edges.iloc[0]["source"]
    assert [tuple(v["variant"]) for v in g["variants"]] == sm.discover(log).variants["variant"].tolist()
    c = sm.conform(log, MODEL).to_dict()
    assert c["model"]["stages"] == STAGES and c["cases"] == 8
    assert {"kpis", "findings", "edges"} <= set(comparison.to_dict())


def test_quality_page_from_the_objects(log: sm.EventLog, tmp_path: Path) -> None:
    page = log.quality_html()
    assert "Every input row accounted for" in page and "<h2>Activities</h2>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    written = log.write_quality_html(tmp_path / "q" / "quality.html")
    assert written.read_text(encoding="utf-8").count("<h2>Activities</h2>") == 1
    df = pd.DataFrame({"deal": ["A", None], "stage": [EVIL, "x"], "at": ["2024-01-01", "2024-01-02"]})
    q = sm.from_dataframe(df, case="deal", activity="stage", timestamp="at").quality
    alone = q.html()
    assert "missing_case_id" in alone and "<h2>Activities</h2>" not in alone
    assert q.write_html(tmp_path / "r.html").read_text(encoding="utf-8").count("missing_case_id") >= 1


# --- working time --------------------------------------------------------------------------------
CAL = sm.BusinessCalendar()


def test_graph_card_says_working_time(log: sm.EventLog) -> None:
    plain = sm.discover(log)._repr_html_()
    working = sm.discover(log, calendar=CAL)._repr_html_()
    assert "working h" not in plain and "working time" not in plain
    assert "working time" in working and "working h" in working
    # 30 h apart in calendar time, 08:00 of work between 09:00+5h and the next day
    g = sm.discover(log, calendar=CAL)
    assert g.time_unit == "working time"


def test_conformance_card_says_working_time(log: sm.EventLog) -> None:
    assert "working" not in sm.conform(log, MODEL)._repr_html_()
    conf = sm.conform(log, MODEL, calendar=CAL)
    html = conf._repr_html_()
    assert conf.time_unit == "working time" and "working time" in html and "working h" in html
    assert conf.to_dict()["time_unit"] == "working time"


def test_reports_say_working_time_when_the_map_is_in_working_time(log: sm.EventLog) -> None:
    plain = sm.diagnose(log, MODEL)
    assert "working" not in plain.html()
    d = sm.diagnose(log, MODEL)
    d.__dict__["graph"] = sm.discover(d.map_log, calendar=CAL)  # a diagnosis whose map uses a calendar
    page = d.html()
    assert "Durations are working time" in page and "working h" in page


# --- errors --------------------------------------------------------------------------------------
def _bad_calls(log: sm.EventLog) -> list[tuple[str, Callable[[], object], type[Exception]]]:
    other = _log({"9": ["Lead", "Won"]})
    ts = pd.to_datetime(["2024-01-01"], utc=True)
    return [
        ("discover coverage", lambda: sm.discover(log, activity_coverage=2.0), OptionError),
        ("discover count", lambda: sm.discover(log, min_edge_count=-1), OptionError),
        ("discover calendar", lambda: sm.discover(log, calendar="Mon-Fri"), ArgumentTypeError),  # type: ignore[arg-type]
        ("discover backend", lambda: sm.discover(log, backend="excel"), sm.EngineError),
        ("conform 42", lambda: sm.conform(log, 42), StageModelTypeError),
        ("conform method", lambda: sm.conform(log, MODEL, method="token_replay"), OptionError),
        ("conform names", lambda: sm.conform(log, sm.StageModel(["A", "B"])), sm.StageModelError),
        ("stage_model_edges end", lambda: stage_model_edges(MODEL, end="sideways"), OptionError),
        ("diagnose 42", lambda: sm.diagnose(log, 42), StageModelTypeError),
        ("compare without stages", lambda: sm.compare(log, other), OptionError),
        ("filter mode", lambda: log.filter(start="2024-01-01", mode="sideways"), OptionError),
        ("filter outcome", lambda: log.filter(outcome="maybe"), OptionError),
        ("filter where", lambda: log.filter(where={"no such column": 1}), sm.LogSchemaError),
        ("with_outcomes", lambda: log.with_outcomes(won=["Won"], lost=["Won"]), OptionError),
        ("calendar workdays", lambda: sm.BusinessCalendar(workdays=(9,)), OptionError),
        ("calendar hours", lambda: sm.BusinessCalendar(hours=("9am", "5pm")), OptionError),
        ("calendar zone", lambda: sm.BusinessCalendar(timezone="Mars/Olympus"), OptionError),
        ("calendar lengths", lambda: CAL.seconds_between(ts, ts.append(ts)), OptionError),
        ("stage model empty", lambda: sm.StageModel([]), sm.StageModelError),
        ("stage model file", lambda: sm.StageModel.from_yaml("no/such/model.yaml"), sm.StageModelError),
        ("infer min_share", lambda: sm.StageModel.infer(log, min_share=0), OptionError),
        ("warning code", lambda: sm.IngestWarning(code="no_such_code", message="", count=1), OptionError),
        ("table format", lambda: sm.diagnose(log, MODEL).write_tables("/tmp/never", format="pdf"), OptionError),
    ]


def test_every_deliberate_error_is_a_salesmining_error(log: sm.EventLog) -> None:
    for what, call, expected in _bad_calls(log):
        with pytest.raises(sm.SalesminingError) as info:
            call()
        assert isinstance(info.value, expected), (what, type(info.value))
    # the built-in bases callers rely on stay
    with pytest.raises(TypeError, match="StageModel"):
        sm.conform(log, 42)
    with pytest.raises(ValueError):
        sm.BusinessCalendar(workdays=(9,))
