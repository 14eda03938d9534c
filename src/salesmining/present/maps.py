"""Process maps as deterministic Graphviz graphs. Reads results; computes nothing.

Labels are Graphviz HTML-like labels built from escaped text, so quotes, backslashes, ``{``,
``|``, ``<``, ``>``, newlines or HTML in activity names render as text and cannot break or
inject into the DOT source. Node ids are derived from the activity name (a hash), and nodes
and edges are emitted in a fixed order, so the same input gives byte-identical DOT and SVG.

Layout: the *spine* (the stage model's stages, else the most frequent path) is one straight
line of nodes (one ``group``, heavy edges); won/lost outcomes sit on one rank at its end; skip
edges leave and enter the spine on one side (``tailport``/``headport``), moves back on the
other side and do not constrain the ranking, so neither crosses the spine's labels. With
``rankdir="auto"`` (the default) the map is laid out left to right and top to bottom, and the
direction whose drawing keeps text largest at :data:`REPORT_WIDTH_PX` is kept (no text below
:data:`MIN_TEXT_PX` when one fits). Graphviz runs with a timeout and its output captured;
failed layouts are retried simpler (:mod:`salesmining.present.graphviz_run`), and
:func:`draw_map` finally draws fewer paths, or returns one plain sentence.

Interface for reports and scripts (stable): in the SVG every activity node is a
``<g id="<node_id(activity)>" class="node sm-node sm-<role>">`` (role: ``spine``, ``outcome``,
``approval``, ``outside``, ``other``; the start and end circles are ``sm-start`` / ``sm-end``
with ids ``__start__`` / ``__end__``), and every drawn transition a
``<g id="e-<tail id>-<head id>" class="edge sm-edge sm-<kind>">`` (kind: ``spine``, ``skip``,
``rework``, ``other``, ``start``, ``end``). Both carry a tooltip with their numbers (events,
cases and median service time; transitions, cases, median and 90th percentile wait), which
Graphviz writes as ``<a xlink:title="...">``, escaped. Invisible layout edges have no such id.
"""

from __future__ import annotations

import hashlib
import html
import inspect
import itertools
import math
import os
import re
import shutil
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from salesmining.core import formatting
from salesmining.core.errors import OptionError, RenderError
from salesmining.core.files import write_atomic
from salesmining.present import graphviz_run as _run

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


__all__ = [
    "MIN_TEXT_PX",
    "REPORT_WIDTH_PX",
    "STATISTICS",
    "VIEWS",
    "MapDrawing",
    "draw_ahead",
    "draw_map",
    "process_map",
    "render_bytes",
    "svg_text",
    "text_px",
    "write_graph",
]

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
#: Width of a report's body in CSS pixels; maps are laid out to be read at this width.
REPORT_WIDTH_PX = 1100.0
#: Smallest text, in CSS pixels, a map may show at :data:`REPORT_WIDTH_PX`.
MIN_TEXT_PX = 10.0
#: Font sizes in points (1 SVG user unit): activity names, every other text, the title.
NAME_PT, TEXT_PT, TITLE_PT = "12", "10", "14"
_WRAP = 24
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


def _wrapped(text: object, limit: int) -> str:
    """An escaped name broken at spaces (or ``_``) into lines of about :data:`_WRAP` characters
    (at most three, the rest shortened), so long names make tall nodes, not wide maps."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    lines: list[str] = []
    for word in re.split(r"(?<=[ _/])", s):
        if lines and len(lines[-1]) + len(word) <= _WRAP:
            lines[-1] += word
        else:
            lines.append(word)
    if len(lines) > 3:
        lines = [*lines[:2], "".join(lines[2:])]
    return "<BR/>".join(_t(x.strip()) for x in lines if x.strip())


def _tip(text: str) -> str:
    """Text for a ``tooltip`` attribute: entities escaped here (Graphviz keeps them), quotes as
    ``&quot;``, backslashes doubled (DOT escape strings would read ``\\N`` as the node name)."""
    one = " ".join(text.split())
    return html.escape(one, quote=True).replace("\\", "\\\\")


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


# --- how the stage model (or the most frequent path) places activities ----------------------------
@dataclass(frozen=True)
class _Layout:
    """What the stage model (if any) says about each activity, and the spine every map keeps straight.

    The spine is the model's stages in order when a model is given, else the most frequent
    path: the activities of the most frequent variant in first-visit order (from the graph's
    ``variants`` when it has them, else following each activity's most frequent outgoing path).
    """

    modelled: bool = False
    order: Mapping[str, int] = field(default_factory=dict)
    won: frozenset[str] = frozenset()
    outcomes: frozenset[str] = frozenset()
    approvals: Mapping[str, str] = field(default_factory=dict)
    known: frozenset[str] = frozenset()
    spine: tuple[str, ...] = ()

    @classmethod
    def of(cls, stages: StagesLike | None, graph: GraphLike) -> _Layout:
        shown = {str(a) for a in graph.nodes["activity"]}
        if stages is None:
            return cls(spine=_frequent_path(graph, shown))
        order = {s: i for i, s in enumerate(stages.stages)}
        outcomes = frozenset(stages.won) | frozenset(stages.lost)
        approvals = dict(stages.approvals)
        known = frozenset(order) | outcomes | frozenset(approvals) | frozenset(stages.anywhere)
        spine = tuple(s for s in stages.stages if s in shown)
        return cls(True, order, frozenset(stages.won), outcomes, approvals, known, spine)

    @property
    def position(self) -> dict[str, int]:
        return {a: i for i, a in enumerate(self.spine)}

    def outside(self, activity: str) -> bool:
        """Not in the stage model (only when there is one)."""
        return self.modelled and activity not in self.known

    def role(self, activity: str) -> str:
        if activity in self.outcomes:
            return "outcome"
        if activity in self.approvals:
            return "approval"
        if self.outside(activity):
            return "outside"
        return "spine" if activity in self.spine else "other"

    def sort_key(self, row: Mapping[str, Any]) -> tuple[int, int, float, str]:
        """Stages in order, then outcomes, approvals and the rest, each by events."""
        a = str(row["activity"])
        order = self.order if self.modelled else self.position
        group = 0 if a in order else 1 if a in self.outcomes else 2 if a in self.approvals else 3
        return (group, order.get(a, 0), -float(row["events"]), a)


def _frequent_path(graph: GraphLike, shown: set[str]) -> tuple[str, ...]:
    variants = getattr(graph, "variants", None)
    if isinstance(variants, pd.DataFrame) and len(variants):
        path: list[str] = []
        for a in variants["variant"].iloc[0]:
            if str(a) in shown and str(a) not in path:
                path.append(str(a))
        if path:
            return tuple(path)
    starts = graph.start_activities
    if not starts:
        return ()
    edges = graph.edges.sort_values(["count", "source", "target"], ascending=[False, True, True], kind="stable")
    best = dict(zip(edges.drop_duplicates("source")["source"], edges.drop_duplicates("source")["target"], strict=True))
    a = min(starts, key=lambda x: (-starts[x], x))
    out = [a]
    while a in best and best[a] not in out:
        a = str(best[a])
        out.append(a)
    return tuple(out)


@dataclass(frozen=True)
class _Style:
    """What every label needs: the view, the label limit, working time, the badges, the direction."""

    view: str
    stat_col: str
    max_label: int
    working: bool
    badges: _Badges
    rankdir: str = "LR"


# --- the map --------------------------------------------------------------------------------------
def process_map(
    graph: GraphLike,
    *,
    view: str = "frequency",
    stat: str = "median",
    stages: StagesLike | None = None,
    findings: FindingsLike | None = None,
    title: str | None = None,
    rankdir: str = "auto",
    max_label: int = 60,
    legend: bool = True,
    max_edges: int | None = None,
    width_px: float = REPORT_WIDTH_PX,
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
    rankdir:
        ``"LR"``, ``"TB"`` or ``"auto"``: both are laid out (Graphviz runs) and the one whose
        text is largest when the map is shown ``width_px`` wide is kept, preferring left to
        right while its text is at least :data:`MIN_TEXT_PX`. Without Graphviz, ``"auto"``
        picks by the spine's length.
    max_edges:
        Draw at most this many transitions (the spine's, each activity's most frequent in and
        out, then the most frequent); the subtitle says how many were left out.
    legend:
        Draw the legend inside the graph (reports set ``False`` and print it as text).

    Durations measured on a business calendar (``graph.time_unit == "working time"``) are
    shown in working hours, and the subtitle and legend say so.
    """
    build, layout, n_nodes = _planned(graph, view, stat, stages, findings, title, rankdir, max_label, legend, max_edges)
    if rankdir != "auto":
        return build(rankdir, None)
    return _fitted(build, layout, n_nodes, width_px)


_Builder = Callable[[str, "list[_Turn] | None"], "graphviz.Digraph"]


def _planned(
    graph: GraphLike,
    view: str,
    stat: str,
    stages: StagesLike | None,
    findings: FindingsLike | None,
    title: str | None,
    rankdir: str,
    max_label: int,
    legend: bool,
    max_edges: int | None,
) -> tuple[_Builder, _Layout, int]:
    """:func:`process_map`'s options checked and its graph read: the map's builder (a direction
    and, optionally, the list collecting its direction-dependent parts), its layout and its
    number of activities."""
    _check_options(view, stat)
    if rankdir not in ("auto", "LR", "TB"):
        raise OptionError(f"rankdir must be 'auto', 'LR' or 'TB', not {rankdir!r}")
    if max_edges is not None and (isinstance(max_edges, bool) or not isinstance(max_edges, int) or max_edges < 0):
        raise OptionError(f"max_edges must be a non-negative integer or None, not {max_edges!r}")
    layout = _Layout.of(stages, graph)
    read = _GraphRead.of(graph)

    def build(direction: str, turns: list[_Turn] | None = None) -> graphviz.Digraph:
        return _build(read, view, stat, stages, findings, title, direction, max_label, legend, max_edges, layout, turns)

    return build, layout, len(read.nodes)


def _first_direction(layout: _Layout, n_nodes: int) -> str:
    """The direction ``rankdir="auto"`` lays out first (and keeps when its text is large enough)."""
    return "LR" if len(layout.spine) <= 3 and n_nodes <= 6 else "TB"


@dataclass(frozen=True)
class _GraphRead:
    """What a map reads of a graph, read once per :func:`process_map` (a graph's tables are
    handed out as copies and its start and end counts recomputed on every access)."""

    nodes: pd.DataFrame
    edges: pd.DataFrame
    n_cases: int
    n_events: int
    start_activities: Mapping[str, int]
    end_activities: Mapping[str, int]
    time_unit: str
    abstraction: Any
    max_count: int

    @classmethod
    def of(cls, graph: GraphLike) -> _GraphRead:
        edges, starts, ends = graph.edges, graph.start_activities, graph.end_activities
        counts = [int(c) for c in edges["count"]]
        return cls(
            nodes=graph.nodes,
            edges=edges,
            n_cases=graph.n_cases,
            n_events=graph.n_events,
            start_activities=starts,
            end_activities=ends,
            time_unit=graph.time_unit,
            abstraction=getattr(graph, "abstraction", None),
            max_count=max([*counts, *starts.values(), *ends.values(), 1]),
        )


#: A part of a map's DOT that depends on its direction: where it sits in the body (``start``,
#: ``stop``) and how to write it for a direction (``emit(target, direction)`` appends its lines).
_Turn = tuple[int, int, Callable[[Any, str], None]]


def _directed(
    dot: graphviz.Digraph, turns: list[_Turn] | None, direction: str, emit: Callable[[Any, str], None]
) -> None:
    """Write a direction-dependent part into ``dot`` for ``direction``; remember it in ``turns``."""
    start = len(dot.body)
    emit(dot, direction)
    if turns is not None:
        turns.append((start, len(dot.body), emit))


def _turned(dot: graphviz.Digraph, turns: Sequence[_Turn], direction: str) -> graphviz.Digraph:
    """The map ``dot`` laid out in ``direction``: a copy with its direction-dependent parts
    (the ``rankdir`` and the ports of skips and moves back) written anew, exactly as
    :func:`_build` writes them for that direction; everything else is the same text."""
    import graphviz

    out = dot.copy()
    for start, stop, emit in reversed(turns):
        scratch = graphviz.Digraph()
        emit(scratch, direction)
        out.body[start:stop] = scratch.body
    return out


#: DOT sources at least this long have both directions laid out at once by ``rankdir="auto"``:
#: Graphviz takes ~0.2-0.3 s on them (55 kB, the 1M-event benchmark's map) against ~25 ms on
#: the sample's 12 kB, so running the second layout beside the first saves more than it may waste.
AHEAD_CHARS = 30_000


def _fitted(
    build: Callable[[str, list[_Turn] | None], graphviz.Digraph], layout: _Layout, n_nodes: int, width_px: float
) -> graphviz.Digraph:
    """Lay the map out both ways and keep the direction whose text reads largest at ``width_px``:
    the preferred direction when its text is large enough, else the larger.

    A large map (:data:`AHEAD_CHARS`) has both layouts run at once (two ``dot`` processes)."""
    first = _first_direction(layout, n_nodes)
    if shutil.which("dot") is None:
        return build(first, None)
    other = "TB" if first == "LR" else "LR"
    turns: list[_Turn] = []
    first_dot = build(first, turns)  # the other direction is this map turned: built once, not twice
    built = {first: first_dot}
    if len(first_dot.source) >= AHEAD_CHARS:  # both laid out at once
        _run.run_dot_ahead(first_dot.source, "svg")
        built[other] = _turned(first_dot, turns, other)
        _run.run_dot_ahead(built[other].source, "svg")
    best: tuple[float, graphviz.Digraph] | None = None
    for direction in (first, other):
        dot = built[direction] if direction in built else _turned(first_dot, turns, direction)
        try:
            svg, _ = _run.render_source(dot.source, "svg")
        except _run.DotRunError:
            continue
        px = text_px(svg.decode("utf-8"), width_px=width_px)
        if px >= MIN_TEXT_PX:
            return dot
        if best is None or px > best[0]:
            best = (px, dot)
    return best[1] if best is not None else first_dot


def _build(
    graph: GraphLike,
    view: str,
    stat: str,
    stages: StagesLike | None,
    findings: FindingsLike | None,
    title: str | None,
    rankdir: str,
    max_label: int,
    legend: bool,
    max_edges: int | None,
    layout: _Layout,
    turns: list[_Turn] | None = None,
) -> graphviz.Digraph:
    """The map laid out in ``rankdir``; ``turns`` (when given) collects its direction-dependent
    parts (for :func:`_turned`)."""
    import graphviz

    stat_col, stat_label = STATISTICS[stat]
    working = graph.time_unit == formatting.WORKING_TIME
    style = _Style(view, stat_col, max_label, working, _badges(findings), rankdir)
    dot = graphviz.Digraph(name="process_map", format="svg")
    heading = title or (
        "Process map — frequency" if view == "frequency" else f"Process map — {stat_label} between activities"
    )
    edges = _drawn_edges(graph, layout, max_edges)
    cut = len(graph.edges) - len(edges)
    _graph_attributes(dot, graph, heading, rankdir, working, cut, turns)
    rows: list[dict[str, Any]] = sorted(_records(graph.nodes), key=layout.sort_key)
    _add_activities(dot, rows, layout, style)
    _add_start_and_end(dot, graph, rows, layout, style)
    _add_spine(dot, rows, layout, edges)
    _add_transitions(dot, graph, edges, rows, layout, style, turns)
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


def _drawn_edges(graph: GraphLike, layout: _Layout, max_edges: int | None) -> pd.DataFrame:
    """The edges drawn: all, or within ``max_edges`` the spine's, each activity's most frequent
    incoming and outgoing, then the most frequent (ties by names)."""
    edges = graph.edges
    if max_edges is None or len(edges) <= max_edges:
        return edges
    e = edges.sort_values(["count", "source", "target"], ascending=[False, True, True], kind="stable")
    pairs = set(itertools.pairwise(layout.spine))
    spine = [(s, t) in pairs for s, t in zip(e["source"], e["target"], strict=True)]
    strongest = set(e.drop_duplicates("source").index) | set(e.drop_duplicates("target").index)
    forced = e[[sp or i in strongest for sp, i in zip(spine, e.index, strict=True)]]
    rest = e.drop(index=forced.index).head(max(0, max_edges - len(forced)))
    return e.loc[sorted(set(forced.index) | set(rest.index))]


def _graph_attributes(
    dot: graphviz.Digraph,
    graph: GraphLike,
    heading: str,
    rankdir: str,
    working: bool,
    cut: int = 0,
    turns: list[_Turn] | None = None,
) -> None:
    """Title, subtitle (size, abstraction, working time) and the default node and edge styles."""
    subtitle = f"{formatting.counted(graph.n_cases, 'case')} · {formatting.counted(graph.n_events, 'event')}"
    abstraction = getattr(graph, "abstraction", None)
    if abstraction is not None and abstraction.is_abstracted:
        subtitle += f" · {abstraction.describe()}"
    if cut:
        subtitle += f" · {formatting.count(cut)} less frequent paths not drawn"
    if working:
        subtitle += f" · durations in {formatting.WORKING_TIME}"
    label = f"<<B>{_t(heading)}</B><BR/><FONT POINT-SIZE='{TEXT_PT}'>{_lines(subtitle, 110)}</FONT>>"

    def emit(target: Any, direction: str) -> None:
        target.attr(
            rankdir=direction,
            fontname=FONT,
            fontsize=TITLE_PT,
            labelloc="t",
            nodesep="0.3",
            ranksep="0.45",
            bgcolor="white",
            label=label,
        )

    _directed(dot, turns, rankdir, emit)
    dot.attr("node", fontname=FONT, fontsize=NAME_PT, shape="box", style="rounded,filled", penwidth="1")
    dot.attr("edge", fontname=FONT, fontsize=TEXT_PT, arrowsize="0.7")


def _lines(text: str, width: int) -> str:
    """Escaped text broken at `` · `` or spaces into lines of at most about ``width`` characters."""
    out: list[str] = []
    for word in text.split(" "):
        if out and len(out[-1]) + 1 + len(word) <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    return "<BR/>".join(_t(x) for x in out)


def _node_label(r: Mapping[str, Any], style: _Style) -> str:
    a = str(r["activity"])
    small = f"<FONT POINT-SIZE='{TEXT_PT}'>"
    parts = [
        f"<B>{_wrapped(a, style.max_label)}</B>",
        f"{small}{formatting.counted(r['events'], 'event')} · {formatting.counted(r['cases'], 'case')}</FONT>",
    ]
    if "service_median_s" in r and pd.notna(r.get("service_median_s")):
        service = formatting.short_duration(float(r["service_median_s"]), working=style.working)
        parts.append(f"{small}service {service}</FONT>")
    for b in style.badges.nodes.get(a, []):
        parts.append(f"<FONT POINT-SIZE='{TEXT_PT}' COLOR='#b00020'>{_t(b)}</FONT>")
    return "<" + "<BR/>".join(parts) + ">"


def _node_tip(r: Mapping[str, Any], style: _Style) -> str:
    text = (
        f"{r['activity']}: {formatting.counted(r['events'], 'event')} · {formatting.counted(r['cases'], 'case')}"
        f" ({formatting.percent(r.get('case_share', float('nan')), digits=0)})"
    )
    if "service_median_s" in r and pd.notna(r.get("service_median_s")):
        text += f" · median service {formatting.short_duration(float(r['service_median_s']), working=style.working)}"
    return _tip(text)


def _add_node(target: graphviz.Digraph, r: Mapping[str, Any], layout: _Layout, style: _Style, max_events: int) -> None:
    a = str(r["activity"])
    role = layout.role(a)
    shade = _BLUES[_bucket(float(r["events"]), 0, max_events, len(_BLUES))]
    attrs = {"fillcolor": shade, "fontcolor": "black"}
    if a in layout.spine:
        attrs["group"] = "spine"
    if layout.outside(a):
        attrs.update(fillcolor="#eeeeee", color="#999999", style="rounded,filled,dashed")
    if a in layout.outcomes:
        attrs.update(shape="box", style="filled", fillcolor="#d9f0d3" if a in layout.won else "#fde0dd")
    if a == style.badges.top_node:
        attrs.update(color="#b00020", penwidth="3")
    nid = node_id(a)
    attrs.update(id=nid, tooltip=_node_tip(r, style))
    attrs["class"] = f"sm-node sm-{role}"
    target.node(nid, label=_node_label(r, style), **attrs)


def _add_activities(dot: graphviz.Digraph, rows: list[dict[str, Any]], layout: _Layout, style: _Style) -> None:
    """Stages, outcomes and others; approvals clustered by their stage; activities outside the model
    apart; the outcomes on one rank."""
    max_events = max((int(r["events"]) for r in rows), default=1)
    for r in rows:
        a = str(r["activity"])
        if a in layout.approvals or layout.outside(a) or a in layout.outcomes:
            continue
        _add_node(dot, r, layout, style, max_events)
    outcomes = [r for r in rows if str(r["activity"]) in layout.outcomes]
    if outcomes:
        with dot.subgraph(name="outcomes") as c:
            c.attr(rank="same")
            for r in outcomes:
                _add_node(c, r, layout, style, max_events)
    approval_stages = {layout.approvals[str(r["activity"])] for r in rows if r["activity"] in layout.approvals}
    for stage in sorted(approval_stages, key=lambda s: layout.order.get(s, 0)):
        with dot.subgraph(name=f"cluster_approvals_{node_id(stage)}") as c:
            c.attr(
                label=f"<<I>approvals · {_t(stage, style.max_label)}</I>>",
                style="rounded,dashed",
                color="#8888aa",
                fontsize=TEXT_PT,
            )
            for r in rows:
                if layout.approvals.get(str(r["activity"])) == stage:
                    _add_node(c, r, layout, style, max_events)
    outside = [r for r in rows if layout.outside(str(r["activity"]))]
    if outside:
        with dot.subgraph(name="cluster_outside_model") as c:
            c.attr(label="<<I>not in the stage model</I>>", style="rounded,dotted", color="#999999", fontsize=TEXT_PT)
            for r in outside:
                _add_node(c, r, layout, style, max_events)


def _width(count: int, max_count: int) -> str:
    return f"{0.8 + 3.2 * math.log1p(count) / math.log1p(max_count):.2f}"


def _max_count(graph: GraphLike) -> int:
    if isinstance(graph, _GraphRead):
        return graph.max_count
    edges = graph.edges
    counts = [int(c) for c in edges["count"]]
    return max([*counts, *graph.start_activities.values(), *graph.end_activities.values(), 1])


def _edge_id(tail: str, head: str) -> str:
    return f"e-{tail}-{head}"


def _add_start_and_end(
    dot: graphviz.Digraph, graph: GraphLike, rows: list[dict[str, Any]], layout: _Layout, style: _Style
) -> None:
    """The start and end circles (first and last rank, in line with the spine), with dotted edges
    to the activities cases start and end with; only the edges into the spine's first activity and
    out of its last one or an outcome pull the layout (weight 0 for the rest)."""
    present = {str(r["activity"]) for r in rows}
    starts, ends = graph.start_activities, graph.end_activities
    n_start = sum(v for a, v in starts.items() if a in present)
    n_end = sum(v for a, v in ends.items() if a in present)
    common = {"style": "filled", "fillcolor": "#333333", "fontcolor": "white", "fontsize": TEXT_PT}
    max_count = _max_count(graph)
    # (node, label, shape, width, rank, cases, its activities, which pull the layout)
    sides = (
        ("start", START, "<▶ start>", "circle", "0.5", "source", n_start, starts, set(layout.spine[:1])),
        ("end", END, "<■ end>", "doublecircle", "0.4", "sink", n_end, ends, {*layout.outcomes, *layout.spine[-1:]}),
    )
    for side, node, label, shape, width, rank, n, _, _ in sides:
        with dot.subgraph(name=side) as c:
            c.attr(rank=rank)
            c.node(
                node,
                label=label,
                shape=shape,
                width=width,
                group="spine",
                id=node,
                tooltip=_tip(f"{side}: {formatting.counted(n, 'case')}"),
                **{"class": f"sm-node sm-{side}"},
                **common,
            )
    for side, _, _, _, _, _, _, counts, pulling in sides:  # the edges after both circles
        for a in sorted(counts, key=lambda x: (-counts[x], x)):
            if a not in present:
                continue
            tail, head = (START, node_id(a)) if side == "start" else (node_id(a), END)
            place = f"start → {a}" if side == "start" else f"{a} → end"
            dot.edge(
                tail,
                head,
                label=f"<{formatting.count(counts[a])}>",
                penwidth=_width(counts[a], max_count),
                color="#777777",
                style="dotted",
                weight="1" if a in pulling else "0",
                id=_edge_id(tail, head),
                tooltip=_tip(f"{place}: {formatting.counted_doing(counts[a], 'case', side + 's')} here"),
                **{"class": f"sm-edge sm-{side}"},
            )


def _add_spine(dot: graphviz.Digraph, rows: list[dict[str, Any]], layout: _Layout, edges: pd.DataFrame) -> None:
    """The spine as a straight line: invisible heavy edges where no transition joins two
    consecutive spine activities, and from the last one to each outcome."""
    present = {str(r["activity"]) for r in rows}
    drawn = set(zip(edges["source"].astype(str), edges["target"].astype(str), strict=True))
    spine = [a for a in layout.spine if a in present]
    for s1, s2 in itertools.pairwise(spine):
        if (s1, s2) not in drawn:
            dot.edge(node_id(s1), node_id(s2), style="invis", weight="20")
    if spine:
        for o in sorted(a for a in present if a in layout.outcomes):
            dot.edge(node_id(spine[-1]), node_id(o), style="invis", weight="10")


def _edge_kind(s: str, t: str, position: Mapping[str, int]) -> str:
    if s not in position or t not in position:
        return "other"
    gap = position[t] - position[s]
    return "spine" if gap == 1 else "skip" if gap > 1 else "rework"


_PORTS = {"LR": {"skip": "n", "rework": "s"}, "TB": {"skip": "e", "rework": "w"}}


def _edge_tip(e: Mapping[Any, Any], style: _Style) -> str:
    def wait(col: str) -> str:
        value = e.get(col)
        return formatting.short_duration(float(value), working=style.working) if pd.notna(value) else "–"

    text = f"{e['source']} → {e['target']}: {formatting.counted(e['count'], 'transition')}"
    if "cases" in e:
        text += f" · {formatting.counted(e['cases'], 'case')}"
    text += f" · median wait {wait('wait_median_s')} · 90th percentile wait {wait('wait_p90_s')}"
    return _tip(text)


def _add_transitions(
    dot: graphviz.Digraph,
    graph: GraphLike,
    edges: pd.DataFrame,
    rows: list[dict[str, Any]],
    layout: _Layout,
    style: _Style,
    turns: list[_Turn] | None = None,
) -> None:
    """Every drawn directly-follows edge, labelled by count or waiting time, marked as skip or
    backward move; skips and moves back leave the spine on opposite sides (their ports are
    the direction-dependent parts collected in ``turns``)."""
    waits = [float(x) for x in edges[style.stat_col] if pd.notna(x)] if len(edges) else []
    lo_w, hi_w = (min(waits), max(waits)) if waits else (0.0, 0.0)
    max_count = _max_count(graph)
    by_activity = {str(r["activity"]): r for r in rows}
    position = layout.position

    def key(activity: Any) -> tuple[int, int, float, str]:
        return layout.sort_key(by_activity.get(str(activity), {"activity": activity, "events": 0}))

    for e in sorted(edges.to_dict("records"), key=lambda e: (key(e["source"]), key(e["target"]))):
        s, t = str(e["source"]), str(e["target"])
        count = int(e["count"])
        kind = _edge_kind(s, t, position)
        attrs: dict[str, str] = {"penwidth": _width(count, max_count), "color": "#4d4d4d"}
        if style.view == "frequency":
            text = formatting.count(count)
        else:
            w = float(e[style.stat_col]) if pd.notna(e[style.stat_col]) else float("nan")
            text = formatting.short_duration(w, working=style.working)
            attrs["color"] = _HEAT[_bucket(w, lo_w, hi_w, len(_HEAT))] if not math.isnan(w) else "#999999"
        text += _mark_intended_path(attrs, s, t, layout)
        if kind == "spine":
            attrs["weight"] = "20"
        elif kind in ("skip", "rework"):
            side = _PORTS.get(style.rankdir, _PORTS["LR"])[kind]
            attrs.update(tailport=side, headport=side)
            if kind == "rework":
                attrs["constraint"] = "false"
        lines = [text, *style.badges.edges.get((s, t), [])]
        if style.badges.top_edge == (s, t):
            attrs.update(color="#b00020", penwidth=f"{float(attrs['penwidth']) + 2:.2f}")
        label = "<" + "<BR/>".join(_t(x) for x in "\n".join(lines).split("\n")) + ">"
        tail, head = node_id(s), node_id(t)
        attrs.update(id=_edge_id(tail, head), tooltip=_edge_tip(e, style))
        attrs["class"] = f"sm-edge sm-{kind}"
        if kind in ("skip", "rework"):
            _directed(dot, turns, style.rankdir, _ported_edge(tail, head, label, attrs, kind))
        else:
            dot.edge(tail, head, label=label, **attrs)


def _ported_edge(tail: str, head: str, label: str, attrs: Mapping[str, str], kind: str) -> Callable[[Any, str], None]:
    """Writes a skip or a move back: its ports face the side :data:`_PORTS` gives for the direction."""

    def emit(target: Any, direction: str) -> None:
        side = _PORTS.get(direction, _PORTS["LR"])[kind]
        target.edge(tail, head, label=label, **{**attrs, "tailport": side, "headport": side})

    return emit


def _mark_intended_path(attrs: dict[str, str], s: str, t: str, layout: _Layout) -> str:
    """Style an edge between two stages (skip, backward move); the text to add to its label."""
    if s not in layout.order or t not in layout.order:
        return ""
    gap = layout.order[t] - layout.order[s]
    if gap > 1:
        attrs.update(style="dashed", color="#2b6cb0", fontcolor="#2b6cb0")
        return f" · skips {gap - 1}"
    if gap < 0:
        attrs.update(color="#c53030", fontcolor="#c53030", constraint="false")
        return " · back"
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


# --- drawing --------------------------------------------------------------------------------------
_HINT = (
    "Draw fewer activities (coverage=0.8, or --coverage 0.8 on the command line), "
    "or save the DOT source (.dot) and draw it with another tool."
)


def _require_dot() -> None:
    _run.require_dot()


def render_bytes(dot: graphviz.Digraph, fmt: str = "svg", *, dpi: int | None = None) -> bytes:
    """Run ``dot`` and return the rendered bytes (``svg``, ``png`` or ``pdf``).

    ``dot`` runs with a timeout and its messages captured; a failed layout is retried without
    clusters and with new ranking, then with straight edges. When every layout fails,
    :class:`~salesmining.core.errors.MapUnavailableError` says so in one sentence (nothing of
    Graphviz's own output); a missing ``dot`` is a :class:`~salesmining.RenderError` saying
    what to install."""
    source = dot.source
    if dpi is not None:
        g = dot.copy()
        g.attr(dpi=str(dpi))
        source = g.source
    try:
        data, _ = _run.render_source(source, fmt)
    except _run.DotRunError as exc:
        raise _run.unavailable(exc.attempts or (_run.Attempt("as drawn", exc.problem),), hint=_HINT) from None
    return data


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


_VIEWBOX = re.compile(r'viewBox="[-\d.]+ [-\d.]+ ([\d.]+) ([\d.]+)"')
_FONT_SIZE = re.compile(r'font-size="([\d.]+)"')


def svg_size(svg: str) -> tuple[float, float]:
    """The SVG's ``viewBox`` width and height (points: 1 user unit per point)."""
    m = _VIEWBOX.search(svg)
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def text_px(svg: str, *, width_px: float = REPORT_WIDTH_PX) -> float:
    """The smallest text of an SVG map, in CSS pixels, when the map is shown ``width_px`` wide
    (its ``viewBox`` scaled to that width): ``min(font-size) × width_px / viewBox width``."""
    width, _ = svg_size(svg)
    sizes = [float(x) for x in _FONT_SIZE.findall(svg)]
    if not width or not sizes:
        return 0.0
    return min(sizes) * width_px / width


@dataclass(frozen=True)
class MapDrawing:
    """A drawn process map, or the sentence saying why it could not be drawn.

    Attributes
    ----------
    svg:
        The SVG (XML declaration dropped, ready to inline), or ``None``.
    message:
        When ``svg`` is ``None``: one plain sentence for the reader (never Graphviz's output).
    hidden:
        What the map leaves out, as the subtitle says it (``""`` when nothing is hidden).
    attempts:
        Each layout tried: ``(layout, problem)``, ``problem`` empty for the one drawn.
    rankdir, width_pt, height_pt, text_px:
        The direction kept, the drawing's size (its ``viewBox``) and its smallest text in CSS
        pixels at ``width_px`` (:func:`text_px`).
    """

    svg: str | None
    message: str = ""
    hidden: str = ""
    attempts: tuple[tuple[str, str], ...] = ()
    rankdir: str = ""
    width_pt: float = 0.0
    height_pt: float = 0.0
    text_px: float = 0.0
    width_px: float = REPORT_WIDTH_PX
    dot: graphviz.Digraph | None = field(default=None, repr=False, compare=False)

    @property
    def drawn(self) -> bool:
        return self.svg is not None

    def __repr__(self) -> str:
        if self.svg is None:
            return f"<MapDrawing: not drawn — {self.message}>"
        size = f"{self.width_pt:,.0f} × {self.height_pt:,.0f} pt, {self.rankdir}"
        return f"<MapDrawing: {size}, smallest text {self.text_px:.1f} px at {self.width_px:,.0f} px>"

    def _repr_html_(self) -> str:
        if self.svg is None:
            return f"<div style='color:#9a6700'>{html.escape(self.message)}</div>"
        note = f"<div style='color:#57606a'>{html.escape(self.hidden)}</div>" if self.hidden else ""
        return f"<div style='max-width:100%'>{self.svg}</div>{note}"

    def to_frame(self) -> pd.DataFrame:
        """One row per layout tried: ``layout``, ``problem`` (empty for the one drawn)."""
        return pd.DataFrame(list(self.attempts), columns=["layout", "problem"])

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the SVG included): JSON-ready."""
        return {
            "drawn": self.drawn,
            "svg": self.svg,
            "message": self.message,
            "hidden": self.hidden,
            "attempts": [{"layout": a, "problem": p} for a, p in self.attempts],
            "rankdir": self.rankdir,
            "width_pt": self.width_pt,
            "height_pt": self.height_pt,
            "text_px": self.text_px,
            "width_px": self.width_px,
        }


def draw_map(graph: GraphLike, *, width_px: float = REPORT_WIDTH_PX, **options: Any) -> MapDrawing:
    """Draw a map (options as :func:`process_map`) as SVG, never raising for Graphviz's troubles.

    Failed layouts are retried simpler (see :func:`render_bytes`); when all fail, the map is
    drawn again with fewer transitions (the spine's, each activity's strongest, then the most
    frequent: about two per activity), and when that fails too the result carries one plain
    sentence in ``message``. A missing ``dot`` gives the sentence saying what to install.

    The same graph, stage model and findings (the same objects) with the same options are drawn
    once: later calls get the remembered drawing (with a copy of its ``dot``).
    """
    options = {**options, "width_px": width_px}
    # keyed with every default spelled out: a map asked for with and without the defaults
    # (``stat="median"``, ``findings=None``...) is the same map, drawn once
    key = _drawing_key(graph, {**_map_defaults(), **options})
    drawing = _remembered(key, graph, options)
    if drawing is None:
        drawing = _draw(graph, dict(options))
        if key is not None:
            _DRAWINGS[key] = (tuple(_ref(obj) for obj in _drawn_from(graph, options)), drawing)
            while len(_DRAWINGS) > _DRAWINGS_SIZE:
                _DRAWINGS.popitem(last=False)
    return drawing if drawing.dot is None else replace(drawing, dot=drawing.dot.copy())  # the caller's own graph


def draw_ahead(graph: GraphLike, *, width_px: float = REPORT_WIDTH_PX, **options: Any) -> None:
    """Start, in the background, the Graphviz layout that :func:`draw_map` with the same
    arguments runs first (with ``rankdir="auto"``, the direction tried first), and return at once.

    The later :func:`draw_map` waits for that run instead of starting its own, so the layouts of
    several maps run side by side (two ``dot`` processes at most) while the caller computes
    something else. A map already drawn, options :func:`draw_map` refuses, or no ``dot``
    installed: nothing is started (the drawing itself then says what is wrong). The drawing made
    is the same, byte for byte, as without this call.
    """
    if shutil.which("dot") is None:
        return
    key = _drawing_key(graph, {**_map_defaults(), **options, "width_px": width_px})
    if _remembered(key, graph, {**options, "width_px": width_px}) is not None:
        return
    opts = {**_map_defaults(), **options}
    try:
        rankdir = opts["rankdir"]
        build, layout, n_nodes = _planned(
            graph,
            view=opts["view"],
            stat=opts["stat"],
            stages=opts["stages"],
            findings=opts["findings"],
            title=opts["title"],
            rankdir=rankdir,
            max_label=opts["max_label"],
            legend=opts["legend"],
            max_edges=opts["max_edges"],
        )
        source = build(rankdir if rankdir != "auto" else _first_direction(layout, n_nodes), []).source
    except (OptionError, KeyError, TypeError):
        return
    _run.run_dot_ahead(source, "svg")


def _map_defaults() -> dict[str, Any]:
    """:func:`process_map`'s keyword options and their defaults."""
    if not _MAP_DEFAULTS:
        params = inspect.signature(process_map).parameters.values()
        _MAP_DEFAULTS.update({p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY})
    return _MAP_DEFAULTS


_MAP_DEFAULTS: dict[str, Any] = {}

# Drawings already made, per (graph, stages, findings: by identity, held weakly; the other options;
# whether dot is installed; the generation of Graphviz runs). A graph and its results are frozen,
# so the same objects and options draw the same map.
_DRAWINGS: OrderedDict[tuple[Any, ...], tuple[tuple[Callable[[], Any], ...], MapDrawing]] = OrderedDict()
_DRAWINGS_SIZE = 16


def _drawn_from(graph: GraphLike, options: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return graph, options.get("stages"), options.get("findings")


def _ref(obj: Any) -> Callable[[], Any]:
    return (lambda: None) if obj is None else weakref.ref(obj)


def _drawing_key(graph: GraphLike, options: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The cache key of a drawing, or ``None`` when it cannot be remembered (an object that
    cannot be referenced weakly, an option that cannot be hashed)."""
    try:
        for obj in _drawn_from(graph, options):
            _ref(obj)
        plain = tuple(sorted((k, v) for k, v in options.items() if k not in ("stages", "findings")))
        key = (*(id(obj) for obj in _drawn_from(graph, options)), plain, shutil.which("dot"), _run.generation())
        hash(key)
    except TypeError:
        return None
    return key


def _remembered(key: tuple[Any, ...] | None, graph: GraphLike, options: Mapping[str, Any]) -> MapDrawing | None:
    """The drawing made earlier from these very objects and options, if any."""
    known = _DRAWINGS.get(key) if key is not None else None
    if key is None or known is None:
        return None
    if any(ref() is not obj for ref, obj in zip(known[0], _drawn_from(graph, options), strict=True)):
        return None  # an object of the same id, not the one drawn
    _DRAWINGS.move_to_end(key)
    return known[1]


def _draw(graph: GraphLike, options: dict[str, Any]) -> MapDrawing:
    """:func:`draw_map`'s drawing, made (``options`` with ``width_px``)."""
    width_px = options["width_px"]
    abstraction = getattr(graph, "abstraction", None)
    hidden = abstraction.describe() if abstraction is not None and abstraction.is_abstracted else ""
    tried: list[tuple[str, str]] = []
    budgets: list[int | None] = [options.pop("max_edges", None)]
    n_nodes = len(graph.nodes)
    if len(graph.edges) > 2 * n_nodes:
        budgets.append(2 * n_nodes)
    budgets.append(n_nodes)
    for budget in budgets:
        label = "" if budget is None else f" ({budget} paths)"
        try:
            dot = process_map(graph, max_edges=budget, **options)
            data, attempts = _run.render_source(dot.source, "svg")
        except _run.DotRunError as exc:
            tried += [(f"{a.layout}{label}", a.problem) for a in exc.attempts]
            continue
        except RenderError as exc:  # no dot program: the sentence says what to install
            return MapDrawing(None, message=str(exc), hidden=hidden, width_px=width_px)
        tried += [(f"{a.layout}{label}", a.problem) for a in attempts]
        svg = strip_declaration(data.decode("utf-8"))
        cut = len(graph.edges) - len(_drawn_edges(graph, _Layout.of(options.get("stages"), graph), budget))
        if cut:
            hidden = (hidden + "; " if hidden else "") + f"{formatting.count(cut)} less frequent paths not drawn"
        width, height = svg_size(svg)
        return MapDrawing(
            svg,
            hidden=hidden,
            attempts=tuple(tried),
            rankdir=str(dot.graph_attr.get("rankdir", "")) or _rankdir_of(dot.source),
            width_pt=width,
            height_pt=height,
            text_px=text_px(svg, width_px=width_px),
            width_px=width_px,
            dot=dot,
        )
    return MapDrawing(None, message=_short_message(tried), hidden=hidden, attempts=tuple(tried), width_px=width_px)


def _short_message(tried: Sequence[tuple[str, str]]) -> str:
    problems = sorted({p.removeprefix("Graphviz ") for _, p in tried if p})
    return f"The process map could not be drawn: Graphviz failed on every layout tried ({'; '.join(problems)}). {_HINT}"


def _rankdir_of(source: str) -> str:
    m = re.search(r"rankdir=(\w+)", source)
    return m.group(1) if m else ""


def strip_declaration(svg: str) -> str:
    """Inline-able SVG: the XML declaration and DOCTYPE dropped."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
