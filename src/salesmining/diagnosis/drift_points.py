"""Drift over time: :class:`Drift`, the process's KPIs by case-start period and the dates where
they changed (the entry point is :func:`salesmining.drift`).

Method (``docs/drift.md`` has it in full):

* **Series.** Cases are grouped by the week (``freq="W"``, Monday to Sunday, UTC) or month
  (``"M"``) they started in. Every metric of a period is measured over an **equal follow-up
  window**, the *horizon* of :func:`salesmining.diagnosis.compare.horizon_days` (the shorter of
  the closed cases' 90th-percentile cycle time and the median follow-up): a case counts only when
  the log followed it for at least that long, and only when it closed within it (when the log has
  no outcomes at all: every case followed that long). So the last weeks, whose deals have not had
  time to close, are *marked* (too few measured cases) instead of faking a speed-up.
* **Change points.** Per metric, PELT (as ``ruptures.Pelt``, in numpy: ``diagnosis/pelt.py``) on
  the per-period values weighted by their case counts, standardised by the per-case spread (the
  larger of a difference-based robust estimate and the binomial / median sampling spread), with the penalty
  :data:`PENALTY_FACTOR` · log(number of periods). Each candidate is then tested on the **cases**
  of the segments either side: cycle time by a two-sided Mann–Whitney U test, rates by the
  two-proportion z test; the p-value times the number of splits PELT could have chosen there
  (Bonferroni for the choice), then Benjamini–Hochberg across every candidate of every metric,
  kept at ``alpha``.
* **Explanations.** What moved between the two segments: for cycle time the time per case at each
  place (a stage, an approval's wait, a handoff, from the findings' attribution table where each
  gap is counted once), ranked by its share of the change in mean cycle time; for rates the
  per-stage deviations (skips, backward moves, repeats) and the findings by place, ranked by how
  much their share moved.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesmining.analysis.visits import mann_whitney_two_sided, normal_sf
from salesmining.core import formatting as _fmt
from salesmining.core.frames import handout
from salesmining.core.plain import plain, records
from salesmining.core.schema import CASE, TIMESTAMP
from salesmining.core.vocabulary import PROCESS_LEVEL_RULES
from salesmining.diagnosis.horizon import SHARE_KINDS as _SHARE_KINDS
from salesmining.diagnosis.horizon import DiagnosisParts as Diagnosis
from salesmining.diagnosis.horizon import horizon_days, per_case, within_horizon
from salesmining.diagnosis.pelt import weighted_l2_pelt

__all__ = [
    "FREQS",
    "METRICS",
    "MIN_PERIODS",
    "PENALTY_FACTOR",
    "Drift",
    "compute",
    "drift_section",
    "section_context",
    "two_proportion_p",
]

#: Period lengths: weeks (Monday–Sunday, UTC) or calendar months.
FREQS = {"W": "week", "M": "month"}

#: The PELT penalty is ``PENALTY_FACTOR · log(T)`` (T periods) on the standardised, case-weighted
#: cost — a BIC-type penalty, 3 rather than 2 to hold false alarms down on short series (the
#: default of the R changepoint package's MBIC is of the same size).
PENALTY_FACTOR = 3.0

#: Fewest usable periods for change points to be looked for.
MIN_PERIODS = 6

#: Fewest periods on each side of a change point: a change must last, a blip of one or two
#: periods is not one.
MIN_SEGMENT = 3

#: metric → (per-case column, statistic, label). ``median`` metrics are tested with Mann–Whitney,
#: ``rate`` metrics with the two-proportion test. Finding-kind rates are added per log.
METRICS: dict[str, tuple[str, str, str]] = {
    "cycle_time_median_days": ("cycle_shown", "median", "median cycle time"),
    "fitting_share": ("conforms", "rate", "share of cases on the intended path"),
    "skip_rate": ("skipped_any", "rate", "skip rate"),
    "rework_rate": ("rework", "rate", "rework rate"),
    "win_rate": ("won", "rate", "win rate"),
}

_CP_COLUMNS = [
    "metric",
    "date",
    "period",
    "before",
    "after",
    "p_value",
    "p_raw",
    "positions",
    "test",
    "n_before",
    "n_after",
    "explanation",
]
_DRIVER_COLUMNS = ["metric", "date", "driver", "unit", "before", "after", "delta", "contribution"]


def _label(metric: str) -> str:
    if metric in METRICS:
        return METRICS[metric][2]
    if metric == "cycle_time_p90_days":
        return "90th-percentile cycle time"
    return f"share of cases with {metric.removesuffix('_rate').replace('_', ' ')}"


def _text(metric: str, value: float) -> str:
    """A metric value as a person reads it (durations and shares through :mod:`core.formatting`)."""
    if metric.endswith("_days"):
        return _fmt.days(value * 86400)
    return _fmt.percent(value)


@dataclasses.dataclass(frozen=True, eq=False)
class Drift:
    """The process over time: KPIs by case-start period (:attr:`series`), the dates where they
    changed (:attr:`change_points`) and what moved at each (:attr:`drivers`). Built by :func:`drift`."""

    freq: str
    horizon_days: float
    min_cases: int
    alpha: float
    metrics: tuple[str, ...]
    notes: tuple[str, ...]
    _series: pd.DataFrame = dataclasses.field(repr=False)
    _change_points: pd.DataFrame = dataclasses.field(repr=False)
    _drivers: pd.DataFrame = dataclasses.field(repr=False)

    @property
    def series(self) -> pd.DataFrame:
        """One row per period (none dropped): ``period`` (its first day, UTC), ``cases`` (started
        in it), ``followed`` (followed for the whole horizon), ``measured`` (of those, closed
        within it: the cases every metric counts), ``enough`` (``measured >= min_cases``; the
        others are shown but not used for change points), ``note``, then one column per metric."""
        return handout(self._series)

    @property
    def change_points(self) -> pd.DataFrame:
        """One row per confirmed change: ``metric``, ``date`` (first day of the first period
        after it), ``period``, ``before``/``after`` (the metric over the cases of the segments
        either side), ``p_raw`` (the case test's p-value), ``positions`` (the splits PELT could
        have chosen between the neighbouring change points), ``p_value`` (``min(1, positions ·
        p_raw)``, Benjamini–Hochberg adjusted over every candidate of every metric), ``test``,
        ``n_before``/``n_after`` (cases tested),
        ``explanation`` (plain words: what moved)."""
        return handout(self._change_points)

    @property
    def drivers(self) -> pd.DataFrame:
        """What moved at each change point, ranked: ``metric``, ``date``, ``driver`` (a place or a
        deviation), ``unit`` (``days`` per case or ``share`` of cases), ``before``, ``after``,
        ``delta`` and ``contribution`` (its delta over the metric's)."""
        return handout(self._drivers)

    def to_frame(self) -> pd.DataFrame:
        """The series (see :attr:`series`)."""
        return self.series

    def to_dict(self) -> dict[str, Any]:
        """Machine-readable drift (JSON-serialisable): the series, change points and drivers."""
        return {
            "freq": self.freq,
            "horizon_days": plain(self.horizon_days),
            "min_cases": int(self.min_cases),
            "alpha": plain(self.alpha),
            "correction": "benjamini-hochberg",
            "penalty": f"{PENALTY_FACTOR:g} * log(periods)",
            "metrics": list(self.metrics),
            "notes": list(self.notes),
            "series": records(self._series),
            "change_points": records(self._change_points),
            "drivers": records(self._drivers),
        }

    def __repr__(self) -> str:
        n = len(self._series)
        usable = int(self._series["enough"].sum()) if n else 0
        cps = ", ".join(f"{r['metric']} {r['date']:%Y-%m-%d}" for r in self._change_points.head(3).to_dict("records"))
        more = "" if len(self._change_points) <= 3 else ", ..."
        return (
            f"<Drift by {FREQS[self.freq]}: {n} periods ({usable} with ≥ {self.min_cases} measured cases), "
            f"{len(self._change_points)} change points{': ' + cps + more if cps else ''}>"
        )

    def _repr_html_(self) -> str:
        from salesmining.present.report import render_template

        return render_template("drift_section.html.j2", drift=section_context(self))


# --- the statistics -------------------------------------------------------------------------------
def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z test (``x`` successes out of ``n``)."""
    if n1 == 0 or n2 == 0:
        return math.nan
    p = (x1 + x2) / (n1 + n2)
    se = math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x2 / n2 - x1 / n1) / se
    return float(2 * normal_sf(abs(z)))


def _case_test(a: np.ndarray, b: np.ndarray, how: str) -> tuple[float, str]:
    if how == "median":
        if len(a) < 2 or len(b) < 2:
            return math.nan, "Mann-Whitney U"
        return mann_whitney_two_sided(a, b), "Mann-Whitney U"
    return two_proportion_p(int(a.sum()), len(a), int(b.sum()), len(b)), "two proportions"


def _spread(y: np.ndarray, w: np.ndarray, cases: np.ndarray, how: str) -> float:
    """The per-case standard deviation the series is standardised by: the larger of a robust
    difference-based estimate from the series itself and the sampling spread of the statistic."""
    d = np.diff(y) / np.sqrt(1 / w[:-1] + 1 / w[1:])
    diff_sd = 1.4826 * float(np.median(np.abs(d - np.median(d)))) if len(d) >= 2 else 0.0
    if how == "rate":
        p = float(np.mean(cases)) if len(cases) else 0.0
        theory = math.sqrt(p * (1 - p))
    else:  # rank scores, uniform on (0, 1): variance 1/12 (a little less with ties)
        theory = float(np.std(cases)) if len(cases) else 0.0
    return max(diff_sd, theory)


def _weighted_pelt(y: np.ndarray, w: np.ndarray, sd: float) -> list[int]:
    """Change points (indices of the first period after each) by PELT on the case-weighted,
    standardised series (``diagnosis/pelt.py``: ruptures' algorithm, in numpy)."""
    return weighted_l2_pelt(y / sd, w, PENALTY_FACTOR * math.log(len(y)), MIN_SEGMENT)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values, in the input's order
    (``scipy.stats.false_discovery_control(p, method="bh")``)."""
    p = np.asarray(p, dtype="float64")
    m = len(p)
    if m <= 1:
        return p.copy()
    order = np.argsort(p, kind="stable")
    adj = p[order] * (m / np.arange(1, m + 1, dtype="float64"))
    np.minimum.accumulate(adj[::-1], out=adj[::-1])
    out = np.empty(m, dtype="float64")
    out[order] = adj
    return np.clip(out, 0.0, 1.0)


# --- what moved -----------------------------------------------------------------------------------
def _place_days(d: Diagnosis) -> pd.DataFrame:
    """Per case (rows) and place (columns): days spent there, every gap between two events counted
    once (the findings' attribution table). Places: the stage a case is in, an approval's wait, a
    handoff, a repeat."""
    a = d.findings.attribution
    if not len(a):
        return pd.DataFrame()
    a = a.sort_values(["case_id", "gap_start"], kind="stable")
    known = set(d.stages.stages)
    stage = a["prev_activity"].where(a["prev_activity"].isin(known))
    stage = stage.groupby(a["case_id"]).ffill().fillna(a["prev_activity"])
    cause = a["cause"].astype(str)
    place = np.select(
        [cause == "approval", cause == "handoff", cause == "repeat"],
        ["the wait at " + a["activity"].astype(str), "handoffs in " + stage, "repeats of " + a["activity"].astype(str)],
        default="the time in " + stage,
    )
    t = pd.DataFrame({"case_id": a["case_id"].astype(str), "place": place, "days": a["gap_s"] / 86400})
    return t.pivot_table(index="case_id", columns="place", values="days", aggfunc="sum", fill_value=0.0)


def _indicators(d: Diagnosis, metric: str) -> pd.DataFrame:
    """Per case (rows) and deviation or finding (columns): 1 when the case has it."""
    conf = d.conformance.to_frame()
    ids = conf["case_id"].astype(str)
    parts: list[pd.DataFrame] = []

    def explode(col: pd.Series, label: Any) -> None:
        s = pd.Series(col.to_numpy(), index=ids.to_numpy()).explode().dropna()
        if len(s):
            parts.append(pd.DataFrame({"case_id": s.index, "item": [label(v) for v in s.to_numpy()]}))

    if metric in ("skip_rate", "fitting_share", "win_rate"):
        explode(conf["skipped"], lambda s: f"skipping {s}")
    if metric in ("rework_rate", "fitting_share", "win_rate"):
        explode(conf["backtracks"], lambda b: f"moving back from {b[0]} to {b[1]}")
        explode(conf["repeats"], lambda s: f"repeating {s}")
    kind = metric.removesuffix("_rate") if metric.endswith("_rate") else ""
    if kind in _SHARE_KINDS or metric == "win_rate":
        ev = d.findings.evidence
        ev = ev[~ev["rule"].isin(PROCESS_LEVEL_RULES)]
        if kind in _SHARE_KINDS:
            ev = ev[ev["kind"] == kind]
        if len(ev):
            parts.append(
                pd.DataFrame(
                    {
                        "case_id": ev["case_id"].astype(str).to_numpy(),
                        "item": (ev["kind"].str.replace("_", " ") + " at " + ev["where"].astype(str)).to_numpy(),
                    }
                )
            )
    if not parts:
        return pd.DataFrame()
    long = pd.concat(parts, ignore_index=True).drop_duplicates()
    return pd.crosstab(long["case_id"], long["item"]).clip(upper=1).astype(float)


def _movers(table: pd.DataFrame, before: list[str], after: list[str], change: float, unit: str) -> list[dict[str, Any]]:
    """The columns of ``table`` whose mean per case moved with the metric, largest share first."""
    if not len(table.columns) or not before or not after or change == 0 or math.isnan(change):
        return []
    tb = table.reindex(before, fill_value=0.0)
    ta = table.reindex(after, fill_value=0.0)
    delta = ta.mean() - tb.mean()
    contribution = delta / change
    out = []
    for name in contribution.sort_values(ascending=False, kind="stable").index:
        c = float(contribution[name])
        if c < 0.05 or (unit == "share" and abs(float(delta[name])) < 0.005):
            continue
        col_b, col_a = tb[name], ta[name]
        vb, va = float(col_b.mean()), float(col_a.mean())
        out.append(
            {
                "driver": str(name),
                "unit": unit,
                "before": vb,
                "after": va,
                "delta": float(delta[name]),
                "contribution": c,
                "share_before": float((col_b > 0).mean()),
                "share_after": float((col_a > 0).mean()),
            }
        )
        if len(out) == 3:
            break
    return out


def _words(metric: str, m: Mapping[str, Any], date: pd.Timestamp) -> str:
    head = f"{_label(metric)} {_text(metric, m['before'])} → {_text(metric, m['after'])} from {date:%Y-%m-%d}"
    bits = []
    for mv in m["movers"]:
        if mv["unit"] == "days":
            verb = "rose" if mv["delta"] > 0 else "fell"
            part = f"{_fmt.percent(mv['contribution'], digits=0)} of the change in mean cycle time"
            if mv["share_after"] == 0:
                bits.append(
                    f"{mv['driver']} is gone (it took {_fmt.days(mv['before'] * 86400)} per case on average, "
                    f"in {_fmt.percent(mv['share_before'])} of cases; {part})"
                )
            elif mv["share_before"] == 0:
                bits.append(
                    f"{mv['driver']} is new ({_fmt.days(mv['after'] * 86400)} per case on average, "
                    f"in {_fmt.percent(mv['share_after'])} of cases; {part})"
                )
            else:
                share = ""
                if abs(mv["share_after"] - mv["share_before"]) >= 0.1:
                    share = f", in {_fmt.percent(mv['share_before'])} → {_fmt.percent(mv['share_after'])} of cases"
                bits.append(
                    f"{mv['driver']} {verb} from {_fmt.days(mv['before'] * 86400)} to "
                    f"{_fmt.days(mv['after'] * 86400)} per case on average ({part}{share})"
                )
        else:
            verb = "rose" if mv["delta"] > 0 else "fell"
            bits.append(
                f"{mv['driver']} {verb} from {_fmt.percent(mv['before'])} to {_fmt.percent(mv['after'])} of cases"
            )
    if not bits:
        return head + " (no single place or deviation accounts for it)"
    if metric == "win_rate":  # what moved with it, not what caused it
        return head + "; at the same time (observational, not a cause): " + "; ".join(bits)
    return head + ": " + "; ".join(bits)


# --- the series -----------------------------------------------------------------------------------
def _period_of(start: pd.Series, freq: str) -> pd.Series:
    return start.dt.tz_convert(None).dt.to_period(freq)


def compute(d: Diagnosis, *, freq: str, min_cases: int, alpha: float, calendar: Any = None) -> Drift:
    """The :class:`Drift` of a diagnosis (see :func:`salesmining.drift`)."""
    notes: list[str] = []
    p = per_case(d)
    p["case_id"] = p["case_id"].astype(str)
    ev = d.log._events
    span_ts = ev.groupby(CASE, observed=True)[TIMESTAMP].agg(["min", "max"])
    span_ts.index = span_ts.index.astype(str)
    p["start"] = p["case_id"].map(span_ts["min"])
    # the series' cycle time: calendar days, or working days on a calendar's clock
    p["cycle_shown"] = p["cycle_days"]
    if calendar is not None:
        ends = p["case_id"].map(span_ts["max"])
        p["cycle_shown"] = np.asarray(calendar.seconds_between(p["start"], ends), dtype=float) / 86400
        notes.append(f"cycle times are working days on {calendar!r}")
    h = horizon_days(p, p.iloc[:0])  # one side: all cases (an empty second side adds nothing)
    has_outcomes = bool(p["closed"].any())
    q = within_horizon(p, h)
    if has_outcomes:
        measured = q[q["closed_h"] == 1.0]
    else:
        measured = q
        notes.append("no case reached a won or lost outcome: rates count every case followed for the horizon")
    m = p.set_index("case_id").loc[measured["case_id"]].reset_index()
    lost_known = bool(d.stages.lost) or bool((d.conformance.to_frame()["outcome"] == "lost").any())
    metric_cols: dict[str, tuple[str, str]] = {}
    for name, (col, how, _) in METRICS.items():
        if name == "cycle_time_median_days" and not has_outcomes:
            continue
        if name == "win_rate" and not lost_known:
            notes.append("win rate left out: the model has no lost outcome and no case is recorded as lost")
            continue
        metric_cols[name] = (col, how)
    for kind in _SHARE_KINDS:
        if p[f"share_{kind}"].any():
            metric_cols[f"{kind}_rate"] = (f"share_{kind}", "rate")

    p["period"] = _period_of(p["start"], freq)
    m["period"] = _period_of(m["start"], freq)
    span = pd.period_range(p["period"].min(), p["period"].max(), freq=freq) if len(p) else pd.PeriodIndex([], freq=freq)
    cases = p.groupby("period").size().reindex(span, fill_value=0)
    followed = p.loc[q.index].groupby("period").size().reindex(span, fill_value=0)  # q: rows of p
    n_meas = m.groupby("period").size().reindex(span, fill_value=0)
    series = pd.DataFrame(
        {
            "period": [pd.Timestamp(x.start_time, tz="UTC") for x in span],
            "cases": cases.to_numpy(dtype="int64"),
            "followed": followed.to_numpy(dtype="int64"),
            "measured": n_meas.to_numpy(dtype="int64"),
        }
    )
    series["enough"] = series["measured"] >= min_cases
    note = np.select(
        [series["enough"], series["cases"] == 0, series["followed"] < series["cases"] / 2],
        ["", "no case started", f"incomplete: most cases not yet followed for {h:.0f} days"],
        default=f"fewer than {min_cases} measured cases",
    )
    series["note"] = note
    grouped = m.groupby("period")
    if has_outcomes:
        series["cycle_time_median_days"] = grouped["cycle_shown"].median().reindex(span).to_numpy()
        series["cycle_time_p90_days"] = grouped["cycle_shown"].quantile(0.9).reindex(span).to_numpy()
    for name, (col, how) in metric_cols.items():
        if how == "rate":
            series[name] = grouped[col].mean().reindex(span).to_numpy()

    # --- change points: candidates per metric, then the case test, then BH over all of them
    usable = np.flatnonzero(series["enough"].to_numpy())
    cands: list[dict[str, Any]] = []
    if len(usable) < MIN_PERIODS:
        notes.append(
            f"change points need at least {MIN_PERIODS} {FREQS[freq]}s with ≥ {min_cases} measured cases; "
            f"this log has {len(usable)}"
        )
    else:
        # the measured cases by period (stably: within a period in table order), so a run of periods
        # is one selection
        at = span.get_indexer(pd.PeriodIndex(m["period"]))
        order = np.argsort(at, kind="stable")
        by_period, at = m.iloc[order], at[order]
        for name, (col, how) in metric_cols.items():
            if how == "median":
                # located on the cases' rank scores (mean per period): distribution-free, and the
                # statistic the Mann-Whitney confirmation tests; the series shows the median
                score = m[col].rank(method="average")
                score = (score - 0.5) / max(int(score.notna().sum()), 1)
                y = score.groupby(m["period"]).mean().reindex(span).to_numpy(dtype=float)[usable]
                vals = score.dropna().to_numpy(dtype=float)
            else:
                y = series[name].to_numpy(dtype=float)[usable]
                vals = m[col].dropna().to_numpy(dtype=float)
            w = series["measured"].to_numpy(dtype=float)[usable]
            ok = ~np.isnan(y)
            if ok.sum() < MIN_PERIODS:
                continue
            idx = usable[ok]
            sd = _spread(y[ok], w[ok], vals, how)
            if not sd > 0:
                continue
            bkps = _weighted_pelt(y[ok], w[ok], sd)
            edges = [0, *bkps, int(ok.sum())]
            for j, b in enumerate(bkps):
                cb = by_period[np.isin(at, idx[edges[j] : b])]
                ca = by_period[np.isin(at, idx[b : edges[j + 2]])]
                a_v = cb[col].dropna().to_numpy(dtype=float)
                b_v = ca[col].dropna().to_numpy(dtype=float)
                pval, test = _case_test(a_v, b_v, how)
                stat = np.median if how == "median" else np.mean
                cands.append(
                    {
                        "metric": name,
                        "date": pd.Timestamp(span[idx[b]].start_time, tz="UTC"),
                        "period": str(span[idx[b]]),
                        "before": float(stat(a_v)) if len(a_v) else math.nan,
                        "after": float(stat(b_v)) if len(b_v) else math.nan,
                        "p_raw": pval,
                        # PELT chose the split: Bonferroni over the splits it could have chosen there
                        "positions": max(1, edges[j + 2] - edges[j] - 2 * MIN_SEGMENT + 1),
                        "test": test,
                        "n_before": len(a_v),
                        "n_after": len(b_v),
                        "_ids": (list(cb["case_id"]), list(ca["case_id"])),
                    }
                )
    if cands:
        raw = np.array([min(1.0, c["p_raw"] * c["positions"]) for c in cands], dtype=float)
        adj = np.full(len(raw), np.nan)
        fin = ~np.isnan(raw)
        if fin.any():
            adj[fin] = benjamini_hochberg(raw[fin])
        for c, a in zip(cands, adj, strict=True):
            c["p_value"] = float(a)
    kept = [c for c in cands if not math.isnan(c["p_value"]) and c["p_value"] <= alpha]

    # --- explanations
    places = _place_days(d) if any(METRICS.get(c["metric"], ("", ""))[1] == "median" for c in kept) else None
    drivers: list[dict[str, Any]] = []
    rows = []
    for c in sorted(kept, key=lambda c: (c["date"], list(metric_cols).index(c["metric"]))):
        ids_b, ids_a = c["_ids"]
        change = c["after"] - c["before"]
        if c["metric"] == "cycle_time_median_days" and places is not None:
            # contributions to the change in *mean* cycle time, which the places add up to
            cyc = p.set_index("case_id")["cycle_days"]
            dmean = float(cyc.reindex(ids_a).mean() - cyc.reindex(ids_b).mean())
            movers = _movers(places, ids_b, ids_a, dmean, "days")
        else:
            sign = -1.0 if c["metric"] == "fitting_share" else 1.0
            table = _indicators(d, c["metric"])
            if c["metric"] == "win_rate":  # observational: whatever moved most, either way
                size = abs(change)
                movers = _movers(table, ids_b, ids_a, size, "share") + _movers(table, ids_b, ids_a, -size, "share")
                movers = sorted(movers, key=lambda x: -abs(x["delta"]))[:3]
                for mv in movers:
                    mv["contribution"] = math.nan
            else:
                movers = _movers(table, ids_b, ids_a, sign * change, "share")
        c["movers"] = movers
        text = _words(c["metric"], c, c["date"])
        rows.append({k: c[k] for k in _CP_COLUMNS if k != "explanation"} | {"explanation": text})
        for mv in movers:
            drivers.append({"metric": c["metric"], "date": c["date"]} | {k: mv[k] for k in _DRIVER_COLUMNS[2:]})
    cp = pd.DataFrame(rows, columns=_CP_COLUMNS)
    if not len(cp):
        cp["date"] = pd.Series([], dtype="datetime64[us, UTC]")
    dr = pd.DataFrame(drivers, columns=_DRIVER_COLUMNS)
    return Drift(
        freq=freq,
        horizon_days=h,
        min_cases=min_cases,
        alpha=alpha,
        metrics=tuple(["cycle_time_p90_days"] if has_outcomes else []) + tuple(metric_cols),
        notes=tuple(notes),
        _series=series,
        _change_points=cp,
        _drivers=dr,
    )


# --- the report section -----------------------------------------------------------------------------
def section_context(dr: Drift) -> dict[str, Any]:
    """What the "changes over time" section shows, as plain values (the chart as inline SVG)."""
    from salesmining.present.timeline import timeline_svg

    s = dr._series
    usable = int(s["enough"].sum())
    available = usable >= MIN_PERIODS
    shown = ["cycle_time_median_days"] if "cycle_time_median_days" in s.columns else []
    shown += [mt for mt in dict.fromkeys(dr._change_points["metric"]) if mt not in shown]
    charts = []
    if available:
        for mt in shown[:4]:
            marks = [
                (r["date"], _text(mt, r["before"]) + " → " + _text(mt, r["after"]))
                for r in dr._change_points[dr._change_points["metric"] == mt].to_dict("records")
            ]
            charts.append(
                (
                    _label(mt),
                    timeline_svg(
                        list(s["period"]),
                        [float(v) for v in s[mt]],
                        list(s["enough"]),
                        marks,
                        value_text=[_text(mt, v) for v in s[mt]],
                        title=_label(mt),
                    ),
                )
            )
    reason = ""
    if not available:
        reason = (
            f"Not shown: the log has {usable} {FREQS[dr.freq]}s with at least {dr.min_cases} cases followed for "
            f"the {dr.horizon_days:.0f}-day horizon and closed within it; a timeline needs {MIN_PERIODS}."
        )
    return {
        "available": available,
        "reason": reason,
        "freq": FREQS[dr.freq],
        "horizon": _fmt.days(dr.horizon_days * 86400) if not math.isnan(dr.horizon_days) else _fmt.MISSING,
        "periods": len(s),
        "usable": usable,
        "min_cases": dr.min_cases,
        "alpha": _fmt.percent(dr.alpha, digits=0),
        "charts": charts,
        "changes": [
            (f"{r['date']:%Y-%m-%d}", _label(r["metric"]), r["explanation"], f"{r['p_value']:.2g}")
            for r in dr._change_points.to_dict("records")
        ],
        "notes": list(dr.notes),
    }


def drift_section(d: Diagnosis) -> dict[str, Any]:
    """The diagnosis report's "changes over time" section: weekly when the log spans at most
    about a year, else monthly."""
    tr = d.log.time_range
    freq = "W" if tr is None or (tr[1] - tr[0]) <= pd.Timedelta(days=400) else "M"
    return section_context(compute(d, freq=freq, min_cases=10, alpha=0.05))
