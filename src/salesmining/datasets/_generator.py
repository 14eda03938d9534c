"""Seeded generator of a synthetic B2B opportunity (sales pipeline) event log.

The generator simulates opportunities moving through a five-stage sales process
(Lead -> Contact -> Needs Analysis -> Solution Proposal -> Quote & Negotiation)
and ending in ``Contract Signed`` or ``Closed Lost`` (or still open at the export
time).  Deliberate process problems are injected per case and recorded in a
ground-truth table, so that detectors can be evaluated against known answers.

Only :class:`numpy.random.Generator` is used for randomness, so the output is a
pure function of the arguments.

Timing rules (all durations are calendar time):

* Normal stage dwell (stage entry -> entry of the next stage or outcome) is a
  lognormal draw that depends on the segment, truncated to at most 92 % of the
  stage SLA; working-hour snapping never pushes it above 95 % of the SLA.
* Normal approvals take 0.5 h to 34 h after the previous event of the case
  (the request), always below every ``approval_sla``.
* Injected durations: ``slow_response`` 3-10 days Lead -> Contact;
  ``handoff_delay`` 5-12 days between the two stage events;
  ``long_wait`` on a stage 4-8 x its SLA, on an approval 6-15 days;
  ``redundant_approval`` repeats come 1-3 days after the previous approval.

With ``negatives=`` the log also carries artefacts that are not problems (system users,
a designed SDR -> account-executive handoff, bulk-update ties, back-filled deals, young
open deals censored by the export), each in the ground truth with the finding kinds that
must not be raised for it; :mod:`salesmining.datasets.scoring` scores findings against both.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from salesmining.core.errors import OptionError

__all__ = [
    "DEFAULT_NEGATIVES",
    "DEFAULT_RATES",
    "EVENT_COLUMNS",
    "GROUND_TRUTH_COLUMNS",
    "NEGATIVE_KINDS",
    "NEGATIVE_MUST_NOT_RAISE",
    "PROBLEM_KINDS",
    "SAMPLE_COLUMNS",
    "SAMPLE_LOGS_DIR",
    "generate_sales_log",
    "stages_yaml",
    "write_sample_logs",
]

#: Problem kinds that can be injected, in the order used to sort the ground truth.
PROBLEM_KINDS: tuple[str, ...] = (
    "loop",
    "skipped_stage",
    "long_wait",
    "redundant_approval",
    "slow_response",
    "handoff_delay",
)

#: Default injection rate of each problem kind: the approximate share of all
#: generated cases that get the problem (see :func:`generate_sales_log`).
DEFAULT_RATES: dict[str, float] = {
    "loop": 0.12,
    "skipped_stage": 0.10,
    "long_wait": 0.10,
    "redundant_approval": 0.08,
    "slow_response": 0.10,
    "handoff_delay": 0.06,
}

#: Artefacts a real CRM export has that are *not* process problems (negatives): each is recorded
#: in the ground truth with the finding kinds that must not be raised for it (see
#: :func:`generate_sales_log`, ``negatives=``).
NEGATIVE_KINDS: tuple[str, ...] = (
    "system_user",
    "designed_handoff",
    "bulk_update_tie",
    "backfilled_deal",
    "censored_open",
)

#: Rate of each negative when ``negatives=True`` (the meaning of each rate is in
#: :func:`generate_sales_log`).
DEFAULT_NEGATIVES: dict[str, float] = {
    "system_user": 0.9,
    "designed_handoff": 0.95,
    "bulk_update_tie": 0.06,
    "backfilled_deal": 0.03,
    "censored_open": 0.05,
}

#: The finding kinds that must not be raised for a negative, at the place named in its ``where``.
NEGATIVE_MUST_NOT_RAISE: dict[str, tuple[str, ...]] = {
    "system_user": ("handoff_delay",),
    "designed_handoff": ("handoff_delay",),
    "bulk_update_tie": ("loop", "skipped_stage"),
    "backfilled_deal": PROBLEM_KINDS,
    "censored_open": ("long_wait",),
}

#: Column order of the events table.
EVENT_COLUMNS: tuple[str, ...] = (
    "Opportunity ID",
    "Activity",
    "Timestamp",
    "Owner",
    "Approval Result",
    "Segment",
    "Region",
    "Lead Source",
    "Amount",
    "Product",
)

#: The reader keywords for a generated log and the bundled ``sample_logs/*.csv``:
#: ``sm.read_csv(path, **SAMPLE_COLUMNS)`` or ``sm.from_dataframe(events, **SAMPLE_COLUMNS)``.
SAMPLE_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "case": "Opportunity ID",
        "activity": "Activity",
        "timestamp": "Timestamp",
        "resource": "Owner",
        "approval_result": "Approval Result",
        "amount": "Amount",
    }
)

#: Column order of the ground-truth table.
GROUND_TRUTH_COLUMNS: tuple[str, ...] = ("case_id", "kind", "where", "detail", "must_not_raise")

#: ``sample_logs/`` directory of a source checkout (may not exist when installed).
SAMPLE_LOGS_DIR: Path = Path(__file__).resolve().parents[3] / "sample_logs"

# --------------------------------------------------------------------------
# Process definition
# --------------------------------------------------------------------------
LEAD = "Lead"
CONTACT = "Contact"
NEEDS = "Needs Analysis"
PROPOSAL = "Solution Proposal"
QUOTE = "Quote & Negotiation"
WON = "Contract Signed"
LOST = "Closed Lost"
DISCOUNT = "Discount Approval"
MANAGER = "Manager Approval"
LEGAL = "Legal Review"
CALL = "Call"
EMAIL = "Email"
ARCHIVED = "Archived"  # the automation user's nightly clean-up, outside the stage model

STAGES: tuple[str, ...] = (LEAD, CONTACT, NEEDS, PROPOSAL, QUOTE)
APPROVALS: tuple[str, ...] = (DISCOUNT, MANAGER, LEGAL)

_DAY = 24.0
#: Stage SLA in hours (target dwell, stage entry -> next stage entry).
STAGE_SLA_H: dict[str, float] = {
    LEAD: 1 * _DAY,
    CONTACT: 5 * _DAY,
    NEEDS: 7 * _DAY,
    PROPOSAL: 10 * _DAY,
    QUOTE: 14 * _DAY,
}
#: Approval SLA in hours (request = previous event -> approval event).
APPROVAL_SLA_H: dict[str, float] = {DISCOUNT: 2 * _DAY, MANAGER: 2 * _DAY, LEGAL: 5 * _DAY}

ZH_NAMES: dict[str, str] = {
    LEAD: "潜在客户识别",
    CONTACT: "客户接触",
    NEEDS: "需求分析",
    PROPOSAL: "解决方案制定",
    QUOTE: "报价与谈判",
    WON: "合同签署",
    LOST: "输单",
    DISCOUNT: "折扣审批",
    MANAGER: "经理审批",
    LEGAL: "法务审核",
    CALL: "电话",
    EMAIL: "邮件",
    ARCHIVED: "已归档",
}

_SLA_COMMENT = (
    "# target dwell time in each stage (entry of the stage -> entry of the next stage/outcome);"
    " durations like 1d, 36h, 90m"
)
_STAGES_YAML_TEMPLATE = """\
name: {name}
stages: [{stages}]
optional: []
outcomes:
  won: [{won}]
  lost: [{lost}]
approvals:
  {discount}: {quote}
  {manager}: {quote}
  {legal}: {quote}
anywhere: [{call}, {email}]
allowed_backtracks: []
sla:            {sla_comment}
  {lead}: 1d
  {contact}: 5d
  {needs}: 7d
  {proposal}: 10d
  {quote}: 14d
approval_sla:   # target time from the approval request (previous event) to the approval event
  {discount}: 2d
  {manager}: 2d
  {legal}: 5d
"""

# --------------------------------------------------------------------------
# Case attribute vocabularies
# --------------------------------------------------------------------------
SEGMENTS: tuple[str, ...] = ("SMB", "Mid-Market", "Enterprise")
_SEGMENT_P = np.array([0.45, 0.35, 0.20])
#: (median amount EUR, lognormal sigma) per segment.
_AMOUNT_PARAMS: dict[str, tuple[float, float]] = {
    "SMB": (15_000.0, 0.5),
    "Mid-Market": (55_000.0, 0.5),
    "Enterprise": (220_000.0, 0.6),
}
#: Median stage dwell as a fraction of the stage SLA, per segment.
_DWELL_MEDIAN_FRAC: dict[str, float] = {"SMB": 0.24, "Mid-Market": 0.32, "Enterprise": 0.40}
_DWELL_SIGMA = 0.5
_DWELL_MAX_FRAC = 0.92  # truncation of a normal dwell draw (fraction of SLA)
_DWELL_HARD_FRAC = 0.95  # working-hour snapping never exceeds this (fraction of SLA)
_DWELL_MIN_FRAC = 0.03

LEAD_SOURCES: tuple[str, ...] = ("Web", "Referral", "Event", "Outbound", "Partner")
_LEAD_SOURCE_P = np.array([0.30, 0.15, 0.15, 0.25, 0.15])

#: Amount above which a Manager Approval is required (EUR).
MANAGER_THRESHOLD_EUR = 40_000.0
_DISCOUNT_P = 0.60
_REJECT_P = 0.10
_OPEN_P = 0.19  # share of cases that are cut mid-process (still open at export)


#: Approximate share of cases that reach the point where each problem can be
#: injected (measured on 40,000 simulated plans); an eligible case gets the
#: problem with probability ``rate / share`` so that ``rate`` is a share of all cases.
_ELIGIBLE_SHARE: dict[str, float] = {
    "loop": 0.62,
    "skipped_stage": 0.81,
    "long_wait": 0.92,
    "redundant_approval": 0.25,
    "slow_response": 0.92,
    "handoff_delay": 0.81,
}

#: Share of cases with two consecutive stages after Contact (handoff eligibility next to a designed handoff).
_DESIGNED_HANDOFF_ELIGIBLE_SHARE = 0.70


@dataclass(frozen=True)
class _Vocabulary:
    """Language-specific names of regions, reps, approvers and products."""

    regions: tuple[str, ...]
    region_p: tuple[float, ...]
    region_utc_offset_h: tuple[float, ...]
    reps: tuple[tuple[str, ...], ...]  # per region
    approvers: Mapping[str, tuple[str, ...]]
    products: tuple[str, ...]
    product_p: tuple[float, ...]
    case_prefix: str
    sdrs: tuple[tuple[str, ...], ...]  # per region: sales development reps (designed handoff)
    system_user: str


_EN = _Vocabulary(
    regions=("DACH", "UK & Ireland", "France & Benelux", "Nordics", "Southern Europe", "North America"),
    region_p=(0.25, 0.18, 0.20, 0.10, 0.12, 0.15),
    region_utc_offset_h=(1.0, 0.0, 1.0, 1.0, 1.0, -5.0),
    reps=(
        ("Anna Weber", "Lukas Braun", "Sabine Hofmann"),
        ("Oliver Grant", "Emily Walsh", "James Carter"),
        ("Camille Martin", "Hugo Lefebvre", "Sanne de Vries"),
        ("Erik Johansson", "Maja Nielsen", "Ola Hansen"),
        ("Lucia Romano", "Javier Ortega", "Ines Costa"),
        ("Megan Brooks", "Tyler Nguyen", "Rachel Kim"),
    ),
    approvers={
        DISCOUNT: ("Approver: Dana Reyes", "Approver: Omar Haddad"),
        MANAGER: ("Approver: Claire Dubois", "Approver: Martin Keller", "Approver: Sofia Lindqvist"),
        LEGAL: ("Approver: Priya Nair", "Approver: Tom Becker"),
    },
    products=("CloudSuite CRM", "DataHub Analytics", "SecureLink Gateway", "FieldOps Mobile", "Integration Services"),
    product_p=(0.30, 0.25, 0.15, 0.15, 0.15),
    case_prefix="OPP-",
    sdrs=(
        ("Jonas Fischer", "Lea Wagner"),
        ("Harry Evans", "Chloe Price"),
        ("Louis Bernard", "Eva Janssen"),
        ("Nils Berg", "Freja Lund"),
        ("Marco Conti", "Ana Ferreira"),
        ("Jordan Lee", "Ashley Diaz"),
    ),
    system_user="System",
)

_ZH = _Vocabulary(
    regions=("华东", "华北", "华南", "华中", "西南"),
    region_p=(0.32, 0.24, 0.22, 0.12, 0.10),
    region_utc_offset_h=(8.0, 8.0, 8.0, 8.0, 8.0),
    reps=(
        ("张伟", "王芳", "李娜"),
        ("刘洋", "陈静", "杨帆"),
        ("赵磊", "黄丽", "周杰"),
        ("吴敏", "徐婷", "孙浩"),
        ("马超", "朱琳", "胡斌"),
    ),
    approvers={
        DISCOUNT: ("审批人：郑强", "审批人：何雪"),
        MANAGER: ("审批人：高峰", "审批人：林晓", "审批人：罗军"),
        LEGAL: ("审批人：郭婷", "审批人：梁波"),
    },
    products=("云CRM套件", "数据分析平台", "安全网关", "移动外勤应用", "系统集成服务"),
    product_p=(0.30, 0.25, 0.15, 0.15, 0.15),
    case_prefix="OPP-ZH-",
    sdrs=(("钱进", "沈悦"), ("韩冰", "冯雷"), ("曹颖", "彭涛"), ("曾亮", "谢雨"), ("蒋欣", "唐宁")),
    system_user="系统",
)


# --------------------------------------------------------------------------
# Working-hour helpers (times are float hours since 1970-01-01 00:00 local)
# --------------------------------------------------------------------------
_WORK_START_H = 8.0
_WORK_END_H = 19.0


def _weekday(day: int) -> int:
    """Return the weekday (Mon=0) of a day index counted from 1970-01-01."""
    return (day + 3) % 7


def _is_work(t: float) -> bool:
    day = math.floor(t / _DAY)
    hour = t - day * _DAY
    return _weekday(day) < 5 and _WORK_START_H <= hour < _WORK_END_H


def _next_work_start(t: float) -> float:
    """Start of the first working window after ``t`` (``t`` outside working hours)."""
    day = math.floor(t / _DAY)
    hour = t - day * _DAY
    if _weekday(day) < 5 and hour < _WORK_START_H:
        return day * _DAY + _WORK_START_H
    day += 1
    while _weekday(day) >= 5:
        day += 1
    return day * _DAY + _WORK_START_H


def _prev_work_end(t: float) -> float:
    """End of the last working window before ``t`` (``t`` outside working hours)."""
    day = math.floor(t / _DAY)
    hour = t - day * _DAY
    if _weekday(day) < 5 and hour >= _WORK_END_H:
        return day * _DAY + _WORK_END_H
    day -= 1
    while _weekday(day) >= 5:
        day -= 1
    return day * _DAY + _WORK_END_H


@dataclass
class _Event:
    t: float  # local hours since epoch
    activity: str  # internal (English) activity name
    owner: str
    result: str | None = None
    tags: list[str] = field(default_factory=list)  # evidence of injected problems
    tie: bool = False  # part of a bulk update: shares its timestamp with the next/previous stage event


@dataclass
class _Plan:
    """Structural decisions of one case (taken before timing)."""

    path: list[str]  # first-pass stages actually reached
    outcome: str  # WON or LOST (an open case is cut later)
    skipped: bool = False
    slow_response: bool = False
    n_loops: int = 0
    approvals: list[str] = field(default_factory=list)
    redundant_extra: int = 0
    handoff: tuple[str, str] | None = None
    long_wait: str | None = None  # stage or approval name
    removed_needs: bool = False  # Needs Analysis removed from the process (structural change)


@dataclass(frozen=True)
class _Structural:
    """Structural changes of the process, applied inside the simulation of every case (the
    "after" of a what-if): steps removed, approvals run in parallel, waits capped (hours)."""

    remove: frozenset[str] = frozenset()
    parallel: tuple[tuple[str, str], ...] = ()
    cap: Mapping[str, float] = field(default_factory=dict)

    def groups(self, approvals: list[str]) -> list[list[str]]:
        """The approval chain as groups run side by side (a parallel pair is one group)."""
        out: list[list[str]] = []
        placed: set[str] = set()
        for a in approvals:
            if a in placed:
                continue
            partner = next((y if x == a else x for x, y in self.parallel if a in (x, y)), None)
            group = [a] + ([partner] if partner in approvals and partner not in placed else [])
            placed.update(group)
            out.append(group)
        return out


def _check_structural(changes: Mapping[str, object] | None, zh: bool) -> _Structural:
    """Validate ``structural_changes`` (English or, for ``language="zh"``, Chinese step names)."""
    if not changes:
        return _Structural()
    if not isinstance(changes, Mapping):
        raise OptionError(f"structural_changes must be a mapping with remove/parallel/cap, got {changes!r}")
    unknown = set(changes) - {"remove", "parallel", "cap"}
    if unknown:
        raise OptionError(f"unknown structural change(s) {sorted(unknown)}; expected remove, parallel, cap")
    back = {v: k for k, v in ZH_NAMES.items()} if zh else {}

    def step(name: object, allowed: tuple[str, ...], what: str) -> str:
        key = back.get(str(name), str(name))
        if key not in allowed:
            raise OptionError(f"structural_changes {what}: {name!r} is not one of {list(allowed)}")
        return key

    from salesmining.core.durations import parse_duration

    removable = (NEEDS, *APPROVALS)
    remove = frozenset(step(x, removable, "remove") for x in changes.get("remove", ()))  # type: ignore[attr-defined]
    pairs = []
    for pair in changes.get("parallel", ()):  # type: ignore[attr-defined]
        a, b = (step(x, APPROVALS, "parallel") for x in pair)
        if a == b:
            raise OptionError(f"structural_changes parallel: {a!r} twice")
        pairs.append((a, b))
    used = [x for p in pairs for x in p]
    if len(set(used)) != len(used):
        raise OptionError("structural_changes parallel: an approval may be in one pair only")
    caps: dict[str, float] = {}
    cap_map = changes.get("cap", {})
    if not isinstance(cap_map, Mapping):
        raise OptionError("structural_changes cap must map a stage or approval to a duration ('2d', '36h')")
    for k, v in cap_map.items():
        name = step(k, (LEAD, CONTACT, NEEDS, PROPOSAL, *APPROVALS), "cap")
        caps[name] = parse_duration(v, what=f"structural_changes cap of {k!r}").total_seconds() / 3600.0
    return _Structural(remove, tuple(pairs), caps)


class _CaseSimulator:
    """Simulate single cases with a shared random generator."""

    def __init__(
        self, rng: np.random.Generator, rates: Mapping[str, float], structural: _Structural | None = None
    ) -> None:
        self.rng = rng
        self.structural = structural if structural is not None else _Structural()
        # conditional probability for a case that reaches the injection point
        self.p_inject = {k: min(1.0, rates[k] / _ELIGIBLE_SHARE[k]) for k in PROBLEM_KINDS}

    # ---------------------------------------------------------------- random
    def _u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def _bern(self, p: float) -> bool:
        return p > 0.0 and float(self.rng.random()) < p

    def _choice(self, items: tuple[str, ...] | list[str]) -> str:
        return items[int(self.rng.integers(len(items)))]

    def normal_dwell(self, stage: str, segment: str) -> float:
        """Draw a normal stage dwell in hours (always below the SLA)."""
        sla = STAGE_SLA_H[stage]
        median = sla * _DWELL_MEDIAN_FRAC[segment]
        while True:
            x = median * math.exp(_DWELL_SIGMA * float(self.rng.standard_normal()))
            if _DWELL_MIN_FRAC * sla <= x <= _DWELL_MAX_FRAC * sla:
                return x

    def normal_approval(self) -> float:
        """Draw a normal approval duration in hours (0.5 h - 34 h)."""
        while True:
            x = 5.0 * math.exp(0.9 * float(self.rng.standard_normal()))
            if 0.5 <= x <= 34.0:
                return x

    def place(self, target: float, lo: float, hi: float) -> float:
        """Move ``target`` into working hours when that keeps it within [lo, hi]."""
        if _is_work(target):
            return target
        forward = _next_work_start(target) + self._u(0.0, 0.75)
        if forward <= hi:
            return forward
        backward = _prev_work_end(target) - self._u(0.0, 0.75)
        if backward >= lo:
            return backward
        return target

    # ------------------------------------------------------------------ plan
    def plan(self, segment: str, amount: float) -> _Plan:
        """Decide the path, outcome, approvals and injected problems of a case."""
        win_adj = {"SMB": 0.05, "Mid-Market": 0.0, "Enterprise": -0.05}[segment]
        path = [LEAD]
        plan = _Plan(path=path, outcome=LOST)
        rates = self.p_inject
        if self._bern(0.08):
            return plan
        path.append(CONTACT)
        plan.slow_response = self._bern(rates["slow_response"])
        if self._bern(0.12):
            return plan
        plan.skipped = self._bern(rates["skipped_stage"])
        if NEEDS in self.structural.remove:  # the stage is gone: every case goes on as a skipping one does
            plan.skipped, plan.removed_needs = True, True
        if not plan.skipped:
            path.append(NEEDS)
            if self._bern(0.12):
                return plan
        path.append(PROPOSAL)
        if self._bern(0.25 if plan.skipped else 0.12):
            return plan
        path.append(QUOTE)
        p_win = (0.40 if plan.skipped else 0.65) + win_adj
        plan.outcome = WON if self._bern(p_win) else LOST
        if self._bern(rates["loop"]):
            plan.n_loops = 2 if self._bern(0.3) else 1
        # approvals of the final negotiation round (lost deals often die before)
        if plan.outcome == WON or not self._bern(0.4):
            if self._bern(_DISCOUNT_P):
                plan.approvals.append(DISCOUNT)
            if amount > MANAGER_THRESHOLD_EUR:
                plan.approvals.append(MANAGER)
            if segment == "Enterprise":
                plan.approvals.append(LEGAL)
        if MANAGER in plan.approvals and self._bern(rates["redundant_approval"]):
            plan.redundant_extra = 1 if self._bern(0.65) else 2
        if self.structural.remove:
            plan.approvals = [a for a in plan.approvals if a not in self.structural.remove]
        return plan

    def plan_late(self, plan: _Plan, *, designed: bool = False) -> None:
        """Decide handoff and long-wait problems once the path is known.

        When the log has ``designed`` handoffs (SDR -> account executive after Contact), the
        injected handoff is never on that step, in any case.
        """
        path = plan.path
        transitions = list(itertools.pairwise(path[2 if designed else 1 :]))  # Lead -> Contact excluded
        p_handoff = self.p_inject["handoff_delay"]
        if designed:  # fewer cases are eligible: keep the rate a share of all cases
            p_handoff = min(1.0, p_handoff * _ELIGIBLE_SHARE["handoff_delay"] / _DESIGNED_HANDOFF_ELIGIBLE_SHARE)
        if transitions and self._bern(p_handoff):
            plan.handoff = transitions[int(self.rng.integers(len(transitions)))]
        stage_cands = [s for s in path[1:] if plan.handoff is None or s != plan.handoff[0]]
        appr_cands = [a for a in plan.approvals if a in (DISCOUNT, LEGAL)]
        if (stage_cands or appr_cands) and self._bern(self.p_inject["long_wait"]):
            if appr_cands and (not stage_cands or self._bern(0.6)):
                plan.long_wait = self._choice(appr_cands)
            else:
                plan.long_wait = self._choice(stage_cands)

    # --------------------------------------------------------------- timing
    def sprinkle(self, a: float, b: float, owner: str, out: list[_Event]) -> None:
        """Add Calls/Emails strictly inside the window (a, b)."""
        span = b - a
        if span < 1.0:
            return
        lam = 0.3 + 0.22 * span / _DAY
        n = min(int(self.rng.poisson(lam)), 5)
        margin = min(0.25, span / 10)
        for _ in range(n):
            t = self._u(a + margin, b - margin)
            if not _is_work(t):
                forward = _next_work_start(t) + self._u(0.0, 0.5)
                if forward < b - margin:
                    t = forward
                else:
                    backward = _prev_work_end(t) - self._u(0.0, 0.5)
                    if backward > a + margin:
                        t = backward
            activity = CALL if self._bern(0.45) else EMAIL
            out.append(_Event(t, activity, owner))

    def timeline(
        self,
        plan: _Plan,
        segment: str,
        lead_t: float,
        reps: tuple[str, ...],
        approvers: Mapping[str, tuple[str, ...]],
        *,
        sdr: str | None = None,
        tie_stages: tuple[str, ...] = (),
    ) -> list[_Event]:
        """Lay out the events of a planned case in local time.

        ``sdr`` owns Lead and Contact (the designed handoff: the rep takes over at the first
        stage after Contact); each stage in ``tie_stages`` (first pass only) lasts zero seconds,
        so its entry and the next stage's entry share one timestamp (a bulk update).
        """
        rep0 = self._choice(reps)
        rep1 = self._choice([r for r in reps if r != rep0]) if plan.handoff else rep0

        # stage visits in order: (stage, kind) with kind "first", "loop" or "final"
        visits: list[tuple[str, str]] = []
        for stage in plan.path:
            if stage == QUOTE:
                for _ in range(plan.n_loops):
                    visits += [(QUOTE, "first"), (PROPOSAL, "loop")]
                visits.append((QUOTE, "final"))
            else:
                visits.append((stage, "first"))
        entry_tags: list[list[str]] = [[] for _ in visits]
        for k, (stage, kind) in enumerate(visits):
            if kind == "loop":
                entry_tags[k].append("loop")
            elif stage == PROPOSAL and plan.skipped and not plan.removed_needs:
                entry_tags[k].append("skipped_stage")
            elif stage == CONTACT and plan.slow_response:
                entry_tags[k].append("slow_response")
        handoff_k = -1  # index of the visit entered by the new owner
        if plan.handoff is not None:
            handoff_k = next(k for k in range(1, len(visits)) if (visits[k - 1][0], visits[k][0]) == plan.handoff)
            entry_tags[handoff_k].append("handoff_delay")
        long_k = -1  # index of the visit with an injected long dwell
        if plan.long_wait in STAGES:
            long_k = next(
                k
                for k, (stage, kind) in enumerate(visits)
                if stage == plan.long_wait and kind == ("final" if stage == QUOTE else "first")
            )

        designed_k = next((k for k in range(1, len(visits)) if visits[k - 1][0] == CONTACT), len(visits))
        zero_k = {k for k, (stage, kind) in enumerate(visits) if stage in tie_stages and kind == "first"}

        events: list[_Event] = []
        t = lead_t
        for k, (stage, kind) in enumerate(visits):
            owner = rep1 if 0 <= handoff_k <= k else rep0
            if sdr is not None and k < designed_k:
                owner = sdr
            events.append(_Event(t, stage, owner, tags=entry_tags[k], tie=k in zero_k or k - 1 in zero_k))
            entry = t
            if k in zero_k:  # a bulk update: the next stage is entered at the same moment
                continue
            sla = STAGE_SLA_H[stage]
            handing_off = k + 1 == handoff_k
            if stage == LEAD and plan.slow_response:
                d, lo, hi = self._u(3 * _DAY, 10 * _DAY), 3 * _DAY, 10 * _DAY
            elif handing_off:
                d, lo, hi = self._u(5 * _DAY, 12 * _DAY), 5 * _DAY, 12 * _DAY
            elif k == long_k:
                d, lo, hi = self._u(4 * sla, 8 * sla), 4 * sla, 8 * sla
            else:
                d, lo, hi = self.normal_dwell(stage, segment), _DWELL_MIN_FRAC * sla, _DWELL_HARD_FRAC * sla
            cap = self.structural.cap.get(stage)
            if cap is not None and not handing_off:  # the stage's own time is held to the cap
                d, lo, hi = min(d, cap), min(lo, cap), min(hi, cap)
            exit_tags = ["long_wait"] if k == long_k else []
            if kind == "final" and plan.approvals:
                t = self._quote_with_approvals(plan, entry, d, lo, hi, owner, approvers, events)
                events[-1].tags += exit_tags
                continue
            t = self.place(entry + d, entry + lo, entry + hi)
            if stage != LEAD and not handing_off:
                self.sprinkle(entry, t, owner, events)
            if k == len(visits) - 1:
                events.append(_Event(t, plan.outcome, owner, tags=exit_tags))
            else:
                entry_tags[k + 1] += exit_tags
        return events

    def _quote_with_approvals(
        self,
        plan: _Plan,
        entry: float,
        d: float,
        lo: float,
        hi: float,
        owner: str,
        approvers: Mapping[str, tuple[str, ...]],
        events: list[_Event],
    ) -> float:
        """Lay out the final negotiation round with its approval chain and outcome."""
        w1 = self._u(0.05, 0.3) * d
        anchor = self.place(entry + w1, entry + 0.1, entry + max(w1, 0.5) + 6.0)
        self.sprinkle(entry, anchor, owner, events)
        events.append(_Event(anchor, EMAIL, owner))  # quote sent / approval requested
        prev = anchor
        for group in self.structural.groups(plan.approvals):
            start, ends = prev, []
            for kind in group:  # the approvals of a group are requested together and run side by side
                ends.append(self._approval_rounds(plan, kind, start, owner, approvers, events))
            prev = max(ends)
        chain_end = prev
        gap = self._u(2.0, 1.5 * _DAY)
        target = max(entry + d, chain_end + gap)
        t = self.place(target, max(entry + lo, chain_end + 0.5), max(entry + hi, chain_end + gap))
        self.sprinkle(chain_end, t, owner, events)
        events.append(_Event(t, plan.outcome, owner))
        return t

    def _approval_rounds(
        self,
        plan: _Plan,
        kind: str,
        prev: float,
        owner: str,
        approvers: Mapping[str, tuple[str, ...]],
        events: list[_Event],
    ) -> float:
        """One approval requested at ``prev``: its rounds (a rejection → revised quote → again) and,
        for the Manager, redundant repeats; returns the time of its last decision."""
        cap = self.structural.cap.get(kind)
        for attempt in range(3):
            if plan.long_wait == kind and attempt == 0:
                dur, dlo, dhi = self._u(6 * _DAY, 15 * _DAY), 6 * _DAY, 15 * _DAY
                tags = ["long_wait"]
            else:
                dur, dlo, dhi = self.normal_approval(), 0.5, 34.0
                tags = []
            if cap is not None:  # the wait for the decision is held to the cap
                dur, dlo, dhi = min(dur, cap), min(dlo, cap), min(dhi, cap)
            prev = self.place(prev + dur, prev + dlo, prev + dhi)
            rejected = attempt < 2 and self._bern(_REJECT_P)
            events.append(
                _Event(prev, kind, self._choice(approvers[kind]), "rejected" if rejected else "approved", tags)
            )
            if not rejected:
                break
            # revised quote, then the approval is requested again
            prev = self.place(prev + self._u(1 * _DAY, 3 * _DAY), prev + 1 * _DAY, prev + 3 * _DAY)
            events.append(_Event(prev, EMAIL, owner))
        if kind == MANAGER:
            for _ in range(plan.redundant_extra):
                prev = self.place(prev + self._u(1 * _DAY, 3 * _DAY), prev + 1 * _DAY, prev + 3 * _DAY)
                events.append(
                    _Event(prev, MANAGER, self._choice(approvers[MANAGER]), "approved", ["redundant_approval"])
                )
        return prev


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def _parse_time(value: str, *, end_of_day: bool) -> int:
    """Parse a time string (naive = UTC) into integer UNIX seconds.

    A date-only string (``YYYY-MM-DD``) with ``end_of_day`` means 23:59:59 of that day.
    """
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    seconds = int(ts.timestamp())
    if end_of_day and len(value.strip()) == 10:
        seconds += 86_400 - 1
    return seconds


def _check_rates(rates: Mapping[str, float] | None) -> dict[str, float]:
    merged = dict(DEFAULT_RATES)
    if rates is not None:
        unknown = set(rates) - set(PROBLEM_KINDS)
        if unknown:
            raise OptionError(f"unknown problem kind(s) in rates: {sorted(unknown)}; expected {PROBLEM_KINDS}")
        for kind, value in rates.items():
            if not 0.0 <= float(value) <= 1.0:
                raise OptionError(f"rate for {kind!r} must be within [0, 1], got {value!r}")
            merged[kind] = float(value)
    return merged


def _check_negatives(negatives: Mapping[str, float] | bool | None) -> dict[str, float]:
    if negatives is None or negatives is False:
        return dict.fromkeys(NEGATIVE_KINDS, 0.0)
    merged = dict(DEFAULT_NEGATIVES)
    if negatives is True:
        return merged
    if not isinstance(negatives, Mapping):
        raise OptionError(f"negatives must be True, False, None or a mapping of rates, got {negatives!r}")
    unknown = set(negatives) - set(NEGATIVE_KINDS)
    if unknown:
        raise OptionError(f"unknown negative(s) {sorted(unknown)}; expected {NEGATIVE_KINDS}")
    for kind, value in negatives.items():
        if not 0.0 <= float(value) <= 1.0:
            raise OptionError(f"rate for negative {kind!r} must be within [0, 1], got {value!r}")
        merged[kind] = float(value)
    return merged


def _check_change(
    change_at: Mapping[str, object] | None, rates: Mapping[str, float], rng: np.random.Generator
) -> tuple[float, _CaseSimulator, str | None] | None:
    """``(date in UNIX seconds, the simulator of the cases from then on, the approval removed)``."""
    if change_at is None:
        return None
    unknown = set(change_at) - {"date", "rates", "remove_step"}
    if unknown or "date" not in change_at:
        raise OptionError(
            f"change_at takes 'date' (required), 'rates' and 'remove_step', not {sorted(unknown) or 'no date'}"
        )
    new_rates = change_at.get("rates") or {}
    if not isinstance(new_rates, Mapping):
        raise OptionError(f"change_at['rates'] must be a mapping of problem rates, got {new_rates!r}")
    after = _check_rates({**rates, **{str(k): float(v) for k, v in new_rates.items()}})
    remove = change_at.get("remove_step")
    if remove is not None and remove not in (DISCOUNT, MANAGER, LEGAL):
        raise OptionError(f"change_at['remove_step'] must be one of {(DISCOUNT, MANAGER, LEGAL)}, got {remove!r}")
    date_s = float(_parse_time(str(change_at["date"]), end_of_day=False))
    return date_s, _CaseSimulator(rng, after), None if remove is None else str(remove)


#: Approximate share of cases that can carry a bulk-update tie (no loop, no skip, reach
#: Solution Proposal or beyond with the tied stages free of other problems).
_TIE_ELIGIBLE_SHARE = 0.5


@dataclass
class _CaseNegatives:
    """The negatives one case carries (decided with the negatives' own random generator)."""

    backfilled: bool = False
    censored: bool = False
    sdr: str | None = None
    tie_stages: tuple[str, ...] = ()
    archived: bool = False


def _tie_stages(nrng: np.random.Generator, plan: _Plan) -> tuple[str, ...]:
    """Stages whose dwell a bulk update collapses to zero (their next stage entered at once)."""
    if plan.n_loops or plan.skipped:
        return ()
    path = plan.path
    busy = {plan.long_wait, *(plan.handoff or ())}
    cands = [s for s in (NEEDS, PROPOSAL) if s in path[:-1] and s not in busy and path[path.index(s) + 1] not in busy]
    if len(cands) == 2 and float(nrng.random()) < 0.3:
        return (NEEDS, PROPOSAL)  # three stage events at one timestamp
    return (cands[int(nrng.integers(len(cands)))],) if cands else ()


def _backfilled_events(nrng: np.random.Generator, lead_t: float, rep: str) -> list[_Event]:
    """A deal typed in after the fact: every stage and the win within minutes, nothing else."""
    events = []
    t = lead_t
    for activity in (*STAGES, WON):
        events.append(_Event(t, activity, rep))
        t += float(nrng.uniform(1.0, 10.0)) / 60.0
    return events


def _censor_shift(nrng: np.random.Generator, events: list[_Event], export_local: float) -> tuple[float, int] | None:
    """Shift (hours) that puts the export inside a normal-length stage visit, and that visit's entry index."""
    stage_idx = [j for j, e in enumerate(events) if e.activity in STAGES or e.activity in (WON, LOST)]
    cands = []
    for j, j2 in itertools.pairwise(stage_idx):
        stage = events[j].activity
        if stage in STAGES and events[j2].t - events[j].t <= _DWELL_HARD_FRAC * STAGE_SLA_H[stage]:
            cands.append((j, j2))
    if not cands:
        return None
    j, j2 = cands[int(nrng.integers(len(cands)))]
    frac = float(nrng.uniform(0.1, 0.9))
    now_in_case = events[j].t + frac * (events[j2].t - events[j].t)
    return export_local - now_in_case, j


def _negative_rows(
    kept: list[_Event], kept_s: list[int], neg: _CaseNegatives, export_s: int, zh: bool, system_user: str
) -> list[tuple[str, str, str]]:
    """Ground-truth rows (kind, where, detail) of the negatives visible in ``kept``."""

    def name(activity: str) -> str:
        return ZH_NAMES.get(activity, activity) if zh else activity

    rows: list[tuple[str, str, str]] = []
    acts = [e.activity for e in kept]
    if neg.archived and ARCHIVED in acts:
        j = acts.index(ARCHIVED)
        days = (kept_s[j] - kept_s[j - 1]) / 86_400.0
        out = name(kept[j - 1].activity)
        detail = (
            f"{system_user}在{out}后 {days:.1f} 天自动归档"
            if zh
            else f"archived by {system_user} {days:.1f} days after {out}"
        )
        rows.append(("system_user", f"{out} -> {name(ARCHIVED)}", detail))
    if neg.sdr is not None:
        k_ae = next(
            (
                m
                for m in range(1, len(kept))
                if kept[m].activity in STAGES and kept[m - 1].owner == neg.sdr and kept[m].owner != neg.sdr
            ),
            None,
        )
        if k_ae is not None:
            ae = kept[k_ae].owner
            detail = f"{neg.sdr} -> {ae}，设计的交接" if zh else f"{neg.sdr} -> {ae}, the designed SDR -> AE step"
            rows.append(("designed_handoff", f"{name(CONTACT)} -> {name(kept[k_ae].activity)}", detail))
    ties = [m for m, e in enumerate(kept) if e.tie]
    if ties and len({kept_s[m] for m in ties}) == 1 and len(ties) == len(neg.tie_stages) + 1:
        stamp = pd.Timestamp(kept_s[ties[0]], unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        where = " -> ".join(name(kept[m].activity) for m in ties)
        detail = f"{len(ties)} 个阶段事件同一时间 {stamp}" if zh else f"{len(ties)} stage events at {stamp}"
        rows.append(("bulk_update_tie", where, detail))
    if neg.backfilled and len(kept) >= 3:
        minutes = (kept_s[-1] - kept_s[0]) / 60.0
        detail = (
            f"{len(kept)} 个事件在 {minutes:.0f} 分钟内补录"
            if zh
            else f"{len(kept)} events within {minutes:.0f} min, entered after the fact"
        )
        rows.append(("backfilled_deal", " -> ".join(name(a) for a in acts), detail))
    if neg.censored:
        j = max(m for m, a in enumerate(acts) if a in STAGES)
        days = (export_s - kept_s[j]) / 86_400.0
        sla_d = STAGE_SLA_H[acts[j]] / _DAY
        stage = name(acts[j])
        detail = (
            f"导出时未结束：在{stage}已 {days:.1f} 天（SLA {sla_d:g} 天）"
            if zh
            else f"open at export: {days:.1f} days in {stage} so far (SLA {sla_d:g}d)"
        )
        rows.append(("censored_open", stage, detail))
    return rows


def _output_order(kept: list[_Event], kept_s: list[int], nrng: np.random.Generator) -> list[int]:
    """Row order of a case in the export: a bulk update's tied stage events never in the intended order."""
    order = list(range(len(kept)))
    ties = [m for m, e in enumerate(kept) if e.tie]
    if len(ties) >= 2 and len({kept_s[m] for m in ties}) == 1:
        scrambled = ties[::-1] if len(ties) == 2 else ties
        while scrambled == ties:
            scrambled = [ties[int(x)] for x in nrng.permutation(len(ties))]
        for m, src in zip(ties, scrambled, strict=True):
            order[m] = src
    return order


def _detail(kind: str, where_key: str, value: float, count: int, owners: tuple[str, str], zh: bool) -> str:
    """Short human-readable description of one injected problem."""
    name = ZH_NAMES.get(where_key, where_key) if zh else where_key
    if kind == "loop":
        return f"循环 x{count}" if zh else f"loop x{count}"
    if kind == "skipped_stage":
        return f"跳过{name}" if zh else f"{name} skipped"
    if kind == "long_wait":
        if where_key in APPROVALS:
            return f"{name}耗时 {value:.1f} 天" if zh else f"{name} took {value:.1f} days"
        sla_d = STAGE_SLA_H[where_key] / _DAY
        return (
            f"在{name}停留 {value:.1f} 天（SLA {sla_d:g} 天）"
            if zh
            else f"stayed {value:.1f} days in {name} (SLA {sla_d:g}d)"
        )
    if kind == "redundant_approval":
        return f"{name}无变更重复 x{count}" if zh else f"{name} repeated x{count} without change"
    if kind == "slow_response":
        return f"首次接触耗时 {value:.1f} 天" if zh else f"first Contact after {value:.1f} days"
    # handoff_delay
    return (
        f"{owners[0]} -> {owners[1]}，{value:.1f} 天后才跟进"
        if zh
        else f"{owners[0]} -> {owners[1]}, new owner acted after {value:.1f} days"
    )


def _visible_problems(events: list[_Event], secs: list[int], zh: bool) -> list[tuple[str, str, str]]:
    """Ground-truth rows (kind, where, detail) of the problems visible in ``events``."""

    def name(activity: str) -> str:
        return ZH_NAMES.get(activity, activity) if zh else activity

    found: dict[str, tuple[str, str]] = {}
    no_owners = ("", "")
    for j, ev in enumerate(events):
        if not ev.tags:
            continue
        waited_d = (secs[j] - secs[j - 1]) / 86_400.0
        for tag in ev.tags:
            if tag == "loop":
                n_loop = sum("loop" in e.tags for e in events)
                where = f"{name(QUOTE)} -> {name(PROPOSAL)}"
                found[tag] = (where, _detail(tag, QUOTE, 0.0, n_loop, no_owners, zh))
            elif tag == "skipped_stage":
                found[tag] = (name(NEEDS), _detail(tag, NEEDS, 0.0, 1, no_owners, zh))
            elif tag == "slow_response":
                found[tag] = (f"{name(LEAD)} -> {name(CONTACT)}", _detail(tag, CONTACT, waited_d, 1, no_owners, zh))
            elif tag == "redundant_approval":
                n_red = sum("redundant_approval" in e.tags for e in events)
                found[tag] = (name(MANAGER), _detail(tag, MANAGER, 0.0, n_red, no_owners, zh))
            elif tag == "handoff_delay":
                prev = events[j - 1]  # the from-stage event: nothing happens in between
                owners = (prev.owner, ev.owner)
                found[tag] = (
                    f"{name(prev.activity)} -> {name(ev.activity)}",
                    _detail(tag, prev.activity, waited_d, 1, owners, zh),
                )
            elif tag == "long_wait":
                if ev.activity in APPROVALS:
                    where_key, value = ev.activity, waited_d
                else:  # exit event of the long stage: measure from the last stage entry
                    j0 = max(m for m in range(j) if events[m].activity in STAGES)
                    where_key = events[j0].activity
                    value = (secs[j] - secs[j0]) / 86_400.0
                found[tag] = (name(where_key), _detail(tag, where_key, value, 1, no_owners, zh))
    order = {k: i for i, k in enumerate(PROBLEM_KINDS)}
    return [(kind, *found[kind]) for kind in sorted(found, key=order.__getitem__)]


def generate_sales_log(
    *,
    seed: int = 7,
    n_cases: int = 800,
    start: str = "2024-01-01",
    end: str = "2024-12-31",
    language: str = "en",
    rates: Mapping[str, float] | None = None,
    export_time: str | None = None,
    case_prefix: str | None = None,
    negatives: Mapping[str, float] | bool | None = None,
    structural_changes: Mapping[str, object] | None = None,
    change_at: Mapping[str, object] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate a synthetic B2B opportunity event log with injected problems.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`; equal arguments give equal output.
    n_cases : int
        Number of opportunities to simulate (cases whose Lead lies after
        ``export_time`` are dropped).
    start, end : str
        Period of the log. Leads are created within ``[start, end - 30 days]``.
        A date-only ``end`` means the end of that day (23:59:59 UTC).
    language : {"en", "zh"}
        Language of stage/activity names, regions, owners and products.
    rates : Mapping[str, float], optional
        Injection rate per problem kind (keys from :data:`PROBLEM_KINDS`),
        overriding :data:`DEFAULT_RATES`; 0 disables a kind. A rate is the
        approximate share of all generated cases that get the problem: only a
        case that reaches the injection point can get it, with probability
        ``rate / share of eligible cases`` (capped at 1). Problems cut off by
        the export or by an open case stopping early are not in the ground
        truth, so observed shares are somewhat lower.
    export_time : str, optional
        Time of the export; later events are not in the log. Defaults to ``end``.
    case_prefix : str, optional
        Prefix of the case ids, ``"OPP-"`` (en) or ``"OPP-ZH-"`` (zh) by default.
    negatives : bool or Mapping[str, float], optional
        Artefacts of real CRM exports that are *not* process problems and must not be
        reported as such (:data:`NEGATIVE_KINDS`). ``None``/``False`` (default): none, and
        the log is exactly the one without this option; ``True``: every negative at its
        :data:`DEFAULT_NEGATIVES` rate; a mapping overrides some of those rates (0 disables).
        They draw from their own random stream. Rates:

        * ``system_user`` — share of closed cases (not cut open) that the automation user
          (``System``, zh ``系统``) archives: an ``Archived`` event (outside the stage model)
          at 02:00 local, 30-31 days after the outcome. Must not raise ``handoff_delay``.
        * ``designed_handoff`` — share of cases owned by a sales development rep in Lead and
          Contact and handed to the account executive at the first stage after Contact, with
          a normal dwell (the process's design). Injected ``handoff_delay`` is then never on
          that step. Must not raise ``handoff_delay`` there.
        * ``bulk_update_tie`` — share of cases where a bulk update enters 2 or 3 consecutive
          stages (Needs Analysis -> Solution Proposal [-> Quote & Negotiation]) at one
          timestamp, exported in a scrambled row order (never the intended one); only cases
          without loop, skip, long wait or handoff at those stages. Must not raise ``loop`` or
          ``skipped_stage`` there.
        * ``backfilled_deal`` — share of cases typed in after the fact: every stage and
          ``Contract Signed`` 1-10 minutes apart, one owner, nothing else; no injected problem.
          Must not raise any kind.
        * ``censored_open`` — share of cases that are young and open at the export: the case
          is shifted in time so that the export falls 10-90 % into a stage visit of normal
          length (< 0.95 x its SLA, i.e. shorter than closed cases can take there). Must not
          raise ``long_wait`` (e.g. ``stalled_open``) at that stage. Their leads may fall after
          ``end - 30 days``.
    structural_changes : Mapping, optional
        The process after known structural changes, applied inside the simulation of every case
        (for validating what-if estimates): ``{"remove": [...], "parallel": [(a, b)], "cap": {step:
        "2d"}}``. ``remove`` takes approvals (never requested) or ``Needs Analysis`` (every case
        then goes on as a case that skips it does: more early losses and a lower win rate — a
        change that alters who wins); ``parallel`` pairs of approvals, requested together, the
        chain going on after the later decision; ``cap`` holds a stage's own dwell (Lead to
        Solution Proposal, not a handoff delay) or each wait for an approval to the duration.
        ``None`` (default): the process as it is, and the log exactly the one without this option.
    change_at : Mapping, optional
        A process change on a known date, for validating drift detection:
        ``{"date": "2024-07-01", "rates": {...}, "remove_step": "Manager Approval"}``. Cases whose
        Lead is at or after ``date`` (UTC) are planned with ``rates`` (problem rates overriding
        the log's, as ``rates=`` does) and without the approval ``remove_step`` (optional; one of
        the approvals); earlier cases follow the log's own rates. ``None`` (default): the log is
        exactly the one without this option.

    Returns
    -------
    events : pandas.DataFrame
        One row per event with the columns :data:`EVENT_COLUMNS`, sorted by
        (``Opportunity ID``, ``Timestamp``); ``Timestamp`` is tz-aware UTC with
        second precision, strictly increasing within a case (except the tied stage
        events of a ``bulk_update_tie``); ``Approval Result`` is missing on
        non-approval rows.
    ground_truth : pandas.DataFrame
        One row per (case, injected problem) and per (case, negative) visible in
        ``events``, with the columns :data:`GROUND_TRUTH_COLUMNS`: ``kind`` is a
        :data:`PROBLEM_KINDS` entry (a problem a finding must report; ``must_not_raise``
        empty) or a :data:`NEGATIVE_KINDS` entry (an artefact; ``must_not_raise`` lists,
        space-separated, the finding kinds that must not name the case at ``where``);
        ``where`` is a stage or a step ``"A -> B"`` (a chain ``"A -> B -> C"`` for ties
        and back-filled deals). Problems of a case come first, in the order of
        :data:`PROBLEM_KINDS`, then its negatives in the order of :data:`NEGATIVE_KINDS`.

    Raises
    ------
    ValueError
        For an unknown language, an unknown problem kind or negative, or a rate
        outside [0, 1].
    """
    if language not in ("en", "zh"):
        raise OptionError(f"language must be 'en' or 'zh', got {language!r}")
    if n_cases < 0:
        raise OptionError("n_cases must be non-negative")
    merged_rates = _check_rates(rates)
    neg_rates = _check_negatives(negatives)
    zh = language == "zh"
    vocab = _ZH if zh else _EN
    prefix = vocab.case_prefix if case_prefix is None else case_prefix

    lead_lo_s = _parse_time(start, end_of_day=False)
    end_s = _parse_time(end, end_of_day=True)
    lead_hi_s = end_s - 30 * 86_400
    if lead_hi_s <= lead_lo_s:
        raise OptionError("the period from start to end must be longer than 30 days")
    export_s = end_s if export_time is None else _parse_time(export_time, end_of_day=True)

    rng = np.random.default_rng(seed)
    sim = _CaseSimulator(rng, merged_rates, _check_structural(structural_changes, zh))
    change = _check_change(change_at, merged_rates, rng)
    # the negatives draw from their own stream: without them the log is exactly the classic one
    nrng = np.random.default_rng([seed, 14])
    any_negative = any(v > 0.0 for v in neg_rates.values())
    export_local_offsets = vocab.region_utc_offset_h

    # ---- case attributes (vectorised)
    seg_idx = rng.choice(len(SEGMENTS), size=n_cases, p=_SEGMENT_P)
    region_idx = rng.choice(len(vocab.regions), size=n_cases, p=np.array(vocab.region_p))
    source_idx = rng.choice(len(LEAD_SOURCES), size=n_cases, p=_LEAD_SOURCE_P)
    product_idx = rng.choice(len(vocab.products), size=n_cases, p=np.array(vocab.product_p))
    amount_z = rng.standard_normal(n_cases)
    open_flags = rng.random(n_cases) < _OPEN_P
    late_lead = rng.random(n_cases) < 0.7
    lead_u = rng.random(n_cases)

    rows_case: list[str] = []
    rows_act: list[str] = []
    rows_sec: list[int] = []
    rows_owner: list[str] = []
    rows_result: list[str | None] = []
    rows_attr: list[int] = []  # index into per-case attribute arrays
    gt_rows: list[tuple[str, str, str, str, str]] = []

    def name(activity: str) -> str:
        return ZH_NAMES.get(activity, activity) if zh else activity

    amounts = np.empty(n_cases)
    for i in range(n_cases):
        segment = SEGMENTS[int(seg_idx[i])]
        median, sigma = _AMOUNT_PARAMS[segment]
        amount = round(median * math.exp(sigma * float(amount_z[i])), -1)
        amounts[i] = amount
        region = int(region_idx[i])
        offset = vocab.region_utc_offset_h[region]
        case_id = f"{prefix}{i + 1:06d}"

        # lead time: uniform in the lead window (open cases mostly recent), in working hours
        lo_s, hi_s = lead_lo_s, lead_hi_s
        if open_flags[i] and late_lead[i]:
            lo_s = max(lead_lo_s, lead_hi_s - 90 * 86_400)
        lead_local = (lo_s + float(lead_u[i]) * (hi_s - lo_s)) / 3600.0 + offset
        lead_local = sim.place(lead_local, lo_s / 3600.0 + offset, hi_s / 3600.0 + offset)

        neg = _CaseNegatives()
        if any_negative:
            u = nrng.random(5)
            neg.backfilled = bool(u[0] < neg_rates["backfilled_deal"])
            neg.censored = not neg.backfilled and bool(u[1] < neg_rates["censored_open"])
            if not neg.backfilled and u[2] < neg_rates["designed_handoff"]:
                sdrs = vocab.sdrs[region]
                neg.sdr = sdrs[int(nrng.integers(len(sdrs)))]
            p_tie = min(1.0, neg_rates["bulk_update_tie"] / _TIE_ELIGIBLE_SHARE)
            tie_wanted = not (neg.backfilled or neg.censored) and bool(u[3] < p_tie)
            neg.archived = not (neg.backfilled or neg.censored or open_flags[i]) and bool(
                u[4] < neg_rates["system_user"]
            )
        if neg.backfilled:
            events = _backfilled_events(nrng, lead_local, vocab.reps[region][int(nrng.integers(3))])
        else:
            csim = sim
            if change is not None and (lead_local - offset) * 3600.0 >= change[0]:
                csim = change[1]
            plan = csim.plan(segment, amount)
            if csim is not sim and change is not None and change[2] in plan.approvals:
                plan.approvals.remove(change[2])
                if change[2] == MANAGER:
                    plan.redundant_extra = 0
            # with designed handoffs in the log, an injected handoff is never on the designed step
            csim.plan_late(plan, designed=neg_rates["designed_handoff"] > 0.0)
            if any_negative and tie_wanted:
                neg.tie_stages = _tie_stages(nrng, plan)
            events = csim.timeline(
                plan, segment, lead_local, vocab.reps[region], vocab.approvers, sdr=neg.sdr, tie_stages=neg.tie_stages
            )
        events.sort(key=lambda e: e.t)  # stable: keeps generation order on ties
        if neg.archived and events[-1].activity in (WON, LOST):
            # the automation user's nightly job archives the record 30 days after the outcome, at 02:00
            night = (math.floor((events[-1].t + 30 * _DAY) / _DAY) + 1) * _DAY + 2.0
            events.append(_Event(night + float(nrng.uniform(0.0, 0.05)), ARCHIVED, vocab.system_user))
        censored_open = False
        if neg.censored:
            shifted = _censor_shift(nrng, events, export_s / 3600.0 + export_local_offsets[region])
            if shifted is not None and (events[0].t + shifted[0] - offset) * 3600.0 >= lead_lo_s:
                for ev in events:
                    ev.t += shifted[0]
                censored_open = True
        neg.censored = censored_open

        secs: list[int] = []
        last = -(2**62)
        prev_ev: _Event | None = None
        for ev in events:
            s = round((ev.t - offset) * 3600.0)
            tied = ev.tie and prev_ev is not None and prev_ev.tie and ev.t == prev_ev.t
            if tied:
                s = last
            elif s <= last:
                s = last + 1
            secs.append(s)
            last, prev_ev = s, ev
        cut = export_s + 1
        if open_flags[i] and not (neg.backfilled or neg.censored) and len(secs) > 1:
            cut = min(cut, int(secs[0] + 1 + float(rng.random()) * (secs[-1] - secs[0] - 1)))
        keep = [k for k, s in enumerate(secs) if s < cut]
        if not keep:
            continue

        # ---- ground truth from the evidence that is visible in the log
        kept = [events[k] for k in keep]
        kept_s = [secs[k] for k in keep]
        for kind, where, detail in _visible_problems(kept, kept_s, zh):
            gt_rows.append((case_id, kind, where, detail, ""))
        if any_negative:
            for kind, where, detail in _negative_rows(kept, kept_s, neg, export_s, zh, vocab.system_user):
                gt_rows.append((case_id, kind, where, detail, " ".join(NEGATIVE_MUST_NOT_RAISE[kind])))
            order = _output_order(kept, kept_s, nrng)
            kept = [kept[m] for m in order]

        for ev, s in zip(kept, kept_s, strict=True):
            rows_case.append(case_id)
            rows_act.append(name(ev.activity))
            rows_sec.append(s)
            rows_owner.append(ev.owner)
            rows_result.append(ev.result)
            rows_attr.append(i)

    attr = np.asarray(rows_attr, dtype=np.int64)
    events_df = pd.DataFrame(
        {
            "Opportunity ID": rows_case,
            "Activity": rows_act,
            "Timestamp": pd.to_datetime(np.asarray(rows_sec, dtype=np.int64), unit="s", utc=True),
            "Owner": rows_owner,
            "Approval Result": pd.Series(rows_result, dtype="str"),
            "Segment": np.asarray(SEGMENTS, dtype=object)[seg_idx[attr]] if len(attr) else [],
            "Region": np.asarray(vocab.regions, dtype=object)[region_idx[attr]] if len(attr) else [],
            "Lead Source": np.asarray(LEAD_SOURCES, dtype=object)[source_idx[attr]] if len(attr) else [],
            "Amount": amounts[attr] if len(attr) else np.empty(0),
            "Product": np.asarray(vocab.products, dtype=object)[product_idx[attr]] if len(attr) else [],
        },
        columns=list(EVENT_COLUMNS),
    )
    events_df = events_df.sort_values(["Opportunity ID", "Timestamp"], kind="stable", ignore_index=True)
    ground_truth = pd.DataFrame(gt_rows, columns=list(GROUND_TRUTH_COLUMNS))
    return events_df, ground_truth


def stages_yaml(language: str = "en") -> str:
    """Return the intended process definition (``stages.yaml``) as YAML text.

    Parameters
    ----------
    language : {"en", "zh"}
        Language of the stage and activity names.

    Returns
    -------
    str
        YAML document describing stages, outcomes, approvals and SLAs.
    """
    if language not in ("en", "zh"):
        raise OptionError(f"language must be 'en' or 'zh', got {language!r}")
    zh = language == "zh"

    def n(activity: str) -> str:
        return ZH_NAMES[activity] if zh else activity

    return _STAGES_YAML_TEMPLATE.format(
        name="B2B 商机流程" if zh else "B2B opportunity process",
        stages=", ".join(n(s) for s in STAGES),
        won=n(WON),
        lost=n(LOST),
        discount=n(DISCOUNT),
        manager=n(MANAGER),
        legal=n(LEGAL),
        quote=n(QUOTE),
        call=n(CALL),
        email=n(EMAIL),
        lead=n(LEAD),
        contact=n(CONTACT),
        needs=n(NEEDS),
        proposal=n(PROPOSAL),
        sla_comment=_SLA_COMMENT,
    )


def _events_csv(events: pd.DataFrame) -> str:
    out = events.copy()
    out["Timestamp"] = out["Timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out["Amount"] = [f"{a:.2f}" for a in out["Amount"]]
    return str(out.to_csv(index=False, lineterminator="\n"))


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


#: (file stem, generate_sales_log keyword arguments) of the committed sample logs.
_SAMPLE_SPECS: tuple[tuple[str, dict[str, object]], ...] = (
    ("opportunities", {"seed": 7, "n_cases": 800, "start": "2024-01-01", "end": "2024-12-31"}),
    (
        "opportunities_before",
        {"seed": 11, "n_cases": 800, "start": "2024-01-01", "end": "2024-06-30", "case_prefix": "OPP-B-"},
    ),
    (
        "opportunities_after",
        {
            "seed": 12,
            "n_cases": 800,
            "start": "2024-07-01",
            "end": "2024-12-31",
            "case_prefix": "OPP-A-",
            "rates": {
                "loop": DEFAULT_RATES["loop"] / 3,
                "redundant_approval": DEFAULT_RATES["redundant_approval"] / 3,
                "slow_response": DEFAULT_RATES["slow_response"] / 3,
            },
        },
    ),
    ("opportunities_zh", {"seed": 21, "n_cases": 400, "start": "2024-01-01", "end": "2024-12-31", "language": "zh"}),
    (
        "opportunities_artefacts",
        {
            "seed": 31,
            "n_cases": 800,
            "start": "2024-01-01",
            "end": "2024-12-31",
            "case_prefix": "OPP-N-",
            "negatives": True,
        },
    ),
)


def write_sample_logs(directory: str | Path) -> list[Path]:
    """Write every generated sample file (event logs, ground truths, stage YAMLs).

    Parameters
    ----------
    directory : str or pathlib.Path
        Target directory, created if missing.

    Returns
    -------
    list of pathlib.Path
        The files written, in a fixed order.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, kwargs in _SAMPLE_SPECS:
        events, truth = generate_sales_log(**kwargs)  # type: ignore[arg-type]
        for path, text in (
            (target / f"{stem}.csv", _events_csv(events)),
            (target / f"{stem}_ground_truth.csv", str(truth.to_csv(index=False, lineterminator="\n"))),
        ):
            _write_text(path, text)
            written.append(path)
    for fname, language in (("stages.yaml", "en"), ("stages_zh.yaml", "zh")):
        path = target / fname
        _write_text(path, stages_yaml(language))
        written.append(path)
    return written
