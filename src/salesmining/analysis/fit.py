"""Does the model fit the log? :class:`ModelFit`, the summary a consultant reads before any finding.

A model for another process, or one with misspelt stage names, still aligns: every case just
deviates. The fit summary says so first — stages the log never shows, the share of events the
model does not know, how many cases touch the model at all, how many reach one of its outcomes,
the fitting share and mean fitness — with a verdict and, when it is not *good*, one sentence per
problem saying what to do. The limits are the class attributes of :class:`ModelFit`
(documented in ``docs/conformance.md``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from salesmining.core import formatting as _fmt
from salesmining.core import html as _display
from salesmining.core.plain import plain

__all__ = ["ModelFit", "model_fit"]


@dataclasses.dataclass(frozen=True, eq=False)
class ModelFit:
    """How well a stage model (or drawn model) fits a log: coverage first, then alignment.

    Attributes
    ----------
    stages:
        The model's stages (for a drawn model: its visible transitions).
    stages_never_seen:
        Stages no event of the log has.
    outcomes_never_seen:
        Won / lost outcome activities no event has.
    events, events_outside:
        All events, and those whose activity the model does not know (not a stage, outcome,
        approval or anywhere activity).
    outside_activities:
        The activities outside the model, most events first (at most ten).
    cases, cases_touching, cases_closed:
        All cases; those with at least one event of a stage or outcome; those that ended won
        or lost.
    fitting_share, mean_fitness:
        As :attr:`Conformance.fitting_share` / :attr:`Conformance.mean_fitness`.

    The verdict is *poor* when any ``POOR_*`` limit is crossed, *fair* when any ``FAIR_*`` one
    is, else *good*.
    """

    #: poor: more than this share of the events is outside the model
    POOR_OUTSIDE: ClassVar[float] = 0.5
    #: poor: more than this share of the model's stages never occurs in the log
    POOR_NEVER_SEEN: ClassVar[float] = 0.5
    #: poor: fewer than this share of the cases has any stage or outcome event
    POOR_TOUCHING: ClassVar[float] = 0.5
    #: poor: mean fitness below this
    POOR_FITNESS: ClassVar[float] = 0.5
    #: fair: more than this share of the events is outside the model
    FAIR_OUTSIDE: ClassVar[float] = 0.2
    #: fair: fewer than this share of the cases follows the intended path exactly
    FAIR_FITTING: ClassVar[float] = 0.2

    stages: tuple[str, ...]
    stages_never_seen: tuple[str, ...]
    outcomes_never_seen: tuple[str, ...]
    events: int
    events_outside: int
    outside_activities: tuple[str, ...]
    cases: int
    cases_touching: int
    cases_closed: int
    fitting_share: float
    mean_fitness: float
    has_outcomes: bool = True

    @property
    def share_outside(self) -> float:
        """Share of the events whose activity the model does not know."""
        return self.events_outside / self.events if self.events else math.nan

    @property
    def share_touching(self) -> float:
        """Share of the cases with at least one event of a stage or outcome."""
        return self.cases_touching / self.cases if self.cases else math.nan

    @property
    def share_never_seen(self) -> float:
        """Share of the model's stages never seen in the log."""
        return len(self.stages_never_seen) / len(self.stages) if self.stages else math.nan

    def _problems(self) -> list[tuple[str, str]]:
        """(level, sentence) per problem, worst first."""
        out: list[tuple[str, str]] = []
        pct = _fmt.percent
        if self.share_never_seen > self.POOR_NEVER_SEEN:
            out.append(
                (
                    "poor",
                    f"{len(self.stages_never_seen)} of {len(self.stages)} stages never occur in the log "
                    f"({', '.join(self.stages_never_seen[:5])}); check the stage names "
                    "or use a model for this process.",
                )
            )
        if self.share_outside > self.POOR_OUTSIDE:
            out.append(
                (
                    "poor",
                    f"{pct(self.share_outside)} of the events are outside the model (most: "
                    f"{', '.join(self.outside_activities[:3])}); add them as stages or 'anywhere' activities, "
                    "or use a model for this process.",
                )
            )
        if self.share_touching < self.POOR_TOUCHING:
            out.append(
                (
                    "poor",
                    f"only {pct(self.share_touching)} of the cases have any event of the model's stages; "
                    "this model is probably for another process.",
                )
            )
        if self.mean_fitness < self.POOR_FITNESS:
            out.append(
                (
                    "poor",
                    f"mean fitness is {self.mean_fitness:.2f}: most of each case does not match the model; "
                    "review the stage order, or infer one with StageModel.infer(log) and compare.",
                )
            )
        if not out and self.share_outside > self.FAIR_OUTSIDE:
            out.append(
                (
                    "fair",
                    f"{pct(self.share_outside)} of the events are outside the model (most: "
                    f"{', '.join(self.outside_activities[:3])}); findings ignore them.",
                )
            )
        if not out and self.fitting_share < self.FAIR_FITTING:
            out.append(
                (
                    "fair",
                    f"only {pct(self.fitting_share)} of the cases follow the intended path exactly; "
                    "check the model's order and optional stages before reading the deviations.",
                )
            )
        if len(self.stages_never_seen) > 0 and self.share_never_seen <= self.POOR_NEVER_SEEN:
            out.append(("note", f"never seen in the log: {', '.join(self.stages_never_seen[:5])}."))
        if not self.has_outcomes:
            out.append(("note", "the model has no won/lost outcome: win rate and cycle time cannot be computed."))
        elif self.cases_closed == 0 and self.cases:
            out.append(
                (
                    "note",
                    "no case reaches a won or lost outcome of the model: win rate and cycle time cannot be computed.",
                )
            )
        return out

    @property
    def verdict(self) -> str:
        """``"good"``, ``"fair"`` or ``"poor"``."""
        levels = {lvl for lvl, _ in self._problems()}
        return "poor" if "poor" in levels else "fair" if "fair" in levels else "good"

    @property
    def warnings(self) -> tuple[str, ...]:
        """One sentence per problem (poor and fair ones), each saying what to do; empty when good."""
        return tuple(text for lvl, text in self._problems() if lvl in ("poor", "fair"))

    @property
    def notes(self) -> tuple[str, ...]:
        """Remarks that do not change the verdict (a few stages never seen, no outcomes)."""
        return tuple(text for lvl, text in self._problems() if lvl == "note")

    @property
    def headline(self) -> str:
        """One sentence: the verdict and the numbers behind it."""
        return (
            f"model fit {self.verdict}: {_fmt.percent(self.fitting_share)} of cases follow the intended path, "
            f"mean fitness {self.mean_fitness:.2f}, {_fmt.percent(self.share_outside)} of events outside the model, "
            f"{len(self.stages) - len(self.stages_never_seen)} of {len(self.stages)} stages seen"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data: every attribute, the shares, the verdict, warnings and notes."""
        out = {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out.update(
            share_outside=plain(self.share_outside),
            share_touching=plain(self.share_touching),
            share_never_seen=plain(self.share_never_seen),
            verdict=self.verdict,
            warnings=list(self.warnings),
            notes=list(self.notes),
        )
        return out

    def to_frame(self) -> pd.DataFrame:
        """The fit measures as a table: ``measure``, ``value``, ``limit`` (the poor limit, NaN when none)."""
        rows = [
            ("fitting_share", self.fitting_share, math.nan),
            ("mean_fitness", self.mean_fitness, self.POOR_FITNESS),
            ("share_outside", self.share_outside, self.POOR_OUTSIDE),
            ("share_touching", self.share_touching, self.POOR_TOUCHING),
            ("share_never_seen", self.share_never_seen, self.POOR_NEVER_SEEN),
            ("cases_closed", float(self.cases_closed), math.nan),
        ]
        return pd.DataFrame(rows, columns=["measure", "value", "limit"])

    def __repr__(self) -> str:
        return f"<ModelFit {self.headline.removeprefix('model fit ')}>"

    def _repr_html_(self) -> str:
        facts: list[tuple[str, object]] = [
            ("verdict", self.verdict),
            ("follow the intended path", _fmt.percent(self.fitting_share)),
            ("mean fitness", f"{self.mean_fitness:.3f}" if not math.isnan(self.mean_fitness) else _fmt.MISSING),
            ("events outside the model", _fmt.percent(self.share_outside)),
            ("cases touching the model", _fmt.percent(self.share_touching)),
            ("stages never seen", ", ".join(self.stages_never_seen) or "–"),
        ]
        items = "".join(f"<li>{_display.esc(w)}</li>" for w in (*self.warnings, *self.notes))
        return _display.card("Model fit", facts, f"<ul>{items}</ul>" if items else "")


def model_fit(
    *,
    activity: np.ndarray,
    names: np.ndarray,
    case: np.ndarray,
    n_cases: int,
    stages: Iterable[str],
    outcomes: Iterable[str],
    known: Iterable[str],
    closed: int,
    fitting_share: float,
    mean_fitness: float,
    has_outcomes: bool | None = None,
) -> ModelFit:
    """The fit summary from the log's integer codes: per event its ``activity`` (codes into
    ``names``) and ``case`` (codes ``0..n_cases - 1``, every case with an event).

    Activities outside the model are listed most frequent first, ties in order of first appearance.
    """
    st = tuple(stages)
    oc = tuple(outcomes)
    labels = [str(n) for n in names]
    counts = np.bincount(activity, minlength=len(labels))
    first = np.full(len(labels), len(activity), dtype=np.int64)
    np.minimum.at(first, activity, np.arange(len(activity), dtype=np.int64))
    present = np.flatnonzero(counts)
    order = present[np.lexsort((first[present], -counts[present]))]
    inside = np.isin(labels, list(set(known))) if labels else np.zeros(0, dtype=bool)
    touch = np.isin(labels, list(set(st) | set(oc))) if labels else np.zeros(0, dtype=bool)
    seen = {labels[k] for k in present}
    touching = np.count_nonzero(np.bincount(case[touch[activity]], minlength=n_cases)) if len(activity) else 0
    return ModelFit(
        stages=st,
        stages_never_seen=tuple(s for s in st if s not in seen),
        outcomes_never_seen=tuple(a for a in oc if a not in seen),
        events=len(activity),
        events_outside=int(counts[~inside].sum()),
        outside_activities=tuple(labels[k] for k in order if not inside[k])[:10],
        cases=int(n_cases),
        cases_touching=int(touching),
        cases_closed=int(closed),
        fitting_share=float(fitting_share),
        mean_fitness=float(mean_fitness),
        has_outcomes=bool(oc) if has_outcomes is None else has_outcomes,
    )
