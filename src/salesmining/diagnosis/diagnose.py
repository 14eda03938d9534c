"""One call for the whole diagnosis: :func:`diagnose` → :class:`Diagnosis`.

:class:`Diagnosis` computes lazily: each part (process graph, conformance, findings, KPIs, the
data behind the charts) is computed on first use and kept. Rendering lives in
:mod:`salesmining.present.report`; the methods here only hand results to it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from salesmining.analysis.conform import Conformance, conform
from salesmining.analysis.discover import ProcessGraph, discoverer, fit_to_width
from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.core import formatting as _fmt
from salesmining.core.errors import ArgumentTypeError
from salesmining.core.frames import handout
from salesmining.core.plain import plain
from salesmining.findings.detect import (
    FindingRules,
    Findings,
    KPIs,
    find_bottlenecks,
    kpis,
)
from salesmining.log.eventlog import EventLog

__all__ = ["Diagnosis", "diagnose"]


@dataclasses.dataclass(frozen=True, eq=False)
class Diagnosis:
    """Everything a consultant hands over about one log: data quality, the process map,
    intended vs actual, findings with evidence, KPIs and charts. Built by :func:`diagnose`.

    Parts are computed on first use: :attr:`graph`, :attr:`conformance`, :attr:`findings`,
    :attr:`kpis`. ``html()`` / ``write_html(path)`` give one self-contained HTML report,
    ``to_dict()`` the JSON contract of the command line, ``write_tables(folder)`` CSV or Excel.
    """

    log: EventLog
    stages: StageModel
    rules: FindingRules = dataclasses.field(default_factory=FindingRules)
    activity_coverage: float = 1.0
    max_activities: int = 15
    map_anywhere: bool = False
    backend: str = "polars"
    title: str | None = None
    currency_rates: Mapping[str, float] | None = None
    system_users: tuple[str, ...] | None = None
    roles: Mapping[str, str] | None = None

    @functools.cached_property
    def conformance(self) -> Conformance:
        """Case-by-case comparison with the intended stages."""
        return conform(self.log, self.stages)

    @functools.cached_property
    def findings(self) -> Findings:
        """Bottlenecks ranked by impact."""
        return find_bottlenecks(
            self.log,
            self.stages,
            rules=self.rules,
            conformance=self.conformance,
            backend=self.backend,
            system_users=self.system_users,
            roles=self.roles,
        )

    @functools.cached_property
    def kpis(self) -> KPIs:
        """Sales KPIs."""
        return kpis(
            self.log,
            self.stages,
            conformance=self.conformance,
            backend=self.backend,
            rules=self.rules,
            currency_rates=self.currency_rates,
        )

    @functools.cached_property
    def map_log(self) -> EventLog:
        """The log drawn on the process map: without the model's 'anywhere' activities (calls,
        e-mails) unless ``map_anywhere`` is set."""
        if self.map_anywhere or not self.stages.anywhere:
            return self.log
        return self.log.filter(exclude_activities=self.stages.anywhere)

    @functools.cached_property
    def graph(self) -> ProcessGraph:
        """The discovered process, abstracted for a readable map: the stages and outcomes always
        shown, then the most frequent activities up to ``max_activities`` and paths up to twice
        that, fewer when the map's text would be too small at the report's width
        (:func:`~salesmining.analysis.discover.fit_to_width`); what is hidden is stated on the map."""
        graph = fit_to_width(self._map_first, self._map_within, stages=self.stages)
        for part in ("_map_flow", "_map_first"):  # not needed any more
            self.__dict__.pop(part, None)
        return graph

    @functools.cached_property
    def _map_flow(self) -> Any:
        """The map log discovered once; abstracted per budget by :meth:`_map_within`."""
        return discoverer(self.map_log, backend=self.backend)

    def _map_within(self, n: int) -> ProcessGraph:
        return self._map_flow(
            activity_coverage=self.activity_coverage,
            keep_activities=[*self.stages.stages, *self.stages.won, *self.stages.lost],
            max_activities=n,
            max_edges=2 * n,
        )

    @functools.cached_property
    def _map_first(self) -> ProcessGraph:
        """The map's graph at the full budget, before :func:`fit_to_width` checks its text size."""
        return self._map_within(self.max_activities)

    def _draw_ahead(self) -> None:
        """Start the Graphviz layouts the report draws first, in the background, and return:
        the two views of the map's graph (the ones :attr:`graph` measures), and, once the graph
        and the findings are known, the findings map. Drawing them later waits for these runs,
        so they run beside the computing in between; what is drawn does not change."""
        from salesmining.present.maps import VIEWS, draw_ahead

        if "graph" not in self.__dict__:
            for view in VIEWS:
                draw_ahead(self._map_first, view=view, stages=self.stages, legend=False)
        elif "findings" in self.__dict__:
            draw_ahead(self.graph, stages=self.stages, findings=self.findings, legend=False)

    @property
    def series(self) -> dict[str, pd.DataFrame]:
        """The tidy data behind the charts (new copies on each access)."""
        return {name: handout(frame) for name, frame in self._series.items()}

    @functools.cached_property
    def _series(self) -> dict[str, pd.DataFrame]:
        from salesmining.analysis import series as _series

        stages = self.stages
        pairs = list(zip(stages.stages, stages.stages[1:], strict=False))
        return {
            "stage_dwell": _series.stage_dwell(self.log, stages, backend=self.backend),
            "segments": _series.transition_segments(self.log, pairs),
            "wip": _series.work_in_progress(self.log, stages, backend=self.backend),
            "dotted": _series.dotted_events(self.log),
        }

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable summary (the ``--json`` contract of ``salesmining diagnose``)."""
        q = self.log.quality
        f = self.findings.to_frame()
        conf = self.conformance
        return {
            "log": {
                "cases": self.log.n_cases,
                "events": self.log.n_events,
                "activities": len(self.log.activities),
                "rows_read": q.rows_read,
                "rows_rejected": q.rows_rejected,
                "rejections_by_reason": {
                    str(r): int(n) for r, n in zip(q.counts()["reason"], q.counts()["rows"], strict=True) if n
                },
                "warnings": [{"code": w.code, "count": w.count, "message": w.message} for w in q.warnings],
            },
            "kpis": {k: plain(v) for k, v in self.kpis.values.items()},
            "findings": [
                {
                    "kind": r["kind"],
                    "rule": r["rule"],
                    "where": r["where"],
                    "cases": int(r["cases"]),
                    "share": plain(r["share"]),
                    "time_lost_hours": plain(r["time_lost_hours"]),
                    "win_rate_effect": plain(r["win_rate_effect"]),
                    "cycle_time_effect_hours": plain(r["cycle_time_effect_hours"]),
                    "example_cases": list(r["example_cases"]),
                    "severity": r["severity"],
                    "rank": int(r["rank"]),
                    "whatif": _whatif_json(r),
                }
                for r in f.to_dict("records")
            ],
            "conformance": {
                "fitting_share": plain(conf.fitting_share),
                "mean_fitness": plain(conf.mean_fitness),
                "skip_rates": {str(r["stage"]): plain(r["share"]) for r in conf.skip_rates.to_dict("records")},
                "backtrack_rates": {
                    f"{r['from']} → {r['to']}": plain(r["share"]) for r in conf.backtrack_rates.to_dict("records")
                },
                "fit": conf.fit.to_dict(),
            },
            "kpi_notes": self.kpis.notes,
            "stage_model": {
                **self.stages.to_dict(),
                "inferred": self.stages.inferred,
                "basis": list(self.stages.basis),
            },
        }

    def to_frame(self) -> pd.DataFrame:
        """The findings, ranked (the same as ``findings.to_frame()``); every other table is in :meth:`tables`."""
        return handout(self.findings.to_frame())

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the report, by name (new copies)."""
        return {name: handout(frame) for name, frame in self._tables().items()}

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {
            "findings": self.findings.to_frame().assign(example_cases=lambda d: d["example_cases"].map(", ".join)),
            "evidence": self.findings.evidence,
            "root_causes": self.findings.root_causes,
            "kpis": self.kpis.to_frame(),
            "funnel": self.kpis.funnel,
            "time_in_stage": self.kpis.time_in_stage,
            "conformance": self.conformance.to_frame(),
            "skip_rates": self.conformance.skip_rates,
            "backtrack_rates": self.conformance.backtrack_rates,
            "deviations": self.conformance.deviations,
            "activities": self.graph.nodes,
            "transitions": self.graph.edges,
            "variants": self.graph.variants,
            "rejections": self.log.quality.rejections,
        }

    def write_tables(self, folder: str | Path, *, format: str = "csv") -> list[Path]:
        """Write every table as CSV files (one per table) or one Excel workbook.

        Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
        ``@``, tab or carriage return) are prefixed with an apostrophe.
        """
        from salesmining.present.report import write_tables

        return write_tables(self.tables(), Path(folder), fmt=format)

    def html(self) -> str:
        """The full self-contained HTML report."""
        from salesmining.diagnosis.context import diagnosis_html

        return diagnosis_html(self)

    def write_html(self, path: str | Path) -> Path:
        """Write the HTML report (UTF-8)."""
        from salesmining.present.report import write_text

        return write_text(path, self.html())

    def write_pdf(self, path: str | Path) -> Path:
        """Write the report as a PDF (A4, a page per section, maps as vectors), printed by headless
        Chromium when installed, else WeasyPrint; a :class:`RenderError` says what to install
        when neither is."""
        from salesmining.present.pdf import write_pdf

        return write_pdf(self.html(), path)

    def __repr__(self) -> str:
        inferred = " (inferred)" if self.stages.inferred else ""
        fit = f"; model fit {self.conformance.fit.verdict}" if "conformance" in self.__dict__ else ""
        return (
            f"<Diagnosis {_fmt.one_line(self.log.name or '')}: {self.log.n_cases:,} cases "
            f"against {len(self.stages.stages)} stages{inferred}{fit}>"
        )

    def _repr_html_(self) -> str:
        from salesmining.diagnosis.context import diagnosis_summary_html

        return diagnosis_summary_html(self)


def diagnose(
    log: EventLog,
    stages: StageModel | Mapping[str, Any] | str | Any,
    *,
    rules: FindingRules | None = None,
    activity_coverage: float = 1.0,
    max_activities: int = 15,
    map_anywhere: bool = False,
    backend: str = "polars",
    title: str | None = None,
    currency_rates: Mapping[str, float] | None = None,
    system_users: Iterable[str] | None = None,
    roles: Mapping[str, str] | None = None,
) -> Diagnosis:
    """Diagnose a sales process: quality, discovery, conformance, findings and KPIs in one object.

    Parameters
    ----------
    log:
        The event log.
    stages:
        The intended process (:class:`StageModel`, a dict, or a YAML path).
    rules:
        Finding thresholds (:class:`FindingRules`).
    activity_coverage, max_activities:
        Abstraction of the process map: keep the activities covering this share of events, and
        at most this many activities and twice as many paths, the stages and outcomes always
        kept (what is hidden is stated on the map).
    map_anywhere:
        Draw the model's "anywhere" activities (calls, e-mails) on the map too.
    currency_rates:
        ``{currency code: factor}`` converting won amounts into one reporting currency; without
        it amounts in several currencies are shown per currency, never added up.
    system_users, roles:
        Who did it (see :func:`find_bottlenecks`): system or automation users (default: detected,
        with the reason in the findings' warnings) and an owner → role mapping.
    """
    if isinstance(system_users, str):
        raise ArgumentTypeError("system_users must be a list of user names, not one string")
    return Diagnosis(
        log=log,
        stages=as_stage_model(stages),
        rules=rules or FindingRules(),
        activity_coverage=activity_coverage,
        max_activities=max_activities,
        map_anywhere=map_anywhere,
        backend=backend,
        title=title,
        currency_rates=None if currency_rates is None else dict(currency_rates),
        system_users=None if system_users is None else tuple(str(u) for u in system_users),
        roles=None if roles is None else dict(roles),
    )


def _whatif_json(r: Mapping[Any, Any]) -> dict[str, Any] | None:
    """A finding's what-if in the JSON contract (hours), or ``None`` when it has none."""
    change = r.get("whatif_change")
    if change is None or (isinstance(change, float) and change != change):
        return None

    def hours(col: str) -> Any:
        v = plain(r.get(col))
        return None if v is None else v / 3600

    return {
        "change": str(change),
        "median_gain_hours": hours("whatif_median_gain_s"),
        "median_gain_low_hours": hours("whatif_low_s"),
        "median_gain_high_hours": hours("whatif_high_s"),
        "saved_hours": hours("whatif_saved_s"),
    }
