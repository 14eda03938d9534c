"""Candidate events in the standard layout, and the :class:`Part` (events + row account) each input becomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.schema import ACTIVITY, CASE, RESOURCE, START, TIMESTAMP, UTC_DTYPE
from salesmining.ingest.crm.accounting import RowAccount, duplicated_rows
from salesmining.ingest.crm.inputs import Table
from salesmining.log.quality import IngestWarning

__all__ = ["EVENT_ATTRIBUTES", "Part", "UNKNOWN_STATE", "deal_table_part", "make_events"]


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


#: ``_state`` of a stage event whose stage has no known class: the case's outcome becomes unknown.
UNKNOWN_STATE = "unknown"


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


def deal_table_part(table: Table, df: pd.DataFrame, case: pd.Series, id_column: str) -> tuple[Part, np.ndarray]:
    """The account of a table with one row per deal and no events (a deals export): rows without an
    id, whole-row duplicates and rows superseded by a later row of the same deal are rejected.
    Returns the part (credited to the deals it describes) and the rows kept."""
    acc = RowAccount(len(df), table.source)
    acc.reject("missing_case_id", id_column, case.isna().to_numpy(), case)
    acc.reject("duplicate_row", "*", duplicated_rows(df), ["(whole row)"] * len(df))
    later = case.where(acc.keep).duplicated(keep="last").to_numpy() & case.notna().to_numpy()
    acc.reject("superseded_row", id_column, later, case)
    none = make_events(0, case=None, activity=None, ts=None, input_row=[], source_object="deals", event_type=None)
    part = Part.from_table(table, "deals", none, acc)
    part.credit_key = case.where(acc.keep)
    return part, acc.keep & case.notna().to_numpy()
