"""Generic field history (record, field, old value, new value, changed at, changed by) → EventLog.

Covers Dynamics 365 audit exports, Odoo ``mail.tracking.value``, Zoho stage history and
home-grown CRMs; see ``docs/crm/field-history.md`` for the recipes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.core.schema import CASE, OUTCOME
from salesmining.ingest.crm.accounting import RowAccount, check_core, duplicated_rows
from salesmining.ingest.crm.assemble import assemble
from salesmining.ingest.crm.columns import text
from salesmining.ingest.crm.events import Part, make_events
from salesmining.ingest.crm.inputs import Input, Table, load_table
from salesmining.ingest.crm.stages import outcome_classes, sort_stream
from salesmining.ingest.crm.times import parse_time, time_warnings
from salesmining.ingest.options import BulkRule, ReadOptions
from salesmining.ingest.timestamps import TimeParse
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestWarning

__all__ = ["read_field_history"]

_STATUS_ACTIVITY = {"won": "Won", "lost": "Lost"}


def read_field_history(
    history: Input,
    *,
    case: str = "record_id",
    field: str | None = "field",
    old_value: str | None = "old_value",
    new_value: str = "new_value",
    timestamp: str = "changed_at",
    resource: str | None = "changed_by",
    change_id: str | None = None,
    stage_field: str = "stage",
    stage_labels: Mapping[Any, str] | None = None,
    stage_map: Mapping[str, str] | None = None,
    status_field: str | None = None,
    status_map: Mapping[Any, str] | None = None,
    pipeline_column: str | None = None,
    pipeline: str | None = None,
    cases: Input | None = None,
    field_changes: bool = False,
    system_users: Iterable[str] = (),
    source_system: str = "field_history",
    encoding: str | None = None,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    bulk_min_cases: int = 10,
    bulk_window: float = 60.0,
    name: str | None = None,
) -> EventLog:
    """Read any field-change table into an event log: stage events for one field, the rest optional.

    Rows whose ``field`` equals ``stage_field`` become stage events named by the new value (or its
    label from ``stage_labels``); a row that repeats the previous stage of its record is rejected
    as ``not_a_stage_change``. Rows of ``status_field`` become ``Won``/``Lost``/``Reopened``
    status events through ``status_map``. Other fields become ``field_change`` events with
    ``field_changes=True``, else they are rejected as ``not_a_stage_change``.

    When a record's first stage change has an old value, the record was in that stage before
    its history starts: ``first_stage`` names it and the case is ``left_censored``.

    Parameters
    ----------
    history:
        The change table (CSV/JSON path or DataFrame).
    case, field, old_value, new_value, timestamp, resource:
        Its columns: record id, field name, old and new value, change time, who changed it. The
        optional ones (``field``, ``old_value``, ``resource``) are used when present; pass
        ``field=None`` when every row is a stage change (e.g. Zoho Stage History).
    change_id:
        A column that orders changes with equal timestamps (audit id); default: row order.
    stage_field:
        The value of ``field`` that marks stage changes (matched exactly, else ignoring case).
    stage_labels:
        Stage value → label (e.g. Dynamics ``processstage`` GUID → ``stagename``).
    stage_map:
        Stage value or label → ``"won"``/``"lost"``/``"open"`` (for outcomes and reopenings);
        stages it does not list are open.
    status_field, status_map:
        A status field (Dynamics ``statecode``, Odoo ``active``...) and its values → won/lost/open.
    pipeline_column, pipeline:
        A column with the record's pipeline at each change, and the pipeline to keep.
    cases:
        A case table with the ``case`` column (or ``case:concept:name``), an optional ``outcome``
        (won/lost/open, overrides the history), ``created_at`` and further attributes.
    field_changes:
        Turn changes of other fields into ``field_change`` events.
    system_users, encoding, timezone, dayfirst, bulk_min_cases, bulk_window, name:
        As in :func:`salesmining.read_salesforce`.
    source_system:
        Recorded in ``log.meta["source_system"]`` (e.g. ``"dynamics365"``, ``"odoo"``, ``"zoho"``).

    Returns
    -------
    EventLog

    Examples
    --------
    >>> import pandas as pd, salesmining as sm
    >>> h = pd.DataFrame({"record_id": ["L1", "L1", "L1"], "field": ["stage", "priority", "stage"],
    ...     "old_value": ["New", "0", "Qualified"], "new_value": ["Qualified", "2", "Won"],
    ...     "changed_at": ["2024-02-01 10:00:00Z", "2024-02-02 10:00:00Z", "2024-02-09 16:30:00Z"]})
    >>> log = sm.read_field_history(h, stage_map={"Won": "won"}, field_changes=True)
    >>> log.to_frame()[["concept:name", "event_type"]].values.tolist()
    [['Qualified', 'stage_change'], ['priority changed', 'field_change'], ['Won', 'stage_change']]
    >>> log.cases[["outcome", "first_stage", "left_censored"]].values.tolist()
    [['won', 'New', True]]
    """
    bulk = BulkRule(bulk_min_cases, bulk_window)  # the option values are checked here, once
    options = ReadOptions(encoding=encoding, timezone=timezone, dayfirst=dayfirst, name=name)
    columns = FieldHistoryColumns(case, field, old_value, new_value, timestamp, resource, change_id, pipeline_column)
    table = load_table(history, label="field history", encoding=options.encoding)
    rows = _parse_rows(table, columns, options, stage_field=stage_field, status_field=status_field)
    labels = {str(k): str(v) for k, v in (stage_labels or {}).items()}
    classes = outcome_classes(stage_map or {}, what="stage_map")
    status_cls = outcome_classes(status_map or {}, what="status_map")

    stage_frame, st = _stage_changes(rows, labels, classes)
    status_frame, srows = _status_changes(rows, status_cls)
    frames = [stage_frame, status_frame]
    used = np.zeros(rows.n, dtype=bool)
    used[st["row"].to_numpy()] = True
    used[srows] = True
    other = rows.acc.keep & ~used
    if field_changes:
        frames.append(_field_change_events(rows, np.flatnonzero(other)))
    else:
        rows.acc.reject("not_a_stage_change", rows.fcol or new_value, other, rows.fld)
    table.warnings += time_warnings(rows.tp, rows.acc.keep, rows.src, timestamp)
    parts = [Part.from_table(table, "field history", pd.concat(frames, ignore_index=True), rows.acc)]

    facts = _left_censored_hints(st, labels)
    if cases is not None:
        cpart, cfacts = _cases(cases, case, options)
        parts.append(cpart)
        facts = cfacts.merge(facts, on=CASE, how="outer")
    return assemble(
        parts,
        source_system=source_system,
        name=options.name or rows.src,
        facts=facts,
        pipeline=pipeline,
        system_users=system_users,
        bulk=bulk,
        warnings=_gaps(st, rows.src),
    )


@dataclass(frozen=True, slots=True)
class FieldHistoryColumns:
    """Which column of a field-change table holds what (``None``: the table has no such column)."""

    case: str
    field: str | None
    old_value: str | None
    new_value: str
    timestamp: str
    resource: str | None
    change_id: str | None
    pipeline_column: str | None


@dataclass(frozen=True)
class _Rows:
    """The input rows, parsed once: positional series and arrays aligned with the table."""

    src: str
    n: int
    fcol: str | None  # the field column, when the table has one
    new_col: str  # the new-value column
    rec: pd.Series  # case id
    fld: pd.Series  # field name (``stage_field`` everywhere when there is no field column)
    old: pd.Series
    new: pd.Series
    tp: TimeParse
    order: np.ndarray  # tie-breaker: the change id, else the input row
    who: pd.Series
    pipe: pd.Series
    is_stage: np.ndarray
    is_status: np.ndarray
    acc: RowAccount


def _parse_rows(
    table: Table, columns: FieldHistoryColumns, options: ReadOptions, *, stage_field: str, status_field: str | None
) -> _Rows:
    """Check the columns, parse every value once and apply the core checks (row account)."""
    df = table.df.reset_index(drop=True)
    src = table.source
    c = columns
    _require(
        df,
        src,
        case=c.case,
        new_value=c.new_value,
        timestamp=c.timestamp,
        change_id=c.change_id,
        pipeline_column=c.pipeline_column,
    )
    # columns with a default name may be absent; a name given explicitly must exist
    for role, default in (("field", "field"), ("old_value", "old_value"), ("resource", "changed_by")):
        col = getattr(c, role)
        if col is not None and col != default:
            _require(df, src, **{role: col})
    fcol, ocol, rcol = (
        col if col is not None and col in df.columns else None for col in (c.field, c.old_value, c.resource)
    )
    n = len(df)
    rec = text(df, c.case)
    fld = text(df, fcol) if fcol else pd.Series(stage_field, index=range(n), dtype="str")
    new = text(df, c.new_value, activity=True)
    tp = parse_time(df, c.timestamp, source=src, timezone=options.timezone, dayfirst=options.dayfirst)
    acc = RowAccount(n, src)
    check_core(
        acc, df, case=rec, case_col=c.case, tp=tp, ts_col=c.timestamp, activity=fld if fcol else None, activity_col=fcol
    )
    is_stage = _field_is(fld, stage_field)
    if fcol and not is_stage.any():
        raise LogSchemaError(
            f"{src}: no row has {fcol} == {stage_field!r}; fields present: {sorted(fld.dropna().unique())[:12]} "
            "(pass stage_field=...)",
            source=src,
            column=fcol,
        )
    acc.reject("missing_activity", c.new_value, is_stage & new.isna().to_numpy(), new)
    order = (
        pd.to_numeric(text(df, c.change_id), errors="coerce").fillna(-1).astype("int64").to_numpy()
        if c.change_id
        else np.arange(n, dtype="int64")
    )
    return _Rows(
        src=src,
        n=n,
        fcol=fcol,
        new_col=c.new_value,
        rec=rec,
        fld=fld,
        old=text(df, ocol, activity=True),
        new=new,
        tp=tp,
        order=order,
        who=text(df, rcol),
        pipe=text(df, c.pipeline_column),
        is_stage=is_stage,
        is_status=_field_is(fld, status_field) if status_field else np.zeros(n, dtype=bool),
        acc=acc,
    )


def _stage_changes(
    rows: _Rows, labels: Mapping[str, str], classes: Mapping[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stage events (a row that repeats its record's previous stage is ``not_a_stage_change``),
    and the stage stream they come from (``first``/``prev`` per row)."""
    n = rows.n
    s = sort_stream(
        pd.DataFrame(
            {
                "case": rows.rec,
                "ts": rows.tp.values,
                "order": rows.order,
                "row": np.arange(n),
                "stage": rows.new,
                "old": rows.old,
            }
        )[rows.acc.keep & rows.is_stage]
    )
    rows.acc.reject("not_a_stage_change", rows.new_col, np.isin(np.arange(n), s.loc[~s["change"], "row"]), rows.new)
    st = s[s["change"].to_numpy()]
    label = _label(st["stage"], labels)
    from_label = _label(st["old"], labels).fillna(_label(st["prev"], labels))
    state = label.map(classes).astype("str").fillna(st["stage"].map(classes).astype("str").reset_index(drop=True))
    if classes:  # stages the map does not list are open
        state = state.fillna("open")
    idx = st["row"].to_numpy()
    events = make_events(
        len(st),
        case=st["case"],
        activity=label,
        ts=st["ts"],
        input_row=idx,
        source_object="field history",
        event_type="stage_change",
        order=st["order"],
        resource=rows.who.iloc[idx],
        stage_id=st["stage"],
        stage_label=label,
        pipeline=rows.pipe.iloc[idx],
        pipeline_id=rows.pipe.iloc[idx],
        field=rows.fld.iloc[idx],
        from_value=from_label,
        to_value=label,
        state=state,
    )
    return events, st


def _left_censored_hints(st: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Records whose first stage change has an old value were in that stage before their history starts."""
    lead = st[st["first"].to_numpy() & st["old"].notna().to_numpy()]
    return pd.DataFrame(
        {CASE: lead["case"], "first_stage": _label(lead["old"], labels).to_numpy(), "left_censored": True}
    )


def _status_changes(rows: _Rows, status_cls: Mapping[str, str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Status rows: ``Won`` / ``Lost`` / ``Reopened`` events; open → open and unmapped values are
    left to :func:`_field_change_events`. Returns the events and their input rows."""
    stt = pd.DataFrame(
        {
            "case": rows.rec,
            "ts": rows.tp.values,
            "order": rows.order,
            "row": np.arange(rows.n),
            "cls": rows.new.map(status_cls).astype("str"),
            "old_cls": rows.old.map(status_cls).astype("str"),
        }
    )[rows.acc.keep & rows.is_status]
    stt = stt.sort_values(["case", "ts", "order", "row"], kind="stable")
    prev = stt.groupby("case", sort=False)["cls"].shift()
    before = stt["old_cls"].fillna(prev)
    reopen = (stt["cls"] == "open").to_numpy() & before.isin(["won", "lost"]).to_numpy()
    closing = stt["cls"].isin(["won", "lost"]).to_numpy()
    sig = stt[reopen | closing]
    act = sig["cls"].map(_STATUS_ACTIVITY).astype("str").fillna("Reopened")
    idx = sig["row"].to_numpy()
    events = make_events(
        len(sig),
        case=sig["case"],
        activity=act,
        ts=sig["ts"],
        input_row=idx,
        source_object="field history",
        event_type="status_change",
        order=sig["order"],
        resource=rows.who.iloc[idx],
        field=rows.fld.iloc[idx],
        from_value=rows.old.iloc[idx],
        to_value=rows.new.iloc[idx],
        state=sig["cls"],
        pipeline=rows.pipe.iloc[idx],
        pipeline_id=rows.pipe.iloc[idx],
    )
    return events, idx


def _field_change_events(rows: _Rows, sel: np.ndarray) -> pd.DataFrame:
    """``"<field> changed"`` events for the rows ``sel`` (``field_changes=True``)."""
    return make_events(
        len(sel),
        case=rows.rec.iloc[sel],
        activity=rows.fld.iloc[sel] + " changed",
        ts=rows.tp.values.iloc[sel],
        input_row=sel,
        source_object="field history",
        event_type="field_change",
        order=rows.order[sel],
        resource=rows.who.iloc[sel],
        field=rows.fld.iloc[sel],
        from_value=rows.old.iloc[sel],
        to_value=rows.new.iloc[sel],
        pipeline=rows.pipe.iloc[sel],
        pipeline_id=rows.pipe.iloc[sel],
    )


def _require(df: pd.DataFrame, src: str, **named: str | None) -> None:
    cols = [str(c) for c in df.columns]
    for role, col in named.items():
        if col is not None and col not in df.columns:
            raise LogSchemaError(
                f"{src}: the {role} column {col!r} does not exist; columns present: {cols} (pass {role}=...)",
                source=src,
                column=col,
            )


def _field_is(fld: pd.Series, name: str | None) -> np.ndarray:
    if name is None:
        return np.zeros(len(fld), dtype=bool)
    exact = (fld == name).fillna(False).to_numpy(dtype=bool)
    if exact.any():
        return exact
    return (fld.str.lower() == name.lower()).fillna(False).to_numpy(dtype=bool)


def _label(values: pd.Series, labels: Mapping[str, str]) -> pd.Series:
    v = values.reset_index(drop=True).astype("str")
    return v.map(labels).astype("str").fillna(v).astype("str") if labels else v


def _gaps(st: pd.DataFrame, src: str) -> list[IngestWarning]:
    gap = ~st["first"].to_numpy() & st["old"].notna().to_numpy() & (st["old"] != st["prev"]).fillna(False).to_numpy()
    if not gap.any():
        return []
    return [
        IngestWarning(
            "history_gaps",
            f"{int(gap.sum()):,} stage changes start from a value other than the previous change's new "
            "value: changes are missing in between (auditing off for a while, purged rows)",
            int(gap.sum()),
            tuple(int(r) for r in st.loc[gap, "row"].to_numpy()[:10]),
            src,
        )
    ]


def _cases(obj: Input, case: str, options: ReadOptions) -> tuple[Part, pd.DataFrame]:
    """The optional case table: outcomes, creation dates and attributes, one row per case (the last wins)."""
    table = load_table(obj, label="cases", encoding=options.encoding)
    df = table.df.reset_index(drop=True)
    key = case if case in df.columns else CASE
    _require(df, table.source, case=key)
    ids = text(df, key)
    facts = pd.DataFrame({CASE: ids})
    for col in df.columns:
        if col == key:
            continue
        if col == OUTCOME:
            facts[OUTCOME] = text(df, col).str.lower().where(lambda s: s.isin(["won", "lost", "open"]))
        elif col == "created_at":
            tp = parse_time(df, col, source=table.source, timezone=options.timezone, dayfirst=options.dayfirst)
            facts["created_at"] = tp.values.array
            facts["created_date_only"] = tp.date_only
        else:
            facts[str(col)] = df[col].to_numpy()
    acc = RowAccount(len(df), table.source)
    acc.reject("missing_case_id", key, ids.isna().to_numpy(), ids)
    acc.reject("duplicate_row", "*", duplicated_rows(df), ["(whole row)"] * len(df))
    later = ids.where(acc.keep).duplicated(keep="last").to_numpy() & ids.notna().to_numpy()
    acc.reject("superseded_row", key, later, ids)
    part = Part.from_table(
        table,
        "cases",
        make_events(0, case=None, activity=None, ts=None, input_row=[], source_object="cases", event_type=None),
        acc,
    )
    part.credit_key = ids.where(acc.keep)
    return part, facts[acc.keep & ids.notna().to_numpy()]
