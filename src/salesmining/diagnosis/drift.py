"""The process over time: :func:`drift` → :class:`~salesmining.diagnosis.drift_points.Drift` (the
series, change points and what moved are computed in :mod:`salesmining.diagnosis.drift_points`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.core.errors import OptionError
from salesmining.diagnosis.diagnose import Diagnosis, diagnose
from salesmining.diagnosis.drift_points import FREQS, Drift, compute
from salesmining.findings.detect import FindingRules
from salesmining.log.eventlog import EventLog

__all__ = ["Drift", "drift"]


def drift(
    log: EventLog | Diagnosis,
    stages: StageModel | Mapping[str, Any] | str | Any | None = None,
    *,
    freq: str = "W",
    rules: FindingRules | None = None,
    calendar: Any = None,
    min_cases: int = 10,
    alpha: float = 0.05,
) -> Drift:
    """The process over time by case-start period, with its change points.

    ``freq``: ``"W"`` (weeks, Monday to Sunday, UTC) or ``"M"`` (months). Every period's metrics
    — median and 90th-percentile cycle time, the share of cases on the intended path, the skip and
    rework rates, the win rate (only when a lost outcome exists) and each finding kind's share of
    cases — count the cases followed for the whole horizon (:func:`~salesmining.diagnosis.compare.horizon_days`)
    and closed within it; periods with fewer than ``min_cases`` such cases are marked, not dropped,
    and not used for change points. Change points come from PELT (as ``ruptures``, in numpy) on the
    case-weighted series and are kept when a test on the cases either side (Mann–Whitney for cycle
    time, two proportions for rates) is significant at ``alpha`` after a Bonferroni factor for the
    splits PELT could have chosen and a Benjamini–Hochberg correction over every candidate
    (``docs/drift.md``). ``calendar`` (a :class:`BusinessCalendar`): cycle times in working days
    (the horizon and the follow-up stay calendar time). ``log`` may be a :class:`Diagnosis` (its
    parts are reused; with ``rules`` a new one is made).

    Split a log at a change found: ``sm.compare(log, at=dr.change_points["date"][0], stages=model)``.
    """
    if freq not in FREQS:
        raise OptionError(f"freq must be one of {tuple(FREQS)}, not {freq!r}")
    if not isinstance(min_cases, int) or min_cases < 2:
        raise OptionError(f"min_cases must be an integer of at least 2, not {min_cases!r}")
    if not 0 < float(alpha) < 1:
        raise OptionError(f"alpha must be between 0 and 1, not {alpha!r}")
    if isinstance(log, Diagnosis):
        d = log
        if rules is not None:  # a fresh diagnosis, the caller's left as it is
            d = diagnose(d.log, d.stages, rules=rules)
    else:
        if stages is None:
            raise OptionError("drift needs the stage model (stages=...)")
        d = diagnose(log, as_stage_model(stages), rules=rules)
    return compute(d, freq=freq, min_cases=min_cases, alpha=float(alpha), calendar=calendar)
