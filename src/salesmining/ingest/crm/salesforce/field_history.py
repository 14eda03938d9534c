"""The ``OpportunityFieldHistory`` export: one row per tracked field change (``Field``, ``OldValue``, ``NewValue``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from salesmining.core.schema import CASE
from salesmining.ingest.crm.accounting import RowAccount, check_core
from salesmining.ingest.crm.columns import norm_name, resolve_columns, text
from salesmining.ingest.crm.inputs import Input, Table, load_table
from salesmining.ingest.crm.salesforce.history import History
from salesmining.ingest.crm.salesforce.keys import map_cases, rank
from salesmining.ingest.crm.times import parse_time, time_warnings

__all__ = ["FieldHistory"]


_FIELD_HISTORY = {
    "OpportunityId": ("OpportunityId", "Opportunity ID", "ParentId"),
    "Field": ("Field", "Field / Event", "Field Name"),
    "OldValue": ("OldValue", "Old Value"),
    "NewValue": ("NewValue", "New Value"),
    "CreatedDate": ("CreatedDate", "Created Date", "Edit Date"),
    "CreatedById": ("CreatedById", "Created By ID", "CreatedBy.Name", "Edited By"),
    "Id": ("Id",),
}


class FieldHistory:
    def __init__(self, table: Table, acc: RowAccount, frame: pd.DataFrame, created: pd.DataFrame | None) -> None:
        self.table, self.acc, self.frame, self.created = table, acc, frame, created

    @classmethod
    def read(
        cls,
        obj: Input,
        cases_by_key: Mapping[str, str],
        h: History,
        encoding: str | None,
        timezone: str | None,
        dayfirst: bool | None,
    ) -> FieldHistory:
        table = load_table(obj, label="OpportunityFieldHistory", encoding=encoding)
        df = table.df
        cols = resolve_columns(
            df,
            _FIELD_HISTORY,
            required=("OpportunityId", "Field", "CreatedDate"),
            source=table.source,
            what="OpportunityFieldHistory export",
        )
        raw_case = text(df, cols["OpportunityId"])
        fld = text(df, cols["Field"])
        ts_col = str(cols["CreatedDate"])
        tp = parse_time(df, ts_col, source=table.source, timezone=timezone, dayfirst=dayfirst)
        acc = RowAccount(len(df), table.source)
        check_core(
            acc,
            df,
            case=raw_case,
            case_col=str(cols["OpportunityId"]),
            tp=tp,
            ts_col=ts_col,
            activity=fld,
            activity_col=cols["Field"],
        )
        case = map_cases(raw_case, cases_by_key)
        acc.reject("unmatched_reference", str(cols["OpportunityId"]), case.isna().to_numpy(), raw_case)
        norm = fld.map(norm_name, na_action="ignore")
        is_created = (norm == "created").fillna(False).to_numpy(dtype=bool)
        created = None
        m = is_created & acc.keep
        if m.any():
            c = pd.DataFrame({CASE: case[m], "created_at": tp.values[m]})
            created = c.groupby(CASE, as_index=False)["created_at"].min()
            created["created_date_only"] = False
        acc.reject("creation_marker", str(cols["Field"]), is_created, fld)
        frame = pd.DataFrame(
            {
                "case": case,
                "field": fld,
                "is_stage": (norm == "stagename").fillna(False).to_numpy(dtype=bool),
                "old": text(df, cols["OldValue"], activity=True),
                "new": text(df, cols["NewValue"], activity=True),
                "ts": tp.values,
                "resource": text(df, cols["CreatedById"]),
                "order": rank(text(df, cols["Id"])) if cols["Id"] else np.arange(len(df), dtype="int64"),
                "row": np.arange(len(df), dtype="int64"),
            }
        )
        table.warnings += time_warnings(tp, acc.keep, table.source, ts_col)
        return cls(table, acc, frame, created)
