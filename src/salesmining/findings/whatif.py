"""What-if estimates: :func:`what_if` replays structural changes on every case → :class:`WhatIf`.

The replay (:mod:`salesmining.findings.replay`) rewrites the gaps of the attribution table that a
change touches and keeps every other gap; the projected KPIs are computed on the new gaps, next
to today's, with case-bootstrap confidence intervals. No queueing effects: the people and
systems downstream of a removed wait are assumed to take as long as they took. Win-rate effects
are not projected; what comparable cases show is reported apart, as an observation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.core import formatting
from salesmining.core import html as _display
from salesmining.core.errors import OptionError
from salesmining.core.frames import handout
from salesmining.core.plain import records
from salesmining.findings.changes import Cap, Change, Remove, check
from salesmining.findings.rules import FindingRules

if TYPE_CHECKING:
    from salesmining.analysis.discover import BusinessCalendar
    from salesmining.findings.replay import Timeline
    from salesmining.log.eventlog import EventLog

__all__ = ["ASSUMPTIONS", "WHATIF_COLUMNS", "WhatIf", "what_if"]

#: The columns of ``WhatIf.to_frame()``.
WHATIF_COLUMNS = [
    "kpi",
    "today",
    "projected",
    "low",
    "high",
    "change",
    "change_low",
    "change_high",
    "unit",
    "cases",
    "definition",
]
#: The columns of ``WhatIf.outcomes`` (observational win rates per change).
OUTCOME_COLUMNS = [
    "change",
    "comparison",
    "closed_with",
    "win_rate_with",
    "closed_without",
    "win_rate_without",
    "difference",
    "z",
    "may_change_outcomes",
]

#: What every projection assumes (written on the result and in its report).
ASSUMPTIONS = (
    "Each change rewrites only the waits it names, on every case it applies to; every other wait of the case "
    "stays as recorded (the replay runs on the attribution table of the findings).",
    "No queueing effects: freed time does not make anyone downstream faster or slower, and capacity is not modelled.",
    "The same cases win and lose as today: the cycle time of closed cases is projected for today's closed cases. "
    "Win-rate effects are not projected; the win rates of comparable cases with and without the step are shown as "
    "an observation, not as an effect of the change.",
    "Confidence intervals are 95% case-bootstrap intervals (the cases resampled with replacement); they cover "
    "sampling noise, not a wrong assumption.",
)
_Z = 1.96
_MIN_DIFF = 0.05
_MIN_N = 10


@dataclasses.dataclass(frozen=True, eq=False)
class WhatIf:
    """Projected KPIs after structural changes, next to today's, with 95% bootstrap intervals.

    ``to_frame()`` has one row per KPI: ``kpi`` (``cycle_time_median_days`` and
    ``cycle_time_p90_days`` of closed cases, ``time_lost_hours:<finding kind>`` over all cases,
    ``within_sla:<step>`` — the share of cases that had the step and stayed within its SLA at
    every visit), ``today``, ``projected``, ``low``/``high`` (interval of the projected value),
    ``change`` (projected − today) with ``change_low``/``change_high`` (paired interval),
    ``unit``, ``cases`` (the cases the KPI is measured on) and ``definition``. :attr:`outcomes`
    holds the observational win rates; :attr:`assumptions` and :attr:`notes` what to keep in mind;
    ``may_change_outcomes`` is set when comparable cases with and without a changed step end
    differently (the projection cannot see that). Tables handed out are copies.
    """

    changes: tuple[Change, ...]
    n_cases: int
    n_closed: int
    affected_cases: int
    n_boot: int
    seed: int
    _kpis: pd.DataFrame = dataclasses.field(repr=False)
    _outcomes: pd.DataFrame = dataclasses.field(repr=False)
    _cases: pd.DataFrame = dataclasses.field(repr=False)
    notes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ASSUMPTIONS
    working_time: bool = False

    @property
    def may_change_outcomes(self) -> bool:
        """Do comparable cases with and without a changed step win at clearly different rates?"""
        return bool(self._outcomes["may_change_outcomes"].any()) if len(self._outcomes) else False

    @property
    def kpis(self) -> pd.DataFrame:
        """The KPI table (the same as :meth:`to_frame`)."""
        return handout(self._kpis)

    @property
    def outcomes(self) -> pd.DataFrame:
        """Per change, observational: ``comparison`` (which closed cases are compared),
        ``closed_with``/``win_rate_with`` (cases through the step, or over the cap),
        ``closed_without``/``win_rate_without``, ``difference`` (without − with), ``z`` and
        ``may_change_outcomes`` (|difference| ≥ 5 points, |z| ≥ 1.96, ≥ 10 cases a side)."""
        return handout(self._outcomes)

    @property
    def cases(self) -> pd.DataFrame:
        """Per case: ``case_id``, ``closed``, ``outcome``, ``today_s``, ``projected_s``, ``saved_s``."""
        return handout(self._cases)

    def to_frame(self) -> pd.DataFrame:
        """One row per KPI (see the class docstring)."""
        return handout(self._kpis)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data: the changes, KPIs, outcomes, assumptions and notes."""
        return {
            "changes": [c.to_dict() | {"description": c.describe()} for c in self.changes],
            "n_cases": int(self.n_cases),
            "n_closed": int(self.n_closed),
            "affected_cases": int(self.affected_cases),
            "n_boot": int(self.n_boot),
            "seed": int(self.seed),
            "working_time": bool(self.working_time),
            "kpis": records(self._kpis),
            "outcomes": records(self._outcomes),
            "may_change_outcomes": self.may_change_outcomes,
            "assumptions": list(self.assumptions),
            "notes": list(self.notes),
        }

    def _row(self, kpi: str) -> dict[str, Any] | None:
        r = self._kpis[self._kpis["kpi"] == kpi]
        return None if not len(r) else r.iloc[0].to_dict()

    def __repr__(self) -> str:
        what = "; ".join(formatting.one_line(c.describe()) for c in self.changes)
        r = self._row("cycle_time_median_days")
        ct = ""
        if r is not None and not formatting.is_missing(r["today"]):
            ct = (
                f": cycle time median {formatting.days(r['today'] * 86400)} → {formatting.days(r['projected'] * 86400)}"
            )
        return f"<WhatIf {what}{ct} ({formatting.count(self.affected_cases)} cases changed)>"

    def _rows_html(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for r in self._kpis.to_dict("records"):
            fmt = _formatter(r["unit"], self.working_time)
            out.append(
                (
                    str(r["kpi"]),
                    fmt(r["today"]),
                    fmt(r["projected"]),
                    f"{fmt(r['low'])} – {fmt(r['high'])}",
                    _signed(r["change"], r["unit"], self.working_time),
                    f"{_signed(r['change_low'], r['unit'], self.working_time)} – "
                    f"{_signed(r['change_high'], r['unit'], self.working_time)}",
                )
            )
        return out

    def _repr_html_(self) -> str:
        """Notebook card: the changes, the KPI table, the observations and the assumptions."""
        facts = [
            ("changes", "; ".join(c.describe() for c in self.changes)),
            ("cases changed", formatting.count(self.affected_cases)),
            ("closed cases", formatting.count(self.n_closed)),
        ]
        body = _display.table(
            ["KPI", "today", "projected", "95% interval", "change", "change interval"], self._rows_html(), max_rows=40
        )
        obs = _display.table(
            ["change", "compared", "win rate with", "win rate without", "may change outcomes"],
            [
                (
                    r["change"],
                    r["comparison"],
                    f"{formatting.percent(r['win_rate_with'])} of {formatting.count(r['closed_with'])}",
                    f"{formatting.percent(r['win_rate_without'])} of {formatting.count(r['closed_without'])}",
                    "yes" if r["may_change_outcomes"] else "no",
                )
                for r in self._outcomes.to_dict("records")
            ],
        )
        notes = "".join(f"<div>⚠ {_display.esc(n)}</div>" for n in self.notes)
        assume = "<ul>" + "".join(f"<li>{_display.esc(a)}</li>" for a in self.assumptions) + "</ul>"
        return _display.card("What if", facts, body, "<div><b>Win rates (observational)</b></div>", obs, notes, assume)

    def html(self) -> str:
        """A self-contained HTML page: the card of :meth:`_repr_html_`."""
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>What if</title></head>'
            f"<body>{self._repr_html_()}</body></html>"
        )

    def write_html(self, path: str | Path) -> Path:
        """Write :meth:`html` (UTF-8)."""
        from salesmining.present.report import write_text

        return write_text(path, self.html())


def _formatter(unit: str, working: bool) -> Any:
    if unit == "days":
        return lambda v: formatting.days(None if formatting.is_missing(v) else v * 86400, working=working)
    if unit == "hours":
        return lambda v: formatting.hours(v, working=working)
    return lambda v: formatting.percent(v)


def _signed(v: Any, unit: str, working: bool) -> str:
    if formatting.is_missing(v):
        return formatting.MISSING
    if unit == "share":
        return formatting.points(v)
    hours = float(v) * (24.0 if unit == "days" else 1.0)
    return formatting.hours(hours, signed=True, working=working)


# ---------------------------------------------------------------------------- KPIs


def _sla_units(tl: Timeline, gaps: np.ndarray, step: str, limit_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Per case: had the step (finished), and a visit or wait over the SLA."""
    from salesmining.findings.replay import group_sums

    m = tl.rows_of(step)
    if step in tl.model.stages:
        m &= tl.visit_done
        if not m.any():
            return np.zeros(tl.n, dtype=bool), np.zeros(tl.n, dtype=bool)
        visit, case = tl.visit[m], tl.case[m]
        own = group_sums(visit, np.where(tl.own[m], gaps[m], 0.0))  # per visit: its own time in the stage
        case = case[np.flatnonzero(np.r_[True, visit[1:] != visit[:-1]])]
        has = np.bincount(case, minlength=tl.n) > 0
        return has, np.bincount(case, weights=own > limit_s, minlength=tl.n) > 0
    has = np.bincount(tl.case[m], minlength=tl.n) > 0
    over = np.bincount(tl.case[m], weights=(gaps[m] > limit_s).astype(float), minlength=tl.n) > 0
    return has, over


def _kpi_rows(tl: Timeline, new: np.ndarray, *, n_boot: int, seed: int) -> list[dict[str, Any]]:
    """The KPI rows; the cycle times bootstrapped over closed cases, the rest over all cases
    (an SLA share as the ratio of cases within to cases with the step), one pass each."""
    from salesmining.findings.replay import Stat, bootstrap_many

    closed = np.flatnonzero(tl.closed)
    today_ct, new_ct = tl.case_sum(tl.gap)[closed] / 86400, tl.case_sum(new)[closed] / 86400
    clock = "working days" if tl.working else "days"
    meta: list[tuple[str, str, int, str]] = [
        (
            "cycle_time_median_days",
            "days",
            len(closed),
            f"median {clock} from the first to the last event of closed cases",
        ),
        (
            "cycle_time_p90_days",
            "days",
            len(closed),
            f"90th percentile of the {clock} from first to last event of closed cases",
        ),
    ]
    on_closed = [Stat(today_ct, new_ct, "median"), Stat(today_ct, new_ct, "p90")]
    on_all: list[Stat] = []
    saved = tl.gap - new
    new_charged = np.clip(tl.charged - saved, 0.0, None)
    for code, k in enumerate(tl.kinds):
        m = tl.kind == code
        on_all.append(Stat(tl.case_sum(tl.charged, m) / 3600, tl.case_sum(new_charged, m) / 3600, "sum"))
        meta.append(
            (
                f"time_lost_hours:{k}",
                "hours",
                tl.n,
                f"hours charged to {k} findings over all cases (time saved on a wait comes off its charge first)",
            )
        )
    slas = {s: td.total_seconds() for s, td in tl.model.sla.items()}
    slas.update({a: td.total_seconds() for a, td in tl.model.approval_sla.items()})
    for step, lim in slas.items():
        has, over_t = _sla_units(tl, tl.gap, step, lim)
        _, over_p = _sla_units(tl, new, step, lim)
        if not has.any():
            continue
        what = "time in the stage at every finished visit" if step in tl.model.stages else "every wait for it"
        on_all.append(Stat((has & ~over_t).astype(float), (has & ~over_p).astype(float), "ratio", has.astype(float)))
        meta.append(
            (
                f"within_sla:{step}",
                "share",
                int(has.sum()),
                f"share of the cases with {step} whose {what} stayed within its SLA "
                f"({formatting.duration_spec(pd.Timedelta(seconds=lim))})",
            )
        )
    stats = bootstrap_many(len(closed), on_closed, n_boot=n_boot, seed=seed)
    stats += bootstrap_many(tl.n, on_all, n_boot=n_boot, seed=seed)
    return [_row(kpi, st, unit, n, text) for (kpi, unit, n, text), st in zip(meta, stats, strict=True)]


def _row(kpi: str, stats: tuple[float, ...], unit: str, n: int, definition: str) -> dict[str, Any]:
    t, p, lo, hi, dlo, dhi = stats
    return {
        "kpi": kpi,
        "today": t,
        "projected": p,
        "low": lo,
        "high": hi,
        "change": p - t,
        "change_low": dlo,
        "change_high": dhi,
        "unit": unit,
        "cases": int(n),
        "definition": definition,
    }


# ---------------------------------------------------------------------------- observations


def _segment_column(cases: pd.DataFrame) -> str | None:
    for c in cases.columns:
        if str(c).lower() == "segment":
            return str(c)
    return None


def _reached(tl: Timeline, stage: str) -> np.ndarray:
    """Per case: reached ``stage`` or a later one, or won."""
    order = np.full(len(tl.names) + 1, -1, dtype="int64")  # per activity code: its stage's place, -1 for none
    for i, s in enumerate(tl.model.stages):
        if tl.code(s) >= 0:
            order[tl.code(s)] = i
    furthest = np.full(tl.n, -1, dtype="int64")
    np.maximum.at(furthest, tl.case, order[tl.visit_stage])
    return (furthest >= tl.model.stages.index(stage)) | tl.won


def _outcome_row(tl: Timeline, change: Change, touched: np.ndarray) -> dict[str, Any]:
    """Win rates of comparable closed cases through the step (or over the cap) vs not;
    ``touched`` marks the gaps the change rewrote."""
    from salesmining.findings.replay import case_mask

    desc = change.describe()
    empty = dict.fromkeys(OUTCOME_COLUMNS[1:], math.nan) | {"change": desc, "may_change_outcomes": False}
    if not isinstance(change, (Remove, Cap)):
        return empty | {"comparison": "running steps side by side changes no case's path: nothing to compare"}
    step = change.step
    pool = tl.closed.copy()
    place = step if step in tl.model.stages else tl.model.approvals.get(step)
    comparison = "closed cases"
    if place is not None:
        # a stage: cases that reached the stage before it; an approval: cases that reached its stage
        at = place
        if step in tl.model.stages:
            i = tl.model.stages.index(step)
            at = tl.model.stages[i - 1] if i > 0 else step
        pool &= _reached(tl, at)
        comparison = f"closed cases that reached {at}"
    if isinstance(change, Remove) and change.where:
        pool &= case_mask(tl, change.where)
        comparison += " and match " + ", ".join(f"{k} in {list(v)}" for k, v in change.where)
    rows = tl.rows_of(step)
    if isinstance(change, Cap):
        lim = change.limit.total_seconds()
        had = np.bincount(tl.case[rows], minlength=tl.n) > 0
        over = np.bincount(tl.case[touched], minlength=tl.n) > 0
        with_, without = pool & over, pool & had & ~over
        comparison += f"; with {step}: over the cap ({formatting.duration_spec(pd.Timedelta(seconds=lim))}) vs within"
    else:
        if change.repeats_only:  # a Remove
            rows = rows & touched
        had = np.bincount(tl.case[rows], minlength=tl.n) > 0
        with_, without = pool & had, pool & ~had
        comparison += f": with {step} vs without"
    seg = _segment_column(tl.cases)
    wa, wu, z = _win_rates(tl, with_, without, None if seg is None else tl.cases[seg].astype("str").to_numpy())
    if seg is not None:
        comparison += f" (within the same {seg}, weighted by the cases with the step)"
    diff = wu - wa
    flag = bool(
        int(with_.sum()) >= _MIN_N
        and int(without.sum()) >= _MIN_N
        and math.isfinite(diff)
        and abs(diff) >= _MIN_DIFF
        and abs(z) >= _Z
    )
    return {
        "change": desc,
        "comparison": comparison,
        "closed_with": int(with_.sum()),
        "win_rate_with": wa,
        "closed_without": int(without.sum()),
        "win_rate_without": wu,
        "difference": diff,
        "z": z,
        "may_change_outcomes": flag,
    }


def _win_rates(tl: Timeline, a: np.ndarray, b: np.ndarray, strata: np.ndarray | None) -> tuple[float, float, float]:
    """Win rates of groups ``a`` and ``b`` (within strata, weighted by ``a``'s size) and the z of
    their difference (a stratified two-proportion test)."""
    if not a.any() or not b.any():
        wa = float(tl.won[a].mean()) if a.any() else math.nan
        wb = float(tl.won[b].mean()) if b.any() else math.nan
        return wa, wb, 0.0
    keys = np.zeros(tl.n, dtype=object) if strata is None else strata
    num_a = num_b = var = weight = 0.0
    for s in pd.unique(keys[a | b]):
        ia, ib = a & (keys == s), b & (keys == s)
        na, nb = int(ia.sum()), int(ib.sum())
        if not na or not nb:
            continue
        pa, pb = float(tl.won[ia].mean()), float(tl.won[ib].mean())
        pooled = (pa * na + pb * nb) / (na + nb)
        num_a += na * pa
        num_b += na * pb
        var += na**2 * pooled * (1 - pooled) * (1 / na + 1 / nb)
        weight += na
    if weight == 0:
        return float(tl.won[a].mean()), float(tl.won[b].mean()), 0.0
    wa, wb = num_a / weight, num_b / weight
    se = math.sqrt(var) / weight
    return wa, wb, (wb - wa) / se if se > 0 else 0.0


# ---------------------------------------------------------------------------- the call


def what_if(
    log: EventLog,
    stages: StageModel | Mapping[str, Any] | str | Any,
    changes: Change | Iterable[Change],
    *,
    rules: FindingRules | None = None,
    calendar: BusinessCalendar | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    backend: str = "polars",
    system_users: Iterable[str] | None = None,
) -> WhatIf:
    """Project the KPIs after structural changes: each change replayed on every affected case.

    Parameters
    ----------
    log, stages:
        The event log and the intended process (as for :func:`find_bottlenecks`).
    changes:
        One change or several, built with :class:`changes` (``remove``, ``parallel``, ``cap``,
        ``skip``); applied in order. An unknown step is refused, naming the known steps.
    rules:
        Finding thresholds (the findings' attribution table is what the replay runs on).
    calendar:
        A :class:`BusinessCalendar`: every gap, cap and SLA in working time.
    n_boot, seed:
        Case-bootstrap resamples for the 95% intervals, and the seed of their generator.

    What each change does to a case is in ``docs/what-if.md``; the assumptions are on the result
    (:attr:`WhatIf.assumptions`).

    Examples
    --------
    >>> import pandas as pd, salesmining as sm
    >>> rows = [("A", "Lead", "2024-01-01"), ("A", "Approval", "2024-01-04"), ("A", "Won", "2024-01-05"),
    ...         ("B", "Lead", "2024-01-01"), ("B", "Won", "2024-01-02")]
    >>> log = sm.from_dataframe(pd.DataFrame(rows, columns=["id", "act", "t"]), case="id",
    ...                         activity="act", timestamp="t", timezone="UTC")
    >>> model = sm.StageModel(["Lead"], outcomes={"won": ["Won"]}, approvals={"Approval": "Lead"})
    >>> w = sm.what_if(log, model, sm.changes.remove("Approval"), n_boot=0)
    >>> w.to_frame().set_index("kpi").loc["cycle_time_median_days", ["today", "projected"]].tolist()
    [2.5, 1.0]
    """
    from salesmining.findings.detect import find_bottlenecks

    model = as_stage_model(stages)
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise OptionError(f"n_boot must be a whole number ≥ 0, not {n_boot!r}")
    from salesmining.findings.replay import _SKIP, apply, replay, timeline

    token = _SKIP.set(True)  # only the attribution table is needed: no what-if per finding
    try:
        f = find_bottlenecks(log, model, rules=rules, backend=backend, system_users=system_users)
    finally:
        _SKIP.reset(token)
    attrs = [c for c in f._cases.columns if c not in ("case_id",)]
    seq = check(changes, model, log.activities, attrs)
    tl = timeline(f._coded_attribution, f._cases, model, calendar)
    new = replay(tl, seq)
    saved = tl.case_sum(tl.gap - new)
    notes: list[str] = []
    out_rows = []
    prior = tl.gap.copy()
    for c in seq:
        after = apply(tl, c, prior)
        n_aff = int((tl.case_sum(prior - after) > 0).sum())
        if n_aff == 0:
            notes.append(f"{c.describe()}: changes no case (the step never takes time in this log, or is absent)")
        out_rows.append(_outcome_row(tl, c, after != prior))
        prior = after
    outcomes = pd.DataFrame(out_rows, columns=OUTCOME_COLUMNS)
    for r in outcomes[outcomes["may_change_outcomes"]].to_dict("records"):
        notes.append(
            f"{r['change']}: comparable cases without it won {formatting.percent(r['win_rate_without'])}, with it "
            f"{formatting.percent(r['win_rate_with'])} (observational). The change may alter who wins, which this "
            "projection cannot see: it keeps today's winners and losers"
        )
    n_closed = int(tl.closed.sum())
    if n_closed < _MIN_N:
        notes.append(f"only {n_closed} closed cases: the cycle-time projection and its interval are rough")
    kpis = pd.DataFrame(_kpi_rows(tl, new, n_boot=n_boot, seed=seed), columns=WHATIF_COLUMNS)
    per_case = pd.DataFrame(
        {
            "case_id": tl.case_ids,
            "closed": tl.closed,
            "outcome": tl.cases["outcome"].to_numpy(),
            "today_s": tl.case_sum(tl.gap),
            "projected_s": tl.case_sum(new),
            "saved_s": saved,
        }
    )
    return WhatIf(
        changes=seq,
        n_cases=tl.n,
        n_closed=n_closed,
        affected_cases=int((saved > 0).sum()),
        n_boot=n_boot,
        seed=seed,
        _kpis=kpis,
        _outcomes=outcomes,
        _cases=per_case,
        notes=tuple(notes),
        working_time=calendar is not None,
    )
