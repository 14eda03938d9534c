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
    stage_of_visit = ctx.visits.set_index(["case", "visit_no"])["stage"]
    key = pd.MultiIndex.from_arrays([g[CASE], g["gap_visit"]])
    g = g.assign(from_stage=stage_of_visit.reindex(key).to_numpy())
    g = g.assign(step=g["prev_act"].astype("object") + ARROW + g[ACTIVITY].astype("object"))
    # back-filled cases' gaps are data-entry times: neither handoffs to judge nor a reference
    entered_late = g[CASE].astype("str").isin(ctx.backfilled.index.astype("str")).to_numpy()
    ho = g[(g["gap_kind"] == "handoff") & (g["handoff_reference"] != "") & ~entered_late]
    if not len(ho):
        return []
    # the fair reference: the same step (else the same activity), both owners known, no owner change
    ref = g[
        (g["gap_kind"] == "stage") & g["owner"].notna() & g["prev_owner"].notna() & ~g["owner_change"] & ~entered_late
    ]
    ho = ho[_systematically_slower(ho, ref, ctx.rules.handoff_alpha)]
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


def _systematically_slower(ho: pd.DataFrame, ref: pd.DataFrame, alpha: float) -> np.ndarray:
    """Per handoff: is its place (the step, or the activity where the step has too few references)
    one where waits with an owner change are systematically longer than without one?

    A one-sided Mann–Whitney test of the place's handoff waits against its reference waits
    (``p < alpha``). Without it, the quantile rule alone would call about one handoff in ten
    "late" at every step where handing over costs nothing at all.
    """
    from scipy.stats import mannwhitneyu  # imported here: keeps `import salesmining` fast

    on_step = (ho["handoff_reference"] == "step").to_numpy()
    place = np.where(on_step, ho["step"].astype("object"), ho[ACTIVITY].astype("object"))
    keep = np.zeros(len(ho), dtype=bool)
    ref_step = ref.groupby("step")["gap_s"]
    ref_act = ref.groupby(ACTIVITY)["gap_s"]
    steps = {k: v.dropna().to_numpy() for k, v in ref_step}
    acts = {k: v.dropna().to_numpy() for k, v in ref_act}
    waits = ho["gap_s"].to_numpy(dtype="float64")
    # one test per place (a handful of steps), not per event
    for key, is_step in {(k, s) for k, s in zip(place, on_step, strict=True)}:
        rows = (place == key) & (on_step == is_step)
        reference = (steps if is_step else acts).get(key, np.array([]))
        sample = waits[rows]
        sample = sample[np.isfinite(sample)]
        if len(reference) == 0 or len(sample) == 0:
            continue
        p = float(mannwhitneyu(sample, reference, alternative="greater").pvalue)
        keep[rows] = p < alpha
    return keep
