"""Data-quality findings: what the data says about how it was recorded, not about the process.

``backfilled``: cases entered after the fact (see :mod:`salesmining.findings.backfill`). Their
stage times are data-entry times, so :func:`~salesmining.find_bottlenecks` judges none of their
waits or skips and learns no limit from them; this finding says how many there are.
"""

from __future__ import annotations

import pandas as pd

from salesmining.core import formatting
from salesmining.findings.context import FindingContext
from salesmining.findings.evidence import Place, evidence

__all__ = ["JUDGED_ELSEWHERE", "claims_without_backfilled", "data_quality_evidence", "without_backfilled"]

#: The finding kinds whose evidence from back-filled cases is left out.
JUDGED_ELSEWHERE = frozenset({"long_wait", "slow_response", "skipped_stage"})

#: Where the back-fill finding sits: the log as a whole, no stage or step.
WHERE = "cases entered after the fact"


def data_quality_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """One ``data_quality``/``backfilled`` evidence row per back-filled case (no time lost)."""
    spans = ctx.backfilled
    if not len(spans):
        return []
    k = ctx.rules.backfill_min_stages
    text = [
        f"first {k} stage entries within {formatting.short_duration(s, smallest='s')}; "
        "stage times not judged as waits or skips"
        for s in spans.to_numpy()
    ]
    return [evidence("data_quality", "backfilled", Place(WHERE), spans.index, [0.0] * len(spans), text)]


def without_backfilled(evidence_rows: pd.DataFrame, ctx: FindingContext) -> pd.DataFrame:
    """Evidence less the waits and skips of back-filled cases (their times are data-entry times)."""
    if not len(ctx.backfilled) or not len(evidence_rows):
        return evidence_rows
    drop = evidence_rows["kind"].isin(JUDGED_ELSEWHERE) & evidence_rows["case_id"].astype(str).isin(
        ctx.backfilled.index.astype(str)
    )
    return evidence_rows[~drop.to_numpy()].reset_index(drop=True)


def claims_without_backfilled(claimed: list[pd.DataFrame], ctx: FindingContext) -> list[pd.DataFrame]:
    """The gap claims less those of the evidence :func:`without_backfilled` drops, so the
    attribution table charges no gap to a finding that does not list the case."""
    if not len(ctx.backfilled):
        return claimed
    cases = ctx.backfilled.index.astype(str)
    out = []
    for c in claimed:
        if not len(c):
            out.append(c)
            continue
        drop = c["kind"].isin(JUDGED_ELSEWHERE) & c["case_id"].astype(str).isin(cases)
        out.append(c[~drop.to_numpy()].reset_index(drop=True))
    return out
