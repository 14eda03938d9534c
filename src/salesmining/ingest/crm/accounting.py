"""Row accounting: every input row is an event, a used reference row, or a rejection with a reason."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from salesmining.ingest.options import DEFAULT_PLAUSIBLE_RANGE
from salesmining.ingest.timestamps import TimeParse
from salesmining.log.quality import empty_rejections, make_rejections

__all__ = ["RowAccount", "check_core", "duplicated_rows"]


class RowAccount:
    """Rejections of one input, first reason wins; rows never rejected must become events or be used."""

    def __init__(self, n: int, source: str) -> None:
        self.n = n
        self.source = source
        self.rejected = np.zeros(n, dtype=bool)
        #: Rows that checks may reject (others are accounted elsewhere, e.g. used by a join).
        self.scope = np.ones(n, dtype=bool)
        self._parts: list[pd.DataFrame] = [empty_rejections()]

    @property
    def keep(self) -> np.ndarray:
        """Rows not rejected so far."""
        return ~self.rejected

    def reject(self, reason: str, column: str, mask: np.ndarray, values: pd.Series | Sequence[object]) -> None:
        """Reject the rows of ``mask`` not yet rejected, giving each its value of ``column``."""
        m = np.asarray(mask, dtype=bool) & ~self.rejected & self.scope
        if not m.any():
            return
        vals = pd.Series(list(values) if not isinstance(values, pd.Series) else values.to_numpy(), dtype="object")
        self._parts.append(make_rejections(np.flatnonzero(m), reason, column, vals[m].to_numpy(), self.source))
        self.rejected |= m

    def rejections(self) -> pd.DataFrame:
        """All rejections so far, by row."""
        return pd.concat(self._parts, ignore_index=True).sort_values("row", kind="stable").reset_index(drop=True)


def check_core(
    acc: RowAccount,
    df: pd.DataFrame,
    *,
    case: pd.Series,
    case_col: str,
    tp: TimeParse,
    ts_col: str,
    activity: pd.Series | None = None,
    activity_col: str | None = None,
    plausible_range: tuple[str, str] = DEFAULT_PLAUSIBLE_RANGE,
    duplicates: bool = True,
) -> None:
    """The ingest checks of :func:`salesmining.read_csv`, in the same order: missing case id,
    missing activity, missing/unparsable/implausible timestamp, duplicate row."""
    raw = df.reset_index(drop=True)
    acc.reject("missing_case_id", case_col, case.isna().to_numpy(), raw[case_col])
    if activity is not None and activity_col is not None:
        acc.reject("missing_activity", activity_col, activity.isna().to_numpy(), raw[activity_col])
    ts_raw = raw[ts_col]
    acc.reject("missing_timestamp", ts_col, tp.missing, ts_raw)
    acc.reject("unparsable_timestamp", ts_col, tp.unparsable, ts_raw)
    lo, hi = (pd.Timestamp(x, tz="UTC") for x in plausible_range)
    ts = tp.values
    implausible = tp.out_of_range | (ts.notna() & ((ts < lo) | (ts >= hi))).to_numpy()
    acc.reject("implausible_timestamp", ts_col, implausible, ts_raw)
    if duplicates:
        acc.reject("duplicate_row", "*", duplicated_rows(raw), ["(whole row)"] * len(raw))


def duplicated_rows(raw: pd.DataFrame) -> np.ndarray:
    """Rows identical to an earlier row in every column."""
    try:
        return raw.duplicated(keep="first").to_numpy()
    except TypeError:  # unhashable cells (lists from JSON)
        return raw.astype("str").duplicated(keep="first").to_numpy()
