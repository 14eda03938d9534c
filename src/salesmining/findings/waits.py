"""Waiting rules: slow first response, long stage dwell, long approval waits, stalled open cases.

A stage is judged on its *net* dwell (approval waits, redundant repeats and handoff waits have
rules of their own); the target is the SLA of the stage model, else a robust fence of the log's
own durations (:func:`~salesmining.findings.context.fence`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from salesmining.analysis.visits import column_codes
from salesmining.core import formatting
from salesmining.core.schema import ACTIVITY, CASE, TIMESTAMP
from salesmining.findings.attribution import claims, tail_claims, visit_keys
from salesmining.findings.codes import text_in
from salesmining.findings.context import FindingContext, previous_same, stall_limits, targets
from salesmining.findings.evidence import at, between, evidence, evidence_by_rule

__all__ = ["wait_evidence"]

#: the gap rows' visit keys (:func:`~salesmining.findings.attribution.visit_keys`)
_Keys = tuple[int, np.ndarray, np.ndarray]


def _dur(seconds: float) -> str:
    return formatting.short_duration(seconds, smallest="min")


def _durs(seconds: pd.Series) -> np.ndarray:
    """:func:`_dur` of every value, in one call."""
    return formatting.short_durations(seconds.to_numpy(dtype="float64"), smallest="min")


def _limit_text(stage: str, limit_s: float, ctx: FindingContext) -> str:
    """Where a stall limit comes from, with its number: the SLA, or the closed cases' quantile."""
    if stage in ctx.model.sla:
        return f"SLA {_dur(limit_s)}"
    share = formatting.percent(ctx.rules.stall_quantile, digits=0)
    return f"limit {_dur(limit_s)}: {share} of closed cases left this stage sooner"


def wait_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """``slow_response``, ``long_wait`` (stage, approval) and ``stalled_open`` evidence."""
    v = ctx.visits
    # finished stage visits at the frontier (the rows of ctx.visits, as the index says)
    rows = np.flatnonzero(
        text_in(v["role"], ["stage"]) & ~v["behind"].to_numpy(dtype=bool) & v["net_s"].notna().to_numpy()
    )
    done = v[["case", "visit_no", "stage", "net_s"]].iloc[rows]
    stage = column_codes(done["stage"])[0]
    key = ctx.visit_case_no(rows).astype("int64") * (int(stage.max()) + 1 if len(stage) else 1) + stage
    # a case's first visit of the stage: no earlier row with its key (a sort of nearly sorted keys, no hashing)
    done = done.assign(first_visit=previous_same(key) < 0)
    model = ctx.model
    first, second = ctx.rules.response or (model.stages[0], model.stages[1] if len(model.stages) > 1 else None)
    # the gap rows' visit keys, read once for both charges (and freed after them)
    most = v["visit_no"].to_numpy(dtype="float64")
    keys = visit_keys(ctx.gaps, ctx.case_no, float(np.nanmax(most)) if np.isfinite(most).any() else 0.0)
    out = [
        _slow_response(ctx, done, first, second, keys),
        _stage_dwell(ctx, done[~text_in(done["stage"], [first])].copy(), keys),
    ]
    del keys
    approvals = _approval_waits(ctx)
    if approvals is not None:
        out.append(approvals)
    stalled = _stalled_open(ctx)
    if stalled is not None:
        out.append(stalled)
    return out


def _visit_targets(ctx: FindingContext, visits: pd.DataFrame) -> pd.Series:
    """:func:`targets` of finished stage visits (rows of ``ctx.visits``, as their index says): net dwell."""
    reference = ctx.reference_flags(ctx.visit_case_no(visits.index.to_numpy()))
    return targets(ctx, visits, "stage", "net_s", ctx.model.sla, reference=reference)


def _target_details(before: str, seconds: pd.Series, middle: str, target: pd.Series) -> np.ndarray:
    """``f"{before}{_dur(seconds)}{middle}{_dur(target)})"`` per row: each distinct target formatted
    once (targets repeat), joined in Arrow (object array of ``str``)."""
    at, uniq = pd.factorize(target.to_numpy(dtype="float64"), use_na_sentinel=False)
    targets_text = pa.array([_dur(t) for t in uniq.tolist()], type=pa.large_string())
    words = [pa.scalar(w, type=pa.large_string()) for w in (before, middle, ")", "")]
    durations = pa.array(_durs(seconds).tolist(), type=pa.large_string())
    joined = pc.binary_join_element_wise(
        words[0], durations, words[1], targets_text.take(pa.array(np.asarray(at, dtype="int64"))), words[2], words[3]
    )
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


def _charge(ctx: FindingContext, hit: pd.DataFrame, kind: str, rule: np.ndarray, where: object, keys: _Keys) -> None:
    """Claim the time a stay spent beyond its target: the tail of the visit's own gaps.

    ``hit``: rows of ``ctx.visits`` (as their index says); their cases are known by number, so no
    case id is looked up or materialised here."""
    hits = {
        "case": ctx.visit_case_no(hit.index.to_numpy()),
        "visit_no": hit["visit_no"].to_numpy(),
        "excess_s": (hit["net_s"] - hit["target"]).to_numpy(),
        "rule": rule,
        "where": where if not isinstance(where, str) else np.full(len(hit), where, dtype=object),
    }
    ctx.claims.append(
        tail_claims(
            ctx.gaps,
            hits,
            kind,
            case_no=ctx.case_no,
            case_index=ctx.case_index,
            by_number=True,
            keys=keys,
        )
    )


def _slow_response(
    ctx: FindingContext, done: pd.DataFrame, first: str, second: str | None, keys: _Keys
) -> pd.DataFrame:
    """The first visit of the first stage, judged as the time to the first response."""
    model = ctx.model
    resp = done[text_in(done["stage"], [first]) & done["first_visit"].to_numpy(dtype=bool)].copy()
    resp["target"] = _visit_targets(ctx, resp)
    hit = resp[resp["net_s"] > resp["target"]]
    rule = np.where(text_in(hit["stage"], model.sla), "response_over_sla", "response_outlier")
    place = between(first, second, target_text="next stage")
    _charge(ctx, hit, "slow_response", rule, place.where, keys)
    return evidence_by_rule(
        "slow_response",
        rule,
        place,
        hit["case"],
        hit["net_s"] - hit["target"],
        _target_details("first response after ", hit["net_s"], " (target ", hit["target"]),
    )


def _stage_dwell(ctx: FindingContext, rest: pd.DataFrame, keys: _Keys) -> pd.DataFrame:
    """Net dwell of every finished stage visit but the first stage's (that is the response time)."""
    model = ctx.model
    rest["target"] = _visit_targets(ctx, rest)
    hit = rest[rest["net_s"] > rest["target"]]
    rule = np.where(text_in(hit["stage"], model.sla), "stage_over_sla", "stage_outlier")
    _charge(ctx, hit, "long_wait", rule, hit["stage"].array, keys)
    return evidence_by_rule(
        "long_wait",
        rule,
        at(hit["stage"]),
        hit["case"],
        hit["net_s"] - hit["target"],
        _target_details("", hit["net_s"], " in stage (target ", hit["target"]),
    )


def _approval_waits(ctx: FindingContext) -> pd.DataFrame | None:
    g = ctx.gaps
    ap = g.loc[text_in(g["gap_kind"], ["approval"]), [CASE, ACTIVITY, "gap_s"]]
    if not len(ap):
        return None
    sla = ctx.model.approval_sla
    ap["target"] = targets(ctx, ap, ACTIVITY, "gap_s", sla, reference=ctx.reference_flags(ctx.case_no[ap.index]))
    hit = ap[ap["gap_s"] > ap["target"]]
    rule = np.where(text_in(hit[ACTIVITY], sla), "approval_over_sla", "approval_outlier")
    ctx.claims.append(
        claims("long_wait", rule, hit[ACTIVITY].array, hit[CASE].array, hit.index, hit["gap_s"] - hit["target"])
    )
    return evidence_by_rule(
        "long_wait",
        rule,
        at(hit[ACTIVITY]),
        hit[CASE],
        hit["gap_s"] - hit["target"],
        _target_details("decision after ", hit["gap_s"], " (target ", hit["target"]),
    )


def _stalled_open(ctx: FindingContext) -> pd.DataFrame | None:
    """Open cases in their current stage beyond its target, as of ``rules.as_of`` (default: the log's end)."""
    v = ctx.visits
    as_of = ctx.rules.as_of
    now = pd.Timestamp(as_of) if as_of is not None else ctx.log._events[TIMESTAMP].max()
    if now.tzinfo is None:
        now = now.tz_localize("UTC")
    now_us = int(now.value // 1000)  # Timestamp.value is nanoseconds since the epoch
    last = np.flatnonzero(text_in(v["role"], ["stage"]) & v["exit_us"].isna().to_numpy())  # each case's last stay
    is_open = last[~text_in(v["outcome"].iloc[last], ["won", "lost"])]  # the outcome read for those alone
    openv = v[["case", "stage", "entry_us"]].iloc[is_open]
    if not len(openv):
        return None
    openv["age_s"] = (now_us - openv["entry_us"]) / 1e6
    # the limit: the stage's SLA, else what closed cases took there (stall_quantile); see stall_limits
    openv["target"] = openv["stage"].map(stall_limits(ctx, openv["stage"])).astype("float64")
    hit = openv[openv["age_s"] > openv["target"]]
    return evidence(
        "long_wait",
        "stalled_open",
        at(hit["stage"], stalled=True),
        hit["case"],
        hit["age_s"] - hit["target"],
        _stall_details(ctx, hit),
    )


def _stall_details(ctx: FindingContext, hit: pd.DataFrame) -> np.ndarray:
    """``"in stage for {age} so far ({limit})"`` per stalled visit: each (stage, limit) text made once,
    joined with the ages in Arrow (object array of ``str``)."""
    stage, target = hit["stage"], hit["target"].to_numpy(dtype="float64")
    at, pair = pd.MultiIndex.from_arrays([stage.astype(object).to_numpy(), target]).factorize()
    texts = [_limit_text(s, t, ctx) for s, t in pair] if len(at) else []
    ages = pa.array(_durs(hit["age_s"]).tolist(), type=pa.large_string())
    limits = pa.array(texts, type=pa.large_string()).take(pa.array(np.asarray(at, dtype="int64")))
    words = [pa.scalar(w, type=pa.large_string()) for w in ("in stage for ", " so far (", ")", "")]
    joined = pc.binary_join_element_wise(words[0], ages, words[1], limits, words[2], words[3])
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)
