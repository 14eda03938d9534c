"""Pipedrive: deal flow (``/deals/{id}/flow``) or the plain Deals export → EventLog."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.core.schema import AMOUNT, CASE, OUTCOME, OWNER, TIMESTAMP
from salesmining.ingest.crm.accounting import RowAccount, check_core, duplicated_rows
from salesmining.ingest.crm.assemble import assemble
from salesmining.ingest.crm.columns import human_or_system, norm_name, parse_bool, resolve_columns, text
from salesmining.ingest.crm.events import Part, deal_table_part, make_events
from salesmining.ingest.crm.inputs import Input, Source, Table, is_json_input, load_json, load_table
from salesmining.ingest.crm.stages import lookup_stages
from salesmining.ingest.crm.times import parse_time, time_warnings
from salesmining.ingest.options import BulkRule, ReadOptions
from salesmining.ingest.values import parse_amount
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestWarning

__all__ = ["read_pipedrive"]

#: ``change_source`` values that are a person using Pipedrive; other non-empty values are automation.
HUMAN_SOURCES = ("app", "mobile", "web", "ios", "android")
_STATUS_ACTIVITY = {"won": "Won", "lost": "Lost", "deleted": "Deleted"}
_ACTIVITY_OBJECTS = {"activity": "Activity", "note": "Note", "mailMessage": "Email", "call": "Call"}

_FLOW = {
    "deal": ("item_id", "deal_id", "dealId"),
    "field_key": ("field_key",),
    "old_value": ("old_value",),
    "new_value": ("new_value",),
    "log_time": ("log_time", "timestamp", "time"),
    "user": ("user_id", "actor_user_id"),
    "change_source": ("change_source",),
    "bulk": ("is_bulk_update_flag",),
    "id": ("id", "change_id"),
    "object": ("object",),
    "old_fmt": ("old_value_formatted", "additional_data.old_value_formatted"),
    "new_fmt": ("new_value_formatted", "additional_data.new_value_formatted"),
    "subject": ("subject",),
    "type": ("type",),
}
_DEAL = {
    "id": ("Deal - ID", "id", "deal_id", "ID"),
    "title": ("Deal - Title", "title"),
    "stage": ("Deal - Stage", "stage_id", "stage"),
    "pipeline": ("Deal - Pipeline", "pipeline_id", "pipeline"),
    "status": ("Deal - Status", "status"),
    "owner": ("Deal - Owner", "owner_name", "user_id.name", "user_id"),
    "value": ("Deal - Value", "value"),
    "currency": ("Deal - Currency", "currency"),
    "add_time": ("Deal - Deal created", "add_time"),
    "stage_change_time": ("Deal - Last stage change", "stage_change_time"),
    "won_time": ("Deal - Won time", "won_time"),
    "lost_time": ("Deal - Lost time", "lost_time"),
    "lost_reason": ("Deal - Lost reason", "lost_reason"),
}
_STAGES = {
    "id": ("id", "stage_id"),
    "name": ("name", "stage_name", "label"),
    "pipeline_id": ("pipeline_id",),
    "pipeline_name": ("pipeline_name", "pipeline"),
    "order": ("order_nr", "order"),
}


def read_pipedrive(
    source: Input,
    *,
    stages: Source | Mapping[Any, Any] | list[Any] | None = None,
    deals: Input | None = None,
    pipeline: str | None = None,
    field_changes: bool = False,
    system_users: Iterable[str] = (),
    encoding: str | None = None,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    bulk_min_cases: int = 10,
    bulk_window: float = 60.0,
    name: str | None = None,
) -> EventLog:
    """Read Pipedrive deal history into an event log.

    ``source`` is either the **deal flow** — the JSON of ``GET /v1/deals/{id}/flow`` (one response,
    a list of them, or ``{deal_id: response}``) or its flat table form (singer/Fivetran
    ``dealflow``: ``item_id``, ``field_key``, ``old_value``, ``new_value``, ``log_time``, ...) —
    or the plain **Deals export** (``Deal - ID``, ``Deal - Stage``, ``Deal - Status``, ...), which
    has no history: it yields only each deal's current stage (at ``Last stage change``) and its
    won/lost time, with a ``history_absent`` warning and ``meta["history_absent"] = True``.

    From the flow, ``dealChange`` items become events: ``add_time`` = entry into the stage the deal
    was created in (the ``old_value`` of its first ``stage_id`` change, or its current stage from
    ``deals``), ``stage_id`` = stage moves, ``status`` = ``Won``/``Lost``/``Reopened``/``Deleted``
    (``event_type="status_change"``); other fields are ``field_change`` events with
    ``field_changes=True`` (else rejected as ``not_a_stage_change``). ``activity``, ``note`` and
    ``mailMessage`` items become ``activity`` events; other items are rejected as ``out_of_scope``.
    ``log_time`` is UTC (Pipedrive's API says so) unless ``timezone`` says otherwise.

    Parameters
    ----------
    stages:
        The stages definition (JSON of ``GET /v1/stages``, a table with ``id``, ``name``,
        ``pipeline_id``, ``pipeline_name``, ``order_nr``, or ``{id: name}``): labels and pipelines.
        Stage ids it does not know are rejected as ``unknown_stage``; without it labels come from
        ``additional_data`` of the flow, else the id.
    deals:
        Deals (export or ``/v1/deals`` JSON) for the case table: status (the outcome), title,
        value, owner, pipeline, current stage, ``add_time``.
    pipeline:
        Keep only this pipeline (id or name); other rows are rejected as ``other_pipeline``.
    field_changes:
        Turn changes of other deal fields into ``field_change`` events.
    system_users, encoding, timezone, dayfirst, bulk_min_cases, bulk_window, name:
        As in :func:`salesmining.read_salesforce`. ``is_bulk_update_flag`` and a ``change_source``
        other than the app mark bulk and system changes.

    Returns
    -------
    EventLog
        Stage events named by stage label, status events ``Won``/``Lost``/``Reopened``/``Deleted``.

    Examples
    --------
    >>> import salesmining as sm
    >>> flow = {"data": [
    ...   {"object": "dealChange", "data": {"id": 3, "item_id": 1, "field_key": "status", "old_value": "open",
    ...    "new_value": "won", "log_time": "2024-03-09 10:00:00", "change_source": "app"}},
    ...   {"object": "dealChange", "data": {"id": 2, "item_id": 1, "field_key": "stage_id", "old_value": "1",
    ...    "new_value": "2", "log_time": "2024-03-05 10:00:00", "change_source": "app"}},
    ...   {"object": "dealChange", "data": {"id": 1, "item_id": 1, "field_key": "add_time",
    ...    "new_value": "2024-03-01 09:00:00", "log_time": "2024-03-01 09:00:00", "change_source": "app"}}]}
    >>> log = sm.read_pipedrive(flow, stages={1: "Qualified", 2: "Proposal made"})
    >>> log.to_frame()["concept:name"].tolist()
    ['Qualified', 'Proposal made', 'Won']
    >>> log.cases["outcome"].tolist()
    ['won']
    """
    ReadOptions(encoding=encoding, timezone=timezone, dayfirst=dayfirst, name=name)
    bulk = BulkRule(bulk_min_cases, bulk_window)  # the option values are checked here, once
    stage_table = _stages(stages, encoding)
    kind, table = _source_table(source, encoding)
    deal_table = load_table(deals, label="deals", encoding=encoding) if deals is not None else None
    if kind == "deals":
        part, export_facts, warns = _deals_only(table, stage_table, timezone, dayfirst)
        return assemble(
            [part],
            source_system="pipedrive",
            name=name or table.source,
            facts=export_facts,
            pipeline=pipeline,
            system_users=system_users,
            bulk=bulk,
            meta={"history_absent": True},
            stages=stage_table,
            warnings=warns,
        )
    facts: pd.DataFrame | None = None
    current: pd.DataFrame | None = None
    parts: list[Part] = []
    if deal_table is not None:
        facts, dpart, current = _deal_facts(deal_table, stage_table, timezone, dayfirst)
    flow_part, hints = _flow(table, stage_table, current, field_changes, timezone, dayfirst)
    parts.append(flow_part)
    if deal_table is not None:
        parts.append(dpart)
    if facts is None:
        facts = hints
    else:
        both = facts.merge(hints, on=CASE, how="outer", suffixes=("", "_flow"))
        both[OUTCOME] = both[OUTCOME].fillna(both.pop(OUTCOME + "_flow"))
        facts = both
    return assemble(
        parts,
        source_system="pipedrive",
        name=name or table.source,
        facts=facts,
        pipeline=pipeline,
        system_users=system_users,
        bulk=bulk,
        stages=stage_table,
    )


# --- inputs ------------------------------------------------------------------------------------------
def _stages(obj: Any, encoding: str | None) -> pd.DataFrame | None:
    """Stage table: ``stage_id``, ``stage_label``, ``pipeline_id``, ``pipeline_label``, ``order``, ``cls``."""
    if obj is None:
        return None
    if isinstance(obj, Mapping) and "data" not in obj and all(not isinstance(v, (Mapping, list)) for v in obj.values()):
        df = pd.DataFrame({"id": [str(k) for k in obj], "name": [str(v) for v in obj.values()]})
    else:
        df = load_table(obj, label="stages", encoding=encoding).df
    cols = resolve_columns(df, _STAGES, required=("id", "name"), source="stages", what="Pipedrive stages table")
    out = pd.DataFrame(
        {
            "pipeline_id": text(df, cols["pipeline_id"]),
            "pipeline_label": text(df, cols["pipeline_name"]),
            "stage_id": text(df, cols["id"]),
            "stage_label": text(df, cols["name"], activity=True),
            "order": pd.to_numeric(text(df, cols["order"]), errors="coerce")
            if cols["order"]
            else pd.Series(np.arange(len(df), dtype="float64")),
            "cls": pd.Series(pd.NA, index=range(len(df)), dtype="str"),
        }
    )
    return out


def _source_table(obj: Any, encoding: str | None) -> tuple[str, Table]:
    """("flow" | "deals", table). JSON flow responses are flattened to one row per flow item."""
    if is_json_input(obj):
        data, src, used, warns = load_json(obj, label="deal flow", encoding=encoding)
        if _is_deal_list(data):
            records = data["data"] if isinstance(data, Mapping) else data
            return "deals", Table(pd.json_normalize(records, sep="."), src, used, warns)
        return "flow", Table(_flatten_flow(data), src, used, warns, [f"read {src} as Pipedrive deal flow JSON"])
    table = load_table(obj, label="deal flow", encoding=encoding)
    names = {norm_name(c) for c in table.df.columns}
    if "fieldkey" in names:
        return "flow", table
    if any(str(c).startswith("Deal - ") for c in table.df.columns) or {"status", "stageid"} <= names:
        return "deals", table
    raise LogSchemaError(
        f"{table.source}: neither a deal flow (needs field_key, old_value, new_value, log_time) nor a Deals export "
        f"(Deal - ID, Deal - Stage, Deal - Status...); columns: {list(map(str, table.df.columns))[:12]}",
        source=table.source,
    )


def _is_deal_list(data: Any) -> bool:
    items = data.get("data") if isinstance(data, Mapping) else data
    return (
        isinstance(items, list)
        and bool(items)
        and isinstance(items[0], Mapping)
        and "object" not in items[0]
        and "stage_id" in items[0]
    )


def _flatten_flow(data: Any) -> pd.DataFrame:
    """One row per flow item (deal from ``item_id``/``deal_id``, or the key of ``{deal_id: response}``)."""
    chunks: list[tuple[Any, list[Any]]] = []
    if isinstance(data, Mapping) and "data" in data:
        chunks.append((None, data["data"] or []))
    elif isinstance(data, Mapping):
        chunks += [(k, (v.get("data") if isinstance(v, Mapping) else v) or []) for k, v in data.items()]
    elif isinstance(data, list) and data and isinstance(data[0], Mapping) and "object" in data[0]:
        chunks.append((None, data))
    elif isinstance(data, list):
        chunks += [(None, (d.get("data") if isinstance(d, Mapping) else d) or []) for d in data]
    rows: list[dict[str, Any]] = []
    for key, items in chunks:
        for pos, it in enumerate(items):
            d = it.get("data") or {}
            extra = d.get("additional_data")
            add: Mapping[str, Any] = extra if isinstance(extra, Mapping) else {}
            obj = it.get("object")
            deal = d.get("item_id") if obj == "dealChange" else d.get("deal_id", d.get("item_id"))
            rows.append(
                {
                    k: _str(v)
                    for k, v in {
                        "object": obj,
                        "deal_id": deal if deal is not None else key,
                        "id": d.get("id"),
                        "field_key": d.get("field_key"),
                        "old_value": d.get("old_value"),
                        "new_value": d.get("new_value"),
                        "log_time": d.get("log_time") or it.get("timestamp"),
                        "user_id": d.get("user_id"),
                        "change_source": d.get("change_source"),
                        "is_bulk_update_flag": d.get("is_bulk_update_flag"),
                        "old_value_formatted": add.get("old_value_formatted"),
                        "new_value_formatted": add.get("new_value_formatted"),
                        "subject": d.get("subject"),
                        "type": d.get("type"),
                    }.items()
                }
            )
            rows[-1]["_pos"] = pos
    df = pd.DataFrame(
        rows,
        columns=[
            "object",
            "deal_id",
            "id",
            "field_key",
            "old_value",
            "new_value",
            "log_time",
            "user_id",
            "change_source",
            "is_bulk_update_flag",
            "old_value_formatted",
            "new_value_formatted",
            "subject",
            "type",
            "_pos",
        ],
    )
    return df.astype({c: "object" for c in df.columns if c != "_pos"})


def _str(v: Any) -> str | None:
    if v is None:
        return None
    return json.dumps(v) if isinstance(v, (Mapping, list)) else str(v)


# --- the flow ---------------------------------------------------------------------------------------------
def _labels(ids: pd.Series, fmt: pd.Series, stages: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
    """Stage label/pipeline per id: the stages definition, else the flow's formatted value, else the id."""
    n = len(ids)
    if stages is None:
        info = pd.DataFrame(
            {
                "stage_label": fmt.reset_index(drop=True).fillna(ids.reset_index(drop=True)),
                "pipeline_id": pd.Series(pd.NA, index=range(n), dtype="str"),
                "pipeline_label": pd.Series(pd.NA, index=range(n), dtype="str"),
            }
        )
        return info, np.zeros(n, dtype=bool)
    info = lookup_stages(ids, stages)
    unknown = ids.reset_index(drop=True).notna().to_numpy() & info["stage_label"].isna().to_numpy()
    return info, unknown


def _flow(
    table: Table,
    stages: pd.DataFrame | None,
    current: pd.DataFrame | None,
    field_changes: bool,
    timezone: str | None,
    dayfirst: bool | None,
) -> tuple[Part, pd.DataFrame]:
    """The flow's events, and per deal whose flow starts with a stage move (no ``add_time``) the
    stage it started in (``first_stage``, ``left_censored``)."""
    df = table.df.reset_index(drop=True)
    src = table.source
    cols = resolve_columns(df, _FLOW, required=("deal", "log_time"), source=src, what="Pipedrive deal flow")
    n = len(df)
    deal = text(df, cols["deal"])
    obj = text(df, cols["object"]).fillna("dealChange")
    key = text(df, cols["field_key"])
    old, new = text(df, cols["old_value"]), text(df, cols["new_value"])
    ts_col = str(cols["log_time"])
    tp = parse_time(df, ts_col, source=src, timezone=timezone or "UTC", dayfirst=dayfirst)
    acc = RowAccount(n, src)
    raw = df.drop(columns=["_pos"]) if "_pos" in df.columns else df
    check_core(acc, raw, case=deal, case_col=str(cols["deal"]), tp=tp, ts_col=ts_col)
    is_change = (obj == "dealChange").to_numpy()
    kind = obj.map(_ACTIVITY_OBJECTS).astype("str")
    acc.reject("out_of_scope", str(cols["object"] or "object"), ~is_change & kind.isna().to_numpy(), obj)
    acc.reject("missing_activity", str(cols["field_key"] or "field_key"), is_change & key.isna().to_numpy(), key)

    if cols["id"]:
        order = pd.to_numeric(text(df, cols["id"]), errors="coerce").fillna(-1).astype("int64").to_numpy()
    elif "_pos" in df.columns:
        order = -df["_pos"].to_numpy(dtype="int64")  # the flow lists newest first
    else:
        order = np.arange(n, dtype="int64")
    user = text(df, cols["user"])
    rtype = human_or_system(text(df, cols["change_source"]), HUMAN_SOURCES) if cols["change_source"] else None
    bulk = parse_bool(df[cols["bulk"]]).fillna(False).to_numpy(dtype=bool) if cols["bulk"] else np.zeros(n, dtype=bool)
    base = pd.DataFrame({"case": deal, "ts": tp.values, "order": order, "row": np.arange(n)})

    keep = acc.keep
    is_stage = keep & is_change & (key == "stage_id").fillna(False).to_numpy()
    new_info, new_unknown = _labels(new, text(df, cols["new_fmt"]), stages)
    old_info, _ = _labels(old, text(df, cols["old_fmt"]), stages)
    acc.reject("unknown_stage", str(cols["new_value"]), is_stage & new_unknown, new)
    is_stage &= acc.keep

    # initial stage: the old value of each deal's first stage move, else its current stage
    moves = base[is_stage].assign(
        old=old[is_stage],
        old_label=old_info["stage_label"][is_stage],
        pid=old_info["pipeline_id"][is_stage],
        plab=old_info["pipeline_label"][is_stage],
    )
    first_move = moves.sort_values(["case", "ts", "order", "row"], kind="stable").drop_duplicates("case")
    init = first_move.set_index("case")[["old", "old_label", "pid", "plab"]]
    if current is not None:
        cur = current.set_index(CASE)
        fill = pd.DataFrame(
            {
                "old": cur["stage_id"],
                "old_label": cur["stage_label"],
                "pid": cur["pipeline_id"],
                "plab": cur["pipeline_label"],
            }
        )
        init = init.combine_first(fill) if len(init) else fill
    is_add = keep & is_change & (key == "add_time").fillna(False).to_numpy()
    add_stage = deal.map(init["old"]) if len(init) else pd.Series(pd.NA, index=deal.index, dtype="str")
    acc.reject("creation_marker", str(cols["field_key"]), is_add & add_stage.isna().to_numpy(), key)
    is_add &= acc.keep

    is_status = keep & is_change & (key == "status").fillna(False).to_numpy()
    is_act = keep & ~is_change
    other = keep & is_change & ~is_stage & ~is_add & ~is_status & acc.keep
    if not field_changes:
        acc.reject("not_a_stage_change", str(cols["field_key"]), other, key)
        other &= False

    frames = []
    # creation = entry into the initial stage
    sel = np.flatnonzero(is_add)
    a = base.iloc[sel]
    frames.append(
        make_events(
            len(sel),
            case=a["case"],
            activity=deal.iloc[sel].map(init["old_label"]),
            ts=a["ts"],
            input_row=sel,
            source_object="deal flow",
            event_type="stage_change",
            order=a["order"],
            resource=user.iloc[sel],
            resource_type=None if rtype is None else rtype.iloc[sel],
            stage_id=deal.iloc[sel].map(init["old"]),
            stage_label=deal.iloc[sel].map(init["old_label"]),
            pipeline=deal.iloc[sel].map(init["plab"]).astype("str").fillna(deal.iloc[sel].map(init["pid"])),
            pipeline_id=deal.iloc[sel].map(init["pid"]),
            to_value=deal.iloc[sel].map(init["old_label"]),
            state="open",
            bulk_update=bulk[sel],
        )
    )
    sel = np.flatnonzero(is_stage)
    s = base.iloc[sel]
    ni, oi = new_info.iloc[sel], old_info.iloc[sel]
    frames.append(
        make_events(
            len(sel),
            case=s["case"],
            activity=ni["stage_label"],
            ts=s["ts"],
            input_row=sel,
            source_object="deal flow",
            event_type="stage_change",
            order=s["order"],
            resource=user.iloc[sel],
            resource_type=None if rtype is None else rtype.iloc[sel],
            stage_id=new.iloc[sel],
            stage_label=ni["stage_label"],
            pipeline=ni["pipeline_label"].fillna(ni["pipeline_id"]),
            pipeline_id=ni["pipeline_id"],
            from_value=oi["stage_label"],
            to_value=ni["stage_label"],
            bulk_update=bulk[sel],
        )
    )
    sel = np.flatnonzero(is_status)
    st = base.iloc[sel]
    nv = new.iloc[sel].str.lower()
    ov = old.iloc[sel].str.lower()
    reopened = (nv == "open") & ov.isin(["won", "lost"])
    act = nv.map(_STATUS_ACTIVITY).astype("str").where(~reopened, "Reopened").fillna("Status: " + new.iloc[sel])
    state = nv.where(nv.isin(["won", "lost", "open"]))
    frames.append(
        make_events(
            len(sel),
            case=st["case"],
            activity=act,
            ts=st["ts"],
            input_row=sel,
            source_object="deal flow",
            event_type="status_change",
            order=st["order"],
            resource=user.iloc[sel],
            resource_type=None if rtype is None else rtype.iloc[sel],
            field="status",
            from_value=old.iloc[sel],
            to_value=new.iloc[sel],
            state=state,
            bulk_update=bulk[sel],
        )
    )
    sel = np.flatnonzero(other)
    o = base.iloc[sel]
    frames.append(
        make_events(
            len(sel),
            case=o["case"],
            activity=key.iloc[sel] + " changed",
            ts=o["ts"],
            input_row=sel,
            source_object="deal flow",
            event_type="field_change",
            order=o["order"],
            resource=user.iloc[sel],
            resource_type=None if rtype is None else rtype.iloc[sel],
            field=key.iloc[sel],
            from_value=old.iloc[sel],
            to_value=new.iloc[sel],
            bulk_update=bulk[sel],
        )
    )
    sel = np.flatnonzero(is_act)
    ac = base.iloc[sel]
    typ = text(df, cols["type"]).iloc[sel]
    act_name = kind.iloc[sel].where(typ.isna() | (kind.iloc[sel] != "Activity"), "Activity: " + typ)
    frames.append(
        make_events(
            len(sel),
            case=ac["case"],
            activity=act_name,
            ts=ac["ts"],
            input_row=sel,
            source_object="deal flow",
            event_type="activity",
            order=ac["order"],
            resource=user.iloc[sel],
            extra={"subject": text(df, cols["subject"]).iloc[sel]},
        )
    )
    ev = pd.concat(frames, ignore_index=True)
    table.warnings += time_warnings(tp, acc.keep, src, ts_col)
    part = Part.from_table(table, "deal flow", ev, acc)
    _gaps(ev, part)
    created = set(deal[is_add].dropna())
    late = first_move[~first_move["case"].isin(created)]
    hints = pd.DataFrame(
        {CASE: late["case"].astype("str"), "first_stage": late["old_label"].astype("str"), "left_censored": True}
    )
    # a deal's status starts open and every status change is in the flow
    with_status = set(deal[is_status].dropna())
    all_deals = pd.Series(pd.unique(ev[CASE].dropna()), dtype="str")
    status = pd.Series("open", index=all_deals.index, dtype="str").where(~all_deals.isin(with_status))
    open_ = pd.DataFrame({CASE: all_deals, OUTCOME: status})
    return part, open_.merge(hints, on=CASE, how="left")


def _gaps(ev: pd.DataFrame, part: Part) -> None:
    """Warn when a stage move's old stage is not the stage the previous event entered, and mark
    deals whose flow starts with a move (no ``add_time``) as left-censored."""
    st = ev[ev["stage_label"].notna()].sort_values([CASE, TIMESTAMP, "_order", "input_row"], kind="stable")
    first = (st[CASE] != st[CASE].shift()).to_numpy()
    prev = st["to_value"].shift()
    gap = ~first & st["from_value"].notna().to_numpy() & (st["from_value"] != prev).fillna(False).to_numpy()
    if gap.any():
        part.warnings.append(
            IngestWarning(
                "history_gaps",
                f"{int(gap.sum()):,} stage moves start from a stage other than the one the deal last "
                "entered: flow items are missing in between",
                int(gap.sum()),
                tuple(int(r) for r in st.loc[gap, "input_row"].to_numpy()[:10]),
                part.account.source,
            )
        )


# --- deals -----------------------------------------------------------------------------------------------
def _deal_columns(table: Table) -> dict[str, str | None]:
    return resolve_columns(table.df, _DEAL, required=("id",), source=table.source, what="Pipedrive deals table")


def _current_stage(df: pd.DataFrame, cols: dict[str, str | None], stages: pd.DataFrame | None) -> pd.DataFrame:
    """Current stage id/label/pipeline per deal row (exports hold labels, the API ids)."""
    raw = text(df, cols["stage"], activity=True)
    pipe = text(df, cols["pipeline"])
    out = pd.DataFrame({"stage_id": raw, "stage_label": raw, "pipeline_id": pipe, "pipeline_label": pipe})
    if stages is not None and cols["stage"]:
        by_id = lookup_stages(raw, stages)
        hit = by_id["stage_label"].notna()
        lab = stages.drop_duplicates("stage_label").set_index("stage_label")
        by_label_id = raw.map(lab["stage_id"])
        out["stage_id"] = raw.where(hit, by_label_id)
        out["stage_label"] = by_id["stage_label"].fillna(raw)
        out["pipeline_id"] = by_id["pipeline_id"].fillna(raw.map(lab["pipeline_id"])).fillna(pipe)
        out["pipeline_label"] = by_id["pipeline_label"].fillna(raw.map(lab["pipeline_label"])).fillna(pipe)
    return out.astype("str")


def _deal_facts(
    table: Table, stages: pd.DataFrame | None, timezone: str | None, dayfirst: bool | None
) -> tuple[pd.DataFrame, Part, pd.DataFrame]:
    df = table.df.reset_index(drop=True)
    cols = _deal_columns(table)
    case = text(df, cols["id"])
    status = text(df, cols["status"]).str.lower()
    facts = pd.DataFrame({CASE: case, OUTCOME: status.where(status.isin(["won", "lost", "open"]))})
    facts["is_deleted"] = (status == "deleted").fillna(False).to_numpy(dtype=bool)
    cur = _current_stage(df, cols, stages)
    facts["current_stage"] = cur["stage_label"]
    for role, target in (("title", "name"), ("currency", "currency"), ("lost_reason", "lost_reason")):
        if cols[role]:
            facts[target] = text(df, cols[role])
    if cols["pipeline"]:
        facts["pipeline"] = cur["pipeline_label"]
    if cols["value"]:
        facts[AMOUNT] = parse_amount(df[cols["value"]])[0].to_numpy()
    if cols["owner"]:
        facts[OWNER] = text(df, cols["owner"])
    if cols["add_time"]:
        tp = parse_time(df, cols["add_time"], source=table.source, timezone=timezone or "UTC", dayfirst=dayfirst)
        facts["created_at"] = tp.values.array
        facts["created_date_only"] = tp.date_only
    part, keep = deal_table_part(table, df, case, str(cols["id"]))
    current = cur.assign(**{CASE: case})[keep]
    return facts[keep], part, current


def _deals_only(
    table: Table, stages: pd.DataFrame | None, timezone: str | None, dayfirst: bool | None
) -> tuple[Part, pd.DataFrame, list[IngestWarning]]:
    """The Deals export: current stage at its last change, Won/Lost at their times; no history."""
    df = table.df.reset_index(drop=True)
    src = table.source
    cols = _deal_columns(table)
    n = len(df)
    case = text(df, cols["id"])
    tz = timezone or "UTC"
    created = parse_time(df, cols["add_time"], source=src, timezone=tz, dayfirst=dayfirst)
    changed = parse_time(df, cols["stage_change_time"], source=src, timezone=tz, dayfirst=dayfirst)
    won = parse_time(df, cols["won_time"], source=src, timezone=tz, dayfirst=dayfirst)
    lost = parse_time(df, cols["lost_time"], source=src, timezone=tz, dayfirst=dayfirst)
    cur = _current_stage(df, cols, stages)
    stage_ts = changed.values.fillna(created.values)
    status = text(df, cols["status"]).str.lower()
    acc = RowAccount(n, src)
    acc.reject("missing_case_id", str(cols["id"]), case.isna().to_numpy(), case)
    has_stage = cur["stage_label"].notna().to_numpy() & stage_ts.notna().to_numpy()
    has_any = has_stage | won.values.notna().to_numpy() | lost.values.notna().to_numpy()
    ts_col = str(cols["stage_change_time"] or cols["add_time"] or cols["id"])
    bad = (changed.unparsable | created.unparsable | won.unparsable | lost.unparsable) & ~has_any
    acc.reject("unparsable_timestamp", ts_col, bad, df[ts_col])
    acc.reject("missing_timestamp", ts_col, ~has_any, df[ts_col])
    acc.reject("duplicate_row", "*", duplicated_rows(df), ["(whole row)"] * n)
    later = case.where(acc.keep).duplicated(keep="last").to_numpy() & case.notna().to_numpy()
    acc.reject("superseded_row", str(cols["id"]), later, case)
    keep = acc.keep
    owner = text(df, cols["owner"])
    frames = []
    sel = np.flatnonzero(keep & has_stage)
    c = cur.iloc[sel]
    frames.append(
        make_events(
            len(sel),
            case=case.iloc[sel],
            activity=c["stage_label"],
            ts=stage_ts.iloc[sel],
            input_row=sel,
            source_object="deals export",
            event_type="stage_change",
            order=0,
            resource=owner.iloc[sel],
            stage_id=c["stage_id"],
            stage_label=c["stage_label"],
            pipeline=c["pipeline_label"],
            pipeline_id=c["pipeline_id"],
            to_value=c["stage_label"],
            state="open",
        )
    )
    for k, (tpx, label) in enumerate(((won, "won"), (lost, "lost")), start=1):
        sel = np.flatnonzero(keep & tpx.values.notna().to_numpy() & (status == label).fillna(True).to_numpy())
        frames.append(
            make_events(
                len(sel),
                case=case.iloc[sel],
                activity=_STATUS_ACTIVITY[label],
                ts=tpx.values.iloc[sel],
                input_row=sel,
                source_object="deals export",
                event_type="status_change",
                order=k,
                resource=owner.iloc[sel],
                field="status",
                to_value=label,
                state=label,
            )
        )
    facts, _, _ = _deal_facts(table, stages, timezone, dayfirst)
    n_deals = int(keep.sum())
    warns = [
        IngestWarning(
            "history_absent",
            f"{src} is a Deals export without stage history: each of its {n_deals:,} deals yields only its "
            "current stage (at 'Last stage change') and its won/lost time; export the deal flow "
            "(/v1/deals/{id}/flow) for the path",
            n_deals,
            source=src,
        )
    ]
    for tpx, col in ((changed, cols["stage_change_time"]), (created, cols["add_time"])):
        if col:
            table.warnings += time_warnings(tpx, keep, src, str(col))
    return Part.from_table(table, "deals export", pd.concat(frames, ignore_index=True), acc), facts, warns
