"""Time counted once, by construction: the attribution table behind every finding's time lost.

Every rule family that charges time *claims* gaps — the time between two consecutive events of a
case (:func:`salesmining.analysis.visits.event_gaps`) — for one of its findings and one case,
with an amount no larger than the gap. Each gap goes to at most one claim: the one whose rule
comes first in :data:`PRIORITY` (the most specific cause first: a redundant approval before an
approval wait, a handoff before rework, rework before a long stage wait). A finding's time lost
is the sum of the claims it won, so per case the time charged never exceeds the case's duration
and in total never exceeds all case time.

``stalled_open`` is not charged here: an open case's "time so far" runs to *now*, not between two
events; it is reported apart. ``skip`` and ``stage_repeat`` charge no time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from salesmining.analysis import visits as _visits
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.engine.aggregations import TS
from salesmining.findings.codes import text_in

__all__ = [
    "ATTRIBUTION_COLUMNS",
    "CLAIM_COLUMNS",
    "PRIORITY",
    "attribute",
    "claims",
    "public",
    "tail_claims",
    "visit_keys",
]

#: Which rule a gap goes to when several claim it (lower first).
PRIORITY: dict[str, int] = {
    "repeated_no_change": 0,
    "repeated_after_approval": 1,
    "redone_after_loop": 1,
    "approval_over_sla": 2,
    "approval_outlier": 2,
    "handoff_wait": 3,
    "activity_repeat": 4,
    "reopened": 5,
    "backward_move": 5,
    "response_over_sla": 6,
    "response_outlier": 6,
    "stage_over_sla": 6,
    "stage_outlier": 6,
    "sequential_chain": 7,
    "rubber_stamp": 8,
}
#: Rules whose evidence time is not a charge on gaps.
UNCHARGED = frozenset({"skip", "stage_repeat", "stalled_open"})
CLAIM_COLUMNS = ["kind", "rule", "where", "case_id", "gap", "claim_s"]
#: The columns of ``Findings.attribution``.
ATTRIBUTION_COLUMNS = [
    "case_id",
    "prev_activity",
    "activity",
    "gap_start",
    "gap_end",
    "gap_s",
    "cause",
    "kind",
    "rule",
    "where",
    "charged_s",
]


def _col(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return [value] * n
    values = np.asarray(value, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":  # strings already: as they are
        return values
    return pd.Series(values).astype(str).to_numpy(dtype=object)


def _case_ids(case: Any, n: int = 0) -> np.ndarray:
    """Case ids as strings: as they are when they are strings already (the gap table's), else ``str`` of each."""
    values = np.asarray(case, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    return values.astype(str)


def claims(kind: str, rule: Any, where: Any, case: Any, gap: Any, claim_s: Any) -> pd.DataFrame:
    """Claims of one rule family: ``gap`` is the row label in the gaps table, ``claim_s`` ≤ the gap.

    The text columns (``kind``, ``rule``, ``where``, ``case_id``) are categoricals: a categorical
    given (the gap table's case ids) is kept with its categories, so no id is materialised as
    text; anything else is made text (``str`` of each value) and numbered once."""
    n = len(np.asarray(gap))
    return pd.DataFrame(
        {
            "kind": _claim_text(kind, n),
            "rule": _claim_text(rule, n, keep=True),
            "where": _claim_text(where, n, keep=True),
            "case_id": _claim_text(case, n, _case_ids, keep=True),
            "gap": np.asarray(gap, dtype="int64"),
            "claim_s": np.asarray(claim_s, dtype="float64"),
        },
        copy=False,
    )


def _claim_text(value: Any, n: int, as_text: Any = None, *, keep: bool = False) -> pd.Categorical[Any]:
    """One text column of a claim frame as a categorical: a scalar; with ``keep``, a categorical of
    text without missing values as it is (:func:`_winners` reads only the categories used); else
    the values as text (``as_text``, default :func:`_col`) numbered in order of appearance."""
    if isinstance(value, str):
        return pd.Categorical.from_codes(
            np.zeros(n, dtype="int8"), dtype=pd.CategoricalDtype(pd.Index([value], dtype=object)), validate=False
        )
    cat = value.array if isinstance(value, pd.Series) else value
    if keep and isinstance(cat, pd.Categorical) and _complete_text(cat, n):
        return cat
    text = (as_text or _col)(value, n) if n else np.asarray([], dtype=object)
    codes, uniques = pd.factorize(np.asarray(text, dtype=object))
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(uniques, dtype=object)), validate=False)


def _complete_text(cat: pd.Categorical[Any], n: int) -> bool:
    """Is ``cat`` ``n`` values of text categories, none missing?"""
    return len(cat) == n and _text_categories(cat.categories) and (not n or int(np.min(cat.codes)) >= 0)


def _text_categories(categories: pd.Index) -> bool:
    """Are the categories text (so the values are the text ``str`` of each would give)?"""
    if isinstance(categories.dtype, pd.StringDtype):
        return True
    return categories.dtype == object and pd.api.types.infer_dtype(categories, skipna=False) == "string"


def tail_claims(
    gaps: pd.DataFrame,
    hits: pd.DataFrame | Mapping[str, Any],
    kind: str,
    *,
    case_no: np.ndarray | None = None,
    case_index: pd.Index | None = None,
    by_number: bool = False,
    keys: tuple[int, np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Claims for long stays: ``hits`` has ``case``, ``visit_no``, ``excess_s``, ``rule``, ``where``.

    The excess is the time after the target was passed: the last ``excess_s`` seconds of the
    visit's own (``stage``) gaps, claimed from the gap where the target was crossed onwards.
    ``case_no`` (per gap row) and ``case_index`` (case ids by number), when the caller has them,
    save computing them again (:func:`~salesmining.analysis.visits.case_numbers`); with
    ``by_number``, ``hits["case"]`` holds case numbers instead of case ids. ``keys``: the gap
    table's :func:`visit_keys`, when the caller reads them for more than one call.
    """
    if not len(np.asarray(hits["excess_s"])):
        return claims(kind, [], [], [], [], [])
    if case_no is None or case_index is None:
        case_no = _visits.case_numbers(gaps)
        first = gaps["prev_ts"].isna().to_numpy()
        case_index = pd.Index(gaps[CASE].array[first].astype("object"), dtype=object)
    hit_visit = np.asarray(hits["visit_no"], dtype="float64")
    if keys is None or keys[0] <= np.max(hit_visit):
        keys = visit_keys(gaps, case_no, float(np.max(hit_visit)))
    span, has, gkey = keys
    # a visit's key: its case's number and visit number in one integer
    if by_number:
        hit_case = np.asarray(hits["case"], dtype="int64")
    else:
        hit_case = case_index.get_indexer(pd.Index(np.asarray(hits["case"], dtype=object), dtype=object))
    hkey = np.where(hit_case >= 0, hit_case.astype("int64") * span + hit_visit.astype("int64"), -1)
    rows, which = _visit_gap_rows(gkey, hkey)
    rows = has[rows]
    stage = text_in(gaps["gap_kind"].iloc[rows], ["stage"])  # the visit's own gaps, in the table's order
    rows, which = rows[stage], which[stage]
    gap_s = gaps["gap_s"].to_numpy(dtype="float64")[rows]
    group = np.cumsum(np.r_[True, which[1:] != which[:-1]]) - 1 if len(rows) else which
    total = _visits.group_sum(group, gap_s, int(group.max()) + 1 if len(group) else 0)[group]
    cum = _visits.group_cumsum(group, gap_s)
    excess = np.maximum(np.asarray(hits["excess_s"], dtype="float64")[which], 0.0)
    amount = np.minimum(np.maximum(cum - (total - excess), 0.0), gap_s)
    where = hits["where"]
    where = where.take(which) if isinstance(where, pd.Categorical) else np.asarray(where, dtype=object)[which]
    return claims(kind, np.asarray(hits["rule"], dtype=object)[which], where, gaps[CASE].array.take(rows), rows, amount)


def visit_keys(gaps: pd.DataFrame, case_no: np.ndarray, most: float = 0.0) -> tuple[int, np.ndarray, np.ndarray]:
    """The visit key of every gap row that belongs to a visit: ``(span, rows, key)`` with
    ``key = case number * span + gap_visit``; ``span`` exceeds every visit number, and ``most``."""
    gv = gaps["gap_visit"].to_numpy(dtype="float64")
    has = np.flatnonzero(~np.isnan(gv))
    span = int(max(float(np.nanmax(gv)) if len(has) else 0.0, most)) + 1
    key = case_no[has].astype("int64", copy=False) * span
    key += gv[has].astype("int64")
    return span, has, key


def _visit_gap_rows(gkey: np.ndarray, hkey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``gkey`` whose key is one of ``hkey`` (a key hit twice: its first hit), in row
    order, with the index of the hit each row matches.

    ``gkey`` sorted (a gap table's visit keys are): each hit's rows are one run, found by two
    binary searches per hit; otherwise one search per row."""
    n = len(hkey)
    order = np.argsort(hkey, kind="stable")
    sorted_h = hkey[order]
    if len(gkey) < 2 or bool(np.all(gkey[1:] >= gkey[:-1])):
        lead = np.r_[True, sorted_h[1:] != sorted_h[:-1]] if n else np.zeros(0, dtype=bool)
        keys, hit = sorted_h[lead], order[lead]  # distinct keys ascending, each with its first hit
        lo = np.searchsorted(gkey, keys, side="left")
        length = np.searchsorted(gkey, keys, side="right") - lo
        which = np.repeat(hit, length)
        start = np.repeat(lo - (np.cumsum(length) - length), length)
        return start + np.arange(len(which)), which
    at = np.minimum(np.searchsorted(sorted_h, gkey), n - 1)
    found = sorted_h[at] == gkey
    return np.flatnonzero(found), order[at[found]]


def attribute(
    evidence: pd.DataFrame, claimed: list[pd.DataFrame], gaps: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Resolve the claims (one per gap, by :data:`PRIORITY`), set each evidence row's
    ``time_lost_s`` from them and return ``(evidence, attribution table)``.

    The table's text columns are categoricals built from codes (no string is materialised);
    :func:`public` decodes them to the text columns :attr:`Findings.attribution` hands out."""
    won = _winners(claimed, gaps)
    return _charge(evidence, won), _table(gaps, won)


class _Won(NamedTuple):
    """The winning claim of each claimed gap, sorted by gap: its gap row, amount and key columns
    (``kind``, ``rule``, ``where``, ``case_id``) as codes with the names they stand for."""

    gap: np.ndarray
    claim_s: np.ndarray
    codes: dict[str, np.ndarray]
    names: dict[str, pd.Index]


_KEY = ("kind", "rule", "where", "case_id")


def _winners(claimed: list[pd.DataFrame], gaps: pd.DataFrame) -> _Won:
    """Per claimed gap the claim that wins it: the lowest :data:`PRIORITY`, then by kind, rule and
    where; claims of no time (after capping at the gap) are dropped first."""
    parts = [c for c in claimed if len(c)] or [claims("loop", [], [], [], [], [])]
    gap = np.concatenate([p["gap"].to_numpy(dtype="int64") for p in parts])
    claim_s = np.concatenate([p["claim_s"].to_numpy(dtype="float64") for p in parts])
    valid = gap >= 0
    gap_s = np.nan_to_num(gaps["gap_s"].to_numpy(dtype="float64"))
    amount = np.where(np.isnan(claim_s), 0.0, np.maximum(claim_s, 0.0))
    amount[valid] = np.minimum(amount[valid], gap_s[gap[valid]])
    keep = np.flatnonzero(valid & (amount > 0))
    codes, names = {}, {}
    for c in _KEY:  # sorted codes: ordering them orders the text
        # the case ids: the gap table's categories as they are (only the claim keys read them)
        raw, names[c] = _sorted_codes([p[c] for p in parts], used_only=c != "case_id")
        codes[c] = raw[keep]
    prio = np.asarray([PRIORITY.get(r, 99) for r in names["rule"]], dtype="int64")  # one per rule name
    order = np.lexsort((codes["where"], codes["rule"], codes["kind"], prio[codes["rule"]], gap[keep]))
    g = gap[keep][order]
    first = order[np.r_[True, g[1:] != g[:-1]]] if len(g) else order  # the winner of each gap
    return _Won(
        gap=gap[keep][first], claim_s=amount[keep][first], codes={c: v[first] for c, v in codes.items()}, names=names
    )


def _sorted_codes(columns: list[pd.Series], *, used_only: bool = False) -> tuple[np.ndarray, pd.Index]:
    """The text columns ``columns`` one after the other as codes into their sorted distinct names
    (what ``column_codes(concat, sort=True)`` gives), without concatenating or re-reading the text.

    Categoricals sharing one category set (the gap table's case ids) are read as codes alone and
    the other columns' few names looked up in it; the names are then that set (names no claim
    uses included: they only number the keys). Otherwise the union of all names, sorted.
    ``used_only``: a categorical's categories no row uses are left out first (the names are then
    exactly the values the columns hold, as the concatenated column's would be)."""
    parts = [_codes_and_names(c, used_only=used_only) for c in columns]
    shared = max((names for _, names in parts), key=len)
    if shared.is_unique and shared.is_monotonic_increasing:
        codes = []
        for raw, names in parts:
            if names is not shared:
                at = np.asarray(shared.get_indexer(names), dtype="int64")
                if (at < 0).any():
                    break
                raw = _recode(at, raw)
            codes.append(raw)
        else:
            return np.concatenate(codes), shared
    ranks, vocab = _ranks(*(np.asarray(names, dtype=object) for _, names in parts), vocab=True)
    return np.concatenate([_recode(r, c) for r, (c, _) in zip(ranks, parts, strict=True)]), vocab


def _codes_and_names(values: pd.Series, *, used_only: bool = False) -> tuple[np.ndarray, pd.Index]:
    """A text column as codes (``-1``: missing) and the Index of names they stand for: a categorical's
    own codes and categories (the same Index object each time; ``used_only``: the categories used,
    renumbered), else factorised."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, cats = np.asarray(values.cat.codes, dtype="int64"), values.cat.categories
        if not used_only:
            return codes, cats
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cats)) > 0)
        new = np.full(len(cats), -1, dtype="int64")
        new[used] = np.arange(len(used))
        return _recode(new, codes), cats.take(used)
    raw, uniques = pd.factorize(values)
    return np.asarray(raw, dtype="int64"), pd.Index(np.asarray(uniques, dtype=object), dtype=object)


def _charge(evidence: pd.DataFrame, won: _Won) -> pd.DataFrame:
    """The evidence with each charged row's ``time_lost_s`` set from the claims won: per
    ``(kind, rule, where, case_id)`` the sum of its claims, split over the key's evidence rows in
    proportion to their own time lost (evenly when that is 0)."""
    ev = evidence.copy(deep=False)  # only ``time_lost_s`` is replaced (a new column)
    charged = np.flatnonzero(~ev["rule"].isin(list(UNCHARGED)).to_numpy(dtype=bool))
    if not len(charged):
        return ev
    n_won = len(won.gap)
    key = np.zeros(n_won + len(charged), dtype="int64")  # won claims, then the charged evidence rows
    # codes in one vocabulary per column: the won claims' names, then the evidence's names not among
    # them. Only equal keys matter: pandas adds each key's amounts in row order, whatever its number
    for c in _KEY:
        ev_codes, ev_names = _arrow_codes(ev[c].iloc[charged])
        ev_at, n_names = _positions(won.names[c], ev_names)
        key = key * (n_names + 1) + np.concatenate([won.codes[c], _recode(ev_at, ev_codes)]) + 1
    labels, n_keys = _labels(key)
    total = _visits.group_sum(labels[:n_won], won.claim_s, n_keys)[labels[n_won:]]
    mine = labels[n_won:]
    orig = ev["time_lost_s"].to_numpy(dtype="float64")[charged]
    orig = np.where(np.isnan(orig), 0.0, np.where(orig < 0, 0.0, orig))  # clip(lower=0), then NaN as 0
    orig_sum = _visits.group_sum(mine, orig, n_keys)[mine]
    n_rows = np.bincount(mine, minlength=n_keys)[mine]
    weight = np.where(orig_sum > 0, orig / np.where(orig_sum > 0, orig_sum, 1.0), 1.0 / n_rows)
    lost = ev["time_lost_s"].to_numpy(dtype="float64", copy=True)
    lost[charged] = total * weight
    ev["time_lost_s"] = lost
    return ev


def _ranks(*names: Any, vocab: bool = False) -> Any:
    """Per array of (text) names: each name's rank in the sorted union of all of them, and the
    union's size (with ``vocab``: the union itself, sorted, as an Index of ``str`` objects);
    sorted in Arrow (UTF-8 byte order is Python's order of ``str``)."""
    text = [_as_arrow(n) for n in names]
    union = pc.unique(pa.chunked_array(text, type=pa.large_string()))
    words = union.take(pc.sort_indices(union))
    ranks = [np.asarray(pc.index_in(t, value_set=words).to_numpy(zero_copy_only=False), dtype="int64") for t in text]
    if vocab:
        return ranks, pd.Index(np.asarray(words.to_numpy(zero_copy_only=False), dtype=object), dtype=object)
    return ranks, len(words)


def _as_arrow(names: Any) -> pa.Array:
    """Text as one Arrow ``large_string`` array: Arrow-backed text as it is, anything else converted."""
    arr = names
    if not isinstance(arr, (pa.Array, pa.ChunkedArray)):
        values = names.array if isinstance(names, (pd.Index, pd.Series)) else names
        dtype = getattr(values, "dtype", None)
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            arr = pa.array(values)
        else:
            arr = pa.array(np.asarray(values, dtype=object), type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.large_string())


def _arrow_codes(values: pd.Series) -> tuple[np.ndarray, Any]:
    """A text column as codes (``-1``: missing) and its distinct names, numbered as they appear:
    Arrow-backed text encoded in Arrow (the names stay Arrow text), anything else as
    :func:`~salesmining.analysis.visits.column_codes` reads it."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return _visits.column_codes(values)
    encoded = pc.dictionary_encode(_as_arrow(values))
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return np.asarray(codes, dtype="int64"), encoded.dictionary


def _positions(names: Any, others: Any) -> tuple[np.ndarray, int]:
    """Each of ``others`` (distinct text) as a code into ``names`` (distinct text), a name not there
    numbered after them; and the number of names then. Looked up in Arrow (hashing, no sorting)."""
    base, extra = _as_arrow(names), _as_arrow(others)
    found = pc.index_in(extra, value_set=base)
    at = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype="int64")
    new = np.flatnonzero(at < 0)
    at[new] = len(base) + np.arange(len(new))
    return at, len(base) + len(new)


def _recode(new: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``codes`` (``-1``: missing) mapped through ``new`` (the new code of each old one)."""
    if not len(new):
        return np.full(len(codes), -1, dtype="int64")
    return np.where(codes >= 0, new[np.maximum(codes, 0)], -1).astype("int64")


def _labels(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense labels ``0..n-1`` for an integer key (numbered as they first appear: hashed, not
    sorted), and ``n``."""
    labels, uniques = pd.factorize(key)
    return np.asarray(labels, dtype="int64"), len(uniques)


def _coded(codes: np.ndarray, names: Any) -> pd.Categorical[Any]:
    """A categorical from codes (``-1``: missing) and the names they stand for."""
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(names, dtype=object)), validate=False)


def _table(gaps: pd.DataFrame, won: _Won) -> pd.DataFrame:
    """One row per gap between two events of a case (the gap table's rows with a previous event),
    with the winning claim of the gap (none: missing ``kind``, ``rule``, ``where`` and 0 charged)."""
    has_prev = gaps["prev_ts"].notna().to_numpy()
    rows = np.flatnonzero(has_prev)
    gap_s = gaps["gap_s"].to_numpy(dtype="float64")

    def text(col: str) -> Any:
        if not len(rows):  # no gap at all: empty columns of Python objects, as ever
            return np.asarray([], dtype=object)
        values = gaps[col]
        if isinstance(values.dtype, pd.CategoricalDtype):  # its own codes, not widened before the rows are taken
            return _coded(values.cat.codes.to_numpy()[has_prev], np.asarray(values.cat.categories, dtype=object))
        codes, names = _visits.column_codes(values)
        return _coded(codes[has_prev], names)

    table = pd.DataFrame(
        {
            "case_id": text(CASE),
            "prev_activity": text("prev_act"),
            "activity": text(ACTIVITY),
            "gap_start": _utc_us(gaps["prev_ts"].to_numpy()[has_prev]),
            "gap_end": _utc_us(gaps[TS].to_numpy()[has_prev]),
            "gap_s": gap_s[has_prev],
            "cause": text("gap_kind"),
        },
        copy=False,  # new columns: not copied into one block
    )
    # each gap's winning claim, by position (the claims' gaps are rows of the table)
    # (a gap row's place in the table: the rows with a previous event before it)
    hit = has_prev[won.gap]
    at = (np.cumsum(has_prev) - 1)[won.gap[hit]]
    claim = np.full(len(rows), -1, dtype="int64")
    claim[at] = np.flatnonzero(hit)
    none, pick = claim < 0, np.maximum(claim, 0)
    for c in ("kind", "rule", "where"):
        if len(won.gap):
            codes = won.codes[c][pick]
            codes[none] = -1
            table[c] = _coded(codes, won.names[c])
        else:  # nothing charged: a column of None (object), as ever
            table[c] = np.full(len(table), None, dtype=object)
    has = len(won.gap) > 0
    table["charged_s"] = np.where(none, 0.0, won.claim_s[pick]) if has else np.zeros(len(rows))
    return table


def _utc_us(values: np.ndarray) -> pd.DatetimeIndex:
    """Microseconds since the epoch as UTC times: ``pd.to_datetime(values, unit="us", utc=True)``
    (``datetime64[us, UTC]``) by viewing the integers, not converting each."""
    return pd.DatetimeIndex(np.ascontiguousarray(values.astype("int64", copy=False)).view("M8[us]")).tz_localize("UTC")


def public(table: pd.DataFrame) -> pd.DataFrame:
    """The attribution table as :attr:`Findings.attribution` hands it out: its categorical
    columns decoded to text (``str``, missing as NaN), every other column as it is."""
    out = table.copy(deep=False)
    for c in out.columns:
        col = out[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            names = pa.array(
                pd.Index(col.cat.categories, dtype=object).astype("str").to_numpy(), type=pa.large_string()
            )
            codes = np.asarray(col.cat.codes, dtype="int64")
            text = names.take(pa.array(codes, mask=codes < 0))
            out[c] = pd.Series(pd.array(text, dtype="str"), index=out.index, name=c)
    return out
