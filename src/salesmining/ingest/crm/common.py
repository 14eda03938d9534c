"""Rules shared by every CRM adapter.

Each adapter turns its inputs into :class:`Part` objects — a frame of candidate events in the
standard layout (see :func:`make_events`) plus the account of the input's rows — and hands
them to :func:`assemble`, which applies the rules common to all CRMs:

* pipeline selection (``pipeline=``) and ``"<stage> (<pipeline>)"`` activity names when a log
  spans several pipelines;
* the one event order used everywhere: case, timestamp, input (the main history first),
  the adapter's own tie-breaker (e.g. Salesforce ``Id``, Pipedrive change id), input row.
  ``source_row`` is the position in that order, so ties keep it downstream; ``source_object``
  and ``input_row`` point back to the input row;
* the first stage event of a case is ``event_type="created"`` unless the history starts late
  (left-censored) or shows an earlier stage;
* case table: ``outcome``, ``first_stage``, ``last_stage``, ``left_censored``, ``reopened``,
  ``reopen_count``, ``outcome_flips`` and the adapter's case attributes;
* warnings for reopened cases, left-censored cases, bulk updates and system users;
* one :class:`~salesmining.IngestReport` per input, combined, where every input row is an
  event, a case-table row used by the log, or a rejection with a reason.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.core.schema import ACTIVITY, CASE, OUTCOME, RESOURCE, SOURCE_ROW, START, TIMESTAMP, UTC_DTYPE
from salesmining.ingest.files import decode_bytes, read_bytes, read_table_file, source_name
from salesmining.ingest.frames import log_shape_warnings
from salesmining.ingest.options import DEFAULT_PLAUSIBLE_RANGE
from salesmining.ingest.timestamps import TimeParse, parse_timestamps
from salesmining.ingest.values import as_text
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestReport, IngestWarning, empty_rejections, make_rejections

__all__ = [
    "EVENT_ATTRIBUTES",
    "Input",
    "Part",
    "RowAccount",
    "Source",
    "Table",
    "assemble",
    "check_core",
    "inferred_dayfirst",
    "is_json_input",
    "load_json",
    "load_table",
    "make_events",
    "norm_name",
    "parse_bool",
    "parse_time",
    "resolve_columns",
    "UNKNOWN_STATE",
    "text",
    "time_warnings",
]

#: What the readers accept for a table: a path, bytes, an open file or a DataFrame.
Source = str | os.PathLike[str] | bytes | IO[str] | IO[bytes] | pd.DataFrame
#: A table or parsed JSON (a dict such as a SOQL result with ``records``, or a list of records).
Input = Source | Mapping[str, Any] | list[Any]

#: Event attributes every CRM reader writes, in this order, after the canonical columns.
EVENT_ATTRIBUTES = (
    "event_type",
    "stage_id",
    "stage_label",
    "pipeline",
    "field",
    "from_value",
    "to_value",
    "resource_type",
    "source_object",
    "input_row",
    "bulk_update",
)
_STR_ATTRIBUTES = tuple(c for c in EVENT_ATTRIBUTES if c not in ("input_row", "bulk_update"))
#: Working columns of candidate events, dropped before the log is built.
_HIDDEN = ("_order", "_state", "_pipeline_id", "_input")
_CLOSED = ("won", "lost")
#: ``_state`` of a stage event whose stage has no known class: the case's outcome becomes unknown.
UNKNOWN_STATE = "unknown"
_TRUE = frozenset({"true", "1", "yes", "y", "t", "x", "wahr", "vrai", "si", "sí", "ja", "verdadero"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "falsch", "faux", "nein", "falso"})


# --- reading inputs ----------------------------------------------------------------------------
@dataclass
class Table:
    """One tabular input: the frame (never modified) and how it was read."""

    df: pd.DataFrame
    source: str
    encoding: str | None = None
    warnings: list[IngestWarning] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _unwrap_records(data: Any) -> Any:
    if isinstance(data, Mapping):
        for key in ("records", "results", "data", "value"):
            if isinstance(data.get(key), list):
                return data[key]
        return [data]
    return data


def load_table(obj: Any, *, label: str, encoding: str | None) -> Table:
    """A DataFrame, a delimited text file, a JSON file/object (``records``/``results``/``data``
    lists are unwrapped, Salesforce ``attributes`` dropped) or a list of dicts, as a :class:`Table`.

    DataFrames are used as they are (never modified) under the name ``label``.
    """
    if isinstance(obj, pd.DataFrame):
        return Table(obj, label)
    if isinstance(obj, (list, Mapping)):
        return Table(_records_frame(_unwrap_records(obj), label), label)
    if is_json_input(obj):
        data, source, used, warns = load_json(obj, label=label, encoding=encoding)
        return Table(_records_frame(_unwrap_records(data), source), source, used, warns, [f"read {source} as JSON"])
    df, source, used, warns, notes = read_table_file(obj, encoding=encoding)
    return Table(df, source, used, warns, notes)


def is_json_input(obj: Any) -> bool:
    """Whether an input is JSON: parsed objects, bytes starting with ``{``/``[``, or a ``.json`` path/file."""
    if isinstance(obj, (Mapping, list)):
        return True
    if isinstance(obj, bytes):
        return obj.lstrip()[:1] in (b"{", b"[")
    if isinstance(obj, (str, os.PathLike)):
        return Path(obj).suffix.lower() == ".json"
    name = getattr(obj, "name", None)
    return isinstance(name, str) and name.lower().endswith(".json")


def _records_frame(records: Any, source: str) -> pd.DataFrame:
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise LogSchemaError(f"{source}: expected a list of records (JSON objects)", source=source)
    df = pd.json_normalize([{k: v for k, v in r.items() if k != "attributes"} for r in records], sep=".")
    return df.drop(
        columns=[c for c in df.columns if str(c).endswith(".attributes.type") or str(c).endswith(".attributes.url")]
    )


def load_json(obj: Any, *, label: str, encoding: str | None) -> tuple[Any, str, str | None, list[IngestWarning]]:
    """Parsed JSON from a path, bytes, text buffer, or an already parsed dict/list.

    Returns (data, source name, encoding used, warnings).
    """
    if isinstance(obj, (Mapping, list)):
        return obj, label, None, []
    source = source_name(obj) if not isinstance(obj, bytes) else label
    raw = read_bytes(obj)
    txt, used, warn = decode_bytes(raw, encoding=encoding, source=source)
    try:
        data = json.loads(txt)
    except json.JSONDecodeError as exc:
        raise LogSchemaError(f"{source} is not valid JSON: {exc}", source=source) from exc
    return data, source, used, [warn] if warn else []


# --- columns -----------------------------------------------------------------------------------
def norm_name(name: object) -> str:
    """A header reduced to lower-case letters and digits (``"Opportunity ID"`` → ``"opportunityid"``)."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def resolve_columns(
    df: pd.DataFrame,
    roles: Mapping[str, Sequence[str]],
    *,
    required: Iterable[str] = (),
    source: str,
    what: str,
) -> dict[str, str | None]:
    """Find each role's column by its aliases, ignoring case, spaces and punctuation.

    Parameters
    ----------
    roles:
        Role name → aliases, best first (e.g. ``"OpportunityId": ("OpportunityId", "Opportunity ID")``).
    required:
        Roles that must be found, else :class:`LogSchemaError` naming the closest column.
    what:
        What the input is, for messages (e.g. ``"OpportunityHistory export"``).
    """
    by_norm: dict[str, str] = {}
    for col in df.columns:
        by_norm.setdefault(norm_name(col), str(col))
    found: dict[str, str | None] = {}
    for role, aliases in roles.items():
        found[role] = next((by_norm[n] for n in (norm_name(a) for a in aliases) if n in by_norm), None)
    missing = [r for r in required if found.get(r) is None]
    if missing:
        role = missing[0]
        cols = [str(c) for c in df.columns]
        close = difflib.get_close_matches(role, cols, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}? Rename it first (df.rename(columns=...))." if close else ""
        raise LogSchemaError(
            f"{source}: the {what} needs a {role!r} column (looked for {list(roles[role])}).{hint} "
            f"Columns present: {cols}",
            source=source,
            column=role,
        )
    return found


def text(df: pd.DataFrame, col: str | None, *, activity: bool = False) -> pd.Series:
    """A column as clean text (NA for empty/missing tokens), positional index; all-NA if ``col`` is None."""
    if col is None:
        return pd.Series(pd.NA, index=range(len(df)), dtype="str")
    return as_text(df[col].reset_index(drop=True), activity=activity)


def parse_bool(s: pd.Series) -> pd.Series:
    """``TRUE``/``FALSE``/``1``/``0``/``yes``/``no`` (any case) → nullable booleans; other values → NA."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.reset_index(drop=True).astype("boolean")
    t = as_text(s.reset_index(drop=True)).str.lower()
    out = pd.Series(pd.NA, index=t.index, dtype="boolean")
    out[t.isin(_TRUE).to_numpy()] = True
    out[t.isin(_FALSE).to_numpy()] = False
    return out


# --- time ----------------------------------------------------------------------------------------
def parse_time(
    df: pd.DataFrame,
    col: str | None,
    *,
    source: str,
    timezone: str | None,
    dayfirst: bool | None,
) -> TimeParse:
    """Parse one column with the shared timestamp parser (all-missing when ``col`` is None)."""
    if col is None:
        n = len(df)
        empty = np.zeros(n, dtype=bool)
        return TimeParse(pd.Series(pd.NaT, index=range(n), dtype=UTC_DTYPE), ~empty, empty, empty.copy(), empty.copy())
    return parse_timestamps(df[col], column=col, source=source, timezone=timezone, dayfirst=dayfirst)


_ABY = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](?:\d{4}|\d{2})\b")


def inferred_dayfirst(raw: pd.Series, values: pd.Series) -> bool | None:
    """Whether ``a/b/y`` dates in ``raw`` were read day-first (``None`` if the column has none that tell).

    Used to read every input of one export in the order the main history file decided.
    """
    t = raw.reset_index(drop=True).astype("str").fillna("")
    parts = t.str.extract(_ABY)
    a = pd.to_numeric(parts[0], errors="coerce")
    b = pd.to_numeric(parts[1], errors="coerce")
    ok = (a != b).to_numpy() & a.notna().to_numpy() & values.reset_index(drop=True).notna().to_numpy()
    if not ok.any():
        return None
    i = int(np.flatnonzero(ok)[0])
    return bool(values.iloc[i].day == a.iloc[i])


def time_warnings(
    tp: TimeParse, keep: np.ndarray, source: str, column: str, *, rows: np.ndarray | None = None
) -> list[IngestWarning]:
    """The parser's warnings (merged per code) and ``date_only``, restricted to kept values.

    ``rows`` maps parsed positions to input rows when several values come from one row (wide exports).
    """
    merged: dict[tuple[str, str], tuple[str, np.ndarray]] = {}
    for code, message, mask in tp.warnings:
        key = (code, message.split(":", 1)[0])
        prev = merged.get(key)
        merged[key] = (message, mask if prev is None else (prev[1] | mask))
    items = list(merged.values())
    codes = [k[0] for k in merged]
    if tp.date_only.any():
        codes.append("date_only")
        items.append(
            (f"{column}: dates without a time of day; same-day events are ordered by source row", tp.date_only)
        )
    out = []
    for code, (message, mask) in zip(codes, items, strict=True):
        m = mask & keep
        if m.any():
            idx = np.flatnonzero(m) if rows is None else np.unique(rows[m])
            out.append(IngestWarning(code, message, int(m.sum()), tuple(int(i) for i in idx[:10]), source))
    return out


# --- row accounting ------------------------------------------------------------------------------
class RowAccount:
    """Rejections of one input, first reason wins; rows never rejected must become events or be used."""

    def __init__(self, n: int, source: str) -> None:
        self.n = n
        self.source = source
        self.rejected = np.zeros(n, dtype=bool)
        #: Rows that checks may reject (others are accounted elsewhere, e.g. used by a join).
        self.scope = np.ones(n, dtype=bool)
        self._parts: list[pd.DataFrame] = [empty_rejections()]

    @property
    def keep(self) -> np.ndarray:
        """Rows not rejected so far."""
        return ~self.rejected

    def reject(self, reason: str, column: str, mask: np.ndarray, values: pd.Series | Sequence[object]) -> None:
        """Reject the rows of ``mask`` not yet rejected, giving each its value of ``column``."""
        m = np.asarray(mask, dtype=bool) & ~self.rejected & self.scope
        if not m.any():
            return
        vals = pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(), dtype="object")
        self._parts.append(make_rejections(np.flatnonzero(m), reason, column, vals[m].to_numpy(), self.source))
        self.rejected |= m

    def rejections(self) -> pd.DataFrame:
        """All rejections so far, by row."""
        return pd.concat(self._parts, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)


def check_core(
    acc: RowAccount,
    df: pd.DataFrame,
    *,
    case: pd.Series,
    case_col: str,
    tp: TimeParse,
    ts_col: str,
    activity: pd.Series | None = None,
    activity_col: str | None = None,
    plausible_range: tuple[str, str] = DEFAULT_PLAUSIBLE_RANGE,
    duplicates: bool = True,
) -> None:
    """The ingest checks of :func:`salesmining.read_csv`, in the same order: missing case id,
    missing activity, missing/unparsable/implausible timestamp, duplicate row."""
    raw = df.reset_index(drop=True)
    acc.reject("missing_case_id", case_col, case.isna().to_numpy(), raw[case_col])
    if activity is not None and activity_col is not None:
        acc.reject("missing_activity", activity_col, activity.isna().to_numpy(), raw[activity_col])
    ts_raw = raw[ts_col]
    acc.reject("missing_timestamp", ts_col, tp.missing, ts_raw)
    acc.reject("unparsable_timestamp", ts_col, tp.unparsable, ts_raw)
    lo, hi = (pd.Timestamp(x, tz="UTC") for x in plausible_range)
    ts = tp.values
    implausible = tp.out_of_range | (ts.notna() & ((ts < lo) | (ts >= hi))).to_numpy()
    acc.reject("implausible_timestamp", ts_col, implausible, ts_raw)
    if duplicates:
        acc.reject("duplicate_row", "*", duplicated_rows(raw), ["(whole row)"] * len(raw))


def duplicated_rows(raw: pd.DataFrame) -> np.ndarray:
    """Rows identical to an earlier row in every column."""
    try:
        return raw.duplicated(keep="first").to_numpy()
    except TypeError:  # unhashable cells (lists from JSON)
        return raw.astype("str").duplicated(keep="first").to_numpy()


# --- candidate events ----------------------------------------------------------------------------
def make_events(
    n: int,
    *,
    case: Any,
    activity: Any,
    ts: Any,
    input_row: Any,
    source_object: str,
    event_type: Any,
    order: Any = 0,
    start: Any = None,
    resource: Any = None,
    resource_type: Any = None,
    stage_id: Any = None,
    stage_label: Any = None,
    pipeline: Any = None,
    pipeline_id: Any = None,
    field: Any = None,
    from_value: Any = None,
    to_value: Any = None,
    state: Any = None,
    bulk_update: Any = False,
    extra: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """A frame of ``n`` candidate events in the standard layout (scalars are broadcast, ``None`` → NA).

    ``order`` is the input's own tie-breaker (int), ``state`` the won/lost/open state after a
    stage or status event (:data:`UNKNOWN_STATE` for a stage whose class is unknown, NA for
    events that do not change it), ``extra`` further event attributes (e.g. ``subject``).
    """
    data: dict[str, pd.Series] = {
        CASE: _col(case, n, "str"),
        ACTIVITY: _col(activity, n, "str"),
        TIMESTAMP: _col(ts, n, UTC_DTYPE),
    }
    if start is not None:
        data[START] = _col(start, n, UTC_DTYPE)
    data[RESOURCE] = _col(resource, n, "str")
    attrs = {
        "event_type": event_type,
        "stage_id": stage_id,
        "stage_label": stage_label,
        "pipeline": pipeline,
        "field": field,
        "from_value": from_value,
        "to_value": to_value,
        "resource_type": resource_type,
        "source_object": source_object,
    }
    for key, value in attrs.items():
        data[key] = _col(value, n, "str")
    data["input_row"] = _col(input_row, n, "int64")
    data["bulk_update"] = _col(bulk_update, n, "boolean").fillna(False).astype(bool)
    data["_order"] = _col(order, n, "int64")
    data["_state"] = _col(state, n, "str")
    data["_pipeline_id"] = _col(pipeline_id, n, "str")
    for key, value in (extra or {}).items():
        data[key] = _col(value, n, None)
    return pd.DataFrame(data, index=range(n))


def _col(value: Any, n: int, dtype: str | None) -> pd.Series:
    if value is None:
        if dtype == UTC_DTYPE:
            return pd.Series(pd.NaT, index=range(n), dtype=UTC_DTYPE)
        return pd.Series(pd.NA, index=range(n), dtype=dtype or "str")
    if isinstance(value, (str, int, float, bool, np.integer, np.bool_)):
        return pd.Series([value] * n, index=range(n), dtype=dtype)
    # .array keeps tz-aware datetimes typed (to_numpy would box every value as a Timestamp)
    s = pd.Series(value.array if isinstance(value, (pd.Series, pd.Index)) else value, index=range(n))
    if dtype is None or str(s.dtype) == dtype:
        return s
    return s.astype(dtype)


@dataclass
class Part:
    """One input: its candidate events and the account of its rows.

    ``credit_key`` (one value per input row) marks rows that are used without becoming events
    (a case table, a lookup table): such a row is kept when its key appears in the final
    events' column ``credit_col``, else it is rejected as ``unmatched_reference``.
    """

    label: str
    events: pd.DataFrame
    account: RowAccount
    encoding: str | None = None
    warnings: list[IngestWarning] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    credit_key: pd.Series | None = None
    credit_col: str = CASE

    @classmethod
    def from_table(cls, table: Table, label: str, events: pd.DataFrame, account: RowAccount) -> Part:
        """A part that carries the table's encoding, read warnings and notes."""
        return cls(label, events, account, table.encoding, list(table.warnings), list(table.notes))


# --- assembly ------------------------------------------------------------------------------------
def assemble(
    parts: Sequence[Part],
    *,
    source_system: str,
    name: str | None,
    facts: pd.DataFrame | None = None,
    pipeline: str | None = None,
    system_users: Iterable[str] = (),
    bulk_min_cases: int = 10,
    bulk_window: float = 60.0,
    meta: Mapping[str, Any] | None = None,
    stages: pd.DataFrame | None = None,
    warnings: Iterable[IngestWarning] = (),
    notes: Iterable[str] = (),
) -> EventLog:
    """Apply the shared rules to the parts of one CRM read and build the :class:`EventLog`.

    Parameters
    ----------
    parts:
        The inputs, main history first (its order breaks timestamp ties between inputs).
    facts:
        What the adapter knows about cases beyond their events: ``case:concept:name`` plus any
        of ``outcome`` (won/lost/open; overrides the last stage/status state), ``created_at``
        (UTC) with ``created_date_only``, ``first_stage`` (when the export shows an earlier
        stage than the first event), ``left_censored`` (bool hint) and case attributes.
    pipeline:
        Keep only this pipeline (id or label).
    system_users:
        Resource ids/names of integration users (their events get ``resource_type="system"``).
    bulk_min_cases, bulk_window:
        A burst is one user's events with gaps of at most ``bulk_window`` seconds; a burst that
        touches ``bulk_min_cases`` cases or more is a bulk update.
    stages:
        The stage definition (:data:`STAGE_TABLE_COLUMNS`), when the adapter has one; it becomes
        ``meta["stages"]`` (with the activity name each stage has in the log) and
        ``meta["stage_classes"]`` (activity → won/lost/open).
    """
    frames = []
    for i, p in enumerate(parts):
        if len(p.events):
            frames.append(p.events.assign(_input=i))
    if not frames:
        reasons = pd.concat([p.account.rejections() for p in parts])["reason"].value_counts()
        said = ", ".join(f"{r}: {n:,}" for r, n in reasons.items()) or "no rows"
        raise LogSchemaError(
            f"no events: every row of {' + '.join(p.account.source for p in parts)} was rejected ({said}); "
            "check the column mapping, the stage field and the pipeline definition"
        )
    ev = pd.concat(frames, ignore_index=True)
    extra_notes = list(notes)
    ev, dropped_by_pipeline = _select_pipeline(ev, pipeline, extra_notes)

    ev = ev.sort_values([CASE, TIMESTAMP, "_input", "_order", "input_row"], kind="stable").reset_index(drop=True)
    ev[SOURCE_ROW] = np.arange(len(ev), dtype="int64")
    is_stage = ev["stage_label"].notna().to_numpy()
    multi = _pipeline_activity_names(ev, is_stage, extra_notes)
    stage_meta = _stage_meta(ev, is_stage, stages, multi, pipeline)

    cases = _case_table(ev, is_stage, facts)
    first = _first_stage_mask(ev, is_stage)
    censored = ev[CASE].map(cases.set_index(CASE)["left_censored"]).fillna(False).astype(bool).to_numpy()
    created = first & ~censored & ev["from_value"].isna().to_numpy()
    ev.loc[created, "event_type"] = "created"

    sysset = {str(u) for u in system_users}
    if sysset:
        is_sys = ev[RESOURCE].isin(sysset).to_numpy()
        has_res = ev[RESOURCE].notna().to_numpy()
        ev.loc[is_sys, "resource_type"] = "system"
        ev.loc[has_res & ~is_sys & ev["resource_type"].isna().to_numpy(), "resource_type"] = "human"

    all_warnings = list(warnings)
    all_warnings += _bulk_updates(ev, parts, bulk_min_cases, bulk_window)
    all_warnings += _system_warning(ev, parts)
    all_warnings += _case_warnings(ev, cases, parts)
    shape = ev[[CASE, TIMESTAMP, SOURCE_ROW]].assign(**{SOURCE_ROW: ev["input_row"]})
    all_warnings += log_shape_warnings(shape, parts[0].account.source)

    report = _reports(parts, ev, dropped_by_pipeline).with_warnings(all_warnings)
    if extra_notes:
        report = IngestReport(
            source=report.source,
            rows_read=report.rows_read,
            rows_kept=report.rows_kept,
            _rejections=report.rejections,
            warnings=report.warnings,
            encoding=report.encoding,
            notes=(*report.notes, *extra_notes),
        )
    out_cols = [c for c in ev.columns if c not in _HIDDEN and not c.startswith("_")]
    front = [c for c in (CASE, ACTIVITY, TIMESTAMP, START, RESOURCE, SOURCE_ROW) if c in out_cols]
    events = ev[front + list(EVENT_ATTRIBUTES) + [c for c in out_cols if c not in front and c not in EVENT_ATTRIBUTES]]
    full_meta: dict[str, Any] = {"source_system": source_system, "loops_unobservable": False, "history_absent": False}
    full_meta.update(stage_meta)
    full_meta.update(meta or {})
    return EventLog(events, cases, quality=report, name=name, meta=full_meta)


def _first_stage_mask(ev: pd.DataFrame, is_stage: np.ndarray) -> np.ndarray:
    st = ev.loc[is_stage, CASE]
    first = np.zeros(len(ev), dtype=bool)
    first[st.index[~st.duplicated(keep="first").to_numpy()].to_numpy()] = True
    return first


def _select_pipeline(ev: pd.DataFrame, pipeline: str | None, notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the chosen pipeline's stage events and the other events of cases that have some."""
    empty = ev.iloc[0:0]
    if pipeline is None:
        return ev, empty
    want = str(pipeline).strip()
    pid = ev["_pipeline_id"].astype("str")
    plabel = ev["pipeline"].astype("str")
    in_pipe = ((pid == want) | (plabel.str.lower() == want.lower())).fillna(False).to_numpy()
    if not in_pipe.any():
        known = sorted({f"{a} ({b})" if a != b else str(a) for a, b in zip(plabel, pid, strict=True) if pd.notna(a)})
        raise LogSchemaError(f"no stage events in pipeline {pipeline!r}; pipelines present: {known}", value=pipeline)
    is_stage = ev["stage_label"].notna().to_numpy()
    cases_in = set(ev.loc[in_pipe & is_stage, CASE])
    keep = np.where(is_stage, in_pipe, ev[CASE].isin(cases_in).to_numpy())
    n_cases = ev.loc[~keep, CASE].nunique()
    notes.append(
        f"pipeline={pipeline!r}: kept {int(keep.sum()):,} events; {int((~keep).sum()):,} events "
        f"of other pipelines dropped ({n_cases:,} cases touched)"
    )
    return ev[keep].reset_index(drop=True), ev[~keep]


def _stage_meta(
    ev: pd.DataFrame, is_stage: np.ndarray, stages: pd.DataFrame | None, multi: bool, pipeline: str | None
) -> dict[str, Any]:
    """``stages`` (one record per stage: pipeline, stage_id, stage, activity, order, outcome) and
    ``stage_classes`` (activity → outcome) for the log's meta."""
    seen = ev.loc[is_stage, ["pipeline", "_pipeline_id", "stage_id", "stage_label", "_state", ACTIVITY]]
    seen = seen.groupby(["stage_label", "pipeline"], dropna=False, sort=False).first().reset_index()
    derived = pd.DataFrame(
        {
            "pipeline_id": seen["_pipeline_id"],
            "pipeline_label": seen["pipeline"],
            "stage_id": seen["stage_id"],
            "stage_label": seen["stage_label"],
            "order": np.nan,
            "cls": seen["_state"].where(seen["_state"] != UNKNOWN_STATE),
        }
    )
    table = derived if stages is None else pd.concat([stages[list(STAGE_TABLE_COLUMNS)], derived], ignore_index=True)
    if pipeline is not None:
        want = str(pipeline).strip().lower()
        ok = (table["pipeline_id"].astype("str").str.lower() == want) | (
            table["pipeline_label"].astype("str").str.lower() == want
        )
        table = table[ok.fillna(False).to_numpy(dtype=bool)]
    pipe = table["pipeline_label"].fillna(table["pipeline_id"])
    act = table["stage_label"]
    if multi:
        act = act.where(pipe.isna(), act + " (" + pipe + ")")
    table = table.assign(activity=act, pipe=pipe).dropna(subset=["activity"]).drop_duplicates("activity", keep="first")
    table = table.sort_values(["pipe", "order"], kind="stable", na_position="last")
    records = [
        {
            "pipeline": None if pd.isna(r.pipe) else str(r.pipe),
            "stage_id": None if pd.isna(r.stage_id) else str(r.stage_id),
            "stage": str(r.stage_label),
            "activity": str(r.activity),
            "order": None if pd.isna(r.order) else int(r.order),
            "outcome": None if pd.isna(r.cls) else str(r.cls),
        }
        for r in table.itertuples(index=False)
    ]
    return {"stages": records, "stage_classes": {r["activity"]: r["outcome"] for r in records if r["outcome"]}}


def _pipeline_activity_names(ev: pd.DataFrame, is_stage: np.ndarray, notes: list[str]) -> bool:
    pipes = ev.loc[is_stage, "pipeline"].dropna().unique()
    if len(pipes) > 1:
        m = is_stage & ev["pipeline"].notna().to_numpy()
        ev.loc[m, ACTIVITY] = ev.loc[m, "stage_label"] + " (" + ev.loc[m, "pipeline"] + ")"
        notes.append(
            f"stages of {len(pipes)} pipelines ({', '.join(sorted(map(str, pipes)))}): stage activities are named "
            "'<stage> (<pipeline>)'; pass pipeline=... to analyse one pipeline"
        )
    return len(pipes) > 1


def _case_table(ev: pd.DataFrame, is_stage: np.ndarray, facts: pd.DataFrame | None) -> pd.DataFrame:
    ids = pd.Index(pd.unique(ev[CASE]), name=CASE).sort_values()
    out = pd.DataFrame(index=ids)
    f = facts.drop_duplicates(CASE, keep="last").set_index(CASE) if facts is not None else pd.DataFrame(index=ids)
    f = f.reindex(ids)

    st = ev.loc[ev["_state"].notna(), [CASE, "_state"]]
    last_state = st.groupby(CASE, sort=False)["_state"].last()
    last_state = last_state.where(last_state != UNKNOWN_STATE)
    outcome = f[OUTCOME] if OUTCOME in f.columns else pd.Series(pd.NA, index=ids, dtype="str")
    out[OUTCOME] = outcome.astype("str").where(outcome.notna(), last_state.reindex(ids)).astype("str")

    stages = ev.loc[is_stage, [CASE, "stage_label", TIMESTAMP]]
    g = stages.groupby(CASE, sort=False)
    first_label = g["stage_label"].first().reindex(ids)
    first_ts = g[TIMESTAMP].first().reindex(ids)
    given_first = f["first_stage"] if "first_stage" in f.columns else pd.Series(pd.NA, index=ids, dtype="str")
    out["first_stage"] = given_first.astype("str").where(given_first.notna(), first_label).astype("str")
    out["last_stage"] = g["stage_label"].last().reindex(ids).astype("str")

    hint = f["left_censored"] if "left_censored" in f.columns else pd.Series(False, index=ids)
    censored = hint.astype("boolean").fillna(False).to_numpy(dtype=bool)
    if "created_at" in f.columns:
        created = pd.to_datetime(f["created_at"], utc=True)
        date_only = (
            f["created_date_only"].astype("boolean").fillna(False).to_numpy(dtype=bool)
            if "created_date_only" in f.columns
            else np.zeros(len(ids), dtype=bool)
        )
        late_exact = (first_ts - created) > pd.Timedelta(seconds=60)
        late_day = first_ts.dt.floor("D") > created.dt.floor("D")
        late = np.where(
            date_only, late_day.fillna(False).to_numpy(dtype=bool), late_exact.fillna(False).to_numpy(dtype=bool)
        )
        censored |= late & first_ts.notna().to_numpy()
    out["left_censored"] = censored

    prev = st.groupby(CASE, sort=False)["_state"].shift()
    closed_before = prev.isin(_CLOSED).to_numpy()
    reopen = closed_before & (st["_state"] == "open").to_numpy()
    flip = closed_before & st["_state"].isin(_CLOSED).to_numpy() & (st["_state"] != prev).fillna(False).to_numpy()
    counts = pd.Series(reopen, index=st.index).groupby(st[CASE]).sum()
    flips = pd.Series(flip, index=st.index).groupby(st[CASE]).sum()
    out["reopen_count"] = counts.reindex(ids).fillna(0).astype("int64")
    out["reopened"] = out["reopen_count"] > 0
    out["outcome_flips"] = flips.reindex(ids).fillna(0).astype("int64")
    ev["_reopen"] = False
    ev.loc[st.index[reopen], "_reopen"] = True

    for col in f.columns:
        if col in (OUTCOME, "first_stage", "left_censored", "created_date_only") or col in out.columns:
            continue
        out[col] = f[col]
    if "pipeline" not in out.columns and ev.loc[is_stage, "pipeline"].notna().any():
        out["pipeline"] = ev.loc[is_stage].groupby(CASE, sort=False)["pipeline"].last().reindex(ids)
    return out.reset_index()


def _examples(ev: pd.DataFrame, mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(r) for r in ev.loc[mask, "input_row"].to_numpy()[:10])


def _source_of(ev: pd.DataFrame, mask: np.ndarray, parts: Sequence[Part]) -> str:
    idx = np.flatnonzero(mask)
    return parts[int(ev["_input"].iloc[idx[0]])].account.source if len(idx) else parts[0].account.source


def _bulk_updates(ev: pd.DataFrame, parts: Sequence[Part], min_cases: int, window: float) -> list[IngestWarning]:
    """Flag bursts where one user changes ``min_cases`` or more cases with gaps of at most ``window`` s."""
    preset = ev["bulk_update"].to_numpy(dtype=bool).copy()
    r = ev.loc[ev[RESOURCE].notna(), [RESOURCE, TIMESTAMP, CASE]]
    bursts: list[tuple[int, str, pd.Timestamp]] = []
    if len(r) and min_cases > 0:
        r = r.sort_values([RESOURCE, TIMESTAMP], kind="stable")
        gap = r[TIMESTAMP].diff().dt.total_seconds()
        new = (r[RESOURCE] != r[RESOURCE].shift()).to_numpy() | (gap > window).fillna(True).to_numpy()
        burst = pd.Series(np.cumsum(new), index=r.index)
        ncases = r.groupby(burst)[CASE].transform("nunique")
        flagged = (ncases >= min_cases).to_numpy()
        ev.loc[r.index[flagged], "bulk_update"] = True
        if flagged.any():
            big = r[flagged].assign(_b=burst[flagged], _n=ncases[flagged])
            top = big.groupby("_b").agg(n=("_n", "first"), who=(RESOURCE, "first"), at=(TIMESTAMP, "first"))
            bursts = [(int(n), str(w), a) for n, w, a in top.sort_values("n", ascending=False).itertuples(index=False)]
    flag = ev["bulk_update"].to_numpy(dtype=bool)
    if not flag.any():
        return []
    parts_msg = []
    if bursts:
        n, who, at = bursts[0]
        parts_msg.append(
            f"{len(bursts)} burst(s) where one user changed ≥{min_cases} cases with gaps ≤{window:g} s "
            f"(largest: {who!r}, {n} cases from {at:%Y-%m-%d %H:%M:%S} UTC)"
        )
    if preset.any():
        parts_msg.append(f"{int(preset.sum()):,} events the export marks as bulk updates")
    return [
        IngestWarning(
            "bulk_update",
            f"{int(flag.sum()):,} events look like bulk updates: {'; '.join(parts_msg)}; typical of data migrations "
            "and pre-forecast-call clean-ups — their timestamps say when someone edited, not when the deal moved "
            "(column bulk_update marks them)",
            int(flag.sum()),
            _examples(ev, flag),
            _source_of(ev, flag, parts),
        )
    ]


def _system_warning(ev: pd.DataFrame, parts: Sequence[Part]) -> list[IngestWarning]:
    m = (ev["resource_type"] == "system").fillna(False).to_numpy(dtype=bool)
    if not m.any():
        return []
    who = ev.loc[m, RESOURCE].dropna().value_counts()
    top = f" (most: {who.index[0]!r}, {int(who.iloc[0]):,})" if len(who) else ""
    return [
        IngestWarning(
            "system_user",
            f"{int(m.sum()):,} events were made by system or integration users{top}; column resource_type marks them",
            int(m.sum()),
            _examples(ev, m),
            _source_of(ev, m, parts),
        )
    ]


def _case_warnings(ev: pd.DataFrame, cases: pd.DataFrame, parts: Sequence[Part]) -> list[IngestWarning]:
    out = []
    reopen_ev = ev["_reopen"].to_numpy(dtype=bool)
    n_re = int(cases["reopened"].sum())
    if n_re:
        out.append(
            IngestWarning(
                "reopened_cases",
                f"{n_re:,} cases were closed (won/lost) and later reopened "
                f"({int(cases['reopen_count'].sum()):,} reopenings); they are kept, with reopened/reopen_count "
                "in the case table",
                n_re,
                _examples(ev, reopen_ev),
                _source_of(ev, reopen_ev, parts),
            )
        )
    lc = cases["left_censored"].to_numpy(dtype=bool)
    if lc.any():
        ids = set(cases.loc[lc, CASE])
        m = _first_stage_mask(ev, ev["stage_label"].notna().to_numpy()) & ev[CASE].isin(ids).to_numpy()
        out.append(
            IngestWarning(
                "left_censored",
                f"{int(lc.sum()):,} cases' history starts after the case began (created earlier, history rows missing, "
                "or an earlier stage is shown); stages before first_stage are unobserved, not skipped",
                int(lc.sum()),
                _examples(ev, m),
                _source_of(ev, m, parts),
            )
        )
    return out


def _reports(parts: Sequence[Part], ev: pd.DataFrame, dropped: pd.DataFrame) -> IngestReport:
    reports = []
    for i, p in enumerate(parts):
        acc = p.account
        used = np.zeros(acc.n, dtype=bool)
        rows = ev.loc[ev["_input"] == i, "input_row"].to_numpy()
        used[rows] = True
        if p.credit_key is not None:
            key = p.credit_key.reset_index(drop=True)
            present = set(ev[p.credit_col].dropna()) if p.credit_col in ev.columns else set()
            used |= key.isin(present).to_numpy() & key.notna().to_numpy()
        if len(dropped):
            drop_rows = np.zeros(acc.n, dtype=bool)
            drop_rows[dropped.loc[dropped["_input"] == i, "input_row"].to_numpy()] = True
            if p.credit_key is not None and p.credit_col in dropped.columns:
                drop_rows |= p.credit_key.reset_index(drop=True).isin(set(dropped[p.credit_col].dropna())).to_numpy()
            acc.reject("other_pipeline", "pipeline", drop_rows & ~used, ["(other pipeline)"] * acc.n)
        if p.credit_key is not None:
            acc.reject("unmatched_reference", p.credit_col, ~used, p.credit_key.reset_index(drop=True))
        stray = (~used & ~acc.rejected) | (used & acc.rejected)
        if stray.any():  # pragma: no cover - an adapter bug, never user data
            raise AssertionError(f"{acc.source}: rows {np.flatnonzero(stray)[:5]} are not accounted exactly once")
        reports.append(
            IngestReport(
                source=acc.source,
                rows_read=acc.n,
                rows_kept=int(used.sum()) if acc.n else 0,
                _rejections=acc.rejections(),
                warnings=tuple(p.warnings),
                encoding=p.encoding,
                notes=tuple(p.notes),
            )
        )
    return IngestReport.combine(reports)


# --- stage outcome classes -----------------------------------------------------------------------
def outcome_classes(mapping: Mapping[Any, Any], *, what: str) -> dict[str, str]:
    """Validate a user mapping stage → ``"won"``/``"lost"``/``"open"`` (any case)."""
    out: dict[str, str] = {}
    for key, value in mapping.items():
        v = str(value).strip().lower()
        if v not in ("won", "lost", "open"):
            raise LogSchemaError(
                f"{what}: stage {key!r} maps to {value!r}; use 'won', 'lost' or 'open'", column=what, value=value
            )
        out[str(key).strip()] = v
    return out


def classes_from_flags(stage: pd.Series, is_closed: pd.Series, is_won: pd.Series) -> tuple[dict[str, str], list[str]]:
    """Stage → won/lost/open learned from per-row closed/won flags; stages with conflicting flags are left out."""
    cls = pd.Series(pd.NA, index=stage.index, dtype="str")
    cls[(is_closed.fillna(False) & is_won.fillna(False)).to_numpy(dtype=bool)] = "won"
    cls[(is_closed.fillna(False) & ~is_won.fillna(True)).to_numpy(dtype=bool)] = "lost"
    cls[(~is_closed.fillna(True)).to_numpy(dtype=bool)] = "open"
    pairs = pd.DataFrame({"stage": stage, "cls": cls}).dropna()
    n = pairs.groupby("stage")["cls"].nunique()
    conflicts = sorted(str(s) for s in n.index[n > 1])
    good = pairs[~pairs["stage"].isin(conflicts)].drop_duplicates("stage")
    return dict(zip(good["stage"].astype(str), good["cls"].astype(str), strict=True)), conflicts


# --- stage streams and pipeline definitions ------------------------------------------------------------
STAGE_TABLE_COLUMNS = ("pipeline_id", "pipeline_label", "stage_id", "stage_label", "order", "cls")


def empty_stage_table() -> pd.DataFrame:
    """A stage definition table with no rows (columns of :data:`STAGE_TABLE_COLUMNS`)."""
    return pd.DataFrame({c: pd.Series([], dtype="float64" if c == "order" else "str") for c in STAGE_TABLE_COLUMNS})


def sort_stream(s: pd.DataFrame) -> pd.DataFrame:
    """Sort a stage stream (``case``, ``ts``, ``order``, ``row``, ``stage``) and add ``first``,
    ``prev`` (previous stage of the same case) and ``change`` (first row or a different stage)."""
    s = s.sort_values(["case", "ts", "order", "row"], kind="stable").reset_index(drop=True)
    first = (s["case"] != s["case"].shift()).to_numpy()
    prev = s["stage"].shift().where(~first)
    change = first | (s["stage"] != prev).fillna(True).to_numpy()
    return s.assign(first=first, prev=prev.astype("str"), change=change)


def lookup_stages(stage_ids: pd.Series, table: pd.DataFrame, *, pipeline_ids: pd.Series | None = None) -> pd.DataFrame:
    """Per value of ``stage_ids``: the stage table row (``pipeline_id``, ``pipeline_label``, ``stage_label``,
    ``order``, ``cls``) or NA. With ``pipeline_ids``, a stage id defined in several pipelines is looked up
    in the row's own pipeline."""
    t = table.drop_duplicates(["pipeline_id", "stage_id"], keep="last")
    ids = stage_ids.reset_index(drop=True).astype("str")
    by_stage = t.drop_duplicates("stage_id", keep="first").set_index("stage_id")
    out = pd.DataFrame(
        {c: ids.map(by_stage[c]) for c in ("pipeline_id", "pipeline_label", "stage_label", "order", "cls")}
    )
    if pipeline_ids is not None:
        key = pipeline_ids.reset_index(drop=True).astype("str") + "\x1f" + ids
        both = t.assign(k=t["pipeline_id"] + "\x1f" + t["stage_id"]).set_index("k")
        for c in ("pipeline_id", "pipeline_label", "stage_label", "order", "cls"):
            hit = key.map(both[c])
            out[c] = hit.where(hit.notna(), out[c])
    return out.astype(
        dict.fromkeys(("pipeline_id", "pipeline_label", "stage_label", "cls"), "str") | {"order": "float64"}
    )


def human_or_system(source_type: pd.Series, human: Iterable[str]) -> pd.Series:
    """``"human"`` for the given source types (any case), ``"system"`` for other non-empty ones, else NA."""
    t = source_type.reset_index(drop=True).astype("str").str.strip().str.upper()
    hs = {h.upper() for h in human}
    out = pd.Series(pd.NA, index=t.index, dtype="str")
    out[t.notna().to_numpy() & (t != "").to_numpy()] = "system"
    out[t.isin(hs).to_numpy()] = "human"
    return out
