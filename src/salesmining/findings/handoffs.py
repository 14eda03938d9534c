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

from salesmining.analysis.visits import slower_with_change
from salesmining.core import formatting
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.findings.attribution import claims
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
    entered_late = g[CASE].isin(ctx.backfilled.index.astype("str")).to_numpy()
    is_ho = ((g["gap_kind"] == "handoff") & (g["handoff_reference"] != "")).to_numpy() & ~entered_late
    # the fair reference: the same step (else the same activity), both owners known, no owner change
    is_ref = (
        (g["gap_kind"] == "stage") & g["owner"].notna() & g["prev_owner"].notna() & ~g["owner_change"]
    ).to_numpy() & ~entered_late
    # only handoffs and their references take part below: work on those rows alone
    part = is_ho | is_ref
    cols = [CASE, ACTIVITY, "gap_visit", "gap_s", "prev_act", "prev_owner", "owner", "handoff_reference"]
    g = g.loc[part, cols]
    is_ho, is_ref = is_ho[part], is_ref[part]
    stage_of_visit = ctx.visits.set_index(["case", "visit_no"])["stage"]
    key = pd.MultiIndex.from_arrays([g[CASE], g["gap_visit"]])
    g = g.assign(from_stage=stage_of_visit.reindex(key).to_numpy())
    g = g.assign(step=g["prev_act"].astype("object") + ARROW + g[ACTIVITY].astype("object"))
    # the gap table judged handoffs systematically slower with every case as reference; test again
    # without the back-filled ones (their minutes would make any handoff look slow)
    slower = np.zeros(len(g), dtype=bool)
    gap = g["gap_s"].to_numpy(dtype="float64")
    for level, col in (("step", "step"), ("activity", ACTIVITY)):
        judged = is_ho & (g["handoff_reference"] == level).to_numpy()
        place = g[col].astype("object").to_numpy()
        slower |= judged & slower_with_change(place, judged, is_ho | is_ref, is_ho, gap, ctx.rules.handoff_alpha)
    ho, ref = g[slower], g[is_ref]
    if not len(ho):
        return []
    q = ctx.rules.handoff_quantile
    by_step, by_act = ref.groupby("step")["gap_s"], ref.groupby(ACTIVITY)["gap_s"]
    on_step = (ho["handoff_reference"] == "step").to_numpy()
    thr = np.where(on_step, ho["step"].map(by_step.quantile(q)), ho[ACTIVITY].map(by_act.quantile(q)))
    med = np.where(on_step, ho["step"].map(by_step.median()), ho[ACTIVITY].map(by_act.median()))
    thr, med = thr.astype("float64"), med.astype("float64")
    hit = ho["gap_s"].to_numpy() > thr
    h = ho[hit]
    lost = h["gap_s"].to_numpy() - med[hit]
    detail = [
        f"{a} → {b}, next event after {formatting.short_duration(s, smallest='min')}"
        for a, b, s in zip(h["prev_owner"], h["owner"], h["gap_s"], strict=True)
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
