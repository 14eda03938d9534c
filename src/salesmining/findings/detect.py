"""Bottleneck findings, ranked by impact, with evidence — and the sales KPIs.

Every finding is one ``(kind, rule, where)``: a closed vocabulary of kinds
(:data:`FINDING_KINDS`) and rules (:data:`FINDING_RULES`). Each rule is written down in
``docs/findings.md`` together with its thresholds, all of which can be changed through
:class:`FindingRules`.

Time is never counted twice: the gaps between consecutive events of a case are each attributed
to one cause (see :mod:`salesmining.analysis.visits`), and a stage's waiting time is judged on its *net*
dwell — what is left once approval waits, redundant repeats and handoff waits are taken out.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from salesmining.analysis import visits as _visits
from salesmining.analysis.conform import Conformance, conform
from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.core import html as _display
from salesmining.core.errors import StageModelError
from salesmining.core.schema import ACTIVITY, AMOUNT, CASE, OUTCOME, TIMESTAMP

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = ["FINDING_KINDS", "FINDING_RULES", "FindingRules", "Findings", "KPIs", "find_bottlenecks", "kpis"]

#: The closed vocabulary of finding kinds.
FINDING_KINDS: tuple[str, ...] = (
    "loop",
    "skipped_stage",
    "long_wait",
    "redundant_approval",
    "slow_response",
    "handoff_delay",
)

#: Every rule, by kind, with the plain-language test it applies.
FINDING_RULES: Mapping[str, Mapping[str, str]] = {
    "loop": {
        "backward_move": "the case moved back to an earlier stage; time lost = dwell in the stages visited "
        "while behind the furthest stage already reached",
        "stage_repeat": "the same stage entered twice in a row (redo by another owner, or repeat by the same one)",
        "activity_repeat": "an activity outside the stage model (a work item, an offer) completed again in the same "
        "case; time lost = the waits before the repeats; redo when another owner repeats it",
    },
    "skipped_stage": {
        "skip": "a mandatory stage missing between two recorded stages (stages missing before the first "
        "recorded one are late entry, not skips)",
    },
    "long_wait": {
        "stage_over_sla": "net dwell in a stage above the stage's SLA; time lost = excess over the SLA",
        "stage_outlier": "no SLA: net dwell above the stage's robust fence exp(Q3 + k·IQR) of log dwell times",
        "approval_over_sla": "wait for an approval decision above the approval's SLA",
        "approval_outlier": "no approval SLA: approval wait above the robust fence of that approval's waits",
        "stalled_open": "an open case has been in its current stage longer than the target, as of the log's end",
    },
    "redundant_approval": {
        "repeated_no_change": "the same approval again directly after an approval of it, nothing in between; "
        "time lost = the repeat's wait",
        "repeated_after_approval": "an approval step approved again later in the case although its earlier "
        "decision was an approval (e.g. after another step rejected); time lost = the repeat's wait",
        "redone_after_loop": "an approval repeated after the case moved back to an earlier stage",
        "sequential_chain": "two different approval steps one directly after the other; running them in "
        "parallel would save the shorter wait",
        "rubber_stamp": "an approval step that (almost) never rejects; removing it saves all its waits",
    },
    "slow_response": {
        "response_over_sla": "first response (leaving the first stage) slower than the first stage's SLA",
        "response_outlier": "no SLA: first response slower than the robust fence of response times",
    },
    "handoff_delay": {
        "handoff_wait": "the case changed owner and the new owner's first event came later than the "
        "handoff quantile of the same step without a change; time lost = excess over that step's median",
    },
}

#: Rules about the process as a whole (its design or its current state) rather than events that
#: happened to a case: left out when comparing per-case shares before/after.
PROCESS_LEVEL_RULES = frozenset({"sequential_chain", "rubber_stamp", "stalled_open"})

_COLUMNS = [
    "kind",
    "where",
    "cases",
    "share",
    "time_lost_hours",
    "win_rate_effect",
    "cycle_time_effect_hours",
    "severity",
    "example_cases",
    "rule",
    "rank",
    "time_lost_per_case_hours",
    "closed_affected",
    "closed_unaffected",
    "win_rate_affected",
    "win_rate_unaffected",
    "detail",
]

_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclasses.dataclass(frozen=True)
class FindingRules:
    """Thresholds of the finding rules (see ``docs/findings.md``).

    Attributes
    ----------
    outlier_k:
        Without an SLA, a duration is an outlier above ``exp(Q3 + k * IQR)`` of the log
        durations of the same stage/approval (a Tukey fence on the log scale; k=2 flags about
        0.04% of log-normal data).
    handoff_quantile:
        A handoff wait is a delay above this quantile of the same step's waits without a handoff.
    min_reference:
        Fewest reference durations needed to compute a fence or a handoff reference.
    rubber_stamp_max_reject, rubber_stamp_min_decisions:
        An approval step that rejects at most this share of at least this many decisions is a
        rubber stamp (needs an ``approval_result`` column).
    high_share, high_time_share, high_win_rate_drop, medium_min_cases:
        Severity: *high* when a finding affects at least ``high_share`` of the cases and either
        loses at least ``high_time_share`` of all case time or lowers the win rate by at least
        ``high_win_rate_drop`` (with at least 10 closed cases on each side); *medium* when it
        affects at least ``medium_min_cases`` cases and loses time or moves the win rate by at
        least half that drop; *low* otherwise.
    examples:
        How many example cases each finding lists (the ones that lost most time).
    response:
        ``(first stage, response stage)`` for ``slow_response``; default: the model's first two.
    as_of:
        The "now" for stalled open cases; default: the last timestamp of the log.
    """

    outlier_k: float = 2.0
    handoff_quantile: float = 0.9
    min_reference: int = 8
    rubber_stamp_max_reject: float = 0.02
    rubber_stamp_min_decisions: int = 20
    high_share: float = 0.05
    high_time_share: float = 0.02
    high_win_rate_drop: float = 0.10
    medium_min_cases: int = 3
    examples: int = 5
    response: tuple[str, str] | None = None
    as_of: str | pd.Timestamp | None = None


def _fence(values: pd.Series, k: float, min_n: int) -> float:
    v = values[(values > 0) & values.notna()]
    if len(v) < min_n:
        return math.inf
    lg = np.log(v.to_numpy(dtype="float64"))
    q1, q3 = np.quantile(lg, [0.25, 0.75])
    return float(np.exp(q3 + k * (q3 - q1)))


def _evidence(kind: str, rule: str, where: Any, case: Any, lost_s: Any, detail: Any = "") -> pd.DataFrame:
    n = len(case)
    return pd.DataFrame(
        {
            "kind": [kind] * n,
            "rule": [rule] * n,
            "where": np.asarray(where, dtype=object) if not isinstance(where, str) else [where] * n,
            "case_id": np.asarray(case, dtype=object),
            "time_lost_s": np.asarray(lost_s, dtype="float64"),
            "detail": np.asarray(detail, dtype=object) if not isinstance(detail, str) else [detail] * n,
        }
    )


@dataclasses.dataclass(frozen=True)
class _Context:
    log: EventLog
    model: StageModel
    rules: FindingRules
    gaps: pd.DataFrame
    visits: pd.DataFrame
    cases: pd.DataFrame  # case_id, outcome, throughput_s, closed, won + attributes
    conformance: Conformance


def _case_facts(log: EventLog, conf: Conformance) -> pd.DataFrame:
    cf = conf.to_frame()[["case_id", "outcome", "throughput_s", "skipped", "backtracks", "repeats", "conforms"]]
    attrs = log.cases.drop(columns=[OUTCOME]).rename(columns={CASE: "case_id"})
    out = cf.merge(attrs, on="case_id", how="left")
    out["closed"] = out["outcome"].isin(["won", "lost"])
    out["won"] = out["outcome"] == "won"
    return out


# --- the rules ---------------------------------------------------------------------------------
def _loops(ctx: _Context) -> list[pd.DataFrame]:
    v = ctx.visits
    st = v[v["role"] == "stage"].copy()
    start = st["backward_from"].notna()
    st["excursion"] = start.astype(int).groupby(st["case"]).cumsum()
    st["label"] = (st["backward_from"].astype("object") + " → " + st["stage"].astype("object")).where(start)
    st["label"] = st.groupby(["case", "excursion"])["label"].transform("first")
    behind = st[st["behind"] & st["label"].notna()]
    per = behind.groupby(["case", "label"], sort=True).agg(lost=("dwell_s", lambda s: s.fillna(0).sum()))
    moves = st[start].groupby(["case", "label"]).size()
    per = per.join(moves.rename("moves"), how="outer").fillna({"lost": 0.0, "moves": 0})
    per = per.reset_index()
    out = [
        _evidence(
            "loop",
            "backward_move",
            per["label"],
            per["case"],
            per["lost"],
            [f"moved back x{int(m)}" for m in per["moves"]],
        )
    ]
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
            _evidence(
                "loop",
                "stage_repeat",
                g["stage"],
                g["case"],
                np.zeros(len(g)),
                [f"{h} (x{int(n)})" for h, n in zip(g["how"], g["n"], strict=True)],
            )
        )
    g = ctx.gaps
    done = g["lifecycle"].isna() | (g["lifecycle"] == "complete")
    oth = g[(g["role"] == "other") & done].copy()
    if len(oth):
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
        out.append(_evidence("loop", "activity_repeat", agg[ACTIVITY], agg[CASE], agg["lost"].fillna(0), detail))
    return out


def _skips(ctx: _Context) -> list[pd.DataFrame]:
    cs = ctx.cases[["case_id", "skipped"]]
    ex = cs.explode("skipped").dropna(subset=["skipped"])
    return [_evidence("skipped_stage", "skip", ex["skipped"], ex["case_id"], np.zeros(len(ex)), "stage skipped")]


def _targets(
    ctx: _Context, values: pd.DataFrame, key: str, durations: str, sla: Mapping[str, pd.Timedelta]
) -> pd.Series:
    """Per row: the target duration (seconds) — the SLA of its key, else the robust fence."""
    fences = {
        name: _fence(grp[durations], ctx.rules.outlier_k, ctx.rules.min_reference)
        for name, grp in values.groupby(key, sort=True)
    }
    sla_s = {k: td.total_seconds() for k, td in sla.items()}
    return values[key].map(lambda k: sla_s.get(k, fences.get(k, math.inf))).astype("float64")


def _waits(ctx: _Context) -> list[pd.DataFrame]:
    out: list[pd.DataFrame] = []
    model, v = ctx.model, ctx.visits
    first, second = ctx.rules.response or (model.stages[0], model.stages[1] if len(model.stages) > 1 else "next stage")
    st = v[(v["role"] == "stage") & ~v["behind"]].copy()
    done = st[st["net_s"].notna()].copy()
    done["first_visit"] = ~done.duplicated(["case", "stage"])
    # slow response: the first visit of the first stage
    resp = done[(done["stage"] == first) & done["first_visit"]].copy()
    resp["target"] = _targets(ctx, resp, "stage", "net_s", model.sla)
    hit = resp[resp["net_s"] > resp["target"]]
    rule = np.where(hit["stage"].map(lambda s: s in model.sla), "response_over_sla", "response_outlier")
    out.append(
        _frame_rules(
            "slow_response",
            rule,
            f"{first} → {second}",
            hit["case"],
            hit["net_s"] - hit["target"],
            [f"first response after {_fmt_s(x)}" for x in hit["net_s"]],
        )
    )
    # stage dwell
    rest = done[done["stage"] != first].copy()
    rest["target"] = _targets(ctx, rest, "stage", "net_s", model.sla)
    hit = rest[rest["net_s"] > rest["target"]]
    rule = np.where(hit["stage"].map(lambda s: s in model.sla), "stage_over_sla", "stage_outlier")
    out.append(
        _frame_rules(
            "long_wait",
            rule,
            hit["stage"],
            hit["case"],
            hit["net_s"] - hit["target"],
            [f"{_fmt_s(x)} in stage (target {_fmt_s(t)})" for x, t in zip(hit["net_s"], hit["target"], strict=True)],
        )
    )
    # approval waits
    g = ctx.gaps
    ap = g[g["gap_kind"] == "approval"].copy()
    if len(ap):
        ap["target"] = _targets(ctx, ap, ACTIVITY, "gap_s", model.approval_sla)
        hit = ap[ap["gap_s"] > ap["target"]]
        rule = np.where(hit[ACTIVITY].map(lambda s: s in model.approval_sla), "approval_over_sla", "approval_outlier")
        out.append(
            _frame_rules(
                "long_wait",
                rule,
                hit[ACTIVITY],
                hit[CASE],
                hit["gap_s"] - hit["target"],
                [f"decision after {_fmt_s(x)}" for x in hit["gap_s"]],
            )
        )
    # stalled open cases
    as_of = ctx.rules.as_of
    now = pd.Timestamp(as_of) if as_of is not None else ctx.log._events[TIMESTAMP].max()
    if now.tzinfo is None:
        now = now.tz_localize("UTC")
    now_us = int(now.value // 1000)  # Timestamp.value is nanoseconds since the epoch
    openv = v[(v["role"] == "stage") & v["exit_us"].isna() & ~v["outcome"].isin(["won", "lost"])].copy()
    if len(openv):
        openv["age_s"] = (now_us - openv["entry_us"]) / 1e6
        ref = done[["stage", "net_s"]]
        targets = {
            s: (
                model.sla[s].total_seconds()
                if s in model.sla
                else _fence(ref.loc[ref["stage"] == s, "net_s"], ctx.rules.outlier_k, ctx.rules.min_reference)
            )
            for s in openv["stage"].unique()
        }
        openv["target"] = openv["stage"].map(targets).astype("float64")
        hit = openv[openv["age_s"] > openv["target"]]
        out.append(
            _evidence(
                "long_wait",
                "stalled_open",
                hit["stage"].astype("object") + " (open, stalled)",
                hit["case"],
                hit["age_s"] - hit["target"],
                [f"in stage for {_fmt_s(x)} so far" for x in hit["age_s"]],
            )
        )
    return out


def _frame_rules(kind: str, rules: Any, where: Any, case: Any, lost: Any, detail: Any) -> pd.DataFrame:
    frames = []
    rules_a = np.asarray(rules, dtype=object)
    n = len(rules_a)
    where_a = np.asarray([where] * n, dtype=object) if isinstance(where, str) else np.asarray(where, dtype=object)
    case_a, lost_a, det_a = (
        np.asarray(case, dtype=object),
        np.asarray(lost, dtype="float64"),
        np.asarray(detail, dtype=object),
    )
    for r in sorted(set(rules_a.tolist())):
        m = rules_a == r
        frames.append(_evidence(kind, str(r), where_a[m], case_a[m], lost_a[m], det_a[m]))
    return pd.concat(frames, ignore_index=True) if frames else _evidence(kind, "", [], [], [])


def _handoffs(ctx: _Context) -> list[pd.DataFrame]:
    g = ctx.gaps
    if g["owner"].notna().sum() == 0:
        return []
    stage_of_visit = ctx.visits.set_index(["case", "visit_no"])["stage"]
    key = pd.MultiIndex.from_arrays([g[CASE], g["gap_visit"]])
    g = g.assign(from_stage=stage_of_visit.reindex(key).to_numpy())
    g = g.assign(step=g["prev_act"].astype("object") + " → " + g[ACTIVITY].astype("object"))
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
    where = h["from_stage"].astype("object").fillna("(before first stage)") + " → " + h[ACTIVITY].astype("object")
    detail = [
        f"{a} → {b}, next event after {_fmt_s(s)}"
        for a, b, s in zip(h["prev_owner"], h["owner"], h["gap_s"], strict=True)
    ]
    return [_evidence("handoff_delay", "handoff_wait", where, h[CASE], h["gap_s"].to_numpy() - med[hit], detail)]


def _approvals(ctx: _Context) -> list[pd.DataFrame]:
    g = ctx.gaps
    out: list[pd.DataFrame] = []
    rep = g[g["gap_kind"] == "repeat"]
    out.append(
        _evidence(
            "redundant_approval",
            "repeated_no_change",
            rep[ACTIVITY],
            rep[CASE],
            rep["gap_s"],
            "repeated with nothing in between",
        )
    )
    ap = g[g["is_approval"].astype(bool)].copy()
    if not len(ap):
        return out
    # backward moves seen so far in the case, at every event
    back = (g["is_stage"] == 1) & (g["order"] < g["prev_stage_order"])
    g_back = back.astype(int).groupby(g[CASE]).cumsum()
    ap["backs"] = g_back.loc[ap.index]
    grp = ap.groupby([CASE, ACTIVITY], sort=False)
    ap["prev_same_result"] = grp["result"].shift(1)
    ap["prev_same_backs"] = grp["backs"].shift(1)
    ap["has_prev_same"] = grp.cumcount() > 0
    earlier_ok = ap["has_prev_same"] & ~ap["prev_same_result"].astype("object").isin(["rejected"])
    later = earlier_ok & (ap["gap_kind"] != "repeat")
    after_loop = later & (ap["backs"] > ap["prev_same_backs"])
    plain = later & ~after_loop
    for rule, m in (("redone_after_loop", after_loop), ("repeated_after_approval", plain)):
        h = ap[m]
        out.append(
            _evidence(
                "redundant_approval", rule, h[ACTIVITY], h[CASE], h["gap_s"].fillna(0), "approved earlier in the case"
            )
        )
    # sequential chains: an approval directly after a different approval
    chain = ap[ap["prev_act"].isin(list(ctx.model.approvals)) & (ap["prev_act"] != ap[ACTIVITY])]
    if len(chain):
        prev_gap = g["gap_s"].shift(1).loc[chain.index]
        saving = np.minimum(chain["gap_s"].fillna(0).to_numpy(), prev_gap.fillna(0).to_numpy())
        where = chain["prev_act"].astype("object") + " → " + chain[ACTIVITY].astype("object")
        out.append(
            _evidence(
                "redundant_approval",
                "sequential_chain",
                where,
                chain[CASE],
                saving,
                "could run in parallel with the previous approval",
            )
        )
    # rubber stamps: needs decisions
    decided = ap[ap["result"].isin(["approved", "rejected"])]
    if len(decided):
        stats = decided.groupby(ACTIVITY)["result"].agg(n="size", rejected=lambda s: int((s == "rejected").sum()))
        stamps = stats[
            (stats["n"] >= ctx.rules.rubber_stamp_min_decisions)
            & (stats["rejected"] <= ctx.rules.rubber_stamp_max_reject * stats["n"])
        ]
        for act, row in stamps.iterrows():
            h = ap[(ap[ACTIVITY] == act) & ap["gap_kind"].isin(["approval", "repeat"])]
            out.append(
                _evidence(
                    "redundant_approval",
                    "rubber_stamp",
                    act,
                    h[CASE],
                    h["gap_s"].fillna(0),
                    f"rejected {int(row['rejected'])} of {int(row['n'])} decisions",
                )
            )
    return out


# --- assembling findings -----------------------------------------------------------------------
def _effects(affected: set[Any], cases: pd.DataFrame, base: pd.Series | None = None) -> dict[str, Any]:
    """Win rate and cycle time of closed cases with vs without (``base`` restricts the comparison)."""
    pool = cases if base is None else cases[base.to_numpy()]
    closed = pool[pool["closed"]]
    is_aff = closed["case_id"].isin(affected)
    a, u = closed[is_aff], closed[~is_aff]
    wr_a = float(a["won"].mean()) if len(a) else math.nan
    wr_u = float(u["won"].mean()) if len(u) else math.nan
    ct_a = float(a["throughput_s"].median()) / 3600 if len(a) else math.nan
    ct_u = float(u["throughput_s"].median()) / 3600 if len(u) else math.nan
    return {
        "closed_affected": len(a),
        "closed_unaffected": len(u),
        "win_rate_affected": wr_a,
        "win_rate_unaffected": wr_u,
        "win_rate_effect": wr_a - wr_u,
        "cycle_time_effect_hours": ct_a - ct_u,
    }


def _comparison_bases(ctx: _Context) -> Any:
    """Which cases a finding is compared with: those that reached its place.

    A skipped stage is compared among cases whose recorded path passes the stage (a stage
    before it and one after it); a finding at a stage, an edge out of a stage or a stalled stage
    among cases that reached that stage (or a later one, or won); an approval finding among cases
    with that approval; anything else among all cases.
    """
    order = {s: i for i, s in enumerate(ctx.model.stages)}
    v, cases = ctx.visits, ctx.cases
    ids = cases["case_id"]
    # furthest stage recorded; a won case has passed every stage, a lost one only those it recorded
    max_order = ids.map(v[v["role"] == "stage"].groupby("case")["order"].max()).fillna(-1)
    max_order = max_order.where(~cases["won"], float(len(ctx.model.stages)))
    min_order = ids.map(v[v["role"] == "stage"].groupby("case")["order"].min()).fillna(math.inf)
    won = cases["won"]
    approvals = ctx.gaps[ctx.gaps["is_approval"].astype(bool)]
    with_activity = approvals.groupby(ACTIVITY)[CASE].agg(lambda s: set(s))

    def base(kind: str, where: str) -> pd.Series | None:
        place = where.split(" → ")[0].removesuffix(" (open, stalled)")
        if kind == "skipped_stage" and place in order:
            k = order[place]
            return (min_order < k) & (max_order > k)
        if place in order:
            return (max_order >= order[place]) | won
        if place in with_activity.index:
            return ids.isin(with_activity[place])
        return None

    return base


def _severity(row: Mapping[str, Any], total_hours: float, rules: FindingRules) -> str:
    drop = -row["win_rate_effect"] if not math.isnan(row["win_rate_effect"]) else 0.0
    judged = row["closed_affected"] >= 10 and row["closed_unaffected"] >= 10
    time_share = row["time_lost_hours"] / total_hours if total_hours > 0 else 0.0
    if row["share"] >= rules.high_share and (
        time_share >= rules.high_time_share or (judged and drop >= rules.high_win_rate_drop)
    ):
        return "high"
    moves = row["time_lost_hours"] > 0 or (judged and abs(drop) >= rules.high_win_rate_drop / 2)
    if row["cases"] >= rules.medium_min_cases and moves:
        return "medium"
    return "low"


def _assemble(evidence: pd.DataFrame, ctx: _Context) -> pd.DataFrame:
    cases = ctx.cases
    n = len(cases)
    total_hours = float(cases["throughput_s"].sum()) / 3600
    if not len(evidence):
        return pd.DataFrame(columns=_COLUMNS)
    base_of = _comparison_bases(ctx)
    rows = []
    for (kind, rule, where), ev in evidence.groupby(["kind", "rule", "where"], sort=True):
        per_case = ev.groupby("case_id")["time_lost_s"].sum().clip(lower=0)
        affected = set(per_case.index)
        eff = _effects(affected, cases, base_of(kind, str(where)))
        ranked = per_case.rename("lost").reset_index().sort_values(["lost", "case_id"], ascending=[False, True])
        examples = ranked.set_index("case_id")["lost"]
        details = ev["detail"].astype(str).value_counts()
        rows.append(
            {
                "kind": kind,
                "rule": rule,
                "where": str(where),
                "cases": len(affected),
                "share": len(affected) / n if n else math.nan,
                "time_lost_hours": float(per_case.sum()) / 3600,
                "time_lost_per_case_hours": float(per_case.mean()) / 3600 if len(per_case) else 0.0,
                "example_cases": tuple(str(c) for c in examples.index[: ctx.rules.examples]),
                "detail": str(details.index[0]) if len(details) else "",
                **eff,
            }
        )
    df = pd.DataFrame(rows)
    df["severity"] = [_severity(r, total_hours, ctx.rules) for r in df.to_dict("records")]
    df["_sev"] = df["severity"].map(_SEVERITY_ORDER)
    # stalled open deals rank after findings about finished work of the same severity: their time keeps
    # growing and some of them are abandoned deals nobody closed
    df["_stalled"] = df["rule"] == "stalled_open"
    df = df.sort_values(
        ["_sev", "_stalled", "time_lost_hours", "cases", "kind", "where"],
        ascending=[True, True, False, False, True, True],
        kind="stable",
    ).drop(columns=["_sev", "_stalled"])
    df["rank"] = np.arange(1, len(df) + 1)
    return df[_COLUMNS].reset_index(drop=True)


# --- root-cause hints --------------------------------------------------------------------------
def _attribute_bands(cases: pd.DataFrame) -> dict[str, pd.Series]:
    skip = {"case_id", "outcome", "throughput_s", "skipped", "backtracks", "repeats", "conforms", "closed", "won"}
    out: dict[str, pd.Series] = {}
    for col in cases.columns:
        if col in skip:
            continue
        s = cases[col]
        if not pd.api.types.is_numeric_dtype(s.dtype) and s.nunique() > 30:
            # numbers stored as text (XES string attributes, CSV columns) are banded like numbers
            num = pd.to_numeric(s, errors="coerce")
            if num.notna().sum() >= 0.95 * s.notna().sum() > 0:
                s = num
        if pd.api.types.is_numeric_dtype(s.dtype) and s.nunique() > 8:
            try:
                bands = pd.qcut(s, 4, duplicates="drop")
            except ValueError:
                continue
            out[f"{col} band"] = bands.astype("str").where(s.notna())
        elif s.nunique(dropna=True) <= 30 and s.notna().any():
            out[str(col)] = s.astype("str").where(s.notna())
    return out


def _root_causes(evidence: pd.DataFrame, findings: pd.DataFrame, cases: pd.DataFrame, top: int) -> pd.DataFrame:
    cols = ["rank", "kind", "where", "attribute", "value", "affected_with", "affected", "all_with", "all", "lift"]
    attrs = _attribute_bands(cases)
    rows = []
    n = len(cases)
    for f in findings.head(top).itertuples():
        ids = set(
            evidence.loc[
                (evidence["kind"] == f.kind) & (evidence["rule"] == f.rule) & (evidence["where"] == f.where), "case_id"
            ]
        )
        is_aff = cases["case_id"].isin(ids).to_numpy()
        a = int(is_aff.sum())
        if a < 3:
            continue
        for name, s in attrs.items():
            vc_all = s.value_counts()
            vc_aff = s[is_aff].value_counts()
            for value, k in vc_aff.items():
                t = int(vc_all.loc[value])  # type: ignore[call-overload]
                lift = (k / a) / (t / n)
                if k >= 3 and lift >= 1.5:
                    rows.append((int(f.rank), f.kind, f.where, name, str(value), int(k), a, t, n, float(lift)))
    df = pd.DataFrame(rows, columns=cols)
    df = df.sort_values(["rank", "lift", "affected_with"], ascending=[True, False, False], kind="stable")
    return df.groupby("rank", sort=False).head(3).reset_index(drop=True)


# --- results -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Findings:
    """Bottlenecks found in a log, ranked by impact, each with evidence.

    ``to_frame()`` has fixed columns (see :data:`FINDING_RULES` for the rules):
    ``kind``, ``where``, ``cases``, ``share``, ``time_lost_hours``, ``win_rate_effect`` (win rate
    of closed affected cases minus closed unaffected ones), ``cycle_time_effect_hours`` (median
    cycle time of closed affected minus unaffected), ``severity`` (high / medium / low),
    ``example_cases`` (the cases that lost most), then ``rule``, ``rank``,
    ``time_lost_per_case_hours``, ``closed_affected``, ``closed_unaffected``,
    ``win_rate_affected``, ``win_rate_unaffected``, ``detail``.
    """

    model: StageModel
    rules: FindingRules
    n_cases: int
    _findings: pd.DataFrame = dataclasses.field(repr=False)
    _evidence: pd.DataFrame = dataclasses.field(repr=False)
    _cases: pd.DataFrame = dataclasses.field(repr=False)
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """All findings, most severe first."""
        return self._findings.copy()

    @property
    def evidence(self) -> pd.DataFrame:
        """One row per (finding, case): ``kind``, ``rule``, ``where``, ``case_id``, ``time_lost_s``, ``detail``."""
        return self._evidence.copy()

    def cases_for(self, kind: str, *, rules: Iterable[str] | None = None, min_severity: str = "low") -> set[str]:
        """The ids of the cases behind the findings of one kind (optionally some rules only)."""
        f = self.filter(kind=kind, min_severity=min_severity)._findings
        if rules is not None:
            f = f[f["rule"].isin(list(rules))]
        keys = set(zip(f["kind"], f["rule"], f["where"], strict=True))
        ev = self._evidence
        m = [k in keys for k in zip(ev["kind"], ev["rule"], ev["where"], strict=True)]
        return {str(c) for c in ev.loc[m, "case_id"]}

    def filter(
        self,
        *,
        kind: str | Iterable[str] | None = None,
        where: str | None = None,
        stage: str | None = None,
        min_severity: str = "low",
    ) -> Findings:
        """A new :class:`Findings` with only some kinds, places or severities.

        ``stage`` keeps findings whose ``where`` mentions that stage (a stage, an edge into or out
        of it, or an approval of that stage).
        """
        f = self._findings
        if kind is not None:
            kinds = {kind} if isinstance(kind, str) else set(kind)
            unknown = kinds - set(FINDING_KINDS)
            if unknown:
                raise ValueError(f"unknown finding kind(s) {sorted(unknown)}; kinds are {FINDING_KINDS}")
            f = f[f["kind"].isin(kinds)]
        if where is not None:
            f = f[f["where"] == where]
        if stage is not None:
            approvals = {a for a, s in self.model.approvals.items() if s == stage}
            f = f[f["where"].map(lambda w: stage in w.split(" → ") or w.startswith(f"{stage} (") or w in approvals)]
        if min_severity not in _SEVERITY_ORDER:
            raise ValueError(f"min_severity must be high, medium or low, not {min_severity!r}")
        f = f[f["severity"].map(_SEVERITY_ORDER) <= _SEVERITY_ORDER[min_severity]]
        return dataclasses.replace(self, _findings=f.reset_index(drop=True))

    @functools.cached_property
    def root_causes(self) -> pd.DataFrame:
        """For the top findings: case attributes over-represented among affected cases.

        Columns ``rank``, ``kind``, ``where``, ``attribute``, ``value``, ``affected_with``,
        ``affected``, ``all_with``, ``all``, ``lift`` = (affected_with/affected)/(all_with/all);
        kept when lift ≥ 1.5 and at least 3 affected cases have the value; three per finding.
        A correlation, not a cause.
        """
        return _root_causes(self._evidence, self._findings, self._cases, top=10)

    def __len__(self) -> int:
        return len(self._findings)

    def __repr__(self) -> str:
        f = self._findings
        counts = f["severity"].value_counts()
        top = f"; top: {f.iloc[0]['kind']} at {f.iloc[0]['where']!r}" if len(f) else ""
        return (
            f"<Findings: {len(f)} ({int(counts.get('high', 0))} high, {int(counts.get('medium', 0))} medium, "
            f"{int(counts.get('low', 0))} low) over {self.n_cases:,} cases{top}>"
        )

    def _repr_html_(self) -> str:
        return _findings_html(self)


@dataclasses.dataclass(frozen=True, eq=False)
class KPIs:
    """Sales-process KPIs of a log against its stage model.

    ``as_dict()`` holds the headline numbers; ``funnel`` and ``time_in_stage`` are tables.
    """

    values: Mapping[str, float]
    funnel: pd.DataFrame
    time_in_stage: pd.DataFrame

    def as_dict(self) -> dict[str, float]:
        """Headline KPIs by name (NaN where a KPI cannot be computed, e.g. no closed cases)."""
        return dict(self.values)

    def to_frame(self) -> pd.DataFrame:
        """Headline KPIs as a two-column table: ``kpi``, ``value``."""
        return pd.DataFrame({"kpi": list(self.values), "value": list(self.values.values())})

    def __repr__(self) -> str:
        v = self.values
        return (
            f"<KPIs: win rate {v['win_rate']:.1%}, cycle time median {v['cycle_time_median_days']:.1f} d, "
            f"rework {v['rework_rate']:.1%}, first-time-right {v['first_time_right_rate']:.1%}>"
        )

    def _repr_html_(self) -> str:
        return _kpis_html(self)


def _resolve(stages: StageModel | Mapping[str, Any] | str | Any) -> StageModel:
    return as_stage_model(stages)


def _context(
    log: EventLog, model: StageModel, rules: FindingRules, conformance: Conformance | None, backend: str
) -> _Context:
    if len(model.stages) < 1:
        raise StageModelError("the stage model has no stages")
    conf = conformance if conformance is not None else conform(log, model)
    gaps = _visits.event_gaps(log, model, backend=backend)
    cases = _case_facts(log, conf)
    visits = _visits.stage_visits(gaps, log)
    outcome = cases.set_index("case_id")["outcome"]
    visits["outcome"] = visits["case"].map(outcome).to_numpy()
    return _Context(log, model, rules, gaps, visits, cases, conf)


def find_bottlenecks(
    log: EventLog,
    stages: StageModel | Mapping[str, Any] | str | Any,
    *,
    rules: FindingRules | None = None,
    kinds: Sequence[str] = FINDING_KINDS,
    conformance: Conformance | None = None,
    backend: str = "polars",
) -> Findings:
    """Find loops, skipped stages, long waits, redundant approvals, slow responses and handoff
    delays, each ranked by impact with evidence.

    Parameters
    ----------
    log:
        The event log (outcomes from its case table, else from the model's outcome activities).
    stages:
        The intended process: a :class:`StageModel`, a dict, or a YAML path.
    rules:
        Thresholds (:class:`FindingRules`); the defaults are documented in ``docs/findings.md``.
    kinds:
        Which kinds to look for (default: all of :data:`FINDING_KINDS`).
    conformance:
        A :func:`conform` result for the same log and model, to avoid computing it again.
    backend:
        Dataframe engine for the per-event timing work (``polars``, ``pandas``, ``duckdb``).

    Examples
    --------
    >>> import pandas as pd, salesmining as sm
    >>> rows = [("A", "Lead", "2024-01-01 09:00"), ("A", "Offer", "2024-01-02 09:00"),
    ...         ("A", "Lead", "2024-01-03 09:00"), ("A", "Offer", "2024-01-09 09:00"),
    ...         ("A", "Won", "2024-01-10 09:00"), ("B", "Lead", "2024-01-01 09:00"),
    ...         ("B", "Offer", "2024-01-02 09:00"), ("B", "Won", "2024-01-03 09:00")]
    >>> log = sm.from_dataframe(pd.DataFrame(rows, columns=["id", "act", "t"]), case="id",
    ...                         activity="act", timestamp="t", timezone="UTC")
    >>> model = sm.StageModel(["Lead", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]})
    >>> f = sm.find_bottlenecks(log, model)
    >>> f.to_frame()[["kind", "where", "cases", "time_lost_hours"]].iloc[0].to_dict()
    {'kind': 'loop', 'where': 'Offer → Lead', 'cases': 1, 'time_lost_hours': 144.0}
    """
    model = _resolve(stages)
    rules = rules or FindingRules()
    bad = set(kinds) - set(FINDING_KINDS)
    if bad:
        raise ValueError(f"unknown finding kind(s) {sorted(bad)}; kinds are {FINDING_KINDS}")
    ctx = _context(log, model, rules, conformance, backend)
    parts: list[pd.DataFrame] = []
    wanted = set(kinds)
    if "loop" in wanted:
        parts += _loops(ctx)
    if "skipped_stage" in wanted:
        parts += _skips(ctx)
    if wanted & {"long_wait", "slow_response"}:
        parts += [p for p in _waits(ctx) if len(p) and p["kind"].iloc[0] in wanted]
    if "handoff_delay" in wanted:
        parts += _handoffs(ctx)
    if "redundant_approval" in wanted:
        parts += _approvals(ctx)
    parts = [p for p in parts if len(p)]
    evidence = pd.concat(parts, ignore_index=True) if parts else _evidence("loop", "", [], [], [])
    evidence["where"] = evidence["where"].astype("str")
    evidence["case_id"] = evidence["case_id"].astype("str")
    evidence = evidence.sort_values(["kind", "rule", "where", "case_id"], kind="stable").reset_index(drop=True)
    findings = _assemble(evidence, ctx)
    warnings = []
    if log.meta.get("loops_unobservable"):
        warnings.append("the export keeps only the latest entry per stage: loops and repeats cannot be seen")
    return Findings(model, rules, len(ctx.cases), findings, evidence, ctx.cases, tuple(warnings))


def kpis(
    log: EventLog,
    stages: StageModel | Mapping[str, Any] | str | Any,
    *,
    conformance: Conformance | None = None,
    backend: str = "polars",
) -> KPIs:
    """Sales KPIs: win rate, cycle time, deal size, rework and first-time-right rates, lead
    response time, a skip-aware stage funnel and time in stage.

    The funnel counts a case as having *reached* a stage when it recorded that stage or any
    later one (or won), so skips do not break it; ``conversion`` is reached(next) / reached.
    """
    model = _resolve(stages)
    ctx = _context(log, model, FindingRules(), conformance, backend)
    cs, v = ctx.cases, ctx.visits
    closed = cs[cs["closed"]]
    ct_days = closed["throughput_s"] / 86400
    rework = (cs["backtracks"].map(len) > 0) | (cs["repeats"].map(len) > 0)
    reached_order = v[v["role"] == "stage"].groupby("case")["order"].max()
    won_cases = set(cs.loc[cs["won"], "case_id"])
    n = len(cs)
    rows = []
    for k, s in enumerate(model.stages):
        reached = int(((reached_order >= k) | reached_order.index.isin(won_cases)).sum())
        rows.append((s, reached, reached / n if n else math.nan))
    funnel = pd.DataFrame(rows, columns=["stage", "reached", "share_of_cases"])
    funnel["conversion"] = (funnel["reached"].shift(-1) / funnel["reached"]).astype("float64")
    funnel.loc[len(funnel) - 1, "conversion"] = (
        len(won_cases) / funnel["reached"].iloc[-1] if funnel["reached"].iloc[-1] else math.nan
    )
    done = v[(v["role"] == "stage") & v["dwell_s"].notna()]
    tis = done.groupby("stage")["dwell_s"].agg(visits="size", median_hours="median", mean_hours="mean")
    tis["p90_hours"] = done.groupby("stage")["dwell_s"].quantile(0.9)
    for c in ("median_hours", "mean_hours", "p90_hours"):
        tis[c] = tis[c] / 3600
    tis = tis.reindex([s for s in model.stages if s in tis.index]).reset_index()
    first = done[(done["stage"] == model.stages[0])].drop_duplicates("case")
    amount = cs[AMOUNT] if AMOUNT in cs.columns else None
    values = {
        "cases": float(n),
        "closed": float(len(closed)),
        "won": float(closed["won"].sum()),
        "lost": float(len(closed) - closed["won"].sum()),
        "open": float(n - len(closed)),
        "win_rate": float(closed["won"].mean()) if len(closed) else math.nan,
        "cycle_time_median_days": float(ct_days.median()) if len(closed) else math.nan,
        "cycle_time_p90_days": float(ct_days.quantile(0.9)) if len(closed) else math.nan,
        "rework_rate": float(rework.mean()) if n else math.nan,
        "first_time_right_rate": float(closed["conforms"].astype(bool).mean()) if len(closed) else math.nan,
        "skip_rate": float((cs["skipped"].map(len) > 0).mean()) if n else math.nan,
        "lead_response_median_hours": float(first["dwell_s"].median()) / 3600 if len(first) else math.nan,
    }
    if amount is not None:
        won_amount = pd.to_numeric(cs.loc[cs["won"], AMOUNT], errors="coerce")
        values["avg_deal_size"] = float(won_amount.mean()) if won_amount.notna().any() else math.nan
        values["won_amount_total"] = float(won_amount.sum())
    return KPIs(values, funnel, cast(pd.DataFrame, tis))


def _fmt_s(seconds: float) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


def _pct(x: float) -> str:
    return "–" if x != x else f"{x:+.0%}" if abs(x) < 10 else f"{x:+.0f}"


def _findings_html(f: object) -> str:
    """Notebook card of a :class:`~salesmining.Findings` (top 12 rows)."""
    frame = f.to_frame()  # type: ignore[attr-defined]
    rows = [
        (
            r["rank"],
            r["severity"],
            r["kind"],
            r["where"],
            f"{r['cases']:,}",
            f"{r['share']:.1%}",
            f"{r['time_lost_hours']:,.0f}",
            _pct(r["win_rate_effect"]),
            ", ".join(r["example_cases"][:3]),
        )
        for r in frame.to_dict("records")
    ]
    facts = [(k, f"{int((frame['severity'] == k).sum())}") for k in ("high", "medium", "low")]
    facts.insert(0, ("cases", f"{f.n_cases:,}"))  # type: ignore[attr-defined]
    body = _display.table(
        ["#", "severity", "kind", "where", "cases", "share", "hours lost", "win rate Δ", "examples"], rows, max_rows=12
    )
    warn = "".join(f"<div>⚠ {_display.esc(w)}</div>" for w in f.warnings)  # type: ignore[attr-defined]
    return _display.card("Findings", facts, body, warn)


def _kpis_html(k: object) -> str:
    """Notebook card of :class:`~salesmining.KPIs`."""
    v = k.as_dict()  # type: ignore[attr-defined]

    def fmt(name: str, val: float) -> str:
        if val != val:
            return "–"
        if name.endswith("_rate"):
            return f"{val:.1%}"
        if name in ("cases", "closed", "won", "lost", "open"):
            return f"{val:,.0f}"
        return f"{val:,.1f}"

    facts = [(name.replace("_", " "), fmt(name, val)) for name, val in v.items()]
    funnel = k.funnel  # type: ignore[attr-defined]
    rows = []
    for r in funnel.to_dict("records"):
        conv = "–" if r["conversion"] != r["conversion"] else f"{r['conversion']:.0%}"
        rows.append((r["stage"], f"{r['reached']:,}", f"{r['share_of_cases']:.0%}", conv))
    fun = _display.table(["stage", "reached", "share", "conversion"], rows)
    return _display.card("KPIs", facts, fun)
