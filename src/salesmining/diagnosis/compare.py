"""Before/after: :func:`compare` two logs (or one split at a date) → :class:`Comparison`.

KPI deltas with bootstrap confidence intervals and verdicts, findings resolved / new / better /
worse (only when a two-proportion z-test says the change is significant), and the process-graph
difference. Rendering lives in :mod:`salesmining.present`; :mod:`salesmining.diagnosis.context`
prepares what the report shows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.core.errors import OptionError
from salesmining.core.frames import handout
from salesmining.core.plain import plain, records
from salesmining.core.vocabulary import PROCESS_LEVEL_RULES
from salesmining.diagnosis.diagnose import Diagnosis, diagnose
from salesmining.findings.detect import (
    FindingRules,
)
from salesmining.log.eventlog import EventLog

__all__ = ["Comparison", "compare"]


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
                {k: (plain(v) if isinstance(v, float) else v) for k, v in r.items()}
                for r in self._kpis.to_dict("records")
            ],
            "findings": [
                {k: (plain(v) if isinstance(v, float) else v) for k, v in r.items()}
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
