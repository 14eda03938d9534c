"""Before/after or segment A vs B: :func:`compare` two logs (or one split at a date) → :class:`Comparison`.

KPI deltas with confidence intervals and verdicts, findings resolved / new / better / worse, and
the process-graph difference. Both sides are compared over an **equal follow-up window** (the
*horizon*): a case counts only when its log observed it for at least that long after it started,
and its outcome is read *as of* that horizon — so the later of two periods, whose deals have had
less time to close, is not called better because only its quick deals have closed yet. Every
share (a KPI rate or the share of cases with a finding) is judged by one test, the difference of
two proportions with its 95% interval, so the same quantity gets the same verdict in every table;
medians by a case bootstrap. Rendering lives in :mod:`salesmining.present`; :mod:`salesmining.diagnosis.context`
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
from salesmining.core.schema import CASE, TIMESTAMP
from salesmining.diagnosis.diagnose import Diagnosis, diagnose
from salesmining.diagnosis.horizon import SHARE_KINDS as _SHARE_KINDS
from salesmining.diagnosis.horizon import horizon_days, per_case, within_horizon
from salesmining.findings.detect import (
    FindingRules,
)
from salesmining.log.eventlog import EventLog

__all__ = ["MODES", "Comparison", "compare", "horizon_days", "proportion_test", "within_horizon"]

#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054

#: The comparison modes: time-ordered periods, or two segments of the same period.
MODES = ("auto", "before_after", "segments")

#: KPIs compared: name → (per-case metric, statistic, higher is better). ``win_rate`` is among
#: the cases closed within the horizon; ``cycle_time_median_days`` the median time to close within
#: it (a case still open at the horizon counts as the horizon); ``closed_within_horizon`` the share
#: of cases closed by then.
_COMPARED: Mapping[str, tuple[str, str, bool]] = {
    "win_rate": ("won_h", "mean", True),
    "cycle_time_median_days": ("close_days_h", "median", False),
    "closed_within_horizon_rate": ("closed_h", "mean", True),
    "rework_rate": ("rework", "mean", False),
    "first_time_right_rate": ("conforms", "mean", True),
    "skip_rate": ("skipped_any", "mean", False),
    "lead_response_median_hours": ("response_hours", "median", False),
}


def proportion_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float, float]:
    """(before, after, delta, ci_low, ci_high): the difference of two proportions with its 95%
    normal interval (unpooled). The one test every share in a comparison is judged by."""
    a = a[~np.isnan(a)]
    b = b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return (math.nan,) * 5
    pa, pb = float(a.mean()), float(b.mean())
    se = math.sqrt(pa * (1 - pa) / len(a) + pb * (1 - pb) / len(b))
    d = pb - pa
    return pa, pb, d, d - Z95 * se, d + Z95 * se


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
    #: ``before_after`` (time-ordered periods) or ``segments`` (A vs B, not time-ordered)
    mode: str = "before_after"
    #: the equal follow-up window both sides are compared over, in days (see :func:`horizon_days`)
    horizon_days: float = math.nan

    @property
    def labels(self) -> tuple[str, str]:
        """What the two sides are called: ``("before", "after")``, or ``("A", "B")`` for segments."""
        return ("A", "B") if self.mode == "segments" else ("before", "after")

    @property
    def kpis(self) -> pd.DataFrame:
        """``metric``, ``before``, ``after``, ``delta``, ``ci_low``, ``ci_high`` (95% interval of the
        delta: the two-proportion interval for rates and shares, a case bootstrap for medians),
        ``test``, ``significant`` (the interval excludes 0), ``better`` (the change goes the good
        way), ``verdict``, ``n_before``/``n_after`` (cases within the horizon that the metric
        counts). In ``segments`` mode ``before`` is segment A and ``after`` segment B."""
        return handout(self._kpis)

    @property
    def findings(self) -> pd.DataFrame:
        """Findings matched by ``(kind, rule, where)``, with cases, shares and hours lost on both
        sides. ``status`` is resolved / new / better / worse only when the share of affected cases
        *among the cases within the horizon* (``affected_before``/``eligible_before``, ...) changed
        by more than chance — the same two-proportion test as the KPI table (``z`` is the delta
        over its standard error, ``significant`` when ``|z| > 1.96``); otherwise unchanged. In
        ``segments`` mode resolved / new read "only in A" / "only in B"."""
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

    def write_pdf(self, path: str | Path) -> Path:
        """Write the before/after report as a PDF (A4, a page per section, maps as vectors), printed by headless
        Chromium when installed, else WeasyPrint; a :class:`RenderError` says what to install
        when neither is."""
        from salesmining.present.pdf import write_pdf

        return write_pdf(self.html(), path)

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
            "mode": self.mode,
            "horizon_days": plain(self.horizon_days),
        }

    def __repr__(self) -> str:
        sig = self._kpis[self._kpis["significant"]]
        better = int(sig["better"].sum())
        label = "A vs B" if self.mode == "segments" else "before/after"
        return (
            f"<Comparison {label}: {len(self._kpis)} metrics, {better} significantly better, "
            f"{len(sig) - better} significantly worse; {int((self._findings['status'] == 'resolved').sum())} "
            f"findings resolved, {int((self._findings['status'] == 'new').sum())} new>"
        )

    def _repr_html_(self) -> str:
        from salesmining.diagnosis.context import comparison_summary_html

        return comparison_summary_html(self)


def compare(
    before: EventLog | Diagnosis,
    after: EventLog | Diagnosis | None = None,
    stages: StageModel | Mapping[str, Any] | str | Any | None = None,
    *,
    at: str | pd.Timestamp | None = None,
    rules: FindingRules | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    mode: str = "auto",
    horizon: str | pd.Timedelta | None = None,
) -> Comparison:
    """Compare a process before and after a change, or two segments of it (A vs B).

    ``mode``: ``"before_after"`` for two periods, ``"segments"`` for two groups of cases that are
    not time-ordered (regions, teams, products); ``"auto"`` (default) reads it from the logs:
    before/after when at most 10% of the second log's cases started before the first log's last
    case start (``log.split(at=...)`` gives none), segments otherwise.

    Both sides are compared over an equal follow-up window, the *horizon* (``horizon=``, e.g.
    ``"90d"``; default :func:`horizon_days`): only cases followed at least that long count, with
    their outcome as of that many days after their start. Rates and shares are judged by the
    difference of two proportions (95% interval); medians by a case bootstrap (``n_boot``
    resamples, fixed ``seed``). A verdict is better/worse only when the interval excludes 0.
    Findings are matched by ``(kind, rule, where)``; transitions by ``(source, target)``.
    Works on one log split in two by case start: ``compare(log, at="2024-07-01", stages=model)``
    (the same as ``compare(*log.split(at="2024-07-01"), model)``), e.g. at a date found by
    :func:`~salesmining.drift`: ``compare(log, at=dr.change_points["date"][0], stages=model)``.
    """
    if at is not None:
        if not isinstance(before, EventLog):
            raise OptionError("compare(log, at=DATE) splits one EventLog; pass the log, not a Diagnosis")
        if after is not None and stages is None and not isinstance(after, EventLog | Diagnosis):
            after, stages = None, after  # compare(log, model, at=DATE)
        if after is not None:
            raise OptionError("give either two logs or one log with at=DATE, not both")
        before, after = before.split(at=at)
    elif after is None:
        raise OptionError("compare needs two logs (before, after), or one log with at=DATE")
    if mode not in MODES:
        raise OptionError(f"mode must be one of {MODES}, not {mode!r}")
    if stages is None:
        if isinstance(before, Diagnosis):
            stages = before.stages
        else:
            raise OptionError("compare needs the stage model (stages=...)")
    model = as_stage_model(stages)
    db = before if isinstance(before, Diagnosis) else diagnose(before, model, rules=rules)
    da = after if isinstance(after, Diagnosis) else diagnose(after, model, rules=rules)
    if mode == "auto":
        mode = _detect_mode(db.log, da.log)
    rng = np.random.default_rng(seed)
    pa_all, pb_all = per_case(db), per_case(da)
    h = horizon_days(pa_all, pb_all, horizon)
    pa, pb = within_horizon(pa_all, h), within_horizon(pb_all, h)
    rows = []
    metrics: list[tuple[str, str, str, bool]] = [(name, col, how, up) for name, (col, how, up) in _COMPARED.items()]
    metrics += [(f"share of cases with {k.replace('_', ' ')}", f"share_{k}", "mean", False) for k in _SHARE_KINDS]
    for name, col, how, up in metrics:
        a, b = pa[col], pb[col]
        av, bv = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
        if how == "mean":
            test = "two proportions"
            sa, sb, delta, lo, hi = proportion_test(av, bv)
        else:
            test = "bootstrap"
            sa, sb, delta, lo, hi = _bootstrap(av, bv, how, n_boot=n_boot, rng=rng)
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
                "test": test,
            }
        )
    kpi_frame = pd.DataFrame(rows)
    m = _findings_table(db, da, set(pa["case_id"]), set(pb["case_id"]), mode)
    e = _edges_table(db, da)
    return Comparison(db, da, n_boot, seed, kpi_frame, m, e, mode=mode, horizon_days=h)


def _detect_mode(a: EventLog, b: EventLog) -> str:
    """``before_after`` when at most 10% of ``b``'s cases started before ``a``'s last case start."""
    sa = a._events.groupby(CASE)[TIMESTAMP].min()
    sb = b._events.groupby(CASE)[TIMESTAMP].min()
    if not len(sa) or not len(sb):
        return "before_after"
    overlap = float((sb < sa.max()).mean())
    return "before_after" if overlap <= 0.10 else "segments"


def _findings_table(db: Diagnosis, da: Diagnosis, ids_b: set[Any], ids_a: set[Any], mode: str) -> pd.DataFrame:
    """Findings matched by (kind, rule, where); status by the two-proportion test on the cases
    within the horizon (``ids_b``/``ids_a``: the before's and the after's)."""
    fb, fa = db.findings.to_frame(), da.findings.to_frame()
    key = ["kind", "rule", "where"]
    m = fb[[*key, "cases", "share", "time_lost_hours", "severity"]].merge(
        fa[[*key, "cases", "share", "time_lost_hours", "severity"]], on=key, how="outer", suffixes=("_before", "_after")
    )
    for c in ("cases_before", "cases_after"):
        m[c] = m[c].fillna(0).astype("int64")
    for c in ("share_before", "share_after", "time_lost_hours_before", "time_lost_hours_after"):
        m[c] = m[c].fillna(0.0)
    for side, d, ids in (("before", db, ids_b), ("after", da, ids_a)):
        ev = d.findings.evidence
        ev = ev[ev["case_id"].isin({str(i) for i in ids})]
        counts = ev.drop_duplicates([*key, "case_id"]).groupby(key).size()
        idx = pd.MultiIndex.from_frame(m[key])
        m[f"affected_{side}"] = counts.reindex(idx).fillna(0).astype("int64").to_numpy()
        m[f"eligible_{side}"] = len(ids)
    nb, na = m["eligible_before"].clip(lower=1), m["eligible_after"].clip(lower=1)
    pb, pa = m["affected_before"] / nb, m["affected_after"] / na
    se = np.sqrt(pb * (1 - pb) / nb + pa * (1 - pa) / na)
    z = (pa - pb) / se.where(se > 0)
    m["z"] = z
    m["significant"] = z.abs() > Z95
    sig = m["significant"].fillna(False).astype(bool)
    gone, fresh = ("only in A", "only in B") if mode == "segments" else ("resolved", "new")
    m["status"] = np.select(
        [
            (m["affected_before"] == 0) & sig,
            (m["affected_after"] == 0) & sig,
            sig & (z < 0),
            sig & (z > 0),
        ],
        [fresh, gone, "better", "worse"],
        default="unchanged",
    )
    return m.sort_values(["status", "kind", "where"], kind="stable").reset_index(drop=True)


def _edges_table(db: Diagnosis, da: Diagnosis) -> pd.DataFrame:
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
    return e.sort_values(["status", "source", "target"], kind="stable").reset_index(drop=True)
