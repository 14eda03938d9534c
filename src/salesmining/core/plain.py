"""Plain data for ``to_dict()``: every result hands out values ``json.dumps`` accepts.

Numbers become ``int``/``float`` (NaN and infinities ``None``), timestamps ISO 8601 text,
durations seconds, tuples and sets lists, anything else its text.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["plain", "records"]


def plain(value: Any) -> Any:
    """A JSON-safe version of one value.

    >>> import pandas as pd, numpy as np
    >>> plain({"a": np.int64(3), "b": float("nan"), "c": ("x", pd.Timedelta(minutes=1)), "d": pd.NA})
    {'a': 3, 'b': None, 'c': ['x', 60.0], 'd': None}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return [plain(v) for v in items]
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timedelta, _dt.timedelta)):
        return plain(value.total_seconds())
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date)):
        return value.isoformat()
    return str(value)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a table as JSON-safe dicts (column → value)."""
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
