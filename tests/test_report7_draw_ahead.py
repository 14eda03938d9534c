"""report7: map layouts started ahead (draw_ahead, Diagnosis._draw_ahead) give the very drawing made
without them, each layout run once, in the background."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

import salesmining as sm
from salesmining.present import graphviz_run
from salesmining.present import maps as _maps

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
KW = {"case": "Opportunity ID", "activity": "Activity", "timestamp": "Timestamp", "resource": "Owner"}
pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def _spy_dot_runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every ``dot`` run from now on: (thread name, source), each still run for real."""
    real = subprocess.run
    seen: list[tuple[str, str]] = []

    def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        if cmd and cmd[0] == "dot":
            seen.append((threading.current_thread().name, bytes(kw["input"]).decode("utf-8")))  # type: ignore[call-overload]
        return real(cmd, **kw)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(graphviz_run.subprocess, "run", run)
    graphviz_run.clear_cache()
    _maps._DRAWINGS.clear()
    return seen


def _dot_svg(source: str) -> str:
    """The SVG of ``dot`` run directly on a source (declaration dropped, as maps do)."""
    out = subprocess.run(["dot", "-Tsvg"], input=source.encode("utf-8"), capture_output=True, check=True)
    return _maps.strip_declaration(out.stdout.decode("utf-8"))


@pytest.fixture()
def sample() -> sm.Diagnosis:
    return sm.diagnose(sm.read_csv(SAMPLES / "opportunities.csv", **KW), SAMPLES / "stages.yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"legend": False},
        {"view": "performance", "stat": "p90", "legend": False},
        {"rankdir": "LR"},
        {"rankdir": "TB", "max_edges": 5},
    ],
)
def test_draw_ahead_then_draw_map_is_the_sequential_drawing(
    monkeypatch: pytest.MonkeyPatch, sample: sm.Diagnosis, options: dict[str, object]
) -> None:
    g, stages = sample.graph, sample.stages
    seen = _spy_dot_runs(monkeypatch)
    plain = _maps.draw_map(g, stages=stages, **options)
    assert plain.svg is not None and plain.dot is not None
    sequential = [s for _, s in seen]
    # the map's own source through dot, run here: the same picture
    assert plain.svg == _dot_svg(plain.dot.source)
    seen = _spy_dot_runs(monkeypatch)
    _maps.draw_ahead(g, stages=stages, **options)
    assert len(seen) <= 1
    ahead = _maps.draw_map(g, stages=stages, **options)
    assert ahead.to_dict() == plain.to_dict()
    # the same layouts, none twice; the first one in the background
    assert [s for _, s in seen] == sequential
    assert seen[0][0].startswith("salesmining-dot")


def test_draw_ahead_of_a_drawn_map_or_bad_options_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, sample: sm.Diagnosis
) -> None:
    g, stages = sample.graph, sample.stages
    seen = _spy_dot_runs(monkeypatch)
    _maps.draw_map(g, stages=stages, legend=False)
    runs = len(seen)
    _maps.draw_ahead(g, stages=stages, legend=False)
    _maps.draw_ahead(g, stages=stages, view="nonsense")
    _maps.draw_ahead(g, stages=stages, rankdir="sideways")
    assert len(seen) == runs


def test_diagnosis_report_with_layouts_ahead_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    log = sm.read_csv(SAMPLES / "opportunities.csv", **KW)  # type: ignore[arg-type]
    seen = _spy_dot_runs(monkeypatch)
    plain = sm.diagnose(log, SAMPLES / "stages.yaml")
    plain_ctx = _context(plain, ahead=False)
    sequential = sorted(s for _, s in seen)
    seen = _spy_dot_runs(monkeypatch)
    d = sm.diagnose(log, SAMPLES / "stages.yaml")
    d._draw_ahead()  # as the command line does, before the findings
    ctx = _context(d, ahead=True)
    assert repr(ctx) == repr(plain_ctx)  # (repr: the findings hold NaN)
    assert ctx["graph_svg"] and ctx["perf_svg"]
    assert sorted(s for _, s in seen) == sequential  # the same layouts, each once
    assert all(name.startswith("salesmining-dot") for name, _ in seen)  # all run in the background


def _context(d: sm.Diagnosis, *, ahead: bool) -> dict[str, object]:
    from salesmining.diagnosis import context

    if not ahead:
        object.__setattr__(d, "_draw_ahead", None)  # as a view without layouts ahead
    out = context.diagnosis_context(d)
    return {k: out[k] for k in sorted(out) if k not in ("generated", "log", "stages", "quality", "fit")}
