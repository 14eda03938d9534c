"""BusinessCalendar: working seconds, hand-worked and against a day-by-day reference (with DST)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.core.calendar import BusinessCalendar, clock_us
from salesmining.core.formatting import duration as format_duration

H = 3600.0


def _utc(*values: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(values), utc=True))


def test_hand_worked_default_calendar() -> None:
    cal = BusinessCalendar()  # Mon–Fri 09:00–17:00 UTC; 2024-01-05 is a Friday
    start = _utc("2024-01-05 16:00", "2024-01-06 10:00", "2024-01-08 08:00", "2024-01-08 12:00", "2024-01-01 09:00")
    end = _utc("2024-01-08 10:00", "2024-01-07 18:00", "2024-01-08 18:00", "2024-01-08 12:30", "2024-01-08 09:00")
    # Fri 16–17 + Mon 9–10; a whole weekend; a whole Monday; half an hour; one full week
    assert cal.seconds_between(start, end).tolist() == [2 * H, 0.0, 8 * H, 0.5 * H, 40 * H]
    assert cal.seconds_between(end, start).tolist() == [-2 * H, 0.0, -8 * H, -0.5 * H, -40 * H]
    assert cal.seconds_per_day == 8 * H


def test_holidays_lunch_breaks_and_weekends() -> None:
    cal = BusinessCalendar(
        workdays=(0, 1, 2, 3, 4, 5),
        hours=(("08:00", "12:00"), ("13:00", "17:30")),
        holidays=("2024-12-25", dt.date(2024, 12, 26)),
    )
    assert cal.seconds_per_day == 8.5 * H
    start = _utc("2024-12-24 11:00", "2024-12-24 12:15", "2024-12-21 16:00")
    end = _utc("2024-12-27 09:00", "2024-12-24 13:15", "2024-12-23 08:30")
    # Tue 11–12 + 13–17:30, Wed/Thu off, Fri 8–9; lunch counts nothing; Sat 16–17:30, Sun off, Mon 8–8:30
    assert cal.seconds_between(start, end).tolist() == [6.5 * H, 0.25 * H, 2 * H]


def test_missing_values_give_nan_and_naive_is_utc() -> None:
    cal = BusinessCalendar()
    start = pd.Series(pd.to_datetime(["2024-01-08 09:00", None]))
    end = pd.Series(pd.to_datetime(["2024-01-08 11:00", "2024-01-08 12:00"]))
    got = cal.seconds_between(start, end)
    assert got[0] == 2 * H and np.isnan(got[1])
    with pytest.raises(ValueError, match="different lengths"):
        cal.seconds_between(start, end[:1])


def _reference_seconds(cal: BusinessCalendar, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Day by day in the calendar's wall-clock time (a loop: this is the oracle)."""
    tz = cal.timezone
    a, b = start.tz_convert(tz), end.tz_convert(tz)
    total = 0.0
    day = a.tz_localize(None).normalize()
    while day <= b.tz_localize(None):
        if day.weekday() in cal.workdays and str(day.date()) not in cal.holidays:
            for lo, hi in cal.hours:  # type: ignore[misc]
                s = (day + pd.Timedelta(lo + ":00")).tz_localize(tz)
                e = (day + pd.Timedelta(hi + ":00")).tz_localize(tz)
                lo_t, hi_t = max(s, a), min(e, b)
                if hi_t > lo_t:
                    total += (hi_t - lo_t).total_seconds()
        day += pd.Timedelta(days=1)
    return total


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "America/New_York", "Asia/Shanghai"])
def test_matches_day_by_day_reference_across_dst(zone: str) -> None:
    hours = (("08:30", "12:00"), ("13:00", "17:15"))
    cal = BusinessCalendar(hours=hours, holidays=("2024-03-29", "2024-04-01"), timezone=zone)
    rng = np.random.default_rng(11)
    base = pd.Timestamp("2024-03-01", tz="UTC")  # DST starts 2024-03-10 (US) and 2024-03-31 (EU)
    start = base + pd.to_timedelta(rng.integers(0, 40 * 86400, 150), unit="s")
    end = start + pd.to_timedelta(rng.integers(0, 12 * 86400, 150), unit="s")
    got = cal.seconds_between(start, end)
    expected = [_reference_seconds(cal, a, b) for a, b in zip(start, end, strict=True)]
    assert got.tolist() == pytest.approx(expected, abs=1e-6)


def test_clock_is_monotone_and_identity_without_calendar() -> None:
    ts = pd.date_range("2024-01-01", periods=500, freq="37min", tz="UTC")
    work = clock_us(ts, BusinessCalendar(timezone="Europe/Berlin"))
    assert (np.diff(work) >= 0).all()
    assert (np.diff(clock_us(ts)) == 37 * 60 * 10**6).all()
    # working seconds between any two instants are clock differences
    cal = BusinessCalendar(timezone="Europe/Berlin")
    assert cal.seconds_between(ts[:-1], ts[1:]).tolist() == (np.diff(cal.clock_us(ts)) / 1e6).tolist()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"workdays": ()},
        {"workdays": (0, 7)},
        {"workdays": (1, 1)},
        {"hours": ("17:00", "09:00")},
        {"hours": ("9am", "5pm")},
        {"hours": ("09:00", "24:30")},
        {"hours": (("09:00", "13:00"), ("12:00", "17:00"))},
        {"holidays": ("not a date",)},
        {"timezone": "Mars/Olympus"},
    ],
)
def test_invalid_calendars(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_value_object() -> None:
    kwargs = {"hours": ("08:00", "24:00"), "holidays": ("2024-05-01",), "timezone": "Europe/Paris"}
    cal = BusinessCalendar(**kwargs)  # type: ignore[arg-type]
    same = BusinessCalendar(**kwargs)  # type: ignore[arg-type]
    assert cal == same and hash(cal) == hash(same)
    assert cal != BusinessCalendar(**{**kwargs, "timezone": "UTC"})  # type: ignore[arg-type]
    assert repr(cal) == "<BusinessCalendar: Mon Tue Wed Thu Fri, 08:00–24:00, Europe/Paris, 1 holidays>"
    assert cal.seconds_per_day == 16 * H
    with pytest.raises(dataclasses.FrozenInstanceError):
        cal.timezone = "UTC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        BusinessCalendar((0, 1))  # type: ignore[misc]  # keyword-only
    assert sm.BusinessCalendar is BusinessCalendar


def test_format_duration() -> None:
    got = [format_duration(s) for s in (0, 59, 3600, 90061, 3 * 86400, -120)]
    assert got == ["0s", "59s", "1h", "1d 1h", "3d", "-2m"]
    assert format_duration(None) == format_duration(float("nan")) == "–"
