"""Back-filled cases: deals entered after the fact, several stages recorded within minutes.

A case is *back-filled* when its first ``backfill_min_stages`` stage or outcome entries follow
one another with no other event between them and all fall within ``backfill_window``, while in
the log as a whole the same number of entries typically (the median over the cases that have
them) takes at least ``backfill_contrast`` times as long. Where nearly every case moves that fast
(an automated intake, a bulk-loaded demo org) the speed is the process or the export, not a
back-fill, and nothing is flagged here. The stage times of back-filled cases are data-entry
times: they are not judged as waits or skips and are not used as references for limits (see
:mod:`salesmining.findings.context`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from salesmining.analysis.visits import case_numbers
from salesmining.core.schema import CASE
from salesmining.findings.rules import FindingRules

__all__ = ["backfill_spans", "backfilled_cases"]


def _ends(gaps: pd.DataFrame, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each case's first and ``k``-th stage/outcome entry (``ts_us``, event ``pos``), indexed by case,
    for the cases with at least ``k`` of them."""
    rows = np.flatnonzero(gaps["is_stage"].to_numpy() == 1)
    case_no = case_numbers(gaps)[rows]
    # each stage entry's place among its case's stage entries (0, 1, ...)
    new_case = np.r_[True, case_no[1:] != case_no[:-1]] if len(rows) else np.zeros(0, dtype=bool)
    nth = np.arange(len(rows)) - np.maximum.accumulate(np.where(new_case, np.arange(len(rows)), 0))
    at_k = np.flatnonzero(nth == k - 1)
    index = pd.Index(gaps[CASE].array.take(rows[at_k]), name=CASE)

    def ends(at: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {"ts_us": gaps["ts_us"].to_numpy()[rows[at]], "pos": gaps["pos"].to_numpy()[rows[at]]}, index=index
        )

    return ends(at_k - (k - 1)), ends(at_k)


def backfill_spans(gaps: pd.DataFrame, rules: FindingRules) -> tuple[pd.Series, pd.Series]:
    """Per case with at least ``backfill_min_stages`` stage/outcome entries: seconds from its first
    entry to its ``backfill_min_stages``-th, and whether no other event comes between them.
    ``gaps`` is the per-event table of :func:`~salesmining.analysis.visits.event_gaps`."""
    k = int(rules.backfill_min_stages)
    if k < 2 or not len(gaps):
        empty = pd.Series(dtype="float64").rename_axis("case")
        return empty, empty.astype(bool)
    first, kth = _ends(gaps, k)
    # both frames share one index (the cases): subtracted as arrays, no alignment of case ids
    index = kth.index.rename("case")
    ts = kth["ts_us"].to_numpy() - first["ts_us"].to_numpy()
    span = pd.Series(ts / 1e6, index=index, name="ts_us").astype("float64")
    adjacent = pd.Series((kth["pos"].to_numpy() - first["pos"].to_numpy()) == k - 1, index=index, name="pos")
    return span, adjacent


def backfilled_cases(gaps: pd.DataFrame, rules: FindingRules) -> pd.Series:
    """The back-filled cases' spans (seconds from first to ``backfill_min_stages``-th entry), by case."""
    spans, adjacent = backfill_spans(gaps, rules)
    window = pd.Timedelta(rules.backfill_window).total_seconds()
    if not len(spans) or window <= 0:
        return spans.iloc[:0]
    # the log's typical pace over every case with that many entries (interleaved events or not)
    typical = float(spans.median())
    if math.isnan(typical) or typical < rules.backfill_contrast * window:
        return spans.iloc[:0]
    return spans[(spans <= window) & adjacent]
