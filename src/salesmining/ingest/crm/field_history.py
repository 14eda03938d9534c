"""Generic field history (record, field, old value, new value, changed at, changed by) → EventLog.

Covers Dynamics 365 audit exports, Odoo ``mail.tracking.value``, Zoho stage history and
home-grown CRMs; see ``docs/crm/field-history.md`` for the recipes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.core.schema import CASE, OUTCOME
from salesmining.ingest.crm.accounting import RowAccount, check_core, duplicated_rows
from salesmining.ingest.crm.assemble import assemble
from salesmining.ingest.crm.columns import text
from salesmining.ingest.crm.events import Part, make_events
from salesmining.ingest.crm.inputs import Input, load_table
from salesmining.ingest.crm.stages import outcome_classes, sort_stream
from salesmining.ingest.crm.times import parse_time, time_warnings
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
    table = load_table(history, label="field history", encoding=encoding)
    df = table.df.reset_index(drop=True)
    src = table.source
    _require(
        df,
        src,
        case=case,
        new_value=new_value,
        timestamp=timestamp,
        change_id=change_id,
        pipeline_column=pipeline_column,
    )
    if field is not None and field != "field":
        _require(df, src, field=field)
    if old_value is not None and old_value != "old_value":
        _require(df, src, old_value=old_value)
    if resource is not None and resource != "changed_by":
        _require(df, src, resource=resource)
    fcol = field if field is not None and field in df.columns else None
    ocol = old_value if old_value is not None and old_value in df.columns else None
    rcol = resource if resource is not None and resource in df.columns else None
    n = len(df)
    rec = text(df, case)
    fld = text(df, fcol) if fcol else pd.Series(stage_field, index=range(n), dtype="str")
    old = text(df, ocol, activity=True)
    new = text(df, new_value, activity=True)
    tp = parse_time(df, timestamp, source=src, timezone=timezone, dayfirst=dayfirst)
    acc = RowAccount(n, src)
    check_core(
        acc, df, case=rec, case_col=case, tp=tp, ts_col=timestamp, activity=fld if fcol else None, activity_col=fcol
    )
    is_stage = _field_is(fld, stage_field)
    if fcol and not is_stage.any():
        raise LogSchemaError(
            f"{src}: no row has {fcol} == {stage_field!r}; fields present: {sorted(fld.dropna().unique())[:12]} "
            "(pass stage_field=...)",
            source=src,
            column=fcol,
        )
    is_status = _field_is(fld, status_field) if status_field else np.zeros(n, dtype=bool)
    acc.reject("missing_activity", new_value, is_stage & new.isna().to_numpy(), new)
    order = (
        pd.to_numeric(text(df, change_id), errors="coerce").fillna(-1).astype("int64").to_numpy()
        if change_id
        else np.arange(n, dtype="int64")
    )
    labels = {str(k): str(v) for k, v in (stage_labels or {}).items()}
    classes = outcome_classes(stage_map or {}, what="stage_map")
    status_cls = outcome_classes(status_map or {}, what="status_map")
    who = text(df, rcol)
    pipe = text(df, pipeline_column)

    keep = acc.keep
    s = sort_stream(
        pd.DataFrame({"case": rec, "ts": tp.values, "order": order, "row": np.arange(n), "stage": new, "old": old})[
            keep & is_stage
        ]
    )
    acc.reject("not_a_stage_change", new_value, np.isin(np.arange(n), s.loc[~s["change"], "row"]), new)
    st = s[s["change"].to_numpy()]
    label = _label(st["stage"], labels)
    from_label = _label(st["old"], labels).fillna(_label(st["prev"], labels))
    state = label.map(classes).astype("str").fillna(st["stage"].map(classes).astype("str").reset_index(drop=True))
    if classes:  # stages the map does not list are open
        state = state.fillna("open")
    rows = st["row"].to_numpy()
    frames = [
        make_events(
            len(st),
            case=st["case"],
            activity=label,
            ts=st["ts"],
            input_row=rows,
            source_object="field history",
            event_type="stage_change",
            order=st["order"],
            resource=who.iloc[rows],
            stage_id=st["stage"],
            stage_label=label,
            pipeline=pipe.iloc[rows],
            pipeline_id=pipe.iloc[rows],
            field=fld.iloc[rows],
            from_value=from_label,
            to_value=label,
            state=state,
        )
    ]
    warnings = _gaps(st, src)
    lead = st[st["first"].to_numpy() & st["old"].notna().to_numpy()]
    hints = pd.DataFrame(
        {CASE: lead["case"], "first_stage": _label(lead["old"], labels).to_numpy(), "left_censored": True}
    )

    # status rows: Won / Lost / Reopened; open → open and unmapped values are plain field changes
    stt = pd.DataFrame(
        {
            "case": rec,
            "ts": tp.values,
            "order": order,
            "row": np.arange(n),
            "cls": new.map(status_cls).astype("str"),
            "old_cls": old.map(status_cls).astype("str"),
        }
    )[keep & is_status]
    stt = stt.sort_values(["case", "ts", "order", "row"], kind="stable")
    prev = stt.groupby("case", sort=False)["cls"].shift()
    before = stt["old_cls"].fillna(prev)
    reopen = (stt["cls"] == "open").to_numpy() & before.isin(["won", "lost"]).to_numpy()
    closing = stt["cls"].isin(["won", "lost"]).to_numpy()
    sig = stt[reopen | closing]
    act = sig["cls"].map(_STATUS_ACTIVITY).astype("str").fillna("Reopened")
    srows = sig["row"].to_numpy()
    frames.append(
        make_events(
            len(sig),
            case=sig["case"],
            activity=act,
            ts=sig["ts"],
            input_row=srows,
            source_object="field history",
            event_type="status_change",
            order=sig["order"],
            resource=who.iloc[srows],
            field=fld.iloc[srows],
            from_value=old.iloc[srows],
            to_value=new.iloc[srows],
            state=sig["cls"],
            pipeline=pipe.iloc[srows],
            pipeline_id=pipe.iloc[srows],
        )
    )
    used = np.zeros(n, dtype=bool)
    used[rows] = True
    used[srows] = True
    other = acc.keep & ~used
    if field_changes:
        sel = np.flatnonzero(other)
        frames.append(
            make_events(
                len(sel),
                case=rec.iloc[sel],
                activity=fld.iloc[sel] + " changed",
                ts=tp.values.iloc[sel],
                input_row=sel,
                source_object="field history",
                event_type="field_change",
                order=order[sel],
                resource=who.iloc[sel],
                field=fld.iloc[sel],
                from_value=old.iloc[sel],
                to_value=new.iloc[sel],
                pipeline=pipe.iloc[sel],
                pipeline_id=pipe.iloc[sel],
            )
        )
    else:
        acc.reject("not_a_stage_change", fcol or new_value, other, fld)
    table.warnings += time_warnings(tp, acc.keep, src, timestamp)
    parts = [Part.from_table(table, "field history", pd.concat(frames, ignore_index=True), acc)]

    facts = hints
    if cases is not None:
        cpart, cfacts = _cases(cases, case, encoding, timezone, dayfirst)
        parts.append(cpart)
        facts = cfacts.merge(hints, on=CASE, how="outer")
    return assemble(
        parts,
        source_system=source_system,
        name=name or src,
        facts=facts,
        pipeline=pipeline,
        system_users=system_users,
        bulk_min_cases=bulk_min_cases,
        bulk_window=bulk_window,
        warnings=warnings,
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


def _cases(
    obj: Input, case: str, encoding: str | None, timezone: str | None, dayfirst: bool | None
) -> tuple[Part, pd.DataFrame]:
    table = load_table(obj, label="cases", encoding=encoding)
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
            tp = parse_time(df, col, source=table.source, timezone=timezone, dayfirst=dayfirst)
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
