"""XES in and out (through the pm4py adapter)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from salesmining.core.schema import ACTIVITY, CASE, LIFECYCLE, RESOURCE, TIMESTAMP
from salesmining.ingest.frames import Origin, build_log
from salesmining.ingest.options import DEFAULT_PLAUSIBLE_RANGE, ColumnMap, ReadOptions
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
    options = ReadOptions(strict=strict, plausible_range=plausible_range, name=name)
    df = _pm4py.read_xes_frame(path)
    source = Path(path).name
    columns = ColumnMap(
        case=CASE,
        activity=ACTIVITY,
        timestamp=TIMESTAMP,
        resource=RESOURCE if RESOURCE in df.columns else None,
        lifecycle=LIFECYCLE if LIFECYCLE in df.columns else None,
    )
    origin = Origin(source, notes=(f"read {source} with pm4py's XES reader",))
    return build_log(df, columns, replace(options, name=name or source), origin)


def write_xes(log: EventLog, path: str | os.PathLike[str]) -> None:
    """Write the log as XES (``.xes`` or ``.xes.gz``), case attributes as trace attributes."""
    _pm4py.write_xes_frame(log.to_pm4py(), path)
