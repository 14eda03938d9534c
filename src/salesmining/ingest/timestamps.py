"""Reading the timestamp zoo of CRM exports into tz-aware UTC, vectorised.

Accepted without options (each value may carry ``Z``/``UTC``/``+0000``/``-07:00``):

* ISO-like, year first: ``2023-02-07 20:47:49``, ``2021-05-27T13:59:29.000+0000``,
  ``2024-03-05T14:23:11Z``, ``2024/03/05 14:23``, ``2024-03-05``;
* day/month/year or month/day/year with ``/ . -``, 2- or 4-digit years and an optional
  12-hour clock: ``02/23/26 08:55 PM``, ``23.02.2026 20:55``. The order is taken from
  ``dayfirst``, else inferred when some value only fits one order (a warning says so), else
  refused with :class:`AmbiguousDateError`;
* Unix epoch seconds (10 digits) or milliseconds (13 digits);
* dates with English month names (``Mar 5, 2024 10:00 AM``), via dateutil, per unique value.

``date_format`` (a ``strptime`` format) overrides all of this for the whole column.
Values are parsed once per unique string. Naive values are localised to ``timezone``
(or taken as UTC, with an ``assumed_utc`` warning).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from salesmining.core.errors import AmbiguousDateError
from salesmining.ingest.options import check_timezone

__all__ = ["MISSING_TOKENS", "TimeParse", "parse_timestamps"]

#: Strings treated as an empty value in key columns.
MISSING_TOKENS = frozenset({"", "null", "NULL", "Null", "None", "none", "NaN", "nan", "NaT", "#N/A", "N/A", "n/a"})

UTC_DTYPE: Final = "datetime64[us, UTC]"

_TIME = (
    r"(?:[T\s]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
)
_ZONE = r"\s*(?P<zone>Z|z|UTC|GMT|[+-]\d{2}:?\d{2}|[+-]\d{2})?"
_YMD = r"^(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})" + _TIME + _ZONE + r"$"
_ABY = r"^(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})" + _TIME + _ZONE + r"$"
_EPOCH = r"^(?P<sec>\d{10}(?:\.\d+)?)$|^(?P<ms>\d{13})$"

# Years that a datetime64[ns] intermediate can hold; anything outside is implausible anyway.
_YEAR_MIN, _YEAR_MAX = 1678, 2261


@dataclass
class TimeParse:
    """The outcome of parsing one column (positional arrays, aligned with the input)."""

    values: pd.Series  # datetime64[us, UTC], NaT where not parsed
    missing: np.ndarray
    unparsable: np.ndarray
    out_of_range: np.ndarray
    date_only: np.ndarray
    warnings: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (code, message, mask)


def _empty_mask(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


def parse_timestamps(
    s: pd.Series,
    *,
    column: str,
    source: str,
    timezone: str | None = None,
    dayfirst: bool | None = None,
    date_format: str | None = None,
) -> TimeParse:
    """Parse one timestamp column; never raises for a bad value (those are flagged), only for
    column-level problems (ambiguous day/month order, unknown time zone)."""
    n = len(s)
    s = s.reset_index(drop=True)
    check_timezone(timezone)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        vals = s.dt.tz_convert("UTC").astype(UTC_DTYPE)
        miss = vals.isna().to_numpy()
        return TimeParse(vals, miss, _empty_mask(n), _empty_mask(n), _empty_mask(n))
    if pd.api.types.is_datetime64_dtype(s.dtype):
        miss = s.isna().to_numpy()
        aware, warns = _localize(s, timezone, column, ~miss)
        return TimeParse(aware, miss, _empty_mask(n), _empty_mask(n), _empty_mask(n), warns)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce").astype("float64")
        miss = num.isna().to_numpy()
        vals, bad, warns = _from_epoch(num, ~miss, column)
        return TimeParse(vals, miss, bad, _empty_mask(n), _empty_mask(n), warns)

    text = s.astype("object").map(_to_text)
    miss = text.isin(MISSING_TOKENS).to_numpy() | text.isna().to_numpy()
    present = text[~miss]
    uniq = pd.Series(pd.unique(present), dtype="object")
    parsed = _parse_unique(
        uniq,
        column=column,
        source=source,
        timezone=timezone,
        dayfirst=dayfirst,
        date_format=date_format,
        rows=present.index.to_numpy(),
        present=present,
    )
    idx = pd.Index(uniq).get_indexer(present)
    values = pd.Series(pd.NaT, index=range(n), dtype=UTC_DTYPE)
    values.iloc[present.index.to_numpy()] = parsed.values.to_numpy()[idx]

    def spread(mask_u: np.ndarray) -> np.ndarray:
        out = _empty_mask(n)
        out[present.index.to_numpy()] = mask_u[idx]
        return out

    return TimeParse(
        values=values,
        missing=miss,
        unparsable=spread(parsed.unparsable),
        out_of_range=spread(parsed.out_of_range),
        date_only=spread(parsed.date_only),
        warnings=[(c, m, spread(mask)) for c, m, mask in parsed.warnings],
    )


def _to_text(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return str(v).strip()


def _localize(
    naive: pd.Series, timezone: str | None, column: str, present: np.ndarray
) -> tuple[pd.Series, list[tuple[str, str, np.ndarray]]]:
    """Naive datetimes → UTC: localise to ``timezone``, or assume UTC (with a warning)."""
    naive = naive.astype("datetime64[us]")
    warns: list[tuple[str, str, np.ndarray]] = []
    if timezone is None:
        if present.any():
            warns.append(
                (
                    "assumed_utc",
                    f"{column}: timestamps without a time zone were taken as UTC (pass timezone=...)",
                    present.copy(),
                )
            )
        return naive.dt.tz_localize("UTC").astype(UTC_DTYPE), warns
    standard = np.zeros(len(naive), dtype=bool)
    amb = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward").isna().to_numpy() & present
    gap = naive.dt.tz_localize(timezone, ambiguous=standard, nonexistent="NaT").isna().to_numpy() & present
    loc = naive.dt.tz_localize(timezone, ambiguous=standard, nonexistent="shift_forward")
    if amb.any():
        warns.append(
            (
                "dst_ambiguous",
                f"{column}: local times that occur twice at a DST change in {timezone}, read as standard time",
                amb,
            )
        )
    if gap.any():
        warns.append(
            (
                "dst_nonexistent",
                f"{column}: local times that do not exist in {timezone} (skipped when clocks go forward), "
                "moved forward to the first time that exists",
                gap,
            )
        )
    return loc.dt.tz_convert("UTC").astype(UTC_DTYPE), warns


def _offset_warning(offset_min: np.ndarray, column: str) -> tuple[str, str, np.ndarray] | None:
    """``mixed_timezones`` when the values' UTC offsets (minutes; NaN = none) cannot come from one
    clock: more than two offsets, or two that are not a standard/daylight-saving pair (30 or 60
    minutes apart). Each value is converted by its own offset either way."""
    aware = ~np.isnan(offset_min)
    distinct = np.unique(offset_min[aware])
    if len(distinct) < 2 or (len(distinct) == 2 and distinct[1] - distinct[0] in (30.0, 60.0)):
        return None

    def label(m: float) -> str:
        sign = "-" if m < 0 else "+"
        return "Z" if m == 0 else f"{sign}{int(abs(m)) // 60:02d}:{int(abs(m)) % 60:02d}"

    shown = ", ".join(label(float(m)) for m in distinct[:6]) + (" …" if len(distinct) > 6 else "")
    return (
        "mixed_timezones",
        f"{column}: values carry {len(distinct)} different UTC offsets ({shown}); each was converted to UTC by "
        "its own offset — check that they come from one clock",
        aware.copy(),
    )


def _from_epoch(
    num: pd.Series, present: np.ndarray, column: str
) -> tuple[pd.Series, np.ndarray, list[tuple[str, str, np.ndarray]]]:
    arr = num.to_numpy(dtype="float64", na_value=np.nan)
    sec = (arr >= 1e9) & (arr < 1e10)
    ms = (arr >= 1e12) & (arr < 1e13)
    us = np.full(len(arr), np.iinfo("int64").min, dtype="int64")
    us[sec] = np.round(arr[sec] * 1e6).astype("int64")
    us[ms] = np.round(arr[ms] * 1e3).astype("int64")
    ok = sec | ms
    vals = pd.Series(us.view("datetime64[us]")).dt.tz_localize("UTC").astype(UTC_DTYPE)
    vals[~ok] = pd.NaT
    bad = present & ~ok
    warns = []
    if ok.any():
        warns.append(
            (
                "epoch_timestamps",
                f"{column}: numbers read as Unix epoch "
                f"{' and '.join(u for u, m in (('seconds', sec), ('milliseconds', ms)) if m.any())}"
                " (10 digits = seconds, 13 = milliseconds)",
                ok.copy(),
            )
        )
    return vals, bad, warns


@dataclass
class _Unique:
    values: pd.Series
    unparsable: np.ndarray
    out_of_range: np.ndarray
    date_only: np.ndarray
    warnings: list[tuple[str, str, np.ndarray]]


def _parse_unique(
    u: pd.Series,
    *,
    column: str,
    source: str,
    timezone: str | None,
    dayfirst: bool | None,
    date_format: str | None,
    rows: np.ndarray,
    present: pd.Series,
) -> _Unique:
    n = len(u)
    warns: list[tuple[str, str, np.ndarray]] = []
    if date_format is not None:
        return _with_format(u, date_format, column, timezone)
    fast = _iso_fast_path(u, column, timezone)
    if fast is not None:
        return fast

    ymd = u.str.extract(_YMD)
    aby = u.str.extract(_ABY)
    epoch = u.str.extract(_EPOCH)
    is_ymd = ymd["y"].notna().to_numpy()
    is_aby = aby["y"].notna().to_numpy() & ~is_ymd
    is_epoch = (epoch["sec"].notna() | epoch["ms"].notna()).to_numpy() & ~is_ymd & ~is_aby

    parts = ymd.copy()
    if is_aby.any():
        a = pd.to_numeric(aby["a"], errors="coerce")
        b = pd.to_numeric(aby["b"], errors="coerce")
        first = _decide_dayfirst(u, a, b, is_aby, dayfirst, column, source, present, warns)
        day, month = (a, b) if first else (b, a)
        y = pd.to_numeric(aby["y"], errors="coerce")
        two = aby["y"].str.len() == 2
        y = y.where(~two, np.where(y < 69, 2000 + y, 1900 + y))
        for col in ("H", "M", "S", "F", "ampm", "zone"):
            parts.loc[is_aby, col] = aby.loc[is_aby, col]
        parts.loc[is_aby, "y"] = y[is_aby].astype("Int64").astype(str)
        parts.loc[is_aby, "m"] = month[is_aby].astype("Int64").astype(str)
        parts.loc[is_aby, "d"] = day[is_aby].astype("Int64").astype(str)

    matched = is_ymd | is_aby
    values = pd.Series(pd.NaT, index=range(n), dtype=UTC_DTYPE)
    out_of_range = _empty_mask(n)
    date_only = _empty_mask(n)
    unparsable = ~(matched | is_epoch)

    if matched.any():
        p = parts[matched]
        year = pd.to_numeric(p["y"], errors="coerce")
        oor = ((year < _YEAR_MIN) | (year > _YEAR_MAX)).to_numpy()
        hour = pd.to_numeric(p["H"], errors="coerce").fillna(0)
        ampm = p["ampm"].fillna("").str.lower().str.slice(0, 1)
        bad_clock = ((ampm != "") & ((hour > 12) | (hour == 0))).to_numpy()
        hour = hour.where(ampm != "p", hour.where(hour == 12, hour + 12))
        hour = hour.where(ampm != "a", hour.where(hour != 12, 0))
        frac = p["F"].fillna("").str.slice(0, 6).str.pad(6, side="right", fillchar="0")
        frac = pd.to_numeric(frac.where(frac != "000000", "0"), errors="coerce").fillna(0)
        comp = pd.DataFrame(
            {
                "year": year.where(~oor, 2000),
                "month": pd.to_numeric(p["m"], errors="coerce"),
                "day": pd.to_numeric(p["d"], errors="coerce"),
                "hour": hour,
                "minute": pd.to_numeric(p["M"], errors="coerce").fillna(0),
                "second": pd.to_numeric(p["S"], errors="coerce").fillna(0),
                "us": frac,
            }
        )
        naive = pd.to_datetime(comp, errors="coerce").astype("datetime64[us]")
        bad = naive.isna().to_numpy() | bad_clock
        offset_min = _zone_minutes(p["zone"])
        aware = offset_min.notna().to_numpy()
        offsets = _offset_warning(offset_min.to_numpy(dtype="float64")[~(bad | oor)], column)
        if offsets is not None:
            full = _empty_mask(n)
            full[np.flatnonzero(matched)[~(bad | oor)]] = offsets[2]
            warns.append((offsets[0], offsets[1], full))
        res = pd.Series(pd.NaT, index=range(len(p)), dtype=UTC_DTYPE)
        if aware.any():
            shifted = naive[aware] - pd.to_timedelta(offset_min[aware].to_numpy(), unit="min")
            res[aware] = shifted.dt.tz_localize("UTC").astype(UTC_DTYPE).to_numpy()
        if (~aware).any():
            loc, lw = _localize(naive[~aware].reset_index(drop=True), timezone, column, ~bad[~aware])
            res[~aware] = loc.to_numpy()
            for code, msg, m in lw:
                full = _empty_mask(n)
                sub = np.flatnonzero(matched)[~aware]
                full[sub] = m
                warns.append((code, msg, full))
            if aware.any():
                mixed = _empty_mask(n)
                mixed[np.flatnonzero(matched)] = True
                warns.append(("mixed_timezones", f"{column}: values with and without a time zone are mixed", mixed))
        res[bad | oor] = pd.NaT
        values[matched] = res.to_numpy()
        sub_idx = np.flatnonzero(matched)
        unparsable[sub_idx[bad & ~oor]] = True
        out_of_range[sub_idx[oor]] = True
        date_only[sub_idx] = p["H"].isna().to_numpy() & ~bad

    if is_epoch.any():
        num = pd.to_numeric(epoch["sec"].fillna(epoch["ms"]), errors="coerce")
        ev, _, ew = _from_epoch(num.where(is_epoch), is_epoch, column)
        values[is_epoch] = ev[is_epoch].to_numpy()
        warns.extend(ew)

    if unparsable.any():
        _dateutil_fallback(u, unparsable, values, timezone, column, dayfirst, warns)

    return _Unique(values, unparsable, out_of_range, date_only, warns)


_ISO_FAST = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
_HAS_ZONE = r"(?:Z|[+-]\d{2}:?\d{2})$"


def _iso_fast_path(u: pd.Series, column: str, timezone: str | None) -> _Unique | None:
    """All values strict ISO 8601 (the common case in exports): pandas' vectorised ISO parser.

    Returns None when any value needs the general path (other layouts, out-of-range years, or a
    value pandas' ISO parser refuses, which the general path then reports)."""
    if not len(u) or not bool(u.str.match(_ISO_FAST).all()):
        return None
    n = len(u)
    years = pd.to_numeric(u.str.slice(0, 4), errors="coerce")
    if bool(((years < _YEAR_MIN) | (years > _YEAR_MAX)).any()):
        return None
    aware = u.str.contains(_HAS_ZONE, regex=True).to_numpy()
    values = pd.Series(pd.NaT, index=range(n), dtype=UTC_DTYPE)
    warns: list[tuple[str, str, np.ndarray]] = []
    bad = np.zeros(n, dtype=bool)
    if aware.any():
        parsed = pd.to_datetime(u[aware], format="ISO8601", utc=True, errors="coerce")
        if bool(parsed.isna().any()):
            return None
        values[aware] = parsed.astype(UTC_DTYPE).to_numpy()
        zone = u.str.extract(r"(?P<zone>Z|[+-]\d{2}:?\d{2})$")["zone"]
        offsets = _offset_warning(_zone_minutes(zone).to_numpy(dtype="float64"), column)
        if offsets is not None:
            warns.append(offsets)
    if (~aware).any():
        naive = pd.to_datetime(u[~aware], format="ISO8601", errors="coerce")
        if bool(naive.isna().any()):
            return None
        ok = np.ones(len(naive), dtype=bool)
        loc, lw = _localize(naive.astype("datetime64[us]").reset_index(drop=True), timezone, column, ok)
        values[~aware] = loc.to_numpy()
        idx = np.flatnonzero(~aware)
        for code, msg, m in lw:
            full = np.zeros(n, dtype=bool)
            full[idx] = m
            warns.append((code, msg, full))
        if aware.any():
            warns.append(
                ("mixed_timezones", f"{column}: values with and without a time zone are mixed", np.ones(n, dtype=bool))
            )
    date_only = (u.str.len() == 10).to_numpy() & ~bad
    return _Unique(values, bad, np.zeros(n, dtype=bool), date_only, warns)


def _zone_minutes(zone: pd.Series) -> pd.Series:
    z = zone.fillna("").str.upper()
    out = pd.Series(np.nan, index=zone.index, dtype="float64")
    out[z.isin(["Z", "UTC", "GMT"])] = 0.0
    m = z.str.extract(r"^(?P<sgn>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2})?$")
    has = m["sgn"].notna()
    mins = pd.to_numeric(m["hh"], errors="coerce") * 60 + pd.to_numeric(m["mm"].fillna("0"), errors="coerce")
    out[has] = np.where(m["sgn"][has] == "-", -mins[has], mins[has])
    return out


def _decide_dayfirst(
    u: pd.Series,
    a: pd.Series,
    b: pd.Series,
    mask: np.ndarray,
    dayfirst: bool | None,
    column: str,
    source: str,
    present: pd.Series,
    warns: list[tuple[str, str, np.ndarray]],
) -> bool:
    if dayfirst is not None:
        return dayfirst
    a_, b_ = a[mask], b[mask]
    day_first_ev = u[mask][(a_ > 12) & (b_ <= 12)]
    month_first_ev = u[mask][(b_ > 12) & (a_ <= 12)]
    if len(day_first_ev) and len(month_first_ev):
        raise AmbiguousDateError(
            f"{source}, column {column!r}: some dates only read day-first ({day_first_ev.iloc[0]!r}) and others "
            f"only month-first ({month_first_ev.iloc[0]!r}); pass date_format=... for this column",
            source=source,
            column=column,
            value=str(day_first_ev.iloc[0]),
        )
    if len(day_first_ev) or len(month_first_ev):
        first = bool(len(day_first_ev))
        example = (day_first_ev if first else month_first_ev).iloc[0]
        m = _empty_mask(len(u))
        m[np.flatnonzero(mask)] = True
        warns.append(
            (
                "inferred_dayfirst",
                f"{column}: dates read {'day' if first else 'month'}-first because {example!r} only fits that order "
                f"(pass dayfirst= to fix it)",
                m,
            )
        )
        return first
    ambiguous = u[mask][(a_ != b_)]
    if len(ambiguous):
        value = str(ambiguous.iloc[0])
        pos = present.index[present == value]
        row = int(pos[0]) if len(pos) else None
        raise AmbiguousDateError(
            f"{source}, column {column!r}, row {row}: the date {value!r} could be day-first or month-first and no "
            "value in the column decides it; pass dayfirst=True (e.g. 02/03/24 = 2 March) or dayfirst=False "
            "(= February 3), or date_format='%m/%d/%y %I:%M %p'",
            source=source,
            row=row,
            column=column,
            value=value,
        )
    return False


def _with_format(u: pd.Series, fmt: str, column: str, timezone: str | None) -> _Unique:
    n = len(u)
    parsed = pd.to_datetime(u, format=fmt, errors="coerce", utc="%z" in fmt or "%Z" in fmt)
    bad = parsed.isna().to_numpy()
    warns: list[tuple[str, str, np.ndarray]] = []
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        values = parsed.dt.tz_convert("UTC").astype(UTC_DTYPE)
    else:
        values, warns = _localize(parsed, timezone, column, ~bad)
    has_time = any(t in fmt for t in ("%H", "%I", "%M", "%S", "%X", "%c", "%T"))
    date_only = ~bad if not has_time else _empty_mask(n)
    return _Unique(values, bad, _empty_mask(n), date_only, warns)


def _dateutil_fallback(
    u: pd.Series,
    unparsable: np.ndarray,
    values: pd.Series,
    timezone: str | None,
    column: str,
    dayfirst: bool | None,
    warns: list[tuple[str, str, np.ndarray]],
) -> None:
    """Values with a month name ("Mar 5, 2024 10:00 AM"), parsed one unique value at a time."""
    from dateutil import parser as du  # pandas depends on python-dateutil

    naive_at: list[int] = []
    naive_values: list[pd.Timestamp] = []
    for i in np.flatnonzero(unparsable):
        text = str(u.iloc[i])
        if not any(ch.isalpha() for ch in text.replace("T", "").replace("Z", "")):
            continue
        try:
            ts = pd.Timestamp(du.parse(text, dayfirst=bool(dayfirst)))
        except (ValueError, OverflowError, TypeError):
            continue
        if ts.tzinfo is None:
            naive_at.append(int(i))
            naive_values.append(ts)
        else:
            values.iloc[int(i)] = ts.tz_convert("UTC")
        unparsable[i] = False
    if naive_at:
        naive = pd.Series(naive_values, dtype="datetime64[us]")
        loc, lw = _localize(naive, timezone, column, np.ones(len(naive), dtype=bool))
        values.iloc[naive_at] = loc.to_numpy()
        for code, msg, m in lw:
            full = _empty_mask(len(u))
            full[np.asarray(naive_at)[m]] = True
            warns.append((code, msg, full))
