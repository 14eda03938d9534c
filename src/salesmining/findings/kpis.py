"""Sales KPIs — win rate, cycle time, deal size, rework, first-time-right, response time — with a
skip-aware funnel and time in stage. Reads the same per-log facts as the finding rules."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from salesmining.analysis.conform import Conformance
from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.core import formatting
from salesmining.core import html as _display
from salesmining.core.schema import AMOUNT
from salesmining.findings.context import build_context
from salesmining.findings.rules import FindingRules

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = ["KPIs", "kpis"]

_COUNTS = ("cases", "closed", "won", "lost", "open")


@dataclasses.dataclass(frozen=True, eq=False)
class KPIs:
    """Sales-process KPIs of a log against its stage model.

    ``to_dict()`` holds the headline numbers (``values`` the same as a new dict); ``funnel`` and
    ``time_in_stage`` are tables. Every table and dict handed out is a new copy.
    """

    _values: Mapping[str, float] = dataclasses.field(repr=False)
    _funnel: pd.DataFrame = dataclasses.field(repr=False)
    _time_in_stage: pd.DataFrame = dataclasses.field(repr=False)

    @property
    def values(self) -> dict[str, float]:
        """Headline KPIs by name (NaN where a KPI cannot be computed, e.g. no closed cases)."""
        return dict(self._values)

    @property
    def funnel(self) -> pd.DataFrame:
        """Per stage: ``stage``, ``reached``, ``share_of_cases``, ``conversion`` (reached next / reached;
        the last stage: won / reached)."""
        return self._funnel.copy()

    @property
    def time_in_stage(self) -> pd.DataFrame:
        """Per stage: ``stage``, ``visits``, ``median_hours``, ``mean_hours``, ``p90_hours`` of finished visits."""
        return self._time_in_stage.copy()

    def to_dict(self) -> dict[str, float | None]:
        """Headline KPIs by name, JSON-ready (``None`` where a KPI cannot be computed, e.g. no closed cases)."""
        return {k: (None if math.isnan(v) else float(v)) for k, v in self._values.items()}

    def to_frame(self) -> pd.DataFrame:
        """Headline KPIs as a two-column table: ``kpi``, ``value``."""
        return pd.DataFrame({"kpi": list(self._values), "value": list(self._values.values())})

    def __repr__(self) -> str:
        v = self._values
        return (
            f"<KPIs: win rate {formatting.percent(v['win_rate'])}, cycle time median "
            f"{formatting.days(v['cycle_time_median_days'] * 86400)}, rework {formatting.percent(v['rework_rate'])}, "
            f"first-time-right {formatting.percent(v['first_time_right_rate'])}>"
        )

    def _repr_html_(self) -> str:
        """Notebook card: the headline KPIs and the funnel."""
        facts = [(name.replace("_", " "), _kpi_text(name, val)) for name, val in self._values.items()]
        rows = [
            (
                r["stage"],
                formatting.count(r["reached"]),
                formatting.percent(r["share_of_cases"], digits=0),
                formatting.percent(r["conversion"], digits=0),
            )
            for r in self._funnel.to_dict("records")
        ]
        fun = _display.table(["stage", "reached", "share", "conversion"], rows)
        return _display.card("KPIs", facts, fun)


def _kpi_text(name: str, value: float) -> str:
    if name.endswith("_rate"):
        return formatting.percent(value)
    if name in _COUNTS:
        return formatting.count(value)
    return formatting.MISSING if formatting.is_missing(value) else f"{value:,.1f}"


def kpis(
    log: EventLog,
    stages: StageModel | Mapping[str, Any] | str | Any,
    *,
    conformance: Conformance | None = None,
    backend: str = "polars",
) -> KPIs:
    """Sales KPIs: win rate, cycle time, deal size, rework and first-time-right rates, lead
    response time, a skip-aware stage funnel and time in stage.

    The funnel counts a case as having *reached* a stage when it recorded that stage or any
    later one (or won), so skips do not break it; ``conversion`` is reached(next) / reached.
    """
    model = as_stage_model(stages)
    ctx = build_context(log, model, FindingRules(), conformance, backend)
    cs, v = ctx.cases, ctx.visits
    closed = cs[cs["closed"]]
    ct_days = closed["throughput_s"] / 86400
    rework = (cs["backtracks"].map(len) > 0) | (cs["repeats"].map(len) > 0)
    reached_order = v[v["role"] == "stage"].groupby("case")["order"].max()
    won_cases = set(cs.loc[cs["won"], "case_id"])
    n = len(cs)
    rows = []
    for k, s in enumerate(model.stages):
        reached = int(((reached_order >= k) | reached_order.index.isin(won_cases)).sum())
        rows.append((s, reached, reached / n if n else math.nan))
    funnel = pd.DataFrame(rows, columns=["stage", "reached", "share_of_cases"])
    funnel["conversion"] = (funnel["reached"].shift(-1) / funnel["reached"]).astype("float64")
    funnel.loc[len(funnel) - 1, "conversion"] = (
        len(won_cases) / funnel["reached"].iloc[-1] if funnel["reached"].iloc[-1] else math.nan
    )
    done = v[(v["role"] == "stage") & v["dwell_s"].notna()]
    tis = done.groupby("stage")["dwell_s"].agg(visits="size", median_hours="median", mean_hours="mean")
    tis["p90_hours"] = done.groupby("stage")["dwell_s"].quantile(0.9)
    for c in ("median_hours", "mean_hours", "p90_hours"):
        tis[c] = tis[c] / 3600
    tis = tis.reindex([s for s in model.stages if s in tis.index]).reset_index()
    first = done[(done["stage"] == model.stages[0])].drop_duplicates("case")
    amount = cs[AMOUNT] if AMOUNT in cs.columns else None
    values = {
        "cases": float(n),
        "closed": float(len(closed)),
        "won": float(closed["won"].sum()),
        "lost": float(len(closed) - closed["won"].sum()),
        "open": float(n - len(closed)),
        "win_rate": float(closed["won"].mean()) if len(closed) else math.nan,
        "cycle_time_median_days": float(ct_days.median()) if len(closed) else math.nan,
        "cycle_time_p90_days": float(ct_days.quantile(0.9)) if len(closed) else math.nan,
        "rework_rate": float(rework.mean()) if n else math.nan,
        "first_time_right_rate": float(closed["conforms"].astype(bool).mean()) if len(closed) else math.nan,
        "skip_rate": float((cs["skipped"].map(len) > 0).mean()) if n else math.nan,
        "lead_response_median_hours": float(first["dwell_s"].median()) / 3600 if len(first) else math.nan,
    }
    if amount is not None:
        won_amount = pd.to_numeric(cs.loc[cs["won"], AMOUNT], errors="coerce")
        values["avg_deal_size"] = float(won_amount.mean()) if won_amount.notna().any() else math.nan
        values["won_amount_total"] = float(won_amount.sum())
    return KPIs(values, funnel, cast(pd.DataFrame, tis))
