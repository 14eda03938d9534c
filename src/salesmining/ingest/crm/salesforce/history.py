"""The ``OpportunityHistory`` export: one snapshot row per change of stage, amount, close date,
probability or forecast category."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.core.schema import CASE
from salesmining.ingest.crm.accounting import RowAccount, check_core
from salesmining.ingest.crm.columns import parse_bool, resolve_columns, text
from salesmining.ingest.crm.inputs import Input, Table, load_table
from salesmining.ingest.crm.salesforce.keys import rank
from salesmining.ingest.crm.times import inferred_dayfirst, parse_time, time_warnings
from salesmining.ingest.timestamps import TimeParse

__all__ = ["History", "SNAPSHOT_FIELDS", "STAGE_DRIVEN"]


_HISTORY = {
    "OpportunityId": ("OpportunityId", "Opportunity ID", "Opportunity.Id"),
    "StageName": ("StageName", "Stage", "To Stage", "Stage Name"),
    "CreatedDate": ("CreatedDate", "Created Date", "Edit Date"),
    "Id": ("Id", "Opportunity History ID", "History ID"),
    "CreatedById": ("CreatedById", "Created By ID", "CreatedBy.Name", "Created By", "Edited By"),
    "Amount": ("Amount",),
    "CloseDate": ("CloseDate", "Close Date"),
    "Probability": ("Probability", "Probability (%)"),
    "ForecastCategory": ("ForecastCategory", "Forecast Category", "To Forecast Category"),
    "FromOpportunityStageName": ("FromOpportunityStageName", "From Stage"),
    "IsDeleted": ("IsDeleted", "Deleted"),
}


SNAPSHOT_FIELDS = ("Amount", "CloseDate", "Probability", "ForecastCategory")


#: Fields that move with the stage by default: a change on a stage-change row is not reported.
STAGE_DRIVEN = ("Probability", "ForecastCategory")


class History:
    def __init__(
        self,
        table: Table,
        cols: dict[str, str | None],
        case: pd.Series,
        stage: pd.Series,
        tp: TimeParse,
        acc: RowAccount,
        dayfirst: bool | None,
    ) -> None:
        self.table, self.cols, self.case, self.stage, self.tp, self.acc = table, cols, case, stage, tp, acc
        self.dayfirst = dayfirst
        df = table.df
        self.order = rank(text(df, cols["Id"])) if cols["Id"] else np.arange(len(df), dtype="int64")
        self.from_stage = text(df, cols["FromOpportunityStageName"], activity=True)
        self.resource = text(df, cols["CreatedById"])
        self.first_from: pd.DataFrame | None = None
        self.deleted: pd.DataFrame | None = None
        if cols["IsDeleted"]:
            flag = parse_bool(df[cols["IsDeleted"]])
            keep = acc.keep
            d = pd.DataFrame({CASE: case[keep], "is_deleted": flag[keep].fillna(False).astype(bool)})
            self.deleted = d.groupby(CASE, as_index=False)["is_deleted"].any()

    @classmethod
    def read(cls, obj: Input, *, encoding: str | None, timezone: str | None, dayfirst: bool | None) -> History:
        table = load_table(obj, label="OpportunityHistory", encoding=encoding)
        df = table.df
        cols = resolve_columns(
            df,
            _HISTORY,
            required=("OpportunityId", "StageName", "CreatedDate"),
            source=table.source,
            what="OpportunityHistory export",
        )
        case = text(df, cols["OpportunityId"])
        stage = text(df, cols["StageName"], activity=True)
        ts_col = str(cols["CreatedDate"])
        tp = parse_time(df, ts_col, source=table.source, timezone=timezone, dayfirst=dayfirst)
        day = dayfirst
        if day is None and any(code == "inferred_dayfirst" for code, _, _ in tp.warnings):
            day = inferred_dayfirst(df[ts_col], tp.values)
        acc = RowAccount(len(df), table.source)
        check_core(
            acc,
            df,
            case=case,
            case_col=str(cols["OpportunityId"]),
            tp=tp,
            ts_col=ts_col,
            activity=stage,
            activity_col=cols["StageName"],
        )
        table.warnings += time_warnings(tp, acc.keep, table.source, ts_col)
        return cls(table, cols, case, stage, tp, acc, day)
