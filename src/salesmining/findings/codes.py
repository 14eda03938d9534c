"""Text tests on codes: how rules compare the gap table's and the visits' text columns.

Those columns are categoricals (:mod:`salesmining.analysis.visits`): a test against a few names
looks the names up among the categories once and then compares integer codes, never strings
row by row. Any other column (text, objects) is compared as pandas compares it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["same_text", "text_in"]


def _is_categorical(values: Any) -> bool:
    return isinstance(getattr(values, "dtype", None), pd.CategoricalDtype)


def _categorical(values: Any) -> Any:
    """The categorical array of a categorical column (or the array itself)."""
    return values.array if isinstance(values, pd.Series) else values


def text_in(values: Any, names: Iterable[Any]) -> np.ndarray:
    """Per row: is the value one of ``names``? As ``Series.isin`` (a missing value is in
    ``names`` only when ``names`` holds a missing value), a numpy bool array."""
    wanted = list(names)
    missing = pd.isna(pd.Series(wanted, dtype=object)).to_numpy(dtype=bool)
    missing_in = bool(missing.any())
    wanted = [w for w, m in zip(wanted, missing, strict=True) if not m]
    if not _is_categorical(values):
        series = pd.Series(values)
        out = np.array(series.isin(wanted).to_numpy(), dtype=bool)
        absent = series.isna().to_numpy(dtype=bool)
        out[absent] = missing_in
        return out
    cat = _categorical(values)
    hit = np.asarray(pd.Index(cat.categories).isin(wanted), dtype=bool)
    codes = np.asarray(cat.codes, dtype="int64")
    return np.append(hit, missing_in)[np.where(codes >= 0, codes, len(hit))]


def same_text(a: Any, b: Any) -> np.ndarray:
    """Per row: are ``a`` and ``b`` the same text? As ``a == b`` on text (missing on either side:
    ``False``), a numpy bool array. Two categoricals are compared on codes, their category sets
    matched once (they need not be the same)."""
    if _is_categorical(a) and _is_categorical(b):
        ca, cb = _categorical(a), _categorical(b)
        codes_a = np.asarray(ca.codes, dtype="int64")
        codes_b = np.asarray(cb.codes, dtype="int64")
        if not ca.categories.equals(cb.categories):  # b's codes into a's categories (-2: none there)
            at = np.asarray(pd.Index(ca.categories).get_indexer(cb.categories), dtype="int64")
            at[at < 0] = -2
            codes_b = np.where(codes_b >= 0, at[np.maximum(codes_b, 0)] if len(at) else -2, -1)
        return (codes_a >= 0) & (codes_a == codes_b)
    left = np.asarray(a, dtype=object)
    right = np.asarray(b, dtype=object)
    known = ~(pd.isna(left) | pd.isna(right))
    out = np.zeros(len(left), dtype=bool)
    out[known] = left[known] == right[known]
    return out
