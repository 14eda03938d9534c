"""Conformance of a log with the intended stage process: :func:`conform` → :class:`Conformance`.

How a case is read against a :class:`~salesmining.StageModel`
----------------------------------------------------------------
* **Stage sequence.** A case's activities that are stages or outcome activities, in event
  order. Approval activities and ``anywhere`` activities are left out (they are never
  deviations). Activities the model does not know are *unknown*: listed per case and, with
  ``count_unknown=True`` (the default), kept in the sequence, where they can only be log moves
  (and a case with one does not conform); with ``False`` they are only listed.
* **Intended process.** Stage 1 → stage 2 → … → last stage → a *won* activity; a *lost*
  activity may follow any stage; optional stages may be left out; each allowed backtrack
  ``(from, to)`` lets a case go from ``from`` back to ``to`` and walk forward again.
* **How a case ends** is read from its events, never guessed by the alignment: when the last
  activity of the stage sequence is a won (lost) activity the case is aligned against the won
  (lost) paths; otherwise (no outcome yet, or reopened after one) it is *open* and aligned as a
  **prefix**: it is not penalised for stages it has not reached yet. The alignment therefore
  never explains a recorded win as "lost, plus an unexpected won event".
* **Late entry.** A CRM history starts at the stage a record was created in; a stage missing
  *before* the first recorded stage is *left-censored*, not skipped. With
  ``allow_late_entry=True`` (the default) a case may enter the model at any stage up to the
  first stage it recorded (silent entry steps), so those stages cost nothing; a case with no
  stage recorded may enter anywhere. Entry is limited to the first recorded stage so the
  alignment cannot drop recorded early stages to jump ahead. With ``False`` every case starts
  before the first stage, as on a plain sequential net. Either way the missing stages are
  listed in ``left_censored``, apart from ``skipped``.
* **Alignment cost and fitness.** Standard costs: log move 1, model move 1, synchronous move
  and silent step 0. The optimal cost is exact (a dynamic programme over the trace and the
  model's states, the general form of the LCS edit distance), and equals pm4py's alignment cost
  on the equivalent Petri net (:func:`salesmining.interop.pm4py.stage_model_to_petri_net`). Fitness
  follows pm4py: ``1 - cost / (trace length + cost of the cheapest complete model run)``. An
  empty sequence with nothing to explain has fitness 1 (pm4py reports 0 there).

Per-case deviations are read from the sequence itself (so ties between equally cheap
alignments cannot change them):

* ``skipped`` — stages never recorded that lie between the first recorded stage and the
  furthest stage reached (for won cases: the last stage). Optional stages are never skipped.
* ``left_censored`` — stages never recorded that lie before the first recorded stage.
* ``backtracks`` — every move from a stage to an earlier stage (consecutive stages in the
  stage sequence, outcome activities passed over), in order, except the allowed ones; the
  ``backward_move`` loop findings count exactly these.
* ``repeats`` / ``repeat_counts`` — stages entered again (rework) and how many extra times; a
  re-entry is not rework when it is an allowed backtrack or the forward walk after one.
* ``out_of_order`` — pairs ``(a, b)`` where ``a`` was first recorded before ``b`` although
  ``b`` comes first in the model.
* ``reopened`` — an outcome activity followed later by a stage activity (the same meaning as the
  ``reopened`` loop finding).
* **Ties.** Stage and outcome events of a case sharing a timestamp are read in the order of the
  model (:func:`salesmining.analysis.visits.tie_order`), as the findings read them: the order of
  rows in a file says nothing about which came first, so it never makes a backtrack or a reopen.
* ``misplaced_approvals`` — approvals recorded while the case was in another stage (or in none
  yet); reported only, never a deviation.

All of this is computed once per distinct *projected* sequence (the stage, outcome and approval
activities in order) and mapped back to cases; unknown activities are read apart (which ones, and
how many when they are counted as log moves), so variants that differ only by activities outside
the model are read and aligned once.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import pandas as pd

from salesmining.analysis.fit import ModelFit, model_fit
from salesmining.analysis.stages import StageModel, as_stage_model
from salesmining.analysis.visits import coded_tie_order
from salesmining.core import formatting as _fmt
from salesmining.core import html as _display
from salesmining.core.errors import OptionError, StageModelError, StageModelTypeError
from salesmining.core.frames import handout
from salesmining.core.plain import plain, records
from salesmining.core.schema import CASE, OUTCOME, TIMESTAMP
from salesmining.engine import aggregations as _engine
from salesmining.interop import pm4py as _pm4py

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = ["Conformance", "conform", "stage_model_edges", "stage_model_to_petri_net"]

ENDS = ("won", "lost", "open")
Edge = tuple[int, int, "str | None"]
_DEV_COLUMNS = (
    "deviation",
    "kind",
    "detail",
    "cases",
    "share",
    "closed_with",
    "closed_without",
    "median_throughput_with",
    "median_throughput_without",
    "throughput_delta",
    "won_with",
    "won_without",
    "win_rate_with",
    "win_rate_without",
    "win_rate_delta",
)
_TUPLE_COLUMNS = (
    "skipped",
    "left_censored",
    "backtracks",
    "repeats",
    "repeat_counts",
    "out_of_order",
    "unknown",
    "misplaced_approvals",
)
#: The tuple-valued facts kept per group of variants (``Conformance._facts``), in column order.
_GROUP_FACTS = (
    "skipped",
    "left_censored",
    "eligible",
    "backtracks",
    "repeats",
    "repeat_counts",
    "out_of_order",
    "unknown",
    "misplaced_approvals",
    "visited",
)
_KIND_LABEL = {
    "skipped": "skipped",
    "left_censored": "left-censored (missing before the first recorded stage)",
    "backtrack": "backtrack",
    "repeat": "repeated",
    "out_of_order": "out of order",
    "unknown": "activity not in the model",
    "reopened": "reopened after close",
}


class _Calendar(Protocol):
    def seconds_between(self, start: Any, end: Any) -> Any: ...


# --- the model as an automaton ---------------------------------------------------------------
def stage_model_edges(model: StageModel, *, end: str, entry: int = 0) -> tuple[int, list[Edge]]:
    """The stage model as a labelled graph: ``(number of states, [(from, to, label or None)])``.

    States ``0..n`` are the places "after stage i" (0 = before the first stage) and state
    ``n + 1`` is the end. ``None`` labels are silent steps. ``end`` picks the ways to finish:
    ``"won"`` (a won activity after the last stage), ``"lost"`` (a lost activity after any
    stage), ``"closed"`` (either), ``"open"`` (a silent stop anywhere: prefix semantics).
    ``entry`` (0..n) adds silent steps from state 0 into states ``1..entry`` (late entry).
    This one graph is both the Petri net handed to pm4py and the alignment's state space.

    Examples
    --------
    >>> m = StageModel(["A", "B"], outcomes={"won": ["W"], "lost": ["L"]})
    >>> stage_model_edges(m, end="lost")
    (4, [(0, 1, 'A'), (1, 2, 'B'), (1, 3, 'L'), (2, 3, 'L')])
    >>> stage_model_edges(m, end="won", entry=1)[1]
    [(0, 1, 'A'), (1, 2, 'B'), (0, 1, None), (2, 3, 'W')]
    """
    if end not in ("won", "lost", "closed", "open"):
        raise OptionError(f"end must be won, lost, closed or open, not {end!r}")
    n = len(model.stages)
    pos = {s: i for i, s in enumerate(model.stages)}
    stop = n + 1
    edges: list[Edge] = []
    for i, s in enumerate(model.stages):
        edges.append((i, i + 1, s))
        if s in model.optional:
            edges.append((i, i + 1, None))
    for f, t in model.allowed_backtracks:
        edges.append((pos[f] + 1, pos[t] + 1, t))
    if not 0 <= entry <= n:
        raise OptionError(f"entry must be a state 0..{n}, not {entry}")
    edges.extend((0, i, None) for i in range(1, entry + 1))
    if end in ("won", "closed"):
        edges.extend((n, stop, w) for w in model.won)
    if end in ("lost", "closed"):
        edges.extend((i, stop, lo) for lo in model.lost for i in range(1, n + 1))
    if end == "open":
        edges.extend((i, stop, None) for i in range(n + 1))
    return n + 2, edges


def stage_model_to_petri_net(
    model: StageModel, *, end: str = "closed", late_entry: bool | str = False
) -> tuple[Any, Any, Any]:
    """The Petri net equivalent to a :class:`~salesmining.StageModel`: ``(net, initial_marking, final_marking)``.

    A state machine: place ``p0`` (before the first stage), ``p1..pn`` (after stage i) and
    ``end``; one transition per stage, silent skips for optional stages, a transition back
    for each allowed backtrack. ``end`` chooses the ways to finish: ``"won"`` (a won activity
    after the last stage), ``"lost"`` (a lost activity after any stage), ``"closed"`` (either —
    the net to draw), or ``"open"`` (a silent stop at any place: prefix semantics for cases
    still running). ``late_entry``: ``False`` starts at the first stage; a stage name adds silent
    entries into every stage up to that one; ``True`` into every stage. A case first recorded
    in stage *s* (none: ``True``) with end *e* is aligned by :func:`salesmining.conform` against
    ``stage_model_to_petri_net(model, end=e, late_entry=s)``.
    """
    n = len(model.stages)
    if isinstance(late_entry, bool):
        entry = n if late_entry else 0
    elif late_entry in model.stages:
        entry = model.stages.index(late_entry)
    else:
        raise StageModelError(f"late_entry must be True, False or a stage, not {late_entry!r}")
    n_states, edges = stage_model_edges(model, end=end, entry=entry)
    return _pm4py.state_machine_to_petri_net(model.name or "stage model", n_states, edges)


@dataclasses.dataclass(frozen=True)
class _Aligner:
    """The won, lost and open graphs merged (shared stage states, one end state each) for the DP."""

    labels: dict[str, int]
    dist: np.ndarray  # (S, S): fewest model moves from one state to another (silent steps free)
    sync: np.ndarray  # (C + 1, S, S): 0 where a transition with that label links the states, else inf
    end_state: dict[str, int]
    start: np.ndarray  # (n + 1, S): row k = cheapest way from the start to each state when states 0..k can be entered

    @classmethod
    def build(cls, model: StageModel) -> _Aligner:
        n = len(model.stages)
        labels = {a: i for i, a in enumerate((*model.stages, *model.won, *model.lost))}
        n_states = n + 1 + len(ENDS)
        end_state = {e: n + 1 + k for k, e in enumerate(ENDS)}
        edges: set[Edge] = set()
        for e in ENDS:
            _, es = stage_model_edges(model, end=e)
            edges.update((u, end_state[e] if v == n + 1 else v, lab) for u, v, lab in es)
        dist = np.full((n_states, n_states), np.inf)
        np.fill_diagonal(dist, 0.0)
        sync = np.full((len(labels) + 1, n_states, n_states), np.inf)
        for u, v, lab in edges:
            dist[u, v] = min(dist[u, v], 0.0 if lab is None else 1.0)
            if lab is not None:
                sync[labels[lab], u, v] = 0.0
        for k in range(n_states):  # Floyd-Warshall on a graph of a few dozen states
            dist = np.minimum(dist, dist[:, k, None] + dist[None, k, :])
        # silent entry steps leave state 0 only and no edge enters state 0, so entering states
        # 0..k is the cheapest of those rows of dist
        start = np.minimum.accumulate(dist[: n + 1], axis=0)
        return cls(labels=labels, dist=dist, sync=sync, end_state=end_state, start=start)

    def costs(self, traces: list[np.ndarray], entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Optimal alignment costs of traces (label codes) against each end, and of the empty trace.

        Returns ``(costs, empty)``, both ``(T, 3)`` for the ends won, lost, open; ``entries[t]``
        is the last state trace ``t`` may enter silently (0 = no late entry).

        ``A[s]`` is the cheapest cost of having read a prefix of the trace and standing in
        state ``s``. Reading a symbol is a log move (cost 1, same state) or a synchronous move
        along an edge with that label (cost 0); between symbols any number of model moves
        (``dist``). Vectorised over traces; the loop runs over positions only, longest traces
        first so the active traces are always a prefix of the arrays.
        """
        n_t = len(traces)
        ends = [self.end_state[e] for e in ENDS]
        empty = self.start[entries][:, ends] if n_t else np.zeros((0, len(ENDS)))
        if n_t == 0:
            return np.zeros((0, len(ENDS))), empty
        lengths = np.fromiter((len(t) for t in traces), dtype=np.int64, count=n_t)
        order = np.argsort(-lengths, kind="stable")
        sorted_len = lengths[order]
        offsets = np.zeros(n_t + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(sorted_len)
        flat = np.concatenate([traces[i] for i in order]) if offsets[-1] else np.zeros(0, dtype=np.int64)
        a = self.start[entries[order]]
        # number of traces still active at position j: those with length > j (sorted descending)
        active = np.searchsorted(-sorted_len, -np.arange(int(sorted_len[0]) if n_t else 0), side="left")
        for j, r in enumerate(active):
            sym = flat[offsets[:r] + j]
            cur = a[:r]
            moved = (cur[:, :, None] + self.sync[sym]).min(axis=1)
            b = np.minimum(cur + 1.0, moved)
            a[:r] = (b[:, :, None] + self.dist[None, :, :]).min(axis=1)
        out = np.empty((n_t, len(ENDS)))
        out[order] = a[:, ends]
        return out, empty


# --- per-variant reading of the stage sequence ------------------------------------------------
@dataclasses.dataclass
class _VariantFacts:
    trace: list[str]
    end: str
    entry: int
    derived_outcome: str
    n_unknown_events: int
    skipped: tuple[str, ...]
    left_censored: tuple[str, ...]
    eligible: tuple[int, ...]
    backtracks: tuple[tuple[str, str], ...]
    repeats: tuple[str, ...]
    repeat_counts: tuple[tuple[str, int], ...]
    out_of_order: tuple[tuple[str, str], ...]
    unknown: tuple[str, ...]
    misplaced_approvals: tuple[str, ...]
    reopened: bool
    visited: tuple[int, ...]


def _read_variant(acts: list[str], model: StageModel, pos: Mapping[str, int], count_unknown: bool) -> _VariantFacts:
    stages = model.stages
    n = len(stages)
    won, lost = set(model.won), set(model.lost)
    optional = {pos[s] for s in model.optional}
    allowed = {(pos[f], pos[t]) for f, t in model.allowed_backtracks}
    trace: list[str] = []
    unknown: list[str] = []
    misplaced: list[str] = []
    n_unknown = 0
    last_kind = "open"
    last_terminal = "open"
    closed_once = reopened = False
    prev: int | None = None
    seen: set[int] = set()
    visited: set[int] = set()
    first_visits: list[int] = []
    extra: dict[int, int] = {}
    backs: list[tuple[str, str]] = []
    for a in acts:
        i = pos.get(a)
        if i is not None:
            trace.append(a)
            if closed_once:
                reopened = True
            if prev is not None and (prev, i) in allowed:
                seen = {x for x in seen if x <= i}
            else:
                if i in seen:
                    extra[i] = extra.get(i, 0) + 1
                if prev is not None and i < prev:
                    backs.append((stages[prev], a))
            seen.add(i)
            if i not in visited:
                visited.add(i)
                first_visits.append(i)
            prev = i
            last_kind = "stage"
        elif a in won or a in lost:
            trace.append(a)
            last_kind = last_terminal = "won" if a in won else "lost"
            closed_once = True
        elif a in model.approvals:
            if (prev is None or stages[prev] != model.approvals[a]) and a not in misplaced:
                misplaced.append(a)
        elif a not in model.anywhere:
            n_unknown += 1
            if a not in unknown:
                unknown.append(a)
            if count_unknown:
                trace.append(a)
    end = last_kind if last_kind in ("won", "lost") else "open"
    if first_visits:
        lo = first_visits[0]
        hi = n - 1 if end == "won" else max(visited)
        eligible = tuple(range(lo + 1, hi + 1))
        skipped = tuple(stages[k] for k in eligible if k not in visited and k not in optional)
        left = tuple(stages[k] for k in range(lo) if k not in visited and k not in optional)
    else:
        reach = n - 1 if end == "won" else 0 if end == "lost" else -1
        eligible = ()
        skipped = ()
        left = tuple(stages[k] for k in range(reach + 1) if k not in optional)
    entry = first_visits[0] if first_visits else n
    ooo = tuple((stages[a], stages[b]) for r, a in enumerate(first_visits) for b in first_visits[r + 1 :] if b < a)
    return _VariantFacts(
        trace=trace,
        end=end,
        entry=entry,
        derived_outcome=last_terminal,
        n_unknown_events=n_unknown,
        skipped=skipped,
        left_censored=left,
        eligible=eligible,
        backtracks=tuple(backs),
        repeats=tuple(stages[k] for k in sorted(extra)),
        repeat_counts=tuple((stages[k], extra[k]) for k in sorted(extra)),
        out_of_order=ooo,
        unknown=tuple(unknown),
        misplaced_approvals=tuple(misplaced),
        reopened=reopened,
        visited=tuple(sorted(visited)),
    )


def _str_take(values: np.ndarray, at: np.ndarray) -> pd.Series:
    """``pd.Series(values[at], dtype="str")`` made by taking from the few ``values`` as Arrow
    strings (no string conversion per row)."""
    return pd.Series(pd.array(values, dtype="str").take(at), copy=False)


def _str_series(values: np.ndarray) -> pd.Series:
    """``pd.Series(values, dtype="str")`` for an object array of few distinct values (missing
    ones stay missing): its distinct values converted once and taken back."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return pd.Series(pd.array(np.asarray(uniques, dtype=object), dtype="str").take(codes, allow_fill=True), copy=False)


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


# --- the result --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Conformance:
    """How every case of a log follows the intended process, and what the deviations cost.

    Build it with :func:`salesmining.conform`. ``to_frame()`` has one row per case; the
    aggregates are properties: :attr:`fitting_share`, :attr:`skip_rates`,
    :attr:`backtrack_rates`, :attr:`deviations`.

    Attributes
    ----------
    model:
        The :class:`~salesmining.StageModel` compared with, or ``None`` for a drawn model.
    source:
        What the log was compared with (``"stage model"``, ``"Petri net (alignments)"``...).
    options:
        The options used (``allow_late_entry``, ``count_unknown``, ``method``, ``calendar``).
    """

    model: StageModel | None
    source: str
    options: Mapping[str, object]
    _cases: pd.DataFrame = dataclasses.field(repr=False)
    _groups: np.ndarray = dataclasses.field(repr=False)  # per case: its row in _facts
    _facts: pd.DataFrame = dataclasses.field(repr=False)  # per group of variants with the same facts
    _fit: ModelFit | None = dataclasses.field(default=None, repr=False)

    # --- per case ------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per case (sorted by case id).

        Columns: ``case_id``, ``variant_id``, ``fitness``, ``alignment_cost``, ``conforms``,
        ``skipped``, ``left_censored``, ``backtracks``, ``repeats``, ``repeat_counts``,
        ``out_of_order``, ``unknown``, ``misplaced_approvals``, ``reopened``, ``end`` (the end
        the alignment used: won / lost / open), ``outcome`` (case table, else the last outcome
        activity, else ``"open"``), ``throughput_s`` (first to last event, in seconds; working
        seconds with a calendar). Tuple columns hold stage / activity names.
        """
        return handout(self._cases)

    @property
    def n_cases(self) -> int:
        """Number of cases."""
        return len(self._cases)

    @property
    def fitting_share(self) -> float:
        """Share of cases that follow the intended path exactly (``conforms``); NaN for no cases."""
        return float(self._cases["conforms"].mean()) if len(self._cases) else float("nan")

    @property
    def mean_fitness(self) -> float:
        """Mean per-case fitness; NaN for no cases."""
        return float(self._cases["fitness"].mean()) if len(self._cases) else float("nan")

    @property
    def fit(self) -> ModelFit:
        """Does the model fit the log? Stages never seen, events outside the model, cases touching
        it, fitting share, a verdict and warnings (:class:`~salesmining.analysis.fit.ModelFit`)."""
        if self._fit is None:  # a Conformance built by hand, without the log
            return ModelFit(
                stages=tuple(self.model.stages) if self.model is not None else (),
                stages_never_seen=(),
                outcomes_never_seen=(),
                events=0,
                events_outside=0,
                outside_activities=(),
                cases=self.n_cases,
                cases_touching=self.n_cases,
                cases_closed=int(self._cases["outcome"].isin(["won", "lost"]).sum()),
                fitting_share=self.fitting_share,
                mean_fitness=self.mean_fitness,
            )
        return self._fit

    # --- aggregates -----------------------------------------------------------------------
    @property
    def skip_rates(self) -> pd.DataFrame:
        """Per stage: how often it is skipped between recorded stages, and left-censored apart.

        Columns: ``stage``; ``cases`` skipping it; ``eligible`` — cases whose recorded path
        passes the stage's place (first recorded stage before it, and a later stage reached or
        the case won); ``share`` = ``cases / eligible`` (the reading "skips between visited
        stages"); ``left_censored`` — cases where it is missing *before* the first recorded
        stage (late entry, not a skip) and ``left_censored_share`` of all cases. For a drawn
        model (Petri net / BPMN) a "stage" is a visible transition, ``cases`` counts cases with
        a model move on it and ``eligible`` is every case.
        """
        return handout(self._skip_rates)

    @property
    def backtrack_rates(self) -> pd.DataFrame:
        """Per backward move ``from → to``: ``cases`` showing it, total ``moves``, ``eligible``
        (cases that recorded ``from``) and ``share`` = ``cases / eligible``; most cases first.
        Empty for a drawn model."""
        return handout(self._backtrack_rates)

    @property
    def deviations(self) -> pd.DataFrame:
        """Deviations ranked by how many cases show them, with what they cost.

        One row per deviation (``kind``: skipped, backtrack, repeat, out_of_order, unknown,
        reopened, and left_censored — a data gap rather than a process deviation, listed so its
        impact can be judged). ``cases`` / ``share`` show it. Cost compares cases *with* and
        *without* it among closed cases (outcome won or lost): ``closed_with`` /
        ``closed_without`` counts, ``median_throughput_with`` / ``_without`` and
        ``throughput_delta`` (with − without), ``won_with`` / ``won_without``,
        ``win_rate_with`` / ``_without`` and ``win_rate_delta``. Sorted by cases (most first),
        then by throughput delta (largest first). Durations are working time when
        ``conform(calendar=...)`` was given.
        """
        return handout(self._deviations)

    @property
    def time_unit(self) -> str:
        """``"calendar time"`` or ``"working time"`` — what ``throughput_s`` and the throughput columns measure."""
        return "calendar time" if self.options.get("calendar") is None else _fmt.WORKING_TIME

    # the aggregates are computed once; the public properties hand out copies
    @functools.cached_property
    def _skip_rates(self) -> pd.DataFrame:
        cs = self._cases
        if self.model is None:
            per_group = self._facts["skipped"] if len(self._facts) else pd.Series([], dtype=object)
            cnt = np.bincount(self._groups, minlength=len(per_group))
            labels = sorted({s for t in per_group for s in t})
            counts = [int(cnt[per_group.map(lambda t, s=s: s in t).to_numpy(dtype=bool)].sum()) for s in labels]
            n = len(cs)
            return _empty_like(
                {
                    "stage": pd.Series(labels, dtype="str"),
                    "cases": np.array(counts, dtype="int64"),
                    "eligible": np.full(len(labels), n, dtype="int64"),
                    "share": np.array(counts, dtype=float) / max(n, 1),
                    "left_censored": np.zeros(len(labels), dtype="int64"),
                    "left_censored_share": np.zeros(len(labels)),
                }
            )
        v = self._facts
        cnt = np.bincount(self._groups, minlength=len(v))
        rows = []
        for k, s in enumerate(self.model.stages):
            skipped = int(cnt[v["skipped"].map(lambda t, s=s: s in t).to_numpy()].sum())
            eligible = int(cnt[v["eligible"].map(lambda t, k=k: k in t).to_numpy()].sum())
            left = int(cnt[v["left_censored"].map(lambda t, s=s: s in t).to_numpy()].sum())
            rows.append((s, skipped, eligible, skipped / eligible if eligible else float("nan"), left))
        out = pd.DataFrame(rows, columns=["stage", "cases", "eligible", "share", "left_censored"])
        out["stage"] = out["stage"].astype("str")
        out["left_censored_share"] = out["left_censored"] / max(len(cs), 1)
        return cast(pd.DataFrame, out)

    @functools.cached_property
    def _backtrack_rates(self) -> pd.DataFrame:
        cols = ["from", "to", "cases", "moves", "eligible", "share"]
        if self.model is None or not len(self._cases):
            return _empty_like({c: pd.Series([], dtype="str" if c in ("from", "to") else "float") for c in cols})
        v = self._facts
        cnt = np.bincount(self._groups, minlength=len(v))
        tally: dict[tuple[str, str], list[int]] = {}
        for i, moves in enumerate(v["backtracks"]):
            if not moves or not cnt[i]:
                continue
            for pair in set(moves):
                entry = tally.setdefault(pair, [0, 0])
                entry[0] += int(cnt[i])
                entry[1] += int(cnt[i]) * moves.count(pair)
        pos = {s: k for k, s in enumerate(self.model.stages)}
        rows = []
        for (f, t), (cases, moves_n) in tally.items():
            eligible = int(cnt[v["visited"].map(lambda x, k=pos[f]: k in x).to_numpy()].sum())
            rows.append((f, t, cases, moves_n, eligible, cases / eligible if eligible else float("nan")))
        out = pd.DataFrame(rows, columns=cols)
        if not len(out):
            return _empty_like({c: pd.Series([], dtype="str" if c in ("from", "to") else "float") for c in cols})
        out = out.sort_values(["cases", "from", "to"], ascending=[False, True, True], kind="stable")
        out[["from", "to"]] = out[["from", "to"]].astype("str")
        return cast(pd.DataFrame, out.reset_index(drop=True))

    @functools.cached_property
    def _deviations(self) -> pd.DataFrame:
        return _deviation_table(self._cases, self._groups, self._facts)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data: what was compared, the options, the headline shares and
        the aggregate tables (durations in seconds). The per-case table is :meth:`to_frame`."""
        options = {k: (repr(v) if k == "calendar" and v is not None else plain(v)) for k, v in self.options.items()}
        return {
            "source": self.source,
            "model": None if self.model is None else self.model.to_dict(),
            "options": options,
            "time_unit": self.time_unit,
            "cases": self.n_cases,
            "fitting_share": plain(self.fitting_share),
            "mean_fitness": plain(self.mean_fitness),
            "fit": self.fit.to_dict(),
            "skip_rates": records(self._skip_rates),
            "backtrack_rates": records(self._backtrack_rates),
            "deviations": records(self._deviations),
        }

    # --- display --------------------------------------------------------------------------
    def __repr__(self) -> str:
        if not len(self._cases):
            return f"<Conformance vs {self._against()}: no cases>"
        fit = self.fit
        said = f": {fit.warnings[0]}" if fit.warnings else ""
        return (
            f"<Conformance vs {self._against()}: {self.n_cases:,} cases, "
            f"{self.fitting_share:.1%} follow the intended path, mean fitness {self.mean_fitness:.3f}; "
            f"model fit {fit.verdict}{said}>"
        )

    def _against(self) -> str:
        if self.model is not None and self.model.name:
            return f"{self.source} {self.model.name!r}"
        return self.source

    def _repr_html_(self) -> str:
        cs = self._cases
        working = self.options.get("calendar") is not None
        fit = self.fit
        facts: list[tuple[str, object]] = [
            ("model fit", fit.verdict),
            ("events outside the model", _fmt.percent(fit.share_outside)),
            ("stages never seen", ", ".join(fit.stages_never_seen) or "–"),
            ("cases", _fmt.count(self.n_cases)),
            ("follow the intended path", _fmt.percent(self.fitting_share) if len(cs) else _fmt.MISSING),
            ("mean fitness", f"{self.mean_fitness:.3f}" if len(cs) else _fmt.MISSING),
            ("reopened", _fmt.count(int(cs["reopened"].fillna(False).sum())) if len(cs) else _fmt.MISSING),
        ]
        if working:
            facts.append(("durations", _fmt.WORKING_TIME))
        dev = self._deviations.head(10)
        dev_rows = [
            (
                r.deviation,
                _fmt.count(r.cases),
                _fmt.percent(r.share),
                _fmt.days(r.median_throughput_with, working=working),
                _fmt.days(r.median_throughput_without, working=working),
                _fmt.percent(r.win_rate_with),
                _fmt.percent(r.win_rate_without),
            )
            for r in dev.itertuples(index=False)
        ]
        warn = "".join(f"<div style='margin:6px 0;color:#9a6700'>&#9888; {_display.esc(w)}</div>" for w in fit.warnings)
        sections = [
            f"<div style='margin:6px 0;color:#57606a'>compared with {_display.esc(self._against())}</div>{warn}",
            _display.table(
                ["deviation", "cases", "share", "median throughput with", "without", "win rate with", "without"],
                dev_rows,
            )
            if dev_rows
            else "<div>no deviations</div>",
        ]
        if self.model is not None and len(cs):
            sk = self._skip_rates
            sections.append(
                _display.table(
                    ["stage", "skipped", "of eligible", "rate", "left-censored"],
                    [
                        (
                            r.stage,
                            _fmt.count(r.cases),
                            _fmt.count(r.eligible),
                            _fmt.percent(r.share),
                            _fmt.count(r.left_censored),
                        )
                        for r in sk.itertuples(index=False)
                    ],
                    max_rows=30,
                )
            )
        return _display.card("Conformance", facts, *sections)


def _empty_like(columns: Mapping[str, Any]) -> pd.DataFrame:
    return cast(pd.DataFrame, pd.DataFrame(dict(columns)))


def _deviation_labels(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    out += [("skipped", s) for s in row["skipped"]]
    out += [("left_censored", s) for s in row["left_censored"]]
    out += [("backtrack", f"{f} → {t}") for f, t in dict.fromkeys(row["backtracks"])]
    out += [("repeat", s) for s in row["repeats"]]
    out += [("out_of_order", f"{a} before {b}") for a, b in row["out_of_order"]]
    out += [("unknown", a) for a in row["unknown"]]
    if row["reopened"] is True:
        out.append(("reopened", ""))
    return out


def _deviation_table(cs: pd.DataFrame, groups: np.ndarray, facts: pd.DataFrame) -> pd.DataFrame:
    empty = _empty_like({c: pd.Series([], dtype="float") for c in _DEV_COLUMNS})
    if not len(cs):
        return empty
    cols = ["skipped", "left_censored", "backtracks", "repeats", "out_of_order", "unknown", "reopened"]
    links = [
        (g, kind, detail)
        for g, row in enumerate(facts[cols].to_dict("records"))
        for kind, detail in _deviation_labels(row)
    ]
    if not links:
        return empty
    lk = pd.DataFrame(links, columns=["group", "kind", "detail"])
    lk["dev"] = lk["kind"] + "\x1f" + lk["detail"]
    dev_codes, dev_names = pd.factorize(lk["dev"], sort=True)
    n_dev = len(dev_names)
    # case x deviation incidence, built per group of variants and mapped to cases
    inc = np.zeros((len(facts), n_dev), dtype=bool)
    inc[lk["group"].to_numpy(), dev_codes] = True
    case_inc = inc[groups]
    outcome = cs["outcome"].to_numpy(dtype=object)
    closed = np.isin(outcome, ["won", "lost"])
    won = outcome == "won"
    thr = cs["throughput_s"].to_numpy(dtype=float)
    n = len(cs)
    cases = case_inc.sum(0)
    closed_with = (case_inc & closed[:, None]).sum(0)
    won_with = (case_inc & won[:, None]).sum(0)
    closed_without = int(closed.sum()) - closed_with
    won_without = int(won.sum()) - won_with
    med_with = np.full(n_dev, np.nan)
    med_without = np.full(n_dev, np.nan)
    thr_closed = thr[closed]
    inc_closed = case_inc[closed]
    for d in range(n_dev):
        m = inc_closed[:, d]
        if m.any():
            med_with[d] = np.nanmedian(thr_closed[m])
        if (~m).any():
            med_without[d] = np.nanmedian(thr_closed[~m])
    with np.errstate(invalid="ignore", divide="ignore"):
        wr_with = np.where(closed_with > 0, won_with / np.maximum(closed_with, 1), np.nan)
        wr_without = np.where(closed_without > 0, won_without / np.maximum(closed_without, 1), np.nan)
    kinds = [str(d).split("\x1f")[0] for d in dev_names]
    details = [str(d).split("\x1f")[1] for d in dev_names]
    labels = [f"{_KIND_LABEL[k]}: {d}" if d else _KIND_LABEL[k] for k, d in zip(kinds, details, strict=True)]
    out = pd.DataFrame(
        {
            "deviation": pd.Series(labels, dtype="str"),
            "kind": pd.Series(kinds, dtype="str"),
            "detail": pd.Series(details, dtype="str"),
            "cases": cases.astype("int64"),
            "share": cases / n,
            "closed_with": closed_with.astype("int64"),
            "closed_without": closed_without.astype("int64"),
            "median_throughput_with": pd.to_timedelta(med_with, unit="s"),
            "median_throughput_without": pd.to_timedelta(med_without, unit="s"),
            "throughput_delta": pd.to_timedelta(med_with - med_without, unit="s"),
            "won_with": won_with.astype("int64"),
            "won_without": won_without.astype("int64"),
            "win_rate_with": wr_with,
            "win_rate_without": wr_without,
            "win_rate_delta": wr_with - wr_without,
        }
    )
    out["_delta"] = np.nan_to_num(med_with - med_without, nan=-np.inf)
    out = out.sort_values(["cases", "_delta", "deviation"], ascending=[False, False, True], kind="stable")
    return cast(pd.DataFrame, out.drop(columns="_delta").reset_index(drop=True))


# --- the analysis ------------------------------------------------------------------------------
def _case_basics(log: EventLog, calendar: _Calendar | None) -> pd.DataFrame:
    """Per case (sorted by id): variant id, known outcome, throughput."""
    coded = log._coded
    cs: pd.DataFrame = log._cases  # type: ignore[attr-defined]
    names = np.asarray(coded.case_names, dtype=object)
    if len(cs) == len(names) and bool((cs[CASE].to_numpy(dtype=object) == names).all()):
        # the case table lists the cases sorted by id, as the codes do: its columns as they are
        ids = pd.Index(cs[CASE].array)
        known = cs[OUTCOME].to_numpy(dtype=object)
    else:
        ids = pd.Index(pd.array(names, dtype="str"))
        known = cs.set_index(CASE)[OUTCOME].reindex(ids).to_numpy(dtype=object)
    if calendar is not None:
        ev: pd.DataFrame = log._events  # type: ignore[attr-defined]
        span = ev.groupby(CASE, sort=False)[TIMESTAMP].agg(["min", "max"]).reindex(ids)
        thr = np.asarray(calendar.seconds_between(span["min"], span["max"]), dtype=float)
    else:
        # the cases are sorted by id, as the codes are; each case's events by time
        at = coded.bounds
        thr = (coded.ts_us[at[1:] - 1] - coded.ts_us[at[:-1]]) / 1e6
    return pd.DataFrame(
        {
            "case_id": pd.Series(ids.array, copy=False),
            "variant_id": log._coded_variants.of_case.astype("int64"),
            "_known": known,
            "throughput_s": thr,
        }
    )


def _tie_sequences(log: EventLog, model: StageModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The activity-code sequences conformance reads, and each case's one: ``(offsets, codes, per case)``.

    They are the log's variants and, appended, the cases whose stage events tie, re-read in
    model order (one sequence each: equal ones fall together when projected).
    """
    coded, cv = log._coded, log._coded_variants
    of_case = cv.of_case
    if not coded.n_events:
        return cv.offsets, cv.codes, of_case
    seq = coded_tie_order(log, model)
    moved = seq != coded.source_row
    if not moved.any():
        return cv.offsets, cv.codes, of_case
    cases = np.unique(coded.case[moved])
    rows = np.flatnonzero(np.isin(coded.case, cases))
    rows = rows[np.lexsort((seq[rows], coded.ts_us[rows], coded.case[rows]))]
    lengths = (coded.bounds[1:] - coded.bounds[:-1])[cases]
    offsets = np.concatenate([cv.offsets, cv.offsets[-1] + np.cumsum(lengths)])
    codes = np.concatenate([cv.codes, coded.activity[rows].astype(np.int32)])
    idx = of_case.copy()
    idx[cases] = cv.n_variants + np.arange(len(cases))
    return offsets, codes, idx


def _subsequences(offsets: np.ndarray, codes: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (offsets, codes) table of every sequence restricted to the positions in ``mask``."""
    kept = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(mask, out=kept[1:])
    return kept[offsets], codes[mask]


def _first_unknowns(offsets: np.ndarray, codes: np.ndarray, unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence its activities in ``unknown`` (a mask per code), each once, in order of first appearance."""
    at = np.flatnonzero(unknown[codes])
    owner = np.searchsorted(offsets, at, side="right") - 1
    _, first = np.unique(owner * len(unknown) + codes[at], return_index=True)
    first.sort()
    out = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(np.bincount(owner[first], minlength=len(offsets) - 1), out=out[1:])
    return out, codes[at[first]]


def _projections(
    log: EventLog, model: StageModel, *, count_unknown: bool
) -> tuple[np.ndarray, list[list[str]], list[tuple[str, ...]], np.ndarray, np.ndarray, np.ndarray]:
    """Each case's group of sequences with the same facts, and what the groups are made of.

    A sequence's facts depend only on its *projection* — its stages, outcome and approval
    activities in order (``anywhere`` activities are never read) — and on its unknown
    activities: which ones (in order of first appearance) and, when they are counted as log
    moves, how many (each costs exactly 1 wherever it stands). Returns per case its group;
    the distinct projections (activity names); the distinct unknown lists; and per group its
    projection, its unknown list and its counted unknown events.
    """
    coded = log._coded
    offsets, codes, of_case = _tie_sequences(log, model)
    names = coded.activity_names
    known = {*model.stages, *model.won, *model.lost, *model.approvals}
    keep = np.array([str(a) in known for a in names], dtype=bool)
    unknown = np.array([str(a) not in known and str(a) not in model.anywhere for a in names], dtype=bool)
    p_off, p_codes = _subsequences(offsets, codes, keep[codes])
    p_of_seq, p_first = _engine.group_sequences(p_off, p_codes)
    u_off, u_codes = _first_unknowns(offsets, codes, unknown)
    u_of_seq, u_first = _engine.group_sequences(u_off, u_codes)
    counted = np.zeros(len(p_of_seq), dtype=np.int64)
    if count_unknown:
        n_unknown = np.zeros(len(codes) + 1, dtype=np.int64)
        np.cumsum(unknown[codes], out=n_unknown[1:])
        counted = n_unknown[offsets[1:]] - n_unknown[offsets[:-1]]
    g_of_seq, first = _pair_ids(_pair_ids(p_of_seq, u_of_seq)[0], counted)
    projected = [list(t) for t in _engine.variant_tuples(*_engine.take_sequences(p_off, p_codes, p_first), names)]
    unknowns = _engine.variant_tuples(*_engine.take_sequences(u_off, u_codes, u_first), names)
    return g_of_seq[of_case], projected, unknowns, p_of_seq[first], u_of_seq[first], counted[first]


def _pair_ids(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the distinct pairs ``(a[i], b[i])`` of non-negative integers below 2**31: each row's
    pair, and each pair's first row."""
    key = a.astype(np.int64) * (int(b.max()) + 1 if len(b) else 1) + b
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), first.astype(np.int64)


def _conform_stage_model(
    log: EventLog, model: StageModel, *, allow_late_entry: bool, count_unknown: bool, calendar: _Calendar | None
) -> Conformance:
    base = _case_basics(log, calendar)
    pos = {s: i for i, s in enumerate(model.stages)}
    # the log's activities are the coded names (no count of every event's activity needed here)
    present = {str(a) for a in log._coded.activity_names}
    if len(base) and not present & (set(model.stages) | set(model.won) | set(model.lost)):
        raise StageModelError(
            "none of the model's stages or outcome activities occur in the log; check the names "
            f"(model stages {list(model.stages)[:5]}, log activities {list(log.activities)[:5]})"
        )
    group, projected, unknowns, g_proj, g_list, g_counted = _projections(log, model, count_unknown=count_unknown)
    facts = [_read_variant(acts, model, pos, count_unknown) for acts in projected]
    aligner = _Aligner.build(model)
    other = len(aligner.labels)
    # align each distinct (end, entry, projected trace, unknown events counted) once: the counted
    # unknown events are log moves wherever they stand, so they are aligned at the end
    slots: dict[tuple[str, int, tuple[str, ...]], int] = {}
    f_slot = np.array(
        [slots.setdefault((f.end, f.entry if allow_late_entry else 0, tuple(f.trace)), len(slots)) for f in facts],
        dtype=np.int64,
    )
    slot_keys = list(slots)
    g_aligned, first = _pair_ids(f_slot[g_proj], g_counted)
    aligned = list(zip(f_slot[g_proj][first].tolist(), g_counted[first].tolist(), strict=True))
    traces = [
        np.array([aligner.labels.get(a, other) for a in slot_keys[s][2]] + [other] * k, dtype=np.int64)
        for s, k in aligned
    ]
    entries = np.array([slot_keys[s][1] for s, _ in aligned], dtype=np.int64)
    cost_all, empty = aligner.costs(traces, entries)
    end_idx = np.array([ENDS.index(slot_keys[s][0]) for s, _ in aligned], dtype=np.int64)
    rows = np.arange(len(aligned))
    u_cost = cost_all[rows, end_idx] if len(aligned) else np.zeros(0)
    u_len = np.array([len(t) for t in traces], dtype=float)
    denom = u_len + empty[rows, end_idx] if len(aligned) else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        u_fit = np.where(denom > 0, 1.0 - u_cost / np.where(denom > 0, denom, 1.0), 1.0)
    v_cost = u_cost[g_aligned] if len(g_proj) else np.zeros(0)
    v_fit = u_fit[g_aligned] if len(g_proj) else np.zeros(0)
    # with count_unknown=False unknown activities are only listed, so they do not break conformance either
    has_unknown = np.array([bool(u) for u in unknowns], dtype=bool)
    known_ok = ~has_unknown[g_list] if count_unknown else np.ones(len(g_proj), dtype=bool)
    v_conf = (v_cost == 0) & known_ok
    # the facts of each projection, and each group's: its projection's, with its own unknown activities
    per_proj = {name: _objects([getattr(f, name) for f in facts]) for name in _GROUP_FACTS if name != "unknown"}
    per_group = pd.DataFrame(
        {
            name: _objects(list(unknowns))[g_list] if name == "unknown" else per_proj[name][g_proj]
            for name in _GROUP_FACTS
        }
    )
    per_group["reopened"] = np.array([f.reopened for f in facts], dtype=bool)[g_proj]
    per_group["end"] = np.array([f.end for f in facts], dtype=object)[g_proj]
    derived = np.array([f.derived_outcome for f in facts], dtype=object)[g_proj]
    known = base["_known"].to_numpy(dtype=object)
    outcome = np.where(pd.isna(known), derived[group] if len(g_proj) else known, known)
    cases = pd.DataFrame(
        {
            "case_id": base["case_id"],
            "variant_id": base["variant_id"],
            "fitness": v_fit[group],
            "alignment_cost": v_cost[group].astype("int64"),
            "conforms": v_conf[group],
            **{c: per_group[c].to_numpy()[group] for c in _TUPLE_COLUMNS},
            "reopened": per_group["reopened"].to_numpy()[group],
            "end": _str_take(per_group["end"].to_numpy(), group),
            "outcome": _str_series(outcome),
            "throughput_s": base["throughput_s"],
        }
    )
    coded = log._coded
    fit = model_fit(
        activity=coded.activity,
        names=coded.activity_names,
        case=coded.case,
        n_cases=coded.n_cases,
        stages=model.stages,
        outcomes=(*model.won, *model.lost),
        known=model.activities,
        closed=int(cases["outcome"].isin(["won", "lost"]).sum()),
        fitting_share=float(cases["conforms"].mean()) if len(cases) else float("nan"),
        mean_fitness=float(cases["fitness"].mean()) if len(cases) else float("nan"),
    )
    return Conformance(
        model=model,
        source="stage model",
        options=_freeze({"allow_late_entry": allow_late_entry, "count_unknown": count_unknown, "calendar": calendar}),
        _cases=cases,
        _groups=group,
        _facts=per_group,
        _fit=fit,
    )


def _conform_drawn(log: EventLog, drawn: Any, kind: str, *, method: str, calendar: _Calendar | None) -> Conformance:
    base = _case_basics(log, calendar)
    net, im, fm = _pm4py.bpmn_to_petri_net(drawn) if kind == "BPMN" else drawn
    cv = log._coded_variants
    traces = [list(t) for t in cv.tuples(log._coded.activity_names)]
    net_labels = _pm4py.petri_net_labels(net)
    if method == "alignments":
        res = _pm4py.align_traces(traces, net, im, fm)
        fit = np.array([r["fitness"] for r in res], dtype=float)
        cost = pd.array([r["cost"] for r in res], dtype="Int64")
        conforms = np.array([r["cost"] == 0 for r in res], dtype=bool)
        skipped = _objects([tuple(dict.fromkeys(r["model_moves"])) for r in res])
    else:
        res = _pm4py.token_replay_traces(traces, net, im, fm)
        fit = np.array([r["fitness"] for r in res], dtype=float)
        cost = pd.array([None] * len(res), dtype="Int64")
        conforms = np.array([bool(r["is_fit"]) for r in res], dtype=bool)
        skipped = _objects([() for _ in res])
    none = _objects([() for _ in traces])
    per_variant = pd.DataFrame(dict.fromkeys(_TUPLE_COLUMNS, none))
    per_variant["skipped"] = skipped
    per_variant["unknown"] = _objects([tuple(dict.fromkeys(a for a in t if a not in net_labels)) for t in traces])
    per_variant["reopened"] = pd.array([pd.NA] * len(traces), dtype="boolean")
    vid = base["variant_id"].to_numpy()
    n = len(base)
    cases = pd.DataFrame(
        {
            "case_id": base["case_id"],
            "variant_id": vid,
            "fitness": fit[vid] if len(res) else np.zeros(0),
            "alignment_cost": cost[vid] if len(res) else pd.array([], dtype="Int64"),
            "conforms": conforms[vid] if len(res) else np.zeros(0, dtype=bool),
            **{c: per_variant[c].to_numpy()[vid] for c in _TUPLE_COLUMNS},
            "reopened": pd.array([pd.NA] * n, dtype="boolean"),
            "end": pd.Series([pd.NA] * n, dtype="str"),
            "outcome": pd.Series(base["_known"].to_numpy(dtype=object), dtype="str"),
            "throughput_s": base["throughput_s"],
        }
    )
    coded = log._coded
    labels = sorted(str(x) for x in net_labels)
    drawn_fit = model_fit(
        activity=coded.activity,
        names=coded.activity_names,
        case=coded.case,
        n_cases=coded.n_cases,
        stages=labels,
        outcomes=(),
        known=labels,
        closed=int(cases["outcome"].isin(["won", "lost"]).sum()),
        fitting_share=float(cases["conforms"].mean()) if len(cases) else float("nan"),
        mean_fitness=float(cases["fitness"].mean()) if len(cases) else float("nan"),
        has_outcomes=True,
    )
    return Conformance(
        model=None,
        source=f"{kind} ({method.replace('_', ' ')})",
        options=_freeze({"method": method, "calendar": calendar}),
        _cases=cases,
        _groups=vid,
        _facts=per_variant,
        _fit=drawn_fit,
    )


def _freeze(d: dict[str, object]) -> Mapping[str, object]:
    return types.MappingProxyType(d)


def conform(
    log: EventLog,
    stages: StageModel | Mapping[str, Any] | str | os.PathLike[str] | Any,
    *,
    allow_late_entry: bool = True,
    count_unknown: bool = True,
    method: str = "alignments",
    calendar: _Calendar | None = None,
) -> Conformance:
    """Compare every case with the intended process; rank the deviations by what they cost.

    Parameters
    ----------
    log:
        The event log.
    stages:
        A :class:`~salesmining.StageModel` (or a dict / YAML path for one), or a drawn model:
        pm4py's ``(net, initial_marking, final_marking)`` or a pm4py BPMN, aligned through pm4py
        (per variant).
    allow_late_entry:
        Let a case enter the stage model at any stage up to the first one it recorded: stages
        missing before it are left-censored and cost nothing (default). ``False`` counts them as
        model moves.
    count_unknown:
        Keep activities the model does not know in the aligned sequence as log moves, and let
        them break ``conforms`` (default); ``False`` only lists them (in ``unknown``).
    method:
        For a drawn model: ``"alignments"`` (default) or ``"token_replay"``.
    calendar:
        A business calendar (``seconds_between(start, end)``) to measure throughput in working
        time; calendar time by default.

    Returns
    -------
    Conformance
        Per-case results (``to_frame()``) and aggregates (``fitting_share``, ``skip_rates``,
        ``backtrack_rates``, ``deviations``). See the module notes for the exact semantics.

    Examples
    --------
    >>> import pandas as pd, salesmining as sm
    >>> paths = {"1": "Lead Contact Offer Won", "2": "Lead Offer Won", "3": "Lead Contact Lost",
    ...          "4": "Lead Contact Offer Contact Offer Lost", "5": "Lead Contact"}
    >>> rows = [(c, a) for c, p in paths.items() for a in p.split()]
    >>> df = pd.DataFrame(rows, columns=["deal", "stage"])
    >>> df["at"] = pd.date_range("2024-01-01", periods=len(df), freq="D", tz="UTC")
    >>> log = sm.from_dataframe(df, case="deal", activity="stage", timestamp="at")
    >>> model = sm.StageModel(["Lead", "Contact", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]})
    >>> res = sm.conform(log, model)
    >>> res
    <Conformance vs stage model: 5 cases, 60.0% follow the intended path, mean fitness 0.921; model fit good>
    >>> res.to_frame()[["case_id", "fitness", "skipped", "backtracks", "conforms"]].round(3)
      case_id  fitness     skipped           backtracks  conforms
    0       1    1.000          ()                   ()      True
    1       2    0.857  (Contact,)                   ()     False
    2       3    1.000          ()                   ()      True
    3       4    0.750          ()  ((Offer, Contact),)     False
    4       5    1.000          ()                   ()      True

    Case 2 skipped Contact: one model move; fitness ``1 - 1 / (3 events + 4)``, 4 being the
    cheapest complete run (Lead, Contact, Offer, Won). Case 3 was lost at Contact, which is
    allowed; case 5 is open and not penalised for Offer.
    """
    model = as_stage_model(stages) if isinstance(stages, (StageModel, Mapping, str, os.PathLike)) else None
    if model is not None:
        if method != "alignments":
            raise OptionError("method applies to drawn models (Petri net / BPMN); a stage model is always aligned")
        # computed once per (log, model, options): the log is immutable and the result frozen
        key: tuple[Any, ...] | None = (model, allow_late_entry, count_unknown, calendar)
        try:
            hash(key)
        except TypeError:
            key = None
        cache: dict[tuple[Any, ...], Conformance] = log.__dict__.setdefault("_conform_cache", {})
        if key is not None and key in cache:
            return cache[key]
        result = _conform_stage_model(
            log, model, allow_late_entry=allow_late_entry, count_unknown=count_unknown, calendar=calendar
        )
        if key is not None:
            cache[key] = result
        return result
    kind = _pm4py.drawn_model_kind(stages)
    if kind is None:
        raise StageModelTypeError(
            "stages must be a StageModel, a dict or YAML path for one, a pm4py (net, initial_marking, "
            f"final_marking) tuple or a pm4py BPMN, not {type(stages).__name__}"
        )
    if method not in ("alignments", "token_replay"):
        raise OptionError(f"method must be 'alignments' or 'token_replay', not {method!r}")
    return _conform_drawn(log, stages, kind, method=method, calendar=calendar)
