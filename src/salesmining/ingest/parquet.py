"""Reading Parquet files: :func:`read_parquet`, with the mapping, checks and row accounting of
:func:`~salesmining.read_csv`.

Columns keep their Parquet types: native timestamp columns are used as they are (tz-aware ones
converted to UTC, naive ones localised to ``timezone=`` or taken as UTC with the same warning as
naive text), numbers stay numbers, text columns are read as text (and their timestamps parsed
exactly as in a CSV file). Date columns (Parquet ``date32``/``date64``) are read like dates
written as text, so they carry the same ``date_only`` warning.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.ingest.coded import CodedText, coded_from_dictionary
from salesmining.ingest.files import PathOrBuffer, source_name
from salesmining.ingest.frames import Origin, build_log
from salesmining.ingest.options import DEFAULT_PLAUSIBLE_RANGE, ColumnMap, ReadOptions
from salesmining.ingest.tabular import attribute_list
from salesmining.log.eventlog import EventLog

__all__ = [
    "PARQUET_SUFFIXES",
    "is_parquet_path",
    "parquet_columns",
    "read_parquet",
    "read_parquet_coded",
]

#: File name endings read as Parquet by the command line.
PARQUET_SUFFIXES = (".parquet", ".pq")


def read_parquet(
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
    strict: bool = False,
    plausible_range: tuple[str, str] = DEFAULT_PLAUSIBLE_RANGE,
    name: str | None = None,
) -> EventLog:
    """Read a Parquet activity export into an :class:`EventLog`, accounting for every row.

    The keywords are those of :func:`read_csv` (``encoding`` and ``sep`` have no meaning for
    Parquet). Native timestamp columns are used as they are: tz-aware values are converted to
    UTC; naive ones are localised to ``timezone`` (default: taken as UTC, with the
    ``assumed_utc`` warning). Text columns are cleaned and their timestamps parsed as in a CSV
    file. Row numbers in the report are 0-based positions in the file.

    Examples
    --------
    >>> import io, pandas as pd, salesmining as sm
    >>> buf = io.BytesIO()
    >>> pd.DataFrame({"deal": ["A", "A", "B"], "stage": ["Lead", "Won", "Lead"],
    ...               "at": pd.to_datetime(["2024-01-01 09:00", "2024-01-03 10:00", "2024-01-02 08:00"], utc=True)}
    ...              ).to_parquet(buf)
    >>> log = sm.read_parquet(buf.getvalue(), case="deal", activity="stage", timestamp="at", name="deals")
    >>> log
    <EventLog 'deals': 2 cases, 3 events, 2 activities, 2024-01-01 → 2024-01-03>
    >>> log.quality.rows_read, log.quality.rows_kept
    (3, 3)
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
        strict=strict,
        plausible_range=plausible_range,
        name=name,
    )
    # the timestamp columns are parsed from text, not cleaned: they are read as text
    df, origin, coded = read_parquet_coded(path_or_buffer, [c for c in (timestamp, start_timestamp) if c is not None])
    log = build_log(df, columns, replace(options, name=name or origin.source), origin, coded=coded)
    del df, coded
    _release_arrow_memory()
    return log


def _release_arrow_memory() -> None:
    """Give the memory Arrow's allocator keeps from the intermediates of a read back to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def parquet_columns(path: str | os.PathLike[str]) -> list[str]:
    """The (stripped) column names of a Parquet file, read from its schema alone: to choose the
    columns' roles before the data are read (the command line's guesses)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.exists():
        raise LogSchemaError(f"no such file: {p}", source=str(p))
    try:
        schema = pq.read_schema(str(p))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise LogSchemaError(
            f"{p.name} cannot be read as a Parquet file ({str(exc).strip()}); for a delimited text file use read_csv",
            source=p.name,
        ) from exc
    return [str(n).strip() for n in schema.names]


def read_parquet_coded(
    path_or_buffer: PathOrBuffer, timestamps: Collection[str]
) -> tuple[pd.DataFrame, Origin, dict[str, CodedText]]:
    """What :func:`read_parquet` hands to :func:`~salesmining.ingest.frames.build_log` (its
    ``coded=``): the frame, its origin and the text columns read through their dictionaries —
    every text column but the ``timestamps`` columns, which are parsed from text."""
    times = set(timestamps)
    return _read(path_or_buffer, code=lambda name: name not in times)


def _read(
    path_or_buffer: PathOrBuffer, code: Callable[[str], bool]
) -> tuple[pd.DataFrame, Origin, dict[str, CodedText]]:
    """A Parquet file as a pandas frame (text as ``str``, timestamps and numbers as they are) with
    its :class:`Origin`, with the text columns whose (stripped) name ``code`` accepts
    read through their dictionaries where that pays (:func:`coded_from_dictionary`): those are
    in the frame as placeholders (``Categorical`` of the same values) and returned by name."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    source = source_name(path_or_buffer)
    handle: object
    if isinstance(path_or_buffer, (str, os.PathLike)):
        p = Path(path_or_buffer)
        if not p.exists():
            raise LogSchemaError(f"no such file: {p}", source=str(p))
        handle = str(p)
    elif isinstance(path_or_buffer, bytes):
        handle = pa.BufferReader(path_or_buffer)
    else:
        content = path_or_buffer.read()
        if isinstance(content, str):
            raise LogSchemaError(f"{source}: a Parquet file must be opened in binary mode ('rb')", source=source)
        handle = pa.BufferReader(content)
    try:
        schema = pq.read_schema(handle)
        if isinstance(handle, pa.BufferReader):
            handle.seek(0)
        text = [
            f.name
            for f in schema
            if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)) and code(str(f.name).strip())
        ]
        table = pq.read_table(handle, read_dictionary=text or None)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise LogSchemaError(
            f"{source} cannot be read as a Parquet file ({str(exc).strip()}); for a delimited text file use read_csv",
            source=source,
        ) from exc
    names = [str(n) for n in table.column_names]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise LogSchemaError(
            f"{source}: the column name(s) {dups} appear more than once; rename the copies so each column has one name",
            source=source,
            column=dups[0],
        )
    if table.num_rows == 0:
        raise LogSchemaError(
            f"{source} has column names ({', '.join(map(repr, names[:8]))}) but no data rows", source=source
        )
    stripped = [n.strip() for n in names]
    codable = len(set(stripped)) == len(stripped)
    coded: dict[str, CodedText] = {}
    arrays = []
    for name_, col in zip(stripped, table.columns, strict=True):
        typ = col.type
        found = coded_from_dictionary(col) if codable and code(name_) else None
        if found is not None:
            coded[name_] = found
            arrays.append(pa.nulls(0).cast(pa.int8()))  # a placeholder, replaced below
            continue
        if pa.types.is_dictionary(typ):
            col = col.cast(typ.value_type)
            typ = col.type
        if pa.types.is_date(typ):
            col = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%d")
        elif pa.types.is_string(typ) or pa.types.is_string_view(typ):
            col = col.cast(pa.large_string())
        arrays.append(col)
    n_rows = table.num_rows
    del table
    string = pd.StringDtype(na_value=float("nan"))
    rest = [i for i, n in enumerate(stripped) if n not in coded]
    plain = pa.table([arrays[i] for i in rest], names=[names[i] for i in rest])
    df = plain.to_pandas(types_mapper={pa.large_string(): string}.get, ignore_metadata=True)
    df.columns = [stripped[i] for i in rest]
    if coded:
        parts: dict[str, Any] = {}
        for n in stripped:
            if n in coded:
                c = coded[n]
                parts[n] = pd.Categorical.from_codes(
                    c.codes, dtype=pd.CategoricalDtype(pd.Index(c.values, dtype="str"))
                )
            else:
                parts[n] = df[n]
        df = pd.DataFrame(parts, copy=False)
    return df, Origin(source, None, (), (f"read {source} as Parquet ({n_rows:,} rows)",), file_lines=False), coded


def is_parquet_path(path: str | os.PathLike[str]) -> bool:
    """Whether a path names a Parquet file: by its ending (``.parquet``, ``.pq``), else by the
    magic ``PAR1`` its first bytes hold."""
    p = Path(path)
    if p.name.lower().endswith(PARQUET_SUFFIXES):
        return True
    try:
        with p.open("rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False
