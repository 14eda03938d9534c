"""Ingest: raw activity exports → :class:`EventLog`, with every input row accounted for."""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from salesmining.core.errors import EncodingError, LogSchemaError
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
from salesmining.ingest.timestamps import MISSING_TOKENS, TimeParse, parse_timestamps
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import IngestReport, IngestWarning, empty_rejections, make_rejections

__all__ = ["DEFAULT_PLAUSIBLE_RANGE", "decode_bytes", "from_dataframe", "read_csv", "read_table_file"]

#: Timestamps outside [start, end) are rejected as implausible (sentinels like 1900-01-01, 9999-12-31, epoch 0).
DEFAULT_PLAUSIBLE_RANGE = ("1971-01-01", "2100-01-01")

PathOrBuffer = str | os.PathLike[str] | IO[str] | IO[bytes] | bytes

_RESULT_WORDS = {
    "approve": "approved",
    "yes": "approved",
    "ok": "approved",
    "accepted": "approved",
    "granted": "approved",
    "reject": "rejected",
    "declined": "rejected",
    "denied": "rejected",
    "no": "rejected",
    "refused": "rejected",
}
_OUTCOME_WORDS = {"won": "won", "win": "won", "lost": "lost", "lose": "lost", "open": "open"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WESTERN = ("cp1252", "latin_1", "iso8859_15", "iso8859_1", "windows-1252")
_CJK_AND_OTHERS = (
    "gb18030",
    "gbk",
    "gb2312",
    "big5",
    "big5hkscs",
    "shift_jis",
    "cp932",
    "euc_jp",
    "euc_kr",
    "cp949",
    "utf_16",
    "utf_32",
)


# --- reading files -------------------------------------------------------------------------
def _source_name(obj: object) -> str:
    if isinstance(obj, (str, os.PathLike)):
        return Path(obj).name
    name = getattr(obj, "name", None)
    return Path(name).name if isinstance(name, str) else "<buffer>"


def _read_bytes(obj: PathOrBuffer) -> bytes | str:
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        p = Path(obj)
        if not p.exists():
            raise LogSchemaError(f"no such file: {p}", source=str(p))
        data = p.read_bytes()
        if p.suffix == ".gz" or data[:2] == b"\x1f\x8b":
            import gzip

            data = gzip.decompress(data)
        return data
    content = obj.read()
    return content


def decode_bytes(
    data: bytes | str, *, encoding: str | None, source: str
) -> tuple[str, str | None, IngestWarning | None]:
    """Decode a file's bytes: the given encoding, else UTF-8 (BOM or not), else a *confidently*
    detected fallback (reported), else an :class:`EncodingError` that says what to pass."""
    if isinstance(data, str):
        return data.lstrip("\ufeff"), None, None
    if encoding is not None:
        try:
            return data.decode(encoding).lstrip("\ufeff"), encoding, None
        except (UnicodeDecodeError, LookupError) as exc:
            raise EncodingError(f"{source} cannot be read as {encoding!r}: {exc}", source=source) from exc
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc).lstrip("\ufeff"), enc, None
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    line = data[:bad_at].count(b"\n") + 1
    chosen = _detect_fallback(data)
    if chosen is None:
        raise EncodingError(
            f"{source} is not valid UTF-8 (first bad byte 0x{data[bad_at]:02x} on line {line}) and its encoding "
            "cannot be told safely; pass encoding=... — Salesforce and Excel exports on Windows are usually "
            "encoding='cp1252', Chinese ones encoding='gb18030'",
            source=source,
            row=max(line - 2, 0),
        )
    text = data.decode(chosen)
    warn = IngestWarning(
        "encoding_fallback",
        f"{source} is not UTF-8 (first non-UTF-8 byte on line {line}); decoded as {chosen} "
        f"(pass encoding=... to override)",
        1,
        source=source,
    )
    return text.lstrip("\ufeff"), chosen, warn


def _detect_fallback(data: bytes) -> str | None:
    """Pick cp1252/latin-1 for Western text, a CJK codec for Chinese/Japanese/Korean; None if unsure."""
    from charset_normalizer import from_bytes

    results = list(from_bytes(data, cp_isolation=None))
    names = [r.encoding for r in results]
    best = results[0] if results else None
    if best is not None and best.encoding in _CJK_AND_OTHERS and best.chaos < 0.1:
        return str(best.encoding)
    if any(n in _WESTERN for n in names) or (
        best is not None
        and best.language in ("English", "Spanish", "French", "German", "Portuguese", "Italian", "Dutch")
    ):
        try:
            data.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            return "latin-1"
    return None


def _sniff_sep(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table_file(
    path_or_buffer: PathOrBuffer, *, encoding: str | None = None, sep: str | None = None
) -> tuple[pd.DataFrame, str, str | None, list[IngestWarning], list[str]]:
    """Read a delimited text file as all-string columns (nothing converted, nothing dropped).

    Returns (frame, source name, encoding used, warnings, notes).
    """
    source = _source_name(path_or_buffer)
    text, used, warn = decode_bytes(_read_bytes(path_or_buffer), encoding=encoding, source=source)
    delimiter = sep or _sniff_sep(text)
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=True
        )
    except pd.errors.ParserError as exc:
        raise LogSchemaError(
            f"{source} is not a well-formed delimited file ({exc}); check the separator (sep=...) and quoting",
            source=source,
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise LogSchemaError(f"{source} is empty", source=source) from exc
    df.columns = [str(c).strip() for c in df.columns]
    notes = [f"read {source} as {used or 'text'} with separator {delimiter!r}"]
    return df, source, used, [warn] if warn else [], notes


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
    df, source, used, warns, notes = read_table_file(path_or_buffer, encoding=encoding, sep=sep)
    return _ingest(
        df,
        source=source,
        encoding=used,
        extra_warnings=warns,
        notes=notes,
        case=case,
        activity=activity,
        timestamp=timestamp,
        start_timestamp=start_timestamp,
        resource=resource,
        lifecycle=lifecycle,
        approval_result=approval_result,
        case_attributes=case_attributes,
        outcome=outcome,
        amount=amount,
        owner=owner,
        timezone=timezone,
        dayfirst=dayfirst,
        date_format=date_format,
        strict=strict,
        plausible_range=plausible_range,
        name=name or source,
        file_lines=True,
    )


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
        raise LogSchemaError(f"from_dataframe needs a pandas DataFrame, not {type(df).__name__}")
    return _ingest(
        df,
        source="DataFrame",
        encoding=None,
        extra_warnings=[],
        notes=[],
        case=case,
        activity=activity,
        timestamp=timestamp,
        start_timestamp=start_timestamp,
        resource=resource,
        lifecycle=lifecycle,
        approval_result=approval_result,
        case_attributes=case_attributes,
        outcome=outcome,
        amount=amount,
        owner=owner,
        timezone=timezone,
        dayfirst=dayfirst,
        date_format=date_format,
        strict=strict,
        plausible_range=plausible_range,
        name=name,
        file_lines=False,
    )


# --- the ingest core -----------------------------------------------------------------------
def _check_columns(df: pd.DataFrame, mapping: dict[str, str | None], source: str) -> None:
    cols = [str(c) for c in df.columns]
    for role, col in mapping.items():
        if col is None or col in df.columns:
            continue
        close = difflib.get_close_matches(col, cols, n=1, cutoff=0.5) or difflib.get_close_matches(
            col.lower(), [c.lower() for c in cols], n=1, cutoff=0.5
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise LogSchemaError(
            f"{source}: the {role} column {col!r} does not exist.{hint} Columns present: {cols}",
            source=source,
            column=col,
        )


def _as_text(s: pd.Series, *, activity: bool = False) -> pd.Series:
    """Values as clean strings (NFC, trimmed; for activities also control characters and runs of
    white space folded); missing tokens → NA. Integral floats lose their '.0'. Work is done once
    per distinct value."""
    if pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        integral = np.isfinite(arr) & (arr == np.round(arr))
        txt = np.where(integral, np.char.mod("%d", np.where(integral, arr, 0).astype("int64")), s.astype("str"))
        txt_obj = np.asarray(txt, dtype=object)
        txt_obj[~np.isfinite(arr)] = None
        s = pd.Series(txt_obj, index=s.index, dtype="object")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    cleaned: list[str | None] = []
    for u in uniques:
        v = unicodedata.normalize("NFC", str(u)).strip()
        if activity:
            v = " ".join(_CONTROL.sub(" ", v).split())
        cleaned.append(None if v in MISSING_TOKENS else v)
    lookup = np.array([*cleaned, None], dtype=object)
    return pd.Series(lookup[codes], index=s.index, dtype="str")


def _clean_activity(s: pd.Series) -> pd.Series:
    return _as_text(s, activity=True)


def parse_amount(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers from money strings: ``$12,400.00``, ``12.400,00 €``, ``42,000``, ``-1 250,5``.

    Returns (values, unparsable mask for non-empty values that did not parse).
    """
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64"), np.zeros(len(s), dtype=bool)
    t = _as_text(s)
    present = t.notna().to_numpy()
    x = t.str.replace(r"[^\d,.\-]", "", regex=True)
    both = x.str.contains(",", regex=False) & x.str.contains(".", regex=False)
    comma_dec = both & (x.str.rfind(",") > x.str.rfind("."))
    only_comma = x.str.contains(",", regex=False) & ~x.str.contains(".", regex=False)
    comma_thousands = only_comma & x.str.fullmatch(r"-?\d{1,3}(,\d{3})+")
    y = x.where(~comma_dec, x.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    y = y.where(~(both & ~comma_dec), y.str.replace(",", "", regex=False))
    y = y.where(~comma_thousands.fillna(False), y.str.replace(",", "", regex=False))
    y = y.where(~(only_comma & ~comma_thousands.fillna(False)), y.str.replace(",", ".", regex=False))
    only_dots = ~x.str.contains(",", regex=False) & (x.str.count(r"\.") > 1)
    y = y.where(~only_dots.fillna(False), y.str.replace(".", "", regex=False))
    vals = pd.to_numeric(y, errors="coerce").astype("float64")
    bad = present & vals.isna().to_numpy()
    return vals, bad


def _row_label(row: int, file_lines: bool) -> str:
    return f"row {row} (line {row + 2} of the file)" if file_lines else f"row {row}"


def _examples(mask: np.ndarray, rows: np.ndarray | None = None) -> tuple[int, ...]:
    idx = np.flatnonzero(mask)[:10]
    return tuple(int(i) for i in (idx if rows is None else rows[idx]))


def _ingest(
    df: pd.DataFrame,
    *,
    source: str,
    encoding: str | None,
    extra_warnings: list[IngestWarning],
    notes: list[str],
    case: str,
    activity: str,
    timestamp: str,
    start_timestamp: str | None,
    resource: str | None,
    lifecycle: str | None,
    case_attributes: Sequence[str] | Literal["auto"],
    approval_result: str | None = None,
    outcome: str | None,
    amount: str | None,
    owner: str | None,
    timezone: str | None,
    dayfirst: bool | None,
    date_format: str | None,
    strict: bool,
    plausible_range: tuple[str, str],
    name: str | None,
    file_lines: bool,
) -> EventLog:
    auto_case = isinstance(case_attributes, str) and case_attributes == "auto"
    if auto_case:
        case_attributes = ()
    mapping: dict[str, str | None] = {
        "case": case,
        "activity": activity,
        "timestamp": timestamp,
        "start_timestamp": start_timestamp,
        "resource": resource,
        "lifecycle": lifecycle,
        "approval_result": approval_result,
        "outcome": outcome,
        "amount": amount,
        "owner": owner,
    }
    for attr in case_attributes:
        mapping[f"case attribute {attr!r}"] = attr
    _check_columns(df, mapping, source)
    n = len(df)
    rows = np.arange(n, dtype="int64")

    case_s = _as_text(df[case]).reset_index(drop=True)
    act_s = _clean_activity(df[activity]).reset_index(drop=True)
    tp = parse_timestamps(
        df[timestamp], column=timestamp, source=source, timezone=timezone, dayfirst=dayfirst, date_format=date_format
    )
    lo, hi = (pd.Timestamp(x, tz="UTC") for x in plausible_range)
    ts = tp.values
    implausible = tp.out_of_range | (ts.notna() & ((ts < lo) | (ts >= hi))).to_numpy()

    sp: TimeParse | None = None
    if start_timestamp is not None:
        sp = parse_timestamps(
            df[start_timestamp],
            column=start_timestamp,
            source=source,
            timezone=timezone,
            dayfirst=dayfirst,
            date_format=date_format,
        )

    raw = df.reset_index(drop=True)
    try:
        dup = raw.duplicated(keep="first").to_numpy()
    except TypeError:
        dup = raw.astype("str").duplicated(keep="first").to_numpy()

    checks: list[tuple[str, str, np.ndarray, pd.Series]] = [
        ("missing_case_id", case, case_s.isna().to_numpy(), df[case]),
        ("missing_activity", activity, act_s.isna().to_numpy(), df[activity]),
        ("missing_timestamp", timestamp, tp.missing, df[timestamp]),
        ("unparsable_timestamp", timestamp, tp.unparsable, df[timestamp]),
        ("implausible_timestamp", timestamp, implausible, df[timestamp]),
    ]
    if sp is not None and start_timestamp is not None:
        st_bad = sp.unparsable | sp.out_of_range
        after = (sp.values.notna() & ts.notna() & (sp.values > ts)).to_numpy()
        checks += [
            ("unparsable_start_timestamp", start_timestamp, st_bad, df[start_timestamp]),
            ("start_after_timestamp", start_timestamp, after, df[start_timestamp]),
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
    rejections = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable")

    if strict and rejected.any():
        first = rejections.iloc[0]
        raise LogSchemaError(
            f"{source}, {_row_label(int(first['row']), file_lines)}, column {first['column']!r}: "
            f"{first['reason'].replace('_', ' ')} (value {first['value']!r}); {int(rejected.sum())} row(s) "
            "would be rejected in all — fix them or call without strict=True to get them reported",
            source=source,
            row=int(first["row"]),
            column=str(first["column"]),
            value=first["value"],
        )

    keep = ~rejected
    used = {c for c in mapping.values() if c is not None}
    # pm4py convention: unmapped "case:<name>" columns are case attributes named <name>.
    case_cols: dict[str, str] = {str(a): str(a) for a in case_attributes}
    for col in raw.columns:
        name_ = str(col)
        if name_.startswith("case:") and col not in used and name_[5:] not in case_cols and name_ != CASE:
            case_cols[name_[5:]] = name_
            used.add(col)
    if auto_case:
        for col in _constant_within_cases(raw[keep], case_s[keep], [c for c in raw.columns if c not in used]):
            case_cols[str(col)] = str(col)
            used.add(col)
    events: dict[str, Any] = {
        CASE: case_s[keep].to_numpy(),
        ACTIVITY: act_s[keep].to_numpy(),
        TIMESTAMP: ts[keep].to_numpy(),
    }
    if sp is not None:
        events[START] = sp.values[keep].to_numpy()
    if resource is not None:
        events[RESOURCE] = _as_text(df[resource]).reset_index(drop=True)[keep].to_numpy()
    if lifecycle is not None:
        events[LIFECYCLE] = _as_text(df[lifecycle]).reset_index(drop=True)[keep].str.lower().to_numpy()
    if approval_result is not None:
        res = _as_text(df[approval_result]).reset_index(drop=True)[keep].str.lower()
        events[APPROVAL_RESULT] = res.replace(_RESULT_WORDS).to_numpy()
    events[SOURCE_ROW] = rows[keep]
    for col in raw.columns:
        if col in used:
            continue
        out_name = f"{col}_raw" if col in events else str(col)
        events[out_name] = raw[col].to_numpy()[keep]
    ev = pd.DataFrame(events)
    for col in (TIMESTAMP, START):
        if col in ev.columns:
            ev[col] = ev[col].astype("datetime64[us, UTC]")

    warnings = list(extra_warnings)

    def warn(code: str, message: str, mask: np.ndarray) -> None:
        m = mask & keep
        if m.any():
            warnings.append(IngestWarning(code, message, int(m.sum()), _examples(m), source))

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

    cases_df, case_warnings = _case_table(raw[keep], case_s[keep], ev, case_cols, outcome, amount, owner, source)
    warnings += case_warnings
    warnings += _log_shape_warnings(ev, source)

    report = IngestReport(
        source=source,
        rows_read=n,
        rows_kept=int(keep.sum()),
        _rejections=rejections,
        warnings=tuple(sorted(warnings, key=lambda w: (-w.count, w.code))),
        encoding=encoding,
        notes=(*notes, f"mapped: {', '.join(f'{k}={v!r}' for k, v in mapping.items() if v is not None)}"),
    )
    return EventLog(ev, cases_df, quality=report, name=name)


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
    kept: pd.DataFrame,
    case_ids: pd.Series,
    ev: pd.DataFrame,
    case_attributes: dict[str, str],
    outcome: str | None,
    amount: str | None,
    owner: str | None,
    source: str,
) -> tuple[pd.DataFrame, list[IngestWarning]]:
    """Case table: last non-empty value per case in event order; warn when a value changes.

    ``case_attributes`` maps case-table names to input columns."""
    cols: dict[str, str] = dict(case_attributes)
    if outcome is not None:
        cols[OUTCOME] = outcome
    if amount is not None:
        cols[AMOUNT] = amount
    if owner is not None:
        cols[OWNER] = owner
    warnings: list[IngestWarning] = []
    order = ev[[CASE, TIMESTAMP, SOURCE_ROW]].copy()
    order["_pos"] = np.arange(len(ev))
    ordered_pos = order.sort_values([CASE, TIMESTAMP, SOURCE_ROW], kind="stable")["_pos"].to_numpy()
    out = pd.DataFrame({CASE: case_ids.to_numpy()[ordered_pos]})
    for target, col in cols.items():
        raw = kept[col].reset_index(drop=True)
        if target == AMOUNT:
            vals, bad = parse_amount(raw)
            if bad.any():
                warnings.append(
                    IngestWarning(
                        "unparsable_amount",
                        f"{col}: values not read as numbers (left empty)",
                        int(bad.sum()),
                        _examples(bad, ev[SOURCE_ROW].to_numpy()),
                        source,
                    )
                )
        elif target == OUTCOME:
            txt = _as_text(raw).str.lower()
            mapped = txt.map(lambda v: _OUTCOME_WORDS.get(v), na_action="ignore")
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
            vals = _as_text(raw)
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


def _log_shape_warnings(ev: pd.DataFrame, source: str) -> list[IngestWarning]:
    out: list[IngestWarning] = []
    if not len(ev):
        return out
    s = ev.sort_values([CASE, TIMESTAMP, SOURCE_ROW], kind="stable")
    same_case = (s[CASE] == s[CASE].shift()).to_numpy()
    tie = same_case & (s[TIMESTAMP] == s[TIMESTAMP].shift()).to_numpy()
    if tie.any():
        n_cases = s.loc[tie, CASE].nunique()
        out.append(
            IngestWarning(
                "timestamp_ties",
                f"{int(tie.sum()):,} events share their timestamp with the previous event of the same case "
                f"({n_cases:,} cases); ties are ordered by source row",
                int(tie.sum()),
                tuple(int(r) for r in s.loc[tie, SOURCE_ROW].to_numpy()[:10]),
                source,
            )
        )
    sizes = ev.groupby(CASE, sort=True).size()
    single = sizes[sizes == 1]
    if len(single):
        out.append(
            IngestWarning(
                "single_event_cases",
                f"{len(single):,} cases have a single event (no transitions or durations)",
                len(single),
                tuple(int(r) for r in ev.loc[ev[CASE].isin(single.index[:10]), SOURCE_ROW].to_numpy()[:10]),
                source,
            )
        )
    return out
