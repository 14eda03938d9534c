"""One call for the whole diagnosis, and the before/after comparison.

:class:`Diagnosis` computes lazily: each part (process graph, conformance, findings, KPIs, the
data behind the charts) is computed on first use and kept. Rendering lives in
:mod:`salesmining.present.report`; the methods here only hand results to it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesmining.analysis.conform import Conformance, conform
from salesmining.analysis.discover import ProcessGraph, discover
from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.core import formatting as _fmt
from salesmining.core.errors import OptionError
from salesmining.core.frames import handout
from salesmining.core.plain import records
from salesmining.core.vocabulary import PROCESS_LEVEL_RULES
from salesmining.findings.detect import (
    FindingRules,
    Findings,
    KPIs,
    find_bottlenecks,
    kpis,
)
from salesmining.log.eventlog import EventLog

__all__ = ["Comparison", "Diagnosis", "compare", "diagnose"]


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
    max_activities: int = 30
    map_anywhere: bool = False
    backend: str = "polars"
    title: str | None = None

    @functools.cached_property
    def conformance(self) -> Conformance:
        """Case-by-case comparison with the intended stages."""
        return conform(self.log, self.stages)

    @functools.cached_property
    def findings(self) -> Findings:
        """Bottlenecks ranked by impact."""
        return find_bottlenecks(
            self.log, self.stages, rules=self.rules, conformance=self.conformance, backend=self.backend
        )

    @functools.cached_property
    def kpis(self) -> KPIs:
        """Sales KPIs."""
        return kpis(self.log, self.stages, conformance=self.conformance, backend=self.backend)

    @functools.cached_property
    def map_log(self) -> EventLog:
        """The log drawn on the process map: without the model's 'anywhere' activities (calls,
        e-mails) unless ``map_anywhere`` is set."""
        if self.map_anywhere or not self.stages.anywhere:
            return self.log
        return self.log.filter(exclude_activities=self.stages.anywhere)

    @functools.cached_property
    def graph(self) -> ProcessGraph:
        """The discovered process (abstracted to at most ``max_activities`` activities)."""
        g = discover(self.map_log, activity_coverage=self.activity_coverage, backend=self.backend)
        if len(g.nodes) > self.max_activities:
            counts = g.nodes.sort_values(["events", "activity"], ascending=[False, True])["events"]
            # keep the activities more frequent than the first one that does not fit (ties go out together)
            keep_min = int(counts.iloc[self.max_activities]) + 1
            g = discover(
                self.map_log,
                min_activity_count=max(keep_min, 1),
                activity_coverage=self.activity_coverage,
                backend=self.backend,
            )
        return g

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
            "kpis": {k: _num(v) for k, v in self.kpis.values.items()},
            "findings": [
                {
                    "kind": r["kind"],
                    "rule": r["rule"],
                    "where": r["where"],
                    "cases": int(r["cases"]),
                    "share": _num(r["share"]),
                    "time_lost_hours": _num(r["time_lost_hours"]),
                    "win_rate_effect": _num(r["win_rate_effect"]),
                    "cycle_time_effect_hours": _num(r["cycle_time_effect_hours"]),
                    "example_cases": list(r["example_cases"]),
                    "severity": r["severity"],
                    "rank": int(r["rank"]),
                }
                for r in f.to_dict("records")
            ],
            "conformance": {
                "fitting_share": _num(conf.fitting_share),
                "mean_fitness": _num(conf.mean_fitness),
                "skip_rates": {str(r["stage"]): _num(r["share"]) for r in conf.skip_rates.to_dict("records")},
                "backtrack_rates": {
                    f"{r['from']} → {r['to']}": _num(r["share"]) for r in conf.backtrack_rates.to_dict("records")
                },
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

    def __repr__(self) -> str:
        return (
            f"<Diagnosis {_fmt.one_line(self.log.name or '')}: {self.log.n_cases:,} cases "
            f"against {len(self.stages.stages)} stages>"
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
    max_activities: int = 30,
    map_anywhere: bool = False,
    backend: str = "polars",
    title: str | None = None,
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
        at most this many activities (the counts of what is hidden are stated on the map).
    map_anywhere:
        Draw the model's "anywhere" activities (calls, e-mails) on the map too.
    """
    return Diagnosis(
        log=log,
        stages=as_stage_model(stages),
        rules=rules or FindingRules(),
        activity_coverage=activity_coverage,
        max_activities=max_activities,
        map_anywhere=map_anywhere,
        backend=backend,
        title=title,
    )


def _num(v: Any) -> float | None:
    """JSON-safe number (None for NaN)."""
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) or math.isinf(f) else f


# --- before / after ------------------------------------------------------------------------------
#: KPIs compared before/after: name → (per-case metric, statistic, higher is better).
_COMPARED: Mapping[str, tuple[str, str, bool]] = {
    "win_rate": ("won", "mean_closed", True),
    "cycle_time_median_days": ("cycle_days", "median_closed", False),
    "rework_rate": ("rework", "mean", False),
    "first_time_right_rate": ("conforms", "mean_closed", True),
    "skip_rate": ("skipped_any", "mean", False),
    "lead_response_median_hours": ("response_hours", "median", False),
}


def _per_case(d: Diagnosis) -> pd.DataFrame:
    """Per-case metrics for bootstrapping: one row per case."""
    conf = d.conformance.to_frame()
    out = pd.DataFrame(
        {
            "case_id": conf["case_id"],
            "closed": conf["outcome"].isin(["won", "lost"]),
            "won": (conf["outcome"] == "won").astype(float),
            "cycle_days": conf["throughput_s"] / 86400,
            "rework": ((conf["backtracks"].map(len) > 0) | (conf["repeats"].map(len) > 0)).astype(float),
            "conforms": conf["conforms"].astype(float),
            "skipped_any": (conf["skipped"].map(len) > 0).astype(float),
        }
    )
    dwell = d.series["stage_dwell"]
    first = dwell[dwell["stage"] == d.stages.stages[0]].drop_duplicates("case_id").set_index("case_id")["dwell_hours"]
    out["response_hours"] = out["case_id"].map(first)
    f = d.findings.to_frame()
    for kind in ("loop", "redundant_approval", "slow_response", "long_wait", "handoff_delay", "skipped_stage"):
        # process-level rules (approval design, stalled open deals) are not events that happened to a case
        rules = [r for r in f.loc[f["kind"] == kind, "rule"].unique() if r not in PROCESS_LEVEL_RULES]
        ids = d.findings.cases_for(kind, rules=rules)
        out[f"share_{kind}"] = out["case_id"].isin(ids).astype(float)
    return out


def _stat(values: np.ndarray, how: str) -> np.ndarray | float:
    if how.startswith("mean"):
        return np.nanmean(values, axis=-1)
    return np.nanmedian(values, axis=-1)


def _bootstrap(
    a: np.ndarray, b: np.ndarray, how: str, *, n_boot: int, rng: np.random.Generator
) -> tuple[float, float, float, float, float]:
    """(before, after, delta, ci_low, ci_high) of ``stat(after) - stat(before)`` by resampling cases."""
    a = a[~np.isnan(a)]
    b = b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return (math.nan,) * 5
    sa = float(_stat(a, how))
    sb = float(_stat(b, how))
    ia = rng.integers(0, len(a), size=(n_boot, len(a)))
    ib = rng.integers(0, len(b), size=(n_boot, len(b)))
    deltas = np.asarray(_stat(b[ib], how)) - np.asarray(_stat(a[ia], how))
    lo, hi = np.quantile(deltas, [0.025, 0.975])
    return sa, sb, sb - sa, float(lo), float(hi)


@dataclasses.dataclass(frozen=True, eq=False)
class Comparison:
    """Before/after: KPI deltas with bootstrap confidence intervals and verdicts, findings
    resolved / new / better / worse, and the process-graph difference. Built by :func:`compare`."""

    before: Diagnosis
    after: Diagnosis
    n_boot: int
    seed: int
    _kpis: pd.DataFrame = dataclasses.field(repr=False)
    _findings: pd.DataFrame = dataclasses.field(repr=False)
    _edges: pd.DataFrame = dataclasses.field(repr=False)

    @property
    def kpis(self) -> pd.DataFrame:
        """``metric``, ``before``, ``after``, ``delta``, ``ci_low``, ``ci_high`` (95% bootstrap of the
        delta), ``significant`` (the interval excludes 0), ``better`` (the change goes the good
        way), ``verdict``."""
        return handout(self._kpis)

    @property
    def findings(self) -> pd.DataFrame:
        """Findings matched by ``(kind, rule, where)``, with cases, shares and hours lost on both
        sides. ``status`` is resolved / new / better / worse only when the share of affected cases
        changed by more than chance (two-proportion z-test, ``|z| > 1.96``; ``z`` and
        ``significant`` are columns); otherwise unchanged."""
        return handout(self._findings)

    @property
    def edges(self) -> pd.DataFrame:
        """Transitions matched by (source, target): ``status`` appeared / disappeared / both, counts
        and median waits before and after."""
        return handout(self._edges)

    def to_frame(self) -> pd.DataFrame:
        """The KPI comparison."""
        return self.kpis

    def html(self) -> str:
        """The before/after report as one self-contained HTML page."""
        from salesmining.diagnosis.context import comparison_html

        return comparison_html(self)

    def write_html(self, path: str | Path) -> Path:
        """Write the before/after report."""
        from salesmining.present.report import write_text

        return write_text(path, self.html())

    def to_dict(self) -> dict[str, Any]:
        """Machine-readable comparison (JSON-serialisable): KPI deltas, findings and transitions."""
        return {
            "kpis": [
                {k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()}
                for r in self._kpis.to_dict("records")
            ],
            "findings": [
                {k: (_num(v) if isinstance(v, float) else v) for k, v in r.items()}
                for r in self._findings.to_dict("records")
            ],
            "edges": records(self._edges),
            "n_boot": int(self.n_boot),
            "seed": int(self.seed),
        }

    def __repr__(self) -> str:
        sig = self._kpis[self._kpis["significant"]]
        better = int(sig["better"].sum())
        return (
            f"<Comparison: {len(self._kpis)} metrics, {better} significantly better, "
            f"{len(sig) - better} significantly worse; {int((self._findings['status'] == 'resolved').sum())} "
            f"findings resolved, {int((self._findings['status'] == 'new').sum())} new>"
        )

    def _repr_html_(self) -> str:
        from salesmining.diagnosis.context import comparison_summary_html

        return comparison_summary_html(self)


def compare(
    before: EventLog | Diagnosis,
    after: EventLog | Diagnosis,
    stages: StageModel | Mapping[str, Any] | str | Any | None = None,
    *,
    rules: FindingRules | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare a process before and after a change.

    KPIs and the share of cases affected by each finding kind are compared with a case-level
    bootstrap (``n_boot`` resamples of each period's cases, fixed ``seed``): the 95% interval of
    the difference after − before decides the verdict (significant when it excludes 0).
    Findings are matched by ``(kind, rule, where)``; transitions by ``(source, target)``.
    Works on one log split in two: ``compare(*log.split(at="2024-07-01"), stages)``.
    """
    if stages is None:
        if isinstance(before, Diagnosis):
            stages = before.stages
        else:
            raise OptionError("compare needs the stage model (stages=...)")
    model = as_stage_model(stages)
    db = before if isinstance(before, Diagnosis) else diagnose(before, model, rules=rules)
    da = after if isinstance(after, Diagnosis) else diagnose(after, model, rules=rules)
    rng = np.random.default_rng(seed)
    pa, pb = _per_case(db), _per_case(da)
    rows = []
    metrics: list[tuple[str, str, str, bool]] = [(name, col, how, up) for name, (col, how, up) in _COMPARED.items()]
    metrics += [
        (f"share of cases with {k.replace('_', ' ')}", f"share_{k}", "mean", False)
        for k in ("loop", "redundant_approval", "slow_response", "long_wait", "handoff_delay", "skipped_stage")
    ]
    for name, col, how, up in metrics:
        a = pa.loc[pa["closed"], col] if how.endswith("closed") else pa[col]
        b = pb.loc[pb["closed"], col] if how.endswith("closed") else pb[col]
        sa, sb, delta, lo, hi = _bootstrap(
            a.to_numpy(dtype=float), b.to_numpy(dtype=float), how, n_boot=n_boot, rng=rng
        )
        significant = bool(not math.isnan(lo) and (lo > 0 or hi < 0))
        better = bool(significant and ((delta > 0) == up))
        if math.isnan(delta):
            verdict = "not enough data"
        elif not significant:
            verdict = "no significant change"
        else:
            verdict = "better" if better else "worse"
        rows.append(
            {
                "metric": name,
                "before": sa,
                "after": sb,
                "delta": delta,
                "ci_low": lo,
                "ci_high": hi,
                "significant": significant,
                "better": better,
                "verdict": verdict,
                "n_before": int(a.notna().sum()),
                "n_after": int(b.notna().sum()),
            }
        )
    kpi_frame = pd.DataFrame(rows)

    fb, fa = db.findings.to_frame(), da.findings.to_frame()
    key = ["kind", "rule", "where"]
    m = fb[[*key, "cases", "share", "time_lost_hours", "severity"]].merge(
        fa[[*key, "cases", "share", "time_lost_hours", "severity"]], on=key, how="outer", suffixes=("_before", "_after")
    )
    for c in ("cases_before", "cases_after"):
        m[c] = m[c].fillna(0).astype("int64")
    for c in ("share_before", "share_after", "time_lost_hours_before", "time_lost_hours_after"):
        m[c] = m[c].fillna(0.0)
    # is the change in the share of affected cases more than chance? a two-proportion z-test
    nb, na = max(db.log.n_cases, 1), max(da.log.n_cases, 1)
    pooled = (m["cases_before"] + m["cases_after"]) / (nb + na)
    se = np.sqrt(pooled * (1 - pooled) * (1 / nb + 1 / na))
    z = (m["cases_after"] / na - m["cases_before"] / nb) / se.where(se > 0)
    m["z"] = z
    m["significant"] = z.abs() > 1.96
    sig = m["significant"].fillna(False).astype(bool)
    status = np.select(
        [
            (m["cases_before"] == 0) & sig,
            (m["cases_after"] == 0) & sig,
            sig & (z < 0),
            sig & (z > 0),
        ],
        ["new", "resolved", "better", "worse"],
        default="unchanged",
    )
    m["status"] = status
    m = m.sort_values(["status", "kind", "where"], kind="stable").reset_index(drop=True)

    eb, ea = db.graph.edges, da.graph.edges
    e = eb[["source", "target", "count", "wait_median_s"]].merge(
        ea[["source", "target", "count", "wait_median_s"]],
        on=["source", "target"],
        how="outer",
        suffixes=("_before", "_after"),
    )
    e["status"] = np.select(
        [e["count_before"].isna(), e["count_after"].isna()], ["appeared", "disappeared"], default="both"
    )
    e[["count_before", "count_after"]] = e[["count_before", "count_after"]].fillna(0).astype("int64")
    e["wait_median_change_s"] = e["wait_median_s_after"] - e["wait_median_s_before"]
    e = e.sort_values(["status", "source", "target"], kind="stable").reset_index(drop=True)
    return Comparison(db, da, n_boot, seed, kpi_frame, m, e)
