"""The ingest core: a raw frame plus a :class:`ColumnMap` and :class:`ReadOptions` → :class:`EventLog`.

Every row is accounted for: it becomes an event, or a rejection with a reason from the closed
vocabulary (missing case id / activity / timestamp, unparsable or implausible timestamp,
start after end, duplicate row). Case attributes go to the case table; warnings to the report.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, NoReturn

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
from salesmining.ingest.options import ColumnMap, ReadOptions
from salesmining.ingest.timestamps import MISSING_TOKENS, TimeParse, parse_timestamps
from salesmining.ingest.values import OUTCOME_WORDS, approval_results, as_text, clean_activity, parse_amount
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestReport, IngestWarning, empty_rejections, make_rejections

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


def sort_positions(codes: np.ndarray, ts: pd.Series, row: np.ndarray) -> np.ndarray:
    """Positions in the stable order by (case code, timestamp, row) — polars' parallel sort."""
    import polars as pl

    keys = pl.DataFrame({"c": codes, "t": ts.to_numpy(dtype="datetime64[us]").view("int64"), "r": row})
    return keys.select(pl.arg_sort_by(["c", "t", "r"], maintain_order=True)).to_series().to_numpy()


def _row_label(row: int, file_lines: bool) -> str:
    return f"row {row} (line {row + 2} of the file)" if file_lines else f"row {row}"


def _examples(mask: np.ndarray, rows: np.ndarray | None = None) -> tuple[int, ...]:
    idx = np.flatnonzero(mask)[:10]
    return tuple(int(i) for i in (idx if rows is None else rows[idx]))


def build_log(df: pd.DataFrame, columns: ColumnMap, options: ReadOptions, origin: Origin) -> EventLog:
    """The shared ingest core of every tabular reader: map, clean, check and account for each row
    of ``df`` (never modified) and build the :class:`EventLog` with its :class:`IngestReport`."""
    source = origin.source
    mapping = columns.roles()
    check_columns(df, mapping, source)
    parsed = _parse(df, columns, options, source)
    rejected, rejections = _reject(df, columns, parsed, source)
    if options.strict and rejected.any():
        _refuse(rejections, int(rejected.sum()), origin)
    keep = ~rejected
    raw = df.reset_index(drop=True)
    case_cols, used = _case_columns(raw, keep, parsed.case, columns)
    # the kept rows in input order, and their order by (case, timestamp, row): sorted once, shared
    kept_rows = np.flatnonzero(keep)
    in_order = pd.DataFrame(
        {
            CASE: parsed.case[keep].reset_index(drop=True),
            TIMESTAMP: parsed.time.values[keep].reset_index(drop=True),
            SOURCE_ROW: kept_rows,
        }
    )
    order = event_order(in_order[CASE], in_order[TIMESTAMP], kept_rows)
    ev = _event_frame(df, raw, kept_rows[order[0]], parsed, columns, used)

    warnings = list(origin.warnings) + _parse_warnings(parsed, keep, columns.timestamp, source)
    warnings += _excel_id_warnings(parsed.case, keep, columns.case, source)
    cases_df, case_warnings = _case_table(
        raw, in_order[CASE], kept_rows, case_cols, columns.outcome, columns.amount, columns.owner, source, order
    )
    warnings += case_warnings
    warnings += log_shape_warnings(in_order, source, order)

    report = IngestReport(
        source=source,
        rows_read=len(df),
        rows_kept=int(keep.sum()),
        _rejections=rejections,
        warnings=tuple(sorted(warnings, key=lambda w: (-w.count, w.code))),
        encoding=origin.encoding,
        notes=(*origin.notes, f"mapped: {', '.join(f'{k}={v!r}' for k, v in mapping.items() if v is not None)}"),
    )
    return EventLog(ev, cases_df, quality=report, name=options.name)


@dataclass(frozen=True)
class _Parsed:
    """The key columns, cleaned and parsed once (positional, aligned with the input rows)."""

    case: pd.Series
    activity: pd.Series
    time: TimeParse
    start: TimeParse | None
    implausible: np.ndarray


def _parse(df: pd.DataFrame, columns: ColumnMap, options: ReadOptions, source: str) -> _Parsed:
    def times(col: str) -> TimeParse:
        return parse_timestamps(
            df[col],
            column=col,
            source=source,
            timezone=options.timezone,
            dayfirst=options.dayfirst,
            date_format=options.date_format,
        )

    case_s = as_text(df[columns.case]).reset_index(drop=True)
    act_s = clean_activity(df[columns.activity]).reset_index(drop=True)
    tp = times(columns.timestamp)
    lo, hi = options.bounds()
    ts = tp.values
    implausible = tp.out_of_range | (ts.notna() & ((ts < lo) | (ts >= hi))).to_numpy()
    sp = times(columns.start_timestamp) if columns.start_timestamp is not None else None
    return _Parsed(case_s, act_s, tp, sp, implausible)


def _duplicate_rows(df: pd.DataFrame) -> np.ndarray:
    """Rows equal to an earlier row in *every* column of the source — a named index (an event id
    set as the index) included, since it is data; a plain positional index is not."""
    named = any(name is not None for name in df.index.names)
    raw = df.reset_index(drop=not named)
    if named:
        raw.columns = range(raw.shape[1])  # an index level named like a column stays a column of its own
    if len(raw) > 1000 and all(_is_arrow_text(raw[c]) for c in raw.columns):
        # equal rows hash alike: only rows whose hash repeats can be duplicates, and only those
        # are compared in full (pandas, as for any other frame)
        import polars as pl
        import pyarrow as pa

        table = pa.table({f"c{i}": pa.array(raw[c].array) for i, c in enumerate(raw.columns)})
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        candidates = np.flatnonzero(frame.hash_rows().is_duplicated().to_numpy())
        out = np.zeros(len(raw), dtype=bool)
        if len(candidates):
            out[candidates] = raw.iloc[candidates].duplicated(keep="first").to_numpy()
        return out
    try:
        return raw.duplicated(keep="first").to_numpy()
    except TypeError:
        return raw.astype("str").duplicated(keep="first").to_numpy()


def _reject(df: pd.DataFrame, columns: ColumnMap, parsed: _Parsed, source: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's first failed check, in the documented order: (rejected mask, rejections by row)."""
    n = len(df)
    rows = np.arange(n, dtype="int64")
    dup = _duplicate_rows(df)
    case, activity, timestamp = columns.case, columns.activity, columns.timestamp
    tp, sp = parsed.time, parsed.start
    checks: list[tuple[str, str, np.ndarray, pd.Series]] = [
        ("missing_case_id", case, parsed.case.isna().to_numpy(), df[case]),
        ("missing_activity", activity, parsed.activity.isna().to_numpy(), df[activity]),
        ("missing_timestamp", timestamp, tp.missing, df[timestamp]),
        ("unparsable_timestamp", timestamp, tp.unparsable, df[timestamp]),
        ("implausible_timestamp", timestamp, parsed.implausible, df[timestamp]),
    ]
    start = columns.start_timestamp
    if sp is not None and start is not None:
        st_bad = sp.unparsable | sp.out_of_range
        after = (sp.values.notna() & tp.values.notna() & (sp.values > tp.values)).to_numpy()
        checks += [
            ("unparsable_start_timestamp", start, st_bad, df[start]),
            ("start_after_timestamp", start, after, df[start]),
        ]
    checks.append(("duplicate_row", "*", dup, pd.Series(["(whole row)"] * n)))

    rejected = np.zeros(n, dtype=bool)
    parts = [empty_rejections()]
    for reason, column, mask, values in checks:
        m = mask & ~rejected
        if m.any():
            vals = values.reset_index(drop=True)[m]
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
    """Case-table name → input column, and every input column used by the mapping or the case table."""
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
        for col in _constant_within_cases(raw[keep], case_s[keep], [c for c in raw.columns if c not in used]):
            case_cols[str(col)] = str(col)
            used.add(col)
    return case_cols, used


def _event_frame(
    df: pd.DataFrame, raw: pd.DataFrame, rows: np.ndarray, parsed: _Parsed, columns: ColumnMap, used: set[Any]
) -> pd.DataFrame:
    """The events: the input ``rows`` (kept, in event order), canonical columns first, then every
    unused input column as it is."""

    in_place = len(rows) == len(df) and bool(np.array_equal(rows, np.arange(len(df))))

    def kept(s: pd.Series) -> pd.Series:
        s = s.reset_index(drop=True)
        return s if in_place else s.take(rows).reset_index(drop=True)

    events: dict[str, Any] = {
        CASE: kept(parsed.case),
        ACTIVITY: kept(parsed.activity),
        TIMESTAMP: kept(parsed.time.values),
    }
    if parsed.start is not None:
        events[START] = kept(parsed.start.values)
    if columns.resource is not None:
        events[RESOURCE] = kept(as_text(df[columns.resource]))
    if columns.lifecycle is not None:
        events[LIFECYCLE] = kept(as_text(df[columns.lifecycle])).str.lower()
    if columns.approval_result is not None:
        events[APPROVAL_RESULT] = kept(approval_results(df[columns.approval_result]))
    events[SOURCE_ROW] = rows.astype("int64")
    for col in raw.columns:
        if col in used:
            continue
        out_name = f"{col}_raw" if col in events else str(col)
        # text columns stay as they are (Arrow-backed); others go through numpy as they always have
        events[out_name] = kept(raw[col]) if _is_arrow_text(raw[col]) else raw[col].to_numpy()[rows]
    ev = pd.DataFrame(events)
    for col in (TIMESTAMP, START):
        if col in ev.columns:
            ev[col] = ev[col].astype("datetime64[us, UTC]")
    return ev


def _is_arrow_text(s: pd.Series) -> bool:
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


def _excel_id_warnings(case_s: pd.Series, keep: np.ndarray, column: str, source: str) -> list[IngestWarning]:
    """``excel_mangled_ids``: case ids that Excel turned into scientific notation (``1.23457E+17``):
    the digits after the sixth are gone, so different opportunities may have become one case."""
    mangled = (case_s.str.match(_EXCEL_NUMBER).fillna(False).to_numpy(dtype=bool)) & keep
    if not mangled.any():
        return []
    ids = case_s[mangled]
    return [
        IngestWarning(
            "excel_mangled_ids",
            f"{column}: {ids.nunique():,} case id(s) such as {ids.iloc[0]!r} are numbers in scientific notation, "
            "as Excel saves long ids; their last digits are lost and different cases may have merged — "
            "export again without opening the file in Excel, or format the id column as text",
            int(mangled.sum()),
            _examples(mangled),
            source,
        )
    ]


def _constant_within_cases(rows: pd.DataFrame, case_ids: pd.Series, columns: list[Any]) -> list[Any]:
    """Columns with at most one distinct non-empty value in every case (and some value somewhere)."""
    if not len(rows) or not columns:
        return []
    frame = rows[columns].reset_index(drop=True).astype("object")
    frame = frame.where(~frame.isin(list(MISSING_TOKENS)) & frame.notna(), None)
    nun = frame.groupby(case_ids.reset_index(drop=True).to_numpy(), sort=False).nunique(dropna=True)
    has_value = frame.notna().any()
    return [c for c in columns if bool(has_value[c]) and int(nun[c].max()) <= 1]


def _case_table(
    raw_rows: pd.DataFrame,
    case_ids: pd.Series,
    rows: np.ndarray,
    case_attributes: dict[str, str],
    outcome: str | None,
    amount: str | None,
    owner: str | None,
    source: str,
    order: tuple[np.ndarray, np.ndarray],
) -> tuple[pd.DataFrame, list[IngestWarning]]:
    """Case table: last non-empty value per case in event order; warn when a value changes.

    ``raw_rows`` is the input (positional index), ``rows`` the kept rows in input order and
    ``case_ids`` their cleaned case ids; ``case_attributes`` maps case-table names to input columns."""
    cols: dict[str, str] = dict(case_attributes)
    if outcome is not None:
        cols[OUTCOME] = outcome
    if amount is not None:
        cols[AMOUNT] = amount
    if owner is not None:
        cols[OWNER] = owner
    warnings: list[IngestWarning] = []
    ordered_pos = order[0]
    out = pd.DataFrame({CASE: case_ids.reset_index(drop=True).take(ordered_pos).reset_index(drop=True)})
    for target, col in cols.items():
        raw = raw_rows[col].take(rows).reset_index(drop=True)  # the kept rows, in input order
        if target == AMOUNT:
            vals, bad = parse_amount(raw)
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
        elif target == OUTCOME:
            txt = as_text(raw).str.lower()
            mapped = txt.map(lambda v: OUTCOME_WORDS.get(v), na_action="ignore")
            unknown = txt.notna() & mapped.isna()
            if unknown.any():
                raise LogSchemaError(
                    f"{source}: the outcome column {col!r} has values {sorted(txt[unknown].unique())[:8]} that are "
                    "not won/lost/open; map them first, or derive outcomes from activities with "
                    "log.with_outcomes(won=[...], lost=[...])",
                    source=source,
                    column=col,
                )
            vals = mapped.astype("str")
        elif raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
            vals = as_text(raw)
        else:
            vals = raw  # numbers, datetimes, booleans keep their type
        out[target] = vals.to_numpy()[ordered_pos]
    if not cols:
        return out.drop_duplicates(CASE).reset_index(drop=True), warnings
    g = out.groupby(CASE, sort=True)
    table = g.last()  # last non-null per column, in event order
    for target in cols:
        nun = g[target].nunique(dropna=True)
        changed = nun[nun > 1]
        if len(changed):
            warnings.append(
                IngestWarning(
                    "inconsistent_case_attribute",
                    f"{cols[target]}: changes within {len(changed):,} case(s) (the last value is kept), "
                    f"e.g. case {changed.index[0]!r}",
                    len(changed),
                    source=source,
                )
            )
    return table.reset_index(), warnings


def log_shape_warnings(
    ev: pd.DataFrame, source: str, order: tuple[np.ndarray, np.ndarray] | None = None
) -> list[IngestWarning]:
    """Warnings about the log's shape: timestamp ties within a case, single-event cases.
    ``order`` is :func:`event_order` of ``ev`` when the caller has it already."""
    out: list[IngestWarning] = []
    if not len(ev):
        return out
    positions, codes = order if order is not None else event_order(ev[CASE], ev[TIMESTAMP], ev[SOURCE_ROW].to_numpy())
    c = codes[positions]
    stamp = ev[TIMESTAMP].to_numpy(dtype="datetime64[us]").view("int64")[positions]
    rows = ev[SOURCE_ROW].to_numpy()
    tie = np.zeros(len(ev), dtype=bool)
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
