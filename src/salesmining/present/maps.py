"""Process maps as deterministic Graphviz graphs. Reads results; computes nothing.

Labels are Graphviz HTML-like labels built from escaped text, so quotes, backslashes, ``{``,
``|``, ``<``, ``>``, newlines or HTML in activity names render as text and cannot break or
inject into the DOT source. Node ids are derived from the activity name (a hash), and nodes
and edges are emitted in a fixed order, so the same input gives byte-identical DOT and SVG.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from salesmining.core import formatting
from salesmining.core.errors import OptionError, RenderError
from salesmining.core.files import write_atomic

if TYPE_CHECKING:
    import graphviz


# What a map reads, typed here: the presentation layer imports no analysis module.
class GraphLike(Protocol):
    """A discovered process graph (:class:`salesmining.ProcessGraph`)."""

    @property
    def nodes(self) -> pd.DataFrame: ...
    @property
    def edges(self) -> pd.DataFrame: ...
    @property
    def n_cases(self) -> int: ...
    @property
    def n_events(self) -> int: ...
    @property
    def start_activities(self) -> Mapping[str, int]: ...
    @property
    def end_activities(self) -> Mapping[str, int]: ...
    @property
    def time_unit(self) -> str:
        """``"calendar time"`` or ``"working time"`` (a business calendar's working clock)."""
        ...


class StagesLike(Protocol):
    """An intended stage model (:class:`salesmining.StageModel`)."""

    @property
    def stages(self) -> Sequence[str]: ...
    @property
    def won(self) -> Sequence[str]: ...
    @property
    def lost(self) -> Sequence[str]: ...
    @property
    def approvals(self) -> Mapping[str, str]: ...
    @property
    def anywhere(self) -> Sequence[str]: ...


class FindingsLike(Protocol):
    """Ranked findings (:class:`salesmining.Findings`): ``to_frame()`` with ``kind``, ``rank``, ``share``,
    ``time_lost_hours``, ``severity`` and the place columns ``activity``, ``from_activity``, ``to_activity``."""

    def to_frame(self) -> pd.DataFrame: ...


__all__ = ["STATISTICS", "VIEWS", "process_map", "render_bytes", "write_graph"]

VIEWS = ("frequency", "performance")
#: Edge statistics of the performance view → (column, label).
STATISTICS: Mapping[str, tuple[str, str]] = {
    "median": ("wait_median_s", "median wait"),
    "mean": ("wait_mean_s", "mean wait"),
    "p90": ("wait_p90_s", "90th percentile wait"),
    "max": ("wait_max_s", "longest wait"),
    "total": ("wait_total_s", "total wait"),
}
FONT = "Noto Sans CJK SC"
_BLUES = ["#f7fbff", "#e3eef9", "#d0e2f3", "#b9d4ec", "#9ecae1", "#7fb3d9", "#5f9ccd"]
_HEAT = ["#1a9850", "#66bd63", "#a6d96a", "#fdae61", "#f46d43", "#d73027", "#a50026"]
START, END = "__start__", "__end__"
_KIND_BADGE = {
    "loop": "rework",
    "skipped_stage": "skipped",
    "long_wait": "long wait",
    "redundant_approval": "redundant approval",
    "slow_response": "slow response",
    "handoff_delay": "handoff delay",
}


def node_id(activity: str) -> str:
    """A stable, content-derived node id."""
    return "a" + hashlib.sha1(activity.encode("utf-8")).hexdigest()[:12]


def _t(text: object, limit: int | None = None) -> str:
    """Escape text for an HTML-like label (and shorten very long names)."""
    s = str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=True).replace("\n", " ").replace("\r", " ")


def _bucket(value: float, lo: float, hi: float, n: int) -> int:
    if hi <= lo or math.isnan(value):
        return 0
    x = (math.log1p(value) - math.log1p(lo)) / (math.log1p(hi) - math.log1p(lo))
    return max(0, min(n - 1, int(x * (n - 1) + 0.5)))


def _check_options(view: str, stat: str) -> None:
    if view not in VIEWS:
        raise OptionError(f"view must be one of {VIEWS}, not {view!r}")
    if stat not in STATISTICS:
        raise OptionError(f"stat must be one of {tuple(STATISTICS)}, not {stat!r}")


# --- finding badges -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Badges:
    """Badge texts by activity and by edge ``(source, target)``, and where the top finding sits."""

    nodes: Mapping[str, list[str]] = field(default_factory=dict)
    edges: Mapping[tuple[str, str], list[str]] = field(default_factory=dict)
    top_node: str | None = None
    top_edge: tuple[str, str] | None = None


def _badges(findings: FindingsLike | None, max_per_place: int = 2) -> _Badges:
    """Badges of the high and medium findings, placed by their ``activity`` or ``from_activity`` /
    ``to_activity`` columns. Edge badges are short (rank, kind, share) because edge labels widen
    the layout; node badges add the time lost."""
    if findings is None:
        return _Badges()
    f = findings.to_frame()
    f = f[f["severity"].isin(["high", "medium"])]
    nodes: dict[str, list[str]] = {}
    edges: dict[tuple[str, str], list[str]] = {}
    for r in f.to_dict("records"):
        label = _KIND_BADGE.get(str(r["kind"]), str(r["kind"]))
        text = f"#{r['rank']} {label} {formatting.percent(r['share'], digits=0)}"
        if _known(r["activity"]):
            if r["time_lost_hours"] > 0:
                text += f" · {r['time_lost_hours'] / 24:,.0f} d lost"
            place = nodes.setdefault(str(r["activity"]), [])
        else:
            place = edges.setdefault(_edge_of(r), [])
        if len(place) < max_per_place:
            place.append(text)
    if not len(f):
        return _Badges(nodes, edges)
    first = f.iloc[0]
    if _known(first["activity"]):
        return _Badges(nodes, edges, top_node=str(first["activity"]))
    return _Badges(nodes, edges, top_edge=_edge_of(first))


def _known(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _edge_of(r: Mapping[str, Any]) -> tuple[str, str]:
    """The drawn edge a finding sits on; an unknown end matches no activity."""
    src, dst = r["from_activity"], r["to_activity"]
    return (str(src) if _known(src) else "\0", str(dst) if _known(dst) else "\0")


# --- how the stage model places activities --------------------------------------------------------
@dataclass(frozen=True)
class _Layout:
    """What the stage model (if any) says about each activity: stage order, outcome, approval, outside."""

    modelled: bool = False
    order: Mapping[str, int] = field(default_factory=dict)
    won: frozenset[str] = frozenset()
    outcomes: frozenset[str] = frozenset()
    approvals: Mapping[str, str] = field(default_factory=dict)
    known: frozenset[str] = frozenset()

    @classmethod
    def of(cls, stages: StagesLike | None) -> _Layout:
        if stages is None:
            return cls()
        order = {s: i for i, s in enumerate(stages.stages)}
        outcomes = frozenset(stages.won) | frozenset(stages.lost)
        approvals = dict(stages.approvals)
        known = frozenset(order) | outcomes | frozenset(approvals) | frozenset(stages.anywhere)
        return cls(True, order, frozenset(stages.won), outcomes, approvals, known)

    def outside(self, activity: str) -> bool:
        """Not in the stage model (only when there is one)."""
        return self.modelled and activity not in self.known

    def sort_key(self, row: Mapping[str, Any]) -> tuple[int, int, float, str]:
        """Stages in order, then outcomes, approvals and the rest, each by events."""
        a = str(row["activity"])
        group = 0 if a in self.order else 1 if a in self.outcomes else 2 if a in self.approvals else 3
        return (group, self.order.get(a, 0), -float(row["events"]), a)


@dataclass(frozen=True)
class _Style:
    """What every label needs: the view, the label limit, working time, the badges."""

    view: str
    stat_col: str
    max_label: int
    working: bool
    badges: _Badges


# --- the map --------------------------------------------------------------------------------------
def process_map(
    graph: GraphLike,
    *,
    view: str = "frequency",
    stat: str = "median",
    stages: StagesLike | None = None,
    findings: FindingsLike | None = None,
    title: str | None = None,
    rankdir: str = "LR",
    max_label: int = 40,
    legend: bool = True,
) -> graphviz.Digraph:
    """The process map of a :class:`ProcessGraph` as a ``graphviz.Digraph``.

    Parameters
    ----------
    view:
        ``"frequency"`` (edge labels = transitions, width by count) or ``"performance"`` (edge
        labels = the chosen waiting-time statistic, colour from green to red by it).
    stat:
        Statistic of the performance view: ``median``, ``mean``, ``p90``, ``max`` or ``total``.
    stages:
        Draw the intended path: stages as a straight spine in order, skips as dashed bypass
        edges, backward moves as red edges curving back, approvals clustered by stage and
        activities outside the model set apart.
    findings:
        Put badges on the nodes and edges where findings sit (high and medium severity), the
        top finding highlighted, with a legend.
    legend:
        Draw the legend inside the graph (reports set ``False`` and print it as text).

    Durations measured on a business calendar (``graph.time_unit == "working time"``) are
    shown in working hours, and the subtitle and legend say so.
    """
    import graphviz

    _check_options(view, stat)
    stat_col, stat_label = STATISTICS[stat]
    working = graph.time_unit == formatting.WORKING_TIME
    style = _Style(view, stat_col, max_label, working, _badges(findings))
    layout = _Layout.of(stages)

    dot = graphviz.Digraph(name="process_map", format="svg")
    heading = title or (
        "Process map — frequency" if view == "frequency" else f"Process map — {stat_label} between activities"
    )
    _graph_attributes(dot, graph, heading, rankdir, working)
    rows: list[dict[str, Any]] = sorted(_records(graph.nodes), key=layout.sort_key)
    _add_activities(dot, rows, layout, style)
    _add_start_and_end(dot, graph, rows)
    _add_spine(dot, rows, layout)
    _add_transitions(dot, graph, rows, layout, style)
    if legend and (findings is not None or stages is not None):
        _legend(
            dot,
            view=view,
            stat_label=stat_label,
            stages=stages is not None,
            findings=findings is not None,
            working=working,
        )
    return dot


def _graph_attributes(dot: graphviz.Digraph, graph: GraphLike, heading: str, rankdir: str, working: bool) -> None:
    """Title, subtitle (size, abstraction, working time) and the default node and edge styles."""
    subtitle = f"{formatting.count(graph.n_cases)} cases · {formatting.count(graph.n_events)} events"
    abstraction = getattr(graph, "abstraction", None)
    if abstraction is not None and abstraction.is_abstracted:
        subtitle += f" · {abstraction.describe()}"
    if working:
        subtitle += f" · durations in {formatting.WORKING_TIME}"
    dot.attr(
        rankdir=rankdir,
        fontname=FONT,
        labelloc="t",
        nodesep="0.35",
        ranksep="0.5",
        bgcolor="white",
        label=f"<<B>{_t(heading)}</B><BR/><FONT POINT-SIZE='10'>{_t(subtitle)}</FONT>>",
    )
    dot.attr("node", fontname=FONT, fontsize="11", shape="box", style="rounded,filled", penwidth="1")
    dot.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.7")


def _node_label(r: Mapping[str, Any], style: _Style) -> str:
    a = str(r["activity"])
    parts = [
        f"<B>{_t(a, style.max_label)}</B>",
        f"<FONT POINT-SIZE='9'>{formatting.count(r['events'])} events · {formatting.count(r['cases'])} cases</FONT>",
    ]
    if "service_median_s" in r and pd.notna(r.get("service_median_s")):
        service = formatting.short_duration(float(r["service_median_s"]), working=style.working)
        parts.append(f"<FONT POINT-SIZE='9'>service {service}</FONT>")
    for b in style.badges.nodes.get(a, []):
        parts.append(f"<FONT POINT-SIZE='9' COLOR='#b00020'>{_t(b)}</FONT>")
    return "<" + "<BR/>".join(parts) + ">"


def _add_node(target: graphviz.Digraph, r: Mapping[str, Any], layout: _Layout, style: _Style, max_events: int) -> None:
    a = str(r["activity"])
    shade = _BLUES[_bucket(float(r["events"]), 0, max_events, len(_BLUES))]
    attrs = {"fillcolor": shade, "fontcolor": "black"}
    if layout.outside(a):
        attrs.update(fillcolor="#eeeeee", color="#999999", style="rounded,filled,dashed")
    if a in layout.outcomes:
        attrs.update(shape="box", style="filled", fillcolor="#d9f0d3" if a in layout.won else "#fde0dd")
    if a == style.badges.top_node:
        attrs.update(color="#b00020", penwidth="3")
    target.node(node_id(a), label=_node_label(r, style), **attrs)


def _add_activities(dot: graphviz.Digraph, rows: list[dict[str, Any]], layout: _Layout, style: _Style) -> None:
    """Stages, outcomes and others; approvals clustered by their stage; activities outside the model apart."""
    max_events = max((int(r["events"]) for r in rows), default=1)
    for r in rows:
        a = str(r["activity"])
        if a in layout.approvals or layout.outside(a):
            continue
        _add_node(dot, r, layout, style, max_events)
    approval_stages = {layout.approvals[str(r["activity"])] for r in rows if r["activity"] in layout.approvals}
    for stage in sorted(approval_stages, key=lambda s: layout.order.get(s, 0)):
        with dot.subgraph(name=f"cluster_approvals_{node_id(stage)}") as c:
            c.attr(
                label=f"<<I>approvals · {_t(stage, style.max_label)}</I>>",
                style="rounded,dashed",
                color="#8888aa",
                fontsize="10",
            )
            for r in rows:
                if layout.approvals.get(str(r["activity"])) == stage:
                    _add_node(c, r, layout, style, max_events)
    outside = [r for r in rows if layout.outside(str(r["activity"]))]
    if outside:
        with dot.subgraph(name="cluster_outside_model") as c:
            c.attr(label="<<I>not in the stage model</I>>", style="rounded,dotted", color="#999999", fontsize="10")
            for r in outside:
                _add_node(c, r, layout, style, max_events)


def _width(count: int, max_count: int) -> str:
    return f"{0.8 + 3.2 * math.log1p(count) / math.log1p(max_count):.2f}"


def _max_count(graph: GraphLike) -> int:
    edges = graph.edges
    counts = [int(c) for c in edges["count"]]
    return max([*counts, *graph.start_activities.values(), *graph.end_activities.values(), 1])


def _add_start_and_end(dot: graphviz.Digraph, graph: GraphLike, rows: list[dict[str, Any]]) -> None:
    """The start and end circles, with dotted edges to the activities cases start and end with."""
    dot.node(
        START,
        label="<▶ start>",
        shape="circle",
        style="filled",
        fillcolor="#333333",
        fontcolor="white",
        fontsize="9",
        width="0.5",
    )
    dot.node(
        END,
        label="<■ end>",
        shape="doublecircle",
        style="filled",
        fillcolor="#333333",
        fontcolor="white",
        fontsize="9",
        width="0.4",
    )
    present = {str(r["activity"]) for r in rows}
    starts, ends = graph.start_activities, graph.end_activities
    max_count = _max_count(graph)
    for a in sorted(starts, key=lambda x: (-starts[x], x)):
        if a in present:
            label = f"<{formatting.count(starts[a])}>"
            width = _width(starts[a], max_count)
            dot.edge(START, node_id(a), label=label, penwidth=width, color="#777777", style="dotted")
    for a in sorted(ends, key=lambda x: (-ends[x], x)):
        if a in present:
            label = f"<{formatting.count(ends[a])}>"
            dot.edge(node_id(a), END, label=label, penwidth=_width(ends[a], max_count), color="#777777", style="dotted")


def _add_spine(dot: graphviz.Digraph, rows: list[dict[str, Any]], layout: _Layout) -> None:
    """The intended path as a straight line of invisible heavy edges."""
    spine = [r for r in rows if r["activity"] in layout.order]
    for s1, s2 in itertools.pairwise(spine):
        dot.edge(node_id(str(s1["activity"])), node_id(str(s2["activity"])), style="invis", weight="20")


def _add_transitions(
    dot: graphviz.Digraph, graph: GraphLike, rows: list[dict[str, Any]], layout: _Layout, style: _Style
) -> None:
    """Every directly-follows edge, labelled by count or waiting time, marked as skip or backward move."""
    edges = graph.edges
    waits = [float(x) for x in edges[style.stat_col] if pd.notna(x)] if len(edges) else []
    lo_w, hi_w = (min(waits), max(waits)) if waits else (0.0, 0.0)
    max_count = _max_count(graph)
    by_activity = {str(r["activity"]): r for r in rows}

    def key(activity: Any) -> tuple[int, int, float, str]:
        return layout.sort_key(by_activity.get(str(activity), {"activity": activity, "events": 0}))

    for e in sorted(edges.to_dict("records"), key=lambda e: (key(e["source"]), key(e["target"]))):
        s, t = str(e["source"]), str(e["target"])
        count = int(e["count"])
        attrs: dict[str, str] = {"penwidth": _width(count, max_count), "color": "#4d4d4d"}
        if style.view == "frequency":
            text = formatting.count(count)
        else:
            w = float(e[style.stat_col]) if pd.notna(e[style.stat_col]) else float("nan")
            text = formatting.short_duration(w, working=style.working)
            attrs["color"] = _HEAT[_bucket(w, lo_w, hi_w, len(_HEAT))] if not math.isnan(w) else "#999999"
        text += _mark_intended_path(attrs, s, t, layout)
        lines = [text, *style.badges.edges.get((s, t), [])]
        if style.badges.top_edge == (s, t):
            attrs.update(color="#b00020", penwidth=f"{float(attrs['penwidth']) + 2:.2f}")
        label = "<" + "<BR/>".join(_t(x) for x in "\n".join(lines).split("\n")) + ">"
        dot.edge(node_id(s), node_id(t), label=label, **attrs)


def _mark_intended_path(attrs: dict[str, str], s: str, t: str, layout: _Layout) -> str:
    """Style an edge between two stages (skip, backward move, next stage); the text to add to its label."""
    if s not in layout.order or t not in layout.order:
        return ""
    gap = layout.order[t] - layout.order[s]
    if gap > 1:
        attrs.update(style="dashed", color="#2b6cb0", fontcolor="#2b6cb0")
        return f" · skips {gap - 1}"
    if gap < 0:
        attrs.update(color="#c53030", fontcolor="#c53030", constraint="false")
        return " · back"
    if gap == 1:
        attrs["weight"] = "10"
    return ""


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def legend_items(*, view: str, stat_label: str, stages: bool, findings: bool, working: bool = False) -> list[str]:
    """The legend's lines (also printed as text under maps in reports); ``working``: durations are working time."""
    items = []
    if view == "performance":
        unit = f" in {formatting.WORKING_TIME}" if working else ""
        items.append(f"edge colour: {stat_label}{unit}, green (short) → red (long)")
    items.append("edge width: number of transitions; node shade: number of events")
    if stages:
        items += [
            "straight path: intended stage order",
            "dashed blue: skips stages",
            "red: moves back",
            "dashed grey box: not in the stage model",
        ]
    if findings:
        items += ["red text: findings (#rank, kind, share of cases, time lost)", "thick red: the top finding"]
    return items


def _legend(
    dot: graphviz.Digraph, *, view: str, stat_label: str, stages: bool, findings: bool, working: bool = False
) -> None:
    items = legend_items(view=view, stat_label=stat_label, stages=stages, findings=findings, working=working)
    body = "".join(f"<TR><TD ALIGN='LEFT'>{_t(x)}</TD></TR>" for x in items)
    with dot.subgraph(name="cluster_legend") as c:
        c.attr(label="", style="rounded", color="#cccccc")
        c.node(
            "__legend__",
            label=f"<<TABLE BORDER='0' CELLSPACING='0'><TR><TD><B>Legend</B></TD></TR>{body}</TABLE>>",
            shape="plaintext",
            style="",
        )


def _require_dot() -> None:
    if shutil.which("dot") is None:
        raise RenderError(
            "Graphviz's 'dot' program is not installed, so the graph cannot be drawn (its DOT source is still "
            "available via .source). Install it: 'sudo apt-get install graphviz' (Debian/Ubuntu), "
            "'brew install graphviz' (macOS), 'conda install graphviz', or https://graphviz.org/download/"
        )


def render_bytes(dot: graphviz.Digraph, fmt: str = "svg", *, dpi: int | None = None) -> bytes:
    """Run ``dot`` and return the rendered bytes (``svg``, ``png`` or ``pdf``)."""
    _require_dot()
    import graphviz

    g = dot.copy()
    if dpi is not None:
        g.attr(dpi=str(dpi))
    try:
        return bytes(g.pipe(format=fmt))
    except graphviz.ExecutableNotFound as exc:  # pragma: no cover - checked above
        raise RenderError(str(exc)) from exc
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"Graphviz failed to render the graph: {exc.stderr!r}") from exc


def write_graph(
    dot: graphviz.Digraph, path: str | os.PathLike[str], *, fmt: str | None = None, dpi: int | None = None
) -> Path:
    """Write a graph as SVG, PNG or PDF (by the file's extension unless ``fmt`` is given)."""
    p = Path(path)
    fmt = (fmt or p.suffix.lstrip(".") or "svg").lower()
    if fmt not in ("svg", "png", "pdf", "dot", "gv"):
        raise OptionError(f"unsupported graph format {fmt!r}: use svg, png, pdf or dot")
    data = dot.source if fmt in ("dot", "gv") else render_bytes(dot, fmt, dpi=dpi)
    return write_atomic(p, data)


def svg_text(dot: graphviz.Digraph) -> str:
    """The SVG of a graph as text (for HTML reports and notebooks)."""
    return render_bytes(dot, "svg").decode("utf-8")
