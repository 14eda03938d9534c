"""The closed vocabularies of findings: their kinds, their rules and which rules are process-level.

Every layer that names a finding (the rules that make them, the reports that explain them, the
before/after comparison) reads these names from here. Each rule is written down in
``docs/findings.md`` together with its thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FINDING_KINDS", "FINDING_RULES", "PROCESS_LEVEL_RULES"]

#: The closed vocabulary of finding kinds.
FINDING_KINDS: tuple[str, ...] = (
    "loop",
    "skipped_stage",
    "long_wait",
    "redundant_approval",
    "slow_response",
    "handoff_delay",
    "data_quality",
)

#: Every rule, by kind, with the plain-language test it applies.
FINDING_RULES: Mapping[str, Mapping[str, str]] = {
    "loop": {
        "backward_move": "the case moved back from a stage to an earlier stage (outcomes passed over, allowed "
        "backtracks and tie order excepted: conform's backtracks); time lost = the gaps of the stages visited "
        "while behind the furthest stage already reached",
        "reopened": "a stage event after an outcome (conform's reopened cases); time lost = the gaps of the "
        "stages visited after the reopen",
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
    "data_quality": {
        "backfilled": "a case entered after the fact: its first stage entries (3 by default) within minutes "
        "(1 h) where the log typically takes a day or more for them; its stage times are not judged as "
        "waits or skips nor used as references; no time lost",
    },
}

#: Rules about the process as a whole (its design or its current state) rather than events that
#: happened to a case: left out when comparing per-case shares before/after.
PROCESS_LEVEL_RULES = frozenset({"sequential_chain", "rubber_stamp", "stalled_open"})
