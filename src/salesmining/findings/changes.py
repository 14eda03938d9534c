"""Structural changes a what-if replays: :class:`changes` builds them, :func:`check` validates them.

Each change is a small frozen value (:class:`Remove`, :class:`Parallel`, :class:`Cap`); what
it does to a case's timeline is defined in :mod:`salesmining.findings.replay` and in
``docs/what-if.md``. The constructors check their own arguments (types, durations); whether a
step exists is checked against the log and the stage model by :func:`check`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from salesmining.core import formatting
from salesmining.core.durations import parse_duration
from salesmining.core.errors import ArgumentTypeError, OptionError

if TYPE_CHECKING:
    from salesmining.analysis.stages import StageModel

__all__ = ["Cap", "Change", "Parallel", "Remove", "changes", "check", "parse_cli"]


def _step(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ArgumentTypeError(f"{what} must be the name of a step (a non-empty string), not {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Change:
    """One structural change of the process (built by :class:`changes`)."""

    def describe(self) -> str:
        """What the change does, in words."""
        return type(self).__name__.lower()

    def steps(self) -> tuple[str, ...]:
        """The steps it names."""
        return ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data: the change's ``type`` and its arguments."""
        out: dict[str, Any] = {"type": type(self).__name__.lower()}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, pd.Timedelta):
                out[f.name] = formatting.duration_spec(v)
            elif f.name == "where":
                out[f.name] = {k: list(vals) for k, vals in v}
            else:
                out[f.name] = v
        return out


@dataclasses.dataclass(frozen=True)
class Remove(Change):
    """The step's time is taken out of every affected case (``where``: only matching cases)."""

    step: str
    repeats_only: bool = False
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def describe(self) -> str:
        what = f"drop the redundant repeats of {self.step}" if self.repeats_only else f"remove {self.step}"
        if self.where:
            cond = ", ".join(f"{k} in {list(v)}" if len(v) > 1 else f"{k} = {v[0]}" for k, v in self.where)
            return f"skip {self.step} where {cond}" if not self.repeats_only else f"{what} where {cond}"
        return what

    def steps(self) -> tuple[str, ...]:
        return (self.step,)


@dataclasses.dataclass(frozen=True)
class Parallel(Change):
    """Two steps run side by side: a case waits for the longer of the two, not for both."""

    a: str
    b: str

    def describe(self) -> str:
        return f"run {self.a} and {self.b} in parallel"

    def steps(self) -> tuple[str, ...]:
        return (self.a, self.b)


@dataclasses.dataclass(frozen=True)
class Cap(Change):
    """Every wait at the step longer than ``limit`` is cut to ``limit``."""

    step: str
    limit: pd.Timedelta

    def describe(self) -> str:
        return f"cap {self.step} at {formatting.duration_spec(self.limit)}"

    def steps(self) -> tuple[str, ...]:
        return (self.step,)


def _where(where: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(where, Mapping) or not where:
        raise ArgumentTypeError(f"where must be a non-empty mapping of case attribute → value(s), not {where!r}")
    out = []
    for k, v in where.items():
        if not isinstance(k, str):
            raise ArgumentTypeError(f"where: attribute names are strings, not {k!r}")
        vals = (v,) if isinstance(v, str) or not isinstance(v, Iterable) else tuple(v)
        if not vals:
            raise OptionError(f"where: no value given for {k!r}")
        out.append((k, tuple(str(x) for x in vals)))
    return tuple(sorted(out))


class changes:  # noqa: N801 - a namespace, read as sm.changes.remove(...)
    """The structural changes :func:`what_if` can replay, as typed constructors.

    >>> import salesmining as sm
    >>> sm.changes.cap("Contact", "2d").describe()
    'cap Contact at 2d'
    >>> sm.changes.skip("Manager Approval", where={"segment": "SMB"}).describe()
    'skip Manager Approval where segment = SMB'
    """

    @staticmethod
    def remove(step: str, *, repeats_only: bool = False) -> Remove:
        """Remove a step. For an activity (an approval, a task), the time from the previous event
        to each of its events is removed; for a stage, its visits' whole dwell (entry to the next
        stage entry). ``repeats_only``: only the rounds the findings call redundant (approved again
        after an earlier approval), the first decision stays."""
        return Remove(_step(step, "remove(step)"), bool(repeats_only))

    @staticmethod
    def parallel(a: str, b: str) -> Parallel:
        """Run two steps in parallel: a case with both waits max(a, b) instead of a + b (the
        time of the shorter is removed)."""
        a, b = _step(a, "parallel(a, …)"), _step(b, "parallel(…, b)")
        if a == b:
            raise OptionError(f"parallel needs two different steps, got {a!r} twice")
        return Parallel(a, b)

    @staticmethod
    def cap(step: str, limit: Any) -> Cap:
        """Cap the wait at a step (``"2d"``, ``"36h"``, a ``timedelta``): for an activity each
        wait for it (previous event → the activity), for a stage each visit's own time in the
        stage (its dwell less approval, repeat and handoff waits), longer than the limit is cut
        to the limit."""
        return Cap(_step(step, "cap(step, …)"), parse_duration(limit, what=f"cap of {step!r}"))

    @staticmethod
    def skip(step: str, *, where: Mapping[str, Any]) -> Remove:
        """Remove a step for the matching cases only: ``where={"segment": "SMB"}`` (case
        attributes as the log names them; a list of values matches any)."""
        return Remove(_step(step, "skip(step, …)"), False, _where(where))


def check(
    items: Iterable[Change] | Change, model: StageModel, activities: Iterable[str], attributes: Iterable[str]
) -> tuple[Change, ...]:
    """The changes, validated against the model and the log: each step is an activity of the log
    or the model (not an outcome), each ``where`` attribute a case attribute of the log."""
    seq = (items,) if isinstance(items, Change) else tuple(items)
    if not seq:
        raise OptionError("what_if needs at least one change, e.g. sm.changes.remove('Manager Approval')")
    outcomes = set(model.won) | set(model.lost)
    known = sorted((set(activities) | set(model.stages) | set(model.approvals)) - outcomes)
    attrs = sorted(set(attributes))
    for c in seq:
        if not isinstance(c, Change):
            raise ArgumentTypeError(f"changes are built with sm.changes.remove/parallel/cap/skip, not {c!r}")
        for s in c.steps():
            if s in outcomes:
                raise OptionError(f"{s!r} is an outcome of the model; a what-if changes steps, not outcomes")
            if s not in known:
                raise OptionError(f"unknown step {s!r}; the steps are {known}")
        if isinstance(c, Remove):
            for k, _ in c.where:
                if k not in attrs:
                    raise OptionError(f"skip(where=…) names {k!r}, which is not a case attribute; they are {attrs}")
    return seq


def parse_cli(remove: Iterable[str] = (), cap: Iterable[str] = (), parallel: Iterable[str] = ()) -> tuple[Change, ...]:
    """Changes from the command line: ``--remove STEP``, ``--cap STEP=2d``, ``--parallel A,B``."""
    out: list[Change] = [changes.remove(s) for s in remove]
    for spec in cap:
        step, sep, limit = spec.rpartition("=")
        if not sep or not step:
            raise OptionError(f"--cap takes STEP=DURATION (e.g. 'Contact=2d'), not {spec!r}")
        out.append(changes.cap(step, limit))
    for spec in parallel:
        a, sep, b = spec.partition(",")
        if not sep:
            raise OptionError(f"--parallel takes two steps separated by a comma ('A,B'), not {spec!r}")
        out.append(changes.parallel(a.strip(), b.strip()))
    return tuple(out)
