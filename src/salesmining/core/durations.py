"""Durations as people write them: ``36h``, ``1d12h``, ``P2D``, ``3 days``, ``1 day 12 hours``, ``3天``.

One parser for every place a duration is given (stage and approval SLAs, YAML stage models).
Accepted:

* short forms: ``90s``, ``90m`` / ``90min`` (minutes), ``36h``, ``1d``, ``2w`` and
  combinations such as ``1d12h`` or ``1d 12h`` (what the reports print);
* ISO 8601: ``P2D``, ``PT36H``, ``P1DT12H``, ``P1W``;
* English words, singular or plural, abbreviated or not: ``3 days``, ``2 weeks``,
  ``36 hours``, ``90 minutes``, ``45 secs``, ``1.5 hrs``, ``1 day 12 hours``,
  ``1 day, 12 hours``, ``1 day and 12 hours``;
* Chinese: ``3天`` (also ``3日``), ``2周`` (``2星期``, ``2个星期``, ``2礼拜``), ``36小时``
  (``36个小时``, ``36时``), ``90分钟`` (``90分``), ``45秒``, and combinations ``1天12小时``.

Years and months are refused (their length depends on the calendar), and so is a bare
``M`` after a number (months or minutes?). The result is a positive :class:`pandas.Timedelta`.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import TYPE_CHECKING

from salesmining.core.errors import OptionError, SalesminingError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DURATION_EXAMPLES", "parse_duration"]

#: What error messages suggest.
DURATION_EXAMPLES = "'2d', '36h', '90m', '1d12h', 'P2D', '3 days', '1 day 12 hours' or '3天'"

_WEEK, _DAY, _HOUR, _MINUTE = 7 * 86400, 86400, 3600, 60
_UNIT_WORDS: dict[str, int] = {
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), _WEEK),
    **dict.fromkeys(("d", "day", "days"), _DAY),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), _HOUR),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), _MINUTE),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("周", "星期", "礼拜", "个星期", "个礼拜", "週"), _WEEK),
    **dict.fromkeys(("天", "日"), _DAY),
    **dict.fromkeys(("小时", "个小时", "时", "小時", "個小時"), _HOUR),
    **dict.fromkeys(("分钟", "分", "分鐘"), _MINUTE),
    **dict.fromkeys(("秒", "秒钟", "秒鐘"), 1),
}
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNIT_WORDS, key=len, reverse=True))
# One "number unit" term; Latin unit words must end at a word boundary ("3 dayz" is refused).
_TERM = re.compile(
    rf"\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<u>{_UNIT_ALT})(?![A-Za-z])\s*(?:,|\band\b|&|和|又|零)?\s*",
    re.IGNORECASE,
)
_ISO = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_ISO_UNITS = {"w": _WEEK, "d": _DAY, "h": _HOUR, "m": _MINUTE, "s": 1}
_CALENDAR_UNITS = re.compile(r"\d\s*(?:[Yy]|years?\b|months?\b|mos?\b|年|个月|月)", re.IGNORECASE)


def parse_duration(
    value: object, *, what: str = "duration", error: type[SalesminingError] = OptionError
) -> pd.Timedelta:
    """A positive duration from text (see the module docstring), a ``timedelta`` or a ``Timedelta``.

    ``what`` names the setting in error messages; ``error`` is the class raised (a
    :class:`~salesmining.core.errors.SalesminingError` subclass, default ``OptionError``).

    Examples
    --------
    >>> parse_duration("1 day 12 hours") == parse_duration("1d12h") == parse_duration("1天12小时")
    True
    >>> parse_duration("2 weeks")
    Timedelta('14 days 00:00:00')
    >>> try:
    ...     parse_duration("3 months", what="sla of 'Lead'")
    ... except OptionError as exc:
    ...     print(str(exc)[:95])
    sla of 'Lead': cannot read '3 months' as a duration (years and months have no fixed length; use
    """
    import pandas as pd

    td: pd.Timedelta
    if isinstance(value, (pd.Timedelta, _dt.timedelta)):
        td = pd.Timedelta(value)
    elif isinstance(value, str):
        td = pd.Timedelta(seconds=_seconds(value.strip(), what, error))
    else:
        raise error(f"{what}: {value!r} is not a duration; write it with a unit, e.g. {DURATION_EXAMPLES}")
    if pd.isna(td) or td <= pd.Timedelta(0):
        raise error(f"{what}: {value!r} must be a positive duration")
    return td


def _seconds(text: str, what: str, error: type[SalesminingError]) -> float:
    iso = _ISO.match(text)
    if iso and text.upper() not in ("P", "PT") and not text.upper().endswith("T"):
        return sum(float(v) * _ISO_UNITS[k] for k, v in iso.groupdict().items() if v is not None)
    if re.search(r"\dM(?!IN|in)", text):
        raise error(f"{what}: {text!r} is ambiguous (M = months or minutes?); write 'm' for minutes")
    pos, secs, found = 0, 0.0, False
    for m in _TERM.finditer(text):
        if m.start() != pos:
            break
        secs += float(m.group("n")) * _UNIT_WORDS[m.group("u").lower()]
        pos, found = m.end(), True
    if not found or text[pos:].strip():
        hint = " (years and months have no fixed length; use days or weeks)" if _CALENDAR_UNITS.search(text) else ""
        raise error(f"{what}: cannot read {text!r} as a duration{hint}; write e.g. {DURATION_EXAMPLES}")
    return secs
