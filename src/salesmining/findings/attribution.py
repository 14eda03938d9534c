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

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from salesmining.analysis import visits as _visits
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.engine.aggregations import TS
from salesmining.findings.codes import text_in

__all__ = ["ATTRIBUTION_COLUMNS", "CLAIM_COLUMNS", "PRIORITY", "attribute", "claims", "public", "tail_claims"]

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


def _case_ids(case: Any) -> np.ndarray:
    """Case ids as strings: as they are when they are strings already (the gap table's), else ``str`` of each."""
    values = np.asarray(case, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    return values.astype(str)


def claims(kind: str, rule: Any, where: Any, case: Any, gap: Any, claim_s: Any) -> pd.DataFrame:
    """Claims of one rule family: ``gap`` is the row label in the gaps table, ``claim_s`` ≤ the gap."""
    n = len(np.asarray(gap))
    return pd.DataFrame(
        {
            "kind": [kind] * n,
            "rule": _col(rule, n),
            "where": _col(where, n),
            "case_id": _case_ids(case) if n else np.asarray([], dtype=object),
            "gap": np.asarray(gap, dtype="int64"),
            "claim_s": np.asarray(claim_s, dtype="float64"),
        }
    )


def tail_claims(
    gaps: pd.DataFrame,
    hits: pd.DataFrame,
    kind: str,
    *,
    case_no: np.ndarray | None = None,
    case_index: pd.Index | None = None,
) -> pd.DataFrame:
    """Claims for long stays: ``hits`` has ``case``, ``visit_no``, ``excess_s``, ``rule``, ``where``.

    The excess is the time after the target was passed: the last ``excess_s`` seconds of the
    visit's own (``stage``) gaps, claimed from the gap where the target was crossed onwards.
    ``case_no`` (per gap row) and ``case_index`` (case ids by number), when the caller has them,
    save computing them again (:func:`~salesmining.analysis.visits.case_numbers`).
    """
    if not len(hits):
        return claims(kind, [], [], [], [], [])
    if case_no is None or case_index is None:
        case_no = _visits.case_numbers(gaps)
        first = gaps["prev_ts"].isna().to_numpy()
        case_index = pd.Index(gaps[CASE].array[first].astype("object"), dtype=object)
    gv = gaps["gap_visit"].to_numpy(dtype="float64")
    mine = np.flatnonzero(text_in(gaps["gap_kind"], ["stage"]) & ~np.isnan(gv))
    span = int(max(np.nanmax(gv) if len(mine) else 0.0, float(hits["visit_no"].max()))) + 1
    # a visit's key: its case's number and visit number in one integer
    gkey = case_no[mine].astype("int64") * span + gv[mine].astype("int64")
    hit_case = case_index.get_indexer(pd.Index(np.asarray(hits["case"], dtype=object), dtype=object))
    hkey = np.where(hit_case >= 0, hit_case.astype("int64") * span + hits["visit_no"].to_numpy().astype("int64"), -1)
    order = np.argsort(hkey, kind="stable")
    at = np.minimum(np.searchsorted(hkey[order], gkey), len(hkey) - 1)
    found = hkey[order][at] == gkey
    rows, which = mine[found], order[at[found]]  # the gaps of the visits hit, in the table's order
    gap_s = gaps["gap_s"].to_numpy(dtype="float64")[rows]
    group = np.cumsum(np.r_[True, which[1:] != which[:-1]]) - 1 if len(rows) else which
    total = _visits.group_sum(group, gap_s, int(group.max()) + 1 if len(group) else 0)[group]
    cum = _visits.group_cumsum(group, gap_s)
    excess = np.maximum(hits["excess_s"].to_numpy(dtype="float64")[which], 0.0)
    amount = np.minimum(np.maximum(cum - (total - excess), 0.0), gap_s)
    return claims(
        kind,
        np.asarray(hits["rule"], dtype=object)[which],
        np.asarray(hits["where"], dtype=object)[which],
        gaps[CASE].array.take(rows),
        rows,
        amount,
    )


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
    names: dict[str, np.ndarray]


_KEY = ("kind", "rule", "where", "case_id")


def _winners(claimed: list[pd.DataFrame], gaps: pd.DataFrame) -> _Won:
    """Per claimed gap the claim that wins it: the lowest :data:`PRIORITY`, then by kind, rule and
    where; claims of no time (after capping at the gap) are dropped first."""
    parts = [c for c in claimed if len(c)]
    allc = pd.concat(parts, ignore_index=True) if parts else claims("loop", [], [], [], [], [])
    gap = allc["gap"].to_numpy(dtype="int64")
    claim_s = allc["claim_s"].to_numpy(dtype="float64")
    valid = gap >= 0
    gap_s = np.nan_to_num(gaps["gap_s"].to_numpy(dtype="float64"))
    amount = np.where(np.isnan(claim_s), 0.0, np.maximum(claim_s, 0.0))
    amount[valid] = np.minimum(amount[valid], gap_s[gap[valid]])
    keep = np.flatnonzero(valid & (amount > 0))
    codes, names = {}, {}
    for c in _KEY:  # sorted codes: ordering them orders the text
        raw, names[c] = _visits.column_codes(allc[c], sort=True)
        codes[c] = raw[keep]
    prio = np.asarray([PRIORITY.get(r, 99) for r in names["rule"]], dtype="int64")  # one per rule name
    order = np.lexsort((codes["where"], codes["rule"], codes["kind"], prio[codes["rule"]], gap[keep]))
    g = gap[keep][order]
    first = order[np.r_[True, g[1:] != g[:-1]]] if len(g) else order  # the winner of each gap
    return _Won(
        gap=gap[keep][first], claim_s=amount[keep][first], codes={c: v[first] for c, v in codes.items()}, names=names
    )


def _charge(evidence: pd.DataFrame, won: _Won) -> pd.DataFrame:
    """The evidence with each charged row's ``time_lost_s`` set from the claims won: per
    ``(kind, rule, where, case_id)`` the sum of its claims, split over the key's evidence rows in
    proportion to their own time lost (evenly when that is 0)."""
    ev = evidence.copy()
    charged = np.flatnonzero(~ev["rule"].isin(list(UNCHARGED)).to_numpy(dtype=bool))
    if not len(charged):
        return ev
    n_won = len(won.gap)
    key = np.zeros(n_won + len(charged), dtype="int64")  # won claims, then the charged evidence rows
    # codes in one sorted vocabulary per column, so the keys order as the text does (and pandas adds
    # each key's amounts exactly as a groupby over the text columns would)
    for c in _KEY:
        ev_codes, ev_names = _visits.column_codes(ev[c].iloc[charged])
        (won_rank, ev_rank), n_names = _ranks(won.names[c], ev_names)
        ours, theirs = _recode(won_rank, won.codes[c]), _recode(ev_rank, ev_codes)
        key = key * (n_names + 1) + np.concatenate([ours, theirs]) + 1
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


def _ranks(*names: np.ndarray) -> tuple[list[np.ndarray], int]:
    """Per array of (text) names: each name's rank in the sorted union of all of them, and the
    union's size; sorted in Arrow (UTF-8 byte order is Python's order of ``str``)."""
    text = [pa.array(n, type=pa.large_string()) for n in names]
    union = pc.unique(pa.chunked_array(text, type=pa.large_string()))
    vocab = union.take(pc.sort_indices(union))
    ranks = [np.asarray(pc.index_in(t, value_set=vocab).to_numpy(zero_copy_only=False), dtype="int64") for t in text]
    return ranks, len(vocab)


def _recode(new: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``codes`` (``-1``: missing) mapped through ``new`` (the new code of each old one)."""
    if not len(new):
        return np.full(len(codes), -1, dtype="int64")
    return np.where(codes >= 0, new[np.maximum(codes, 0)], -1).astype("int64")


def _labels(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense labels ``0..n-1`` for an integer key, and ``n``."""
    uniques, labels = np.unique(key, return_inverse=True)
    return labels.reshape(-1), len(uniques)


def _coded(codes: np.ndarray, names: np.ndarray) -> pd.Categorical[Any]:
    """A categorical from codes (``-1``: missing) and the names they stand for."""
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(pd.Index(names, dtype=object)))


def _table(gaps: pd.DataFrame, won: _Won) -> pd.DataFrame:
    """One row per gap between two events of a case (the gap table's rows with a previous event),
    with the winning claim of the gap (none: missing ``kind``, ``rule``, ``where`` and 0 charged)."""
    has_prev = gaps["prev_ts"].notna().to_numpy()
    rows = np.flatnonzero(has_prev)
    gap_s = gaps["gap_s"].to_numpy(dtype="float64")

    def text(col: str) -> Any:
        if not len(rows):  # no gap at all: empty columns of Python objects, as ever
            return np.asarray([], dtype=object)
        codes, names = _visits.column_codes(gaps[col])
        return _coded(codes[has_prev], names)

    table = pd.DataFrame(
        {
            "case_id": text(CASE),
            "prev_activity": text("prev_act"),
            "activity": text(ACTIVITY),
            "gap_start": pd.to_datetime(gaps["prev_ts"].to_numpy()[has_prev].astype("int64"), unit="us", utc=True),
            "gap_end": pd.to_datetime(gaps[TS].to_numpy()[has_prev].astype("int64"), unit="us", utc=True),
            "gap_s": gap_s[has_prev],
            "cause": text("gap_kind"),
        },
        copy=False,  # new columns: not copied into one block
    )
    # each gap's winning claim, by position (the claims' gaps are rows of the table)
    at = np.minimum(np.searchsorted(rows, won.gap), max(len(rows) - 1, 0))
    hit = (rows[at] == won.gap) if len(rows) else np.zeros(len(won.gap), dtype=bool)
    claim = np.full(len(rows), -1, dtype="int64")
    claim[at[hit]] = np.flatnonzero(hit)
    for c in ("kind", "rule", "where"):
        if len(won.gap):
            codes = won.codes[c]
            table[c] = _coded(np.where(claim >= 0, codes[np.maximum(claim, 0)], -1), won.names[c])
        else:  # nothing charged: a column of None (object), as ever
            table[c] = np.full(len(table), None, dtype=object)
    has = len(won.gap) > 0
    table["charged_s"] = np.where(claim >= 0, won.claim_s[np.maximum(claim, 0)], 0.0) if has else np.zeros(len(rows))
    return table


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
