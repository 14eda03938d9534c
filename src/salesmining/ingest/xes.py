"""XES in and out (through the pm4py adapter)."""

from __future__ import annotations

import os
from pathlib import Path

from salesmining.core.schema import ACTIVITY, CASE, LIFECYCLE, RESOURCE, TIMESTAMP
from salesmining.ingest.tabular import DEFAULT_PLAUSIBLE_RANGE, _ingest
from salesmining.interop import pm4py as _pm4py
from salesmining.log.eventlog import EventLog

__all__ = ["read_xes", "write_xes"]


def read_xes(
    path: str | os.PathLike[str],
    *,
    strict: bool = False,
    plausible_range: tuple[str, str] = DEFAULT_PLAUSIBLE_RANGE,
    name: str | None = None,
) -> EventLog:
    """Read an XES event log (plain or ``.xes.gz``) with pm4py's reader.

    Trace attributes become case attributes (pm4py's ``case:AMOUNT_REQ`` → ``AMOUNT_REQ`` in
    :attr:`EventLog.cases`); event attributes stay on the events. Every event is accounted for
    in ``log.quality`` exactly as with :func:`read_csv` (row = the event's position in the file).
    """
    df = _pm4py.read_xes_frame(path)
    source = Path(path).name
    return _ingest(
        df,
        source=source,
        encoding=None,
        extra_warnings=[],
        notes=[f"read {source} with pm4py's XES reader"],
        case=CASE,
        activity=ACTIVITY,
        timestamp=TIMESTAMP,
        start_timestamp=None,
        resource=RESOURCE if RESOURCE in df.columns else None,
        lifecycle=LIFECYCLE if LIFECYCLE in df.columns else None,
        case_attributes=(),
        outcome=None,
        amount=None,
        owner=None,
        timezone=None,
        dayfirst=None,
        date_format=None,
        strict=strict,
        plausible_range=plausible_range,
        name=name or source,
        file_lines=False,
    )


def write_xes(log: EventLog, path: str | os.PathLike[str]) -> None:
    """Write the log as XES (``.xes`` or ``.xes.gz``), case attributes as trace attributes."""
    _pm4py.write_xes_frame(log.to_pm4py(), path)
