"""The tabular readers: :func:`read_csv` (a delimited file) and :func:`from_dataframe`.

Both build a :class:`~salesmining.ingest.options.ColumnMap` and
:class:`~salesmining.ingest.options.ReadOptions` from their keywords and hand them to the ingest
core, :func:`salesmining.ingest.frames.build_log`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, cast

import pandas as pd

from salesmining.core.errors import ArgumentTypeError, LogSchemaError
from salesmining.ingest.files import PathOrBuffer, read_table_file
from salesmining.ingest.frames import Origin, build_log
from salesmining.ingest.options import DEFAULT_PLAUSIBLE_RANGE, ColumnMap, ReadOptions
from salesmining.log.eventlog import EventLog

__all__ = ["DEFAULT_PLAUSIBLE_RANGE", "attribute_list", "from_dataframe", "read_csv", "read_frame"]


def read_csv(
    path_or_buffer: PathOrBuffer,
    *,
    case: str,
    activity: str,
    timestamp: str,
    start_timestamp: str | None = None,
    resource: str | None = None,
    lifecycle: str | None = None,
    approval_result: str | None = None,
    case_attributes: Sequence[str] | Literal["auto"] = (),
    outcome: str | None = None,
    amount: str | None = None,
    owner: str | None = None,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    encoding: str | None = None,
    sep: str | None = None,
    strict: bool = False,
    plausible_range: tuple[str, str] = DEFAULT_PLAUSIBLE_RANGE,
    name: str | None = None,
) -> EventLog:
    """Read a CSV activity export into an :class:`EventLog`, accounting for every row.

    Parameters
    ----------
    path_or_buffer:
        A path (``.csv`` or ``.csv.gz``), bytes, or an open file.
    case, activity, timestamp:
        The export's column names for the case id, activity (stage) and event time.
    start_timestamp, resource, lifecycle:
        Optional columns: activity start time, who did it, XES lifecycle transition.
    approval_result:
        Optional column with the decision of approval events; values are lower-cased and
        synonyms folded (``Approved``/``approve``/``yes`` → ``approved``; ``Rejected``/``declined``
        → ``rejected``); empty on other events.
    case_attributes:
        Columns that describe the case rather than the event (segment, region, ...). The case
        table keeps each case's last non-empty value; a change within a case is a warning.
        ``"auto"`` takes every unmapped column that has at most one value within each case.
        Columns named ``case:<name>`` (pm4py's convention) are always case attributes.
    outcome, amount, owner:
        Case columns with a standard meaning: ``outcome`` values must read won/lost/open,
        ``amount`` is parsed as a number (``$12,400.00`` and ``12.400,00`` both work).
    timezone:
        IANA zone of timestamps that carry none (default: taken as UTC, with a warning).
    dayfirst, date_format:
        How to read dates like ``02/03/24``; ambiguous columns are refused without them.
    encoding:
        Text encoding; default UTF-8 (BOM or not), with a detected fallback that the report states.
    sep:
        Field separator; default sniffed among ``, ; tab |``.
    strict:
        Raise :class:`LogSchemaError` on the first rejected row instead of reporting it.
    plausible_range:
        Timestamps outside ``[start, end)`` are rejected as implausible.

    Returns
    -------
    EventLog
        With ``log.quality`` holding the :class:`IngestReport`.
    """
    columns = ColumnMap(
        case=case,
        activity=activity,
        timestamp=timestamp,
        start_timestamp=start_timestamp,
        resource=resource,
        lifecycle=lifecycle,
        approval_result=approval_result,
        outcome=outcome,
        amount=amount,
        owner=owner,
        case_attributes=attribute_list(case_attributes),
    )
    options = ReadOptions(
        timezone=timezone,
        dayfirst=dayfirst,
        date_format=date_format,
        encoding=encoding,
        sep=sep,
        strict=strict,
        plausible_range=plausible_range,
        name=name,
    )
    df, origin = read_frame(path_or_buffer, options)
    return build_log(df, columns, replace(options, name=name or origin.source), origin)


def from_dataframe(
    df: pd.DataFrame,
    *,
    case: str,
    activity: str,
    timestamp: str,
    start_timestamp: str | None = None,
    resource: str | None = None,
    lifecycle: str | None = None,
    approval_result: str | None = None,
    case_attributes: Sequence[str] | Literal["auto"] = (),
    outcome: str | None = None,
    amount: str | None = None,
    owner: str | None = None,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    strict: bool = False,
    plausible_range: tuple[str, str] = DEFAULT_PLAUSIBLE_RANGE,
    name: str | None = None,
) -> EventLog:
    """Build an :class:`EventLog` from a DataFrame (never modified), with the same mapping and
    checks as :func:`read_csv`. Row numbers in the report are 0-based positions in ``df``."""
    if not isinstance(df, pd.DataFrame):
        raise ArgumentTypeError(f"from_dataframe needs a pandas DataFrame, not {type(df).__name__}")
    columns = ColumnMap(
        case=case,
        activity=activity,
        timestamp=timestamp,
        start_timestamp=start_timestamp,
        resource=resource,
        lifecycle=lifecycle,
        approval_result=approval_result,
        outcome=outcome,
        amount=amount,
        owner=owner,
        case_attributes=attribute_list(case_attributes),
    )
    options = ReadOptions(
        timezone=timezone,
        dayfirst=dayfirst,
        date_format=date_format,
        strict=strict,
        plausible_range=plausible_range,
        name=name,
    )
    return build_log(df, columns, options, Origin("DataFrame"))


def read_frame(path_or_buffer: PathOrBuffer, options: ReadOptions) -> tuple[pd.DataFrame, Origin]:
    """A delimited file as all-string columns with its :class:`Origin` (rows are file lines)."""
    df, source, used, warns, notes = read_table_file(path_or_buffer, encoding=options.encoding, sep=options.sep)
    if not len(df):
        raise LogSchemaError(
            f"{source} has column names ({', '.join(map(repr, df.columns[:8]))}) but no data rows", source=source
        )
    return df, Origin(source, used, tuple(warns), tuple(notes), file_lines=True)


def attribute_list(case_attributes: Sequence[str] | Literal["auto"]) -> tuple[str, ...] | Literal["auto"]:
    """``case_attributes=`` as the :class:`ColumnMap` holds it: lists become tuples; anything else
    is passed on as it is, for the map to check."""
    if isinstance(case_attributes, (list, tuple)):
        return tuple(case_attributes)
    return cast('tuple[str, ...] | Literal["auto"]', case_attributes)
