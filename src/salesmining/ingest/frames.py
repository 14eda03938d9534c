"""The ingest core: a raw frame plus a :class:`ColumnMap` and :class:`ReadOptions` → :class:`EventLog`.

Every row is accounted for: it becomes an event, or a rejection with a reason from the closed
vocabulary (missing case id / activity / timestamp, unparsable or implausible timestamp,
start after end, duplicate row). Case attributes go to the case table; warnings to the report.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.core.schema import (
    ACTIVITY,
    AMOUNT,
    APPROVAL_RESULT,
    CASE,
    LIFECYCLE,
    OUTCOME,
    OWNER,
    RESOURCE,
    SOURCE_ROW,
    START,
    TIMESTAMP,
)
from salesmining.ingest.coded import CodedText
from salesmining.ingest.options import ColumnMap, ReadOptions
from salesmining.ingest.timestamps import MISSING_TOKENS, TimeParse, parse_timestamps
from salesmining.ingest.values import (
    OUTCOME_WORDS,
    RESULT_WORDS,
    amounts,
    checked_text_values,
    is_arrow_text,
    polars_text,
    text_values,
    to_pandas_text,
)
from salesmining.log.eventlog import EventLog, _hand_over_case_codes, _reader_log
from salesmining.log.quality import IngestReport, IngestWarning, empty_rejections, make_rejections

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

__all__ = ["Origin", "build_log", "check_columns", "event_order", "log_shape_warnings", "sort_positions"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a frame came from: the source name, the encoding used, what reading it said, and
    whether rows are lines of a file (then messages also give the file line)."""

    source: str
    encoding: str | None = None
    warnings: tuple[IngestWarning, ...] = ()
    notes: tuple[str, ...] = ()
    file_lines: bool = False


def check_columns(df: pd.DataFrame, mapping: dict[str, str | None], source: str) -> None:
    """Every mapped column exists, else a :class:`LogSchemaError` naming the closest one."""
    cols = [str(c) for c in df.columns]
    dups = sorted({c for c in cols if cols.count(c) > 1})
    if dups:
        raise LogSchemaError(
            f"{source}: the column name(s) {dups} appear more than once; rename the copies so each column has one name",
            source=source,
            column=dups[0],
        )
    for role, col in mapping.items():
        if col is None or col in df.columns:
            continue
        close = difflib.get_close_matches(col, cols, n=1, cutoff=0.5) or difflib.get_close_matches(
            col.lower(), [c.lower() for c in cols], n=1, cutoff=0.5
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        seps = [d for d in (";", ",", "\t", "|") if len(cols) == 1 and d in cols[0]]
        if seps:
            hint += f" The file looks separated by {seps[0]!r}, not by what was used; pass sep={seps[0]!r}."
        raise LogSchemaError(
            f"{source}: the {role} column {col!r} does not exist.{hint} Columns present: {cols}",
            source=source,
            column=col,
        )


def event_order(case: pd.Series, ts: pd.Series, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stable order by (case, timestamp, source row) that ``sort_values`` gives, from integer
    keys: (positions in that order, case codes numbered in sorted case order)."""
    codes, _ = pd.factorize(case, sort=True)
    return sort_positions(codes, ts, row), codes


def sort_positions(codes: np.ndarray, ts: pd.Series | np.ndarray, row: np.ndarray) -> np.ndarray:
    """Positions in the stable order by (case code, timestamp, row) — polars' parallel sort.
    ``ts`` is a datetime series or its int64 microseconds."""
    import polars as pl

    stamp = ts if isinstance(ts, np.ndarray) else ts.to_numpy(dtype="datetime64[us]").view("int64")
    keys = pl.DataFrame({"c": codes, "t": stamp, "r": row})
    return keys.select(pl.arg_sort_by(["c", "t", "r"], maintain_order=True)).to_series().to_numpy()


def _row_label(row: int, file_lines: bool) -> str:
    return f"row {row} (line {row + 2} of the file)" if file_lines else f"row {row}"


def _examples(mask: np.ndarray, rows: np.ndarray | None = None) -> tuple[int, ...]:
    idx = np.flatnonzero(mask)[:10]
    return tuple(int(i) for i in (idx if rows is None else rows[idx]))


def build_log(
    df: pd.DataFrame,
    columns: ColumnMap,
    options: ReadOptions,
    origin: Origin,
    coded: Mapping[str, CodedText] | None = None,
) -> EventLog:
    """The shared ingest core of every tabular reader: map, clean, check and account for each row
    of ``df`` (never modified) and build the :class:`EventLog` with its :class:`IngestReport`.

    ``coded``: text columns given by their codes (:class:`~salesmining.ingest.coded.CodedText`,
    positional, never a timestamp column); ``df`` holds a placeholder of each. They are read as
    the text they hold, as if ``df`` held it."""
    source = origin.source
    mapping = columns.roles()
    check_columns(df, mapping, source)
    coded = dict(coded or {})
    if coded and (columns.auto_case_attributes or any(name is not None for name in df.index.names)):
        # what these read, they read from whole columns of text: give them the text
        df = df.copy(deep=False)
        for col, c in coded.items():
            df[col] = c.series().set_axis(df.index)
        coded = {}
    raw = df.reset_index(drop=True)
    parsed = _parse(raw, columns, options, source, coded)
    rejected, rejections = _reject(df, columns, parsed, source, coded)
    if options.strict and rejected.any():
        _refuse(rejections, int(rejected.sum()), origin)
    keep = ~rejected
    # the kept rows in input order, and their order by (case, timestamp, row): sorted once, shared
    kept_rows = np.flatnonzero(keep)
    case_kept = to_pandas_text(_kept(parsed.case, keep))
    codes, case_ids = pd.factorize(case_kept, sort=True)
    stamp_kept = parsed.stamp[kept_rows]
    order = (sort_positions(codes, stamp_kept, kept_rows), codes)
    case_cols, used = _case_columns(raw, keep, case_kept, columns)
    del case_kept
    warnings = list(origin.warnings) + _parse_warnings(parsed, keep, columns.timestamp, source)
    warnings += _excel_id_warnings(parsed.case, keep, columns.case, source)
    # the events' case ids: written out from their codes (the cleaned ids are not needed any more)
    case_codes = np.full(len(raw), -1, dtype=np.int64)
    case_codes[kept_rows] = codes
    case_text = CodedText(case_codes, _large_text(case_ids))
    parsed = replace(parsed, case=parsed.case.clear())
    ev = _event_frame(raw, kept_rows[order[0]], parsed, columns, used, coded, case_text)
    del (
        parsed,
        case_text,
        case_codes,
    )  # the parsed columns are in the events now: their memory goes back before the case table
    cases_df, case_warnings = _case_table(
        raw,
        keep,
        pd.Series(case_ids, dtype="str"),
        case_cols,
        columns.outcome,
        columns.amount,
        columns.owner,
        source,
        order,
        coded,
    )
    warnings += case_warnings
    warnings += _shape_warnings(stamp_kept, kept_rows, order, source)

    report = IngestReport(
        source=source,
        rows_read=len(df),
        rows_kept=int(keep.sum()),
        _rejections=rejections,
        warnings=tuple(sorted(warnings, key=lambda w: (-w.count, w.code))),
        encoding=origin.encoding,
        notes=(*origin.notes, f"mapped: {', '.join(f'{k}={v!r}' for k, v in mapping.items() if v is not None)}"),
    )
    log = _reader_log(ev, cases_df, quality=report, name=options.name)
    _hand_over_case_codes(log, codes[order[0]], case_ids, ev[SOURCE_ROW].to_numpy())
    return log


@dataclass(frozen=True)
class _Parsed:
    """The key columns, cleaned and parsed once (positional, aligned with the input rows):
    case ids and activities as polars text (null = missing), the timestamps also as int64
    microseconds (``stamp``; NaT's integer where not parsed)."""

    case: pl.Series
    activity: pl.Series | CodedText
    time: TimeParse
    stamp: np.ndarray
    start: TimeParse | None
    implausible: np.ndarray
    case_same: bool = False  # cleaning left the case ids as they are in the input
    activity_same: bool = False


def _parse(
    df: pd.DataFrame, columns: ColumnMap, options: ReadOptions, source: str, coded: Mapping[str, CodedText]
) -> _Parsed:
    def times(col: str) -> TimeParse:
        return parse_timestamps(
            df[col],
            column=col,
            source=source,
            timezone=options.timezone,
            dayfirst=options.dayfirst,
            date_format=options.date_format,
        )

    case_s: pl.Series
    act_s: pl.Series | CodedText
    case_same = act_same = False
    if columns.case in coded:
        case_s = _clean_coded(coded[columns.case]).polars()
    else:
        case_s, case_same = checked_text_values(df[columns.case])
    if columns.activity in coded:
        act_s = _clean_coded(coded[columns.activity], activity=True)
    else:
        act_s, act_same = checked_text_values(df[columns.activity], activity=True)
    tp = times(columns.timestamp)
    lo, hi = options.bounds()
    ts = tp.values
    implausible = tp.out_of_range | (ts.notna() & ((ts < lo) | (ts >= hi))).to_numpy()
    sp = times(columns.start_timestamp) if columns.start_timestamp is not None else None
    return _Parsed(case_s, act_s, tp, _microseconds(ts), sp, implausible, case_same, act_same)


def _large_text(ids: pd.Index) -> pa.Array:
    """Text without missing values (an index of ``str``) as one Arrow ``large_string`` array."""
    import pyarrow as pa

    arr = pa.array(ids.array) if is_arrow_text(pd.Series(ids.array)) else pa.array(ids.astype("str").array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def _clean_coded(c: CodedText, *, activity: bool = False) -> CodedText:
    """:func:`~salesmining.ingest.values.text_values` of coded text, done once per value."""
    return c.map_values(lambda v: text_values(to_pandas_text(v), activity=activity))


def _missing(t: pl.Series | CodedText) -> np.ndarray:
    """Which rows of cleaned text are missing."""
    return t.missing() if isinstance(t, CodedText) else t.is_null().to_numpy()


def _raw_at(df: pd.DataFrame, coded: Mapping[str, CodedText], col: str, mask: np.ndarray) -> pd.Series:
    """The input values of column ``col`` in the rows ``mask`` marks."""
    if col in coded:
        return coded[col].series(np.flatnonzero(mask))
    return df[col].reset_index(drop=True)[mask]


def _microseconds(ts: pd.Series) -> np.ndarray:
    """A ``datetime64[us, UTC]`` series as int64 microseconds since the epoch (NaT → int64 min)."""
    return ts.to_numpy(dtype="datetime64[us]").view("int64")


def _duplicate_rows(
    df: pd.DataFrame, stamp: np.ndarray, case: pl.Series | None, coded: Mapping[str, CodedText] | None = None
) -> np.ndarray:
    """Rows equal to an earlier row in *every* column of the source — a named index (an event id
    set as the index) included, since it is data; a plain positional index is not.

    Equal rows have equal timestamps and case ids: given ``case`` (the cleaned ids, when equal
    case and timestamp values clean and parse alike), only rows whose parsed ``stamp`` and
    ``case`` repeat are compared. ``coded`` columns (a plain index only) are compared by their
    codes: each distinct value has one."""
    named = any(name is not None for name in df.index.names)
    raw = df.reset_index(drop=not named)
    codes = coded if coded and not named else {}

    def rows_at(idx: np.ndarray) -> pd.DataFrame:  # the rows idx, coded columns as their codes
        rows = raw.iloc[idx]
        return rows.assign(**{col: c.codes[idx] for col, c in codes.items()}) if codes else rows

    if named:
        raw.columns = range(raw.shape[1])  # an index level named like a column stays a column of its own
    out = np.zeros(len(raw), dtype=bool)
    candidates = np.arange(len(raw))
    if case is not None and len(raw) > 1000:
        # one integer per (timestamp, case id): equal pairs give equal keys (a collision only adds a candidate)
        import polars as pl

        key = stamp.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ case.hash(seed=0).to_numpy()
        ordered = np.sort(key)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        candidates = np.flatnonzero(pl.Series(key).is_in(pl.Series(repeated).implode()).to_numpy())
    if not len(candidates):
        return out
    if len(candidates) > 1000 and all(is_arrow_text(raw[c]) for c in raw.columns):
        # equal rows hash alike: only rows whose hash repeats can be duplicates, and only those
        # are compared in full (pandas, as for any other frame)
        import polars as pl
        import pyarrow as pa

        at = pa.array(candidates)
        table = pa.table({f"c{i}": raw[c].array._pa_array.take(at) for i, c in enumerate(raw.columns)})
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        candidates = candidates[frame.hash_rows().is_duplicated().to_numpy()]
        if len(candidates):
            out[candidates] = rows_at(candidates).duplicated(keep="first").to_numpy()
        return out
    try:
        out[candidates] = rows_at(candidates).duplicated(keep="first").to_numpy()
    except TypeError:
        return raw.astype("str").duplicated(keep="first").to_numpy()
    return out


def _reject(
    df: pd.DataFrame, columns: ColumnMap, parsed: _Parsed, source: str, coded: Mapping[str, CodedText]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's first failed check, in the documented order: (rejected mask, rejections by row)."""
    n = len(df)
    rows = np.arange(n, dtype="int64")
    case, activity, timestamp = columns.case, columns.activity, columns.timestamp
    # equal values clean and parse alike, except in object columns (where 1 == 1.0 == True)
    exact_keys = df[timestamp].dtype != object and df[case].dtype != object
    dup = _duplicate_rows(df, parsed.stamp, parsed.case if exact_keys else None, coded)
    tp, sp = parsed.time, parsed.start
    checks: list[tuple[str, str, np.ndarray, str | None]] = [
        ("missing_case_id", case, parsed.case.is_null().to_numpy(), case),
        ("missing_activity", activity, _missing(parsed.activity), activity),
        ("missing_timestamp", timestamp, tp.missing, timestamp),
        ("unparsable_timestamp", timestamp, tp.unparsable, timestamp),
        ("implausible_timestamp", timestamp, parsed.implausible, timestamp),
    ]
    start = columns.start_timestamp
    if sp is not None and start is not None:
        st_bad = sp.unparsable | sp.out_of_range
        after = (sp.values.notna() & tp.values.notna() & (sp.values > tp.values)).to_numpy()
        checks += [
            ("unparsable_start_timestamp", start, st_bad, start),
            ("start_after_timestamp", start, after, start),
        ]
    checks.append(("duplicate_row", "*", dup, None))

    rejected = np.zeros(n, dtype=bool)
    parts = [empty_rejections()]
    for reason, column, mask, values in checks:
        m = mask & ~rejected
        if m.any():
            vals = ["(whole row)"] * int(m.sum()) if values is None else _raw_at(df, coded, values, m)
            parts.append(make_rejections(rows[m], reason, column, vals, source))
            rejected |= m
    return rejected, pd.concat(parts, ignore_index=True).sort_values("row", kind="stable")


def _refuse(rejections: pd.DataFrame, n_rejected: int, origin: Origin) -> NoReturn:
    """``strict=True``: the first rejected row as a :class:`LogSchemaError` with its place."""
    first = rejections.iloc[0]
    raise LogSchemaError(
        f"{origin.source}, {_row_label(int(first['row']), origin.file_lines)}, column {first['column']!r}: "
        f"{first['reason'].replace('_', ' ')} (value {first['value']!r}); {n_rejected} row(s) "
        "would be rejected in all — fix them or call without strict=True to get them reported",
        source=origin.source,
        row=int(first["row"]),
        column=str(first["column"]),
        value=first["value"],
    )


def _case_columns(
    raw: pd.DataFrame, keep: np.ndarray, case_s: pd.Series, columns: ColumnMap
) -> tuple[dict[str, str], set[Any]]:
    """Case-table name → input column, and every input column used by the mapping or the case table
    (``case_s``: the cleaned case ids of the kept rows)."""
    used: set[Any] = {c for c in columns.roles().values() if c is not None}
    listed = () if isinstance(columns.case_attributes, str) else columns.case_attributes
    # pm4py convention: unmapped "case:<name>" columns are case attributes named <name>.
    case_cols: dict[str, str] = {str(a): str(a) for a in listed}
    for col in raw.columns:
        name_ = str(col)
        if name_.startswith("case:") and col not in used and name_[5:] not in case_cols and name_ != CASE:
            case_cols[name_[5:]] = name_
            used.add(col)
    if columns.auto_case_attributes:
        for col in _constant_within_cases(raw, keep, case_s, [c for c in raw.columns if c not in used]):
            case_cols[str(col)] = str(col)
            used.add(col)
    return case_cols, used


def _event_frame(
    raw: pd.DataFrame,
    rows: np.ndarray,
    parsed: _Parsed,
    columns: ColumnMap,
    used: set[Any],
    coded: Mapping[str, CodedText],
    case: CodedText,
) -> pd.DataFrame:
    """The events: the input ``rows`` (kept, in event order), canonical columns first, then every
    unused input column as it is. Coded text is written out once, from its codes in that order;
    ``case`` holds the case ids so (``parsed.case`` is not read)."""
    import pyarrow as pa

    # every input row, in input order (an input sorted by case and time, none rejected): no take
    identity = _is_identity(rows, len(raw))
    take = pa.array(rows)
    local: bool | None = True if identity else None

    def text(t: pl.Series | CodedText, col: Any = None, same: bool = False) -> Any:
        if isinstance(t, CodedText):
            return t
        if identity and same and _is_default_text(raw[col]):
            return raw[col]  # the input column holds the clean text already (Arrow arrays are immutable)
        return to_pandas_text(t if identity else t.gather(rows))

    def stamps(tp: TimeParse) -> pd.Series:
        return pd.Series(_microseconds(tp.values)[rows].view("datetime64[us]")).dt.tz_localize("UTC")

    events: dict[str, Any] = {
        CASE: raw[columns.case] if identity and parsed.case_same and _is_default_text(raw[columns.case]) else case,
        ACTIVITY: text(parsed.activity, columns.activity, parsed.activity_same),
        TIMESTAMP: stamps(parsed.time),
    }
    if parsed.start is not None:
        events[START] = stamps(parsed.start)

    def lower(t: pl.Series) -> pl.Series:
        return _per_distinct(t, lambda s: s.str.lower())

    if columns.resource is not None:
        if columns.resource in coded:
            events[RESOURCE] = text(_clean_coded(coded[columns.resource]))
        else:
            resource, same = checked_text_values(raw[columns.resource])
            events[RESOURCE] = text(resource, columns.resource, same)
    for target, col, fn in (
        (LIFECYCLE, columns.lifecycle, lower),
        (APPROVAL_RESULT, columns.approval_result, _approval_results),
    ):
        if col is not None:
            events[target] = text(
                _clean_coded(coded[col]).map_values(fn) if col in coded else fn(text_values(raw[col]))
            )
    events[SOURCE_ROW] = rows.astype("int64")
    for col in raw.columns:
        if col in used:
            continue
        out_name = f"{col}_raw" if col in events else str(col)
        s = raw[col]
        # text columns stay as they are (Arrow-backed); others go through numpy as they always have
        if col in coded:
            events[out_name] = coded[col]
        elif not _is_default_text(s):
            events[out_name] = s.to_numpy()[rows]
        elif identity:
            events[out_name] = s
        else:
            local = _mostly_local(rows) if local is None else local
            events[out_name] = pd.Series(_take_text(s.array._pa_array, take, local), dtype="str")
    # coded text is written out last, the columns side by side (Arrow does it without the GIL)
    pending = {k: v for k, v in events.items() if isinstance(v, CodedText)}
    if pending:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(pending), 4)) as pool:
            written = list(pool.map(lambda c: c.arrow(rows), pending.values()))
        for name_, arr in zip(pending, written, strict=True):
            events[name_] = pd.Series(arr, dtype="str")
    return pd.DataFrame(events, copy=False)  # every column is new here: no copy into consolidated blocks


# A text column whose first values hold at most this many distinct ones is taken through its dictionary.
_SAMPLE, _FEW_DISTINCT = 4096, 256
# Positions are "local" when this share of steps between consecutive ones is at most _NEAR rows.
_LOCAL_SHARE, _NEAR = 0.9, 1024


def _is_identity(rows: np.ndarray, n: int) -> bool:
    """Whether ``rows`` are ``0, 1, ..., n - 1``."""
    if len(rows) != n:
        return False
    return n == 0 or bool(rows[0] == 0 and rows[-1] == n - 1 and (np.diff(rows) == 1).all())


def _mostly_local(rows: np.ndarray) -> bool:
    """Whether consecutive ``rows`` mostly lie close together (an input sorted by case, or
    nearly): then taking text values reads memory that stays in cache anyway."""
    if len(rows) < 2:
        return True
    steps = np.abs(np.diff(rows))
    return bool(np.count_nonzero(steps <= _NEAR) >= _LOCAL_SHARE * len(steps))


def _take_text(values: pa.ChunkedArray, take: pa.Array, local: bool | None = None) -> pa.Array | pa.ChunkedArray:
    """``values.take(take)``: for a column of few distinct values, when the positions jump about
    (not ``local``, see :func:`_mostly_local`; judged from ``take`` when not given), the integer
    codes are taken and the text looked up in the small dictionary (the same values, read from
    memory that stays in cache)."""
    import pyarrow.compute as pc

    if local is None:
        local = _mostly_local(take.to_numpy(zero_copy_only=False))
    if local or len(values) <= _SAMPLE or len(pc.unique(values.slice(0, _SAMPLE))) > _FEW_DISTINCT:
        return values.take(take)
    coded = pc.dictionary_encode(values).combine_chunks()
    if len(coded.dictionary) > _FEW_DISTINCT:
        return values.take(take)
    return coded.dictionary.take(coded.indices.take(take))


def _kept(t: pl.Series, keep: np.ndarray) -> pl.Series:
    """The values of the kept rows (``t`` itself when every row is kept)."""
    import polars as pl

    return t if keep.all() else t.filter(pl.Series(keep))


def _per_distinct(t: pl.Series, fn: Callable[[pd.Series], pd.Series]) -> pl.Series:
    """An element-wise pandas text operation ``fn``, applied once per distinct non-null value of ``t``."""
    import polars as pl

    distinct = t.drop_nulls().unique(maintain_order=True)
    done = polars_text(fn(to_pandas_text(distinct)).astype("str"))
    return t.replace_strict(distinct, done, default=None, return_dtype=pl.String)


def _approval_results(t: pl.Series) -> pl.Series:
    """:func:`~salesmining.ingest.values.approval_results` of cleaned text, once per distinct value."""
    return _per_distinct(
        t,
        lambda s: s.str.lower().map(lambda v: RESULT_WORDS.get(" ".join(v.replace("_", " ").split()), v)),
    )


def _is_default_text(s: pd.Series) -> bool:
    """The default text dtype (``str``, Arrow-backed, NaN for missing), as ``read_csv`` makes it."""
    return isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow" and s.dtype.na_value is not pd.NA


def _parse_warnings(parsed: _Parsed, keep: np.ndarray, timestamp: str, source: str) -> list[IngestWarning]:
    """The timestamp parser's warnings (merged per code and column) and ``date_only``, on kept rows."""
    warnings: list[IngestWarning] = []

    def warn(code: str, message: str, mask: np.ndarray) -> None:
        m = mask & keep
        if m.any():
            warnings.append(IngestWarning(code, message, int(m.sum()), _examples(m), source))

    tp, sp = parsed.time, parsed.start
    merged: dict[tuple[str, str], tuple[str, np.ndarray]] = {}
    for code, message, mask in tp.warnings + (sp.warnings if sp is not None else []):
        key = (code, message.split(":", 1)[0])
        prev = merged.get(key)
        merged[key] = (message, mask if prev is None else (prev[1] | mask))
    for (code, _), (message, mask) in merged.items():
        warn(code, message, mask)
    if tp.date_only.any():
        warn(
            "date_only",
            f"{timestamp}: dates without a time of day; same-day events are ordered by source row",
            tp.date_only,
        )
    return warnings


_EXCEL_NUMBER = r"^[+-]?\d(?:[.,]\d+)?[Ee]\+\d{1,3}$"


def _excel_id_warnings(case_s: pl.Series, keep: np.ndarray, column: str, source: str) -> list[IngestWarning]:
    """``excel_mangled_ids``: case ids that Excel turned into scientific notation (``1.23457E+17``):
    the digits after the sixth are gone, so different opportunities may have become one case."""
    import polars as pl

    plus = case_s.str.contains("+", literal=True).fill_null(False)  # every match has one: only these are checked
    numbers = _per_distinct(case_s.filter(plus), lambda s: s.str.match(_EXCEL_NUMBER).map({True: "1", False: ""}))
    mangled = np.zeros(len(case_s), dtype=bool)
    mangled[plus.to_numpy()] = (numbers == "1").fill_null(False).to_numpy()
    mangled &= keep
    if not mangled.any():
        return []
    ids = case_s.filter(pl.Series(mangled))
    return [
        IngestWarning(
            "excel_mangled_ids",
            f"{column}: {ids.n_unique():,} case id(s) such as {ids[0]!r} are numbers in scientific notation, "
            "as Excel saves long ids; their last digits are lost and different cases may have merged — "
            "export again without opening the file in Excel, or format the id column as text",
            int(mangled.sum()),
            _examples(mangled),
            source,
        )
    ]


def _constant_within_cases(raw: pd.DataFrame, keep: np.ndarray, case_ids: pd.Series, columns: list[Any]) -> list[Any]:
    """Columns with at most one distinct non-empty value in every case (and some value somewhere),
    among the ``keep`` rows of ``raw`` (``case_ids``: their cleaned case ids, in row order).

    Each column is factorised once (missing values and :data:`MISSING_TOKENS` are empty); a case
    holds one value when the smallest and largest value code among its rows agree. The same
    answer as a ``groupby(case).nunique()`` of the columns as objects, without making them objects."""
    if not len(case_ids) or not columns:
        return []
    case_no = pd.factorize(case_ids.to_numpy(), use_na_sentinel=False)[0]
    n_cases = int(case_no.max()) + 1
    out = []
    for col in columns:
        codes, uniques = pd.factorize(raw[col], use_na_sentinel=True)
        codes = codes[keep]
        empty = np.asarray(pd.Index(np.asarray(uniques, dtype=object), dtype=object).isin(list(MISSING_TOKENS)))
        if empty.any():
            codes = np.where(codes >= 0, np.where(empty[np.maximum(codes, 0)], -1, codes), -1)
        valid = codes >= 0
        if not valid.any():
            continue
        where, value = case_no[valid], codes[valid]
        low = np.full(n_cases, np.iinfo(np.int64).max, dtype=np.int64)
        high = np.full(n_cases, -1, dtype=np.int64)
        np.minimum.at(low, where, value)
        np.maximum.at(high, where, value)
        seen = high >= 0
        if bool((low[seen] == high[seen]).all()):
            out.append(col)
    return out


def _case_table(
    raw_rows: pd.DataFrame,
    keep: np.ndarray,
    case_ids: pd.Series,
    case_attributes: dict[str, str],
    outcome: str | None,
    amount: str | None,
    owner: str | None,
    source: str,
    order: tuple[np.ndarray, np.ndarray],
    coded: Mapping[str, CodedText] | None = None,
) -> tuple[pd.DataFrame, list[IngestWarning]]:
    """Case table: last non-empty value per case in event order; warn when a value changes.

    ``raw_rows`` is the input (positional index), ``keep`` marks its kept rows, ``case_ids`` the
    distinct cleaned case ids in sorted order (``order``'s case codes number them);
    ``case_attributes`` maps case-table names to input columns."""

    cols: dict[str, str] = dict(case_attributes)
    if outcome is not None:
        cols[OUTCOME] = outcome
    if amount is not None:
        cols[AMOUNT] = amount
    if owner is not None:
        cols[OWNER] = owner
    warnings: list[IngestWarning] = []
    table = pd.DataFrame({CASE: case_ids})
    if not cols:
        return table, warnings
    positions, codes = order
    rows = np.flatnonzero(keep)  # the kept rows, in input order
    values: dict[str, pl.Series] = {}  # text: per case in polars
    numbers: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0, dtype=bool))  # amounts: per case in numpy
    others: dict[str, pd.Series] = {}  # numbers, datetimes, booleans keep their type: per case in pandas
    coded = coded or {}

    def texts(col: str) -> pl.Series:
        return _clean_coded(coded[col]).polars() if col in coded else text_values(raw_rows[col])

    for target, col in cols.items():
        raw = raw_rows[col]
        if target == AMOUNT:
            vals, bad = _case_amounts(raw, keep, texts(col) if col in coded else None)
            if bad.any():
                warnings.append(
                    IngestWarning(
                        "unparsable_amount",
                        f"{col}: values not read as numbers (left empty)",
                        int(bad.sum()),
                        _examples(bad, rows),
                        source,
                    )
                )
            numbers = _last_number_per_case(vals, codes[positions], positions)
        elif target == OUTCOME:
            values[target] = _outcomes(_kept(texts(col), keep), col, source)
        elif col in coded or raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
            values[target] = _kept(texts(col), keep)
        else:
            others[target] = raw.take(rows).reset_index(drop=True)
    by_case = _last_per_case(values, codes[positions], positions)
    if others:
        frame = pd.DataFrame({CASE: case_ids.take(codes[positions])})
        for target, s in others.items():
            frame[target] = s.to_numpy()[positions]
        g = frame.groupby(CASE, sort=True)
        last = g.last().reset_index(drop=True)
    changed_by: dict[str, np.ndarray] = {}
    for target in cols:
        if target == AMOUNT:
            table[target], changed_by[target] = numbers
        elif target in values:
            last_value, changed_by[target] = by_case[target]
            table[target] = _case_text(last_value)
        else:
            table[target] = last[target]
            changed_by[target] = (g[target].nunique(dropna=True) > 1).to_numpy()
    for target in cols:
        changed = np.flatnonzero(changed_by[target])
        if len(changed):
            warnings.append(
                IngestWarning(
                    "inconsistent_case_attribute",
                    f"{cols[target]}: changes within {len(changed):,} case(s) (the last value is kept), "
                    f"e.g. case {case_ids.iloc[int(changed[0])]!r}",
                    len(changed),
                    source=source,
                )
            )
    return table, warnings


def _case_text(last: pl.Series) -> pd.Series:
    """A text column of the case table: ``str``, or ``object`` holding ``None`` when no case has a value."""
    if last.null_count() == len(last):
        return pd.Series([None] * len(last), dtype=object)
    return to_pandas_text(last)


def _case_amounts(raw: pd.Series, keep: np.ndarray, text: pl.Series | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``amount`` of the kept rows (input order): (float64 values, unparsable mask); ``text``:
    the cleaned text of ``raw`` when it is coded text."""

    if text is None and pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.to_numpy(dtype="float64", na_value=np.nan)[keep], np.zeros(int(keep.sum()), dtype=bool)
    return amounts(_kept(text_values(raw) if text is None else text, keep))


def _outcomes(t: pl.Series, column: str, source: str) -> pl.Series:
    """Outcome words (``won``/``win``, ``lost``/``lose``, ``open``; any case) as ``won``/``lost``/``open``;
    any other value is a :class:`LogSchemaError`."""
    low = _per_distinct(t, lambda s: s.str.lower())
    unknown = sorted(set(low.drop_nulls().unique().to_list()) - set(OUTCOME_WORDS))
    if unknown:
        raise LogSchemaError(
            f"{source}: the outcome column {column!r} has values {unknown[:8]} that are "
            "not won/lost/open; map them first, or derive outcomes from activities with "
            "log.with_outcomes(won=[...], lost=[...])",
            source=source,
            column=column,
        )
    return low.replace_strict(OUTCOME_WORDS, default=None, return_dtype=low.dtype)


def _last_number_per_case(
    values: np.ndarray, codes: np.ndarray, positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of the kept rows (input order, NaN = empty): each case's last non-empty one in event
    order and whether it holds more than one distinct number. ``codes`` are the case codes in
    event order (sorted), ``positions`` the event order."""
    if not len(values):
        return np.empty(0), np.empty(0, dtype=bool)
    v = values[positions]
    present = ~np.isnan(v)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    last_at = np.maximum.reduceat(np.where(present, np.arange(len(v)), -1), starts)
    last = np.where(last_at >= starts, v[np.maximum(last_at, 0)], np.nan)
    lowest = np.minimum.reduceat(np.where(present, v, np.inf), starts)
    highest = np.maximum.reduceat(np.where(present, v, -np.inf), starts)
    return last, highest > lowest


def _last_per_case(
    values: dict[str, pl.Series], codes: np.ndarray, positions: np.ndarray
) -> dict[str, tuple[pl.Series, np.ndarray]]:
    """For each text column (kept rows in input order, null = empty): each case's last non-empty value
    in event order and whether it holds more than one distinct value. ``codes`` are the case
    codes in event order (sorted), ``positions`` the event order."""
    import polars as pl

    if not values:
        return {}
    frame = pl.DataFrame({"case": codes, **{f"v{i}": s.gather(positions) for i, s in enumerate(values.values())}})
    per_case = frame.group_by("case", maintain_order=True).agg(
        *[pl.col(f"v{i}").drop_nulls().last().alias(f"last{i}") for i in range(len(values))],
        *[(pl.col(f"v{i}").drop_nulls().n_unique() > 1).alias(f"changed{i}") for i in range(len(values))],
    )
    return {target: (per_case[f"last{i}"], per_case[f"changed{i}"].to_numpy()) for i, target in enumerate(values)}


def log_shape_warnings(
    ev: pd.DataFrame, source: str, order: tuple[np.ndarray, np.ndarray] | None = None
) -> list[IngestWarning]:
    """Warnings about the log's shape: timestamp ties within a case, single-event cases.
    ``order`` is :func:`event_order` of ``ev`` when the caller has it already."""
    if not len(ev):
        return []
    rows = ev[SOURCE_ROW].to_numpy()
    order = order if order is not None else event_order(ev[CASE], ev[TIMESTAMP], rows)
    return _shape_warnings(ev[TIMESTAMP].to_numpy(dtype="datetime64[us]").view("int64"), rows, order, source)


def _shape_warnings(
    stamp: np.ndarray, rows: np.ndarray, order: tuple[np.ndarray, np.ndarray], source: str
) -> list[IngestWarning]:
    """:func:`log_shape_warnings` of events given as int64 microseconds, source rows and their order."""
    out: list[IngestWarning] = []
    if not len(stamp):
        return out
    positions, codes = order
    c = codes[positions]
    stamp = stamp[positions]
    tie = np.zeros(len(stamp), dtype=bool)
    tie[1:] = (c[1:] == c[:-1]) & (stamp[1:] == stamp[:-1])
    if tie.any():
        n_cases = len(np.unique(c[tie]))
        out.append(
            IngestWarning(
                "timestamp_ties",
                f"{int(tie.sum()):,} events share their timestamp with the previous event of the same case "
                f"({n_cases:,} cases); ties are ordered by source row",
                int(tie.sum()),
                tuple(int(r) for r in rows[positions][tie][:10]),
                source,
            )
        )
    sizes = np.bincount(codes)
    single = np.flatnonzero(sizes == 1)
    if len(single):
        out.append(
            IngestWarning(
                "single_event_cases",
                f"{len(single):,} cases have a single event (no transitions or durations)",
                len(single),
                tuple(int(r) for r in rows[np.isin(codes, single[:10])][:10]),
                source,
            )
        )
    return out
