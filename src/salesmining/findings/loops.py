"""Loop rules: backward moves, reopened cases, repeated stages, repeated activities outside the model.

A *backward move* and a *reopen* mean what they mean in :func:`salesmining.conform` (see
:mod:`salesmining.analysis.visits`): a move from a stage to an earlier stage, outcomes passed
over and allowed backtracks excepted; the first stage event after an outcome. Stage ties are read
in model order, and a re-entry at the same instant is a duplicate, so tie order alone raises
nothing. Each excursion behind the furthest stage reached is charged to the move (or reopen) that
started it: the gaps of its visits (:mod:`salesmining.findings.attribution`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.core import frames as _frames
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.findings.attribution import claims
from salesmining.findings.context import FindingContext
from salesmining.findings.evidence import ARROW, at, between, evidence

__all__ = ["loop_evidence"]


def loop_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """``backward_move`` (on the step moved back), ``reopened``, ``stage_repeat`` and ``activity_repeat``
    evidence; their gap claims go to ``ctx.claims``."""
    v = ctx.visits
    st = v[v["role"] == "stage"].copy()
    out = _excursions(ctx, st)
    rep = st[st["repeat_of_prev"]].copy()
    if len(rep):
        prev_owner = v["owner"].shift(1).reindex(rep.index)
        redo = (
            rep["owner"].notna() & prev_owner.notna() & (rep["owner"].astype("object") != prev_owner.astype("object"))
        )
        rep["how"] = np.where(redo, "redo by another owner", "repeat by the same owner")
        g = rep.groupby(["case", "stage"]).agg(n=("how", "size"), how=("how", lambda s: "; ".join(sorted(set(s)))))
        g = g.reset_index()
        out.append(
            evidence(
                "loop",
                "stage_repeat",
                at(g["stage"]),
                g["case"],
                np.zeros(len(g)),
                [f"{h} (x{int(n)})" for h, n in zip(g["how"], g["n"], strict=True)],
            )
        )
    activity = _activity_repeats(ctx)
    if activity is not None:
        out.append(activity)
    return out


def _excursions(ctx: FindingContext, st: pd.DataFrame) -> list[pd.DataFrame]:
    """Each excursion behind the furthest stage is charged to the backward move (or reopen) that started it."""
    back = st["backward_from"].notna()
    reopen = st["reopen_from"].notna() & ~back
    start = back | reopen
    st["excursion"] = start.astype(int).groupby(st["case"]).cumsum()
    source = st["backward_from"].where(back, st["reopen_from"]).astype("object")
    st["label"] = (source + ARROW + st["stage"].astype("object")).where(start)
    st["rule"] = pd.Series(np.where(back, "backward_move", "reopened"), index=st.index).where(start)
    st["label"] = st.groupby(["case", "excursion"])["label"].transform("first")
    st["rule"] = st.groupby(["case", "excursion"])["rule"].transform("first")
    behind = st[st["behind"] & st["label"].notna() & st["exit_us"].notna()]
    # the excursion's gaps: every gap of its visits
    g = ctx.gaps
    key = behind[["case", "visit_no", "rule", "label"]].rename(columns={"case": CASE, "visit_no": "gap_visit"})
    # only the gaps of cases with an excursion can match (the join keeps the gaps' order)
    mine = g["gap_visit"].notna().to_numpy() & _frames.isin(g[CASE], key[CASE].unique()).to_numpy()
    own = g.loc[mine, [CASE, "gap_visit", "gap_s"]].reset_index(names="gap")
    charged = own.merge(key, on=[CASE, "gap_visit"], how="inner")
    out = []
    for rule in ("backward_move", "reopened"):
        sel = charged[charged["rule"] == rule]
        ctx.claims.append(claims("loop", rule, sel["label"], sel[CASE], sel["gap"], sel["gap_s"]))
        per = behind[behind["rule"] == rule].groupby(["case", "label"], sort=True).agg(lost=("dwell_s", "sum"))
        # every move (or reopen) is listed, also one that only continues an excursion already charged
        began = back if rule == "backward_move" else st["reopen_from"].notna()
        src = st["backward_from"] if rule == "backward_move" else st["reopen_from"]
        moves = (
            st[began]
            .assign(
                source=src.astype("object"),
                target=st["stage"].astype("object"),
                label=src.astype("object") + ARROW + st["stage"].astype("object"),
            )
            .groupby(["case", "label"])
            .agg(moves=("stage", "size"), source=("source", "first"), target=("target", "first"))
        )
        per = per.join(moves, how="outer").fillna({"lost": 0.0, "moves": 0}).reset_index()
        verb = "moved back" if rule == "backward_move" else "reopened"
        out.append(
            evidence(
                "loop",
                rule,
                between(per["source"], per["target"])._replace(where=per["label"]),
                per["case"],
                per["lost"],
                [f"{verb} x{int(m)}" for m in per["moves"]],
            )
        )
    return out


def _activity_repeats(ctx: FindingContext) -> pd.DataFrame | None:
    """Completions again of an activity outside the model (an activity never completed in the log,
    e.g. start-only lifecycles: its starts); a repeat at the same instant is a duplicate, not rework."""
    g = ctx.gaps
    oth = g.loc[g["role"] == "other", [CASE, ACTIVITY, "lifecycle", "actor", "ts_us", "gap_s"]]
    if not len(oth):
        return None
    life = oth["lifecycle"].astype("object")
    is_complete = (life == "complete").to_numpy()
    has_complete = pd.Series(is_complete, index=oth.index).groupby(oth[ACTIVITY]).transform("any").to_numpy()
    is_start = (life == "start").to_numpy()
    # work done: its completions; an activity never completed in the log (start-only lifecycles) by its starts
    done = life.isna().to_numpy() | is_complete | (~has_complete & is_start)
    oth = oth[done].copy()
    if not len(oth):
        return None
    grp = oth.groupby([CASE, ACTIVITY], sort=False)
    oth["occurrence"] = grp.cumcount()
    oth["prev_actor"] = grp["actor"].shift(1)
    oth["prev_same_ts"] = grp["ts_us"].shift(1)
    again = oth[(oth["occurrence"] > 0) & (oth["ts_us"] != oth["prev_same_ts"])]
    redo = again["actor"].notna() & again["prev_actor"].notna() & (again["actor"] != again["prev_actor"])
    again = again.assign(redo=redo.astype(int))
    ctx.claims.append(
        claims("loop", "activity_repeat", again[ACTIVITY].astype("object"), again[CASE], again.index, again["gap_s"])
    )
    agg = (
        again.groupby([CASE, ACTIVITY], sort=True)
        .agg(n=("gap_s", "size"), lost=("gap_s", "sum"), redo=("redo", "sum"))
        .reset_index()
    )
    detail = [
        f"x{int(n) + 1}" + (f", {int(r)} by another owner" if r else "")
        for n, r in zip(agg["n"], agg["redo"], strict=True)
    ]
    return evidence("loop", "activity_repeat", at(agg[ACTIVITY]), agg[CASE], agg["lost"].fillna(0), detail)
