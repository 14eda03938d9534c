"""What every rule family reads about one log: its stage visits, per-event gaps and case facts.

Built once per :func:`~salesmining.find_bottlenecks` / :func:`~salesmining.kpis` call; the gaps
between consecutive events are each attributed to one cause (see
:mod:`salesmining.analysis.visits`), so no rule counts the same time twice.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesmining.analysis import visits as _visits
from salesmining.analysis.conform import Conformance, conform
from salesmining.analysis.resources import ResourceModel, resource_model
from salesmining.analysis.stages import StageModel
from salesmining.core.errors import StageModelError
from salesmining.core.schema import CASE, OUTCOME
from salesmining.findings.rules import FindingRules

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = ["FindingContext", "build_context", "fence", "targets"]


@dataclasses.dataclass(frozen=True)
class FindingContext:
    """The shared per-log facts of one findings run."""

    log: EventLog
    model: StageModel
    rules: FindingRules
    gaps: pd.DataFrame  # one row per event: the gap before it and its cause
    visits: pd.DataFrame  # one row per stage (or approval/other) visit
    cases: pd.DataFrame  # case_id, outcome, throughput_s, closed, won + attributes
    conformance: Conformance
    resources: ResourceModel = dataclasses.field(default_factory=ResourceModel)
    #: the gap claims the rule families make (see :mod:`salesmining.findings.attribution`)
    claims: list[pd.DataFrame] = dataclasses.field(default_factory=list)


def _case_facts(log: EventLog, conf: Conformance) -> pd.DataFrame:
    cf = conf.to_frame()[["case_id", "outcome", "throughput_s", "skipped", "backtracks", "repeats", "conforms"]]
    attrs = log.cases.drop(columns=[OUTCOME]).rename(columns={CASE: "case_id"})
    out = cf.merge(attrs, on="case_id", how="left")
    out["closed"] = out["outcome"].isin(["won", "lost"])
    out["won"] = out["outcome"] == "won"
    return out


def build_context(
    log: EventLog,
    model: StageModel,
    rules: FindingRules,
    conformance: Conformance | None,
    backend: str,
    resources: ResourceModel | None = None,
) -> FindingContext:
    """Conformance (unless given), per-event gaps, stage visits with their case's outcome, case facts.

    ``resources`` (system users, roles) defaults to :func:`resource_model` of the log (detected)."""
    if len(model.stages) < 1:
        raise StageModelError("the stage model has no stages")
    conf = conformance if conformance is not None else conform(log, model)
    res = resources if resources is not None else resource_model(log)
    reference = _visits.HandoffReference(rules.handoff_design_share, rules.min_reference, rules.handoff_min_cases)
    gaps = _visits.event_gaps(log, model, backend=backend, resources=res, handoff=reference)
    cases = _case_facts(log, conf)
    visits = _visits.stage_visits(gaps, log, model)
    outcome = cases.set_index("case_id")["outcome"]
    visits["outcome"] = visits["case"].map(outcome).to_numpy()
    return FindingContext(log, model, rules, gaps, visits, cases, conf, res)


def fence(values: pd.Series, k: float, min_n: int) -> float:
    """The robust outlier fence ``exp(Q3 + k·IQR)`` of the positive log durations; ``inf`` with too few."""
    v = values[(values > 0) & values.notna()]
    if len(v) < min_n:
        return math.inf
    lg = np.log(v.to_numpy(dtype="float64"))
    q1, q3 = np.quantile(lg, [0.25, 0.75])
    return float(np.exp(q3 + k * (q3 - q1)))


def targets(
    ctx: FindingContext, values: pd.DataFrame, key: str, durations: str, sla: Mapping[str, pd.Timedelta]
) -> pd.Series:
    """Per row: the target duration (seconds) — the SLA of its key, else the robust fence."""
    fences = {
        name: fence(grp[durations], ctx.rules.outlier_k, ctx.rules.min_reference)
        for name, grp in values.groupby(key, sort=True)
    }
    sla_s = {k: td.total_seconds() for k, td in sla.items()}
    return values[key].map(lambda k: sla_s.get(k, fences.get(k, math.inf))).astype("float64")
