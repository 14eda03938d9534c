"""Graphviz runs behind the maps: each drawing made once, a run started ahead waited for (never
repeated), and both directions of a large map laid out at once with exactly the sequential result."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import salesmining as sm
from salesmining.present import graphviz_run
from salesmining.present import maps as _maps

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
KW = {"case": "Opportunity ID", "activity": "Activity", "timestamp": "Timestamp", "resource": "Owner"}
pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def _count_dot_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ``dot`` run from now on (its source), each still run for real."""
    real = subprocess.run
    seen: list[str] = []

    def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        if cmd and cmd[0] == "dot":
            seen.append(bytes(kw["input"]).decode("utf-8"))  # type: ignore[arg-type]
        return real(cmd, **kw)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(graphviz_run.subprocess, "run", run)
    graphviz_run.clear_cache()
    return seen


@pytest.fixture(scope="module")
def sample() -> sm.Diagnosis:
    return sm.diagnose(sm.read_csv(SAMPLES / "opportunities.csv", **KW), SAMPLES / "stages.yaml")  # type: ignore[arg-type]


def test_a_drawing_is_made_once_per_graph_and_options(monkeypatch: pytest.MonkeyPatch, sample: sm.Diagnosis) -> None:
    g = sample.graph
    seen = _count_dot_runs(monkeypatch)
    first = _maps.draw_map(g, stages=sample.stages, findings=sample.findings, legend=False)
    runs = len(seen)
    assert first.svg is not None and runs >= 1
    again = _maps.draw_map(g, stages=sample.stages, findings=sample.findings, legend=False)
    assert len(seen) == runs  # remembered: no dot run, no new DOT built
    assert again.to_dict() == first.to_dict()
    assert again.dot is not None and first.dot is not None and again.dot is not first.dot
    first.dot.attr(label="changed by the caller")  # a caller's copy: the remembered drawing is unchanged
    third = _maps.draw_map(g, stages=sample.stages, findings=sample.findings, legend=False)
    assert third.dot is not None and third.dot.source == again.dot.source != first.dot.source
    # other options, another findings object or forgotten runs: drawn anew
    perf = _maps.draw_map(g, view="performance", stages=sample.stages, legend=False)
    assert perf.svg != first.svg and len(seen) > runs
    graphviz_run.clear_cache()
    runs = len(seen)
    redrawn = _maps.draw_map(g, stages=sample.stages, findings=sample.findings, legend=False)
    assert len(seen) > runs and redrawn.svg == first.svg


def test_a_run_started_ahead_is_waited_for_not_repeated(monkeypatch: pytest.MonkeyPatch, sample: sm.Diagnosis) -> None:
    source = _maps.process_map(sample.graph, stages=sample.stages, rankdir="TB").source
    seen = _count_dot_runs(monkeypatch)
    graphviz_run.run_dot_ahead(source, "svg")
    graphviz_run.run_dot_ahead(source, "svg")  # already under way: not started twice
    ahead = graphviz_run.run_dot(source, "svg")
    assert seen == [source]
    graphviz_run.clear_cache()
    assert graphviz_run.run_dot(source, "svg") == ahead and len(seen) == 2


@pytest.mark.parametrize("width_px", [1100.0, 300.0])  # the preferred direction kept; both compared
def test_both_directions_at_once_give_exactly_the_sequential_map(
    monkeypatch: pytest.MonkeyPatch, sample: sm.Diagnosis, width_px: float
) -> None:
    g = sample.graph
    seen = _count_dot_runs(monkeypatch)
    monkeypatch.setattr(_maps, "AHEAD_CHARS", 10**12)  # one direction after the other
    sequential = _maps.process_map(g, stages=sample.stages, width_px=width_px).source
    sequential_runs = list(seen)
    graphviz_run.clear_cache()
    seen.clear()
    monkeypatch.setattr(_maps, "AHEAD_CHARS", 0)  # every map counts as large: both directions at once
    at_once = _maps.process_map(g, stages=sample.stages, width_px=width_px).source
    graphviz_run.clear_cache()  # a run nobody needed may still be under way: forgotten, never remembered
    assert at_once == sequential
    assert len(set(seen)) == len(seen) == 2 and set(seen) >= set(sequential_runs)
    assert len(sequential_runs) == (1 if width_px == 1100.0 else 2)
