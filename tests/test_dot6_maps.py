"""The map's second direction made by turning the first (not built again), the graph read once
per map, and a drawing asked for with or without its defaults spelled out drawn once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import salesmining as sm
from salesmining.present import graphviz_run
from salesmining.present import maps as _maps

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
KW = {"case": "Opportunity ID", "activity": "Activity", "timestamp": "Timestamp", "resource": "Owner"}


@pytest.fixture(scope="module")
def sample() -> sm.Diagnosis:
    return sm.diagnose(sm.read_csv(SAMPLES / "opportunities.csv", **KW), SAMPLES / "stages.yaml")  # type: ignore[arg-type]


def _options(d: sm.Diagnosis) -> list[dict[str, object]]:
    return [
        {},
        {"stages": d.stages},
        {"stages": d.stages, "findings": d.findings, "legend": False},
        {"view": "performance", "stat": "p90", "stages": d.stages, "findings": d.findings},
        {"stages": d.stages, "max_edges": 8, "title": 'a "title" <b>'},
    ]


@pytest.mark.parametrize("which", range(5))
@pytest.mark.parametrize("first", ["LR", "TB"])
def test_a_turned_map_is_the_map_built_in_the_other_direction(sample: sm.Diagnosis, which: int, first: str) -> None:
    options = _options(sample)[which]
    other = "TB" if first == "LR" else "LR"
    stages = options.get("stages")
    layout = _maps._Layout.of(stages, sample.graph)  # type: ignore[arg-type]
    read = _maps._GraphRead.of(sample.graph)
    turns: list[_maps._Turn] = []
    built = _maps._build(
        read,
        str(options.get("view", "frequency")),
        str(options.get("stat", "median")),
        stages,  # type: ignore[arg-type]
        options.get("findings"),  # type: ignore[arg-type]
        options.get("title"),  # type: ignore[arg-type]
        first,
        60,
        bool(options.get("legend", True)),
        options.get("max_edges"),  # type: ignore[arg-type]
        layout,
        turns,
    )
    fresh = {d: _maps.process_map(sample.graph, rankdir=d, **options).source for d in ("LR", "TB")}  # type: ignore[arg-type]
    assert built.source == fresh[first]
    turned = _maps._turned(built, turns, other)
    assert turned.source == fresh[other] != fresh[first]
    assert _maps._turned(turned, turns, first).source == fresh[first]
    assert built.source == fresh[first]  # the first map is left as it was
    if stages is not None and "max_edges" not in options:  # skips and moves back turn too, not only the rankdir
        assert len(turns) > 1
        assert "tailport=n" in fresh["LR"] and "tailport=e" in fresh["TB"]


def test_the_graph_read_once_holds_what_the_graph_says(sample: sm.Diagnosis) -> None:
    g = sample.graph
    read = _maps._GraphRead.of(g)
    pd.testing.assert_frame_equal(read.nodes, g.nodes)
    pd.testing.assert_frame_equal(read.edges, g.edges)
    assert read.start_activities == g.start_activities and read.end_activities == g.end_activities
    assert (read.n_cases, read.n_events, read.time_unit) == (g.n_cases, g.n_events, g.time_unit)
    nodes = g.nodes
    expected = max(int(g.edges["count"].max()), int(nodes["starts"].max()), int(nodes["ends"].max()), 1)
    assert read.max_count == expected == _maps._max_count(g)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_a_drawing_asked_for_with_its_defaults_spelled_out_is_drawn_once(
    monkeypatch: pytest.MonkeyPatch, sample: sm.Diagnosis
) -> None:
    graphviz_run.clear_cache()
    draws: list[object] = []
    real_draw = _maps._draw

    def draw(graph: object, options: dict[str, object]) -> _maps.MapDrawing:
        draws.append(options)
        return real_draw(graph, options)  # type: ignore[arg-type]

    monkeypatch.setattr(_maps, "_draw", draw)
    runs: list[bytes] = []
    real_run = subprocess.run

    def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        runs.append(bytes(kw.get("input") or b""))  # type: ignore[arg-type]
        return real_run(cmd, **kw)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(graphviz_run.subprocess, "run", run)
    g = sample.graph
    short = _maps.draw_map(g, view="performance", stages=sample.stages, legend=False)
    n_runs = len(runs)
    spelled = _maps.draw_map(g, view="performance", stat="median", stages=sample.stages, findings=None, legend=False)
    assert len(draws) == 1 and len(runs) == n_runs
    assert spelled.to_dict() == short.to_dict()
    other = _maps.draw_map(g, view="performance", stat="p90", stages=sample.stages, legend=False)
    assert len(draws) == 2 and other.svg != short.svg  # another option: drawn anew
    graphviz_run.clear_cache()
