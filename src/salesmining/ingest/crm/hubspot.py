"""HubSpot: deal-stage history (API JSON or long table) or the wide deals export → EventLog."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.core.schema import AMOUNT, CASE, OUTCOME, OWNER
from salesmining.ingest.crm.accounting import RowAccount, check_core, duplicated_rows
from salesmining.ingest.crm.assemble import assemble
from salesmining.ingest.crm.columns import human_or_system, parse_bool, resolve_columns, text
from salesmining.ingest.crm.events import UNKNOWN_STATE, Part, deal_table_part, make_events
from salesmining.ingest.crm.inputs import Input, Source, Table, is_json_input, load_json, load_table
from salesmining.ingest.crm.stages import STAGE_TABLE_COLUMNS, lookup_stages, outcome_classes, sort_stream
from salesmining.ingest.crm.times import parse_time, time_warnings
from salesmining.ingest.options import BulkRule, ReadOptions
from salesmining.ingest.timestamps import parse_timestamps
from salesmining.ingest.values import parse_amount
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestWarning

__all__ = ["read_hubspot"]

#: HubSpot's default deal pipeline: fixed internal stage ids (labels can be renamed in a portal).
DEFAULT_PIPELINE = (
    ("appointmentscheduled", "Appointment Scheduled", "open"),
    ("qualifiedtobuy", "Qualified To Buy", "open"),
    ("presentationscheduled", "Presentation Scheduled", "open"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "open"),
    ("contractsent", "Contract Sent", "open"),
    ("closedwon", "Closed Won", "won"),
    ("closedlost", "Closed Lost", "lost"),
)
#: ``sourceType`` values that are a person working in HubSpot; every other non-empty value is automation.
HUMAN_SOURCES = ("CRM_UI", "MOBILE_IOS", "MOBILE_ANDROID", "SALES")

_LONG = {
    "deal": ("deal_id", "dealId", "objectId", "hs_object_id", "Record ID", "id"),
    "value": ("value", "dealstage", "stage_id", "stage"),
    "timestamp": ("timestamp", "date_entered", "changed_at", "time"),
    "source": ("sourceType", "source_type", "source"),
    "user": ("updatedByUserId", "updated_by_user_id", "sourceId", "source_id"),
}
_DEAL = {
    "id": ("Record ID", "hs_object_id", "id", "dealId", "deal_id", "Deal ID", "objectId"),
    "name": ("dealname", "Deal Name"),
    "pipeline": ("pipeline", "Pipeline"),
    "stage": ("dealstage", "Deal Stage"),
    "amount": ("amount", "Amount"),
    "owner": ("hubspot_owner_id", "Deal owner", "Deal Owner"),
    "createdate": ("createdate", "Create Date"),
    "closedate": ("closedate", "Close Date"),
    "won": ("hs_is_closed_won", "Is Closed Won"),
    "closed": ("hs_is_closed", "Is Closed", "Is Deal Closed?"),
}
_ENTERED_LABEL = re.compile(r'^\s*date\s+entered\s+"(?P<inner>.+)"\s*$', re.IGNORECASE)
_ENTERED_ID = re.compile(r"^hs_(?P<v2>v2_)?date_entered_(?P<id>.+)$")
_IN_PIPE = re.compile(r"^(?P<label>.*\S)\s+\((?P<pipe>[^()]*)\)$")
_CUMULATIVE = re.compile(
    r'^(?:hs_v2_cumulative_time_in_(?P<id>.+)|\s*cumulative\s+time\s+in\s+"(?P<inner>.+)"\s*)$', re.IGNORECASE
)
_LATEST = re.compile(
    r'^(?:hs_v2_latest_time_in_(?P<id>.+)|hs_time_in_(?P<lid>.+)|\s*latest\s+time\s+in\s+"(?P<inner>.+)"\s*)$',
    re.IGNORECASE,
)


def read_hubspot(
    history: Input,
    *,
    pipelines: Source | Mapping[str, Any] | list[Any] | None = None,
    pipeline: str | None = None,
    deals: Input | None = None,
    stage_map: Mapping[str, str] | None = None,
    system_users: Iterable[str] = (),
    encoding: str | None = None,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    bulk_min_cases: int = 10,
    bulk_window: float = 60.0,
    name: str | None = None,
) -> EventLog:
    """Read HubSpot deal-stage history into an event log.

    ``history`` may be any of three shapes (detected from the content):

    * **API history** — the JSON of ``GET /crm/v3/objects/deals/{id}?propertiesWithHistory=dealstage``
      (one deal, a list, or a page with ``results``; versions ``{value, timestamp, sourceType,
      updatedByUserId}`` with ISO ``Z`` times) or of the legacy v1 deals API
      (``properties.dealstage.versions`` with epoch-millisecond timestamps);
    * **long table** — one row per stage version: deal id, ``value`` (stage id) and ``timestamp``
      (e.g. Fivetran's ``DEAL_STAGE`` with ``date_entered``), optionally ``sourceType`` and
      ``updatedByUserId``;
    * **wide export** — the deals export of the HubSpot UI with ``Date entered "<Stage> (<Pipeline>)"``
      columns, or deals with ``hs_v2_date_entered_<stageId>`` / legacy ``hs_date_entered_<stageId>``
      properties. These keep only the *latest* entry into each stage, so loops are invisible: the
      log carries ``meta["loops_unobservable"] = True`` and a ``loops_unobservable`` warning.

    Consecutive versions with the same stage are rejected as ``not_a_stage_change``.

    Parameters
    ----------
    pipelines:
        The pipeline definition: JSON of ``GET /crm/v3/pipelines/deals`` (or one pipeline), a
        table with ``pipeline_id``, ``pipeline_label``, ``stage_id``, ``stage_label`` and
        ``outcome`` (or ``is_closed`` + ``probability``), a dict ``{stage_id: label}``, or
        ``{stage_id: {"label": ..., "outcome": "won", "pipeline": ..., "order": 3}}``. Gives
        labels and won/lost (``metadata.isClosed`` with ``probability`` 1.0 = won, 0.0 = lost).
        History values it does not know are rejected as ``unknown_stage``. Without it, HubSpot's
        default pipeline ids (``closedwon``...) are recognised and other ids are their own label.
    pipeline:
        Keep only this pipeline (id or label); other pipelines' rows are rejected as ``other_pipeline``.
    deals:
        Deal records (UI export, API objects, or a table) for the case table: name, amount, owner,
        pipeline, create date and ``hs_is_closed_won``/``hs_is_closed`` (the outcome).
    stage_map:
        Stage id or label → ``"won"``/``"lost"``/``"open"``, overriding the pipeline definition;
        stages neither names are open.
    system_users:
        User ids of integration users; ``sourceType`` other than CRM_UI/mobile already marks automation.
    encoding, timezone, dayfirst:
        As in :func:`salesmining.read_csv`. The UI export shows times in the portal's time zone: pass it.
    bulk_min_cases, bulk_window, name:
        As in :func:`salesmining.read_salesforce`.

    Returns
    -------
    EventLog
        Stage events named by stage label (``"<label> (<pipeline>)"`` when several pipelines).

    Examples
    --------
    >>> import salesmining as sm
    >>> deal = {"id": "7", "propertiesWithHistory": {"dealstage": [
    ...     {"value": "closedwon", "timestamp": "2024-05-02T14:10:00.000Z", "sourceType": "CRM_UI"},
    ...     {"value": "qualifiedtobuy", "timestamp": "2024-04-03T10:15:00.000Z", "sourceType": "CRM_UI"},
    ...     {"value": "appointmentscheduled", "timestamp": "2024-04-01T09:00:00.000Z", "sourceType": "API"}]}}
    >>> log = sm.read_hubspot(deal)
    >>> log.to_frame()[["concept:name", "resource_type"]].values.tolist()
    [['Appointment Scheduled', 'system'], ['Qualified To Buy', 'human'], ['Closed Won', 'human']]
    >>> log.cases["outcome"].tolist()
    ['won']
    """
    ReadOptions(encoding=encoding, timezone=timezone, dayfirst=dayfirst, name=name)
    bulk = BulkRule(bulk_min_cases, bulk_window)  # the option values are checked here, once
    notes: list[str] = []
    warnings: list[IngestWarning] = []
    stages, stage_notes, from_definition = _pipelines(pipelines, encoding)
    notes += stage_notes
    if stage_map:
        stages = _apply_stage_map(stages, outcome_classes(stage_map, what="stage_map"))
    meta: dict[str, Any] = {}
    kind, table, deals_from_history = _history_table(history, encoding)
    if kind == "wide":
        part, facts, wide_meta = _wide(table, stages, from_definition, timezone, dayfirst, warnings)
        meta.update(wide_meta)
    else:
        part = _long(table, stages, from_definition, timezone, dayfirst, json_order=kind == "json")
        facts = None
    parts = [part]
    deal_table = deals_from_history if deals is None else _deal_records(deals, encoding)
    if deal_table is not None and kind != "wide":
        dfacts, dpart = _deal_facts(deal_table, stages, from_definition, timezone, dayfirst)
        facts = dfacts
        if deals is not None:
            parts.append(dpart)
    return assemble(
        parts,
        source_system="hubspot",
        name=name or table.source,
        facts=facts,
        pipeline=pipeline,
        system_users=system_users,
        bulk=bulk,
        meta=meta,
        stages=stages if from_definition else None,
        warnings=warnings,
        notes=notes,
    )


# --- pipeline definitions -----------------------------------------------------------------------------
def _pipelines(obj: Any, encoding: str | None) -> tuple[pd.DataFrame, list[str], bool]:
    """The stage table and whether it came from the user (``False``: HubSpot's default pipeline ids)."""
    if obj is None:
        t = pd.DataFrame(
            {
                "pipeline_id": "default",
                "pipeline_label": pd.NA,
                "stage_id": [s[0] for s in DEFAULT_PIPELINE],
                "stage_label": [s[1] for s in DEFAULT_PIPELINE],
                "order": np.arange(len(DEFAULT_PIPELINE), dtype="float64"),
                "cls": [s[2] for s in DEFAULT_PIPELINE],
            }
        ).astype({"pipeline_label": "str"})
        return (
            t,
            [
                "no pipelines= given: HubSpot default-pipeline stage ids are named by their default labels; "
                "other stage ids are used as labels and have no won/lost class"
            ],
            False,
        )
    if (
        isinstance(obj, Mapping)
        and obj
        and all(isinstance(v, str) for v in obj.values())
        and "results" not in obj
        and "stages" not in obj
    ):
        t = pd.DataFrame(
            {
                "pipeline_id": pd.NA,
                "pipeline_label": pd.NA,
                "stage_id": list(map(str, obj)),
                "stage_label": list(obj.values()),
                "order": np.arange(len(obj), dtype="float64"),
                "cls": pd.NA,
            }
        )
        return t.astype({c: "str" for c in STAGE_TABLE_COLUMNS if c != "order"}), [], True
    if (
        isinstance(obj, Mapping)
        and obj
        and all(isinstance(v, Mapping) for v in obj.values())
        and not any(k in obj for k in ("results", "stages"))
    ):
        # {stage_id: {"label": ..., "outcome": "won", "pipeline": ..., "order": ...}}
        t = pd.DataFrame(
            [
                {
                    "stage_id": str(k),
                    "stage_label": v.get("label"),
                    "outcome": v.get("outcome"),
                    "pipeline_id": v.get("pipeline"),
                    "pipeline_label": v.get("pipeline"),
                    "order": v.get("order", i),
                }
                for i, (k, v) in enumerate(obj.items())
            ]
        )
        return _classify(t), [], True
    if is_json_input(obj):
        data = load_json(obj, label="pipelines", encoding=encoding)[0]
        pipes = data.get("results", [data]) if isinstance(data, Mapping) else data
        rows = []
        for p in pipes:
            for s in p.get("stages", []):
                md = s.get("metadata") or {}
                rows.append(
                    {
                        "pipeline_id": str(p.get("id", p.get("pipelineId", ""))) or pd.NA,
                        "pipeline_label": p.get("label"),
                        "stage_id": str(s.get("id", s.get("stageId", ""))),
                        "stage_label": s.get("label"),
                        "order": s.get("displayOrder"),
                        "is_closed": md.get("isClosed"),
                        "probability": md.get("probability"),
                    }
                )
        t = pd.DataFrame(rows)
        if not len(t):
            raise LogSchemaError("pipelines: no stages found (expected GET /crm/v3/pipelines/deals JSON)")
    else:
        t = load_table(obj, label="pipelines", encoding=encoding).df
        cols = resolve_columns(
            t,
            {
                "pipeline_id": ("pipeline_id", "pipelineId", "pipeline"),
                "pipeline_label": ("pipeline_label", "pipeline_name"),
                "stage_id": ("stage_id", "stageId", "id"),
                "stage_label": ("stage_label", "label", "stage_name"),
                "order": ("display_order", "displayOrder", "order"),
                "is_closed": ("is_closed", "isClosed"),
                "probability": ("probability",),
                "outcome": ("outcome", "cls"),
            },
            required=("stage_id",),
            source="pipelines",
            what="pipeline table",
        )
        t = pd.DataFrame({k: (t[v].to_numpy() if v else pd.NA) for k, v in cols.items()}, index=range(len(t)))
    return _classify(t), [], True


def _classify(t: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=range(len(t)))
    for c in ("pipeline_id", "pipeline_label", "stage_id", "stage_label"):
        out[c] = text(t, c) if c in t.columns else pd.Series(pd.NA, index=out.index, dtype="str")
    out["stage_label"] = out["stage_label"].fillna(out["stage_id"])
    out["order"] = (
        pd.to_numeric(t["order"], errors="coerce").astype("float64")
        if "order" in t.columns
        else np.arange(len(t), dtype="float64")
    )
    cls = pd.Series(pd.NA, index=out.index, dtype="str")
    if "outcome" in t.columns:
        cls = text(t, "outcome").str.lower().where(lambda s: s.isin(["won", "lost", "open"]))
    if "is_closed" in t.columns:
        closed = parse_bool(t["is_closed"])
        prob = (
            pd.to_numeric(text(t, "probability"), errors="coerce")
            if "probability" in t.columns
            else pd.Series(np.nan, index=out.index)
        )
        derived = pd.Series(pd.NA, index=out.index, dtype="str")
        derived[(closed.fillna(False) & (prob >= 1.0)).to_numpy(dtype=bool)] = "won"
        derived[(closed.fillna(False) & (prob <= 0.0)).to_numpy(dtype=bool)] = "lost"
        derived[(~closed.fillna(True)).to_numpy(dtype=bool)] = "open"
        cls = cls.fillna(derived)
    out["cls"] = cls.astype("str")
    return out


def _apply_stage_map(stages: pd.DataFrame, classes: Mapping[str, str]) -> pd.DataFrame:
    by_id = stages["stage_id"].map(classes)
    by_label = stages["stage_label"].map(classes)
    return stages.assign(cls=by_id.fillna(by_label).fillna(stages["cls"]).fillna("open").astype("str"))


# --- reading the history ------------------------------------------------------------------------------------
def _history_table(obj: Any, encoding: str | None) -> tuple[str, Table, Table | None]:
    """("json" | "long" | "wide", the history table, deal records found alongside it)."""
    if is_json_input(obj):
        data, source, used, warns = load_json(obj, label="deals", encoding=encoding)
        records = _deal_objects(data)
        versions, props = _flatten(records)
        deals_t = Table(props, source, used, list(warns), [f"read {source} as HubSpot deal JSON"])
        if len(versions):
            return (
                "json",
                Table(
                    versions,
                    source,
                    used,
                    warns,
                    [f"{source}: {len(versions):,} dealstage versions of {props.shape[0]:,} deals"],
                ),
                deals_t,
            )
        if any(_ENTERED_ID.match(str(c)) for c in props.columns):
            return "wide", deals_t, None
        raise LogSchemaError(
            f"{source}: no propertiesWithHistory.dealstage versions and no hs_v2_date_entered_* "
            "properties; request ?propertiesWithHistory=dealstage",
            source=source,
        )
    table = load_table(obj, label="deal_stage_history", encoding=encoding)
    if any(_ENTERED_LABEL.match(str(c)) or _ENTERED_ID.match(str(c)) for c in table.df.columns):
        return "wide", table, None
    return "long", table, None


def _deal_records(obj: Any, encoding: str | None) -> Table:
    """Deal records for the case table: HubSpot JSON objects (properties flattened) or a table."""
    if is_json_input(obj):
        data, source, used, warns = load_json(obj, label="deals", encoding=encoding)
        return Table(_flatten(_deal_objects(data))[1], source, used, list(warns))
    return load_table(obj, label="deals", encoding=encoding)


def _deal_objects(data: Any) -> list[Mapping[str, Any]]:
    if isinstance(data, Mapping):
        for key in ("results", "deals"):
            if isinstance(data.get(key), list):
                return list(data[key])
        return [data]
    if isinstance(data, list):
        out: list[Mapping[str, Any]] = []
        for item in data:
            out += (
                _deal_objects(item) if isinstance(item, Mapping) and ("results" in item or "deals" in item) else [item]
            )
        return out
    raise LogSchemaError("HubSpot JSON must be a deal object, a list of deals, or a page with 'results'")


def _flatten(records: list[Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per dealstage version, one row per deal with its current property values)."""
    rows: list[dict[str, Any]] = []
    props: list[dict[str, Any]] = []
    for rec in records:
        deal = rec.get("id", rec.get("dealId", rec.get("objectId")))
        p = rec.get("properties") or {}
        flat = {k: (v.get("value") if isinstance(v, Mapping) else v) for k, v in p.items()}
        props.append({"id": deal, **flat})
        hist = (rec.get("propertiesWithHistory") or {}).get("dealstage")
        if hist is None and isinstance(p.get("dealstage"), Mapping):
            hist = p["dealstage"].get("versions")
        for pos, v in enumerate(hist or []):
            rows.append(
                {
                    "deal_id": deal,
                    "value": v.get("value"),
                    "timestamp": v.get("timestamp"),
                    "sourceType": v.get("sourceType", v.get("source")),
                    "updatedByUserId": v.get("updatedByUserId", v.get("sourceId")),
                    "_pos": pos,
                }
            )
    versions = pd.DataFrame(rows, columns=["deal_id", "value", "timestamp", "sourceType", "updatedByUserId", "_pos"])
    for c in ("deal_id", "value", "timestamp", "sourceType", "updatedByUserId"):
        versions[c] = versions[c].map(lambda v: None if v is None else str(v)).astype("object")
    frame = pd.DataFrame(props)
    if len(frame):
        frame["id"] = frame["id"].map(lambda v: None if v is None else str(v))
    return versions, frame


def _stage_info(values: pd.Series, stages: pd.DataFrame, from_definition: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Lookup of stage ids; unknown ids are an error only against a user-given definition."""
    info = lookup_stages(values, stages)
    unknown = values.notna().to_numpy() & info["stage_label"].isna().to_numpy()
    if not from_definition:
        info["stage_label"] = info["stage_label"].fillna(values.reset_index(drop=True))
        info["pipeline_id"] = info["pipeline_id"].where(~unknown, pd.NA)
        unknown = np.zeros(len(values), dtype=bool)
    return info, unknown


def _long(
    table: Table,
    stages: pd.DataFrame,
    from_definition: bool,
    timezone: str | None,
    dayfirst: bool | None,
    *,
    json_order: bool,
) -> Part:
    df = table.df.reset_index(drop=True)
    src = table.source
    cols = resolve_columns(
        df, _LONG, required=("deal", "value", "timestamp"), source=src, what="HubSpot deal-stage history"
    )
    case = text(df, cols["deal"])
    value = text(df, cols["value"])
    ts_col = str(cols["timestamp"])
    tp = parse_time(df, ts_col, source=src, timezone=timezone or "UTC", dayfirst=dayfirst)
    acc = RowAccount(len(df), src)
    raw = df.drop(columns=["_pos"]) if "_pos" in df.columns else df
    check_core(
        acc,
        raw,
        case=case,
        case_col=str(cols["deal"]),
        tp=tp,
        ts_col=ts_col,
        activity=value,
        activity_col=cols["value"],
    )
    info, unknown = _stage_info(value, stages, from_definition)
    acc.reject("unknown_stage", str(cols["value"]), unknown, value)
    keep = acc.keep
    # the API lists versions newest first: among equal timestamps the later-listed one is older
    order = -df["_pos"].to_numpy(dtype="int64") if json_order and "_pos" in df.columns else np.arange(len(df))
    s = sort_stream(
        pd.DataFrame({"case": case, "ts": tp.values, "order": order, "row": np.arange(len(df)), "stage": value})[keep]
    )
    acc.reject("not_a_stage_change", str(cols["value"]), np.isin(np.arange(len(df)), s.loc[~s["change"], "row"]), value)
    st = s[s["change"].to_numpy()]
    rows = st["row"].to_numpy()
    inf = info.iloc[rows].reset_index(drop=True)
    prev_label = lookup_stages(st["prev"], stages)["stage_label"].fillna(st["prev"].reset_index(drop=True))
    rtype = human_or_system(text(df, cols["source"]), HUMAN_SOURCES).iloc[rows] if cols["source"] else None
    ev = make_events(
        len(st),
        case=st["case"],
        activity=inf["stage_label"],
        ts=st["ts"],
        input_row=rows,
        source_object="dealstage history",
        event_type="stage_change",
        order=st["order"],
        resource=text(df, cols["user"]).iloc[rows] if cols["user"] else None,
        resource_type=rtype,
        stage_id=st["stage"],
        stage_label=inf["stage_label"],
        pipeline=inf["pipeline_label"].fillna(inf["pipeline_id"]),
        pipeline_id=inf["pipeline_id"],
        from_value=prev_label.where(~st["first"].to_numpy()),
        to_value=inf["stage_label"],
        state=inf["cls"].fillna(UNKNOWN_STATE),
    )
    table.warnings += time_warnings(tp, keep, src, ts_col)
    return Part.from_table(table, "dealstage history", ev, acc)


# --- wide export ---------------------------------------------------------------------------------------------
def _entry_columns(columns: Iterable[object]) -> pd.DataFrame:
    """The stage-entry columns of a wide export: column, position, stage id and/or (label, pipeline)."""
    rows = []
    v2_ids = {m.group("id") for c in columns if (m := _ENTERED_ID.match(str(c))) and m.group("v2")}
    for pos, c in enumerate(columns):
        name = str(c)
        if m := _ENTERED_ID.match(name):
            sid = m.group("id")
            if sid == "current_stage" or (not m.group("v2") and sid in v2_ids):
                continue
            rows.append({"column": name, "pos": pos, "stage_id": sid, "label": pd.NA, "pipe": pd.NA})
        elif m := _ENTERED_LABEL.match(name):
            inner = m.group("inner").strip()
            pm = _IN_PIPE.match(inner)
            rows.append(
                {
                    "column": name,
                    "pos": pos,
                    "stage_id": pd.NA,
                    "label": pm.group("label") if pm else inner,
                    "pipe": pm.group("pipe") if pm else pd.NA,
                }
            )
    return pd.DataFrame(rows, columns=["column", "pos", "stage_id", "label", "pipe"])


def _label_lookup(entries: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
    """Stage-table rows for label-form columns: by (pipeline label, stage label), else by a unique label."""
    key = stages["pipeline_label"].str.lower() + "\x1f" + stages["stage_label"].str.lower()
    by_pair = stages.assign(k=key).dropna(subset=["k"]).drop_duplicates("k").set_index("k")
    lab = stages["stage_label"].str.lower()
    unique = stages[~lab.duplicated(keep=False)].assign(k=lab).dropna(subset=["k"]).set_index("k")
    k1 = entries["pipe"].astype("str").str.lower() + "\x1f" + entries["label"].astype("str").str.lower()
    k2 = entries["label"].astype("str").str.lower()
    out = pd.DataFrame(index=entries.index)
    for c in ("pipeline_id", "stage_id", "order", "cls"):
        out[c] = k1.map(by_pair[c]).astype("str").fillna(k2.map(unique[c])) if len(stages) else pd.NA
    return out


def _wide(
    table: Table,
    stages: pd.DataFrame,
    from_definition: bool,
    timezone: str | None,
    dayfirst: bool | None,
    warnings: list[IngestWarning],
) -> tuple[Part, pd.DataFrame, dict[str, Any]]:
    df = table.df.reset_index(drop=True)
    src = table.source
    entries = _entry_columns(df.columns)
    ids_form = entries[entries["stage_id"].notna()]
    if len(ids_form) and len(ids_form) < len(entries):
        entries = ids_form.reset_index(drop=True)
        table.notes.append(
            f"{src}: both hs_*date_entered_<id> and 'Date entered \"...\"' columns; the id columns are used"
        )
    cols = resolve_columns(df, _DEAL, required=("id",), source=src, what="HubSpot deals export")
    case = text(df, cols["id"])
    n = len(df)
    acc = RowAccount(n, src)
    acc.reject("missing_case_id", str(cols["id"]), case.isna().to_numpy(), df[cols["id"]])
    acc.reject("duplicate_row", "*", duplicated_rows(df), ["(whole row)"] * n)

    # stage metadata per entry column
    if entries["stage_id"].notna().any():
        info = lookup_stages(entries["stage_id"], stages)
        label = info["stage_label"].fillna(entries["stage_id"])
        pipe_label = info["pipeline_label"].fillna(info["pipeline_id"])
        known = info["stage_label"].notna().to_numpy() | (not from_definition)
        sid = entries["stage_id"]
    else:
        info = (
            _label_lookup(entries, stages)
            if from_definition
            else pd.DataFrame(
                {
                    c: pd.Series(pd.NA, index=entries.index, dtype="object")
                    for c in ("pipeline_id", "stage_id", "order", "cls")
                }
            )
        )
        label = entries["label"]
        pipe_label = entries["pipe"]
        known = np.ones(len(entries), dtype=bool)
        sid = info["stage_id"]
    entries = entries.assign(
        stage_id=sid.astype("str"),
        label=label.astype("str"),
        pipe=pipe_label.astype("str"),
        pipeline_id=info["pipeline_id"].astype("str"),
        order=pd.to_numeric(info["order"], errors="coerce"),
        cls=info["cls"].astype("str"),
        known=known,
    )

    # melt: one candidate event per non-empty entry cell, parsed together (one day/month decision)
    cells = df[entries["column"].tolist()].astype("object")
    cells.columns = range(len(entries))
    long = cells.stack(future_stack=True).rename("raw").reset_index()
    long.columns = ["row", "e", "raw"]
    present = long["raw"].map(
        lambda v: v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v).strip() != ""
    )
    long = long[present.to_numpy()].reset_index(drop=True)
    tp = parse_timestamps(long["raw"], column="Date entered", source=src, timezone=timezone, dayfirst=dayfirst)
    lo, hi = pd.Timestamp("1971-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC")
    good = tp.values.notna().to_numpy() & ~((tp.values < lo) | (tp.values >= hi)).to_numpy()
    good &= entries["known"].to_numpy()[long["e"].to_numpy()]
    rows_any = np.zeros(n, dtype=bool)
    rows_any[long["row"].to_numpy()] = True
    rows_good = np.zeros(n, dtype=bool)
    rows_good[long.loc[good, "row"].to_numpy()] = True
    first_col = entries["column"].iloc[0] if len(entries) else "Date entered"
    acc.reject("missing_timestamp", first_col, ~rows_any, ["(no stage date)"] * n)
    bad_rows = long.loc[~good].drop_duplicates("row")
    bad_vals = pd.Series([""] * n, dtype="object")
    bad_vals[bad_rows["row"].to_numpy()] = bad_rows["raw"].astype("str").to_numpy()
    unknown_only = rows_any & ~rows_good
    acc.reject("unparsable_timestamp", first_col, unknown_only, bad_vals)
    keep = acc.keep
    use = good & keep[long["row"].to_numpy()]
    dropped = (~good) & keep[long["row"].to_numpy()]
    if dropped.any():
        warnings.append(
            IngestWarning(
                "dropped_values",
                f"{int(dropped.sum()):,} stage dates in kept rows could not be read (or name a stage "
                f"the pipeline definition does not know), e.g. {long.loc[dropped, 'raw'].iloc[0]!r}; "
                "those stage entries are missing",
                int(dropped.sum()),
                tuple(int(r) for r in long.loc[dropped, "row"].to_numpy()[:10]),
                src,
            )
        )
    sel = long[use]
    e = entries.iloc[sel["e"].to_numpy()].reset_index(drop=True)
    order = e["order"].fillna(e["pos"].astype("float64")).to_numpy()
    ev = make_events(
        len(sel),
        case=case.iloc[sel["row"].to_numpy()],
        activity=e["label"],
        ts=tp.values[use],
        input_row=sel["row"],
        source_object="deals export (Date entered)",
        event_type="stage_change",
        order=(order * 1000).astype("int64"),
        stage_id=e["stage_id"],
        stage_label=e["label"],
        pipeline=e["pipe"],
        pipeline_id=e["pipeline_id"].fillna(e["pipe"]),
        to_value=e["label"],
        state=e["cls"].fillna(UNKNOWN_STATE),
    )
    n_cases = int(pd.Series(case[keep]).nunique())
    warnings.append(
        IngestWarning(
            "loops_unobservable",
            f"{src}: 'Date entered' columns keep only the latest entry into each stage, so a deal that went back "
            f"to a stage shows only its last visit: loops, rework and repeated reopenings cannot be measured for these "
            f"{n_cases:,} deals (use the dealstage history API for them)",
            n_cases,
            source=src,
        )
    )
    table.warnings += time_warnings(tp, use, src, "Date entered", rows=long["row"].to_numpy())
    facts, _ = _deal_facts(Table(df, src), stages, from_definition, timezone, dayfirst)
    hidden = _hidden_reentries(df, case)
    if hidden is not None:
        facts = facts.merge(hidden, on=CASE, how="left")
    table.notes.append(
        f"{src}: {len(entries)} 'Date entered' stage columns melted into stage events "
        "(Date exited / time-in columns are not used for events)"
    )
    part = Part.from_table(table, "deals export (Date entered)", ev, acc)
    return part, facts, {"loops_unobservable": True}


def _hidden_reentries(df: pd.DataFrame, case: pd.Series) -> pd.DataFrame | None:
    """Per deal, stages whose cumulative time exceeds the latest visit's time (the deal was there before)."""
    cum: dict[str, str] = {}
    lat: dict[str, str] = {}
    for c in df.columns:
        name = str(c)
        if m := _CUMULATIVE.match(name):
            cum[m.group("id") or m.group("inner")] = name
        elif m := _LATEST.match(name):
            lat[m.group("id") or m.group("lid") or m.group("inner")] = name
    pairs = [(cum[k], lat[k]) for k in cum if k in lat]
    if not pairs:
        return None
    count = np.zeros(len(df), dtype="int64")
    for c, lt in pairs:
        a = pd.to_numeric(text(df, c), errors="coerce")
        b = pd.to_numeric(text(df, lt), errors="coerce")
        count += ((a > b) & b.notna()).fillna(False).to_numpy(dtype=bool)
    out = pd.DataFrame({CASE: case, "hidden_reentries": count}).dropna(subset=[CASE])
    return out.drop_duplicates(CASE, keep="last")


# --- deal records ------------------------------------------------------------------------------------------
def _deal_facts(
    table: Table, stages: pd.DataFrame, from_definition: bool, timezone: str | None, dayfirst: bool | None
) -> tuple[pd.DataFrame, Part]:
    """Case facts from deal records; the outcome from ``hs_is_closed_won``/``hs_is_closed``, else the
    current stage's class (looked up by label only in a user-given pipeline definition)."""
    df = table.df.reset_index(drop=True)
    cols = resolve_columns(df, _DEAL, required=("id",), source=table.source, what="HubSpot deal records")
    case = text(df, cols["id"])
    facts = pd.DataFrame({CASE: case})
    cur = text(df, cols["stage"], activity=True)
    pipe = text(df, cols["pipeline"])
    if cols["stage"]:
        by_id = lookup_stages(cur, stages, pipeline_ids=pipe)["cls"]
        lab = stages.assign(k=stages["stage_label"].str.lower()).dropna(subset=["k"])
        pair = (
            lab.assign(k2=lab["pipeline_label"].str.lower() + "\x1f" + lab["k"])
            .dropna(subset=["k2"])
            .drop_duplicates("k2")
            .set_index("k2")["cls"]
        )
        uniq = lab[~lab["k"].duplicated(keep=False)].set_index("k")["cls"]
        by_label = (
            (pipe.str.lower() + "\x1f" + cur.str.lower())
            .map(pair)
            .astype("str")
            .fillna(cur.str.lower().map(uniq).astype("str"))
        )
        stage_cls = (by_id.fillna(by_label) if from_definition else by_id).astype("str")
        facts["current_stage"] = lookup_stages(cur, stages, pipeline_ids=pipe)["stage_label"].fillna(cur).astype("str")
    else:
        stage_cls = pd.Series(pd.NA, index=df.index, dtype="str")
    outcome = stage_cls.copy()
    if cols["won"] or cols["closed"]:
        won = parse_bool(df[cols["won"]]) if cols["won"] else pd.Series(pd.NA, index=df.index, dtype="boolean")
        closed = parse_bool(df[cols["closed"]]) if cols["closed"] else pd.Series(pd.NA, index=df.index, dtype="boolean")
        flag = pd.Series(pd.NA, index=df.index, dtype="str")
        flag[won.fillna(False).to_numpy(dtype=bool)] = "won"
        flag[(closed.fillna(False) & ~won.fillna(True)).to_numpy(dtype=bool)] = "lost"
        flag[(~closed.fillna(True) & ~won.fillna(False)).to_numpy(dtype=bool)] = "open"
        outcome = flag.fillna(outcome)
    facts[OUTCOME] = outcome.astype("str")
    if cols["name"]:
        facts["name"] = text(df, cols["name"])
    if cols["pipeline"]:
        names = stages.dropna(subset=["pipeline_id", "pipeline_label"]).drop_duplicates("pipeline_id")
        facts["pipeline"] = (
            pipe.map(names.set_index("pipeline_id")["pipeline_label"]).astype("str").fillna(pipe).astype("str")
        )
    if cols["amount"]:
        facts[AMOUNT] = parse_amount(df[cols["amount"]])[0].to_numpy()
    if cols["owner"]:
        facts[OWNER] = text(df, cols["owner"])
    if cols["createdate"]:
        tp = parse_time(df, cols["createdate"], source=table.source, timezone=timezone or None, dayfirst=dayfirst)
        facts["created_at"] = tp.values.array
        facts["created_date_only"] = tp.date_only
    if cols["closedate"]:
        facts["close_date"] = parse_time(
            df, cols["closedate"], source=table.source, timezone=timezone, dayfirst=dayfirst
        ).values.array
    part, keep = deal_table_part(table, df, case, str(cols["id"]))
    return facts[keep], part
