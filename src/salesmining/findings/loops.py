"""Loop rules: backward moves, reopened cases, repeated stages, repeated activities outside the model.

A *backward move* and a *reopen* mean what they mean in :func:`salesmining.conform` (see
:mod:`salesmining.analysis.visits`): a move from a stage to an earlier stage, outcomes passed
over and allowed backtracks excepted; the first stage event after an outcome. Stage ties are read
in model order, and a re-entry at the same instant is a duplicate, so tie order alone raises
nothing. Each excursion behind the furthest stage reached is charged to the move (or reopen) that
started it: the gaps of its visits (:mod:`salesmining.findings.attribution`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from salesmining.analysis import visits as _visits
from salesmining.analysis.visits import as_text, column_codes
from salesmining.core.schema import ACTIVITY, CASE
from salesmining.findings.attribution import _visit_gap_rows, claims, visit_keys
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

    ``rows``: the stage visits' rows of ``ctx.visits``. Moves are read as codes (case number, step
    code); text is made only for the listed (case, step) rows, each step's label once."""
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
    # each move's step (source → target) numbered in its label's text order (a visit both moved back
    # and reopening is a backward move first: its excursion's step is the backward one)
    steps = _Steps(v, rows, back, reopen_any)
    first = began[sel]
    excursion_rule = np.where(back[first], "backward_move", "reopened")
    excursion_label = np.where(back, steps.back, steps.reopen)
    charged = _excursion_gaps(ctx, rows[sel], v["visit_no"].to_numpy()[rows[sel]])
    charged_rule = excursion_rule[charged["which"]]
    label_dtype = pd.CategoricalDtype(pd.Index(steps.labels, dtype=object))
    charged_label = pd.Categorical.from_codes(
        excursion_label[first][charged["which"]], dtype=label_dtype, validate=False
    )
    dwell = v["dwell_s"].to_numpy(dtype="float64")
    out = []
    for rule in ("backward_move", "reopened"):
        mine = np.flatnonzero(charged_rule == rule)
        ctx.claims.append(
            claims(
                "loop",
                rule,
                charged_label.take(mine),
                charged[CASE].take(mine),
                charged["gap"][mine],
                charged["gap_s"][mine],
            )
        )
        # per (case, step) in text order: the time behind the frontier and the moves; every move is
        # listed, also one that only continues an excursion already charged
        moved = np.flatnonzero(back if rule == "backward_move" else reopen_any)
        lost = sel[excursion_rule == rule]
        per = _per_case_step(
            ctx.case_index,
            (case_no[moved], (steps.back if rule == "backward_move" else steps.reopen)[moved]),
            (case_no[lost], excursion_label[began[lost]], dwell[rows[lost]]),
            len(steps.labels),
        )
        verb = "moved back" if rule == "backward_move" else "reopened"
        label = per["label"]
        place = between(pd.Series(steps.sources[label], dtype=object), pd.Series(steps.targets[label], dtype=object))
        out.append(
            evidence(
                "loop",
                rule,
                place._replace(where=pd.Series(steps.labels[label], dtype=object)),
                per["case"],
                per["lost"],
                _counted(verb, per["moves"]),
            )
        )
    return out


class _Steps:
    """The steps of the stage visits ``rows`` of ``v``: per visit, the label number of its backward move
    (``back``) and of its reopen (``reopen``), ``-1`` where it is none; each label's ``sources``,
    ``targets`` and text (``labels``: ``source → target``), numbered in the labels' text order."""

    def __init__(self, v: pd.DataFrame, rows: np.ndarray, back: np.ndarray, reopen: np.ndarray) -> None:
        stage, names = column_codes(v["stage"])
        names = np.asarray(names, dtype=object)
        moves = {"backward_from": np.flatnonzero(back), "reopen_from": np.flatnonzero(reopen)}
        step = {}
        for c, at_rows in moves.items():  # only the moves are read
            raw, mine = column_codes(v[c])
            at = pd.Index(names, dtype=object).get_indexer(pd.Index(np.asarray(mine, dtype=object), dtype=object))
            if (at < 0).any():  # a source no stage has (never in a visit table): added to the names
                extra = np.flatnonzero(at < 0)
                at[extra] = len(names) + np.arange(len(extra))
                names = np.concatenate([names, np.asarray(mine, dtype=object)[extra]])
            step[c] = (at[raw[rows[at_rows]]], stage[rows[at_rows]])  # a move has its source
        width = len(names) + 1
        keys = {c: src * width + dst for c, (src, dst) in step.items()}
        steps = np.unique(np.concatenate(list(keys.values())))
        sources, targets = names[steps // width], names[steps % width]
        labels = np.asarray([f"{a}{ARROW}{b}" for a, b in zip(sources, targets, strict=True)], dtype=object)
        order = np.argsort(labels, kind="stable")
        rank = np.empty(len(order), dtype="int64")
        rank[order] = np.arange(len(order))

        def number(c: str) -> np.ndarray:
            out = np.full(len(rows), -1, dtype="int64")
            out[moves[c]] = rank[np.searchsorted(steps, keys[c])]
            return out

        self.back, self.reopen = number("backward_from"), number("reopen_from")
        self.sources, self.targets, self.labels = sources[order], targets[order], labels[order]


def _per_case_step(
    case_index: pd.Index,
    moves: tuple[np.ndarray, np.ndarray],
    lost: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_labels: int,
) -> dict[str, Any]:
    """Per (case, step) with a move or time lost, in the text order of (case id, label): ``case`` (ids),
    ``label`` (number), ``moves`` (count) and ``lost`` (seconds summed as pandas sums a group: in row order).

    ``moves``: (case number, label) per move; ``lost``: (case number, label, seconds) per visit."""
    cases = np.unique(np.concatenate([moves[0], lost[0]]))
    ids = np.asarray(case_index[cases], dtype=object)
    if case_index.is_monotonic_increasing:  # case numbers are in the ids' order
        case_rank = np.arange(len(cases))
    else:
        order = np.argsort(ids, kind="stable")
        case_rank = np.empty(len(order), dtype="int64")
        case_rank[order] = np.arange(len(order))
    width = max(n_labels, 1)

    def key(case: np.ndarray, label: np.ndarray) -> np.ndarray:
        return case_rank[np.searchsorted(cases, case)].astype("int64") * width + label

    move_key, lost_key = key(*moves), key(lost[0], lost[1])
    keys = np.unique(np.concatenate([move_key, lost_key]))
    n_moves = np.bincount(np.searchsorted(keys, move_key), minlength=len(keys))
    seconds = _visits.group_sum(np.searchsorted(keys, lost_key), lost[2], len(keys))
    by_rank = np.empty(len(cases), dtype=object)
    by_rank[case_rank] = ids
    return {"case": by_rank[keys // width], "label": keys % width, "moves": n_moves, "lost": seconds}


def _counted(verb: str, counts: np.ndarray) -> np.ndarray:
    """``"{verb} x{count}"`` per count, each distinct count written once."""
    uniq, at = np.unique(np.asarray(counts, dtype="int64"), return_inverse=True)
    return np.asarray([f"{verb} x{int(c)}" for c in uniq.tolist()], dtype=object)[at.reshape(-1)]


def _excursion_gaps(ctx: FindingContext, visit_rows: np.ndarray, visit_no: np.ndarray) -> dict[str, Any]:
    """The gaps of the visits ``visit_rows`` of ``ctx.visits`` (their ``visit_no``): every gap of each,
    in the gap table's order, as ``gap`` (row), CASE (a categorical), ``gap_s`` and ``which`` (the
    index into ``visit_rows`` of the visit the gap belongs to), as arrays."""
    g = ctx.gaps
    visit_no = np.asarray(visit_no, dtype="float64")
    # a visit's key: its case's number and visit number in one integer (both sorted by the tables' order)
    span, has, gkey = visit_keys(g, ctx.case_no, float(np.max(visit_no)) if len(visit_no) else 0.0)
    vkey = ctx.case_no[ctx.visit_rows[visit_rows]].astype("int64") * span + np.asarray(visit_no).astype("int64")
    at, which = _visit_gap_rows(gkey, vkey)
    rows = has[at]
    return {
        "gap": rows,
        CASE: g[CASE].array.take(rows),
        "gap_s": g["gap_s"].to_numpy(dtype="float64")[rows],
        "which": which,
    }


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
        claims(
            "loop",
            "activity_repeat",
            g[ACTIVITY].array.take(at_rows),
            g[CASE].array.take(at_rows),
            at_rows,
            again["gap_s"],
        )
    )
    agg = (
        again.groupby([CASE, ACTIVITY], sort=True)
        .agg(n=("gap_s", "size"), lost=("gap_s", "sum"), redo=("redo", "sum"))
        .reset_index()
    )
    detail = _repeat_details(agg["n"].to_numpy(), agg["redo"].to_numpy())
    return evidence("loop", "activity_repeat", at(agg[ACTIVITY]), agg[CASE], agg["lost"].fillna(0), detail)


def _repeat_details(n: np.ndarray, redo: np.ndarray) -> np.ndarray:
    """Per group of repeats: ``"x{n + 1}"`` and, when some were by another owner, ``", {redo} by another
    owner"``; each distinct pair of counts written once (object array of ``str``)."""
    n, redo = np.asarray(n, dtype="int64"), np.asarray(redo, dtype="int64")
    if not len(n):
        return np.asarray([], dtype=object)
    width = int(redo.max()) - int(redo.min()) + 1
    pairs, at = np.unique((n - n.min()) * width + (redo - redo.min()), return_inverse=True)
    texts = [
        f"x{a + 1}" + (f", {b} by another owner" if b else "")
        for a, b in zip((pairs // width + n.min()).tolist(), (pairs % width + redo.min()).tolist(), strict=True)
    ]
    return np.asarray(texts, dtype=object)[at.reshape(-1)]
