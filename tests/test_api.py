"""The public surface: names, import cost, the error tree, the display protocol, XES round trip."""

from __future__ import annotations

import inspect
import subprocess
import sys
import types

import pandas as pd
import pytest

import salesmining as sm


def test_all_is_sorted_and_lists_exactly_the_public_names() -> None:
    assert sm.__all__ == sorted(sm.__all__)
    public = {
        n
        for n, v in vars(sm).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and n not in {"annotations"}
    }
    assert set(sm.__all__) - {"__version__"} == public
    for name in sm.__all__:
        assert getattr(sm, name) is not None


def test_import_loads_no_heavy_dependency() -> None:
    """``import salesmining`` stays light: pm4py, polars, plotting, graph, template, statistics
    and engine libraries load on first use only. (How long the import takes is measured in
    ``benchmarks/bench_report.py``, not here: a timed test fails on a loaded machine.)"""
    heavy = ["pm4py", "polars", "matplotlib", "scipy", "pyspark", "duckdb", "graphviz", "networkx", "jinja2"]
    heavy += ["ruptures", "openpyxl", "yaml", "sklearn"]
    code = f"import sys, salesmining; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == []
    # the check itself can fail: a module that is loaded is reported
    probe = "import sys, salesmining, yaml; print('yaml' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "True"


def test_error_tree() -> None:
    for err in (
        sm.LogSchemaError,
        sm.StageModelError,
        sm.EngineError,
        sm.RenderError,
        sm.EncodingError,
        sm.AmbiguousDateError,
    ):
        assert issubclass(err, sm.SalesminingError)
    assert issubclass(sm.EncodingError, sm.LogSchemaError)
    assert issubclass(sm.AmbiguousDateError, sm.LogSchemaError)


def test_public_functions_take_keyword_only_options() -> None:
    for fn in (sm.read_csv, sm.from_dataframe, sm.read_xes):
        params = list(inspect.signature(fn).parameters.values())
        assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:])


def _log() -> sm.EventLog:
    df = pd.DataFrame(
        {
            "id": ["<script>alert(1)</script>", "<script>alert(1)</script>", "b"],
            "act": ["Lead", "<b>Won</b>", "Lead"],
            "t": ["2024-01-01 10:00Z", "2024-01-02 10:00Z", "2024-01-03 10:00Z"],
        }
    )
    return sm.from_dataframe(df, case="id", activity="act", timestamp="t", name="demo")


def test_display_protocol_one_line_repr_and_escaped_html() -> None:
    log = _log()
    r = repr(log)
    assert "\n" not in r
    assert r == "<EventLog 'demo': 2 cases, 3 events, 2 activities, 2024-01-01 → 2024-01-03>"
    html = log._repr_html_()
    assert "<b>Won</b>" not in html and "&lt;b&gt;Won&lt;/b&gt;" in html
    assert "\n" not in repr(log.quality)
    assert "rejected" in log.quality._repr_html_()


def test_filters() -> None:
    df = pd.DataFrame(
        {
            "id": ["a", "a", "b", "b", "c"],
            "act": ["Lead", "Won", "Lead", "Lost", "Lead"],
            "t": ["2024-01-01Z", "2024-02-01Z", "2024-01-15Z", "2024-03-01Z", "2024-03-10Z"],
            "seg": ["SMB", "SMB", "Ent", "Ent", "SMB"],
        }
    )
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t", case_attributes=["seg"]).with_outcomes(
        won=["Won"], lost=["Lost"]
    )
    assert log.filter(start="2024-01-10").cases["case:concept:name"].tolist() == ["b", "c"]
    assert log.filter(end="2024-02-15", mode="contained").cases["case:concept:name"].tolist() == ["a"]
    assert log.filter(start="2024-02-15", mode="intersecting").cases["case:concept:name"].tolist() == ["b", "c"]
    assert log.filter(start="2024-02-15", mode="trim").n_events == 2
    assert log.filter(outcome=["won", "lost"]).n_cases == 2
    assert log.filter(where={"seg": "SMB"}).n_cases == 2
    assert log.filter(activities=["Lead"]).n_events == 3
    assert log.filter(exclude_activities=["Lead"]).n_events == 2
    before, after = log.split(at="2024-01-10")
    assert (before.n_cases, after.n_cases) == (1, 2)
    assert log.filter(where={"seg": "SMB"}).history[-1] == "seg condition"
    with pytest.raises(sm.LogSchemaError, match="no case attribute"):
        log.filter(where={"segment": "SMB"})


def test_xes_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    df = pd.DataFrame(
        {
            "id": ["a", "a", "b"],
            "act": ["潜在客户识别", "Negociación", "Lead"],
            "t": ["2024-01-01 10:00:01Z", "2024-01-02 11:00:00Z", "2024-01-03 10:00:00Z"],
            "who": ["ana", "bo", "cy"],
            "seg": ["SMB", "SMB", "Ent"],
        }
    )
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t", resource="who", case_attributes=["seg"])
    for name in ("x.xes", "x.xes.gz"):
        sm.write_xes(log, tmp_path / name)
        back = sm.read_xes(tmp_path / name)
        cols = ["case:concept:name", "concept:name", "time:timestamp", "org:resource"]
        pd.testing.assert_frame_equal(back.to_frame()[cols], log.to_frame()[cols])
        assert back.cases.set_index("case:concept:name")["seg"].to_dict() == {"a": "SMB", "b": "Ent"}


def test_to_pm4py_is_accepted_by_pm4py() -> None:
    from salesmining.interop import pm4py as _pm4py

    pm = _pm4py.pm4py()
    log = _log()
    dfg, starts, _ends = pm.discover_dfg(log.to_pm4py())
    assert dfg == {("Lead", "<b>Won</b>"): 1}
    assert starts == {"Lead": 2}


def test_event_log_pickles() -> None:
    import pickle

    log = _log()
    back = pickle.loads(pickle.dumps(log))
    assert back == log and back.quality.rows_read == log.quality.rows_read and back.name == log.name
