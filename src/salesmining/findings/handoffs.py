"""The handoff rule: the case changed owner and the new owner's first event came late.

Only owner changes judged as handoffs count (:mod:`salesmining.analysis.visits`): between two
people (a system user owns nothing), at a step with a fair reference — at least
``min_reference`` gaps of the same step with an owner change and without one (too few at the
step: of the same activity) — and where the change is not the process's design (an owner-change
share below ``handoff_design_share``). An owner change without a fair reference is not judged.
With ``roles=`` the findings are grouped by the pair of roles (``"Sales → Finance"``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.analysis.visits import column_codes, slower_with_change
from salesmining.core import formatting
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.findings.attribution import claims
from salesmining.findings.codes import text_in
from salesmining.findings.context import FindingContext
from salesmining.findings.evidence import ARROW, Place, between, evidence

__all__ = ["handoff_evidence"]


def handoff_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """``handoff_wait`` evidence, on the step from the stage the case was in to the new owner's activity
    (or on the pair of roles, with roles).

    A handoff is late above the ``handoff_quantile`` of the same step's waits without an owner
    change; it loses the excess over that reference's median.
    """
    g = ctx.gaps
    if g["owner"].notna().sum() == 0:
        return []
    # back-filled cases' gaps are data-entry times: neither handoffs to judge nor a reference
    entered_late = ctx.of_cases(ctx.backfilled.index) if len(ctx.backfilled) else np.zeros(len(g), dtype=bool)
    kind = g["gap_kind"]
    reference_all = g["handoff_reference"]
    is_ho = text_in(kind, ["handoff"]) & text_in(reference_all, ["step", "activity"]) & ~entered_late
    # the fair reference: the same step (else the same activity), both owners known, no owner change
    known = (g["owner"].notna() & g["prev_owner"].notna()).to_numpy(dtype=bool)
    is_ref = text_in(kind, ["stage"]) & known & ~g["owner_change"].to_numpy(dtype=bool) & ~entered_late
    # only handoffs and their references take part below: work on those rows alone, on integer places
    rows = np.flatnonzero(is_ho | is_ref)
    is_ho, is_ref = is_ho[rows], is_ref[rows]
    act_all = column_codes(g[ACTIVITY])[0]
    act = act_all[rows].astype("int64")
    prev = np.where(rows > 0, act_all[np.maximum(rows - 1, 0)], -1).astype("int64")  # a reference has a previous event
    step = prev * (int(act_all.max()) + 2 if len(act_all) else 1) + act
    reference = reference_all.iloc[rows]
    # the gap table judged handoffs systematically slower with every case as reference; test again
    # without the back-filled ones (their minutes would make any handoff look slow)
    slower = np.zeros(len(rows), dtype=bool)
    gap = g["gap_s"].to_numpy(dtype="float64")[rows]
    for level, place in (("step", step), ("activity", act)):
        judged = is_ho & text_in(reference, [level])
        slower |= judged & slower_with_change(place, judged, is_ho | is_ref, is_ho, gap, ctx.rules.handoff_alpha)
    if not slower.any():
        return []
    on_step = text_in(reference, ["step"])[slower]
    thr, med = np.full(int(slower.sum()), np.nan), np.full(int(slower.sum()), np.nan)
    q = ctx.rules.handoff_quantile
    for level_on, place in ((on_step, step), (~on_step, act)):
        wanted = place[slower][level_on]
        ref = pd.Series(gap[is_ref], index=place[is_ref])
        ref = ref[np.isin(ref.index.to_numpy(), wanted)].groupby(level=0)
        thr[level_on] = ref.quantile(q).reindex(wanted).to_numpy(dtype="float64")
        med[level_on] = ref.median().reindex(wanted).to_numpy(dtype="float64")
    hit = gap[slower] > thr
    at = rows[slower][hit]
    h = pd.DataFrame(
        {
            CASE: g[CASE].array.take(at),
            ACTIVITY: g[ACTIVITY].array.take(at),
            "gap_s": gap[slower][hit],
            "prev_owner": g["prev_owner"].array.take(at),
            "owner": g["owner"].array.take(at),
            "from_stage": _from_stage(ctx, at),
        },
        index=at,
    )
    lost = h["gap_s"].to_numpy() - med[hit]
    detail = [
        f"{a} → {b}, next event after {d}"
        for a, b, d in zip(
            h["prev_owner"],
            h["owner"],
            formatting.short_durations(h["gap_s"].to_numpy(dtype="float64"), smallest="min"),
            strict=True,
        )
    ]
    if ctx.resources.roles:
        res = ctx.resources
        pair = (
            res.role_of(h["prev_owner"].astype("object")).astype(str)
            + ARROW
            + res.role_of(h["owner"].astype("object")).astype(str)
        )
        place = Place(pair.reset_index(drop=True))
    else:
        place = between(h["from_stage"], h[ACTIVITY], source_text="(before first stage)")
    ctx.claims.append(claims("handoff_delay", "handoff_wait", place.where, h[CASE], h.index, lost))
    return [evidence("handoff_delay", "handoff_wait", place, h[CASE], np.maximum(lost, 0.0), detail)]


def _from_stage(ctx: FindingContext, rows: np.ndarray) -> np.ndarray:
    """Per gap row in ``rows``: the stage of the visit its gap belongs to (NaN before the first stage)."""
    gv = ctx.gaps["gap_visit"].to_numpy(dtype="float64")[rows]
    v_no = ctx.visits["visit_no"].to_numpy(dtype="float64")
    span = int(max(np.nanmax(v_no) if len(v_no) else 0.0, np.nanmax(gv) if np.isfinite(gv).any() else 0.0)) + 1
    vkey = ctx.case_no[ctx.visit_rows].astype("int64") * span + v_no.astype("int64")  # sorted: the visits' order
    known = ~np.isnan(gv)
    gkey = ctx.case_no[rows].astype("int64") * span + np.where(known, gv, 0).astype("int64")
    if not len(vkey):
        return np.full(len(rows), np.nan, dtype=object)
    at = np.minimum(np.searchsorted(vkey, gkey), len(vkey) - 1)
    found = known & (vkey[at] == gkey)
    stages = np.asarray(ctx.visits["stage"].array.take(at), dtype=object)  # only the rows asked for as text
    return np.where(found, stages, np.nan).astype(object)
