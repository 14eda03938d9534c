"""Every number salesmining shows a person: durations, percentages and counts, in one place.

Maps, notebook cards, reports and finding texts all format through these functions, so the
same quantity reads the same everywhere. Durations measured on a
:class:`~salesmining.BusinessCalendar`'s working clock are *working time*: pass ``working=True``
and the text says so (``"64.0 working h"``) instead of passing working seconds off as
calendar days.

Missing values (``None``, NaN, NaT) format as ``"–"``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "MISSING",
    "WORKING_TIME",
    "count",
    "days",
    "duration",
    "duration_spec",
    "hours",
    "is_missing",
    "number",
    "one_line",
    "percent",
    "points",
    "short_duration",
    "short_durations",
    "signed_percent",
]

#: How a missing value is shown.
MISSING = "–"
#: The unit name of durations measured on a business calendar's working clock.
WORKING_TIME = "working time"


def is_missing(value: Any) -> bool:
    """``None``, NaN, NaT or anything that is not a number."""
    if value is None:
        return True
    try:
        f = float(value)
    except (TypeError, ValueError):
        try:
            import pandas as pd

            return bool(pd.isna(value))
        except (TypeError, ValueError):
            return True
    return math.isnan(f)


def _seconds(value: Any) -> float | None:
    """Seconds from a number or a ``timedelta``/``Timedelta``; ``None`` when missing."""
    if value is None:
        return None
    total = getattr(value, "total_seconds", None)
    try:
        f = float(total()) if callable(total) else float(value)
    except (TypeError, ValueError):
        return None
    return None if not math.isfinite(f) else f


def duration(seconds: Any) -> str:
    """Clock style, at most two units: ``"1d 2h"``, ``"2m 30s"``, ``"0.25s"``.

    >>> duration(93784.0), duration(150.0), duration(0.25), duration(float("nan"))
    ('1d 2h', '2m 30s', '0.25s', '–')
    """
    value = _seconds(seconds)
    if value is None:
        return MISSING
    sign = "-" if value < 0 else ""
    s = abs(value)
    if s < 1:
        return f"{sign}{s:.2g}s"
    parts: list[str] = []
    for label, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if s >= size or parts:
            q = int(s // size)
            s -= q * size
            parts.append(f"{q}{label}")
        if len(parts) == 2:
            break
    return sign + " ".join(p for p in parts if not p.startswith("0") or p == parts[0])


def short_duration(seconds: Any, *, working: bool = False, smallest: str = "s") -> str:
    """Compact, one unit: ``"45 s"``, ``"12 min"``, ``"3.5 h"``, ``"2.1 d"``.

    ``working=True`` (a business calendar's working clock) gives working hours, since a
    working day has no fixed length: ``"64.0 working h"``. ``smallest="min"`` shows anything
    under an hour in minutes (``"0 min"``), as finding texts do.

    >>> short_duration(45), short_duration(720), short_duration(12_600), short_duration(181_440)
    ('45 s', '12 min', '3.5 h', '2.1 d')
    >>> short_duration(8 * 8 * 3600, working=True), short_duration(30, smallest="min")
    ('64.0 working h', '0 min')
    """
    value = _seconds(seconds)
    if value is None:
        return MISSING
    if working:
        return f"{value / 3600:,.1f} working h"
    if value < 60 and smallest == "s":
        return f"{value:.0f} s"
    if value < 3600:
        return f"{value / 60:.0f} min"
    if value < 86400:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


def _text(numbers: np.ndarray, *parts: Any) -> np.ndarray:
    """``str(n) + parts...`` per whole number ``n`` (int64), as Python ``str`` objects; a part is a
    suffix text or another int64 array (joined in Arrow: no Python call per value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def arrow(x: Any) -> Any:
        return pc.cast(pa.array(x), pa.string()) if isinstance(x, np.ndarray) else x

    joined = pc.binary_join_element_wise(arrow(numbers), *[arrow(p) for p in parts], "")
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def short_durations(seconds: Any, *, working: bool = False, smallest: str = "s") -> np.ndarray:
    """:func:`short_duration` of every value of ``seconds`` (numbers, as an array or a sequence):
    an object array of the same texts, without a Python call per value.

    Rounding is numpy's ``rint`` (half to even on the exact value, as Python's formatting rounds);
    a value whose one-decimal rounding sits too close to a half to be decided from ``value·10`` in
    floats, a huge value, or a working-clock one, is formatted by :func:`short_duration` itself.

    >>> short_durations([45, 720, 12_600, 181_440, float("nan")]).tolist()
    ['45 s', '12 min', '3.5 h', '2.1 d', '–']
    """
    try:
        v = np.asarray(seconds, dtype="float64").reshape(-1)
    except (TypeError, ValueError):  # Timedeltas, pd.NA, ...: one at a time
        return np.asarray([short_duration(x, working=working, smallest=smallest) for x in seconds], dtype=object)
    out = np.full(len(v), MISSING, dtype=object)
    fin = np.isfinite(v)
    big = 2.0**52  # below it every float of interest converts to int64 exactly
    if working:
        rows = np.flatnonzero(fin)
        out[rows] = [short_duration(float(x), working=True) for x in v[rows]]
        return out
    sec = fin & (v < 60) if smallest == "s" else np.zeros(len(v), dtype=bool)
    # one unit, no decimal: seconds or minutes; rint rounds the exact value half to even, as "%.0f"
    for mask, scale, unit in ((sec, 1.0, " s"), (fin & ~sec & (v < 3600), 60.0, " min")):
        rows = np.flatnonzero(mask)
        x = v[rows] / scale if scale != 1.0 else v[rows]
        ok = np.abs(x) < big
        r = np.rint(x[ok])
        if len(r):
            text = _text(r.astype("int64"), unit)
            text[(r == 0) & np.signbit(r)] = "-0" + unit  # "%.0f" keeps the sign of a negative zero
            out[rows[ok]] = text
        out[rows[~ok]] = [short_duration(float(s), smallest=smallest) for s in v[rows[~ok]]]
    # one decimal: hours or days (positive values)
    for mask, scale, unit in ((fin & (v >= 3600) & (v < 86400), 3600.0, " h"), (fin & (v >= 86400), 86400.0, " d")):
        rows = np.flatnonzero(mask)
        y = (v[rows] / scale) * 10
        # rint(y) rounds as the exact value·10 would, unless a half lies within y's rounding error
        ok = (y < big) & (np.abs(y - np.floor(y) - 0.5) > 4 * np.spacing(y))
        k = np.rint(y[ok]).astype("int64")
        if len(k):
            out[rows[ok]] = _text(k // 10, ".", k % 10, unit)
        out[rows[~ok]] = [short_duration(float(s), smallest=smallest) for s in v[rows[~ok]]]
    return out


def hours(value_hours: Any, *, signed: bool = False, working: bool = False) -> str:
    """Hours for reports: ``"5.5 h"`` below 48 hours, days above (``"3.2 d"``); ``signed`` adds ``+``.

    ``working=True``: always working hours (``"64.0 working h"``).

    >>> hours(5.5), hours(77.0), hours(-3.0, signed=True), hours(64.0, working=True)
    ('5.5 h', '3.2 d', '-3.0 h', '64.0 working h')
    """
    if is_missing(value_hours):
        return MISSING
    v = float(value_hours)
    sign = "+" if signed else ""
    if working:
        return f"{v:{sign},.1f} working h"
    return f"{v:{sign},.1f} h" if abs(v) < 48 else f"{v / 24:{sign},.1f} d"


def days(value: Any, *, working: bool = False) -> str:
    """A duration (seconds or a ``Timedelta``) in days: ``"1.5 d"`` (working hours when ``working``).

    >>> import pandas as pd
    >>> days(pd.Timedelta(hours=36)), days(None)
    ('1.5 d', '–')
    """
    s = _seconds(value)
    if s is None:
        return MISSING
    if working:
        return short_duration(s, working=True)
    return f"{s / 86400:.1f} d"


def duration_spec(td: Any) -> str:
    """The shortest exact text for a duration (``36h``, ``2d``, ``90m``) as stage models write it;
    ISO 8601 for fractions of a second.

    >>> import pandas as pd
    >>> [duration_spec(pd.Timedelta(hours=h)) for h in (36, 48, 336)]
    ['36h', '2d', '14d']
    """
    import pandas as pd

    td = pd.Timedelta(td)
    ns = int(td.value)
    if ns % 1_000_000_000:
        return str(td.isoformat())
    s = ns // 1_000_000_000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def percent(x: Any, *, digits: int = 1) -> str:
    """A share as a percentage: ``"12.5%"``.

    >>> percent(0.125), percent(0.5, digits=0), percent(float("nan"))
    ('12.5%', '50%', '–')
    """
    return MISSING if is_missing(x) else f"{float(x):.{digits}%}"


def signed_percent(x: Any) -> str:
    """A relative change: ``"+25%"``; factors of ten or more as plain numbers (``"+12"``).

    >>> signed_percent(0.25), signed_percent(-0.5), signed_percent(12.0)
    ('+25%', '-50%', '+12')
    """
    if is_missing(x):
        return MISSING
    v = float(x)
    return f"{v:+.0%}" if abs(v) < 10 else f"{v:+.0f}"


def points(x: Any) -> str:
    """A difference of two shares in percentage points: ``"+4.0 pts"``.

    >>> points(0.04), points(-0.125)
    ('+4.0 pts', '-12.5 pts')
    """
    return MISSING if is_missing(x) else f"{float(x) * 100:+.1f} pts"


def count(n: Any) -> str:
    """A count with thousands separators: ``"12,345"``.

    >>> count(12345), count(None)
    ('12,345', '–')
    """
    return MISSING if is_missing(n) else f"{int(n):,}"


def counted(n: Any, noun: str, plural: str | None = None) -> str:
    """A count with its noun, singular for one: ``"1 event"``, ``"12,345 events"``.

    >>> counted(1, "event"), counted(12345, "event"), counted(2, "case", "cases")
    ('1 event', '12,345 events', '2 cases')
    """
    if is_missing(n):
        return f"{MISSING} {plural or noun + 's'}"
    return f"{count(n)} {noun if int(n) == 1 else (plural or noun + 's')}"


def counted_doing(n: Any, noun: str, verb: str) -> str:
    """A count, its noun and a present-tense verb that agree: ``"1 case starts"``, ``"3 cases start"``
    (``verb`` in the third person singular).

    >>> counted_doing(1, "case", "ends"), counted_doing(3, "case", "ends")
    ('1 case ends', '3 cases end')
    """
    one = not is_missing(n) and int(n) == 1
    return f"{counted(n, noun)} {verb if one else verb.removesuffix('s')}"


def number(x: Any) -> str:
    """A plain number for tables: floats with two decimals, integers with thousands separators,
    anything else as its text.

    >>> number(1234.5), number(1234), number(float("nan")), number("n/a")
    ('1,234.50', '1,234', '–', 'n/a')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return MISSING
    if isinstance(x, float):
        return f"{x:,.2f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def one_line(text: Any) -> str:
    """Text for a one-line ``repr``: line breaks and other control characters shown escaped.

    >>> one_line("a\\nb")
    'a\\\\nb'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
