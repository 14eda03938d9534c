"""Maps a reader can read: text ≥ 10 px at the report's width, the spine kept, what is hidden said,
Graphviz's failures retried and then one quiet sentence, ids / classes / tooltips for reports."""

from __future__ import annotations

import html
import itertools
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.cli import main
from salesmining.present import graphviz_run
from salesmining.present import maps as _maps

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
XLINK = "{http://www.w3.org/1999/xlink}title"
SVG = "{http://www.w3.org/2000/svg}"
KW = {"case": "Opportunity ID", "activity": "Activity", "timestamp": "Timestamp", "resource": "Owner"}

# --- a generated 29-activity approval log (the shape that made Graphviz fail in init_rank) ----------
STAGES = ["Intake", "Review", "Budget check", "Approval", "Payment", "Archive"]
APPROVALS = {
    f"Approved by {who}": stage
    for stage, whos in {
        "Review": ["Admin", "Pre-approver", "Supervisor", "Team lead"],
        "Budget check": ["Budget owner", "Controller", "Finance", "CFO office"],
        "Approval": ["Director", "Board", "Legal", "Compliance"],
    }.items()
    for who in whos
}
ANYWHERE = ["Call", "E-mail", "Note"]
OUTSIDE = ["Rejected by Admin", "Rejected by Supervisor", "Rejected by Budget owner", "Rejected by Director"]
OUTSIDE += ["Saved", "Reopened"]
MODEL29 = sm.StageModel(
    STAGES, outcomes={"won": ["Paid"], "lost": ["Withdrawn"]}, approvals=APPROVALS, anywhere=ANYWHERE
)


def frame29(n_cases: int = 600, seed: int = 7) -> pd.DataFrame:
    """Cases walk the stages (10 % skip one), each stage's approvals at random, calls and e-mails
    anywhere, rejections and reopenings outside the model, some moves back; 29 activities."""
    rng = np.random.default_rng(seed)
    rows = []
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    for c in range(n_cases):
        t = t0 + pd.Timedelta(hours=int(rng.integers(0, 24 * 300)))
        seq = []
        for i, stage in enumerate(STAGES):
            if i and rng.random() < 0.1:
                continue
            seq.append(stage)
            seq += [a for a, s in APPROVALS.items() if s == stage and rng.random() < 0.5]
            if rng.random() < 0.3:
                seq.append(ANYWHERE[int(rng.integers(len(ANYWHERE)))])
            if rng.random() < 0.15:
                seq.append(OUTSIDE[int(rng.integers(len(OUTSIDE)))])
            if i and rng.random() < 0.08:
                seq.append(STAGES[int(rng.integers(i))])
        seq.append("Paid" if rng.random() < 0.7 else "Withdrawn")
        for a in seq:
            t = t + pd.Timedelta(minutes=int(rng.integers(10, 5000)))
            rows.append((f"R{c:04d}", a, t))
    return pd.DataFrame(rows, columns=["case", "activity", "ts"])


@pytest.fixture(scope="module")
def df29() -> pd.DataFrame:
    df = frame29()
    assert df["activity"].nunique() == 29
    return df


@pytest.fixture(scope="module")
def log29(df29: pd.DataFrame) -> sm.EventLog:
    return sm.from_dataframe(df29, case="case", activity="activity", timestamp="ts")


def _smallest_text_px(svg: str, width_px: float = 1100.0) -> float:
    """Independently of the library: the viewBox width and every font-size in the SVG."""
    root = ET.fromstring(svg)
    width = float(root.attrib["viewBox"].split()[2])
    sizes = [float(e.attrib["font-size"]) for e in root.iter(f"{SVG}text")]
    assert sizes, "the map has text"
    return min(sizes) * width_px / width


def _transitions(df: pd.DataFrame) -> pd.DataFrame:
    """Directly-follows pairs recounted with pandas (order by time, then input row)."""
    d = df.reset_index(drop=True).reset_index().sort_values(["case", "ts", "index"], kind="stable")
    d["next"] = d.groupby("case")["activity"].shift(-1)
    return d.dropna(subset=["next"]).groupby(["activity", "next"]).size().rename("count").reset_index()


# --- the 10-px rule -------------------------------------------------------------------------------
@needs_dot
@pytest.mark.parametrize(
    ("log_file", "stages_file"), [("opportunities.csv", "stages.yaml"), ("opportunities_zh.csv", "stages_zh.yaml")]
)
def test_sample_maps_read_at_ten_pixels(log_file: str, stages_file: str) -> None:
    log = sm.read_csv(SAMPLES / log_file, **KW)  # type: ignore[arg-type]
    d = sm.diagnose(log, SAMPLES / stages_file)
    for view, findings in (("frequency", d.findings), ("performance", None)):  # as the report draws them
        m = _maps.draw_map(d.graph, view=view, stages=d.stages, findings=findings, legend=False)
        assert m.svg is not None
        px = _smallest_text_px(m.svg)
        assert px >= 10.0, (log_file, view, px)
        assert m.text_px == pytest.approx(px)
    # the outcomes sit at the end of the spine, below (or after) its last stage, not off to the side
    svg = _maps.draw_map(d.graph, stages=d.stages, legend=False).svg
    assert svg is not None
    centre = _node_centres(svg)
    last, outcomes = d.stages.stages[-1], [*d.stages.won, *d.stages.lost]
    axis = 1 if _maps.draw_map(d.graph, stages=d.stages, legend=False).rankdir == "TB" else 0
    for o in outcomes:
        assert centre[_maps.node_id(o)][axis] > centre[_maps.node_id(last)][axis], o
    # the spine is straight: every stage on one line across the rank direction
    across = {round(centre[_maps.node_id(s)][1 - axis]) for s in d.stages.stages}
    assert len(across) == 1, across


def _node_centres(svg: str) -> dict[str, tuple[float, float]]:
    """Node id → centre of its outline (box, rounded box or circle), in SVG coordinates (y downwards)."""
    out = {}
    for g in ET.fromstring(svg).iter(f"{SVG}g"):
        if "node" not in g.attrib.get("class", "").split():
            continue
        for shape in g.iter():
            if shape.tag == f"{SVG}ellipse":
                out[g.attrib["id"]] = (float(shape.attrib["cx"]), float(shape.attrib["cy"]))
                break
            if shape.tag in (f"{SVG}path", f"{SVG}polygon"):
                nums = [
                    float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", shape.attrib.get("d") or shape.attrib["points"])
                ]
                xs, ys = nums[0::2], nums[1::2]
                out[g.attrib["id"]] = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
                break
    return out


@needs_dot
def test_a_three_node_map_reads_at_ten_pixels_and_lies_left_to_right() -> None:
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    df = pd.DataFrame(
        [(c, a, t0 + pd.Timedelta(hours=h)) for c in "xyz" for h, a in enumerate(["Lead", "Offer", "Won"])],
        columns=["case", "activity", "ts"],
    )
    g = sm.discover(sm.from_dataframe(df, case="case", activity="activity", timestamp="ts"))
    m = _maps.draw_map(g)
    assert m.svg is not None and m.rankdir == "LR"
    assert _smallest_text_px(m.svg) >= 10.0
    assert m.width_pt <= 1100  # no wider than the report's body at its natural size


@needs_dot
def test_the_29_activity_log_draws_abstracted_and_reads_at_ten_pixels(log29: sm.EventLog) -> None:
    d = sm.diagnose(log29, MODEL29)
    g = d.graph
    shown = set(g.nodes["activity"])
    assert {*STAGES, "Paid", "Withdrawn"} <= shown and len(shown) <= 15 and len(g.edges) <= 30
    m = _maps.draw_map(g, stages=MODEL29, findings=d.findings, legend=False)
    assert m.svg is not None and _smallest_text_px(m.svg) >= 10.0
    assert m.hidden.startswith("hidden: ") and "--coverage 1" in m.hidden
    assert m.hidden in html.unescape(" ".join(re.findall(r">([^<]+)</text>", m.svg))).replace("  ", " ") or (
        # the subtitle is broken onto lines: every word of it is drawn
        all(w in m.svg for w in ("hidden:", "activities", "paths", "--coverage"))
    )


# --- abstraction ----------------------------------------------------------------------------------
def test_abstraction_keeps_every_spine_stage_and_says_what_it_hid(df29: pd.DataFrame, log29: sm.EventLog) -> None:
    spine = [*STAGES, "Paid", "Withdrawn"]
    g = sm.discover(log29, keep_activities=spine, max_activities=12, max_edges=24)
    shown = set(g.nodes["activity"])
    assert set(spine) <= shown and len(shown) <= 12
    # recount with pandas: events per activity, the hidden ones, all paths of the log
    events = df29["activity"].value_counts()
    hidden = set(events.index) - shown
    a = g.abstraction
    assert a.hidden_activities == len(hidden) == 29 - len(shown)
    assert a.hidden_events == int(events[list(hidden)].sum())
    assert a.total_activities == 29 and a.total_events == len(df29)
    # activities as frequent as the first one that did not fit went out with it: every shown
    # activity outside the spine is more frequent than every hidden one
    others = [x for x in shown if x not in spine]
    assert min(events[others]) > max(events[list(hidden)])
    pairs = _transitions(df29)
    full = set(zip(pairs["activity"], pairs["next"], strict=True))
    drawn = set(zip(g.edges["source"], g.edges["target"], strict=True))
    assert a.total_paths == len(full) and a.hidden_paths == len(full - drawn)
    assert len(drawn) <= 24 or len(drawn) == len(set(_forced(g, spine)))
    # the spine's own transitions are kept
    for s, t in itertools.pairwise(STAGES):
        if ((pairs["activity"] == s) & (pairs["next"] == t)).any():
            assert (s, t) in drawn, (s, t)
    share = a.hidden_events / len(df29)
    text = a.describe()
    assert text == (
        f"hidden: {len(hidden)} of 29 activities ({share:.1%} of events) and {len(full - drawn)} of {len(full)} paths"
        " — draw everything with coverage=1.0 (--coverage 1)"
    )
    assert json.dumps(g.to_dict()["abstraction"])  # the structured form reports can show
    # the map says it in its subtitle
    src = _maps.process_map(g, stages=MODEL29, rankdir="TB").source
    assert f"{len(hidden)} of 29 activities" in src and "--coverage 1" in src


def _forced(g: sm.ProcessGraph, spine: list[str]) -> list[tuple[str, str]]:
    e = g.edges
    return [(s, t) for s, t in zip(e["source"], e["target"], strict=True) if s in spine and t in spine]


def test_without_a_model_the_budget_keeps_the_most_frequent_path() -> None:
    # the most frequent variant (3 of 6 cases) is A → Rare → B → A → C: its activities stay,
    # in first-visit order, though "Rare" is the least frequent activity of the log
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    paths = [["A", "Rare", "B", "A", "C"]] * 3 + [["A", "D", "E", "F", "C"], ["A", "D", "E", "G"], ["D", "E", "F"]]
    rows = [(f"c{i}", a, t0 + pd.Timedelta(hours=h)) for i, p in enumerate(paths) for h, a in enumerate(p)]
    df = pd.DataFrame(rows, columns=["case", "activity", "ts"])
    g = sm.discover(sm.from_dataframe(df, case="case", activity="activity", timestamp="ts"), max_activities=5)
    assert g.abstraction.kept_activities == ("A", "Rare", "B", "C")
    events = df["activity"].value_counts()
    assert events["Rare"] == 3 and events["G"] == 1 and events["D"] == 3
    # the spine's 4 plus one more: D, E and F have 3 events each, so all three go out together
    assert set(g.nodes["activity"]) == {"A", "Rare", "B", "C"} and g.abstraction.hidden_activities == 4


def test_no_budget_changes_nothing(log29: sm.EventLog) -> None:
    full = sm.discover(log29)
    assert len(full.nodes) == 29 and not full.abstraction.is_abstracted
    assert full.abstraction.total_paths == len(full.edges) and full.abstraction.hidden_paths == 0
    with pytest.raises(ValueError, match="max_activities"):
        sm.discover(log29, max_activities=-1)
    with pytest.raises(TypeError, match="list of activity names"):
        sm.discover(log29, keep_activities="Intake")  # type: ignore[arg-type]


# --- Graphviz failures ----------------------------------------------------------------------------
INIT_RANK = b"Error: trouble in init_rank\n\t%0 2\n\t%0 8\n" + b"\t%0 1\n" * 80


def _fake_dot(monkeypatch: pytest.MonkeyPatch, fails: object) -> list[str]:
    """Replace the dot run: ``fails(source)`` says whether this run fails like init_rank does."""
    real = subprocess.run
    seen: list[str] = []

    def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        if cmd and cmd[0] == "dot":
            source = bytes(kw["input"]).decode("utf-8")  # type: ignore[arg-type]
            seen.append(source)
            if fails(source):  # type: ignore[operator]
                return subprocess.CompletedProcess(cmd, 1, b"", INIT_RANK)
        return real(cmd, **kw)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(graphviz_run.subprocess, "run", run)
    graphviz_run.clear_cache()
    return seen


@needs_dot
def test_a_failed_layout_is_retried_simpler(monkeypatch: pytest.MonkeyPatch, log29: sm.EventLog) -> None:
    g = sm.discover(log29, keep_activities=STAGES, max_activities=12, max_edges=24)
    seen = _fake_dot(monkeypatch, lambda source: "newrank" not in source)
    m = _maps.draw_map(g, stages=MODEL29, rankdir="TB")
    assert m.svg is not None and "init_rank" not in m.svg
    assert m.attempts[0] == ("as drawn", "Graphviz could not rank the layout")
    # the retry drew without clusters and with the new ranking
    assert "newrank=true" in seen[-1] and "subgraph cluster_" not in seen[-1] and "subgraph flat_" in seen[-1]
    assert "cluster_approvals_" in seen[0]


@needs_dot
def test_when_no_layout_draws_one_quiet_sentence(monkeypatch: pytest.MonkeyPatch, log29: sm.EventLog) -> None:
    g = sm.discover(log29)
    seen = _fake_dot(monkeypatch, lambda source: True)
    m = _maps.draw_map(g, stages=MODEL29, rankdir="TB")
    assert m.svg is None and m.dot is None
    assert m.message.startswith("The process map could not be drawn") and "--coverage 0.8" in m.message
    assert "init_rank" not in m.message and "%0" not in m.message and "\n" not in m.message
    # simpler layouts first, then the stronger abstraction (fewer paths drawn)
    assert len(seen) >= 6 and any("less frequent paths not drawn" in s for s in seen)
    assert "could not be drawn" in m._repr_html_() and json.dumps(m.to_dict())
    assert list(m.to_frame()["problem"].unique()) == ["Graphviz could not rank the layout"]
    with pytest.raises(sm.RenderError, match="could not be drawn") as info:
        _maps.render_bytes(_maps.process_map(g, rankdir="TB"))
    assert "init_rank" not in str(info.value)


@needs_dot
def test_a_hanging_dot_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        raise subprocess.TimeoutExpired(cmd, float(kw["timeout"]))  # type: ignore[arg-type]

    monkeypatch.setattr(graphviz_run.subprocess, "run", run)
    graphviz_run.clear_cache()
    with pytest.raises(sm.RenderError, match="took longer than 60 s"):
        _maps.render_bytes(_maps.process_map(sm.discover(_three()), rankdir="LR"))


def _three() -> sm.EventLog:
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    df = pd.DataFrame([("x", "Lead", t0), ("x", "Won", t0 + pd.Timedelta(hours=1))], columns=["case", "activity", "ts"])
    return sm.from_dataframe(df, case="case", activity="activity", timestamp="ts")


# --- the command line -----------------------------------------------------------------------------
def _write_29(tmp: Path, df29: pd.DataFrame) -> tuple[Path, Path]:
    csv = tmp / "approvals.csv"
    df29.assign(ts=df29["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(csv, index=False)
    stages = tmp / "stages.yaml"
    MODEL29.to_yaml(stages)
    return csv, stages


@needs_dot
@pytest.mark.parametrize("extra", [[], ["--coverage", "1"], ["--findings"]])
def test_graph_draws_the_29_activity_log_quietly(tmp_path: Path, df29: pd.DataFrame, extra: list[str]) -> None:
    csv, stages = _write_29(tmp_path, df29)
    exe = Path(sys.executable).with_name("salesmining")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "salesmining.cli"]
    out = tmp_path / "map.svg"
    args = [*cmd, "graph", str(csv), "--case", "case", "--activity", "activity", "--timestamp", "ts"]
    res = subprocess.run(
        [*args, "--stages", str(stages), "-o", str(out), "-q", *extra], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == "" and res.stdout == ""
    svg = out.read_text(encoding="utf-8")
    assert svg.startswith("<svg") and html.unescape(svg).count("sm-node sm-spine") == len(STAGES)
    if not extra:
        assert _smallest_text_px(svg) >= 10.0 and "--coverage 1" in html.unescape(svg)


@needs_dot
def test_graph_says_one_line_and_exits_6_when_nothing_draws(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, df29: pd.DataFrame
) -> None:
    csv, stages = _write_29(tmp_path, df29)
    _fake_dot(monkeypatch, lambda source: True)
    out = tmp_path / "map.svg"
    args = ["graph", str(csv), "--case", "case", "--activity", "activity", "--timestamp", "ts"]
    assert main([*args, "--stages", str(stages), "-o", str(out), "-q"]) == 6
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("salesmining: The process map could not be drawn")
    assert "init_rank" not in err and not out.exists()


# --- the interface reports rely on ----------------------------------------------------------------
@needs_dot
def test_ids_classes_and_tooltips_are_present_and_escaped() -> None:
    evil = '<script>&"'
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    for c in range(4):
        path = ["Lead", evil, "Offer", "Won"] if c < 3 else ["Lead", "Offer", evil, "Lost"]
        rows += [(f"c{c}", a, t0 + pd.Timedelta(hours=10 * c + h)) for h, a in enumerate(path)]
    df = pd.DataFrame(rows, columns=["case", "activity", "ts"])
    log = sm.from_dataframe(df, case="case", activity="activity", timestamp="ts")
    model = sm.StageModel(["Lead", evil, "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]})
    svg = _maps.draw_map(sm.discover(log), stages=model).svg
    assert svg is not None and "<script>" not in svg
    root = ET.fromstring(svg)  # well-formed XML
    groups = {g.attrib["id"]: g for g in root.iter(f"{SVG}g") if "id" in g.attrib}
    nid = _maps.node_id(evil)
    node = groups[nid]
    assert node.attrib["class"] == "node sm-node sm-spine"
    tip = next(a.attrib[XLINK] for a in node.iter(f"{SVG}a"))
    assert tip == f"{evil}: 4 events · 4 cases (100%)"  # the XML parser unescaped &lt; &amp; &quot;
    assert 'xlink:title="&lt;script&gt;&amp;&quot;: 4 events' in svg
    roles = {
        _maps.node_id(a): r for a, r in [("Lead", "spine"), ("Offer", "spine"), ("Won", "outcome"), ("Lost", "outcome")]
    }
    roles |= {"__start__": "start", "__end__": "end"}
    for i, role in roles.items():
        assert groups[i].attrib["class"] == f"node sm-node sm-{role}", i
    lead, offer = _maps.node_id("Lead"), _maps.node_id("Offer")
    pairs = _transitions(df)
    kinds = {
        ("Lead", evil): "spine",
        (evil, "Offer"): "spine",
        ("Lead", "Offer"): "skip",
        ("Offer", evil): "rework",
        ("Offer", "Won"): "other",
    }
    for (s, t), kind in kinds.items():
        g = groups[f"e-{_maps.node_id(s)}-{_maps.node_id(t)}"]
        assert g.attrib["class"] == f"edge sm-edge sm-{kind}", (s, t)
        tip = next(a.attrib[XLINK] for a in g.iter(f"{SVG}a"))
        n = int(pairs[(pairs["activity"] == s) & (pairs["next"] == t)]["count"].iloc[0])
        assert tip.startswith(f"{s} → {t}: {n} transition{'' if n == 1 else 's'} · "), tip
        assert "median wait" in tip and "90th percentile wait" in tip
    assert groups[f"e-__start__-{lead}"].attrib["class"] == "edge sm-edge sm-start"
    assert f"e-{offer}-{_maps.node_id(evil)}" in groups


# --- shrinking the budget until the text reads ----------------------------------------------------
def _wide_log(n_side: int = 16) -> tuple[pd.DataFrame, sm.StageModel]:
    """Three stages; after "Qualify" each case visits one of ``n_side`` side activities with long
    names (one wide rank in a top-to-bottom map, a long column left to right), each as frequent
    as no other."""
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    sides = [k for k in range(n_side) for _ in range(k + 2)]  # side k in k + 2 cases: no ties
    for c, k in enumerate(sides):
        side = f"Side activity number {k:02d} with a long name"
        for h, a in enumerate(["Lead", "Qualify", side, "Close", "Won" if c % 3 else "Lost"]):
            rows.append((f"c{c:03d}", a, t0 + pd.Timedelta(hours=24 * c + h)))
    df = pd.DataFrame(rows, columns=["case", "activity", "ts"])
    return df, sm.StageModel(["Lead", "Qualify", "Close"], outcomes={"won": ["Won"], "lost": ["Lost"]})


@needs_dot
def test_a_wide_map_is_abstracted_until_its_text_reads() -> None:
    df, model = _wide_log()
    log = sm.from_dataframe(df, case="case", activity="activity", timestamp="ts")
    full = _maps.draw_map(sm.discover(log), stages=model)
    assert full.svg is not None and _smallest_text_px(full.svg) < 10.0  # everything drawn: too small
    d = sm.diagnose(log, model)
    m = _maps.draw_map(d.graph, stages=model, findings=d.findings, legend=False)
    assert m.svg is not None and _smallest_text_px(m.svg) >= 10.0
    shown = set(d.graph.nodes["activity"])
    assert {"Lead", "Qualify", "Close", "Won", "Lost"} <= shown
    hidden = df["activity"].nunique() - len(shown)
    assert d.graph.abstraction.hidden_activities == hidden > 0
    assert f"{hidden} of {df['activity'].nunique()} activities" in d.graph.abstraction.describe()


def test_fit_to_width_shrinks_by_a_fifth_and_stops_at_the_spine(monkeypatch: pytest.MonkeyPatch) -> None:
    from salesmining.analysis.discover import fit_to_width

    df, model = _wide_log()
    log = sm.from_dataframe(df, case="case", activity="activity", timestamp="ts")
    spine = ["Lead", "Qualify", "Close", "Won", "Lost"]
    asked: list[int] = []

    def within(n: int) -> sm.ProcessGraph:
        asked.append(n)
        return sm.discover(log, keep_activities=spine, max_activities=n)

    # a fake drawing whose text reads only with at most 7 activities
    def fake(graph: sm.ProcessGraph, **_: object) -> _maps.MapDrawing:
        return _maps.MapDrawing("<svg/>", text_px=12.0 if len(graph.nodes) <= 7 else 6.0)

    monkeypatch.setattr(_maps, "draw_map", fake)
    g = fit_to_width(within(15), within, stages=model)
    assert asked == [15, 12, 10, 8, 6] and len(g.nodes) == 6
    # never below the spine, even when nothing reads
    monkeypatch.setattr(_maps, "draw_map", lambda graph, **_: _maps.MapDrawing("<svg/>", text_px=1.0))
    asked.clear()
    g = fit_to_width(within(8), within, stages=model)
    assert len(g.nodes) == len(spine) and asked[-1] == len(spine)


# --- real logs ------------------------------------------------------------------------------------
@needs_dot
@pytest.mark.real_logs
@pytest.mark.slow
def test_bpic2012_map_is_abstracted_and_reads_at_ten_pixels(bpic2012: sm.EventLog) -> None:
    model = sm.StageModel(
        ["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "A_ACCEPTED", "A_FINALIZED"],
        outcomes={"won": ["A_ACTIVATED"], "lost": ["A_DECLINED", "A_CANCELLED"]},
        anywhere=["A_APPROVED", "A_REGISTERED"],
    )
    d = sm.diagnose(bpic2012, model)
    g = d.graph
    assert {*model.stages, *model.won, *model.lost} <= set(g.nodes["activity"])
    shown_log = bpic2012.filter(exclude_activities=model.anywhere)
    n_all = shown_log.to_frame()["concept:name"].nunique()  # recounted from the events
    assert g.abstraction.total_activities == n_all and g.abstraction.hidden_activities == n_all - len(g.nodes)
    for view, findings in (("frequency", d.findings), ("performance", None)):
        m = _maps.draw_map(g, view=view, stages=model, findings=findings, legend=False)
        assert m.svg is not None and _smallest_text_px(m.svg) >= 10.0, view


@needs_dot
@pytest.mark.real_logs
def test_graph_draws_bpic2020_quietly_at_full_coverage(tmp_path: Path, bpic2020_path: Path) -> None:
    path = bpic2020_path
    exe = Path(sys.executable).with_name("salesmining")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "salesmining.cli"]
    for extra in ([], ["--coverage", "1"]):
        out = tmp_path / "map.svg"
        res = subprocess.run(
            [*cmd, "graph", str(path), "-o", str(out), "-q", *extra], capture_output=True, text=True, check=False
        )
        assert (res.returncode, res.stderr, res.stdout) == (0, "", ""), extra
        assert out.read_text(encoding="utf-8").startswith("<svg")
