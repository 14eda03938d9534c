"""Interactive maps for the HTML reports and notebooks: pan and zoom, hover for the numbers, and
findings that highlight their places on the map.

The JavaScript is the npm package ``svg-pan-zoom`` (BSD-2-Clause, vendored unchanged in
``present/assets`` with its licence) and a small glue script; both are inlined, so a report
works offline and from ``file://``. What the script shows comes from a JSON block per map
(:func:`json_script`, escaped so that no value can close the ``<script>`` element); the SVG
itself stays complete and static without JavaScript (print, PDF, GitHub's notebook viewer).

Renders plain values handed to it; computes nothing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from salesmining.core import formatting
from salesmining.core.errors import RenderError
from salesmining.core.html import esc

if TYPE_CHECKING:
    from salesmining.present.maps import FindingsLike, GraphLike

__all__ = ["VENDORED", "assets_html", "finding_places", "interactive_map", "json_script", "map_data"]

#: The vendored JavaScript: file → (npm package, version, licence, sha256 of the file).
VENDORED: Mapping[str, tuple[str, str, str, str]] = {
    "svg-pan-zoom.min.js": (
        "svg-pan-zoom",
        "3.6.2",
        "BSD-2-Clause",
        "9c8fc41b3359e699990766dd7a943595d234a80c880a90dfc14b920a273b99d8",
    ),
}

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_JSON_UNSAFE = re.compile("[<>&\u2028\u2029]")


def json_script(data: Any, *, cls: str = "sm-map-data") -> str:
    """A ``<script type="application/json">`` block whose text no value can break out of.

    ``<``, ``>`` and ``&`` are written as JSON escapes, so ``</script>`` in a stage name stays
    inside the string (``JSON.parse`` restores it).

    >>> json_script({"a": "</script><b>"})
    '<script type="application/json" class="sm-map-data">{"a": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"}</script>'
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    text = _JSON_UNSAFE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text)
    return f'<script type="application/json" class="{esc(cls)}">{text}</script>'


def _asset(name: str) -> str:
    return resources.files("salesmining.present").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def assets_html() -> str:
    """The inline ``<style>`` and ``<script>`` elements every interactive page needs (once per page
    or notebook output; running the script twice is harmless)."""
    lib = _asset("svg-pan-zoom.min.js")
    glue = _asset("interactive.js")
    for name, js in (("svg-pan-zoom.min.js", lib), ("interactive.js", glue)):
        if "</script" in js.lower():  # pragma: no cover - checked by a test on the vendored files
            raise RenderError(f"the packaged {name} cannot be inlined: it contains '</script'")
    package, ver, licence, _ = VENDORED["svg-pan-zoom.min.js"]
    return (
        f"<style>{_asset('interactive.css')}</style>\n"
        f"<script>/* {package} {ver} ({licence}), https://github.com/bumbu/svg-pan-zoom */\n"
        f"if (typeof window.svgPanZoom !== 'function') {{\n{lib}\n}}</script>\n"
        f"<script>{glue}</script>"
    )


def _node_id(activity: str) -> str:
    from salesmining.present.maps import node_id

    return node_id(activity)


def _known(v: object) -> bool:
    return v is not None and not formatting.is_missing(v) and str(v) != ""


def _text(v: object) -> str:
    return formatting.one_line(v)


def map_data(graph: GraphLike, findings: FindingsLike | None = None) -> dict[str, Any]:
    """What the script of one map shows, as JSON-ready values: the hover text of each node
    (``node_id(activity)``) and edge (``"tail->head"``), and each finding's places (from the
    structured ``activity`` / ``from_activity`` / ``to_activity`` columns) and example cases."""
    from salesmining.present.maps import END, START

    working = graph.time_unit == formatting.WORKING_TIME
    nodes: dict[str, str] = {}
    for a, ev, cs, share in graph.nodes[["activity", "events", "cases", "case_share"]].itertuples(index=False):
        nodes[_node_id(str(a))] = (
            f"{_text(a)}\n{formatting.counted(ev, 'event')} · "
            f"{formatting.counted(cs, 'case')} ({formatting.percent(share)})"
        )
    nodes[START] = f"start: {formatting.counted(graph.n_cases, 'case')}"
    nodes[END] = "end"
    edges: dict[str, str] = {}
    cols = ["source", "target", "count", "cases", "wait_median_s", "wait_p90_s"]
    for s, t, n, cs, med, p90 in graph.edges[cols].itertuples(index=False):
        edges[f"{_node_id(str(s))}->{_node_id(str(t))}"] = (
            f"{_text(s)} → {_text(t)}\n{formatting.counted(n, 'transition')} · {formatting.counted(cs, 'case')}\n"
            f"wait: median {formatting.hours(med / 3600, working=working)} · "
            f"90th percentile {formatting.hours(p90 / 3600, working=working)}"
        )
    for a, n in graph.start_activities.items():
        edges[f"{START}->{_node_id(str(a))}"] = f"{formatting.counted_doing(n, 'case', 'starts')} at {_text(a)}"
    for a, n in graph.end_activities.items():
        edges[f"{_node_id(str(a))}->{END}"] = f"{formatting.counted_doing(n, 'case', 'ends')} at {_text(a)}"
    return {"nodes": nodes, "edges": edges, "findings": finding_places(findings)}


def finding_places(findings: FindingsLike | None) -> list[dict[str, Any]]:
    """Per finding: ``rank``, ``title``, ``severity``, the map ``nodes`` and ``edges`` it sits on
    and its example ``cases``."""
    if findings is None:
        return []
    f = findings.to_frame()
    out = []
    cols = ["rank", "kind", "where", "severity", "activity", "from_activity", "to_activity", "example_cases"]
    for rank, kind, where, sev, act, src, dst, cases in f[cols].itertuples(index=False):
        nodes: list[str] = []
        edges: list[str] = []
        if _known(act):
            nodes.append(_node_id(str(act)))
        if _known(src) and _known(dst):
            a, b = _node_id(str(src)), _node_id(str(dst))
            edges.append(f"{a}->{b}")
            nodes.extend(x for x in (a, b) if x not in nodes)
        out.append(
            {
                "rank": int(rank),
                "title": f"{str(kind).replace('_', ' ')} — {_text(where)}",
                "severity": str(sev),
                "nodes": nodes,
                "edges": edges,
                "cases": [str(c) for c in _cases(cases)],
            }
        )
    return out


def _cases(value: object) -> Sequence[object]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    return []


_SVG_SIZE = re.compile(r'\s(?:width|height)="[^"]*"')


def _fluid(svg: str) -> str:
    """The SVG without its fixed width and height (its viewBox keeps the proportions), so the
    page's CSS fits it to the report's width."""
    start = svg.find("<svg")
    if start < 0:
        return svg
    end = svg.find(">", start)
    return svg[:start] + _SVG_SIZE.sub("", svg[start:end]) + svg[end:]


def interactive_map(svg: str, data: Mapping[str, Any], *, focus: bool = True) -> str:
    """One map: the static SVG, the JSON the script reads, zoom buttons, a tooltip and (``focus``)
    the panel that lists a selected finding's example cases. Needs :func:`assets_html` once on
    the page."""
    tools = (
        '<div class="sm-map-tools"><button type="button" data-sm-zoom="in" title="zoom in">+</button>'
        '<button type="button" data-sm-zoom="out" title="zoom out">−</button>'
        '<button type="button" data-sm-zoom="reset">fit</button>'
        "<span>drag to move · Ctrl/⌘ + scroll or double-click to zoom · hover for numbers</span></div>"
    )
    panel = (
        '<div class="sm-focus" hidden><b class="sm-focus-title"></b><span class="sm-focus-note"></span> '
        '<button type="button" class="sm-focus-close">clear</button>'
        '<div class="muted">example cases:</div><ul class="sm-focus-cases"></ul></div>'
        if focus
        else ""
    )
    return (
        f'<div class="sm-map">{tools}<div class="sm-map-view">{_fluid(svg)}</div>'
        f'<div class="sm-tip" hidden></div>{panel}{json_script(dict(data))}</div>'
    )
