"""Ingest options as values: which input column plays which role, and how to read the input.

Every reader (:func:`~salesmining.read_csv`, :func:`~salesmining.from_dataframe`,
:func:`~salesmining.read_xes`, the CRM readers) and the command line build a :class:`ColumnMap`
and a :class:`ReadOptions` from their keywords and hand them to the shared ingest core. The
values are checked here, once, when the object is made:

* a wrong type is an :class:`~salesmining.core.errors.ArgumentTypeError` (also a ``TypeError``);
* a value an option cannot take is an :class:`~salesmining.core.errors.OptionError` (also a
  ``ValueError``), except an unknown time zone, which stays the
  :class:`~salesmining.LogSchemaError` it has always been.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from salesmining.core.errors import ArgumentTypeError, LogSchemaError, OptionError

__all__ = ["DEFAULT_PLAUSIBLE_RANGE", "BulkRule", "ColumnMap", "ReadOptions", "check_timezone"]

#: Timestamps outside [start, end) are rejected as implausible (sentinels like 1900-01-01, 9999-12-31, epoch 0).
DEFAULT_PLAUSIBLE_RANGE = ("1971-01-01", "2100-01-01")

#: Roles of a :class:`ColumnMap` that name one optional column each, in the order reports list them.
OPTIONAL_ROLES = ("start_timestamp", "resource", "lifecycle", "approval_result", "outcome", "amount", "owner")


def _check_column(role: str, col: object, *, required: bool) -> None:
    if col is None:
        if required:
            raise ArgumentTypeError(f"{role}= is required: the name of the input column with the {role}")
        return
    if isinstance(col, bool) or not isinstance(col, Hashable) or isinstance(col, tuple):
        raise ArgumentTypeError(f"{role}= must be a column name (a string), not {type(col).__name__}")
    if isinstance(col, str) and not col.strip():
        raise OptionError(f"{role}= must name a column, not an empty string")


def check_timezone(timezone: object) -> None:
    """``None`` or an IANA zone name, else an error that says what to pass."""
    if timezone is None:
        return
    if not isinstance(timezone, str):
        raise ArgumentTypeError(f"timezone= must be an IANA zone name such as 'Europe/Berlin', not {timezone!r}")
    try:
        pd.Timestamp("2024-01-01").tz_localize(timezone)
    except Exception as exc:
        raise LogSchemaError(
            f"unknown time zone {timezone!r}: pass an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from exc


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which input column is the case id, the activity, the event time and the optional roles.

    ``case_attributes`` is a tuple of column names, or ``"auto"`` (every unmapped column that
    has at most one value within each case).
    """

    case: str
    activity: str
    timestamp: str
    start_timestamp: str | None = None
    resource: str | None = None
    lifecycle: str | None = None
    approval_result: str | None = None
    outcome: str | None = None
    amount: str | None = None
    owner: str | None = None
    case_attributes: tuple[str, ...] | Literal["auto"] = ()

    def __post_init__(self) -> None:
        for role in ("case", "activity", "timestamp"):
            _check_column(role, getattr(self, role), required=True)
        for role in OPTIONAL_ROLES:
            _check_column(role, getattr(self, role), required=False)
        attrs: object = self.case_attributes
        if isinstance(attrs, str):
            if attrs != "auto":
                raise ArgumentTypeError(
                    f"case_attributes= takes a list of column names or 'auto', not the string {attrs!r} "
                    f"(for one column write case_attributes=[{attrs!r}])"
                )
            return
        if not isinstance(attrs, Sequence):
            raise ArgumentTypeError(
                f"case_attributes= takes a list of column names or 'auto', not {type(attrs).__name__}"
            )
        for attr in attrs:
            _check_column("case attribute", attr, required=True)
        object.__setattr__(self, "case_attributes", tuple(attrs))

    @property
    def auto_case_attributes(self) -> bool:
        """Whether case attributes are found automatically (``case_attributes="auto"``)."""
        return isinstance(self.case_attributes, str)

    def roles(self) -> dict[str, str | None]:
        """Role → column (``None`` when unmapped), then one ``"case attribute 'x'"`` entry per listed attribute."""
        out: dict[str, str | None] = {"case": self.case, "activity": self.activity, "timestamp": self.timestamp}
        out.update({role: getattr(self, role) for role in OPTIONAL_ROLES})
        if not isinstance(self.case_attributes, str):
            for attr in self.case_attributes:
                out[f"case attribute {attr!r}"] = attr
        return out


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read the input: time zone and day order of dates, text encoding, separator, strictness.

    ``plausible_range`` is ``(start, end)``: timestamps outside ``[start, end)`` are rejected as
    implausible. ``name`` names the log (default: the file name).
    """

    timezone: str | None = None
    dayfirst: bool | None = None
    date_format: str | None = None
    encoding: str | None = None
    sep: str | None = None
    strict: bool = False
    plausible_range: tuple[str, str] = DEFAULT_PLAUSIBLE_RANGE
    name: str | None = None

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        if self.dayfirst is not None and not isinstance(self.dayfirst, bool):
            raise ArgumentTypeError(f"dayfirst= takes True, False or None, not {self.dayfirst!r}")
        if not isinstance(self.strict, bool):
            raise ArgumentTypeError(f"strict= takes True or False, not {self.strict!r}")
        for key in ("date_format", "encoding", "sep", "name"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ArgumentTypeError(f"{key}= takes a string or None, not {type(value).__name__}")
            if key in ("date_format", "encoding", "sep") and value == "":
                raise OptionError(f"{key}= must not be empty (pass None for the default)")
        self.bounds()  # validates plausible_range

    def bounds(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """``plausible_range`` as UTC timestamps ``(lo, hi)``."""
        rng: object = self.plausible_range
        if not isinstance(rng, (tuple, list)) or len(rng) != 2:
            raise ArgumentTypeError(f"plausible_range= takes a pair (start, end), not {rng!r}")
        try:
            lo, hi = (pd.Timestamp(x, tz="UTC") for x in rng)
        except (ValueError, TypeError) as exc:
            raise OptionError(f"plausible_range={tuple(rng)!r} does not hold two dates: {exc}") from exc
        if lo is pd.NaT or hi is pd.NaT or not lo < hi:
            raise OptionError(f"plausible_range={tuple(rng)!r} must be (start, end) with start before end")
        return lo, hi


@dataclass(frozen=True, slots=True)
class BulkRule:
    """When the CRM readers call a burst of edits a bulk update: one user's events with gaps of at
    most ``window`` seconds that touch ``min_cases`` cases or more (``min_cases=0`` turns it off)."""

    min_cases: int = 10
    window: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.min_cases, bool) or not isinstance(self.min_cases, numbers.Integral):
            raise ArgumentTypeError(f"bulk_min_cases= takes a whole number, not {self.min_cases!r}")
        if self.min_cases < 0:
            raise OptionError(f"bulk_min_cases={self.min_cases} must be 0 (off) or more")
        if isinstance(self.window, bool) or not isinstance(self.window, numbers.Real):
            raise ArgumentTypeError(f"bulk_window= takes a number of seconds, not {self.window!r}")
        if not math.isfinite(self.window) or self.window < 0:
            raise OptionError(f"bulk_window={self.window} must be a finite number of seconds, 0 or more")
