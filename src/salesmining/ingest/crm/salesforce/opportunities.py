"""The ``Opportunity`` export (outcomes, case attributes, creation dates) and the stage outcome
classes (``stage_map``, ``OpportunityStage``, flags)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from salesmining.core.errors import AmbiguousDateError
from salesmining.core.schema import AMOUNT, CASE, OUTCOME, OWNER
from salesmining.ingest.crm.accounting import RowAccount, duplicated_rows
from salesmining.ingest.crm.columns import parse_bool, resolve_columns, text
from salesmining.ingest.crm.events import Part
from salesmining.ingest.crm.inputs import Input, Table, load_table
from salesmining.ingest.crm.salesforce.history import History
from salesmining.ingest.crm.salesforce.keys import map_cases, no_events
from salesmining.ingest.crm.stages import classes_from_flags, outcome_classes
from salesmining.ingest.crm.times import parse_time
from salesmining.ingest.timestamps import TimeParse
from salesmining.ingest.values import parse_amount

__all__ = ["Opportunities", "attr_time", "stage_classes"]


_OPPORTUNITY = {
    "Id": ("Id", "Opportunity ID", "OpportunityId"),
    "IsClosed": ("IsClosed", "Closed"),
    "IsWon": ("IsWon", "Won"),
    "StageName": ("StageName", "Stage"),
    "StageSortOrder": ("StageSortOrder",),
    "Amount": ("Amount",),
    "OwnerId": ("OwnerId", "Owner ID", "Opportunity Owner"),
    "CreatedDate": ("CreatedDate", "Created Date"),
    "CloseDate": ("CloseDate", "Close Date"),
    "Name": ("Name", "Opportunity Name"),
    "AccountId": ("AccountId", "Account ID"),
    "Type": ("Type", "Opportunity Type"),
    "LeadSource": ("LeadSource", "Lead Source"),
    "CurrencyIsoCode": ("CurrencyIsoCode", "Currency", "Opportunity Currency"),
    "IsDeleted": ("IsDeleted", "Deleted"),
}


_STAGE_TABLE = {
    "ApiName": ("ApiName", "MasterLabel", "StageName", "Stage", "Picklist Value"),
    "IsClosed": ("IsClosed", "Closed"),
    "IsWon": ("IsWon", "Won"),
    "SortOrder": ("SortOrder", "Sort Order"),
}


class Opportunities:
    def __init__(
        self,
        part: Part,
        facts: pd.DataFrame,
        stage: pd.Series,
        closed: pd.Series,
        won: pd.Series,
        sort_order: pd.Series | None,
    ) -> None:
        self.part, self.facts, self.stage, self.closed, self.won = part, facts, stage, closed, won
        self.sort_order = sort_order

    @classmethod
    def read(
        cls,
        obj: Input,
        cases_by_key: Mapping[str, str],
        encoding: str | None,
        timezone: str | None,
        dayfirst: bool | None,
    ) -> Opportunities:
        table = load_table(obj, label="Opportunity", encoding=encoding)
        df = table.df.reset_index(drop=True)
        cols = resolve_columns(df, _OPPORTUNITY, required=("Id",), source=table.source, what="Opportunity export")
        raw_id = text(df, cols["Id"])
        acc = RowAccount(len(df), table.source)
        acc.reject("missing_case_id", str(cols["Id"]), raw_id.isna().to_numpy(), raw_id)
        acc.reject("duplicate_row", "*", duplicated_rows(df), ["(whole row)"] * len(df))
        case = map_cases(raw_id, cases_by_key)
        later = pd.Series(raw_id.where(acc.keep)).duplicated(keep="last").to_numpy() & raw_id.notna().to_numpy()
        acc.reject("superseded_row", str(cols["Id"]), later, raw_id)
        keep = acc.keep
        closed = (
            parse_bool(df[cols["IsClosed"]]) if cols["IsClosed"] else pd.Series(pd.NA, index=df.index, dtype="boolean")
        )
        won = parse_bool(df[cols["IsWon"]]) if cols["IsWon"] else pd.Series(pd.NA, index=df.index, dtype="boolean")
        outcome = pd.Series(pd.NA, index=df.index, dtype="str")
        outcome[(closed.fillna(False) & won.fillna(False)).to_numpy(dtype=bool)] = "won"
        outcome[(closed.fillna(False) & ~won.fillna(True)).to_numpy(dtype=bool)] = "lost"
        outcome[(~closed.fillna(True)).to_numpy(dtype=bool)] = "open"
        if not cols["IsClosed"]:
            outcome[won.fillna(False).to_numpy(dtype=bool)] = "won"
        facts = pd.DataFrame({CASE: case, OUTCOME: outcome})
        if cols["Amount"]:
            facts[AMOUNT] = parse_amount(df[cols["Amount"]])[0].to_numpy()
        if cols["OwnerId"]:
            facts[OWNER] = text(df, cols["OwnerId"])
        for role, target in (
            ("Name", "name"),
            ("AccountId", "account_id"),
            ("Type", "type"),
            ("LeadSource", "lead_source"),
            ("CurrencyIsoCode", "currency"),
            ("StageName", "current_stage"),
        ):
            if cols[role]:
                facts[target] = text(df, cols[role], activity=role == "StageName")
        if cols["IsDeleted"]:
            facts["is_deleted"] = parse_bool(df[cols["IsDeleted"]]).fillna(False).astype(bool).to_numpy()
        if cols["CreatedDate"]:
            tp = attr_time(df, str(cols["CreatedDate"]), table, timezone, dayfirst)
            if tp is not None:
                facts["created_at"] = tp.values.array
                facts["created_date_only"] = tp.date_only
        if cols["CloseDate"]:
            tp = attr_time(df, str(cols["CloseDate"]), table, "UTC", dayfirst)
            facts["close_date"] = tp.values.array if tp is not None else text(df, cols["CloseDate"]).to_numpy()
        part = Part.from_table(table, "Opportunity", no_events("Opportunity"), acc)
        part.credit_key = case.where(keep)
        part.notes.append(f"{table.source}: case table only (outcome from IsClosed/IsWon, case attributes)")
        sort_order = None
        if cols["StageSortOrder"]:
            sort_order = pd.to_numeric(text(df, cols["StageSortOrder"]), errors="coerce")[keep]
        stage = (
            text(df, cols["StageName"], activity=True)
            if cols["StageName"]
            else pd.Series(pd.NA, index=df.index, dtype="str")
        )
        return cls(
            part,
            facts[keep & case.notna().to_numpy()],
            stage[keep],
            closed[keep],
            won[keep],
            sort_order,
        )


def attr_time(
    df: pd.DataFrame, col: str, table: Table, timezone: str | None, dayfirst: bool | None
) -> TimeParse | None:
    """A date column of a case table; an ambiguous one is kept as text (with a note) instead of failing the read."""
    try:
        return parse_time(df, col, source=table.source, timezone=timezone, dayfirst=dayfirst)
    except AmbiguousDateError:
        table.notes.append(f"{table.source}: {col} kept as text (day/month order undecided; pass dayfirst=)")
        return None


def stage_classes(
    stage_map: Any, opp: Opportunities | None, h: History, encoding: str | None
) -> tuple[dict[str, str], dict[str, int], list[str]]:
    notes: list[str] = []
    classes: dict[str, str] = {}
    order: dict[str, int] = {}
    keep = h.acc.keep
    stages_seen = set(h.stage[keep].dropna())
    if opp is None and stage_map is None:
        df = h.table.df.reset_index(drop=True)
        fc = text(df, h.cols["ForecastCategory"]).str.lower()
        prob = pd.to_numeric(text(df, h.cols["Probability"]), errors="coerce")
        if h.cols["ForecastCategory"] or h.cols["Probability"]:
            won = (fc == "closed").fillna(False) | (prob == 100).fillna(False)
            lost = ((fc == "omitted").fillna(False) | fc.isna()) & (prob == 0).fillna(False)
            closed = (won | lost).astype("boolean")
            classes, conflicts = classes_from_flags(h.stage[keep], closed[keep], won.astype("boolean")[keep])
            notes.append(
                "stage outcome classes inferred from ForecastCategory/Probability of the history "
                f"({sum(v != 'open' for v in classes.values())} closed stages); pass opportunities= or "
                "stage_map= to be sure"
            )
            if conflicts:
                notes.append(f"stages with mixed ForecastCategory/Probability left unclassified: {conflicts}")
    if opp is not None:
        learned, conflicts = classes_from_flags(opp.stage, opp.closed, opp.won)
        classes.update(learned)
        if conflicts:
            notes.append(f"Opportunity: stages with conflicting IsClosed/IsWon left unclassified: {conflicts}")
        if opp.sort_order is not None:
            so = pd.DataFrame({"s": opp.stage, "o": opp.sort_order}).dropna().drop_duplicates("s")
            order = {str(a): int(b) for a, b in zip(so["s"], so["o"], strict=True)}
    if stage_map is not None:
        if isinstance(stage_map, Mapping):
            classes.update(outcome_classes(stage_map, what="stage_map"))
        else:
            table = load_table(stage_map, label="OpportunityStage", encoding=encoding)
            cols = resolve_columns(
                table.df,
                _STAGE_TABLE,
                required=("ApiName", "IsClosed", "IsWon"),
                source=table.source,
                what="OpportunityStage table",
            )
            st = text(table.df, cols["ApiName"], activity=True)
            learned, _ = classes_from_flags(
                st, parse_bool(table.df[cols["IsClosed"]]), parse_bool(table.df[cols["IsWon"]])
            )
            classes.update(learned)
            if cols["SortOrder"]:
                so = pd.to_numeric(text(table.df, cols["SortOrder"]), errors="coerce")
                order = {str(a): int(b) for a, b in zip(st, so, strict=True) if pd.notna(a) and pd.notna(b)}
    if not order and h.cols["Probability"]:
        order, note = _order_by_probability(h, classes)
        notes += note
    if isinstance(stage_map, Mapping):  # the user listed the closed stages: the others are open
        for st in stages_seen - set(classes):
            classes[st] = "open"
    unknown = sorted(stages_seen - set(classes))
    if classes and unknown:
        notes.append(f"stages with no won/lost/open class (reopen detection ignores them): {unknown[:10]}")
    return classes, order, notes


def _order_by_probability(h: History, classes: Mapping[str, str]) -> tuple[dict[str, int], list[str]]:
    """Without a stage sort order: Salesforce gives every stage of a sales process a default
    Probability that rises along the process, so the open stages ordered by their median
    Probability in the history are the stage order (stages sharing a median — Salesforce's
    defaults give Prospecting and Qualification both 10 — keep the order the log first reaches
    them in). Closed stages come after. Needs at least three open stages with a Probability."""
    keep = h.acc.keep
    df = h.table.df.reset_index(drop=True)
    prob = pd.to_numeric(text(df, h.cols["Probability"]), errors="coerce")[keep]
    stage = h.stage[keep]
    med = pd.DataFrame({"s": stage.to_numpy(), "p": prob.to_numpy()}).dropna().groupby("s")["p"].median()
    open_med = med[[classes.get(str(s), "open") == "open" for s in med.index]]
    if len(open_med) < 3:
        return {}, []
    dense = open_med.rank(method="dense").astype(int) - 1
    order = {str(s): int(r) for s, r in dense.items()}
    closed = [str(s) for s in med.index if str(s) not in order]
    top = max(order.values()) + 1
    order.update({s: top + k for k, s in enumerate(sorted(closed))})
    return order, [
        "stage order taken from the history's Probability (each stage's median, rising along the process); "
        "pass opportunities= with StageSortOrder or stage_map= to be sure"
    ]
