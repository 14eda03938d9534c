"""The ``Task`` and ``Event`` exports → ``activity`` events of the opportunities they relate to."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.core.schema import UTC_DTYPE
from salesmining.ingest.crm.accounting import RowAccount, duplicated_rows
from salesmining.ingest.crm.columns import parse_bool, resolve_columns, text
from salesmining.ingest.crm.events import Part, make_events
from salesmining.ingest.crm.inputs import Input, load_table
from salesmining.ingest.crm.salesforce.keys import map_cases, rank
from salesmining.ingest.crm.times import parse_time, time_warnings
from salesmining.ingest.timestamps import TimeParse
from salesmining.log.quality import IngestWarning

__all__ = ["ActivityTimes", "event_part", "task_part"]


_TASK = {
    "WhatId": ("WhatId", "What ID", "Related To ID"),
    "Subject": ("Subject",),
    "Status": ("Status",),
    "ActivityDate": ("ActivityDate", "Due Date"),
    "CompletedDateTime": ("CompletedDateTime", "Completed Date/Time"),
    "CreatedDate": ("CreatedDate", "Created Date"),
    "OwnerId": ("OwnerId", "Owner ID", "Assigned To ID"),
    "Type": ("Type", "Task Type"),
    "TaskSubtype": ("TaskSubtype", "Task Subtype"),
    "Id": ("Id",),
}


_EVENT = {
    "WhatId": ("WhatId", "What ID", "Related To ID"),
    "Subject": ("Subject",),
    "Type": ("Type", "Event Type"),
    "StartDateTime": ("StartDateTime", "Start Date/Time", "Start"),
    "EndDateTime": ("EndDateTime", "End Date/Time", "End"),
    "ActivityDateTime": ("ActivityDateTime", "Activity Date/Time"),
    "ActivityDate": ("ActivityDate", "Date"),
    "IsAllDayEvent": ("IsAllDayEvent", "All-Day Event"),
    "OwnerId": ("OwnerId", "Owner ID", "Assigned To ID"),
    "Id": ("Id",),
}


class ActivityTimes:
    """Per row, the first present of several time columns, with what each parse warned."""

    def __init__(
        self,
        df: pd.DataFrame,
        candidates: list[tuple[str | None, str | None]],
        source: str,
        dayfirst: bool | None,
        rows: np.ndarray | None = None,
    ) -> None:
        n = len(df)
        use = np.ones(n, dtype=bool) if rows is None else rows
        self.values = pd.Series(pd.NaT, index=range(n), dtype=UTC_DTYPE)
        self.column = pd.Series(pd.NA, index=range(n), dtype="str")
        self.raw = pd.Series(pd.NA, index=range(n), dtype="object")
        self.parses: list[tuple[str, TimeParse, np.ndarray]] = []
        decided = ~use
        self.bad = np.zeros(n, dtype=bool)
        for col, tz in candidates:
            if col is None:
                continue
            tp = parse_time(df, col, source=source, timezone=tz, dayfirst=dayfirst)
            here = ~decided & ~tp.missing
            ok = here & tp.values.notna().to_numpy()
            self.values[ok] = tp.values[ok]
            self.bad |= here & ~ok
            self.column[here] = col
            self.raw[here] = df[col].reset_index(drop=True)[here]
            self.parses.append((col, tp, here))
            decided |= here
        self.missing = use & ~decided

    def merge(self, other: ActivityTimes, mask: np.ndarray) -> None:
        """Take ``other``'s choice on the rows of ``mask``."""
        self.values = self.values.where(~mask, other.values)
        self.column = self.column.where(~mask, other.column)
        self.raw = self.raw.where(~mask, other.raw)
        self.bad = np.where(mask, other.bad, self.bad)
        self.missing = np.where(mask, other.missing, self.missing)
        self.parses = [(c, tp, here & ~mask) for c, tp, here in self.parses] + other.parses

    def warnings(self, keep: np.ndarray, source: str, date_col: str | None) -> list[IngestWarning]:
        out = []
        for col, tp, here in self.parses:
            for w in time_warnings(tp, here & keep, source, col):
                if not (w.code == "date_only" and col == date_col):
                    out.append(w)
        return out


def _activities(
    kind: str,
    obj: Input,
    roles: Mapping[str, tuple[str, ...]],
    time_cols: list[tuple[str, str | None]],
    cases_by_key: Mapping[str, str],
    encoding: str | None,
    dayfirst: bool | None,
    start_col: str | None = None,
    allday: str | None = None,
    timezone: str | None = None,
) -> Part:
    table = load_table(obj, label=kind, encoding=encoding)
    df = table.df.reset_index(drop=True)
    cols = resolve_columns(df, roles, required=("WhatId",), source=table.source, what=f"{kind} export")
    if not any(cols.get(c) for c, _ in time_cols):
        raise LogSchemaError(
            f"{table.source}: the {kind} export needs one of {[c for c, _ in time_cols]}", source=table.source
        )
    what = text(df, cols["WhatId"])
    date_col = cols.get("ActivityDate")
    times = ActivityTimes(df, [(cols.get(c), tz) for c, tz in time_cols], table.source, dayfirst)
    if allday is not None and cols.get(allday):
        is_allday = parse_bool(df[cols[allday]]).fillna(False).to_numpy(dtype=bool)
        times.merge(ActivityTimes(df, [(date_col, "UTC")], table.source, dayfirst, rows=is_allday), is_allday)
    acc = RowAccount(len(df), table.source)
    acc.reject("missing_case_id", str(cols["WhatId"]), what.isna().to_numpy(), what)
    first_col = next(str(cols[c]) for c, _ in time_cols if cols.get(c))
    acc.reject("missing_timestamp", first_col, times.missing, df[first_col])
    acc.reject("unparsable_timestamp", first_col, times.bad, times.raw)
    acc.reject("duplicate_row", "*", duplicated_rows(df), ["(whole row)"] * len(df))
    case = map_cases(what, cases_by_key)
    acc.reject("unmatched_reference", str(cols["WhatId"]), case.isna().to_numpy(), what)
    sel = np.flatnonzero(acc.keep)
    typ = text(df, cols.get("Type"))
    if "TaskSubtype" in cols:
        typ = typ.fillna(text(df, cols.get("TaskSubtype")))
    act = (kind + ": " + typ).fillna(kind)
    start = None
    if start_col is not None and cols.get(start_col):
        st = parse_time(df, cols[start_col], source=table.source, timezone=timezone, dayfirst=dayfirst).values
        st = st.where(st.notna() & (st <= times.values) & (times.column != cols[start_col]).to_numpy())
        start = st.iloc[sel]
    ev = make_events(
        len(sel),
        case=case.iloc[sel],
        activity=act.iloc[sel],
        ts=times.values.iloc[sel],
        input_row=sel,
        source_object=kind,
        event_type="activity",
        order=rank(text(df, cols["Id"]))[sel] if cols.get("Id") else sel,
        start=start,
        resource=text(df, cols.get("OwnerId")).iloc[sel],
        extra={"subject": text(df, cols.get("Subject")).iloc[sel], "time_basis": times.column.iloc[sel]},
    )
    table.warnings += times.warnings(acc.keep, table.source, date_col)
    date_only = (times.column == date_col).fillna(False).to_numpy(dtype=bool) & acc.keep
    if date_only.any():
        table.warnings.append(
            IngestWarning(
                "date_only",
                f"{kind}: {int(date_only.sum()):,} activities carry only a date (ActivityDate, midnight UTC, "
                "not time-shifted); same-day order is by source row",
                int(date_only.sum()),
                tuple(int(i) for i in np.flatnonzero(date_only)[:10]),
                table.source,
            )
        )
    return Part.from_table(table, kind, ev, acc)


def task_part(
    obj: Input, cases_by_key: Mapping[str, str], encoding: str | None, timezone: str | None, dayfirst: bool | None
) -> Part:
    return _activities(
        "Task",
        obj,
        _TASK,
        [("CompletedDateTime", timezone), ("ActivityDate", "UTC"), ("CreatedDate", timezone)],
        cases_by_key,
        encoding,
        dayfirst,
    )


def event_part(
    obj: Input, cases_by_key: Mapping[str, str], encoding: str | None, timezone: str | None, dayfirst: bool | None
) -> Part:
    return _activities(
        "Event",
        obj,
        _EVENT,
        [
            ("EndDateTime", timezone),
            ("StartDateTime", timezone),
            ("ActivityDateTime", timezone),
            ("ActivityDate", "UTC"),
        ],
        cases_by_key,
        encoding,
        dayfirst,
        start_col="StartDateTime",
        allday="IsAllDayEvent",
        timezone=timezone,
    )
