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

``date_format`` (a ``strptime`` format) overrides all of this for the whole column (applied
once per distinct value). Otherwise the column is parsed vectorised in polars, with no Python
per value: strict ISO values by their fixed layout (date, hour and minute sliced, the tail
matched by one short pattern), every other layout by one pattern, the parts assembled into
microseconds by integer arithmetic (impossible dates and clock times such as ``02-30`` or
``25:00`` are unparsable); only values no layout reads go to dateutil, once per distinct
value. Naive values are localised to ``timezone`` (or taken as UTC, with an ``assumed_utc``
warning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

from salesmining.core.errors import AmbiguousDateError
from salesmining.ingest.options import check_timezone

if TYPE_CHECKING:
    import polars as pl

__all__ = ["MISSING_TOKENS", "TimeParse", "parse_timestamps"]

#: Strings treated as an empty value in key columns.
MISSING_TOKENS = frozenset({"", "null", "NULL", "Null", "None", "none", "NaN", "nan", "NaT", "#N/A", "N/A", "n/a"})

UTC_DTYPE: Final = "datetime64[us, UTC]"

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

    import polars as pl

    text = _as_polars_text(s)
    miss = (text.is_null() | text.is_in(list(MISSING_TOKENS))).to_numpy()
    present_rows = np.flatnonzero(~miss)
    present = text.filter(pl.Series(~miss)) if miss.any() else text
    if date_format is not None:
        uniq = pd.Series(present.unique(maintain_order=True).to_list(), dtype="object")
        parsed = _with_format(uniq, date_format, column, timezone)
        idx = (
            pl.DataFrame({"v": present})
            .join(
                pl.DataFrame({"v": pl.Series(uniq.tolist(), dtype=pl.String), "i": np.arange(len(uniq))}),
                on="v",
                how="left",
                maintain_order="left",
            )["i"]
            .to_numpy()
        )
    else:
        parsed = _parse_present(
            present, present_rows, column=column, source=source, timezone=timezone, dayfirst=dayfirst
        )
        idx = np.arange(len(present))
    values_us = np.full(n, _NAT, dtype="int64")
    values_us[present_rows] = parsed.values.to_numpy(dtype="datetime64[us]").view("int64")[idx] if len(idx) else []
    values = pd.Series(values_us.view("datetime64[us]")).dt.tz_localize("UTC").astype(UTC_DTYPE)

    def spread(mask_u: np.ndarray) -> np.ndarray:
        out = _empty_mask(n)
        out[present_rows] = mask_u[idx]
        return out

    return TimeParse(
        values=values,
        missing=miss,
        unparsable=spread(parsed.unparsable),
        out_of_range=spread(parsed.out_of_range),
        date_only=spread(parsed.date_only),
        warnings=[(c, m, spread(mask)) for c, m, mask in parsed.warnings],
    )


_NAT: Final = np.iinfo("int64").min


def _as_polars_text(s: pd.Series) -> pl.Series:
    """The column as trimmed polars strings, null where empty; other objects (numbers, Python
    datetimes) are turned into text once per distinct value."""
    import polars as pl

    if isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow":
        import pyarrow as pa

        out = pl.Series(pl.from_arrow(pa.array(s.array)))
    else:
        codes, uniques = pd.factorize(s.astype("object"), use_na_sentinel=True)
        texts = [_to_text(v) for v in uniques]
        lookup = pl.Series([*texts, None], dtype=pl.String)
        out = lookup.gather(np.where(codes < 0, len(texts), codes))
    return out.cast(pl.String).str.strip_chars()


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


# Strict ISO 8601 (the common case in exports): fixed places for the date, hour and minute, so
# those are sliced; the tail (seconds, fraction, zone) is matched by a short pattern.
_ISO_FAST = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
_ISO_TAIL = r"^(?::(?P<S>\d{2})(?:\.(?P<F>\d{1,9}))?)?(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
# Every other layout the parser knows, as one pattern (Rust's regex has no back-references, so
# the two separators are captured and compared).
_GENERAL = (
    r"^(?:(?P<y>\d{4})(?P<s1>[-/.])(?P<m>\d{1,2})(?P<s2>[-/.])(?P<d>\d{1,2})"
    r"|(?P<a>\d{1,2})(?P<t1>[-/.])(?P<b>\d{1,2})(?P<t2>[-/.])(?P<yy>\d{4}|\d{2}))"
    r"(?:[T\s]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?"
    r"\s*(?P<zone>Z|z|UTC|GMT|[+-]\d{2}:?\d{2}|[+-]\d{2})?$"
)
_EPOCH_TEXT = r"^(?:\d{10}(?:\.\d+)?|\d{13})$"
_PARTS = ("y", "m", "d", "H", "M", "S", "F", "ampm", "zone")


def _iso_parts(t: pl.Series) -> pl.DataFrame:
    """Date and time parts (as text, null when absent) of strict ISO values."""
    import polars as pl

    v = pl.col("t")
    timed = v.str.len_chars() > 10
    return (
        pl.DataFrame({"t": t})
        .select(
            y=v.str.slice(0, 4),
            m=v.str.slice(5, 2),
            d=v.str.slice(8, 2),
            H=pl.when(timed).then(v.str.slice(11, 2)),
            M=pl.when(timed).then(v.str.slice(14, 2)),
            tail=v.str.slice(16).str.extract_groups(_ISO_TAIL),
            ampm=pl.lit(None, dtype=pl.String),
        )
        .unnest("tail")
        .select(_PARTS)
    )


@dataclass
class _Assembled:
    """Parsed parts of values (positional): naive microseconds, bad, out-of-range year, UTC offset
    in minutes (NaN = none), no time of day; ``done`` marks the values they hold."""

    done: np.ndarray
    us: np.ndarray
    bad: np.ndarray
    oor: np.ndarray
    offset: np.ndarray
    no_time: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Assembled:
        return cls(
            _empty_mask(n), np.zeros(n, "int64"), _empty_mask(n), _empty_mask(n), np.full(n, np.nan), _empty_mask(n)
        )

    def fill(self, at: np.ndarray, parts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Store :func:`_assemble`'s arrays for the values ``at`` (a mask or positions)."""
        self.done[at] = True
        for target, values in zip((self.us, self.bad, self.oor, self.offset, self.no_time), parts, strict=True):
            target[at] = values

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.us, self.bad, self.oor, self.offset, self.no_time


# Fixed layouts are read from the bytes when this many values share one (fewer go by pattern).
_FIXED_MIN = 1000
_DIGIT_MARK = ord("d")


def _fixed_layouts(t: pl.Series) -> _Assembled:
    """Strict ISO values that share a byte layout with many others (``2024-03-05 14:23:11+00:00``:
    the same length, ASCII digits in the same places, the same other characters) read straight
    from their bytes as integers — what :func:`_iso_parts` and :func:`_assemble` give them, without
    string slicing. Values of rarer layouts are left (``done`` False) for the patterns."""
    import polars as pl

    n = len(t)
    out = _Assembled.empty(n)
    if n < _FIXED_MIN:
        return out
    lengths = t.str.len_bytes().to_numpy()
    counts = np.bincount(lengths, minlength=36)[10:36]  # strict ISO values are 10 to 35 bytes long
    for length in np.flatnonzero(counts >= _FIXED_MIN) + 10:
        at = np.flatnonzero(lengths == length)
        arr = (t if len(at) == n else t.gather(at)).to_arrow(compat_level=pl.CompatLevel.oldest())
        bounds = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(at) + 1]
        first = int(bounds[0])
        if int(bounds[-1]) - first != len(at) * length:
            continue
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
        # one row of bytes per place in the value (a transposed copy: each place is read contiguously)
        block = np.ascontiguousarray(data[first : first + len(at) * length].reshape(len(at), length).T)
        left = np.ones(len(at), dtype=bool)
        for _ in range(4):  # a few layouts per length (e.g. offsets east and west of UTC)
            if left.sum() < _FIXED_MIN:
                break
            example = block[:, int(np.flatnonzero(left)[0])]
            same = _same_layout(block, example) & left
            left &= ~same
            layout = _iso_layout(example)
            if layout is not None:
                out.fill(at[same], _assemble_bytes(block if same.all() else block[:, same], layout))
    return out


def _same_layout(block: np.ndarray, example: np.ndarray) -> np.ndarray:
    """Values (columns of ``block``, one row per byte place) with ASCII digits where ``example``
    has them and its other bytes elsewhere."""
    same = np.ones(block.shape[1], dtype=bool)
    for byte, place in zip(example, block, strict=True):
        same &= (place - np.uint8(48) <= 9) if 48 <= byte <= 57 else (place == byte)
    return same


def _iso_layout(example: np.ndarray) -> dict[str, tuple[int, int]] | None:
    """Where the parts of a strict ISO value lie (``y``, ``m``, ``d``, ``H``, ``M``, ``S``, ``F``:
    byte spans; ``zone``: its span), from one example; ``None`` when it is not strict ISO."""
    text = example.tobytes().decode("ascii", errors="replace")
    if re.fullmatch(_ISO_FAST, text) is None:
        return None
    spans = {"y": (0, 4), "m": (5, 7), "d": (8, 10)}
    if len(text) > 10:
        spans |= {"H": (11, 13), "M": (14, 16)}
        tail = re.fullmatch(_ISO_TAIL, text[16:])
        if tail is None:
            return None
        for part in ("S", "F", "zone"):
            if tail.group(part) is not None:
                lo, hi = tail.span(part)
                spans[part] = (lo + 16, hi + 16)
    return spans


def _assemble_bytes(
    block: np.ndarray, layout: dict[str, tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_assemble` for values of one layout given as bytes (one row per byte place, one
    column per value): the same integer arithmetic."""
    k = block.shape[1]

    def number(part: str, width: int | None = None) -> np.ndarray:
        value = np.zeros(k, dtype="int32")
        if part not in layout:
            return value
        lo, hi = layout[part]
        hi = hi if width is None else min(hi, lo + width)
        for j in range(lo, hi):
            value *= 10
            value += block[j]
            value -= 48
        if width is not None:
            value *= 10 ** (width - (hi - lo))  # the fraction's digits beyond the sixth are dropped, short ones padded
        return value

    y, m, d = number("y"), number("m"), number("d")
    hour, minute, second, frac = number("H"), number("M"), number("S"), number("F", 6)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = np.where(m == 2, np.where(leap, 29, 28), np.where((m == 4) | (m == 6) | (m == 9) | (m == 11), 30, 31))
    yy = y - (m <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    days = (era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468).astype("int64")
    us = (days * 86400 + (hour * 3600 + minute * 60 + second)) * 1_000_000 + frac
    oor = (y < _YEAR_MIN) | (y > _YEAR_MAX)
    bad = ((m < 1) | (m > 12) | (d < 1) | (d > dim) | (hour > 23) | (minute > 59) | (second > 59)) & ~oor
    offset = np.full(k, np.nan)
    if "zone" in layout:  # Z, or a sign, two digits of hours, maybe a colon, two of minutes
        lo, hi = layout["zone"]
        offset[:] = 0.0
        if hi - lo > 1:
            digits = [j for j in range(lo + 1, hi) if block[j, 0] != ord(":")]
            hh = (block[digits[0]] - np.uint8(48)).astype("int64") * 10 + (block[digits[1]] - np.uint8(48))
            mm = (block[digits[2]] - np.uint8(48)).astype("int64") * 10 + (block[digits[3]] - np.uint8(48))
            offset = ((-1 if block[lo, 0] == ord("-") else 1) * (hh * 60 + mm)).astype("float64")
    return us, bad, oor, offset, np.full(k, "H" not in layout)


def _parse_present(
    t: pl.Series,
    rows: np.ndarray,
    *,
    column: str,
    source: str,
    timezone: str | None,
    dayfirst: bool | None,
) -> _Unique:
    """Parse the non-empty values of one column (positional), vectorised: strict ISO values by
    their fixed layout, other day/month/year layouts and epoch numbers by one pattern each; only
    what none of them reads (month names) goes to dateutil, once per distinct value."""
    import polars as pl

    n = len(t)
    warns: list[tuple[str, str, np.ndarray]] = []
    fixed = _fixed_layouts(t)
    iso = fixed.done.copy()
    slow = ~fixed.done  # the values no fixed layout reads: by patterns, as below
    if slow.any():
        iso[slow] = t.filter(pl.Series(slow)).str.contains(_ISO_FAST).fill_null(False).to_numpy()
    slow_iso = iso & slow
    parts = _iso_parts(t.filter(pl.Series(slow_iso))) if iso.all() else None
    is_aby = _empty_mask(n)
    matched = iso.copy()
    if parts is None:
        # general layouts for the values that are not strict ISO
        rest_idx = np.flatnonzero(~iso)
        g = t.filter(pl.Series(~iso)).str.extract_groups(_GENERAL).struct.unnest()
        ymd = (g["y"].is_not_null() & (g["s1"] == g["s2"]).fill_null(False)).to_numpy()
        aby = (g["a"].is_not_null() & (g["t1"] == g["t2"]).fill_null(False)).to_numpy() & ~ymd
        is_aby[rest_idx[aby]] = True
        matched[rest_idx[ymd | aby]] = True
        if aby.any():
            a = g["a"].cast(pl.Int64, strict=False).to_numpy()
            b = g["b"].cast(pl.Int64, strict=False).to_numpy()
            a_full = np.zeros(n, dtype="int64")
            b_full = np.zeros(n, dtype="int64")
            a_full[rest_idx[aby]] = a[aby]
            b_full[rest_idx[aby]] = b[aby]
            first = _decide_dayfirst_vec(t, a_full, b_full, is_aby, dayfirst, column, source, rows, warns)
            yy = g["yy"].cast(pl.Int64, strict=False)
            yy = pl.select(
                pl.when(g["yy"].str.len_chars() == 2)
                .then(pl.when(yy < 69).then(yy + 2000).otherwise(yy + 1900))
                .otherwise(yy)
            ).to_series()
            day, month = (g["a"], g["b"]) if first else (g["b"], g["a"])
            aby_s = pl.Series(aby)
            g = g.with_columns(
                y=pl.when(aby_s).then(yy.cast(pl.String)).otherwise(g["y"]),
                m=pl.when(aby_s).then(month).otherwise(g["m"]),
                d=pl.when(aby_s).then(day).otherwise(g["d"]),
            )
        general = g.select(_PARTS)
        if slow_iso.any():
            iso_parts = _iso_parts(t.filter(pl.Series(slow_iso)))
            at = np.concatenate([np.flatnonzero(slow_iso), rest_idx])
            parts = pl.concat([iso_parts, general], how="vertical").gather(np.argsort(at, kind="stable"))
        else:
            parts = general
    # parts: one row per slow value (strict ISO or not), in order
    values_us = np.full(n, _NAT, dtype="int64")
    out_of_range = _empty_mask(n)
    date_only = _empty_mask(n)
    unparsable = ~matched
    epoch = _empty_mask(n)
    if (~matched).any():
        epoch = t.str.contains(_EPOCH_TEXT).fill_null(False).to_numpy() & ~matched
        unparsable &= ~epoch

    if matched.any():
        sub = np.flatnonzero(matched)
        slow_matched = (matched & slow)[slow]  # which slow values a pattern read
        if slow_matched.any():
            fixed.fill(slow & matched, _assemble(parts.filter(pl.Series(slow_matched))))
        us, bad, oor, offset_min, no_time = (a[sub] for a in fixed.arrays())
        aware = ~np.isnan(offset_min)
        offsets = _offset_warning(offset_min[~(bad | oor)], column)
        if offsets is not None:
            full = _empty_mask(n)
            full[sub[~(bad | oor)]] = offsets[2]
            warns.append((offsets[0], offsets[1], full))
        res = np.full(len(sub), _NAT, dtype="int64")
        res[aware] = us[aware] - (offset_min[aware] * 60_000_000).astype("int64")
        if (~aware).any():
            naive = pd.Series(np.where(bad | oor, 0, us)[~aware].view("datetime64[us]"))
            loc, lw = _localize(naive, timezone, column, ~bad[~aware])
            res[~aware] = loc.to_numpy(dtype="datetime64[us]").view("int64")
            for code, msg, m in lw:
                full = _empty_mask(n)
                full[sub[~aware]] = m
                warns.append((code, msg, full))
            if aware.any():
                mixed = _empty_mask(n)
                mixed[sub] = True
                warns.append(("mixed_timezones", f"{column}: values with and without a time zone are mixed", mixed))
        res[bad | oor] = _NAT
        values_us[sub] = res
        unparsable[sub[bad & ~oor]] = True
        out_of_range[sub[oor]] = True
        date_only[sub] = no_time & ~bad

    if epoch.any():
        num = t.filter(pl.Series(epoch)).cast(pl.Float64, strict=False).to_numpy()
        full_num = pd.Series(np.full(n, np.nan))
        full_num[epoch] = num
        ev, _, ew = _from_epoch(full_num, epoch, column)
        values_us[epoch] = ev[epoch].to_numpy(dtype="datetime64[us]").view("int64")
        warns.extend(ew)

    values = pd.Series(values_us.view("datetime64[us]")).dt.tz_localize("UTC").astype(UTC_DTYPE)
    if unparsable.any():
        left = np.flatnonzero(unparsable)
        uniq_s = t.filter(pl.Series(unparsable))
        u = pd.Series(uniq_s.unique(maintain_order=True).to_list(), dtype="object")
        u_bad = np.ones(len(u), dtype=bool)
        u_vals = pd.Series(pd.NaT, index=range(len(u)), dtype=UTC_DTYPE)
        u_warns: list[tuple[str, str, np.ndarray]] = []
        _dateutil_fallback(u, u_bad, u_vals, timezone, column, dayfirst, u_warns)
        pos = pd.Index(u).get_indexer(pd.Series(uniq_s.to_list(), dtype="object"))
        values.iloc[left] = u_vals.to_numpy()[pos]
        unparsable[left] = u_bad[pos]
        for code, msg, m in u_warns:
            full = _empty_mask(n)
            full[left] = m[pos]
            warns.append((code, msg, full))
    return _Unique(values, unparsable, out_of_range, date_only, warns)


def _zone_offset(zone: str) -> float | None:
    """A zone as written (``Z``, ``UTC``, ``+0200``, ``-07:00``, ``+05``) → minutes east of UTC."""
    z = zone.upper()
    if z in ("Z", "UTC", "GMT"):
        return 0.0
    m = re.match(r"^([+-])(\d{2}):?(\d{2})?$", z)
    if m is None:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
    return float(-minutes if m.group(1) == "-" else minutes)


def _assemble(p: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Date and time parts (text) → (naive microseconds since the epoch, bad, out-of-range year,
    UTC offset in minutes or NaN, no time of day), by integer arithmetic (days from the civil date)."""
    import polars as pl

    i = pl.Int64
    y = pl.col("y").cast(i, strict=False)
    m = pl.col("m").cast(i, strict=False)
    d = pl.col("d").cast(i, strict=False)
    h = pl.col("H").cast(i, strict=False).fill_null(0)
    ampm = pl.col("ampm").fill_null("").str.to_lowercase().str.slice(0, 1)
    frac = pl.col("F").fill_null("").str.slice(0, 6).str.pad_end(6, "0").cast(i, strict=False).fill_null(0)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = pl.when(m == 2).then(pl.when(leap).then(29).otherwise(28)).when(m.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    yy = y - (m <= 2).cast(i)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (m + pl.when(m > 2).then(-3).otherwise(9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    hour = pl.when((ampm == "p") & (h != 12)).then(h + 12).when((ampm == "a") & (h == 12)).then(0).otherwise(h)
    minute = pl.col("M").cast(i, strict=False).fill_null(0)
    second = pl.col("S").cast(i, strict=False).fill_null(0)
    offsets = {z: _zone_offset(z) for z in p["zone"].drop_nulls().unique().to_list()}
    offset = pl.col("zone").replace_strict(offsets, default=None, return_dtype=pl.Float64)
    out = p.select(
        oor=(y < _YEAR_MIN) | (y > _YEAR_MAX),
        bad=(
            y.is_null()
            | ~m.is_between(1, 12)
            | ~d.is_between(1, dim)
            | ~hour.is_between(0, 23)
            | ~minute.is_between(0, 59)
            | ~second.is_between(0, 59)
            | ((ampm != "") & ((h > 12) | (h == 0)))
        ).fill_null(True),
        us=((days * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000 + frac).fill_null(0),
        offset=offset,
        no_time=pl.col("H").is_null(),
    )
    oor = out["oor"].fill_null(False).to_numpy()
    bad = out["bad"].to_numpy() & ~oor
    return (
        out["us"].to_numpy(),
        bad,
        oor,
        out["offset"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        out["no_time"].to_numpy(),
    )


def _decide_dayfirst_vec(
    t: pl.Series,
    a: np.ndarray,
    b: np.ndarray,
    mask: np.ndarray,
    dayfirst: bool | None,
    column: str,
    source: str,
    rows: np.ndarray,
    warns: list[tuple[str, str, np.ndarray]],
) -> bool:
    """Day-first or month-first for the ``a/b/year`` values (``mask``): ``dayfirst`` when given,
    else the order that some value alone fits (a warning says so), else :class:`AmbiguousDateError`."""
    if dayfirst is not None:
        return dayfirst
    day_first_ev = np.flatnonzero(mask & (a > 12) & (b <= 12))
    month_first_ev = np.flatnonzero(mask & (b > 12) & (a <= 12))
    if len(day_first_ev) and len(month_first_ev):
        d_value, m_value = t[int(day_first_ev[0])], t[int(month_first_ev[0])]
        raise AmbiguousDateError(
            f"{source}, column {column!r}: some dates only read day-first ({d_value!r}) and others "
            f"only month-first ({m_value!r}); pass date_format=... for this column",
            source=source,
            column=column,
            value=str(d_value),
        )
    if len(day_first_ev) or len(month_first_ev):
        first = bool(len(day_first_ev))
        example = t[int((day_first_ev if first else month_first_ev)[0])]
        warns.append(
            (
                "inferred_dayfirst",
                f"{column}: dates read {'day' if first else 'month'}-first because {example!r} only fits that order "
                f"(pass dayfirst= to fix it)",
                mask.copy(),
            )
        )
        return first
    ambiguous = np.flatnonzero(mask & (a != b))
    if len(ambiguous):
        value = str(t[int(ambiguous[0])])
        row = int(rows[int(ambiguous[0])])
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
