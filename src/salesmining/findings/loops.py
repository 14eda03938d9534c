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

from salesmining.analysis.visits import as_text, column_codes
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.findings.attribution import claims
from salesmining.findings.codes import same_text, text_in
from salesmining.findings.context import FindingContext, previous_same
from salesmining.findings.evidence import ARROW, at, between, evidence

__all__ = ["loop_evidence"]


def loop_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """``backward_move`` (on the step moved back), ``reopened``, ``stage_repeat`` and ``activity_repeat``
    evidence; their gap claims go to ``ctx.claims``."""
    v = ctx.visits
    stage_rows = np.flatnonzero(text_in(v["role"], ["stage"]))
    out = _excursions(ctx, stage_rows)
    rep_rows = stage_rows[v["repeat_of_prev"].to_numpy(dtype=bool)[stage_rows]]
    if len(rep_rows):
        # the visit just before (a repeat is never a case's first visit); owners compared on codes
        owner = v["owner"].array
        redo = ~same_text(owner.take(rep_rows), owner.take(rep_rows - 1))
        redo &= np.asarray(pd.notna(owner.take(rep_rows)), dtype=bool) & np.asarray(
            pd.notna(owner.take(rep_rows - 1)), dtype=bool
        )
        # the few repeats as text (groups in name order, as the text columns always gave them)
        rep = pd.DataFrame(
            {
                "case": as_text(v["case"].iloc[rep_rows]),
                "stage": as_text(v["stage"].iloc[rep_rows]),
                "how": np.where(redo, "redo by another owner", "repeat by the same owner"),
            },
            index=v.index[rep_rows],
        )
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


def _excursions(ctx: FindingContext, rows: np.ndarray) -> list[pd.DataFrame]:
    """Each excursion behind the furthest stage is charged to the backward move (or reopen) that started it.

    ``rows``: the stage visits' rows of ``ctx.visits``; strings are read only for the moves and the visits behind."""
    v = ctx.visits
    back = v["backward_from"].notna().to_numpy()[rows]
    reopen_any = v["reopen_from"].notna().to_numpy()[rows]
    start = back | reopen_any
    # per stage visit: the move (or reopen) that began its excursion, the latest at or before it in the case
    case_no = ctx.case_no[ctx.visit_rows[rows]]
    n = len(rows)
    began = np.where(start, np.arange(n), -1)
    np.maximum.accumulate(began, out=began)
    new_case = np.r_[True, case_no[1:] != case_no[:-1]] if n else np.zeros(0, dtype=bool)
    case_first = np.maximum.accumulate(np.where(new_case, np.arange(n), 0)) if n else began
    began = np.where(began >= case_first, began, -1)
    sel = np.flatnonzero(v["behind"].to_numpy(dtype=bool)[rows] & (began >= 0) & v["exit_us"].notna().to_numpy()[rows])
    # the label and rule of each excursion's first move, for the excursions behind the frontier only
    first_move = np.unique(began[sel])
    moved = _moves(v, rows[first_move], np.where(back[first_move], "backward_from", "reopen_from"))
    which = np.searchsorted(first_move, began[sel])
    behind = (
        v[["visit_no", "dwell_s"]]
        .iloc[rows[sel]]
        .assign(
            case=as_text(v["case"].iloc[rows[sel]]),  # the few visits behind as text (joined with the moves below)
            rule=np.where(back[first_move], "backward_move", "reopened")[which],
            label=moved["label"].to_numpy()[which],
        )
    )
    charged = _excursion_gaps(ctx, rows[sel], behind)
    out = []
    for rule in ("backward_move", "reopened"):
        mine = charged[charged["rule"] == rule]
        ctx.claims.append(claims("loop", rule, mine["label"], mine[CASE], mine["gap"], mine["gap_s"]))
        per = behind[behind["rule"] == rule].groupby(["case", "label"], sort=True).agg(lost=("dwell_s", "sum"))
        # every move (or reopen) is listed, also one that only continues an excursion already charged
        of_rule = rows[back if rule == "backward_move" else reopen_any]
        moves = (
            _moves(v, of_rule, "backward_from" if rule == "backward_move" else "reopen_from")
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


def _moves(v: pd.DataFrame, rows: np.ndarray, source: str | np.ndarray) -> pd.DataFrame:
    """The visits ``rows`` of ``v`` as moves: ``case``, ``stage``, ``source`` (the column ``source`` names,
    per row when an array), ``target`` (the stage) and ``label`` (``source → target``)."""
    sub = v[["case", "stage", "backward_from", "reopen_from"]].iloc[rows]
    if isinstance(source, str):
        src = sub[source].astype("object").to_numpy()
    else:
        src = np.where(
            source == "backward_from", sub["backward_from"].astype("object"), sub["reopen_from"].astype("object")
        )
    target = sub["stage"].astype("object").to_numpy()
    return pd.DataFrame(
        {
            "case": as_text(sub["case"]).to_numpy(),
            "stage": target,
            "source": src,
            "target": target,
            "label": src + ARROW + target,
        },
        index=sub.index,
    )


def _excursion_gaps(ctx: FindingContext, visit_rows: np.ndarray, behind: pd.DataFrame) -> pd.DataFrame:
    """The gaps of the ``behind`` visits (rows ``visit_rows`` of ``ctx.visits``): every gap of each,
    in the gap table's order, with the visit's ``rule`` and ``label``, as ``gap`` (row), CASE, ``gap_s``."""
    g = ctx.gaps
    gv = g["gap_visit"].to_numpy(dtype="float64")
    has = np.flatnonzero(~np.isnan(gv))
    span = int(np.nanmax(gv)) + 1 if len(has) else 1
    # a visit's key: its case's number and visit number in one integer (both sorted by the tables' order)
    gkey = ctx.case_no[has].astype("int64") * span + gv[has].astype("int64")
    vkey = ctx.case_no[ctx.visit_rows[visit_rows]].astype("int64") * span + behind["visit_no"].to_numpy().astype(
        "int64"
    )
    order = np.argsort(vkey, kind="stable")
    at = np.minimum(np.searchsorted(vkey[order], gkey), max(len(vkey) - 1, 0))
    hit = (vkey[order][at] == gkey) if len(vkey) else np.zeros(len(gkey), dtype=bool)
    rows, which = has[hit], order[at[hit]]
    return pd.DataFrame(
        {
            "gap": rows,
            CASE: g[CASE].array.take(rows),
            "gap_s": g["gap_s"].to_numpy(dtype="float64")[rows],
            "rule": behind["rule"].to_numpy()[which],
            "label": behind["label"].to_numpy()[which],
        }
    )


def _activity_repeats(ctx: FindingContext) -> pd.DataFrame | None:
    """Completions again of an activity outside the model (an activity never completed in the log,
    e.g. start-only lifecycles: its starts); a repeat at the same instant is a duplicate, not rework."""
    g = ctx.gaps
    rows = np.flatnonzero(text_in(g["role"], ["other"]))
    if not len(rows):
        return None
    life = g["lifecycle"].iloc[rows]
    is_complete = text_in(life, ["complete"])
    act = column_codes(g[ACTIVITY].iloc[rows])[0]
    has_complete = (np.bincount(act, weights=is_complete, minlength=int(act.max()) + 1) > 0)[act]
    is_start = text_in(life, ["start"])
    # work done: its completions; an activity never completed in the log (start-only lifecycles) by its starts
    done = life.isna().to_numpy(dtype=bool) | is_complete | (~has_complete & is_start)
    rows, act = rows[done], act[done]
    if not len(rows):
        return None
    # each event's previous occurrence of the same activity in its case (-1: the first)
    prev = previous_same(ctx.case_no[rows].astype("int64") * (int(act.max()) + 1) + act)
    ts = g["ts_us"].to_numpy()[rows]
    again = (prev >= 0) & (ts != ts[np.maximum(prev, 0)])
    actor = column_codes(g["actor"].iloc[rows])[0]
    prev_actor = np.where(prev >= 0, actor[np.maximum(prev, 0)], -1)
    redo = (actor >= 0) & (prev_actor >= 0) & (actor != prev_actor)
    at_rows = rows[again]
    again_df = pd.DataFrame(
        {
            CASE: as_text(g[CASE].iloc[at_rows]).array,  # the repeats as text, grouped in name order below
            ACTIVITY: as_text(g[ACTIVITY].iloc[at_rows]).array,
            "gap_s": g["gap_s"].to_numpy(dtype="float64")[at_rows],
            "redo": redo[again].astype(int),
        },
        index=at_rows,
    )
    again = again_df
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
