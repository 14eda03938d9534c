"""The thresholds every finding rule applies, in one frozen dataclass (see ``docs/findings.md``)."""

from __future__ import annotations

import dataclasses

import pandas as pd

__all__ = ["FindingRules"]


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
        Fewest reference durations needed to compute a fence or a handoff reference (the same
        step without an owner change).
    handoff_min_cases:
        A handoff is judged only at a step (else the same activity) with at least this many
        owner changes as well as ``min_reference`` gaps without one.
    handoff_design_share:
        A step where at least this share of the gaps changes owner is the process's design, not
        a handoff delay: its time is a wait at that step.
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
    handoff_design_share: float = 0.9
    handoff_min_cases: int = 3
    rubber_stamp_max_reject: float = 0.02
    rubber_stamp_min_decisions: int = 20
    high_share: float = 0.05
    high_time_share: float = 0.02
    high_win_rate_drop: float = 0.10
    medium_min_cases: int = 3
    examples: int = 5
    response: tuple[str, str] | None = None
    as_of: str | pd.Timestamp | None = None
