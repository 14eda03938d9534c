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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from salesmining.core.errors import RenderError

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
    """Ranked findings (:class:`salesmining.Findings`)."""

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


def fmt_duration(seconds: float, unit: str = "s") -> str:
    """Compact duration: ``45 s``, ``12 min``, ``3.5 h``, ``2.1 d`` (``wh`` = working hours)."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    if unit == "working seconds":
        return f"{seconds / 3600:,.1f} wh"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _bucket(value: float, lo: float, hi: float, n: int) -> int:
    if hi <= lo or math.isnan(value):
        return 0
    x = (math.log1p(value) - math.log1p(lo)) / (math.log1p(hi) - math.log1p(lo))
    return max(0, min(n - 1, int(x * (n - 1) + 0.5)))


def _badges(findings: FindingsLike | None, max_per_place: int = 2) -> tuple[dict[str, list[str]], str | None]:
    """Badge texts by place (``where``), and the place of the top finding. Edge badges are short
    (rank, kind, share) because edge labels widen the layout; node badges add the time lost."""
    """Badge texts by place (``where``), and the place of the top finding."""
    if findings is None:
        return {}, None
    f = findings.to_frame()
    f = f[f["severity"].isin(["high", "medium"])]
    out: dict[str, list[str]] = {}
    for r in f.to_dict("records"):
        place = str(r["where"]).removesuffix(" (open, stalled)")
        label = _KIND_BADGE.get(str(r["kind"]), str(r["kind"]))
        if r["time_lost_hours"] > 0 and " → " not in place:
            text = f"#{r['rank']} {label} {r['share']:.0%} · {r['time_lost_hours'] / 24:,.0f} d lost"
        else:
            text = f"#{r['rank']} {label} {r['share']:.0%}"
        out.setdefault(place, [])
        if len(out[place]) < max_per_place:
            out[place].append(text)
    top = str(f.iloc[0]["where"]).removesuffix(" (open, stalled)") if len(f) else None
    return out, top


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
    """
    import graphviz

    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    if stat not in STATISTICS:
        raise ValueError(f"stat must be one of {tuple(STATISTICS)}, not {stat!r}")
    nodes = graph.nodes
    edges = graph.edges
    stat_col, stat_label = STATISTICS[stat]
    unit = getattr(graph, "time_unit", "s")
    badges, top = _badges(findings)

    dot = graphviz.Digraph(name="process_map", format="svg")
    heading = title or (
        "Process map — frequency" if view == "frequency" else f"Process map — {stat_label} between activities"
    )
    subtitle = f"{graph.n_cases:,} cases · {graph.n_events:,} events"
    abstraction = getattr(graph, "abstraction", None)
    if abstraction is not None and abstraction.is_abstracted:
        subtitle += f" · {abstraction.describe()}"
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

    order = {s: i for i, s in enumerate(stages.stages)} if stages is not None else {}
    outcomes = set(stages.won) | set(stages.lost) if stages is not None else set()
    approvals = dict(stages.approvals) if stages is not None else {}
    known = set(order) | outcomes | set(approvals) | (set(stages.anywhere) if stages is not None else set())

    def sort_key(row: Mapping[str, Any]) -> tuple[int, int, float, str]:
        a = str(row["activity"])
        group = 0 if a in order else 1 if a in outcomes else 2 if a in approvals else 3
        return (group, order.get(a, 0), -float(row["events"]), a)

    rows: list[dict[str, Any]] = sorted(_records(nodes), key=sort_key)
    max_events = max((int(r["events"]) for r in rows), default=1)

    def node_label(r: Mapping[str, Any]) -> str:
        a = str(r["activity"])
        parts = [
            f"<B>{_t(a, max_label)}</B>",
            f"<FONT POINT-SIZE='9'>{int(r['events']):,} events · {int(r['cases']):,} cases</FONT>",
        ]
        if "service_median_s" in r and pd.notna(r.get("service_median_s")):
            parts.append(f"<FONT POINT-SIZE='9'>service {fmt_duration(float(r['service_median_s']), unit)}</FONT>")
        for b in badges.get(a, []):
            parts.append(f"<FONT POINT-SIZE='9' COLOR='#b00020'>{_t(b)}</FONT>")
        return "<" + "<BR/>".join(parts) + ">"

    def add_node(target: graphviz.Digraph, r: Mapping[str, Any]) -> None:
        a = str(r["activity"])
        shade = _BLUES[_bucket(float(r["events"]), 0, max_events, len(_BLUES))]
        attrs = {"fillcolor": shade, "fontcolor": "black"}
        if stages is not None and a not in known:
            attrs.update(fillcolor="#eeeeee", color="#999999", style="rounded,filled,dashed")
        if a in outcomes:
            attrs.update(shape="box", style="filled", fillcolor="#d9f0d3" if a in stages.won else "#fde0dd")  # type: ignore[union-attr]
        if a == top:
            attrs.update(color="#b00020", penwidth="3")
        target.node(node_id(a), label=node_label(r), **attrs)

    spine = [r for r in rows if r["activity"] in order]
    for r in rows:
        a = str(r["activity"])
        if a in approvals or (stages is not None and a not in known):
            continue
        add_node(dot, r)
    if approvals:
        for stage in sorted(
            {approvals[str(r["activity"])] for r in rows if r["activity"] in approvals}, key=lambda s: order.get(s, 0)
        ):
            with dot.subgraph(name=f"cluster_approvals_{node_id(stage)}") as c:
                c.attr(
                    label=f"<<I>approvals · {_t(stage, max_label)}</I>>",
                    style="rounded,dashed",
                    color="#8888aa",
                    fontsize="10",
                )
                for r in rows:
                    if approvals.get(str(r["activity"])) == stage:
                        add_node(c, r)
    outside = [r for r in rows if stages is not None and r["activity"] not in known]
    if outside:
        with dot.subgraph(name="cluster_outside_model") as c:
            c.attr(label="<<I>not in the stage model</I>>", style="rounded,dotted", color="#999999", fontsize="10")
            for r in outside:
                add_node(c, r)

    # start / end
    starts = graph.start_activities
    ends = graph.end_activities
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
    max_count = max([int(c) for c in edges["count"]] + list(starts.values()) + list(ends.values()) + [1])
    waits = [float(x) for x in edges[stat_col] if pd.notna(x)] if len(edges) else []
    lo_w, hi_w = (min(waits), max(waits)) if waits else (0.0, 0.0)

    def width(count: int) -> str:
        return f"{0.8 + 3.2 * math.log1p(count) / math.log1p(max_count):.2f}"

    for a in sorted(starts, key=lambda x: (-starts[x], x)):
        if a in present:
            dot.edge(
                START, node_id(a), label=f"<{starts[a]:,}>", penwidth=width(starts[a]), color="#777777", style="dotted"
            )
    for a in sorted(ends, key=lambda x: (-ends[x], x)):
        if a in present:
            dot.edge(node_id(a), END, label=f"<{ends[a]:,}>", penwidth=width(ends[a]), color="#777777", style="dotted")

    # the intended path as a straight spine
    for s1, s2 in itertools.pairwise(spine):
        dot.edge(node_id(str(s1["activity"])), node_id(str(s2["activity"])), style="invis", weight="20")

    erows = sorted(
        edges.to_dict("records"), key=lambda e: (sort_key(_row(nodes, e["source"])), sort_key(_row(nodes, e["target"])))
    )
    for e in erows:
        s, t = str(e["source"]), str(e["target"])
        count = int(e["count"])
        attrs: dict[str, str] = {"penwidth": width(count), "color": "#4d4d4d"}
        if view == "frequency":
            text = f"{count:,}"
        else:
            w = float(e[stat_col]) if pd.notna(e[stat_col]) else float("nan")
            text = fmt_duration(w, unit)
            attrs["color"] = _HEAT[_bucket(w, lo_w, hi_w, len(_HEAT))] if not math.isnan(w) else "#999999"
        if s in order and t in order:
            gap = order[t] - order[s]
            if gap > 1:
                attrs.update(style="dashed", color="#2b6cb0", fontcolor="#2b6cb0")
                text += f" · skips {gap - 1}"
            elif gap < 0:
                attrs.update(color="#c53030", fontcolor="#c53030", constraint="false")
                text += " · back"
            elif gap == 1:
                attrs["weight"] = "10"
        for b in badges.get(f"{s} → {t}", []):
            text += f"\n{b}"
        if f"{s} → {t}" == top:
            attrs.update(color="#b00020", penwidth=f"{float(attrs['penwidth']) + 2:.2f}")
        label = "<" + "<BR/>".join(_t(x) for x in text.split("\n")) + ">"
        dot.edge(node_id(s), node_id(t), label=label, **attrs)

    if legend and (findings is not None or stages is not None):
        _legend(dot, view=view, stat_label=stat_label, stages=stages is not None, findings=findings is not None)
    return dot


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def _row(nodes: pd.DataFrame, activity: str) -> Mapping[str, Any]:
    m = nodes[nodes["activity"] == activity]
    if len(m):
        return dict(m.iloc[0])
    return {"activity": activity, "events": 0}


def legend_items(*, view: str, stat_label: str, stages: bool, findings: bool) -> list[str]:
    """The legend's lines (also printed as text under maps in reports)."""
    items = []
    if view == "performance":
        items.append(f"edge colour: {stat_label}, green (short) → red (long)")
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


def _legend(dot: graphviz.Digraph, *, view: str, stat_label: str, stages: bool, findings: bool) -> None:
    items = legend_items(view=view, stat_label=stat_label, stages=stages, findings=findings)
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
        raise ValueError(f"unsupported graph format {fmt!r}: use svg, png, pdf or dot")
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("dot", "gv"):
        p.write_text(dot.source, encoding="utf-8")
    else:
        p.write_bytes(render_bytes(dot, fmt, dpi=dpi))
    return p


def svg_text(dot: graphviz.Digraph) -> str:
    """The SVG of a graph as text (for HTML reports and notebooks)."""
    return render_bytes(dot, "svg").decode("utf-8")
