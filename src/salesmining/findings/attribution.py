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

from typing import Any

import numpy as np
import pandas as pd

from salesmining.analysis import visits as _visits
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.engine.aggregations import TS

__all__ = ["ATTRIBUTION_COLUMNS", "CLAIM_COLUMNS", "PRIORITY", "attribute", "claims", "tail_claims"]

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
    mine = np.flatnonzero((gaps["gap_kind"] == "stage").to_numpy(dtype=bool) & ~np.isnan(gv))
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
    ``time_lost_s`` from them and return ``(evidence, attribution table)``."""
    parts = [c for c in claimed if len(c)]
    allc = pd.concat(parts, ignore_index=True) if parts else claims("loop", [], [], [], [], [])
    allc = allc[allc["gap"] >= 0]
    gap_s = gaps["gap_s"].to_numpy(dtype="float64")
    allc = allc.assign(
        claim_s=np.minimum(allc["claim_s"].clip(lower=0).fillna(0).to_numpy(), np.nan_to_num(gap_s[allc["gap"]])),
        _p=allc["rule"].map(PRIORITY).fillna(99).to_numpy(),
    )
    allc = allc[allc["claim_s"] > 0]
    won = allc.sort_values(["gap", "_p", "kind", "rule", "where"], kind="stable").drop_duplicates("gap", keep="first")
    key = ["kind", "rule", "where", "case_id"]
    per_key = won.groupby(key)["claim_s"].sum()
    ev = evidence.copy()
    charged = ~ev["rule"].isin(list(UNCHARGED))
    if charged.any():
        sub = ev.loc[charged, [*key, "time_lost_s"]]
        idx = pd.MultiIndex.from_frame(sub[key])
        total = per_key.reindex(idx).fillna(0.0).to_numpy()
        orig = sub["time_lost_s"].clip(lower=0).fillna(0.0)
        orig_sum = orig.groupby([sub[k] for k in key]).transform("sum").to_numpy()
        n_rows = orig.groupby([sub[k] for k in key]).transform("size").to_numpy()
        weight = np.where(orig_sum > 0, orig.to_numpy() / np.where(orig_sum > 0, orig_sum, 1.0), 1.0 / n_rows)
        ev.loc[charged, "time_lost_s"] = total * weight
    has_prev = gaps["prev_ts"].notna().to_numpy()
    rows = np.flatnonzero(has_prev)

    def text(col: str) -> pd.Series:
        # the gap table's string columns filtered as they are (no round trip through Python objects)
        if not len(rows):  # no gap at all: empty columns of Python objects, as ever
            return pd.Series(np.asarray([], dtype=object), index=rows, dtype=object)
        return pd.Series(gaps[col].astype("str").array[has_prev], index=rows)

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
        index=rows,
        copy=False,  # new columns: not copied into one block
    )
    # each gap's winning claim, by position (the claims' gaps are rows of the table)
    won_gap = won["gap"].to_numpy()
    at = np.minimum(np.searchsorted(rows, won_gap), max(len(rows) - 1, 0))
    hit = (rows[at] == won_gap) if len(rows) else np.zeros(len(won_gap), dtype=bool)
    claim = np.full(len(rows), -1, dtype="int64")
    claim[at[hit]] = np.flatnonzero(hit)
    for c in ("kind", "rule", "where"):
        if len(won):
            table[c] = pd.Series(won[c].astype("str").array.take(claim, allow_fill=True), index=table.index)
        else:  # nothing charged: a column of None (object), as ever
            table[c] = np.full(len(table), None, dtype=object)
    charged = won["claim_s"].to_numpy(dtype="float64")
    table["charged_s"] = np.where(claim >= 0, charged[np.maximum(claim, 0)], 0.0) if len(won) else np.zeros(len(rows))
    return ev, table.reset_index(drop=True)[ATTRIBUTION_COLUMNS]
