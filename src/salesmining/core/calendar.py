"""Business calendars: durations in working time, vectorised.

A :class:`BusinessCalendar` turns every instant into a position on a *working clock*: the
number of working microseconds between 1970-01-01 00:00 (local time of the calendar) and that
instant. A duration in working time is then the difference of two clock readings, so every
metric (waits, service times, throughput) is measured the same way and no Python loop runs per
pair: the clock is evaluated once per event with numpy (``np.busday_count`` for whole days, a
clipped time of day for the day itself).

Calendar time is the identity clock (:func:`clock_us` with ``calendar=None``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import OptionError

__all__ = ["BusinessCalendar", "clock_us"]

_US_PER_DAY = 86_400_000_000
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_EPOCH_DAY = np.datetime64("1970-01-01", "D")


def _parse_time(value: str, *, what: str) -> int:
    """``"HH:MM"`` or ``"HH:MM:SS"`` (``"24:00"`` allowed) → microseconds since midnight."""
    m = _TIME.match(str(value).strip())
    if not m:
        raise OptionError(f"{what} must look like 'HH:MM' or 'HH:MM:SS', not {value!r}")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if mi > 59 or s > 59 or h > 24 or (h == 24 and (mi or s)):
        raise OptionError(f"{what} {value!r} is not a time of day")
    return ((h * 60 + mi) * 60 + s) * 1_000_000


def _as_utc_index(values: Any) -> pd.DatetimeIndex:
    """Any datetime-like array as a tz-aware UTC DatetimeIndex in microseconds (naive = UTC)."""
    idx = pd.DatetimeIndex(pd.to_datetime(values))
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit("us")


@dataclass(frozen=True, kw_only=True)
class BusinessCalendar:
    """Working days, working hours and holidays, for durations in working time.

    Parameters
    ----------
    workdays:
        Working weekdays, Monday = 0 … Sunday = 6.
    hours:
        The working hours of a working day, ``("09:00", "17:00")``, or several slots, e.g.
        ``(("09:00", "12:00"), ("13:00", "17:00"))`` for a lunch break. ``"24:00"`` ends a
        slot at midnight.
    holidays:
        Dates without work (``"2024-12-25"``, :class:`datetime.date`), in the calendar's zone.
    timezone:
        IANA zone name; instants are converted to this zone's wall-clock time before the
        working hours apply, so a daylight-saving change moves nothing (an instant inside the
        repeated hour of a fall-back reads as its wall-clock time).

    Examples
    --------
    >>> import pandas as pd
    >>> cal = BusinessCalendar(holidays=("2024-01-01",))
    >>> start = pd.to_datetime(["2024-01-05 16:00", "2023-12-29 16:30"], utc=True)
    >>> end = pd.to_datetime(["2024-01-08 10:00", "2024-01-02 09:30"], utc=True)
    >>> cal.seconds_between(start, end) / 3600  # Fri 16:00 → Mon 10:00; over a weekend and New Year
    array([2., 1.])
    >>> cal.seconds_per_day / 3600
    8.0
    """

    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    hours: tuple[str, str] | tuple[tuple[str, str], ...] = ("09:00", "17:00")
    holidays: tuple[str | dt.date, ...] = ()
    timezone: str = "UTC"
    _slots: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    _holiday_days: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        days = tuple(int(d) for d in self.workdays)
        if not days or any(d < 0 or d > 6 for d in days) or len(set(days)) != len(days):
            raise OptionError(f"workdays must be distinct weekdays 0 (Monday) … 6 (Sunday), not {self.workdays!r}")
        object.__setattr__(self, "workdays", tuple(sorted(days)))
        raw: Sequence[Any] = self.hours
        pairs = [raw] if len(raw) == 2 and all(isinstance(x, str) for x in raw) else list(raw)
        slots: list[tuple[int, int]] = []
        for pair in pairs:
            if isinstance(pair, str) or len(pair) != 2:
                raise OptionError(f"hours must be ('HH:MM', 'HH:MM') or a sequence of such pairs, not {self.hours!r}")
            lo, hi = _parse_time(pair[0], what="hours"), _parse_time(pair[1], what="hours")
            if lo >= hi:
                raise OptionError(f"working hours {pair!r} end before they start (night shifts are not supported)")
            slots.append((lo, hi))
        slots.sort()
        for (_, a_end), (b_start, _) in itertools.pairwise(slots):
            if b_start < a_end:
                raise OptionError(f"working hours overlap: {self.hours!r}")
        object.__setattr__(self, "_slots", tuple(slots))
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise OptionError(f"unknown time zone {self.timezone!r}") from exc
        try:
            dates = [np.datetime64(pd.Timestamp(h).date(), "D") for h in self.holidays]
            hol = np.unique(np.array(dates, dtype="datetime64[D]"))
        except (ValueError, TypeError) as exc:
            raise OptionError(f"holidays must be dates, not {self.holidays!r}") from exc
        object.__setattr__(self, "_holiday_days", tuple(str(d) for d in hol))

    # --- facts ------------------------------------------------------------------------
    @property
    def seconds_per_day(self) -> float:
        """Working seconds in one full working day (to express durations in working days)."""
        return sum(hi - lo for lo, hi in self._slots) / 1e6

    @property
    def _weekmask(self) -> list[int]:
        return [1 if d in self.workdays else 0 for d in range(7)]

    def _holidays_array(self) -> np.ndarray:
        return np.array(self._holiday_days, dtype="datetime64[D]")

    # --- the working clock ------------------------------------------------------------
    def clock_us(self, timestamps: Any) -> np.ndarray:
        """Working microseconds from 1970-01-01 00:00 (local) to each instant, as int64.

        Differences of two readings are working-time durations. Values must not be missing.
        Naive datetimes are read as UTC.
        """
        idx = _as_utc_index(timestamps)
        if idx.hasnans:
            raise OptionError("clock_us needs timestamps without missing values")
        if self.timezone != "UTC":
            idx = idx.tz_convert(self.timezone)
        local = idx.tz_localize(None).as_unit("us").asi8
        day = np.floor_divide(local, _US_PER_DAY)
        tod = local - day * _US_PER_DAY
        uniq, inverse = np.unique(day, return_inverse=True)
        dates = _EPOCH_DAY + uniq.astype("timedelta64[D]")
        mask, hol = self._weekmask, self._holidays_array()
        before = np.busday_count(_EPOCH_DAY, dates, weekmask=mask, holidays=hol).astype(np.int64)
        working = np.is_busday(dates, weekmask=mask, holidays=hol)
        within = np.zeros(len(local), dtype=np.int64)
        for lo, hi in self._slots:
            within += np.clip(tod - lo, 0, hi - lo)
        day_us = sum(hi - lo for lo, hi in self._slots)
        out: np.ndarray = before[inverse] * day_us + np.where(working[inverse], within, 0)
        return out

    def seconds_between(self, start: Any, end: Any) -> np.ndarray:
        """Working seconds from ``start`` to ``end`` (aligned datetime arrays), as float64.

        Holidays and non-working days and hours are excluded; negative when ``end`` is earlier;
        ``NaN`` where either side is missing. Naive datetimes are read as UTC.
        """
        s, e = _as_utc_index(start), _as_utc_index(end)
        if len(s) != len(e):
            raise OptionError(f"start and end have different lengths ({len(s)} and {len(e)})")
        ok = ~(s.isna() | e.isna())
        out = np.full(len(s), np.nan)
        if ok.any():
            out[ok] = (self.clock_us(e[ok]) - self.clock_us(s[ok])) / 1e6
        return out

    def __repr__(self) -> str:
        slots = ", ".join(f"{_hhmm(lo)}–{_hhmm(hi)}" for lo, hi in self._slots)
        names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        days = " ".join(names[d] for d in self.workdays)
        hol = f", {len(self._holiday_days)} holidays" if self._holiday_days else ""
        return f"<BusinessCalendar: {days}, {slots}, {self.timezone}{hol}>"


def _hhmm(us: int) -> str:
    minutes = us // 60_000_000
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def clock_us(timestamps: Any, calendar: BusinessCalendar | None = None) -> np.ndarray:
    """The clock durations are measured on: microseconds since the epoch (calendar time), or
    working microseconds (:meth:`BusinessCalendar.clock_us`) when a calendar is given.

    >>> import pandas as pd
    >>> ts = pd.to_datetime(["2024-01-05 16:00", "2024-01-08 10:00"], utc=True)
    >>> int(clock_us(ts)[1] - clock_us(ts)[0]) // 3_600_000_000
    66
    >>> int(clock_us(ts, BusinessCalendar())[1] - clock_us(ts, BusinessCalendar())[0]) // 3_600_000_000
    2
    """
    if calendar is not None:
        return calendar.clock_us(timestamps)
    idx = _as_utc_index(timestamps)
    if idx.hasnans:
        raise OptionError("clock_us needs timestamps without missing values")
    out: np.ndarray = idx.asi8.astype(np.int64)
    return out
