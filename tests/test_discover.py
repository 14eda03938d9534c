"""discover() / ProcessGraph: hand-worked logs with exact numbers, abstraction, engines, pm4py on BPIC 2012."""

from __future__ import annotations

import dataclasses
import re

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.core.schema import ACTIVITY, CASE, TIMESTAMP
from salesmining.present.interactive import assets_html

ENGINES = ["polars", "pandas", "duckdb"]


# --- the hand-worked log ---------------------------------------------------------------------
# 2024-01-01 is a Monday. Rows are listed in source order; c4 is out of time order on purpose.
#   c1: A 09:00 | C 10:00 | B 10:00 (tie with C: source order keeps C first) | B 12:00 (loop) | D Jan 2 12:00
#   c2: A 09:00 | B 09:30 | D 11:30
#   c3: A Jan 3 08:00 (single event)
#   c4: D Jan 5 09:00 | A Jan 4 09:00 | B Jan 4 15:00  → A, B, D
HAND = pd.DataFrame(
    {
        "deal": ["c1", "c1", "c1", "c1", "c1", "c2", "c2", "c2", "c3", "c4", "c4", "c4"],
        "stage": ["A", "C", "B", "B", "D", "A", "B", "D", "A", "D", "A", "B"],
        "at": [
            "2024-01-01 09:00Z",
            "2024-01-01 10:00Z",
            "2024-01-01 10:00Z",
            "2024-01-01 12:00Z",
            "2024-01-02 12:00Z",
            "2024-01-01 09:00Z",
            "2024-01-01 09:30Z",
            "2024-01-01 11:30Z",
            "2024-01-03 08:00Z",
            "2024-01-05 09:00Z",
            "2024-01-04 09:00Z",
            "2024-01-04 15:00Z",
        ],
    }
)
H = 3600.0


@pytest.fixture(scope="module")
def hand() -> sm.EventLog:
    return sm.from_dataframe(HAND, case="deal", activity="stage", timestamp="at")


def _edge(g: sm.ProcessGraph, source: str, target: str) -> pd.Series:
    e = g.edges.set_index(["source", "target"])
    return e.loc[(source, target)]


def test_hand_edges_exact(hand: sm.EventLog) -> None:
    g = sm.discover(hand)
    pairs = {(s, t): c for s, t, c in g.edges[["source", "target", "count"]].itertuples(index=False)}
    assert pairs == {("B", "D"): 3, ("A", "B"): 2, ("A", "C"): 1, ("B", "B"): 1, ("C", "B"): 1}
    # edges are sorted by count, then names
    order = list(zip(g.edges["source"], g.edges["target"], strict=True))
    assert order == [("B", "D"), ("A", "B"), ("A", "C"), ("B", "B"), ("C", "B")]
    bd = _edge(g, "B", "D")  # waits 24 h (c1), 2 h (c2), 18 h (c4)
    assert (bd["cases"], bd["case_share"]) == (3, 0.75)
    assert bd["wait_median_s"] == 18 * H
    assert bd["wait_mean_s"] == (24 + 2 + 18) * H / 3
    assert bd["wait_p90_s"] == 18 * H + 0.8 * 6 * H  # virtual index (3-1)*0.9 = 1.8
    assert (bd["wait_max_s"], bd["wait_min_s"], bd["wait_total_s"]) == (24 * H, 2 * H, 44 * H)
    ab = _edge(g, "A", "B")  # 0.5 h (c2), 6 h (c4)
    assert (ab["wait_median_s"], ab["wait_p90_s"]) == (3.25 * H, 0.5 * H + 0.9 * 5.5 * H)
    assert _edge(g, "C", "B")["wait_max_s"] == 0.0  # the tie
    assert _edge(g, "B", "B")["wait_median_s"] == 2 * H  # the loop
    assert _edge(g, "A", "C")["wait_median_s"] == 1 * H
    assert g.edges["bridged"].eq(0).all()
    waits = [24 * H, 2 * H, 18 * H]  # p90 is numpy's default definition, bit for bit
    assert (bd["wait_median_s"], bd["wait_p90_s"]) == (np.median(waits), np.quantile(waits, 0.9))


def test_hand_nodes_and_variants_exact(hand: sm.EventLog) -> None:
    g = sm.discover(hand)
    n = g.nodes.set_index("activity")
    assert list(g.nodes.columns) == ["activity", "events", "cases", "case_share", "starts", "ends"]
    assert n.loc[["A", "B", "D", "C"], ["events", "cases", "starts", "ends"]].to_numpy().tolist() == [
        [4, 4, 4, 1],
        [4, 3, 0, 0],
        [3, 3, 0, 3],
        [1, 1, 0, 0],
    ]
    assert list(g.nodes["activity"]) == ["A", "B", "D", "C"]  # events desc, then name
    assert g.start_activities == {"A": 4}
    assert g.end_activities == {"A": 1, "D": 3}
    v = g.variants
    assert v["variant"].tolist() == [("A", "B", "D"), ("A",), ("A", "C", "B", "B", "D")]
    assert v["count"].tolist() == [2, 1, 1]
    assert v["share"].tolist() == [0.5, 0.25, 0.25]
    assert v["length"].tolist() == [3, 1, 5]
    # throughput: c2 2.5 h, c4 24 h; c3 0; c1 27 h
    assert v["median_throughput_s"].tolist() == [13.25 * H, 0.0, 27 * H]
    assert v["max_throughput_s"].tolist() == [24 * H, 0.0, 27 * H]
    assert v["example_case"].tolist() == ["c2", "c3", "c1"]
    assert g.n_cases == 4 and g.n_events == 12
    assert not g.has_service_times and g.time_unit == "calendar time"


def test_hand_working_time(hand: sm.EventLog) -> None:
    cal = sm.BusinessCalendar()  # Mon–Fri 09:00–17:00 UTC
    g = sm.discover(hand, calendar=cal)
    bd = _edge(g, "B", "D")  # c1 Mon 12:00 → Tue 12:00 = 5 h + 3 h; c2 2 h; c4 Thu 15:00 → Fri 09:00 = 2 h
    assert sorted([bd["wait_min_s"], bd["wait_median_s"], bd["wait_max_s"]]) == [2 * H, 2 * H, 8 * H]
    assert bd["wait_total_s"] == 12 * H
    v = g.variants.set_index(g.variants["variant"].map(len))
    assert v.loc[3, "median_throughput_s"] == (2.5 + 8) / 2 * H  # c2 2.5 h, c4 Thu 09:00 → Fri 09:00 = 8 h
    assert v.loc[1, "median_throughput_s"] == 0.0
    holiday = sm.discover(hand, calendar=sm.BusinessCalendar(holidays=("2024-01-02",)))
    assert _edge(holiday, "B", "D")["wait_max_s"] == 5 * H  # Tuesday is off: only Monday 12:00–17:00
    assert g.calendar == cal and g.time_unit == "working time"
    # every metric uses the same clock: the calendar-time totals differ, the counts do not
    assert g.edges["count"].tolist() == sm.discover(hand).edges["count"].tolist()


def test_start_timestamps_service_and_wait() -> None:
    df = pd.DataFrame(
        {
            "deal": ["c1", "c1", "c1", "c2", "c2"],
            "stage": ["X", "Y", "Z", "X", "Y"],
            "start": ["2024-01-01 09:00Z", "2024-01-01 11:00Z", "2024-01-01 12:00Z", None, "2024-01-01 09:30Z"],
            "end": [
                "2024-01-01 10:00Z",
                "2024-01-01 12:30Z",
                "2024-01-01 13:00Z",
                "2024-01-01 09:00Z",
                "2024-01-01 10:00Z",
            ],
        }
    )
    log = sm.from_dataframe(df, case="deal", activity="stage", timestamp="end", start_timestamp="start")
    g = sm.discover(log)
    assert g.has_service_times
    # waits run from completion to the next start, clipped at 0 (Z starts before Y completes)
    assert _edge(g, "X", "Y")[["count", "wait_min_s", "wait_max_s"]].tolist() == [2, 0.5 * H, 1 * H]
    assert _edge(g, "Y", "Z")["wait_max_s"] == 0.0
    n = g.nodes.set_index("activity")
    assert n.loc["Y", ["service_count", "service_median_s", "service_p90_s", "service_total_s"]].tolist() == [
        2,
        1 * H,
        0.5 * H + 0.9 * 1 * H,
        2 * H,
    ]
    assert n.loc["X", "service_count"] == 1  # c2's X has no start: not a service time
    assert n.loc["Z", "service_max_s"] == 1 * H
    v = g.variants.set_index(g.variants["variant"].map(len))
    assert v.loc[3, "median_throughput_s"] == 4 * H  # from the first start 09:00 to 13:00
    assert v.loc[2, "median_throughput_s"] == 1 * H  # c2: the first event has no start → its completion
    # all engines agree here too, also in working time
    cal = sm.BusinessCalendar(hours=("10:00", "17:00"))
    ref = sm.discover(log, calendar=cal)
    assert ref.nodes.set_index("activity").loc["X", "service_median_s"] == 0.0  # 09:00–10:00 is before hours
    for engine in ("pandas", "duckdb"):
        other = sm.discover(log, calendar=cal, backend=engine)
        pd.testing.assert_frame_equal(other.nodes, ref.nodes)
        pd.testing.assert_frame_equal(other.edges, ref.edges)
        pd.testing.assert_frame_equal(other.variants, ref.variants)


def test_hand_log_equals_pm4py_on_the_raw_rows(hand: sm.EventLog) -> None:
    import pm4py

    # pm4py gets the rows in source order (c4 out of time order, the C/B tie in c1): its stable
    # sort by (case, timestamp) keeps ties in source order, as our source_row does
    raw = HAND.rename(columns={"deal": CASE, "stage": ACTIVITY, "at": TIMESTAMP})
    raw[TIMESTAMP] = pd.to_datetime(raw[TIMESTAMP], utc=True)
    g = sm.discover(hand)
    dfg, _, _ = pm4py.discover_dfg(raw.copy())
    assert {(s, t): c for s, t, c in g.edges[["source", "target", "count"]].itertuples(index=False)} == dfg
    # pm4py's start/end activities take the rows as given (c4 would "start" at D): sort first
    formatted = pm4py.format_dataframe(raw.copy(), case_id=CASE, activity_key=ACTIVITY, timestamp_key=TIMESTAMP)
    _, starts, ends = pm4py.discover_dfg(formatted)
    assert (g.start_activities, g.end_activities) == (starts, ends)
    perf, _, _ = pm4py.discover_performance_dfg(raw.copy())
    e = g.edges.set_index(["source", "target"])
    for pair, stats in perf.items():
        assert [e.loc[pair, f"wait_{k}_s"] for k in ("mean", "median", "max", "min")] == pytest.approx(
            [stats[k] for k in ("mean", "median", "max", "min")], abs=1e-9
        )
    assert dict(zip(g.variants["variant"], g.variants["count"], strict=True)) == pm4py.get_variants(formatted)


# --- abstraction ----------------------------------------------------------------------------
def test_activity_coverage_bridges_hidden_activities(hand: sm.EventLog) -> None:
    # events: A 4, B 4, D 3, C 1 of 12; 90 % coverage is reached with D (11/12) → C is hidden
    g = sm.discover(hand, activity_coverage=0.9)
    assert set(g.nodes["activity"]) == {"A", "B", "D"}
    assert g.hidden_nodes.to_dict("records") == [{"activity": "C", "events": 1, "cases": 1}]
    ab = _edge(g, "A", "B")  # c1's A → C → B now shows as A → B, waiting 1 h to B
    assert (ab["count"], ab["bridged"], ab["cases"]) == (3, 1, 3)
    assert ab["wait_max_s"] == 6 * H and ab["wait_min_s"] == 0.5 * H and ab["wait_median_s"] == 1 * H
    a = g.abstraction
    assert (a.hidden_activities, a.hidden_events, a.bridged_transitions, a.hidden_cases) == (1, 1, 1, 0)
    assert a.hidden_event_share == 1 / 12 and a.is_abstracted
    # C's two paths (A → C, C → B) are not drawn; A → B is drawn (bridged)
    assert (a.total_activities, a.total_paths, a.hidden_paths) == (4, 5, 2)
    assert "1 of 4 activities (8.3% of events) and 2 of 5 paths" in a.describe() and "hidden" in repr(g)
    assert a.describe().endswith("draw everything with coverage=1.0 (--coverage 1)")
    # the shown counts are not lost: shown + hidden events = all events
    assert g.nodes["events"].sum() + g.hidden_nodes["events"].sum() == hand.n_events
    # min_activity_count gives the same cut here
    assert set(sm.discover(hand, min_activity_count=2).nodes["activity"]) == {"A", "B", "D"}
    # variants always describe the whole log
    assert g.variants["variant"].tolist() == sm.discover(hand).variants["variant"].tolist()


def test_hiding_the_only_activity_of_a_case() -> None:
    df = HAND.assign(stage=HAND["stage"].where(HAND["deal"] != "c3", "Q"))
    log = sm.from_dataframe(df, case="deal", activity="stage", timestamp="at")
    g = sm.discover(log, min_activity_count=2)
    assert g.hidden_nodes["activity"].tolist() == ["C", "Q"]
    assert g.abstraction.hidden_cases == 1  # c3 has nothing left to show
    assert "1 cases with no shown activity" in g.abstraction.describe()
    assert sum(g.start_activities.values()) == 3


def test_edge_thresholds_and_connectivity(hand: sm.EventLog) -> None:
    g = sm.discover(hand, min_edge_count=2, keep_connected=False)
    assert set(zip(g.edges["source"], g.edges["target"], strict=True)) == {("B", "D"), ("A", "B")}
    hidden = g.hidden_edges
    assert list(hidden.columns) == ["source", "target", "count", "cases"]
    assert set(zip(hidden["source"], hidden["target"], strict=True)) == {("A", "C"), ("B", "B"), ("C", "B")}
    assert (g.abstraction.hidden_edges, g.abstraction.hidden_transitions, g.abstraction.total_transitions) == (3, 3, 8)
    assert g.edges["count"].sum() + hidden["count"].sum() == 8
    # keep_connected keeps C's only paths; B's strongest in/out are A→B and B→D, so B→B goes
    kept = sm.discover(hand, min_edge_count=2)
    assert set(zip(kept.hidden_edges["source"], kept.hidden_edges["target"], strict=True)) == {("B", "B")}
    # coverage: 3/8, 5/8 ≥ 0.5 → the two most frequent paths; ties at the boundary are kept
    cov = sm.discover(hand, edge_coverage=0.5, keep_connected=False)
    assert set(zip(cov.edges["source"], cov.edges["target"], strict=True)) == {("B", "D"), ("A", "B")}
    assert len(sm.discover(hand, edge_coverage=0.7, keep_connected=False).edges) == 5  # 6/8: all 1-count ties
    assert not sm.discover(hand).abstraction.is_abstracted


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"activity_coverage": 1.5}, ValueError),
        ({"edge_coverage": -0.1}, ValueError),
        ({"min_edge_count": -1}, ValueError),
        ({"min_activity_count": 1.5}, ValueError),
        ({"calendar": "Mon-Fri"}, TypeError),
        ({"backend": "spark"}, sm.EngineError),
    ],
)
def test_bad_options(hand: sm.EventLog, kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        sm.discover(hand, **kwargs)  # type: ignore[arg-type]


# --- protocol -------------------------------------------------------------------------------
def test_protocol(hand: sm.EventLog) -> None:
    before = hand._events.copy()
    g = sm.discover(hand)
    pd.testing.assert_frame_equal(hand._events, before)  # the input is untouched
    assert repr(g) == "<ProcessGraph: 4 activities, 5 edges, 4 cases, 3 variants>"
    assert "\n" not in repr(sm.discover(hand, min_edge_count=2, calendar=sm.BusinessCalendar()))
    pd.testing.assert_frame_equal(g.to_frame(), g.edges)
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.n_cases = 3  # type: ignore[misc]
    e = g.edges
    e.loc[0, "count"] = 999
    assert g.edges.loc[0, "count"] == 3  # accessors hand out copies
    html = g._repr_html_()
    assert "ProcessGraph" in html and "B → D" in html and "18h" in html


def test_html_escapes_activity_names() -> None:
    df = HAND.assign(stage=HAND["stage"].replace({"C": "<script>x</script>"}))
    g = sm.discover(sm.from_dataframe(df, case="deal", activity="stage", timestamp="at"))
    html = g._repr_html_()
    # the map's own scripts (pan-zoom, glue, JSON data block) aside, no script
    own = re.sub(
        r'<script type="application/json" class="sm-map-data">[^<]*</script>', "", html.replace(assets_html(), "")
    )
    assert "<script" not in own and "&lt;script&gt;" in html


def test_to_networkx(hand: sm.EventLog) -> None:
    g = sm.discover(hand)
    d = g.to_networkx()
    assert isinstance(d, nx.DiGraph)
    assert set(d.nodes) == {"A", "B", "C", "D"} and d.number_of_edges() == 5
    assert d.has_edge("B", "B")  # the self-loop
    assert d.edges["B", "D"]["count"] == 3 and d.edges["B", "D"]["wait_median_s"] == 18 * H
    assert d.nodes["A"]["starts"] == 4 and d.nodes["D"]["ends"] == 3
    assert d.graph["start_activities"] == {"A": 4} and d.graph["n_cases"] == 4
    assert sum(c for *_, c in d.edges(data="count")) == g.edges["count"].sum()


# --- engines --------------------------------------------------------------------------------
def _assert_same(a: sm.ProcessGraph, b: sm.ProcessGraph) -> None:
    pd.testing.assert_frame_equal(a.nodes, b.nodes, check_exact=True)
    pd.testing.assert_frame_equal(a.edges, b.edges, check_exact=True)
    pd.testing.assert_frame_equal(a.variants, b.variants, check_exact=True)
    pd.testing.assert_frame_equal(a.hidden_edges, b.hidden_edges, check_exact=True)
    assert a.abstraction == b.abstraction


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_engines_identical_on_hand_log(hand: sm.EventLog, engine: str) -> None:
    for kwargs in ({}, {"activity_coverage": 0.9, "min_edge_count": 2}, {"calendar": sm.BusinessCalendar()}):
        _assert_same(sm.discover(hand, **kwargs), sm.discover(hand, backend=engine, **kwargs))  # type: ignore[arg-type]


@pytest.mark.real_logs
def test_engines_identical_on_bpic2012_sample(bpic2012: sm.EventLog) -> None:
    sample = bpic2012.filter(cases=bpic2012.cases[CASE].iloc[::5])  # ~2,600 cases, ~50k events
    ref = sm.discover(sample, activity_coverage=0.95)
    assert ref.abstraction.hidden_activities > 0 and ref.abstraction.bridged_transitions > 0
    for engine in ("pandas", "duckdb"):
        _assert_same(ref, sm.discover(sample, backend=engine, activity_coverage=0.95))


# --- pm4py on BPIC 2012 ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def bpic_graph(bpic2012: sm.EventLog) -> sm.ProcessGraph:
    return sm.discover(bpic2012)


@pytest.mark.real_logs
def test_bpic2012_dfg_equals_pm4py(bpic_graph: sm.ProcessGraph, bpic2012_pm4py: pd.DataFrame) -> None:
    import pm4py

    # pm4py sorts by (case, timestamp) with a stable sort: ties keep file order = our source_row
    df = bpic2012_pm4py.copy()  # pm4py adds a column to the frame it is given
    dfg, starts, ends = pm4py.discover_dfg(df)
    ours = {(s, t): c for s, t, c in bpic_graph.edges[["source", "target", "count"]].itertuples(index=False)}
    assert ours == dfg
    assert bpic_graph.start_activities == starts
    assert bpic_graph.end_activities == ends
    events = df.groupby(ACTIVITY).size().to_dict()
    assert bpic_graph.nodes.set_index("activity")["events"].to_dict() == events
    assert bpic_graph.nodes.set_index("activity")["cases"].to_dict() == df.groupby(ACTIVITY)[CASE].nunique().to_dict()


@pytest.mark.real_logs
def test_bpic2012_performance_equals_pm4py(bpic_graph: sm.ProcessGraph, bpic2012_pm4py: pd.DataFrame) -> None:
    import pm4py

    perf, _, _ = pm4py.discover_performance_dfg(bpic2012_pm4py.copy())
    e = bpic_graph.edges.set_index(["source", "target"])
    assert set(perf) == set(e.index)
    ours = {s: f"wait_{s}_s" for s in ("mean", "median", "max", "min")} | {"sum": "wait_total_s"}
    for pair, stats in perf.items():
        for theirs, col in ours.items():
            # pm4py sums float seconds; we sum exact microseconds: equal far below a second
            assert e.loc[pair, col] == pytest.approx(stats[theirs], rel=1e-12, abs=1e-6), (pair, theirs)


@pytest.mark.real_logs
def test_bpic2012_variants_equal_pm4py(bpic_graph: sm.ProcessGraph, bpic2012_pm4py: pd.DataFrame) -> None:
    import pm4py

    df = pm4py.format_dataframe(bpic2012_pm4py.copy(), case_id=CASE, activity_key=ACTIVITY, timestamp_key=TIMESTAMP)
    theirs = pm4py.get_variants(df)
    v = bpic_graph.variants
    assert dict(zip(v["variant"], v["count"], strict=True)) == theirs
    assert v["count"].sum() == bpic_graph.n_cases and v["share"].sum() == pytest.approx(1.0)
    # throughput per variant from first to last event, cross-checked on the most frequent variant
    top = v.iloc[0]
    first = df.groupby(CASE)[TIMESTAMP].agg(["min", "max"])
    ids = df.groupby(CASE)[ACTIVITY].agg(tuple)
    members = first[ids.map(lambda t: tuple(t) == top["variant"]).astype(bool)]
    assert top["median_throughput_s"] == (members["max"] - members["min"]).dt.total_seconds().median()


def test_discoverer_abstracts_one_flow_exactly_as_discover() -> None:
    from pathlib import Path

    from salesmining.analysis.discover import discoverer
    from salesmining.core.errors import OptionError

    samples = Path(__file__).resolve().parents[1] / "sample_logs"
    log = sm.read_csv(samples / "opportunities.csv", case="Opportunity ID", activity="Activity", timestamp="Timestamp")
    flow = discoverer(log)  # the flow once, then one abstraction per call
    for options in (
        {},
        {"activity_coverage": 0.8, "edge_coverage": 0.7},
        {"keep_activities": ["Lead", "Contact", "Needs Analysis"], "max_activities": 5, "max_edges": 10},
        {"max_activities": 4, "min_edge_count": 3, "keep_connected": False},
    ):
        got, want = flow(**options), sm.discover(log, **options)  # type: ignore[arg-type]
        _assert_same(got, want)
        pd.testing.assert_frame_equal(got.hidden_nodes, want.hidden_nodes, check_exact=True)
        assert got.to_dict() == want.to_dict()
    with pytest.raises(OptionError):
        flow(activity_coverage=1.5)
