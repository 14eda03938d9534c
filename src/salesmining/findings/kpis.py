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
from salesmining.core.errors import OptionError
from salesmining.core.schema import ACTIVITY, AMOUNT, CASE, TIMESTAMP
from salesmining.findings.context import build_context
from salesmining.findings.rules import FindingRules

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = ["DEFINITIONS", "KPIs", "kpis"]

#: The case-table column holding each case's currency code (Salesforce CurrencyIsoCode, Pipedrive currency).
CURRENCY = "currency"

_COUNTS = ("cases", "closed", "won", "lost", "open")

#: What each headline KPI means; shown next to it in ``KPIs.to_frame()`` and in the report.
DEFINITIONS: Mapping[str, str] = {
    "cases": "cases in the log",
    "closed": "cases that ended won or lost",
    "won": "closed cases that ended won",
    "lost": "closed cases that ended lost",
    "open": "cases not (yet) won or lost",
    "win_rate": "won / closed cases; only when the model or the case table knows a lost outcome",
    "cycle_time_median_days": "median days from the first to the last event of closed cases",
    "cycle_time_p90_days": "90th percentile of the days from first to last event of closed cases",
    "rework_rate": "share of cases with a backward move or a repeated stage",
    "first_time_right_rate": "share of closed cases that followed the intended path exactly",
    "skip_rate": "share of cases that skipped at least one stage between recorded stages",
    "lead_response_median_hours": (
        "median hours from the first entry of the declared first stage to the first entry of the declared "
        "response stage after it (response=, FindingRules.response)"
    ),
    "avg_deal_size": "mean amount of won cases, in one currency (converted with currency_rates when several)",
    "won_amount_total": "sum of the amounts of won cases, in one currency (converted with currency_rates when several)",
}


@dataclasses.dataclass(frozen=True, eq=False)
class KPIs:
    """Sales-process KPIs of a log against its stage model.

    ``to_dict()`` holds the headline numbers (``values`` the same as a new dict); ``funnel``,
    ``time_in_stage`` and ``amounts`` are tables; ``notes`` says why a KPI is missing (``n/a``)
    or how it was computed; ``to_frame()`` puts each KPI next to its definition and note.
    Every table and dict handed out is a new copy.
    """

    _values: Mapping[str, float] = dataclasses.field(repr=False)
    _funnel: pd.DataFrame = dataclasses.field(repr=False)
    _time_in_stage: pd.DataFrame = dataclasses.field(repr=False)
    _notes: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    _amounts: pd.DataFrame | None = dataclasses.field(default=None, repr=False)

    @property
    def values(self) -> dict[str, float]:
        """Headline KPIs by name (NaN where a KPI cannot be computed; :attr:`notes` says why)."""
        return dict(self._values)

    @property
    def notes(self) -> dict[str, str]:
        """Per KPI, why it is n/a or how it was computed (only KPIs that need a word)."""
        return dict(self._notes)

    @property
    def definitions(self) -> dict[str, str]:
        """Per headline KPI, what it means."""
        return {k: DEFINITIONS.get(k, "") for k in self._values}

    @property
    def funnel(self) -> pd.DataFrame:
        """Per stage: ``stage``, ``reached``, ``share_of_cases``, ``conversion`` (reached next / reached;
        the last stage: won / reached)."""
        return self._funnel.copy()

    @property
    def time_in_stage(self) -> pd.DataFrame:
        """Per stage: ``stage``, ``visits``, ``median_hours``, ``mean_hours``, ``p90_hours`` of finished visits."""
        return self._time_in_stage.copy()

    @property
    def amounts(self) -> pd.DataFrame:
        """Per currency (``"–"`` when the log has none): ``currency``, ``won_with_amount``, ``avg_deal_size``,
        ``won_amount_total``, and ``rate`` (the conversion factor used, NaN when none). Empty without amounts."""
        if self._amounts is None:
            return pd.DataFrame(columns=list(_AMOUNT_COLUMNS))
        return self._amounts.copy()

    def to_dict(self) -> dict[str, float | None]:
        """Headline KPIs by name, JSON-ready (``None`` where a KPI cannot be computed, e.g. no closed cases)."""
        return {k: (None if math.isnan(v) else float(v)) for k, v in self._values.items()}

    def to_frame(self) -> pd.DataFrame:
        """Headline KPIs as a table: ``kpi``, ``value``, ``definition``, ``note`` (why n/a, or how computed)."""
        return pd.DataFrame(
            {
                "kpi": list(self._values),
                "value": list(self._values.values()),
                "definition": [DEFINITIONS.get(k, "") for k in self._values],
                "note": [self._notes.get(k, "") for k in self._values],
            }
        )

    def __repr__(self) -> str:
        v = self._values
        return (
            f"<KPIs: win rate {_kpi_text('win_rate', v['win_rate'])}, cycle time median "
            f"{formatting.days(v['cycle_time_median_days'] * 86400)}, rework {formatting.percent(v['rework_rate'])}, "
            f"first-time-right {formatting.percent(v['first_time_right_rate'])}>"
        )

    def _repr_html_(self) -> str:
        """Notebook card: the headline KPIs (n/a with its reason) and the funnel."""
        facts = [
            (name.replace("_", " "), _kpi_text(name, val) + (f" ({self._notes[name]})" if name in self._notes else ""))
            for name, val in self._values.items()
        ]
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


_AMOUNT_COLUMNS = ("currency", "won_with_amount", "avg_deal_size", "won_amount_total", "rate")
_NO_CURRENCY = "–"


def _kpi_text(name: str, value: float) -> str:
    if formatting.is_missing(value):
        return "n/a"
    if name.endswith("_rate"):
        return formatting.percent(value)
    if name in _COUNTS:
        return formatting.count(value)
    return f"{value:,.1f}"


def _response_hours(log: EventLog, first: str, second: str) -> pd.Series:
    """Per case with both: hours from the first ``first`` event to the first ``second`` event at or after it."""
    ev: pd.DataFrame = log._events  # type: ignore[attr-defined]
    a = ev.loc[ev[ACTIVITY] == first].groupby(CASE, sort=False)[TIMESTAMP].min()
    b = ev.loc[ev[ACTIVITY] == second, [CASE, TIMESTAMP]]
    b = b[b[TIMESTAMP] >= b[CASE].map(a)]
    reply = b.groupby(CASE, sort=False)[TIMESTAMP].min()
    gap = (reply - a.reindex(reply.index)).dt.total_seconds() / 3600
    return gap.dropna()


def _amount_table(
    cs: pd.DataFrame, currency: pd.Series | None, rates: Mapping[str, float] | None
) -> tuple[pd.DataFrame, float, float, str]:
    """(per-currency table, average, total, note): the headline only in one currency or converted."""
    won = cs["won"].to_numpy(dtype=bool)
    amount = pd.to_numeric(cs.loc[won, AMOUNT], errors="coerce")
    cur = (
        currency[won].astype("str").str.strip().str.upper().where(currency[won].notna(), _NO_CURRENCY)
        if currency is not None
        else pd.Series(_NO_CURRENCY, index=amount.index)
    )
    cur = cur.where(cur.isin([_NO_CURRENCY]) | (cur != ""), _NO_CURRENCY)
    frame = pd.DataFrame({"currency": cur.to_numpy(), "amount": amount.to_numpy()}).dropna(subset=["amount"])
    g = frame.groupby("currency", sort=True)["amount"]
    table = pd.DataFrame(
        {"won_with_amount": g.size(), "avg_deal_size": g.mean(), "won_amount_total": g.sum()}
    ).reset_index()
    table["rate"] = math.nan
    currencies = [c for c in table["currency"] if c != _NO_CURRENCY]
    if rates is not None:
        upper = {str(k).strip().upper(): v for k, v in rates.items()}
        bad = {k: v for k, v in upper.items() if not isinstance(v, (int, float)) or not v > 0}
        if bad:
            raise OptionError(f"currency_rates must map currency codes to positive numbers, not {bad}")
        missing = sorted(c for c in currencies if c not in upper)
        if missing or (_NO_CURRENCY in set(table["currency"]) and currencies):
            raise OptionError(
                f"currency_rates has no rate for {missing or ['cases without a currency']}; "
                f"the won amounts are in {currencies}"
            )
        table["rate"] = table["currency"].map(upper).astype("float64")
        conv = frame["amount"] * frame["currency"].map(upper).fillna(1.0)
        if len(conv) == 0:
            return table, math.nan, 0.0, ""
        return (
            table,
            float(conv.mean()),
            float(conv.sum()),
            f"converted from {', '.join(currencies)} with currency_rates",
        )
    if len(currencies) > 1 or (currencies and _NO_CURRENCY in set(table["currency"])):
        note = (
            f"won amounts are in {len(table)} currencies ({', '.join(table['currency'])}) and are not added up: "
            "see KPIs.amounts, or pass currency_rates={code: factor}"
        )
        return table, math.nan, math.nan, note
    note = f"in {currencies[0]}" if currencies else ""
    if frame.empty:
        return table, math.nan, 0.0, note
    return table, float(frame["amount"].mean()), float(frame["amount"].sum()), note


def kpis(
    log: EventLog,
    stages: StageModel | Mapping[str, Any] | str | Any,
    *,
    conformance: Conformance | None = None,
    backend: str = "polars",
    response: tuple[str, str] | None = None,
    currency_rates: Mapping[str, float] | None = None,
    rules: FindingRules | None = None,
) -> KPIs:
    """Sales KPIs: win rate, cycle time, deal size, rework and first-time-right rates, lead
    response time, a skip-aware stage funnel and time in stage.

    The funnel counts a case as having *reached* a stage when it recorded that stage or any
    later one (or won), so skips do not break it; ``conversion`` is reached(next) / reached.

    Honest by construction: the win rate is n/a when neither the model nor the case table knows
    a lost outcome (every closed case would be "won"); amounts in several currencies (the case
    table's ``currency`` column, e.g. Salesforce ``CurrencyIsoCode``) are never added up — see
    :attr:`KPIs.amounts`, or pass ``currency_rates={"EUR": 1.08, "USD": 1.0}`` (factor into one
    reporting currency); the lead response time is computed only for a declared response step,
    ``response=(first stage, response stage)`` or ``rules.response``. :attr:`KPIs.notes` says
    why a KPI is n/a.
    """
    model = as_stage_model(stages)
    rules = rules or FindingRules()
    ctx = build_context(log, model, rules, conformance, backend)
    cs, v = ctx.cases, ctx.visits
    notes: dict[str, str] = {}
    closed = cs[cs["closed"]]
    ct_days = closed["throughput_s"] / 86400
    rework = (cs["backtracks"].map(len) > 0) | (cs["repeats"].map(len) > 0)
    is_stage = (v["role"] == "stage").to_numpy()
    reached_order = v.loc[is_stage, ["case", "order"]].groupby("case")["order"].max()
    won_cases = set(cs.loc[cs["won"], "case_id"])
    n = len(cs)
    # a won case reached every stage (looked up in one hash table of the won cases)
    won_reached = pd.Index(cs.loc[cs["won"], "case_id"]).unique().get_indexer(reached_order.index) >= 0
    rows = []
    for k, s in enumerate(model.stages):
        reached = int(((reached_order >= k) | won_reached).sum())
        rows.append((s, reached, reached / n if n else math.nan))
    funnel = pd.DataFrame(rows, columns=["stage", "reached", "share_of_cases"])
    funnel["conversion"] = (funnel["reached"].shift(-1) / funnel["reached"]).astype("float64")
    funnel.loc[len(funnel) - 1, "conversion"] = (
        len(won_cases) / funnel["reached"].iloc[-1] if funnel["reached"].iloc[-1] else math.nan
    )
    done = v.loc[is_stage & v["dwell_s"].notna().to_numpy(), ["stage", "dwell_s"]]
    tis = done.groupby("stage")["dwell_s"].agg(visits="size", median_hours="median", mean_hours="mean")
    tis["p90_hours"] = done.groupby("stage")["dwell_s"].quantile(0.9)
    for c in ("median_hours", "mean_hours", "p90_hours"):
        tis[c] = tis[c] / 3600
    tis = tis.reindex([s for s in model.stages if s in tis.index]).reset_index()
    n_lost = int(len(closed) - closed["won"].sum())
    win_rate = float(closed["won"].mean()) if len(closed) else math.nan
    if not model.lost and n_lost == 0:
        win_rate = math.nan
        notes["win_rate"] = (
            "n/a: the model has no lost outcome and no case is recorded as lost, so every closed case "
            "would count as won; add the lost stages to the model's outcomes"
        )
    elif not len(closed):
        notes["win_rate"] = "n/a: no case reached a won or lost outcome"
    if not len(closed):
        notes["cycle_time_median_days"] = notes["cycle_time_p90_days"] = "n/a: no closed cases"
    pair = response or rules.response
    lead = math.nan
    if pair is None:
        notes["lead_response_median_hours"] = (
            "n/a: no response step declared; pass response=(first stage, response stage) or FindingRules(response=...)"
        )
    else:
        first, second = pair
        unknown = [s for s in pair if s not in model.activities]
        if unknown:
            raise OptionError(
                f"response names {unknown}, which the model does not know; stages are {list(model.stages)}"
            )
        gaps = _response_hours(log, first, second)
        lead = float(gaps.median()) if len(gaps) else math.nan
        notes["lead_response_median_hours"] = f"{first} → {second}, {len(gaps):,} cases"
    values = {
        "cases": float(n),
        "closed": float(len(closed)),
        "won": float(closed["won"].sum()),
        "lost": float(n_lost),
        "open": float(n - len(closed)),
        "win_rate": win_rate,
        "cycle_time_median_days": float(ct_days.median()) if len(closed) else math.nan,
        "cycle_time_p90_days": float(ct_days.quantile(0.9)) if len(closed) else math.nan,
        "rework_rate": float(rework.mean()) if n else math.nan,
        "first_time_right_rate": float(closed["conforms"].astype(bool).mean()) if len(closed) else math.nan,
        "skip_rate": float((cs["skipped"].map(len) > 0).mean()) if n else math.nan,
        "lead_response_median_hours": lead,
    }
    amounts = None
    if AMOUNT in cs.columns:
        currency = None
        if CURRENCY in log.cases.columns:
            currency = cs["case_id"].map(log.cases.set_index(CASE)[CURRENCY])
        amounts, avg, total, note = _amount_table(cs, currency, currency_rates)
        values["avg_deal_size"] = avg
        values["won_amount_total"] = total
        if note:
            notes["avg_deal_size"] = notes["won_amount_total"] = note
    return KPIs(values, funnel, cast(pd.DataFrame, tis), notes, amounts)
