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
    handoff_alpha:
        Handoffs are judged at a step only where waits with an owner change are systematically
        longer than without one: a one-sided Mann–Whitney test, ``p < handoff_alpha``.
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
    root_cause_min_cases, root_cause_min_share, root_cause_min_lift:
        A root-cause hint needs at least ``root_cause_min_cases`` affected cases holding the
        value, at least ``root_cause_min_share`` of the affected cases, and a lift of at least
        ``root_cause_min_lift`` against the cases of the same status (closed / open / all).
    material_time_share, material_case_share:
        Materiality: a finding is *medium* or *high* on time only when its time lost is at least
        ``material_time_share`` of all case time **and** at least ``material_case_share`` of the
        log's typical case duration (the median of closed cases) per affected case; otherwise it
        needs a win-rate move to be more than *low*.
    win_rate_z:
        A win-rate move counts for severity only when a two-proportion z-test of affected against
        comparable unaffected closed cases gives ``|z|`` at least this (1.96: 95%).
    stall_quantile:
        Without an SLA, an open case is stalled when it has been in its stage longer than this
        quantile of the time *closed* cases spent in the same stage (needs ``min_reference`` of
        them; no closed reference, no stall verdict). Outlier fences are learned from the closed
        cases' durations too (from all finished ones when fewer than ``min_reference`` closed).
    backfill_min_stages, backfill_window, backfill_contrast:
        A case is back-filled (entered after the fact) when its first ``backfill_min_stages``
        stage/outcome entries fall within ``backfill_window`` while the log's median time for
        the same number of entries is at least ``backfill_contrast`` times that window; its
        stage times are then not judged as waits or skips, nor used as references.
    """

    outlier_k: float = 2.0
    handoff_quantile: float = 0.9
    handoff_alpha: float = 0.05
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
    root_cause_min_cases: int = 3
    root_cause_min_share: float = 0.2
    root_cause_min_lift: float = 1.5
    # --- materiality, limits without an SLA, back-filled cases (issue 14, items 4, 5, 11)
    material_time_share: float = 0.005
    material_case_share: float = 0.05
    win_rate_z: float = 1.96
    stall_quantile: float = 0.9
    backfill_min_stages: int = 3
    backfill_window: str | pd.Timedelta = "1h"
    backfill_contrast: float = 24.0
