"""The :class:`Findings` result: ranked findings, their evidence and root-cause hints."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from salesmining.analysis.stages import StageModel
from salesmining.core import formatting
from salesmining.core import html as _display
from salesmining.core.errors import OptionError
from salesmining.core.vocabulary import FINDING_KINDS
from salesmining.findings.attribution import ATTRIBUTION_COLUMNS, public
from salesmining.findings.ranking import SEVERITY_ORDER
from salesmining.findings.root_causes import root_causes as _root_causes
from salesmining.findings.rules import FindingRules

__all__ = ["Findings"]


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: numpy numbers as Python ones, NaN as ``None``, tuples as lists."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass(frozen=True, eq=False)
class Findings:
    """Bottlenecks found in a log, ranked by impact, each with evidence.

    ``to_frame()`` has fixed columns (see :data:`FINDING_RULES` for the rules):
    ``kind``, ``where``, ``cases``, ``share``, ``time_lost_hours``, ``win_rate_effect`` (win rate
    of closed affected cases minus closed unaffected ones), ``cycle_time_effect_hours`` (median
    cycle time of closed affected minus unaffected), ``severity`` (high / medium / low),
    ``example_cases`` (the cases that lost most), then ``rule``, ``rank``,
    ``time_lost_per_case_hours``, ``closed_affected``, ``closed_unaffected``,
    ``win_rate_affected``, ``win_rate_unaffected``, ``detail``, the finding's what-if —
    ``whatif_change`` (for a redundant-approval, long-wait or slow-response finding: the change
    that removes it, replayed as :func:`what_if` does: drop the repeats, run the chain in parallel,
    remove the rubber stamp, cap the wait at the finding's limit; else ``None``),
    ``whatif_median_gain_s`` (median cycle time of closed cases today minus projected, seconds),
    ``whatif_low_s`` and ``whatif_high_s`` (its 95% case-bootstrap interval, 500 resamples),
    ``whatif_saved_s`` (the time the change takes out of all cases together) —
    and the place of the finding:
    ``activity`` (the stage, approval step or activity it sits at, else ``None``),
    ``from_activity`` and ``to_activity`` (the two ends of the step it sits on — a backward move,
    a first response, a handoff, an approval chain — else ``None``; an end is ``None`` when it is
    not known, e.g. a handoff before the first stage) and ``stalled`` (an open case stalled in
    ``activity``). ``where`` is display text made from the place; read the place from these
    columns, not from ``where``. Every table handed out is a new copy.
    """

    model: StageModel
    rules: FindingRules
    n_cases: int
    _findings: pd.DataFrame = dataclasses.field(repr=False)
    _evidence: pd.DataFrame = dataclasses.field(repr=False)
    _cases: pd.DataFrame = dataclasses.field(repr=False)
    warnings: tuple[str, ...] = ()
    _attribution: pd.DataFrame | None = dataclasses.field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """All findings, most severe first."""
        return self._findings.copy()

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data: ``n_cases``, ``warnings`` and ``findings``, one dict per row of
        :meth:`to_frame` (NaN as ``None``, ``example_cases`` as a list)."""
        return {
            "n_cases": int(self.n_cases),
            "warnings": list(self.warnings),
            "findings": [{str(k): _plain(v) for k, v in r.items()} for r in self._findings.to_dict("records")],
        }

    @property
    def attribution(self) -> pd.DataFrame:
        """One row per gap between two consecutive events of a case, and the one finding charged
        for it: ``case_id``, ``prev_activity``, ``activity``, ``gap_start``, ``gap_end``,
        ``gap_s``, ``cause`` (the gap's kind: stage, handoff, approval, repeat), then ``kind``,
        ``rule``, ``where`` (``None`` when no finding charges it) and ``charged_s`` (≤ ``gap_s``).
        Every finding's time lost is the sum of its ``charged_s`` (``stalled_open``'s "time so far"
        is not a gap and is reported apart)."""
        return self._public_attribution.copy()

    @functools.cached_property
    def _public_attribution(self) -> pd.DataFrame:
        """The attribution table with its text decoded, once, on first use."""
        return public(self._coded_attribution)

    @property
    def _coded_attribution(self) -> pd.DataFrame:
        """The attribution table as the library reads it: text columns as categoricals (not a copy)."""
        if self._attribution is None:
            return pd.DataFrame(columns=ATTRIBUTION_COLUMNS)
        return self._attribution

    @property
    def evidence(self) -> pd.DataFrame:
        """One row per (finding, case): ``kind``, ``rule``, ``where``, ``case_id``, ``time_lost_s``, ``detail``,
        then the place columns of :meth:`to_frame` (``activity``, ``from_activity``, ``to_activity``, ``stalled``)."""
        return self._evidence.copy()

    def cases_for(self, kind: str, *, rules: Iterable[str] | None = None, min_severity: str = "low") -> set[str]:
        """The ids of the cases behind the findings of one kind (optionally some rules only)."""
        f = self.filter(kind=kind, min_severity=min_severity)._findings
        if rules is not None:
            f = f[f["rule"].isin(list(rules))]
        key = ["kind", "rule", "where"]
        ev = self._evidence
        m = pd.MultiIndex.from_frame(ev[key]).isin(pd.MultiIndex.from_frame(f[key]))
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

        ``stage`` keeps findings at that stage, on a step into or out of it, or at an approval
        of that stage.
        """
        f = self._findings
        if kind is not None:
            kinds = {kind} if isinstance(kind, str) else set(kind)
            unknown = kinds - set(FINDING_KINDS)
            if unknown:
                raise OptionError(f"unknown finding kind(s) {sorted(unknown)}; kinds are {FINDING_KINDS}")
            f = f[f["kind"].isin(kinds)]
        if where is not None:
            f = f[f["where"] == where]
        if stage is not None:
            places = {stage} | {a for a, s in self.model.approvals.items() if s == stage}
            f = f[f["activity"].isin(places) | (f["from_activity"] == stage) | (f["to_activity"] == stage)]
        if min_severity not in SEVERITY_ORDER:
            raise OptionError(f"min_severity must be high, medium or low, not {min_severity!r}")
        f = f[f["severity"].map(SEVERITY_ORDER) <= SEVERITY_ORDER[min_severity]]
        return dataclasses.replace(self, _findings=f.reset_index(drop=True))

    @property
    def root_causes(self) -> pd.DataFrame:
        """For the top findings: case attributes over-represented among affected cases.

        Columns ``rank``, ``kind``, ``where``, ``attribute``, ``value``, ``affected_with``,
        ``affected``, ``all_with``, ``all``, ``lift`` = (affected_with/affected)/(all_with/all),
        ``population`` (what ``all`` counts: closed cases for a finding about closed cases, open
        cases for stalled deals, else all cases); kept with the support and lift of
        ``FindingRules.root_cause_*``; three per finding; no outcome-derived, stage-name or
        id-like attribute, dates in date bands. A correlation, not a cause.
        """
        return self._root_causes.copy()

    @functools.cached_property
    def _root_causes(self) -> pd.DataFrame:
        return _root_causes(
            self._evidence, self._findings, self._cases, top=10, rules=self.rules, activities=self.model.activities
        )

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
        """Notebook card: counts by severity and the top 12 findings."""
        frame = self._findings
        rows = [
            (
                r["rank"],
                r["severity"],
                r["kind"],
                r["where"],
                formatting.count(r["cases"]),
                formatting.percent(r["share"]),
                f"{r['time_lost_hours']:,.0f}",
                formatting.signed_percent(r["win_rate_effect"]),
                ", ".join(r["example_cases"][:3]),
            )
            for r in frame.to_dict("records")
        ]
        facts = [(k, f"{int((frame['severity'] == k).sum())}") for k in ("high", "medium", "low")]
        facts.insert(0, ("cases", formatting.count(self.n_cases)))
        headers = ["#", "severity", "kind", "where", "cases", "share", "hours lost", "win rate Δ", "examples"]
        body = _display.table(headers, rows, max_rows=12)
        warn = "".join(f"<div>⚠ {_display.esc(w)}</div>" for w in self.warnings)
        return _display.card("Findings", facts, body, warn)
