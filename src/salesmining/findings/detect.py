"""Bottleneck findings, ranked by impact, with evidence: :func:`find_bottlenecks` → :class:`Findings`.

Every finding is one ``(kind, rule, where)``: a closed vocabulary of kinds
(:data:`~salesmining.FINDING_KINDS`) and rules (:data:`~salesmining.FINDING_RULES`, in
:mod:`salesmining.core.vocabulary`). Each rule is written down in ``docs/findings.md`` together
with its thresholds, all of which can be changed through :class:`FindingRules`.

The rule families live one per module — :mod:`~salesmining.findings.loops`,
:mod:`~salesmining.findings.skips`, :mod:`~salesmining.findings.waits`,
:mod:`~salesmining.findings.handoffs`, :mod:`~salesmining.findings.approvals` — and write
evidence rows (:mod:`~salesmining.findings.evidence`); :mod:`~salesmining.findings.ranking`
turns them into ranked findings. The KPIs are apart, in :mod:`~salesmining.findings.kpis`.

Time is never counted twice: the gaps between consecutive events of a case are each attributed
to one cause (see :mod:`salesmining.analysis.visits`), and a stage's waiting time is judged on its *net*
dwell — what is left once approval waits, redundant repeats and handoff waits are taken out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesmining.analysis.conform import Conformance
from salesmining.analysis.resources import resource_model
from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.core import frames as _frames
from salesmining.core.errors import OptionError
from salesmining.core.schema import ACTIVITY
from salesmining.core.vocabulary import FINDING_KINDS, FINDING_RULES, PROCESS_LEVEL_RULES
from salesmining.findings.approvals import approval_evidence
from salesmining.findings.attribution import attribute
from salesmining.findings.context import FindingContext, build_context
from salesmining.findings.data_quality import claims_without_backfilled, data_quality_evidence, without_backfilled
from salesmining.findings.evidence import tidy
from salesmining.findings.handoffs import handoff_evidence
from salesmining.findings.kpis import KPIs, kpis
from salesmining.findings.loops import loop_evidence
from salesmining.findings.ranking import assemble
from salesmining.findings.result import Findings
from salesmining.findings.rules import FindingRules
from salesmining.findings.skips import skip_evidence
from salesmining.findings.waits import wait_evidence

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

# the vocabulary, the result types and kpis are re-exported: callers import them from here
__all__ = [
    "FINDING_KINDS",
    "FINDING_RULES",
    "PROCESS_LEVEL_RULES",
    "FindingRules",
    "Findings",
    "KPIs",
    "find_bottlenecks",
    "kpis",
]


def find_bottlenecks(
    log: EventLog,
    stages: StageModel | Mapping[str, Any] | str | Any,
    *,
    rules: FindingRules | None = None,
    kinds: Sequence[str] = FINDING_KINDS,
    conformance: Conformance | None = None,
    backend: str = "polars",
    system_users: Iterable[str] | None = None,
    roles: Mapping[str, str] | None = None,
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
    system_users:
        Owners that are systems or automation (their owner changes are no handoffs). Default:
        detected from the data, each with its reason in ``warnings``; a list replaces detection.
        A CRM reader's ``resource_type == "system"`` is always honoured.
    roles:
        Owner → team/role; handoff findings are then grouped by the pair of roles.

    Every finding's time lost is summed from one attribution table (``Findings.attribution``):
    each gap between two events of a case is charged to at most one finding.

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
    >>> f.to_frame()[["from_activity", "to_activity"]].iloc[0].to_dict()
    {'from_activity': 'Offer', 'to_activity': 'Lead'}
    """
    model = as_stage_model(stages)
    rules = rules or FindingRules()
    bad = set(kinds) - set(FINDING_KINDS)
    if bad:
        raise OptionError(f"unknown finding kind(s) {sorted(bad)}; kinds are {FINDING_KINDS}")
    resources = resource_model(log, system_users=system_users, roles=roles)
    ctx = build_context(log, model, rules, conformance, backend, resources)
    parts: list[pd.DataFrame] = []
    wanted = set(kinds)
    if "loop" in wanted:
        parts += loop_evidence(ctx)
    if "skipped_stage" in wanted:
        parts += skip_evidence(ctx)
    if wanted & {"long_wait", "slow_response"}:
        parts += [p for p in wait_evidence(ctx) if len(p) and p["kind"].iloc[0] in wanted]
    if "handoff_delay" in wanted:
        parts += handoff_evidence(ctx)
    if "redundant_approval" in wanted:
        parts += approval_evidence(ctx)
    if "data_quality" in wanted:
        parts += data_quality_evidence(ctx)
    raw = without_backfilled(tidy(parts), ctx)
    parts.clear()  # the rules' own frames are in ``raw`` now: freed before the larger tables are built
    claimed = list(claims_without_backfilled(ctx.claims, ctx))  # a new list: ctx.claims may be returned as it is
    ctx.claims.clear()
    evidence, attribution = attribute(raw, claimed, ctx.gaps)
    del raw, claimed
    from salesmining.findings.replay import finding_whatifs  # the what-if per finding; imported on use

    findings = finding_whatifs(assemble(evidence, ctx), attribution, ctx)
    warnings = list(resources.reasons) + _context_warnings(ctx)
    if log.meta.get("loops_unobservable"):
        warnings.append("the export keeps only the latest entry per stage: loops and repeats cannot be seen")
    return Findings(model, rules, len(ctx.cases), findings, evidence, ctx.cases, tuple(warnings), attribution)


def _context_warnings(ctx: FindingContext) -> list[str]:
    """What the reader of the findings should know about ties and handoff steps left unjudged."""
    from salesmining.core import formatting

    out = []
    g = ctx.gaps
    # a stage entry at the same instant as the event before it, itself a stage entry (a stage or outcome)
    model = ctx.model
    rows = np.flatnonzero(((g["is_stage"] == 1) & g["gap_s"].eq(0)).to_numpy(dtype=bool))
    tied = rows[_frames.isin(g["prev_act"].iloc[rows], {*model.stages, *model.won, *model.lost}).to_numpy()]
    n_tied = len(np.unique(ctx.case_no[tied]))
    if n_tied:
        out.append(
            f"{formatting.count(n_tied)} cases have stage events sharing a timestamp (bulk updates or day-only "
            "dates): they are read in the stage model's order, and tie order alone raises no finding"
        )
    designed = g["owner_change"] & g["handoff_share"].ge(ctx.rules.handoff_design_share)
    rows = np.flatnonzero(designed.to_numpy(dtype=bool))
    steps = _designed_steps(g, rows)
    if len(rows):
        shown = ", ".join(f"{s} ({formatting.percent(x)})" for s, x in steps[:3])
        out.append(
            f"owner changes at {len(steps)} step(s) are the process's design, not handoff delays (almost every case "
            f"changes owner there; their time is judged as a wait at the step): {shown}"
        )
    return out


def _designed_steps(g: pd.DataFrame, rows: np.ndarray) -> list[tuple[str, float]]:
    """The steps ``prev_act → activity`` of the gap rows ``rows``, most rows first (ties: the step
    seen first), each with the ``handoff_share`` of its first row; on codes, one text per step."""
    from salesmining.analysis.visits import column_codes

    if not len(rows):
        return []
    prev, prev_names = column_codes(g["prev_act"].iloc[rows])
    act, act_names = column_codes(g[ACTIVITY].iloc[rows])
    ok = np.flatnonzero((prev >= 0) & (act >= 0))  # a step with a missing end is no step
    if not len(ok):
        return []
    key = prev[ok] * (len(act_names) + 1) + act[ok]
    codes, uniq = pd.factorize(key)  # the steps numbered in order of their first row
    counts = np.bincount(codes, minlength=len(uniq))
    first = np.flatnonzero(codes > np.maximum.accumulate(np.r_[-1, codes[:-1]]))  # each step's first row
    order = np.argsort(-counts, kind="stable")  # most rows first, ties as seen (as value_counts sorts)
    share = g["handoff_share"].to_numpy(dtype="float64")[rows[ok[first]]]
    width = len(act_names) + 1
    return [(f"{prev_names[uniq[i] // width]} → {act_names[uniq[i] % width]}", float(share[i])) for i in order.tolist()]
