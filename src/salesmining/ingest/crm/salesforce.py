"""Salesforce: OpportunityHistory (+ Opportunity, OpportunityFieldHistory, approvals, Task, Event) → EventLog."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import AmbiguousDateError, LogSchemaError
from salesmining.core.schema import AMOUNT, CASE, OUTCOME, OWNER, UTC_DTYPE
from salesmining.ingest.crm.accounting import RowAccount, check_core, duplicated_rows
from salesmining.ingest.crm.assemble import assemble
from salesmining.ingest.crm.columns import norm_name, parse_bool, resolve_columns, text
from salesmining.ingest.crm.events import UNKNOWN_STATE, Part, make_events
from salesmining.ingest.crm.inputs import Input, Source, Table, load_table
from salesmining.ingest.crm.stages import classes_from_flags, outcome_classes
from salesmining.ingest.crm.times import inferred_dayfirst, parse_time, time_warnings
from salesmining.ingest.timestamps import TimeParse
from salesmining.ingest.values import parse_amount
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestWarning

__all__ = ["read_salesforce"]

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
_SNAPSHOT_FIELDS = ("Amount", "CloseDate", "Probability", "ForecastCategory")
#: Fields that move with the stage by default: a change on a stage-change row is not reported.
_STAGE_DRIVEN = ("Probability", "ForecastCategory")

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
_FIELD_HISTORY = {
    "OpportunityId": ("OpportunityId", "Opportunity ID", "ParentId"),
    "Field": ("Field", "Field / Event", "Field Name"),
    "OldValue": ("OldValue", "Old Value"),
    "NewValue": ("NewValue", "New Value"),
    "CreatedDate": ("CreatedDate", "Created Date", "Edit Date"),
    "CreatedById": ("CreatedById", "Created By ID", "CreatedBy.Name", "Edited By"),
    "Id": ("Id",),
}
_STEP = {
    "ProcessInstanceId": ("ProcessInstanceId", "Process Instance ID"),
    "TargetObjectId": ("TargetObjectId", "ProcessInstance.TargetObjectId", "Target Object ID"),
    "StepStatus": ("StepStatus", "Step Status"),
    "ActorId": ("ActorId", "Actor ID", "Actor"),
    "OriginalActorId": ("OriginalActorId", "Original Actor ID"),
    "CreatedDate": ("CreatedDate", "Created Date"),
    "Id": ("Id",),
    "StepName": ("StepName", "Step Name", "ProcessNodeName", "StepNode.Name", "ProcessNode.Name"),
    "ProcessName": ("ProcessInstance.ProcessDefinition.Name", "ProcessDefinition.Name", "ProcessName", "Process Name"),
}
_INSTANCE = {
    "Id": ("Id", "ProcessInstanceId", "Process Instance ID"),
    "TargetObjectId": ("TargetObjectId", "Target Object ID"),
    "Status": ("Status",),
    "CreatedDate": ("CreatedDate", "Created Date"),
    "CompletedDate": ("CompletedDate", "Completed Date"),
    "SubmittedById": ("SubmittedById", "Submitted By ID"),
    "LastActorId": ("LastActorId", "Last Actor ID"),
    "ProcessName": ("ProcessDefinition.Name", "ProcessName", "Process Name"),
}
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
_STAGE_TABLE = {
    "ApiName": ("ApiName", "MasterLabel", "StageName", "Stage", "Picklist Value"),
    "IsClosed": ("IsClosed", "Closed"),
    "IsWon": ("IsWon", "Won"),
    "SortOrder": ("SortOrder", "Sort Order"),
}
_TIE_SECONDS = 60


def read_salesforce(
    history: Input,
    *,
    opportunities: Input | None = None,
    field_history: Input | None = None,
    approvals: Any = None,
    tasks: Input | None = None,
    events: Input | None = None,
    stage_map: Mapping[str, str] | Source | None = None,
    field_changes: bool = False,
    system_users: Iterable[str] = (),
    encoding: str | None = None,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    bulk_min_cases: int = 10,
    bulk_window: float = 60.0,
    name: str | None = None,
) -> EventLog:
    """Read a Salesforce ``OpportunityHistory`` export (plus optional related exports) into an event log.

    Every ``OpportunityHistory`` row is a snapshot of Stage, Amount, Probability, Close Date
    and Forecast Category, written when any of them changes. Rows are sorted by
    (``OpportunityId``, ``CreatedDate``, ``Id``); a stage event is emitted when ``StageName``
    differs from the opportunity's previous row (the first row is the entry into the first
    stage); other rows are rejected as ``not_a_stage_change``, or become ``field_change``
    events with ``field_changes=True``.

    Parameters
    ----------
    history:
        The ``OpportunityHistory`` export (Data Export / Data Loader / report CSV, a SOQL JSON
        result or a DataFrame). Needs ``OpportunityId``, ``StageName`` and ``CreatedDate``;
        ``Id``, ``CreatedById``, ``Amount``, ``CloseDate``, ``Probability``,
        ``ForecastCategory``, ``FromOpportunityStageName`` are used when present.
    opportunities:
        The ``Opportunity`` export: ``IsClosed``/``IsWon`` give each case's outcome and teach
        which stages are won/lost/open; ``Amount``, ``OwnerId``, ``Name``, ``CreatedDate``... go
        to the case table.
    field_history:
        ``OpportunityFieldHistory`` (``Field``, ``OldValue``, ``NewValue``): each row becomes a
        ``field_change`` event; ``StageName`` rows already in ``history`` are rejected as
        ``duplicate_event``, others join the stage history.
    approvals:
        ``(ProcessInstance, ProcessInstanceStep)`` as a pair or a mapping with those keys, or one
        pre-joined step table with ``TargetObjectId``. Each step becomes an ``approval_step``
        event ``"Approval <StepStatus>"`` (``Started`` is named ``Submitted``), with
        ``" (<process name>)"`` when the process name is exported; resource = ``ActorId``.
    tasks, events:
        ``Task`` and ``Event`` exports; rows whose ``WhatId`` is an opportunity of the log become
        ``activity`` events. A Task's time is ``CompletedDateTime``, else its due date
        ``ActivityDate`` (midnight UTC, never shifted), else ``CreatedDate``.
    stage_map:
        Stage → ``"won"``/``"lost"``/``"open"`` (stages a dict does not list, and that
        ``opportunities`` do not classify, are open), or an ``OpportunityStage`` export (``ApiName``,
        ``IsClosed``, ``IsWon``, ``SortOrder``). Overrides what ``opportunities`` teach; without
        either, ``ForecastCategory``/``Probability`` of the history decide (Closed/100 = won,
        Omitted/0 = lost).
    field_changes:
        Turn Amount/CloseDate/Probability/ForecastCategory changes of ``history`` rows into
        ``field_change`` events.
    system_users:
        User ids of integration users (``resource_type="system"``).
    encoding, timezone, dayfirst:
        Text encoding of the files; zone of timestamps without one (default UTC, with a
        warning); day/month order of ``02/03/24``-style dates (inferred from ``history`` when the
        data decides it, then used for every input).
    bulk_min_cases, bulk_window:
        One user changing at least this many cases with gaps of at most this many seconds is
        flagged as a bulk update.
    name:
        Name of the log (default: the history file name).

    Returns
    -------
    EventLog
        Stage events named by ``StageName``; ``log.quality`` accounts for every row of every input.

    Examples
    --------
    >>> import pandas as pd, salesmining as sm
    >>> h = pd.DataFrame({"Id": ["h1", "h2", "h3", "h4"], "OpportunityId": ["o1", "o1", "o1", "o1"],
    ...     "StageName": ["Prospecting", "Prospecting", "Negociación", "Cerrada ganada"],
    ...     "Amount": ["100", "120", "120", "120"],
    ...     "CreatedDate": ["2024-01-02T09:00:00.000+0000", "2024-01-03T09:00:00.000+0000",
    ...                     "2024-01-05T09:00:00.000+0000", "2024-01-09T09:00:00.000+0000"]})
    >>> log = sm.read_salesforce(h, stage_map={"Cerrada ganada": "won"})
    >>> log.to_frame()["concept:name"].tolist()
    ['Prospecting', 'Negociación', 'Cerrada ganada']
    >>> log.cases[["outcome", "first_stage"]].to_dict("records")
    [{'outcome': 'won', 'first_stage': 'Prospecting'}]
    >>> log.quality.rejections[["row", "reason"]].to_dict("records")
    [{'row': 1, 'reason': 'not_a_stage_change'}]
    """
    notes: list[str] = []
    warnings: list[IngestWarning] = []
    h = _History.read(history, encoding=encoding, timezone=timezone, dayfirst=dayfirst)
    day = h.dayfirst
    cases_by_key = _case_keys(h.case[h.acc.keep])

    opp = (
        _Opportunities.read(opportunities, cases_by_key, encoding, timezone, day) if opportunities is not None else None
    )
    classes, order, class_notes = _stage_classes(stage_map, opp, h, encoding)
    notes += class_notes

    fh = (
        _FieldHistory.read(field_history, cases_by_key, h, encoding, timezone, day)
        if field_history is not None
        else None
    )
    parts: list[Part] = []
    stage_parts = _stage_events(h, fh, classes, field_changes, warnings)
    parts.append(stage_parts[0])
    if fh is not None:
        parts.append(stage_parts[1])
    if approvals is not None:
        parts += _approvals(approvals, cases_by_key, encoding, timezone, day)
    if tasks is not None:
        parts.append(_tasks(tasks, cases_by_key, encoding, timezone, day))
    if events is not None:
        parts.append(_calendar(events, cases_by_key, encoding, timezone, day))

    facts = pd.DataFrame({CASE: pd.Series(pd.unique(h.case[h.acc.keep].dropna()), dtype="str")})
    if fh is not None and fh.created is not None:
        facts = facts.merge(fh.created, on=CASE, how="left")
    if h.first_from is not None:
        facts = facts.merge(h.first_from, on=CASE, how="left")
    if opp is not None:
        parts.append(opp.part)
        facts = facts.drop(
            columns=[c for c in ("created_at", "created_date_only") if c in opp.facts.columns and c in facts.columns]
        ).merge(opp.facts, on=CASE, how="left")
    if h.deleted is not None and "is_deleted" not in facts.columns:
        facts = facts.merge(h.deleted, on=CASE, how="left")
    if not classes:
        notes.append("no stage outcome classes (pass opportunities= or stage_map=): outcomes and reopenings unknown")
    seen = sorted(set(h.stage[h.acc.keep].dropna()) | set(classes) | set(order))
    stage_table = pd.DataFrame(
        {
            "pipeline_id": pd.Series(pd.NA, index=range(len(seen)), dtype="str"),
            "pipeline_label": pd.Series(pd.NA, index=range(len(seen)), dtype="str"),
            "stage_id": pd.Series(seen, dtype="str"),
            "stage_label": pd.Series(seen, dtype="str"),
            "order": pd.Series([order.get(x, np.nan) for x in seen], dtype="float64"),
            "cls": pd.Series([classes.get(x) for x in seen], dtype="str"),
        }
    )
    return assemble(
        parts,
        source_system="salesforce",
        name=name or h.table.source,
        facts=facts,
        system_users=system_users,
        bulk_min_cases=bulk_min_cases,
        bulk_window=bulk_window,
        stages=stage_table,
        warnings=warnings,
        notes=notes,
    )


# --- keys ----------------------------------------------------------------------------------------
def _sf_key(s: pd.Series) -> pd.Series:
    """Salesforce ids compare on their 15-character case-sensitive form (reports export 15, the API 18)."""
    t = s.astype("str")
    long_id = t.str.fullmatch(r"[A-Za-z0-9]{18}").fillna(False).to_numpy(dtype=bool)
    return t.where(~long_id, t.str.slice(0, 15))


def _case_keys(case: pd.Series) -> dict[str, str]:
    ids = pd.Series(pd.unique(case.dropna()), dtype="str")
    return dict(zip(_sf_key(ids), ids, strict=True))


def _map_cases(ref: pd.Series, cases_by_key: Mapping[str, str]) -> pd.Series:
    return _sf_key(ref).map(cases_by_key).astype("str")


def _rank(s: pd.Series) -> np.ndarray:
    """Rank of ids in code-point order (Salesforce ids sort in creation order); NA last."""
    vals = s.fillna("\uffff").to_numpy(dtype=object)
    order = np.argsort(vals, kind="stable")
    rank = np.empty(len(vals), dtype="int64")
    rank[order] = np.arange(len(vals))
    return rank


# --- OpportunityHistory ------------------------------------------------------------------------------
class _History:
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
        self.order = _rank(text(df, cols["Id"])) if cols["Id"] else np.arange(len(df), dtype="int64")
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
    def read(cls, obj: Input, *, encoding: str | None, timezone: str | None, dayfirst: bool | None) -> _History:
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


class _FieldHistory:
    def __init__(self, table: Table, acc: RowAccount, frame: pd.DataFrame, created: pd.DataFrame | None) -> None:
        self.table, self.acc, self.frame, self.created = table, acc, frame, created

    @classmethod
    def read(
        cls,
        obj: Input,
        cases_by_key: Mapping[str, str],
        h: _History,
        encoding: str | None,
        timezone: str | None,
        dayfirst: bool | None,
    ) -> _FieldHistory:
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
        case = _map_cases(raw_case, cases_by_key)
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
                "order": _rank(text(df, cols["Id"])) if cols["Id"] else np.arange(len(df), dtype="int64"),
                "row": np.arange(len(df), dtype="int64"),
            }
        )
        table.warnings += time_warnings(tp, acc.keep, table.source, ts_col)
        return cls(table, acc, frame, created)


def _stage_events(
    h: _History,
    fh: _FieldHistory | None,
    classes: Mapping[str, str],
    field_changes: bool,
    warnings: list[IngestWarning],
) -> tuple[Part, Part]:
    """Stage events from the snapshot rows (and unmatched FieldHistory StageName rows)."""
    keep = h.acc.keep
    snap = pd.DataFrame(
        {
            "case": h.case,
            "stage": h.stage,
            "ts": h.tp.values,
            "order": h.order,
            "row": np.arange(len(h.case)),
            "src": 0,
            "from_col": h.from_stage,
            "resource": h.resource,
        }
    )[keep]
    stream = [snap]
    if fh is not None:
        f = fh.frame[fh.acc.keep & fh.frame["is_stage"].to_numpy()]
        dup = _matches_history(f, snap)
        fh.acc.reject("duplicate_event", "NewValue", fh.frame.index.isin(f.index[dup]), fh.frame["new"])
        f = f[~dup]
        fh.acc.reject(
            "missing_activity", "NewValue", (fh.frame["is_stage"] & fh.frame["new"].isna()).to_numpy(), fh.frame["new"]
        )
        f = f[f["new"].notna()]
        stream.append(
            pd.DataFrame(
                {
                    "case": f["case"],
                    "stage": f["new"],
                    "ts": f["ts"],
                    "order": f["order"],
                    "row": f["row"],
                    "src": 1,
                    "from_col": f["old"],
                    "resource": f["resource"],
                }
            )
        )
    s = pd.concat(stream, ignore_index=True).sort_values(["case", "ts", "src", "order", "row"], kind="stable")
    first = (s["case"] != s["case"].shift()).to_numpy()
    prev = s["stage"].shift().where(~first)
    change = first | (s["stage"] != prev).to_numpy()
    has_from = s["from_col"].notna().to_numpy()
    gap = ~first & has_from & (s["from_col"] != prev).fillna(False).to_numpy()
    if gap.any():
        warnings.append(
            IngestWarning(
                "history_gaps",
                f"{int(gap.sum()):,} history rows name a previous stage (FromOpportunityStageName/OldValue) "
                "other than the row before them: history rows are missing in between",
                int(gap.sum()),
                tuple(int(r) for r in s.loc[gap, "row"].to_numpy()[:10]),
                h.acc.source,
            )
        )
    lead = s[first & has_from]
    h.first_from = pd.DataFrame({CASE: lead["case"], "first_stage": lead["from_col"], "left_censored": True})
    from_value = np.where(first, s["from_col"].to_numpy(dtype=object), prev.to_numpy(dtype=object))
    st = s.assign(from_value=from_value)[change]

    hist_stage = st[st["src"] == 0]
    hist_events = [_stage_frame(hist_stage, classes, "OpportunityHistory", order_mult=8)]
    changed_rows = set(hist_stage["row"])
    field_rows: set[int] = set()
    if field_changes:
        fe = _snapshot_field_events(h, snap, changed_rows)
        hist_events.append(fe)
        field_rows = set(fe["input_row"])
    not_change = keep.copy()
    not_change[list(changed_rows | field_rows)] = False
    stage_col = str(h.cols["StageName"])
    h.acc.reject("not_a_stage_change", stage_col, not_change, h.stage)
    hist_part = Part.from_table(h.table, "OpportunityHistory", pd.concat(hist_events, ignore_index=True), h.acc)

    if fh is None:
        return hist_part, hist_part
    fh_stage = st[st["src"] == 1]
    fh.acc.reject(
        "not_a_stage_change",
        "NewValue",
        fh.frame.index.isin(s.loc[(s["src"] == 1).to_numpy() & ~change, "row"]),
        fh.frame["new"],
    )
    other = fh.frame[fh.acc.keep & ~fh.frame["is_stage"].to_numpy()]
    fh_events = [
        _stage_frame(fh_stage, classes, "OpportunityFieldHistory", order_mult=1),
        make_events(
            len(other),
            case=other["case"],
            activity=other["field"] + " changed",
            ts=other["ts"],
            input_row=other["row"],
            source_object="OpportunityFieldHistory",
            event_type="field_change",
            order=other["order"],
            resource=other["resource"],
            field=other["field"],
            from_value=other["old"],
            to_value=other["new"],
        ),
    ]
    return hist_part, Part.from_table(
        fh.table, "OpportunityFieldHistory", pd.concat(fh_events, ignore_index=True), fh.acc
    )


def _matches_history(f: pd.DataFrame, snap: pd.DataFrame) -> np.ndarray:
    """FieldHistory StageName rows that OpportunityHistory already has (same case and stage within 60 s)."""
    if not len(f) or not len(snap):
        return np.zeros(len(f), dtype=bool)
    left = pd.DataFrame({"k": f["case"] + "\x1f" + f["new"], "ts": f["ts"], "i": np.arange(len(f))}).dropna()
    right = pd.DataFrame({"k": snap["case"] + "\x1f" + snap["stage"], "ts2": snap["ts"]}).dropna()
    left = left.sort_values("ts", kind="stable")
    right = right.sort_values("ts2", kind="stable")
    m = pd.merge_asof(
        left,
        right,
        left_on="ts",
        right_on="ts2",
        by="k",
        direction="nearest",
        tolerance=pd.Timedelta(seconds=_TIE_SECONDS),
    )
    out = np.zeros(len(f), dtype=bool)
    out[m.loc[m["ts2"].notna(), "i"].to_numpy(dtype="int64")] = True
    return out


def _stage_frame(st: pd.DataFrame, classes: Mapping[str, str], source_object: str, *, order_mult: int) -> pd.DataFrame:
    return make_events(
        len(st),
        case=st["case"],
        activity=st["stage"],
        ts=st["ts"],
        input_row=st["row"],
        source_object=source_object,
        event_type="stage_change",
        order=st["order"] * order_mult,
        resource=st["resource"],
        stage_id=st["stage"],
        stage_label=st["stage"],
        from_value=st["from_value"],
        to_value=st["stage"],
        state=st["stage"].map(dict(classes)).astype("str").fillna(UNKNOWN_STATE),
    )


def _snapshot_field_events(h: _History, snap: pd.DataFrame, changed_rows: set[int]) -> pd.DataFrame:
    """Amount/CloseDate/Probability/ForecastCategory changes between consecutive history rows of a case."""
    df = h.table.df.reset_index(drop=True)
    s = snap.sort_values(["case", "ts", "order", "row"], kind="stable")
    first = (s["case"] != s["case"].shift()).to_numpy()
    is_stage_row = s["row"].isin(changed_rows).to_numpy()
    frames = []
    for k, fname in enumerate(_SNAPSHOT_FIELDS, start=1):
        col = h.cols.get(fname)
        if col is None:
            continue
        vals = text(df, col).iloc[s["row"].to_numpy()].reset_index(drop=True)
        prev = vals.shift()
        changed = ~first & (vals.fillna("\x00") != prev.fillna("\x00")).to_numpy()
        if fname in _STAGE_DRIVEN:
            changed &= ~is_stage_row
        sel = s[changed]
        frames.append(
            make_events(
                len(sel),
                case=sel["case"],
                activity=f"{fname} changed",
                ts=sel["ts"],
                input_row=sel["row"],
                source_object="OpportunityHistory",
                event_type="field_change",
                order=sel["order"] * 8 + k,
                resource=sel["resource"],
                field=fname,
                from_value=prev[changed],
                to_value=vals[changed],
            )
        )
    if not frames:
        return make_events(
            0, case=None, activity=None, ts=None, input_row=[], source_object="OpportunityHistory", event_type=None
        )
    return pd.concat(frames, ignore_index=True)


# --- Opportunity ---------------------------------------------------------------------------------
class _Opportunities:
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
    ) -> _Opportunities:
        table = load_table(obj, label="Opportunity", encoding=encoding)
        df = table.df.reset_index(drop=True)
        cols = resolve_columns(df, _OPPORTUNITY, required=("Id",), source=table.source, what="Opportunity export")
        raw_id = text(df, cols["Id"])
        acc = RowAccount(len(df), table.source)
        acc.reject("missing_case_id", str(cols["Id"]), raw_id.isna().to_numpy(), raw_id)
        acc.reject("duplicate_row", "*", duplicated_rows(df), ["(whole row)"] * len(df))
        case = _map_cases(raw_id, cases_by_key)
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
            tp = _attr_time(df, str(cols["CreatedDate"]), table, timezone, dayfirst)
            if tp is not None:
                facts["created_at"] = tp.values.array
                facts["created_date_only"] = tp.date_only
        if cols["CloseDate"]:
            tp = _attr_time(df, str(cols["CloseDate"]), table, "UTC", dayfirst)
            facts["close_date"] = tp.values.array if tp is not None else text(df, cols["CloseDate"]).to_numpy()
        part = Part.from_table(table, "Opportunity", _no_events("Opportunity"), acc)
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


def _attr_time(
    df: pd.DataFrame, col: str, table: Table, timezone: str | None, dayfirst: bool | None
) -> TimeParse | None:
    """A date column of a case table; an ambiguous one is kept as text (with a note) instead of failing the read."""
    try:
        return parse_time(df, col, source=table.source, timezone=timezone, dayfirst=dayfirst)
    except AmbiguousDateError:
        table.notes.append(f"{table.source}: {col} kept as text (day/month order undecided; pass dayfirst=)")
        return None


def _no_events(label: str) -> pd.DataFrame:
    return make_events(0, case=None, activity=None, ts=None, input_row=[], source_object=label, event_type=None)


def _stage_classes(
    stage_map: Any, opp: _Opportunities | None, h: _History, encoding: str | None
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
    if isinstance(stage_map, Mapping):  # the user listed the closed stages: the others are open
        for st in stages_seen - set(classes):
            classes[st] = "open"
    unknown = sorted(stages_seen - set(classes))
    if classes and unknown:
        notes.append(f"stages with no won/lost/open class (reopen detection ignores them): {unknown[:10]}")
    return classes, order, notes


# --- approvals -----------------------------------------------------------------------------------
def _approval_inputs(approvals: Any) -> tuple[Any, Any]:
    """(ProcessInstance or None, steps) from a pair, a mapping or one pre-joined table."""
    if isinstance(approvals, tuple) or (
        isinstance(approvals, list) and len(approvals) == 2 and not all(isinstance(a, Mapping) for a in approvals)
    ):
        if len(approvals) != 2:
            raise LogSchemaError("approvals= takes (ProcessInstance, ProcessInstanceStep) or one pre-joined table")
        return approvals[0], approvals[1]
    if isinstance(approvals, Mapping):
        keys = {norm_name(k): k for k in approvals}
        if "processinstancestep" in keys:
            inst = approvals[keys["processinstance"]] if "processinstance" in keys else None
            return inst, approvals[keys["processinstancestep"]]
    return None, approvals


def _approvals(
    approvals: Any, cases_by_key: Mapping[str, str], encoding: str | None, timezone: str | None, dayfirst: bool | None
) -> list[Part]:
    inst_obj, step_obj = _approval_inputs(approvals)
    steps = load_table(step_obj, label="ProcessInstanceStep", encoding=encoding)
    sdf = steps.df.reset_index(drop=True)
    scols = resolve_columns(
        sdf, _STEP, required=("StepStatus", "CreatedDate"), source=steps.source, what="ProcessInstanceStep export"
    )
    inst: Table | None = None
    icols: dict[str, str | None] = {}
    if inst_obj is not None:
        inst = load_table(inst_obj, label="ProcessInstance", encoding=encoding)
        icols = resolve_columns(
            inst.df, _INSTANCE, required=("Id", "TargetObjectId"), source=inst.source, what="ProcessInstance export"
        )
        if scols["ProcessInstanceId"] is None:
            resolve_columns(
                sdf,
                _STEP,
                required=("ProcessInstanceId",),
                source=steps.source,
                what="ProcessInstanceStep export (joined to ProcessInstance)",
            )
    elif scols["TargetObjectId"] is None:
        resolve_columns(
            sdf,
            _STEP,
            required=("TargetObjectId",),
            source=steps.source,
            what="pre-joined approval table (or pass (ProcessInstance, ProcessInstanceStep))",
        )

    s_pi = text(sdf, scols["ProcessInstanceId"])
    inst_case = pd.Series(dtype="str")
    inst_name = pd.Series(dtype="str")
    if inst is not None:
        idf = inst.df.reset_index(drop=True)
        ids = text(idf, icols["Id"])
        lookup = pd.DataFrame(
            {"pi": ids, "target": text(idf, icols["TargetObjectId"]), "pname": text(idf, icols["ProcessName"])}
        ).dropna(subset=["pi"])
        lookup = lookup.drop_duplicates("pi", keep="last").set_index("pi")
        inst_case = s_pi.map(lookup["target"]).astype("str")
        inst_name = s_pi.map(lookup["pname"]).astype("str")
    raw_target = text(sdf, scols["TargetObjectId"]).fillna(inst_case) if scols["TargetObjectId"] else inst_case
    raw_target = raw_target.reindex(range(len(sdf))).astype("str")
    ts_col = str(scols["CreatedDate"])
    tp = parse_time(sdf, ts_col, source=steps.source, timezone=timezone, dayfirst=dayfirst)
    status = text(sdf, scols["StepStatus"], activity=True)
    acc = RowAccount(len(sdf), steps.source)
    case_col = str(scols["TargetObjectId"] or scols["ProcessInstanceId"])
    ref = raw_target.fillna(s_pi) if inst is not None else raw_target
    check_core(
        acc, sdf, case=ref, case_col=case_col, tp=tp, ts_col=ts_col, activity=status, activity_col=scols["StepStatus"]
    )
    case = _map_cases(raw_target, cases_by_key)
    acc.reject("unmatched_reference", case_col, case.isna().to_numpy(), ref)
    keep = acc.keep
    pname = (
        text(sdf, scols["ProcessName"]).fillna(inst_name.reindex(range(len(sdf))).astype("str"))
        if scols["ProcessName"]
        else inst_name.reindex(range(len(sdf))).astype("str")
    )
    label = status.where(status != "Started", "Submitted")
    act = "Approval " + label
    act = act.where(pname.isna(), act + " (" + pname + ")")
    sel = np.flatnonzero(keep)
    step_events = make_events(
        len(sel),
        case=case.iloc[sel],
        activity=act.iloc[sel],
        ts=tp.values.iloc[sel],
        input_row=sel,
        source_object="ProcessInstanceStep",
        event_type="approval_step",
        order=_rank(text(sdf, scols["Id"]))[sel] if scols["Id"] else sel,
        resource=text(sdf, scols["ActorId"]).iloc[sel],
        field="StepStatus",
        to_value=status.iloc[sel],
        extra={
            "approval_instance": s_pi.iloc[sel],
            "approval_step": text(sdf, scols["StepName"]).iloc[sel],
            "original_actor": text(sdf, scols["OriginalActorId"]).iloc[sel],
        },
    )
    steps.warnings += time_warnings(tp, keep, steps.source, ts_col)
    parts = [Part.from_table(steps, "ProcessInstanceStep", step_events, acc)]
    if inst is not None:
        parts.append(_instances(inst, icols, set(s_pi[keep].dropna()), cases_by_key, timezone, dayfirst))
    return parts


def _instances(
    inst: Table,
    cols: dict[str, str | None],
    with_steps: set[str],
    cases_by_key: Mapping[str, str],
    timezone: str | None,
    dayfirst: bool | None,
) -> Part:
    """ProcessInstance rows: used by their steps; instances without steps (before Summer '14) give
    ``Approval Submitted`` at CreatedDate and ``Approval <Status>`` at CompletedDate."""
    df = inst.df.reset_index(drop=True)
    ids = text(df, cols["Id"])
    raw_target = text(df, cols["TargetObjectId"])
    acc = RowAccount(len(df), inst.source)
    has_steps = ids.isin(with_steps).to_numpy()
    ts_col = cols["CreatedDate"]
    if ts_col is None:
        acc.reject("missing_timestamp", "CreatedDate", ~has_steps, ids)
        part = Part.from_table(inst, "ProcessInstance", _no_events("ProcessInstance"), acc)
        part.credit_key, part.credit_col = ids, "approval_instance"
        return part
    tp = parse_time(df, ts_col, source=inst.source, timezone=timezone, dayfirst=dayfirst)
    # instances with steps are accounted by their steps (credit below); the others by their own checks
    acc.scope = ~has_steps
    check_core(acc, df, case=raw_target, case_col=str(cols["TargetObjectId"]), tp=tp, ts_col=ts_col)
    case = _map_cases(raw_target, cases_by_key)
    acc.reject("unmatched_reference", str(cols["TargetObjectId"]), case.isna().to_numpy(), raw_target)
    acc.scope = np.ones(len(df), dtype=bool)
    sel = np.flatnonzero(~has_steps & acc.keep)
    status = text(df, cols["Status"], activity=True)
    pname = text(df, cols["ProcessName"])
    suffix = (" (" + pname + ")").fillna("")
    sub = make_events(
        len(sel),
        case=case.iloc[sel],
        activity=("Approval Submitted" + suffix).iloc[sel],
        ts=tp.values.iloc[sel],
        input_row=sel,
        source_object="ProcessInstance",
        event_type="approval_step",
        order=sel * 2,
        resource=text(df, cols["SubmittedById"]).iloc[sel],
        field="Status",
        to_value="Started",
        extra={"approval_instance": ids.iloc[sel]},
    )
    frames = [sub]
    if cols["CompletedDate"]:
        done = parse_time(df, cols["CompletedDate"], source=inst.source, timezone=timezone, dayfirst=dayfirst)
        fin = sel[
            (
                done.values.iloc[sel].notna()
                & status.iloc[sel].notna()
                & ~status.iloc[sel].isin(["Pending", "Started"])
            ).to_numpy()
        ]
        frames.append(
            make_events(
                len(fin),
                case=case.iloc[fin],
                activity=("Approval " + status + suffix).iloc[fin],
                ts=done.values.iloc[fin],
                input_row=fin,
                source_object="ProcessInstance",
                event_type="approval_step",
                order=fin * 2 + 1,
                resource=text(df, cols["LastActorId"]).iloc[fin],
                field="Status",
                to_value=status.iloc[fin],
                extra={"approval_instance": ids.iloc[fin]},
            )
        )
    inst.warnings += time_warnings(tp, acc.keep & ~has_steps, inst.source, ts_col)
    part = Part.from_table(inst, "ProcessInstance", pd.concat(frames, ignore_index=True), acc)
    part.credit_key = ids.where(pd.Series(has_steps))
    part.credit_col = "approval_instance"
    return part


# --- Task / Event ----------------------------------------------------------------------------------
class _Times:
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

    def merge(self, other: _Times, mask: np.ndarray) -> None:
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
    times = _Times(df, [(cols.get(c), tz) for c, tz in time_cols], table.source, dayfirst)
    if allday is not None and cols.get(allday):
        is_allday = parse_bool(df[cols[allday]]).fillna(False).to_numpy(dtype=bool)
        times.merge(_Times(df, [(date_col, "UTC")], table.source, dayfirst, rows=is_allday), is_allday)
    acc = RowAccount(len(df), table.source)
    acc.reject("missing_case_id", str(cols["WhatId"]), what.isna().to_numpy(), what)
    first_col = next(str(cols[c]) for c, _ in time_cols if cols.get(c))
    acc.reject("missing_timestamp", first_col, times.missing, df[first_col])
    acc.reject("unparsable_timestamp", first_col, times.bad, times.raw)
    acc.reject("duplicate_row", "*", duplicated_rows(df), ["(whole row)"] * len(df))
    case = _map_cases(what, cases_by_key)
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
        order=_rank(text(df, cols["Id"]))[sel] if cols.get("Id") else sel,
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


def _tasks(
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


def _calendar(
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
