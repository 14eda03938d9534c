"""Process maps: deterministic DOT, hostile labels, overlays, legibility at 40 activities, no dot."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import salesmining as sm
from salesmining.present import maps as _render

ROOT = Path(__file__).resolve().parents[1]
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _log(rows: list[tuple[str, str, float]]) -> sm.EventLog:
    df = pd.DataFrame([{"id": c, "act": a, "t": T0 + pd.Timedelta(hours=h)} for c, a, h in rows])
    return sm.from_dataframe(df, case="id", activity="act", timestamp="t")


SMALL = _log(
    [
        ("1", "Lead", 0),
        ("1", "Offer", 24),
        ("1", "Won", 48),
        ("2", "Lead", 0),
        ("2", "Offer", 2),
        ("2", "Lead", 3),
        ("2", "Offer", 30),
        ("2", "Lost", 31),
        ("3", "Lead", 0),
        ("3", "Won", 5),
    ]
)
MODEL = sm.StageModel(["Lead", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]})


def test_dot_snapshot_of_a_hand_worked_log() -> None:
    dot = _render.process_map(sm.discover(SMALL), title="t")
    src = dot.source
    lead, offer, won = (_render.node_id(a) for a in ("Lead", "Offer", "Won"))
    # every directly-follows pair with its count as the label, in a fixed order
    edges = re.findall(r"^\t(\w+) -> (\w+) \[label=<([^>]*)>", src, flags=re.M)
    assert (lead, offer, "3") in edges and (offer, lead, "1") in edges and (offer, won, "1") in edges
    assert (lead, won, "1") in edges
    assert ("__start__", lead, "3") in edges
    assert src.count(" -> ") == 5 + 1 + 2  # 5 transitions, 1 start edge, 2 end edges (Won 2, Lost 1)
    # performance view labels say which statistic, edges carry the exact median of Lead → Offer (24 h, 2 h, 27 h)
    perf = _render.process_map(sm.discover(SMALL), view="performance", stat="median").source
    assert "median wait between activities" in perf
    assert re.search(rf"{lead} -> {offer} \[label=<1\.0 d>", perf)
    assert re.search(rf"{offer} -> {lead} \[label=<1\.0 h>", perf)
    with pytest.raises(ValueError, match="stat must be one of"):
        _render.process_map(sm.discover(SMALL), view="performance", stat="mode")


SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("frequency", {}), ("performance_p90", {"view": "performance", "stat": "p90"}), ("overlay", {"stages": MODEL})],
)
def test_dot_matches_committed_snapshot(name: str, kwargs: dict) -> None:  # type: ignore[type-arg]
    """Set SALESMINING_UPDATE_SNAPSHOTS=1 to rewrite the files after an intended change, then review the diff."""
    import os

    src = _render.process_map(sm.discover(SMALL), title="snapshot", **kwargs).source
    path = SNAPSHOTS / f"small_{name}.dot"
    if os.environ.get("SALESMINING_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(src, encoding="utf-8")
    assert src == path.read_text(encoding="utf-8")


def test_same_input_same_dot_and_ids_derive_from_content() -> None:
    a = _render.process_map(sm.discover(SMALL), stages=MODEL).source
    b = _render.process_map(sm.discover(SMALL), stages=MODEL).source
    assert a == b
    shuffled = sm.from_dataframe(
        SMALL.to_frame().sample(frac=1, random_state=3).drop(columns="source_row"),
        case="case:concept:name",
        activity="concept:name",
        timestamp="time:timestamp",
    )
    assert _render.process_map(sm.discover(shuffled), stages=MODEL).source == a
    assert _render.node_id("Lead") == _render.node_id("Lead") != _render.node_id("Lead ")


@needs_dot
def test_svg_is_byte_identical_across_runs() -> None:
    dot = _render.process_map(sm.discover(SMALL), stages=MODEL)
    assert _render.render_bytes(dot, "svg") == _render.render_bytes(dot, "svg")


HOSTILE = [
    'say "hi"',
    "back\\slash",
    "<b>bold</b>",
    "{a|b}",
    "two\nlines",
    "<script>alert(1)</script>",
    "&amp; x",
    "报价与谈判",
    "Negociación",
]


@needs_dot
def test_hostile_labels_render_as_text() -> None:
    rows = [(str(i), a, float(j)) for i in range(2) for j, a in enumerate(HOSTILE)]
    log = _log(rows)
    dot = _render.process_map(sm.discover(log))
    svg = _render.render_bytes(dot, "svg").decode("utf-8")
    assert "<script>" not in svg and "<b>bold</b>" not in svg
    texts = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    import html

    plain = html.unescape(texts)
    for label in [
        'say "hi"',
        "back\\slash",
        "<b>bold</b>",
        "{a|b}",
        "<script>alert(1)</script>",
        "&amp; x",
        "报价与谈判",
        "Negociación",
    ]:
        # long names are wrapped onto lines at spaces and slashes: compare without the breaks
        assert label.replace(" ", "") in plain.replace(" ", ""), label
    assert "two lines" in plain  # a newline in a name becomes a space
    # the DOT source itself stays valid: dot parses it without error
    res = subprocess.run(["dot", "-Tsvg"], input=dot.source.encode("utf-8"), capture_output=True, check=False)
    assert res.returncode == 0, res.stderr


def test_intended_path_overlay_marks_skips_and_backward_moves() -> None:
    model = sm.StageModel(
        ["Lead", "Contact", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]}, approvals={"Discount OK": "Offer"}
    )
    log = _log(
        [
            ("1", "Lead", 0),
            ("1", "Offer", 1),
            ("1", "Discount OK", 2),
            ("1", "Won", 3),
            ("2", "Lead", 0),
            ("2", "Contact", 1),
            ("2", "Offer", 2),
            ("2", "Contact", 3),
            ("2", "Offer", 4),
            ("2", "Audit", 5),
            ("2", "Lost", 6),
        ]
    )
    src = _render.process_map(sm.discover(log), stages=model).source
    lead, contact, offer = (_render.node_id(a) for a in ("Lead", "Contact", "Offer"))
    assert re.search(rf"{lead} -> {offer} \[[^\]]*skips 1[^\]]*style=dashed", src)
    assert re.search(rf"{offer} -> {contact} \[[^\]]*back[^\]]*constraint=false", src)
    # the straight spine: the stage-to-next-stage transition is heavy; where none was seen, an invisible edge
    assert re.search(rf'{lead} -> {contact} \[[^\]]*class="sm-edge sm-spine"[^\]]*weight=20', src)
    won = _render.node_id("Won")
    assert re.search(rf"{offer} -> {won} \[style=invis weight=10\]", src)  # the outcomes at the spine's end
    assert "cluster_approvals_" in src and "cluster_outside_model" in src
    audit = _render.node_id("Audit")
    outside = src[src.index("cluster_outside_model") :]
    assert audit in outside.split("}")[0]


def test_finding_badges_and_top_highlight() -> None:
    model = sm.StageModel(["Lead", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]}, sla={"Lead": "1h"})
    rows = []
    for i in range(10):
        rows += [(str(i), "Lead", 0), (str(i), "Offer", 30 if i < 5 else 0.5), (str(i), "Won", 40)]
    log = _log(rows)
    f = sm.find_bottlenecks(log, model)
    top = f.to_frame().iloc[0]
    assert (top["kind"], top["where"]) == ("slow_response", "Lead → Offer")
    src = _render.process_map(sm.discover(log), stages=model, findings=f).source
    assert "#1 slow response 50%" in src
    lead, offer = _render.node_id("Lead"), _render.node_id("Offer")
    assert re.search(rf"{lead} -> {offer} \[[^\]]*color=\"#b00020\"", src)
    assert "Legend" in src


@needs_dot
def test_forty_activities_stay_legible(tmp_path: Path) -> None:
    rows = []
    for c in range(60):
        for k in range(40):
            if k < 12 or (c + k) % 9 == 0:
                rows.append((str(c), f"Activity {k:02d}", float(c * 100 + k)))
    log = _log(rows)
    full = sm.discover(log)
    assert len(full.nodes) == 40
    d = sm.diagnose(
        log,
        sm.StageModel([f"Activity {k:02d}" for k in range(4)], outcomes={"won": ["x"], "lost": ["y"]}),
        max_activities=20,
    )
    g = d.graph
    assert len(g.nodes) <= 20 and g.abstraction.is_abstracted and g.abstraction.hidden_activities >= 20
    svg = _render.render_bytes(_render.process_map(g), "svg").decode("utf-8")
    width, height = (float(x) for x in re.search(r'viewBox="0(?:\.00)? 0(?:\.00)? ([\d.]+) ([\d.]+)"', svg).groups())
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert min(sizes) >= 8.0  # labels are drawn at a readable size ...
    assert width < 4000 and height < 4000  # ... on a canvas that fits a screen at 100% zoom
    assert "hidden" in svg or "hid" in svg  # the map says what the abstraction left out


def test_without_dot_the_source_stays_and_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dot = _render.process_map(sm.discover(SMALL))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert "digraph" in dot.source
    with pytest.raises(sm.RenderError, match="apt-get install graphviz"):
        _render.write_graph(dot, tmp_path / "x.svg")
    _render.write_graph(dot, tmp_path / "x.dot")  # DOT needs no dot program
    assert (tmp_path / "x.dot").read_text(encoding="utf-8") == dot.source


@needs_dot
def test_write_formats(tmp_path: Path) -> None:
    dot = _render.process_map(sm.discover(SMALL))
    assert _render.write_graph(dot, tmp_path / "m.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert _render.write_graph(dot, tmp_path / "m.png", dpi=50).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _render.write_graph(dot, tmp_path / "m.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="unsupported graph format"):
        _render.write_graph(dot, tmp_path / "m.gif")


@needs_dot
def test_process_graph_draws_itself(tmp_path: Path) -> None:
    g = sm.discover(SMALL)
    assert g.to_dot(stages=MODEL).source == _render.process_map(g, stages=MODEL).source
    assert g.write_svg(tmp_path / "a.svg").read_text(encoding="utf-8").count("<svg") == 1
    assert g.write_png(tmp_path / "a.png", dpi=40).read_bytes()[:4] == b"\x89PNG"
    assert g.write_pdf(tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"
    html = g._repr_html_()
    assert html.count("<svg") == 1 and html.index("<svg") < html.index("activities")


def test_process_graph_display_without_dot_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    g = sm.discover(SMALL)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    html = g._repr_html_()
    assert "apt-get install graphviz" in html and "<svg" not in html


def test_working_time_maps_say_working_time() -> None:
    """Eight 8-hour working days (Mon 09:00 → Thu of the next week 09:00) are 64 working hours, not "2.7 d"."""
    cal = sm.BusinessCalendar()  # Monday to Friday, 09:00-17:00 UTC; T0 is Monday 2024-01-01 00:00
    log = _log([(str(c), a, 9 + h) for c in range(2) for a, h in (("Lead", 0.0), ("Offer", 240.0), ("Won", 241.0))])
    g = sm.discover(log, calendar=cal)
    assert g.time_unit == "working time"
    src = _render.process_map(g, view="performance", stages=MODEL).source
    lead, offer = _render.node_id("Lead"), _render.node_id("Offer")
    assert re.search(rf"{lead} -> {offer} \[label=<64\.0 working h>", src)
    assert "2.7 d" not in src
    assert "durations in working time" in src  # the subtitle
    assert "median wait in working time" in src  # the legend
    # without a calendar the same wait is ten calendar days, and nothing says working time
    plain = _render.process_map(sm.discover(log), view="performance", stages=MODEL).source
    assert re.search(rf"{lead} -> {offer} \[label=<10\.0 d>", plain) and "working" not in plain


def test_badges_are_placed_by_the_place_columns_not_by_parsing_where() -> None:
    """A stage whose name contains the arrow of ``where`` still gets its node badge (with time lost)."""
    odd = "Offer → sent"
    model = sm.StageModel(["Lead", odd], outcomes={"won": ["Won"], "lost": ["Lost"]}, sla={odd: "1h"})
    rows = []
    for i in range(10):
        rows += [(str(i), "Lead", 0), (str(i), odd, 1), (str(i), "Won", 30 if i < 5 else 1.5)]
    log = _log(rows)
    f = sm.find_bottlenecks(log, model)
    top = f.to_frame().iloc[0]
    assert (top["kind"], top["activity"], top["from_activity"]) == ("long_wait", odd, None)
    src = _render.process_map(sm.discover(log), stages=model, findings=f).source
    node = _render.node_id(odd)
    label = re.search(rf"^\t{node} \[label=<(.*)>", src, flags=re.M)
    assert label is not None and "#1 long wait 50% · " in label.group(1) and "d lost" in label.group(1)
    assert re.search(rf"^\t{node} \[.*color=\"#b00020\"", src, flags=re.M)  # the top finding's node


def test_bad_options_are_option_errors() -> None:
    from salesmining.core.errors import OptionError

    g = sm.discover(SMALL)
    with pytest.raises(OptionError, match="view must be one of"):
        _render.process_map(g, view="sideways")
    with pytest.raises(OptionError, match="stat must be one of"):
        _render.process_map(g, view="performance", stat="mode")
    with pytest.raises(OptionError, match="unsupported graph format"):
        _render.write_graph(_render.process_map(g), "m.gif")
