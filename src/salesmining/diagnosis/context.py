"""What the diagnosis and comparison reports show, as plain values; rendered by :mod:`salesmining.present`.

Compute here, render there: the templates receive strings and numbers only.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Hashable, Mapping
from typing import Any, Protocol

import pandas as pd

from salesmining.analysis.conform import Conformance
from salesmining.analysis.discover import ProcessGraph
from salesmining.analysis.stages import StageModel
from salesmining.core import formatting as _f
from salesmining.core.version import version
from salesmining.core.vocabulary import FINDING_RULES
from salesmining.diagnosis.drift_points import drift_section
from salesmining.diagnosis.whatif_section import finding_whatif_text, whatif_section
from salesmining.findings.detect import FindingRules, Findings, KPIs
from salesmining.log.eventlog import EventLog
from salesmining.present.report import render_template


class DiagnosisView(Protocol):
    """The parts of a :class:`~salesmining.Diagnosis` a report shows (typed here so no import circle exists)."""

    @property
    def log(self) -> EventLog: ...
    @property
    def stages(self) -> StageModel: ...
    @property
    def rules(self) -> FindingRules: ...
    @property
    def title(self) -> str | None: ...
    @property
    def graph(self) -> ProcessGraph: ...
    @property
    def conformance(self) -> Conformance: ...
    @property
    def findings(self) -> Findings: ...
    @property
    def kpis(self) -> KPIs: ...
    @property
    def series(self) -> Mapping[str, pd.DataFrame]: ...


class ComparisonView(Protocol):
    """The parts of a :class:`~salesmining.Comparison` a report shows."""

    @property
    def before(self) -> DiagnosisView: ...
    @property
    def after(self) -> DiagnosisView: ...
    @property
    def kpis(self) -> pd.DataFrame: ...
    @property
    def findings(self) -> pd.DataFrame: ...
    @property
    def edges(self) -> pd.DataFrame: ...
    @property
    def n_boot(self) -> int: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def horizon_days(self) -> float: ...
    @property
    def labels(self) -> tuple[str, str]: ...


__all__ = ["comparison_html", "comparison_summary_html", "diagnosis_html", "diagnosis_summary_html"]


def _chart_svgs(d: DiagnosisView) -> list[tuple[str, str]]:
    from salesmining.present import charts as _charts

    s = d.series
    stages = d.stages
    sla_h = {k: v.total_seconds() / 3600 for k, v in stages.sla.items()}
    working = d.graph.calendar is not None
    return [
        ("Funnel", _charts.funnel_svg(d.kpis.funnel)),
        (
            "Time in stage",
            _charts.time_in_stage_svg(s["stage_dwell"], stages.stages, sla_hours=sla_h, working=working),
        ),
        ("Work in progress", _charts.wip_svg(s["wip"], stages.stages)),
        ("Performance spectrum", _charts.spectrum_svg(s["segments"])),
        ("Dotted chart", _charts.dotted_svg(s["dotted"])),
    ]


def _interactive(svg: str | None, graph: ProcessGraph, findings: Findings | None) -> str | None:
    """The map with pan, zoom, hover and finding highlights (the static SVG without JavaScript)."""
    from salesmining.present.interactive import interactive_map, map_data

    return None if svg is None else interactive_map(svg, map_data(graph, findings), focus=findings is not None)


def _value(v: Any, kind: str) -> str:
    """One report number: a share (``pct``), a count (``int``) or a plain number."""
    if kind == "pct":
        return _f.percent(v)
    if kind == "int":
        return _f.count(v)
    return _f.number(v)


def _kpi_rows(values: dict[str, float]) -> list[tuple[str, str]]:
    """(label, value) of the headline KPIs, ``n/a`` where a KPI cannot be computed."""
    return [(label, value) for label, value, _, _ in _kpi_table(values, {}, {})]


def _kpi_table(
    values: dict[str, float], definitions: dict[str, str], notes: dict[str, str]
) -> list[tuple[str, str, str, str]]:
    labels = {
        "win_rate": ("win rate", "pct"),
        "cycle_time_median_days": ("cycle time, median (days)", "num"),
        "cycle_time_p90_days": ("cycle time, 90th percentile (days)", "num"),
        "avg_deal_size": ("average won deal", "num"),
        "rework_rate": ("rework rate", "pct"),
        "first_time_right_rate": ("first-time-right rate", "pct"),
        "skip_rate": ("skip rate", "pct"),
        "lead_response_median_hours": ("lead response, median (hours)", "num"),
        "cases": ("cases", "int"),
        "won": ("won", "int"),
        "lost": ("lost", "int"),
        "open": ("open", "int"),
    }
    out = []
    for key, (label, kind) in labels.items():
        if key in values:
            v = values[key]
            text = "n/a" if _f.is_missing(v) else _value(v, kind)
            out.append((label, text, definitions.get(key, ""), notes.get(key, "")))
    return out


def _fit_line(fit: Any) -> str:
    seen = len(fit.stages) - len(fit.stages_never_seen)
    outside = _f.percent(fit.share_outside)
    return (
        f"{_f.percent(fit.fitting_share)} of cases follow the intended path · mean fitness "
        f"{_f.number(round(float(fit.mean_fitness), 2))} · {outside} of events outside the model · "
        f"{seen} of {len(fit.stages)} stages seen · {_f.count(fit.cases_closed)} of {_f.count(fit.cases)} cases closed"
    )


def _assets() -> str:
    from salesmining.present.interactive import assets_html

    return assets_html()


def _top_evidence(evidence: pd.DataFrame, n: int = 5) -> dict[tuple[Any, Any, Any], list[dict[Hashable, Any]]]:
    """Each finding's (``kind``, ``rule``, ``where``) ``n`` evidence rows that lost the most time
    (then by case id), as records: one stable sort and one pass for all findings."""
    key = ["kind", "rule", "where"]
    top = evidence.sort_values(["time_lost_s", "case_id"], ascending=[False, True]).groupby(key, sort=False).head(n)
    out: dict[tuple[Any, Any, Any], list[dict[Hashable, Any]]] = {}
    for e in top.to_dict("records"):
        out.setdefault((e["kind"], e["rule"], e["where"]), []).append(e)
    return out


def _by_rank(root: pd.DataFrame) -> dict[Any, list[dict[Hashable, Any]]]:
    """The root-cause rows of each finding rank, as records in table order."""
    out: dict[Any, list[dict[Hashable, Any]]] = {}
    for x in root.to_dict("records"):
        out.setdefault(x["rank"], []).append(x)
    return out


def diagnosis_context(d: DiagnosisView, *, full: bool = True) -> dict[str, Any]:
    """Everything the diagnosis templates need, as plain values (computed results only)."""
    from salesmining.present.maps import draw_map, legend_items

    # a Diagnosis starts its maps' Graphviz layouts ahead: they run while the rest is computed
    ahead = getattr(d, "_draw_ahead", None)
    if ahead is not None:
        ahead()  # the map's graph, before the findings (when not drawn yet)
    f = d.findings.to_frame()
    # durations measured on a business calendar's working clock are labelled as working time
    working = d.graph.calendar is not None
    if ahead is not None:
        ahead()  # the findings map
    evidence = d.findings.evidence
    root = d.findings.root_causes
    conf = d.conformance
    k = d.kpis
    top_evidence = _top_evidence(evidence)
    roots_of = _by_rank(root)
    findings = []
    for r in f.to_dict("records"):
        findings.append(
            {
                **r,
                "rule_text": FINDING_RULES.get(r["kind"], {}).get(r["rule"], ""),
                "share_txt": _f.percent(r["share"]),
                "lost_txt": _f.hours(r["time_lost_hours"]),
                "per_case_txt": _f.hours(r["time_lost_per_case_hours"]),
                "win_txt": _f.points(r["win_rate_effect"]),
                "cycle_txt": _f.hours(r["cycle_time_effect_hours"], signed=True),
                "wr_a": _f.percent(r["win_rate_affected"]),
                "wr_u": _f.percent(r["win_rate_unaffected"]),
                "whatif_txt": finding_whatif_text(r),
                "evidence": [
                    (e["case_id"], _f.hours(e["time_lost_s"] / 3600), e["detail"])
                    for e in top_evidence.get((r["kind"], r["rule"], r["where"]), [])
                ],
                "roots": [
                    (
                        x["attribute"],
                        x["value"],
                        x["affected_with"],
                        x["affected"],
                        x["all_with"],
                        x["all"],
                        f"{x['lift']:.1f}×",
                    )
                    for x in roots_of.get(r["rank"], [])
                ],
            }
        )
    q = d.log.quality
    out = {
        "title": d.title or f"Sales process diagnosis — {d.log.name or 'event log'}",
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "log": d.log,
        "stages": d.stages,
        "kpis": _kpi_rows(k.values),
        "kpi_table": _kpi_table(k.values, k.definitions, k.notes),
        "amounts": [
            (
                r["currency"],
                _f.count(r["won_with_amount"]),
                _f.number(r["avg_deal_size"]),
                _f.number(r["won_amount_total"]),
            )
            for r in k.amounts.to_dict("records")
        ],
        "fit": conf.fit,
        "drift": drift_section(d) if full else None,
        "fit_line": _fit_line(conf.fit),
        "model_basis": list(d.stages.basis),
        "funnel": [
            (r["stage"], _f.count(r["reached"]), _f.percent(r["share_of_cases"]), _f.percent(r["conversion"]))
            for r in k.funnel.to_dict("records")
        ],
        "tis": [
            (r["stage"], _f.count(r["visits"]), _f.hours(r["median_hours"]), _f.hours(r["p90_hours"]))
            for r in k.time_in_stage.to_dict("records")
        ],
        "findings": findings,
        "whatif": whatif_section(d) if full else {},
        "n_high": int((f["severity"] == "high").sum()),
        "n_medium": int((f["severity"] == "medium").sum()),
        "n_low": int((f["severity"] == "low").sum()),
        "finding_warnings": d.findings.warnings,
        "assets": _assets(),
        "legend": legend_items(view="frequency", stat_label="", stages=True, findings=True),
        "perf_legend": legend_items(
            view="performance", stat_label="median wait", stages=True, findings=False, working=working
        )[0],
        "time_unit": _f.WORKING_TIME if working else "",
        "calendar": repr(d.graph.calendar) if working else "",
        "abstraction": d.graph.abstraction.describe() if d.graph.abstraction.is_abstracted else "",
        "fitting": _f.percent(conf.fitting_share),
        "mean_fitness": _f.number(conf.mean_fitness),
        "skip_rates": [
            (
                r["stage"],
                _f.count(r["cases"]),
                _f.count(r["eligible"]),
                _f.percent(r["share"]),
                _f.count(r["left_censored"]),
            )
            for r in conf.skip_rates.to_dict("records")
        ],
        "backtracks": [
            (r["from"], r["to"], _f.count(r["cases"]), _f.percent(r["share"]))
            for r in conf.backtrack_rates.to_dict("records")
        ],
        "variants": [
            (" → ".join(v), _f.count(c), _f.percent(s), _f.hours(m / 3600, working=working))
            for v, c, s, m in d.graph.variants[["variant", "count", "share", "median_throughput_s"]]
            .head(10)
            .itertuples(index=False)
        ],
        "charts": _chart_svgs(d) if full else [],
        "quality": q,
        "reasons": [r for r in q.counts().itertuples(index=False) if r.rows],
        "rejections": list(q.rejections.head(50).itertuples(index=False)),
        "warnings": q.warnings,
        "rules_table": [(kind, rule, text) for kind, rs in FINDING_RULES.items() for rule, text in rs.items()],
        "rules": dataclasses.asdict(d.rules),
        "meta": d.log.meta,
        "history": d.log.history,
    }
    # the maps last: their layouts, started ahead, ran while the rest was computed
    drawn = draw_map(d.graph, stages=d.stages, findings=d.findings, legend=False)
    graph_svg, graph_error = drawn.svg, (drawn.message or None)
    perf_svg = None
    if full and graph_svg is not None:
        perf_svg = draw_map(
            d.graph, view="performance", stat="median", stages=d.stages, findings=None, legend=False
        ).svg
    out["graph_svg"] = _interactive(graph_svg, d.graph, d.findings)
    out["perf_svg"] = _interactive(perf_svg, d.graph, d.findings)
    out["graph_error"] = graph_error
    return out


def diagnosis_html(d: DiagnosisView) -> str:
    """The full diagnosis report (self-contained HTML)."""
    return render_template("diagnosis.html.j2", version=version(), **diagnosis_context(d))


def diagnosis_summary_html(d: DiagnosisView) -> str:
    """The notebook summary of a diagnosis: headline KPIs, top findings, the annotated map."""
    return render_template("diagnosis_summary.html.j2", **diagnosis_context(d, full=False))


def comparison_context(c: ComparisonView) -> dict[str, Any]:
    from salesmining.present.maps import draw_map

    k = c.kpis
    working = c.before.graph.calendar is not None or c.after.graph.calendar is not None

    def row(r: Mapping[Any, Any]) -> tuple[str, ...]:
        pct = r["metric"].endswith("rate") or r["metric"].startswith("share")
        kind = "pct" if pct else "num"
        delta = _f.points(r["delta"]) if pct else _f.number(r["delta"])
        ci = (
            "–"
            if r["ci_low"] != r["ci_low"]
            else (
                f"[{r['ci_low'] * 100:+.1f}, {r['ci_high'] * 100:+.1f}] pts"
                if pct
                else f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
            )
        )
        return (
            r["metric"],
            _value(r["before"], kind),
            _value(r["after"], kind),
            delta,
            ci,
            r["verdict"],
            f"{_f.count(r['n_before'])} / {_f.count(r['n_after'])}",
        )

    la, lb = c.labels
    drawn_before = draw_map(c.before.graph, stages=c.before.stages, findings=c.before.findings, title=la, legend=False)
    before_svg, err = drawn_before.svg, (drawn_before.message or None)
    after_svg = draw_map(c.after.graph, stages=c.after.stages, findings=c.after.findings, title=lb, legend=False).svg
    before_svg = _interactive(before_svg, c.before.graph, c.before.findings)
    after_svg = _interactive(after_svg, c.after.graph, c.after.findings)
    segments = c.mode == "segments"
    heading = "Segments A vs B" if segments else "Before / after"
    f = c.findings
    e = c.edges
    return {
        "title": f"{heading} — {c.before.log.name or la} vs {c.after.log.name or lb}",
        "label_a": la,
        "label_b": lb,
        "segments": segments,
        "horizon": _f.days(c.horizon_days * 86400),
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kpis": [row(r) for r in k.to_dict("records")],
        "findings": [
            (
                r["status"],
                r["kind"],
                r["where"],
                _f.count(r["cases_before"]),
                _f.count(r["cases_after"]),
                _f.percent(r["share_before"]),
                _f.percent(r["share_after"]),
                _f.hours(r["time_lost_hours_before"]),
                _f.hours(r["time_lost_hours_after"]),
            )
            for r in f.to_dict("records")
        ],
        "edges": [
            (
                r["status"],
                r["source"],
                r["target"],
                _f.count(r["count_before"]),
                _f.count(r["count_after"]),
                _f.hours((r["wait_median_s_before"] or float("nan")) / 3600, working=working),
                _f.hours((r["wait_median_s_after"] or float("nan")) / 3600, working=working),
            )
            for r in e.to_dict("records")
            if r["status"] != "both" or abs(r["wait_median_change_s"] or 0) > 3600
        ],
        "before_svg": before_svg,
        "assets": _assets(),
        "after_svg": after_svg,
        "graph_error": err,
        "time_unit": _f.WORKING_TIME if working else "",
        "n_boot": c.n_boot,
        "seed": c.seed,
        "before": c.before,
        "after": c.after,
    }


def comparison_html(c: ComparisonView) -> str:
    return render_template("comparison.html.j2", version=version(), **comparison_context(c))


def comparison_summary_html(c: ComparisonView) -> str:
    ctx = comparison_context(c)
    return render_template("comparison_summary.html.j2", **ctx)
