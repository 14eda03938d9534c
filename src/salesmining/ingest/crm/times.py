"""Timestamps of CRM inputs: parsing with the shared parser, the day order one export decided, time warnings."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from salesmining.core.schema import UTC_DTYPE
from salesmining.ingest.timestamps import TimeParse, parse_timestamps
from salesmining.log.quality import IngestWarning

__all__ = ["inferred_dayfirst", "parse_time", "time_warnings"]


def parse_time(
    df: pd.DataFrame,
    col: str | None,
    *,
    source: str,
    timezone: str | None,
    dayfirst: bool | None,
) -> TimeParse:
    """Parse one column with the shared timestamp parser (all-missing when ``col`` is None)."""
    if col is None:
        n = len(df)
        empty = np.zeros(n, dtype=bool)
        return TimeParse(pd.Series(pd.NaT, index=range(n), dtype=UTC_DTYPE), ~empty, empty, empty.copy(), empty.copy())
    return parse_timestamps(df[col], column=col, source=source, timezone=timezone, dayfirst=dayfirst)


_ABY = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](?:\d{4}|\d{2})\b")


def inferred_dayfirst(raw: pd.Series, values: pd.Series) -> bool | None:
    """Whether ``a/b/y`` dates in ``raw`` were read day-first (``None`` if the column has none that tell).

    Used to read every input of one export in the order the main history file decided.
    """
    t = raw.reset_index(drop=True).astype("str").fillna("")
    parts = t.str.extract(_ABY)
    a = pd.to_numeric(parts[0], errors="coerce")
    b = pd.to_numeric(parts[1], errors="coerce")
    ok = (a != b).to_numpy() & a.notna().to_numpy() & values.reset_index(drop=True).notna().to_numpy()
    if not ok.any():
        return None
    i = int(np.flatnonzero(ok)[0])
    return bool(values.iloc[i].day == a.iloc[i])


def time_warnings(
    tp: TimeParse, keep: np.ndarray, source: str, column: str, *, rows: np.ndarray | None = None
) -> list[IngestWarning]:
    """The parser's warnings (merged per code) and ``date_only``, restricted to kept values.

    ``rows`` maps parsed positions to input rows when several values come from one row (wide exports).
    """
    merged: dict[tuple[str, str], tuple[str, np.ndarray]] = {}
    for code, message, mask in tp.warnings:
        key = (code, message.split(":", 1)[0])
        prev = merged.get(key)
        merged[key] = (message, mask if prev is None else (prev[1] | mask))
    items = list(merged.values())
    codes = [k[0] for k in merged]
    if tp.date_only.any():
        codes.append("date_only")
        items.append(
            (f"{column}: dates without a time of day; same-day events are ordered by source row", tp.date_only)
        )
    out = []
    for code, (message, mask) in zip(codes, items, strict=True):
        m = mask & keep
        if m.any():
            idx = np.flatnonzero(m) if rows is None else np.unique(rows[m])
            out.append(IngestWarning(code, message, int(m.sum()), tuple(int(i) for i in idx[:10]), source))
    return out
