"""Discover the real flow: :func:`discover` → :class:`ProcessGraph`.

The directly-follows graph (DFG) of a log with frequencies and waiting times, its variants,
and Disco/Apromore-style abstraction, computed on the engine layer (:mod:`salesmining.engine.aggregations`).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import narwhals as nw
import numpy as np
import pandas as pd

from salesmining.core import formatting as _fmt
from salesmining.core import html as _display
from salesmining.core.calendar import BusinessCalendar
from salesmining.core.errors import ArgumentTypeError, OptionError
from salesmining.core.frames import handout
from salesmining.core.plain import plain, records
from salesmining.engine import aggregations as _engine
from salesmining.engine.aggregations import ACT_ID

if TYPE_CHECKING:
    import graphviz
    import networkx as nx  # type: ignore[import-untyped]

    from salesmining.analysis.stages import StageModel
    from salesmining.log.eventlog import EventLog
    from salesmining.present.maps import FindingsLike as Findings

__all__ = ["Abstraction", "BusinessCalendar", "ProcessGraph", "discover", "discoverer", "fit_to_width"]

_WAIT_STATS = ("median", "mean", "p90", "max", "min", "total")
_NODE_COLUMNS = ["activity", "events", "cases", "case_share", "starts", "ends"]
_SERVICE_COLUMNS = ["service_count", *(f"service_{s}_s" for s in _WAIT_STATS)]
_EDGE_COLUMNS = ["source", "target", "count", "cases", "case_share", "bridged", *(f"wait_{s}_s" for s in _WAIT_STATS)]
_VARIANT_COLUMNS = [
    "variant",
    "count",
    "share",
    "length",
    "median_throughput_s",
    "mean_throughput_s",
    "p90_throughput_s",
    "max_throughput_s",
    "min_throughput_s",
    "example_case",
]


@dataclass(frozen=True)
class Abstraction:
    """How a :class:`ProcessGraph` was simplified, and how much it hides.

    Attributes
    ----------
    activity_coverage, min_activity_count, edge_coverage, min_edge_count, keep_connected, max_activities, max_edges:
        The settings passed to :func:`discover`.
    kept_activities:
        The activities kept whatever the thresholds and budgets (the spine).
    hidden_activities, hidden_events:
        Activities left out, and their events.
    hidden_cases:
        Cases none of whose activities is shown.
    bridged_transitions:
        Shown transitions that jump over hidden activities (A → hidden → B is shown as A → B).
    hidden_edges, hidden_transitions:
        Paths between shown activities that were cut, and the transitions they carried.
    total_events, total_transitions:
        The denominators: all events, and all transitions between shown activities.
    total_activities, total_paths, hidden_paths:
        All activities and all directly-follows paths of the log, and how many of those paths
        the map does not draw (between hidden activities, or cut).
    """

    activity_coverage: float = 1.0
    min_activity_count: int = 1
    edge_coverage: float = 1.0
    min_edge_count: int = 1
    keep_connected: bool = True
    hidden_activities: int = 0
    hidden_events: int = 0
    hidden_cases: int = 0
    bridged_transitions: int = 0
    hidden_edges: int = 0
    hidden_transitions: int = 0
    total_events: int = 0
    total_transitions: int = 0
    max_activities: int | None = None
    max_edges: int | None = None
    kept_activities: tuple[str, ...] = ()
    total_activities: int = 0
    total_paths: int = 0
    hidden_paths: int = 0

    @property
    def is_abstracted(self) -> bool:
        """Whether anything is hidden."""
        return bool(self.hidden_activities or self.hidden_edges)

    @property
    def hidden_event_share(self) -> float:
        """Share of events that belong to hidden activities."""
        return self.hidden_events / self.total_events if self.total_events else 0.0

    @property
    def hidden_transition_share(self) -> float:
        """Share of transitions (between shown activities) on hidden paths."""
        return self.hidden_transitions / self.total_transitions if self.total_transitions else 0.0

    #: How to show everything, in the API and on the command line.
    hint: str = dataclasses.field(default="draw everything with coverage=1.0 (--coverage 1)", init=False, repr=False)

    def describe(self) -> str:
        """One line a reader understands: what is hidden and how to show it (or ``"nothing hidden"``).

        >>> a = Abstraction(hidden_activities=12, hidden_events=40, total_events=1000, total_activities=29,
        ...                 hidden_paths=140, total_paths=310, hidden_edges=3)
        >>> for part in a.describe().split(" — "):
        ...     print(part)
        hidden: 12 of 29 activities (4.0% of events) and 140 of 310 paths
        draw everything with coverage=1.0 (--coverage 1)
        """
        if not self.is_abstracted:
            return "nothing hidden"
        parts = []
        if self.hidden_activities:
            of = f" of {self.total_activities:,}" if self.total_activities else ""
            parts.append(
                f"{self.hidden_activities:,}{of} activities ({_fmt.percent(self.hidden_event_share)} of events)"
            )
        if self.total_paths and self.hidden_paths:
            parts.append(f"{self.hidden_paths:,} of {self.total_paths:,} paths")
        elif self.hidden_edges:
            parts.append(
                f"{self.hidden_edges:,} paths ({self.hidden_transitions:,} transitions, "
                f"{_fmt.percent(self.hidden_transition_share)})"
            )
        text = "hidden: " + " and ".join(parts)
        if self.hidden_cases:
            text += f"; {self.hidden_cases:,} cases with no shown activity"
        return f"{text} — {self.hint}"

    def __repr__(self) -> str:
        return f"<Abstraction: {self.describe()}>"


@dataclass(frozen=True, eq=False)
class ProcessGraph:
    """The discovered process: a directly-follows graph with frequencies and times, and variants.

    Every number is available as a tidy DataFrame (a new copy on each access):

    * :attr:`nodes` — one row per shown activity: ``activity``, ``events``, ``cases``,
      ``case_share``, ``starts`` / ``ends`` (cases starting / ending there, the artificial
      start and end edges) and, when the log has start timestamps, ``service_count`` and
      ``service_median_s`` … ``service_total_s``;
    * :attr:`edges` — one row per shown path: ``source``, ``target``, ``count``, ``cases``,
      ``case_share``, ``bridged`` (transitions that jump over hidden activities) and the waiting
      time from the source's completion to the target's start (its completion when no start is
      known): ``wait_median_s``, ``wait_mean_s``, ``wait_p90_s``, ``wait_max_s``,
      ``wait_min_s``, ``wait_total_s``;
    * :attr:`variants` — ``variant`` (tuple of activities), ``count``, ``share``, ``length``,
      throughput from first to last event (``median_throughput_s`` … ``min_throughput_s``) and
      an ``example_case``. Variants always describe the whole log, not the abstraction.

    Durations are seconds of calendar time, or of working time when :attr:`calendar` is set.
    Medians interpolate between the two middle values and ``p90`` is numpy's default linear
    percentile. What abstraction left out is in :attr:`hidden_nodes`, :attr:`hidden_edges` and
    :attr:`abstraction`.
    """

    _nodes: pd.DataFrame
    _edges: pd.DataFrame
    _variants: pd.DataFrame
    _hidden_nodes: pd.DataFrame
    _hidden_edges: pd.DataFrame
    n_cases: int
    n_events: int
    abstraction: Abstraction
    calendar: BusinessCalendar | None = None
    backend: str = "polars"
    has_service_times: bool = False

    # --- tables -------------------------------------------------------------------------
    @property
    def nodes(self) -> pd.DataFrame:
        """Shown activities, most frequent first (see the class docstring for the columns)."""
        return handout(self._nodes)

    @property
    def edges(self) -> pd.DataFrame:
        """Shown directly-follows paths, most frequent first."""
        return handout(self._edges)

    @property
    def variants(self) -> pd.DataFrame:
        """Variants of the whole log, most frequent first (ties by the sequence)."""
        return handout(self._variants)

    @property
    def hidden_nodes(self) -> pd.DataFrame:
        """Activities left out by abstraction: ``activity``, ``events``, ``cases``."""
        return handout(self._hidden_nodes)

    @property
    def hidden_edges(self) -> pd.DataFrame:
        """Paths between shown activities left out by abstraction: ``source``, ``target``, ``count``, ``cases``."""
        return handout(self._hidden_edges)

    @property
    def start_activities(self) -> dict[str, int]:
        """Cases starting at each shown activity (pm4py's ``start_activities``)."""
        n = self._nodes[self._nodes["starts"] > 0]
        return dict(zip(n["activity"].tolist(), n["starts"].astype(int).tolist(), strict=True))

    @property
    def end_activities(self) -> dict[str, int]:
        """Cases ending at each shown activity (pm4py's ``end_activities``)."""
        n = self._nodes[self._nodes["ends"] > 0]
        return dict(zip(n["activity"].tolist(), n["ends"].astype(int).tolist(), strict=True))

    @property
    def time_unit(self) -> str:
        """``"calendar time"`` or ``"working time"`` — what the ``*_s`` columns measure."""
        return "calendar time" if self.calendar is None else "working time"

    def to_frame(self) -> pd.DataFrame:
        """The shown edges as a new DataFrame (the same as :attr:`edges`)."""
        return self.edges

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data: sizes, the time unit, the abstraction and every table
        (durations in seconds, variants as lists of activities)."""
        return {
            "cases": self.n_cases,
            "events": self.n_events,
            "time_unit": self.time_unit,
            "calendar": None if self.calendar is None else repr(self.calendar),
            "backend": self.backend,
            "abstraction": plain(dataclasses.asdict(self.abstraction)),
            "nodes": records(self._nodes),
            "edges": records(self._edges),
            "variants": records(self._variants),
            "hidden_nodes": records(self._hidden_nodes),
            "hidden_edges": records(self._hidden_edges),
        }

    def to_networkx(self) -> nx.DiGraph:
        """The shown graph as a :class:`networkx.DiGraph`.

        Nodes are activity names with the :attr:`nodes` columns as attributes; edges carry the
        :attr:`edges` columns. Graph attributes: ``start_activities``, ``end_activities``,
        ``n_cases``, ``n_events``, ``time_unit``, ``calendar`` and ``abstraction``.
        """
        import networkx as nx  # type: ignore[import-untyped]

        g = nx.DiGraph(
            start_activities=self.start_activities,
            end_activities=self.end_activities,
            n_cases=self.n_cases,
            n_events=self.n_events,
            time_unit=self.time_unit,
            calendar=self.calendar,
            abstraction=self.abstraction,
        )
        node_attrs = self._nodes.drop(columns="activity").to_dict("records")
        g.add_nodes_from(zip(self._nodes["activity"].tolist(), node_attrs, strict=True))
        edge_attrs = self._edges.drop(columns=["source", "target"]).to_dict("records")
        g.add_edges_from(zip(self._edges["source"].tolist(), self._edges["target"].tolist(), edge_attrs, strict=True))
        return g

    # --- display ------------------------------------------------------------------------
    def __repr__(self) -> str:
        hidden = f", {self.abstraction.describe()}" if self.abstraction.is_abstracted else ""
        unit = ", working time" if self.calendar is not None else ""
        return (
            f"<ProcessGraph: {len(self._nodes):,} activities, {len(self._edges):,} edges, "
            f"{self.n_cases:,} cases, {len(self._variants):,} variants{unit}{hidden}>"
        )

    def _repr_html_(self) -> str:
        """The map as inline SVG (when Graphviz is installed) above the tabular summary."""
        from salesmining.present.maps import draw_map

        drawn = draw_map(self)
        if drawn.svg is not None:
            from salesmining.present.interactive import assets_html, interactive_map, map_data

            # pan, zoom and hover in a notebook; the plain SVG where scripts do not run
            picture = assets_html() + interactive_map(drawn.svg, map_data(self), focus=False)
        else:
            picture = f"<div style='color:#9a6700'>{_display.esc(drawn.message)}</div>"
        return picture + _graph_html(self)

    # --- drawing: a thin façade over salesmining.present.maps (which computes nothing) -----------
    def to_dot(
        self,
        *,
        view: str = "frequency",
        stat: str = "median",
        stages: StageModel | None = None,
        findings: Findings | None = None,
        title: str | None = None,
        legend: bool = True,
    ) -> graphviz.Digraph:
        """The map as a deterministic ``graphviz.Digraph`` (see :func:`salesmining.present.maps.process_map`).

        ``view`` is ``"frequency"`` or ``"performance"`` (``stat``: median, mean, p90, max, total);
        ``stages`` draws the intended path, ``findings`` puts finding badges on the map.
        """
        from salesmining.present.maps import process_map

        return process_map(self, view=view, stat=stat, stages=stages, findings=findings, title=title, legend=legend)

    def write_svg(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Draw the map (options as :meth:`to_dot`) into an SVG file; needs Graphviz's ``dot``."""
        from salesmining.present.maps import write_graph

        return write_graph(self.to_dot(**options), path, fmt="svg")

    def write_png(self, path: str | os.PathLike[str], *, dpi: int = 150, **options: Any) -> Path:
        """Draw the map into a PNG file at ``dpi``."""
        from salesmining.present.maps import write_graph

        return write_graph(self.to_dot(**options), path, fmt="png", dpi=dpi)

    def write_pdf(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Draw the map into a PDF file."""
        from salesmining.present.maps import write_graph

        return write_graph(self.to_dot(**options), path, fmt="pdf")


def discover(
    log: EventLog,
    *,
    activity_coverage: float = 1.0,
    min_activity_count: int = 1,
    edge_coverage: float = 1.0,
    min_edge_count: int = 1,
    keep_connected: bool = True,
    keep_activities: Sequence[str] | None = None,
    max_activities: int | None = None,
    max_edges: int | None = None,
    calendar: BusinessCalendar | None = None,
    backend: str = "polars",
) -> ProcessGraph:
    """Discover the directly-follows graph, its times and the variants of a log.

    Parameters
    ----------
    log:
        The event log. Events are ordered within each case by timestamp, then source row.
    activity_coverage:
        Show the most frequent activities (by events) until they cover at least this share of
        all events; activities as frequent as the last one kept are kept too. ``1.0`` shows all.
        Hidden activities are *bridged*: a case going A → hidden → B shows as A → B (counted
        in the edge's ``bridged``), so every case's path stays connected, as in Disco.
    min_activity_count:
        Show only activities with at least this many events.
    edge_coverage:
        Among paths between shown activities, show the most frequent until they cover at least
        this share of transitions (ties with the last one kept are kept).
    min_edge_count:
        Show only paths with at least this many transitions.
    keep_connected:
        Keep each shown activity's most frequent incoming and outgoing path even if the edge
        thresholds would cut it, so no activity floats unconnected.
    keep_activities:
        Activities shown whatever the thresholds and budgets: the *spine* (a stage model's
        stages and outcomes). With a budget and no list, the spine is the activities of the
        most frequent variant.
    max_activities, max_edges:
        A budget for a readable map: after the thresholds, show at most this many activities
        (the spine, then the most frequent; activities as frequent as the first one that does
        not fit are hidden with it) and paths (between consecutive spine activities, each
        activity's strongest with ``keep_connected``, then the most frequent, ties likewise).
        ``None`` (the default) sets no budget.
    calendar:
        Measure every duration in working time of this :class:`BusinessCalendar`
        (default: calendar time).
    backend:
        Dataframe engine: ``"polars"`` (default), ``"pandas"``, ``"duckdb"`` or ``"pyspark"``;
        all give identical numbers.

    Returns
    -------
    ProcessGraph
        Nodes, edges and variants as DataFrames; what was hidden in ``hidden_nodes``,
        ``hidden_edges`` and ``abstraction``.

    Examples
    --------
    >>> import pandas as pd, salesmining as sm
    >>> df = pd.DataFrame({
    ...     "deal": ["A", "A", "A", "B", "B", "C"],
    ...     "stage": ["Lead", "Quote", "Won", "Lead", "Won", "Lead"],
    ...     "at": ["2024-01-01 09:00Z", "2024-01-02 09:00Z", "2024-01-05 09:00Z",
    ...            "2024-01-01 10:00Z", "2024-01-01 16:00Z", "2024-01-03 08:00Z"]})
    >>> log = sm.from_dataframe(df, case="deal", activity="stage", timestamp="at")
    >>> g = sm.discover(log)
    >>> g
    <ProcessGraph: 3 activities, 3 edges, 3 cases, 3 variants>
    >>> g.edges[["source", "target", "count", "wait_median_s"]].to_dict("records")[0]
    {'source': 'Lead', 'target': 'Quote', 'count': 1, 'wait_median_s': 86400.0}
    >>> g.start_activities, g.end_activities
    ({'Lead': 3}, {'Lead': 1, 'Won': 2})
    >>> sm.discover(log, calendar=sm.BusinessCalendar()).edges.set_index("source").loc["Quote", "wait_median_s"] / 3600
    np.float64(24.0)
    """
    options: dict[str, Any] = {
        "activity_coverage": activity_coverage,
        "min_activity_count": min_activity_count,
        "edge_coverage": edge_coverage,
        "min_edge_count": min_edge_count,
        "keep_connected": keep_connected,
        "keep_activities": keep_activities,
        "max_activities": max_activities,
        "max_edges": max_edges,
    }
    _check_options(**options)  # before the flow is computed
    return _abstract(_Flow.of(log, calendar, backend), **options)


def discoverer(
    log: EventLog, *, calendar: BusinessCalendar | None = None, backend: str = "polars"
) -> Callable[..., ProcessGraph]:
    """:func:`discover` on one log for several abstractions: the log's flow (directly-follows
    statistics, variants) is computed once here, and each call of the returned function takes
    :func:`discover`'s abstraction options and only abstracts that flow (the same graph as
    ``discover(log, calendar=calendar, backend=backend, **options)``)."""
    flow = _Flow.of(log, calendar, backend)

    def abstracted(**options: Any) -> ProcessGraph:
        _check_options(**options)
        return _abstract(flow, **options)

    return abstracted


@dataclass(frozen=True)
class _Flow:
    """What :func:`discover` computes from the whole log before any abstraction: every activity's
    and path's statistics, the variants, and what abstraction recomputes them from — on polars the
    events' arrays in memory (:class:`~salesmining.engine.aggregations.FlowEvents`), on the other
    engines their encoded frame on that engine."""

    activity_names: np.ndarray
    n_cases: int
    n_events: int
    has_start: bool
    events: _engine.FlowEvents | None
    native: Any
    nodes_all: pd.DataFrame
    edges_all: pd.DataFrame
    variants: pd.DataFrame
    calendar: BusinessCalendar | None
    backend: str

    @classmethod
    def of(cls, log: EventLog, calendar: BusinessCalendar | None, backend: str) -> _Flow:
        if calendar is not None and not isinstance(calendar, BusinessCalendar):
            raise ArgumentTypeError(f"calendar must be a salesmining.BusinessCalendar, not {type(calendar).__name__}")
        _engine._check_backend(backend)
        coded = log._coded
        if backend == "polars":
            events = _engine.flow_events(log, calendar=calendar)
            nodes_all, edges_all = _engine.coded_flow_stats(events)
            variants = _coded_variants(events, log)
            return cls(
                coded.activity_names, coded.n_cases, coded.n_events, events.has_start, events, None,
                nodes_all, edges_all, variants, calendar, backend,
            )  # fmt: skip
        enc = _engine.encode_events(log, calendar=calendar)
        native = enc.native(backend)
        nodes_all, edges_all = _engine.flow_stats(native, has_start=enc.has_start)
        variants = _variants(native, backend, enc)
        return cls(
            enc.activity_names, enc.n_cases, enc.n_events, enc.has_start, None, native,
            nodes_all, edges_all, variants, calendar, backend,
        )  # fmt: skip

    def projected(self, kept_ids: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Nodes and edges of the log without the activities not in ``kept_ids`` (the hidden ones
        bridged: a case's next shown event follows its previous one)."""
        if self.events is not None:
            kept = np.zeros(self.events.n_activities, dtype=bool)
            kept[kept_ids] = True
            return _engine.coded_flow_stats(self.events.keep(kept))
        projected = nw.to_native(_engine._lazy(self.native).filter(nw.col(ACT_ID).is_in(kept_ids.tolist())))
        return _engine.flow_stats(projected, has_start=self.has_start)

    def service(self) -> pd.DataFrame:
        """Service times per activity (the log has start timestamps)."""
        if self.events is not None:
            return _engine.coded_service_stats(self.events)
        return _engine.service_stats(self.native)


def _check_options(
    *,
    activity_coverage: float = 1.0,
    min_activity_count: int = 1,
    edge_coverage: float = 1.0,
    min_edge_count: int = 1,
    keep_connected: bool = True,
    keep_activities: Sequence[str] | None = None,
    max_activities: int | None = None,
    max_edges: int | None = None,
) -> None:
    """Refuse abstraction options :func:`discover` cannot follow."""
    _check_share("activity_coverage", activity_coverage)
    _check_share("edge_coverage", edge_coverage)
    _check_count("min_activity_count", min_activity_count)
    _check_count("min_edge_count", min_edge_count)
    for name, value in (("max_activities", max_activities), ("max_edges", max_edges)):
        if value is not None:
            _check_count(name, value)
    if isinstance(keep_activities, str):
        raise ArgumentTypeError("keep_activities must be a list of activity names, not one string")


def _abstract(
    flow: _Flow,
    *,
    activity_coverage: float = 1.0,
    min_activity_count: int = 1,
    edge_coverage: float = 1.0,
    min_edge_count: int = 1,
    keep_connected: bool = True,
    keep_activities: Sequence[str] | None = None,
    max_activities: int | None = None,
    max_edges: int | None = None,
) -> ProcessGraph:
    """The process graph of a flow under :func:`discover`'s abstraction options (checked)."""
    nodes_all, edges_all, n_cases = flow.nodes_all, flow.edges_all, flow.n_cases
    variants, calendar, backend = flow.variants, flow.calendar, flow.backend
    names = flow.activity_names
    spine = _spine(keep_activities, variants, max_activities, max_edges)
    labels = names[nodes_all[ACT_ID].to_numpy()].astype(str)
    keep_act = _keep(nodes_all["events"].to_numpy(), labels, activity_coverage, min_activity_count)
    forced = np.isin(labels, np.array(spine, dtype=object).astype(str)) if spine else np.zeros(len(labels), bool)
    keep_act |= forced
    if max_activities is not None:
        keep_act = _within(nodes_all["events"].to_numpy(), labels, keep_act, forced, max_activities)
    hidden_ids = nodes_all.loc[~keep_act, ACT_ID].to_numpy()
    if len(hidden_ids):
        nodes, edges = flow.projected(nodes_all.loc[keep_act, ACT_ID].to_numpy())
        direct = edges_all[["source_id", "target_id", "count"]].rename(columns={"count": "_direct"})
        edges = edges.merge(direct, on=["source_id", "target_id"], how="left")
        edges["bridged"] = edges["count"] - edges.pop("_direct").fillna(0).astype("int64")
    else:
        nodes, edges = nodes_all, edges_all.assign(bridged=np.zeros(len(edges_all), dtype="int64"))

    keep_edge = _keep(
        edges["count"].to_numpy(),
        names[edges["source_id"].to_numpy()].astype(str) + "\x00" + names[edges["target_id"].to_numpy()].astype(str),
        edge_coverage,
        min_edge_count,
    )
    forced_edges = np.zeros(len(edges), dtype=bool)
    if keep_connected and len(edges):
        forced_edges |= _strongest(edges, names)
    if spine and len(edges):
        pairs = {f"{a}\x00{b}" for a, b in itertools.pairwise(spine)}
        edge_labels = (
            names[edges["source_id"].to_numpy()].astype(str) + "\x00" + names[edges["target_id"].to_numpy()].astype(str)
        )
        forced_edges |= np.isin(edge_labels, np.array(sorted(pairs), dtype=object).astype(str))
    keep_edge |= forced_edges
    if max_edges is not None and len(edges):
        keep_edge = _within(
            edges["count"].to_numpy(), np.arange(len(edges)).astype(str), keep_edge, forced_edges, max_edges
        )

    full_pairs = set(zip(edges_all["source_id"].tolist(), edges_all["target_id"].tolist(), strict=True))
    shown_ids = edges[keep_edge]
    shown_pairs = set(zip(shown_ids["source_id"].tolist(), shown_ids["target_id"].tolist(), strict=True))
    nodes = _name_nodes(nodes, names, n_cases)
    if flow.has_start:
        service = flow.service()
        nodes = nodes.merge(_named(service, names), on="activity", how="left")
        nodes["service_count"] = nodes["service_count"].fillna(0).astype("int64")
        nodes = nodes[[*_NODE_COLUMNS, *_SERVICE_COLUMNS]]
    edges = _name_edges(edges, names, n_cases)
    shown_edges = _sort_edges(edges[keep_edge])
    hidden_edges = _sort_edges(edges[~keep_edge])[["source", "target", "count", "cases"]]
    hidden_nodes = _name_nodes(nodes_all[~keep_act], names, n_cases)[["activity", "events", "cases"]]

    abstraction = Abstraction(
        activity_coverage=float(activity_coverage),
        min_activity_count=int(min_activity_count),
        edge_coverage=float(edge_coverage),
        min_edge_count=int(min_edge_count),
        keep_connected=bool(keep_connected),
        hidden_activities=len(hidden_nodes),
        hidden_events=int(hidden_nodes["events"].sum()),
        hidden_cases=int(n_cases - nodes["starts"].sum()),
        bridged_transitions=int(edges["bridged"].sum()),
        hidden_edges=len(hidden_edges),
        hidden_transitions=int(hidden_edges["count"].sum()),
        total_events=flow.n_events,
        total_transitions=int(edges["count"].sum()),
        max_activities=max_activities,
        max_edges=max_edges,
        kept_activities=tuple(spine),
        total_activities=len(nodes_all),
        total_paths=len(full_pairs),
        hidden_paths=len(full_pairs - shown_pairs),
    )
    return ProcessGraph(
        _nodes=nodes.reset_index(drop=True),
        _edges=shown_edges,
        _variants=variants,
        _hidden_nodes=hidden_nodes.reset_index(drop=True),
        _hidden_edges=hidden_edges,
        n_cases=n_cases,
        n_events=flow.n_events,
        abstraction=abstraction,
        calendar=calendar,
        backend=backend,
        has_service_times=flow.has_start,
    )


def fit_to_width(
    graph: ProcessGraph,
    rediscover: Callable[[int], ProcessGraph],
    *,
    stages: StageModel | None = None,
    width_px: float | None = None,
) -> ProcessGraph:
    """The graph, or a more abstracted one, whose map keeps its text readable at ``width_px``.

    Draws the map in both views (Graphviz, direction chosen as
    :func:`salesmining.present.maps.process_map` does) and, while the smallest text of either
    is below :data:`~salesmining.present.maps.MIN_TEXT_PX` at the report's width, asks
    ``rediscover(n)`` for a graph of at most ``n`` activities (``n`` shrinking by a fifth each
    time, never below the spine). Without Graphviz, or when
    the map cannot be drawn at all, the graph is returned as it is.
    """
    from salesmining.present.maps import MIN_TEXT_PX, REPORT_WIDTH_PX, draw_map

    width = REPORT_WIDTH_PX if width_px is None else width_px
    floor = max(len(graph.abstraction.kept_activities), 3)
    while True:
        drawn = [
            draw_map(graph, view=v, stages=stages, legend=False, width_px=width) for v in ("frequency", "performance")
        ]
        n = len(graph._nodes)
        if any(d.svg is None for d in drawn) or min(d.text_px for d in drawn) >= MIN_TEXT_PX or n <= floor:
            return graph
        smaller = rediscover(max(floor, n - max(2, n // 5)))
        if len(smaller._nodes) >= n:
            return graph
        graph = smaller


# --- helpers ------------------------------------------------------------------------------
def _check_share(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise OptionError(f"{name} must be a share between 0 and 1, not {value!r}")


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise OptionError(f"{name} must be a non-negative integer, not {value!r}")


def _keep(counts: np.ndarray, labels: np.ndarray, coverage: float, min_count: int) -> np.ndarray:
    """Items kept by a coverage share (most frequent first, ties kept) and a minimum count."""
    keep = counts >= min_count
    total = counts.sum()
    if coverage < 1.0 and total > 0:
        order = np.lexsort((labels.astype(str), -counts))
        covered = np.cumsum(counts[order]) / total
        last = int(np.searchsorted(covered, coverage - 1e-12, side="left"))
        boundary = counts[order][min(last, len(order) - 1)]
        keep &= counts >= boundary
    result: np.ndarray = keep
    return result


def _spine(
    keep: Sequence[str] | None, variants: pd.DataFrame, max_activities: int | None, max_edges: int | None
) -> list[str]:
    """The activities always kept: ``keep``, or with a budget the most frequent variant's."""
    if keep is not None:
        return list(dict.fromkeys(str(a) for a in keep))
    if (max_activities is None and max_edges is None) or not len(variants):
        return []
    return list(dict.fromkeys(str(a) for a in variants["variant"].iloc[0]))


def _within(counts: np.ndarray, labels: np.ndarray, keep: np.ndarray, forced: np.ndarray, budget: int) -> np.ndarray:
    """``keep`` cut down to ``budget`` items: the forced ones, then the most frequent others; items
    as frequent as the first one that does not fit go out with it (no arbitrary tie-break)."""
    keep = keep | forced
    if int(keep.sum()) <= budget:
        return keep
    room = max(0, budget - int(forced.sum()))
    candidates = np.flatnonzero(keep & ~forced)
    order = candidates[np.lexsort((labels[candidates], -counts[candidates]))]
    out = forced.copy()
    if room and len(order):
        boundary = counts[order[min(room, len(order) - 1)]] if room < len(order) else -1
        chosen = order[:room]
        out[chosen[counts[chosen] > boundary]] = True
    result: np.ndarray = out
    return result


def _strongest(edges: pd.DataFrame, names: np.ndarray) -> np.ndarray:
    """Mask of each activity's most frequent outgoing and incoming edge (ties by names)."""
    e = pd.DataFrame(
        {
            "source": names[edges["source_id"].to_numpy()].astype(str),
            "target": names[edges["target_id"].to_numpy()].astype(str),
            "count": edges["count"].to_numpy(),
            "row": np.arange(len(edges)),
        }
    )
    e = e.sort_values(["count", "source", "target"], ascending=[False, True, True], kind="stable")
    rows = np.union1d(e.drop_duplicates("source")["row"].to_numpy(), e.drop_duplicates("target")["row"].to_numpy())
    mask = np.zeros(len(edges), dtype=bool)
    mask[rows] = True
    return mask


def _name_nodes(nodes: pd.DataFrame, names: np.ndarray, n_cases: int) -> pd.DataFrame:
    out = pd.DataFrame({"activity": pd.Series(names[nodes[ACT_ID].to_numpy()], dtype="str")})
    for c in ("events", "cases"):
        out[c] = nodes[c].to_numpy()
    out["case_share"] = out["cases"] / n_cases if n_cases else 0.0
    for c in ("starts", "ends"):
        out[c] = nodes[c].to_numpy()
    out = out.sort_values(["events", "activity"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


def _named(service: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
    out = service.drop(columns=ACT_ID)
    out.insert(0, "activity", pd.Series(names[service[ACT_ID].to_numpy()], dtype="str"))
    return out


def _name_edges(edges: pd.DataFrame, names: np.ndarray, n_cases: int) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "source": pd.Series(names[edges["source_id"].to_numpy()], dtype="str"),
            "target": pd.Series(names[edges["target_id"].to_numpy()], dtype="str"),
            "count": edges["count"].to_numpy(),
            "cases": edges["cases"].to_numpy(),
        }
    )
    out["case_share"] = out["cases"] / n_cases if n_cases else 0.0
    out["bridged"] = edges["bridged"].to_numpy().astype("int64")
    for s in _WAIT_STATS:
        out[f"wait_{s}_s"] = edges[f"wait_{s}_s"].to_numpy()
    return out[_EDGE_COLUMNS]


def _sort_edges(edges: pd.DataFrame) -> pd.DataFrame:
    out = edges.sort_values(["count", "source", "target"], ascending=[False, True, True], kind="stable")
    return out.reset_index(drop=True)


def _coded_variants(events: _engine.FlowEvents, log: EventLog) -> pd.DataFrame:
    """The variant table on polars: the cases grouped by the log's integer variant ids
    (:attr:`EventLog._coded_variants`), their throughput read off the events in the log's order,
    the statistics on arrays (:func:`~salesmining.engine.aggregations.coded_throughput_stats`)."""
    coded, cv = log._coded, log._coded_variants
    names = coded.activity_names
    v = _engine.coded_throughput_stats(cv, _throughput(events, coded.bounds))
    return _variant_table(v, cv.tuples(names), np.diff(cv.offsets), coded.case_names, coded.n_cases, cv.order(names))


def _variants(native: Any, backend: str, enc: _engine.EncodedEvents) -> pd.DataFrame:
    """The variant table with throughput statistics on an engine other than polars: cases grouped
    by :func:`~salesmining.engine.aggregations.sequence_keys`."""
    v = _engine.variant_stats(native, backend, has_start=enc.has_start)
    tuples = _engine.decode_keys(v["key"].tolist(), enc.activity_names)
    lengths = np.fromiter(map(len, tuples), dtype="int64", count=len(tuples))
    return _variant_table(v, tuples, lengths, enc.case_names, enc.n_cases, None)


def _variant_table(
    v: pd.DataFrame,
    tuples: list[tuple[str, ...]],
    lengths: np.ndarray,
    case_names: np.ndarray,
    n_cases: int,
    order: np.ndarray | None,
) -> pd.DataFrame:
    """Most frequent first (ties by the sequence): ``order`` when known, else sorted here."""
    out = pd.DataFrame(
        {
            "variant": pd.Series(tuples, dtype="object"),
            "count": v["count"].to_numpy(),
            "share": v["count"].to_numpy() / n_cases if n_cases else 0.0,
            "length": np.asarray(lengths, dtype="int64"),
        }
    )
    for s in ("median", "mean", "p90", "max", "min"):
        out[f"{s}_throughput_s"] = v[f"throughput_{s}_s"].to_numpy()
    out["example_case"] = pd.Series(case_names[v["example_id"].to_numpy()], dtype="str")
    if order is None:
        out = out.sort_values(["count", "variant"], ascending=[False, True], kind="stable")
    else:
        out = out.take(order)
    return out.reset_index(drop=True)[_VARIANT_COLUMNS]


def _throughput(events: _engine.FlowEvents, bounds: np.ndarray) -> np.ndarray:
    """Per case (by code): the clock at its last event minus the clock at its first start (or first
    event), in µs — the events are in the log's order, so each case is one slice (``bounds``)."""
    if not events.n_events:
        return np.zeros(0, dtype=np.int64)
    at = bounds[:-1]
    first = events.start_clock if events.start_clock is not None else events.clock
    t0 = np.minimum.reduceat(first, at)
    t1: np.ndarray = np.maximum.reduceat(events.clock, at)
    return t1 - t0


def _graph_html(g: ProcessGraph) -> str:
    nodes, edges, variants = g._nodes, g._edges, g._variants
    working = g.calendar is not None

    def dur(seconds: Any) -> str:
        # working seconds have no fixed day length: shown as working hours, never as days
        return _fmt.short_duration(seconds, working=True) if working else _fmt.duration(seconds)

    facts: list[tuple[str, object]] = [
        ("cases", _fmt.count(g.n_cases)),
        ("events", _fmt.count(g.n_events)),
        ("activities", _fmt.count(len(nodes))),
        ("paths", _fmt.count(len(edges))),
        ("variants", _fmt.count(len(variants))),
        ("durations", g.time_unit if g.calendar is None else f"{g.time_unit}: {g.calendar!r}"),
    ]
    note = f"<div style='margin:6px 0;color:#57606a'>{_display.esc(g.abstraction.describe())}</div>"
    top_edges = _display.table(
        ["path", "count", "cases", "median wait", "p90 wait", "max wait"],
        [
            (
                f"{r.source} → {r.target}",
                _fmt.count(r.count),
                _fmt.percent(r.case_share, digits=0),
                dur(r.wait_median_s),
                dur(r.wait_p90_s),
                dur(r.wait_max_s),
            )
            for r in edges.itertuples(index=False)
        ],
        max_rows=10,
    )
    cols = ["activity", "events", "cases", "starts", "ends"]
    node_rows: list[tuple[object, ...]] = [
        (
            r.activity,
            _fmt.count(r.events),
            _fmt.percent(r.case_share, digits=0),
            _fmt.count(r.starts),
            _fmt.count(r.ends),
        )
        for r in nodes[[*cols, "case_share"]].itertuples(index=False)
    ]
    if g.has_service_times:
        cols.append("median service")
        node_rows = [(*row, dur(s)) for row, s in zip(node_rows, nodes["service_median_s"], strict=True)]
    top_nodes = _display.table(cols, node_rows, max_rows=8)
    top_variants = _display.table(
        ["variant", "cases", "share", "median throughput"],
        [
            (_short(r.variant), _fmt.count(r.count), _fmt.percent(r.share), dur(r.median_throughput_s))
            for r in variants.itertuples(index=False)
        ],
        max_rows=5,
    )
    return _display.card("ProcessGraph", facts, note, top_edges, top_nodes, top_variants)


def _short(variant: Any, limit: int = 6) -> str:
    if len(variant) <= limit:
        return " → ".join(variant)
    return " → ".join(variant[: limit - 2]) + f" → … ({len(variant) - limit + 1} more) → " + variant[-1]
