"""Back-filled cases: deals entered after the fact, several stages recorded within minutes.

A case is *back-filled* when its first ``backfill_min_stages`` stage or outcome entries all fall
within ``backfill_window`` of each other while, in the log as a whole, the same number of entries
typically (median over the cases that have them) takes at least ``backfill_contrast`` times as
long. Where nearly every case moves that fast (an automated intake, a bulk-loaded demo org) the
speed is the process or the export, not a back-fill, and nothing is flagged here. The stage times
of back-filled cases are data-entry times: they are not judged as waits or skips and are not
used as references for limits (see :mod:`salesmining.findings.context`).
"""

from __future__ import annotations

import math

import pandas as pd

from salesmining.findings.rules import FindingRules

__all__ = ["backfill_spans", "backfilled_cases"]


def backfill_spans(visits: pd.DataFrame, rules: FindingRules) -> pd.Series:
    """Per case with at least ``backfill_min_stages`` stage/outcome entries: seconds from its first
    entry to its ``backfill_min_stages``-th (visits are in case, time order)."""
    k = int(rules.backfill_min_stages)
    v = visits[visits["role"].isin(["stage", "outcome"])]
    if k < 2 or not len(v):
        return pd.Series(dtype="float64")
    pos = v.groupby("case", sort=False).cumcount().to_numpy()
    first = v.loc[pos == 0].set_index("case")["entry_us"]
    kth = v.loc[pos == k - 1].set_index("case")["entry_us"]
    return ((kth - first.reindex(kth.index)) / 1e6).astype("float64")


def backfilled_cases(visits: pd.DataFrame, rules: FindingRules) -> pd.Series:
    """The back-filled cases' spans (seconds from first to ``backfill_min_stages``-th entry), by case."""
    spans = backfill_spans(visits, rules)
    window = pd.Timedelta(rules.backfill_window).total_seconds()
    if not len(spans) or window <= 0:
        return spans.iloc[:0]
    typical = float(spans.median())
    if math.isnan(typical) or typical < rules.backfill_contrast * window:
        return spans.iloc[:0]
    return spans[spans <= window]
