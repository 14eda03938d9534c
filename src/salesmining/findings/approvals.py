"""Redundant-approval rules: repeats, approvals redone later or after a loop, chains, rubber stamps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.analysis.visits import as_text, column_codes
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.findings.attribution import claims
from salesmining.findings.codes import same_text, text_in
from salesmining.findings.context import FindingContext, previous_same
from salesmining.findings.evidence import at, between, evidence

__all__ = ["approval_evidence"]


def approval_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """``repeated_no_change``, ``redone_after_loop``, ``repeated_after_approval``, ``sequential_chain``
    and ``rubber_stamp`` evidence."""
    g = ctx.gaps
    kind = g["gap_kind"]
    rep = g.loc[text_in(kind, ["repeat"]), [ACTIVITY, CASE, "gap_s"]]
    ctx.claims.append(
        claims(
            "redundant_approval",
            "repeated_no_change",
            rep[ACTIVITY].array,
            rep[CASE].array,
            rep.index,
            rep["gap_s"],
        )
    )
    out = [
        evidence(
            "redundant_approval",
            "repeated_no_change",
            at(rep[ACTIVITY]),
            rep[CASE],
            rep["gap_s"],
            "repeated with nothing in between",
        )
    ]
    cols = [CASE, ACTIVITY, "result", "gap_kind", "gap_s", "prev_act"]
    ap = g.loc[g["is_approval"].to_numpy(dtype=bool), cols].copy()
    if not len(ap):
        return out
    out += _repeated_later(ctx, g, ap)
    chain = _sequential_chains(ctx, g, ap)
    if chain is not None:
        out.append(chain)
    out += _rubber_stamps(ctx, ap)
    return out


def _repeated_later(ctx: FindingContext, g: pd.DataFrame, ap: pd.DataFrame) -> list[pd.DataFrame]:
    """An approval step approved again later although its earlier decision was not a rejection."""
    # backward moves seen so far in the case, at every event
    back = ((g["is_stage"] == 1) & (g["order"] < g["prev_stage_order"])).to_numpy(dtype="int64")
    # the running count within each case: the running count less its value before the case began
    total = np.cumsum(back)
    first = np.flatnonzero(g["prev_ts"].isna().to_numpy())
    before = np.where(first > 0, total[np.maximum(first - 1, 0)], 0)
    ap["backs"] = (total - before[ctx.case_no])[ap.index.to_numpy()]
    # the same approval's previous decision in the case
    act = column_codes(ap[ACTIVITY])[0]
    prev = previous_same(ctx.case_no[ap.index.to_numpy()].astype("int64") * (int(act.max()) + 1) + act)
    has_prev = prev >= 0
    rejected = text_in(ap["result"], ["rejected"])
    earlier_ok = has_prev & ~rejected[np.maximum(prev, 0)]
    later = earlier_ok & ~text_in(ap["gap_kind"], ["repeat"])
    backs = ap["backs"].to_numpy()
    after_loop = later & (backs > backs[np.maximum(prev, 0)])
    plain = later & ~after_loop
    out = []
    for rule, m in (("redone_after_loop", after_loop), ("repeated_after_approval", plain)):
        h = ap[m]
        ctx.claims.append(
            claims("redundant_approval", rule, h[ACTIVITY].array, h[CASE].array, h.index, h["gap_s"].fillna(0))
        )
        out.append(
            evidence(
                "redundant_approval",
                rule,
                at(h[ACTIVITY]),
                h[CASE],
                h["gap_s"].fillna(0),
                "approved earlier in the case",
            )
        )
    return out


def _sequential_chains(ctx: FindingContext, g: pd.DataFrame, ap: pd.DataFrame) -> pd.DataFrame | None:
    """An approval directly after a different approval: in parallel, the shorter wait is saved."""
    chain = ap[text_in(ap["prev_act"], ctx.model.approvals) & ~same_text(ap["prev_act"], ap[ACTIVITY])]
    if not len(chain):
        return None
    own, before = chain["gap_s"].fillna(0).to_numpy(), _previous_row(g["gap_s"], chain.index)
    saving = np.minimum(own, before)
    place = between(chain["prev_act"], chain[ACTIVITY])
    # the saving is the shorter of the two waits: claim that gap (the previous row is the earlier approval)
    gap = np.where(own <= before, chain.index.to_numpy(), chain.index.to_numpy() - 1)
    ctx.claims.append(claims("redundant_approval", "sequential_chain", place.where, chain[CASE], gap, saving))
    return evidence(
        "redundant_approval",
        "sequential_chain",
        place,
        chain[CASE],
        saving,
        "could run in parallel with the previous approval",
    )


def _rubber_stamps(ctx: FindingContext, ap: pd.DataFrame) -> list[pd.DataFrame]:
    """An approval step that (almost) never rejects; needs decisions (an ``approval_result`` column)."""
    decided = ap[text_in(ap["result"], ["approved", "rejected"])]
    if not len(decided):
        return []
    # per approval step (in name order): decisions and rejections, counted on codes
    act, names = column_codes(decided[ACTIVITY], sort=True)
    n = np.bincount(act, minlength=len(names))
    rej = np.bincount(act, weights=text_in(decided["result"], ["rejected"]), minlength=len(names)).astype("int64")
    seen = n > 0
    stats = pd.DataFrame(
        {"n": n[seen], "rejected": rej[seen]},
        index=pd.Index(as_text(pd.Series(names[seen], dtype=object)), name=ACTIVITY),
    )
    stamps = stats[
        (stats["n"] >= ctx.rules.rubber_stamp_min_decisions)
        & (stats["rejected"] <= ctx.rules.rubber_stamp_max_reject * stats["n"])
    ]
    out = []
    for act, row in stamps.iterrows():
        h = ap[text_in(ap[ACTIVITY], [act]) & text_in(ap["gap_kind"], ["approval", "repeat"])]
        ctx.claims.append(
            claims("redundant_approval", "rubber_stamp", str(act), h[CASE], h.index, h["gap_s"].fillna(0))
        )
        out.append(
            evidence(
                "redundant_approval",
                "rubber_stamp",
                at(str(act)),
                h[CASE],
                h["gap_s"].fillna(0),
                f"rejected {int(row['rejected'])} of {int(row['n'])} decisions",
            )
        )
    return out


def _previous_row(values: pd.Series, index: pd.Index) -> np.ndarray:
    """``values.shift(1).loc[index].fillna(0)`` as numpy: the value of the row before each row of
    ``index`` (0 for the first row or a missing value), read by position on a default index."""
    if not isinstance(values.index, pd.RangeIndex) or values.index.start != 0 or values.index.step != 1:
        return values.shift(1).loc[index].fillna(0).to_numpy()
    at = np.asarray(index, dtype="int64")
    raw = values.to_numpy(dtype="float64")
    out = np.where(at > 0, raw[np.maximum(at - 1, 0)] if len(raw) else 0.0, np.nan)
    return np.where(np.isnan(out), 0.0, out)
