"""Loop rules: backward moves, repeated stages, repeated activities outside the stage model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.core.schema import ACTIVITY, CASE
from salesmining.findings.context import FindingContext
from salesmining.findings.evidence import ARROW, at, between, evidence

__all__ = ["loop_evidence"]


def loop_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """``backward_move`` (on the step moved back), ``stage_repeat`` and ``activity_repeat`` evidence."""
    v = ctx.visits
    st = v[v["role"] == "stage"].copy()
    out = [_backward_moves(st)]
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


def _backward_moves(st: pd.DataFrame) -> pd.DataFrame:
    """Each excursion behind the furthest stage is charged to the backward move that started it."""
    start = st["backward_from"].notna()
    st["excursion"] = start.astype(int).groupby(st["case"]).cumsum()
    st["label"] = (st["backward_from"].astype("object") + ARROW + st["stage"].astype("object")).where(start)
    st["label"] = st.groupby(["case", "excursion"])["label"].transform("first")
    behind = st[st["behind"] & st["label"].notna()]
    per = behind.groupby(["case", "label"], sort=True).agg(lost=("dwell_s", lambda s: s.fillna(0).sum()))
    moves = (
        st[start]
        .assign(source=st["backward_from"].astype("object"), target=st["stage"].astype("object"))
        .groupby(["case", "label"])
        .agg(moves=("stage", "size"), source=("source", "first"), target=("target", "first"))
    )
    per = per.join(moves, how="outer").fillna({"lost": 0.0, "moves": 0})
    per = per.reset_index()
    return evidence(
        "loop",
        "backward_move",
        between(per["source"], per["target"])._replace(where=per["label"]),
        per["case"],
        per["lost"],
        [f"moved back x{int(m)}" for m in per["moves"]],
    )


def _activity_repeats(ctx: FindingContext) -> pd.DataFrame | None:
    g = ctx.gaps
    done = g["lifecycle"].isna() | (g["lifecycle"] == "complete")
    oth = g[(g["role"] == "other") & done].copy()
    if not len(oth):
        return None
    grp = oth.groupby([CASE, ACTIVITY], sort=False)
    oth["occurrence"] = grp.cumcount()
    oth["prev_actor"] = grp["actor"].shift(1)
    again = oth[oth["occurrence"] > 0]
    redo = again["actor"].notna() & again["prev_actor"].notna() & (again["actor"] != again["prev_actor"])
    again = again.assign(redo=redo.astype(int))
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
