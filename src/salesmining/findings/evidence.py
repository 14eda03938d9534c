"""The evidence table every rule family writes: one row per (finding, case), with its place.

A finding's place is structured: ``activity`` when it sits at one stage, approval step or
activity; ``from_activity`` and ``to_activity`` when it sits on a step between two (a backward
move, a first response, a handoff, an approval chain); ``stalled`` for open cases stalled in
``activity``. ``where`` is only the display text made from them (``"Offer → Lead"``,
``"Proposal (open, stalled)"``); nothing reads a place back out of it.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ARROW",
    "EVIDENCE_COLUMNS",
    "LOCATION_COLUMNS",
    "Place",
    "at",
    "between",
    "evidence",
    "evidence_by_rule",
    "tidy",
]

#: Joins the two ends of a step in ``where``.
ARROW = " → "
#: Marks a stalled open case's stage in ``where``.
STALLED = " (open, stalled)"
#: The structured place of a finding.
LOCATION_COLUMNS = ["activity", "from_activity", "to_activity", "stalled"]
EVIDENCE_COLUMNS = ["kind", "rule", "where", "case_id", "time_lost_s", "detail", *LOCATION_COLUMNS]


class Place(NamedTuple):
    """Where findings sit: scalars, or one value per evidence row."""

    where: Any
    activity: Any = None
    from_activity: Any = None
    to_activity: Any = None
    stalled: bool = False


def _text(values: Any) -> Any:
    return values if isinstance(values, str) else pd.Series(values).astype("object").reset_index(drop=True)


def _arrow_of(values: Any) -> pa.Array | None:
    """Arrow text of a ``str`` or categorical (of text) column, else ``None``."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return _category_text(values)
    return arrow_text(values) if isinstance(values, pd.Series) else None


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _text_series(text: pa.Array) -> pd.Series:
    return pd.Series(pd.array(text, dtype="str"))


def at(activity: Any, *, stalled: bool = False) -> Place:
    """A place at one stage, approval step or activity (a scalar or one per row)."""
    text = None if isinstance(activity, str) else _arrow_of(activity)
    if text is not None and len(text) and text.null_count < len(text):  # text already: joined in Arrow
        if stalled:
            text = pc.binary_join_element_wise(text, _large(STALLED), _large(""))
        return Place(_text_series(text), activity=activity, stalled=stalled)
    where = _text(activity)
    if stalled:
        where = where + STALLED
    return Place(where, activity=activity, stalled=stalled)


def between(source: Any, target: Any, *, source_text: str = "?", target_text: str = "?") -> Place:
    """A place on the step ``source → target``; a missing end shows as ``source_text``/``target_text``."""
    src = source_text if source is None else source
    dst = target_text if target is None else target
    ends = [e if isinstance(e, str) else _arrow_of(e) for e in (src, dst)]
    if all(e is not None for e in ends) and not all(isinstance(e, str) for e in ends):  # in Arrow
        a, b = (
            _large(e) if isinstance(e, str) else e.fill_null(_large(t))
            for e, t in zip(ends, (source_text, target_text), strict=True)
            if e is not None
        )
        joined = pc.binary_join_element_wise(a, _large(ARROW), b, _large(""))
        return Place(_text_series(joined), from_activity=source, to_activity=target)
    if not isinstance(src, str):
        src = _text(src).fillna(source_text)
    if not isinstance(dst, str):
        dst = _text(dst).fillna(target_text)
    return Place(src + ARROW + dst, from_activity=source, to_activity=target)


def _column(value: Any, n: int) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return [value] * n
    return np.asarray(value, dtype=object)


#: The last categories turned into Arrow text (a categorical's categories, e.g. a log's case ids,
#: are shared by every column taken from it): ``(weak reference to them, their Arrow text)``.
_CATEGORIES: list[tuple[Any, pa.Array]] = []


def arrow_text(values: Any) -> pa.Array | None:
    """The Arrow text (one chunk) behind a ``str`` column or array, else ``None``."""
    dtype = getattr(values, "dtype", None)
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    arr = pa.array(getattr(values, "array", values))
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr if pa.types.is_large_string(arr.type) else arr.cast(pa.large_string())


def _category_text(values: pd.Series) -> pa.Array | None:
    """A categorical column of text as Arrow text (missing as null), its categories converted once
    per set of categories; ``None`` when a category is not text."""
    cat = values.array
    assert isinstance(cat, pd.Categorical)
    cats = cat.categories
    names = arrow_text(cats)
    if names is None:
        names = next((text for ref, text in _CATEGORIES if ref() is cats), None)
    if names is None:
        objects = np.asarray(cats, dtype=object)
        if pd.api.types.infer_dtype(objects, skipna=False) != "string":
            return None
        names = pa.array(objects, type=pa.large_string())
        _CATEGORIES[:] = [(weakref.ref(cats), names)]
    codes = np.asarray(cat.codes, dtype="int64")
    return names.take(pa.array(codes, mask=codes < 0))


def _text_column(value: Any, n: int) -> Any:
    """The column a frame makes of ``_column(value, n)``: Arrow ``str`` when every value is text
    or missing and one is not (pandas infers it so), else the Python objects as they are. Built
    from Arrow where the values are Arrow text, a categorical or one string already, not from a
    Python object per row."""
    text: pa.Array | None = None
    if isinstance(value, str):
        text = pa.repeat(pa.scalar(value, pa.large_string()), n)
    elif isinstance(value, pd.Series) and isinstance(value.dtype, pd.CategoricalDtype):
        text = _category_text(value)
    elif value is not None:
        text = arrow_text(value)
    if text is None:
        objects = _column(value, n)
        if value is None or pd.api.types.infer_dtype(objects, skipna=True) != "string":
            return objects
        text = pa.array(objects, type=pa.large_string(), from_pandas=True)
    if not len(text) or text.null_count == len(text):  # nothing but missing values: objects, as pandas keeps them
        return _column(value, n)
    return pd.array(text, dtype="str")


def _objects(value: Any, n: int) -> Any:
    """A place column as Python objects (missing: NaN), not inferred as text (``tidy`` hands the
    place columns out as objects); an empty one as pandas makes it. A categorical or Arrow text
    column is read through its few distinct values, not one conversion per row."""
    if not n:
        return _column(value, n)
    objects = None
    if isinstance(value, pd.Series) and isinstance(value.dtype, pd.CategoricalDtype):
        cats = value.cat.categories
        if cats.dtype == object or isinstance(cats.dtype, pd.StringDtype):
            names = np.append(np.asarray(cats, dtype=object), np.array([np.nan], dtype=object))
            objects = names[np.asarray(value.cat.codes, dtype="int64")]  # code -1 (missing): the NaN
    elif isinstance(value, pd.Series) and (text := arrow_text(value)) is not None:
        enc = pc.dictionary_encode(text)
        names = np.array([*enc.dictionary.to_pylist(), np.nan], dtype=object)
        objects = names[np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype="int64")]
    if objects is None:
        objects = np.asarray(_column(value, n), dtype=object)
    return pd.Series(objects, dtype=object, copy=False)


def evidence(kind: str, rule: str, place: Place, case: Any, lost_s: Any, detail: Any = "") -> pd.DataFrame:
    """Evidence rows of one rule: one per case (``case``, ``lost_s`` and ``detail`` per row).

    Text columns are Arrow text (``str``) as pandas would infer them, built from Arrow where the
    values are Arrow text or categoricals already; the place columns are Python objects."""
    n = len(case)
    cases = case if isinstance(case, (pd.Series, pd.Index)) else np.asarray(case, dtype=object)
    return pd.DataFrame(
        {
            "kind": _text_column(kind, n),
            "rule": _text_column(rule, n),
            "where": _text_column(place.where, n),
            "case_id": _text_column(cases, n),
            "time_lost_s": np.asarray(lost_s, dtype="float64"),
            "detail": _text_column(detail, n),
            "activity": _objects(place.activity, n),
            "from_activity": _objects(place.from_activity, n),
            "to_activity": _objects(place.to_activity, n),
            "stalled": np.asarray(_column(place.stalled, n), dtype=bool),
        }
    )


def evidence_by_rule(kind: str, rules: Any, place: Place, case: Any, lost: Any, detail: Any) -> pd.DataFrame:
    """Evidence whose rule differs per row (e.g. over the SLA vs. above the fence), one block per rule."""
    rules_a = np.asarray(rules, dtype=object)
    n = len(rules_a)
    cols = {name: np.asarray(_column(value, n), dtype=object) for name, value in place._asdict().items()}
    case_a, lost_a, det_a = (
        np.asarray(case, dtype=object),
        np.asarray(lost, dtype="float64"),
        np.asarray(detail, dtype=object),
    )
    frames = []
    for r in sorted(set(rules_a.tolist())):
        m = rules_a == r
        frames.append(
            evidence(kind, str(r), Place(**{k: v[m] for k, v in cols.items()}), case_a[m], lost_a[m], det_a[m])
        )
    return pd.concat(frames, ignore_index=True) if frames else evidence(kind, "", at([]), [], [])


def tidy(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """All rules' evidence in one table, sorted by ``(kind, rule, where, case_id)``; missing places are ``None``."""
    parts = [p for p in parts if len(p)]
    ev = pd.concat(parts, ignore_index=True) if parts else evidence("loop", "", at([]), [], [])
    ev["where"] = ev["where"].astype("str")
    ev["case_id"] = ev["case_id"].astype("str")
    for c in ("activity", "from_activity", "to_activity"):
        col = ev[c].astype("object")
        ev[c] = col.where(col.notna(), None)
    ev["stalled"] = ev["stalled"].astype(bool)
    order = sort_order([ev[c] for c in ("kind", "rule", "where", "case_id")])
    if order is None:
        return ev.sort_values(["kind", "rule", "where", "case_id"], kind="stable").reset_index(drop=True)
    return ev.take(order).reset_index(drop=True)


def sorted_codes(text: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Arrow text as integer codes numbering its distinct values in sorted order (missing: the
    number after the last, so missing values sort last), and the sorted distinct values."""
    enc = pc.dictionary_encode(text)
    names = enc.dictionary
    order = np.asarray(pc.sort_indices(names).to_numpy(), dtype="int64")
    rank = np.empty(len(order) + 1, dtype="int64")
    rank[order] = np.arange(len(order))
    rank[-1] = len(order)
    idx = np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype="int64")
    return rank[idx], names.take(pa.array(order))


def sort_order(columns: list[pd.Series]) -> np.ndarray | None:
    """The stable order of rows sorting by ``columns`` (Arrow text each) as ``sort_values`` does
    (missing values last), on integer codes; ``None`` when a column is not Arrow text."""
    texts = [t for t in (arrow_text(c) for c in columns) if t is not None]
    if not texts or len(texts) < len(columns):
        return None
    coded = [sorted_codes(t) for t in texts]
    if math.prod(len(names) + 1 for _, names in coded) >= 2**62:  # too many combinations for one key
        return np.lexsort([codes for codes, _ in coded][::-1])
    key = np.zeros(len(texts[0]), dtype="int64")
    for codes, names in coded:
        key = key * (len(names) + 1) + codes
    return np.argsort(key, kind="stable")
