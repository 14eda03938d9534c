"""The handoff rule: the case changed owner and the new owner's first event came late."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.core import formatting
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.findings.context import FindingContext
from salesmining.findings.evidence import ARROW, between, evidence

__all__ = ["handoff_evidence"]


def handoff_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """``handoff_wait`` evidence, on the step from the stage the case was in to the new owner's activity.

    A handoff is late above the ``handoff_quantile`` of the same step's waits without an owner
    change (falling back to the waits into the same activity, then all waits); it loses the
    excess over that reference's median.
    """
    g = ctx.gaps
    if g["owner"].notna().sum() == 0:
        return []
    stage_of_visit = ctx.visits.set_index(["case", "visit_no"])["stage"]
    key = pd.MultiIndex.from_arrays([g[CASE], g["gap_visit"]])
    g = g.assign(from_stage=stage_of_visit.reindex(key).to_numpy())
    g = g.assign(step=g["prev_act"].astype("object") + ARROW + g[ACTIVITY].astype("object"))
    ho = g[g["gap_kind"] == "handoff"]
    ref = g[(g["gap_kind"] == "stage") & ~g["is_approval"].astype(bool)]
    q = ctx.rules.handoff_quantile
    by_step = ref.groupby("step")["gap_s"]
    step_n = by_step.size()
    step_q, step_med = by_step.quantile(q), by_step.median()
    by_act = ref.groupby(ACTIVITY)["gap_s"]
    act_n, act_q, act_med = by_act.size(), by_act.quantile(q), by_act.median()
    glob_q, glob_med = float(ref["gap_s"].quantile(q)), float(ref["gap_s"].median())
    enough = ho["step"].map(step_n).fillna(0) >= ctx.rules.min_reference
    enough_act = ho[ACTIVITY].map(act_n).fillna(0) >= ctx.rules.min_reference
    thr = np.where(enough, ho["step"].map(step_q), np.where(enough_act, ho[ACTIVITY].map(act_q), glob_q))
    med = np.where(enough, ho["step"].map(step_med), np.where(enough_act, ho[ACTIVITY].map(act_med), glob_med))
    hit = ho["gap_s"].to_numpy() > thr
    h = ho[hit]
    detail = [
        f"{a} → {b}, next event after {formatting.short_duration(s, smallest='min')}"
        for a, b, s in zip(h["prev_owner"], h["owner"], h["gap_s"], strict=True)
    ]
    place = between(h["from_stage"], h[ACTIVITY], source_text="(before first stage)")
    return [evidence("handoff_delay", "handoff_wait", place, h[CASE], h["gap_s"].to_numpy() - med[hit], detail)]
