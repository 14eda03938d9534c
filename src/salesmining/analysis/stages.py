"""The intended sales process as pure data: :class:`StageModel`.

A stage model says how an opportunity *should* move: an ordered list of stages, which of them
may be left out, the terminal outcome activities (won / lost), approval steps and the stage
they belong to, activities allowed anywhere (calls, e-mails), backward moves that are fine, and
target durations (SLAs). It is built from a dict, a YAML file, or inferred from a log as a
starting suggestion, and it round-trips to YAML (Unicode kept as is)::

    name: B2B opportunity process
    stages: [Lead, Contact, Needs Analysis, Solution Proposal, Quote & Negotiation]
    optional: []
    outcomes:
      won: [Contract Signed]
      lost: [Closed Lost]
    approvals:
      Discount Approval: Quote & Negotiation
    anywhere: [Call, Email]
    allowed_backtracks: []     # list of [from, to] pairs
    sla:
      Lead: 1d
    approval_sla:
      Discount Approval: 2d

Durations are written ``90s``, ``90m`` (minutes), ``36h``, ``1d``, ``2w``, combinations such as
``1d12h``, ISO 8601 (``P2D``, ``PT36H``, ``P1DT12H``), or in words (``3 days``, ``1 day 12 hours``,
``3天``, ``1天12小时``; :mod:`salesmining.core.durations`); years and months are refused because
their length depends on the calendar. An approval step's target may be given under ``sla`` too.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from salesmining.core import durations as _durations
from salesmining.core import html as _display
from salesmining.core.errors import OptionError, StageModelError, StageModelTypeError
from salesmining.core.formatting import duration_spec
from salesmining.core.schema import CASE, OUTCOME

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = ["StageModel", "as_stage_model", "parse_duration"]

_KEYS = ("name", "stages", "optional", "outcomes", "approvals", "anywhere", "allowed_backtracks", "sla", "approval_sla")
_SEP = "\x1f"


# --- durations -----------------------------------------------------------------------------
def parse_duration(value: object, *, what: str = "duration") -> pd.Timedelta:
    """A positive duration from ``"36h"``, ``"1d12h"``, ``"P2D"``, ``"3 days"``, ``"1 day 12 hours"``,
    ``"3天"``, a ``timedelta`` or a ``Timedelta`` (:mod:`salesmining.core.durations`); an
    unreadable one is a :class:`StageModelError`.

    Examples
    --------
    >>> parse_duration("1d12h")
    Timedelta('1 days 12:00:00')
    >>> parse_duration("PT90M") == parse_duration("90m") == parse_duration("90 minutes")
    True
    """
    return _durations.parse_duration(value, what=what, error=StageModelError)


def _yaml() -> Any:
    """PyYAML, imported on first use (keeps ``import salesmining`` fast)."""
    import yaml

    return yaml


def _dumper() -> Any:
    """A SafeDumper writing lists in flow style (``[a, b]``), mappings in block style."""
    yaml = _yaml()

    class _Dumper(yaml.SafeDumper):  # type: ignore[misc,name-defined]
        pass

    def _flow_list(dumper: Any, data: list[Any]) -> Any:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)

    _Dumper.add_representer(list, _flow_list)
    return _Dumper


# --- the model -----------------------------------------------------------------------------
def _name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise StageModelError(f"{what} must be text, not {value!r} ({type(value).__name__}); quote it in YAML")
    if not value.strip():
        raise StageModelError(f"{what} must not be empty")
    return value


def _names(values: object, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Iterable) or isinstance(values, Mapping):
        raise StageModelError(f"{what} must be a list of names, not {values!r}")
    out: list[str] = []
    for v in values:
        n = _name(v, f"a name in {what}")
        if n in out:
            raise StageModelError(f"{what} lists {n!r} twice")
        out.append(n)
    return tuple(out)


def _mapping(values: object, what: str) -> Mapping[Any, Any]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise StageModelError(f"{what} must be a mapping (name: value), not {values!r}")
    return values


@dataclasses.dataclass(frozen=True, init=False, repr=False, eq=True)
class StageModel:
    """The intended sales process: ordered stages, outcomes, approvals, allowed moves and SLAs.

    Parameters
    ----------
    stages:
        The stages in their intended order (at least one; names unique).
    optional:
        Stages a case may leave out without it counting as a skip.
    outcomes:
        ``{"won": [...], "lost": [...]}``: terminal activities (one name or a list each).
        Won is expected after the last stage; lost may follow any stage.
    approvals:
        ``{approval activity: stage}``: approval steps and the stage they belong to. Approvals
        are not deviations (an approval outside its stage is reported separately).
    anywhere:
        Activities allowed at any point (e.g. ``"Call"``, ``"Email"``); never deviations.
    allowed_backtracks:
        ``(from, to)`` pairs of stages: backward moves (or, with ``from == to``, repeated
        entries of a stage) that the process allows.
    sla:
        Target dwell time per stage (``"5d"``, ``"36h"``, ``"P2D"``, ``"3 days"``, ``"3天"``, a
        ``timedelta``...), stored as :class:`pandas.Timedelta`. An approval step named here is
        taken as its approval SLA.
    approval_sla:
        Target time per approval activity, from the previous event to the approval.
    name:
        A label for the model.

    The attribute ``basis`` is empty for a model you give; for one made by :meth:`infer` it
    says, one sentence each, where its stages, order and outcomes came from (not compared, not
    written to YAML: an edited model is yours).

    Raises
    ------
    StageModelError
        Empty model, a duplicate stage, a name with two roles, an unknown stage referenced
        (in ``optional``, ``approvals``, ``allowed_backtracks``, ``sla``), a forward move listed
        as a backtrack, or an unreadable duration.

    Examples
    --------
    >>> import salesmining as sm
    >>> m = sm.StageModel(["Lead", "Contact", "Proposal"], outcomes={"won": "Won", "lost": ["Lost"]},
    ...                   anywhere=["Call"], sla={"Contact": "2d"})
    >>> m
    <StageModel: Lead → Contact → Proposal → won (Won) | lost (Lost); 1 anywhere, 0 approvals>
    >>> m.sla["Contact"]
    Timedelta('2 days 00:00:00')
    >>> sm.StageModel.from_dict(m.to_dict()) == m
    True
    >>> sm.StageModel(["Lead", "Lead"])
    Traceback (most recent call last):
    ...
    salesmining.StageModelError: stages lists 'Lead' twice
    """

    stages: tuple[str, ...]
    optional: tuple[str, ...]
    outcomes: Mapping[str, tuple[str, ...]]
    approvals: Mapping[str, str]
    anywhere: tuple[str, ...]
    allowed_backtracks: tuple[tuple[str, str], ...]
    sla: Mapping[str, pd.Timedelta]
    approval_sla: Mapping[str, pd.Timedelta]
    name: str | None
    basis: tuple[str, ...] = dataclasses.field(default=(), compare=False)

    def __init__(
        self,
        stages: Iterable[str],
        *,
        optional: Iterable[str] = (),
        outcomes: Mapping[str, str | Iterable[str]] | None = None,
        approvals: Mapping[str, str] | None = None,
        anywhere: Iterable[str] = (),
        allowed_backtracks: Iterable[Iterable[str]] = (),
        sla: Mapping[str, object] | None = None,
        approval_sla: Mapping[str, object] | None = None,
        name: str | None = None,
    ) -> None:
        st = _names(stages, "stages")
        if not st:
            raise StageModelError("a stage model needs at least one stage")
        roles: dict[str, str] = {}

        def claim(act: str, role: str) -> None:
            if act in roles:
                raise StageModelError(f"{act!r} is both {roles[act]} and {role}; each activity has one role")
            roles[act] = role

        for s in st:
            claim(s, "a stage")
        opt = _names(optional, "optional")
        for s in opt:
            if s not in st:
                raise StageModelError(f"optional names {s!r}, which is not a stage; stages are {list(st)}")
        oc_in = _mapping(outcomes, "outcomes")
        bad = sorted(str(k) for k in oc_in if k not in ("won", "lost"))
        if bad:
            raise StageModelError(f"outcomes has keys {bad}; only 'won' and 'lost' are allowed")
        oc = {k: _names(oc_in.get(k), f"outcomes.{k}") for k in ("won", "lost")}
        for k in ("won", "lost"):
            for a in oc[k]:
                claim(a, f"a {k} outcome")
        ap_in = _mapping(approvals, "approvals")
        ap: dict[str, str] = {}
        for act, stage in ap_in.items():
            a = _name(act, "an approval activity")
            s = _name(stage, f"the stage of approval {a!r}")
            if s not in st:
                raise StageModelError(f"approval {a!r} belongs to {s!r}, which is not a stage; stages are {list(st)}")
            claim(a, "an approval")
            ap[a] = s
        anyw = _names(anywhere, "anywhere")
        for a in anyw:
            claim(a, "an anywhere activity")
        pos = {s: i for i, s in enumerate(st)}
        bts: list[tuple[str, str]] = []
        for pair in allowed_backtracks or ():
            if isinstance(pair, str) or not isinstance(pair, Iterable):
                raise StageModelError(f"allowed_backtracks holds [from, to] pairs, not {pair!r}")
            items = list(pair)
            if len(items) != 2:
                raise StageModelError(f"allowed_backtracks holds [from, to] pairs, not {items!r}")
            f, t = (_name(x, "a stage in allowed_backtracks") for x in items)
            for s in (f, t):
                if s not in pos:
                    raise StageModelError(f"allowed backtrack {f} → {t} names {s!r}, which is not a stage")
            if pos[t] > pos[f]:
                raise StageModelError(
                    f"allowed backtrack {f} → {t} is a forward move; list [later stage, earlier stage]"
                )
            if (f, t) not in bts:
                bts.append((f, t))
        sl: dict[str, pd.Timedelta] = {}
        asl: dict[str, pd.Timedelta] = {}
        for a, v in _mapping(approval_sla, "approval_sla").items():
            if a not in ap:
                raise StageModelError(f"approval_sla names {a!r}, which is not an approval; approvals are {list(ap)}")
            asl[a] = parse_duration(v, what=f"approval_sla of {a!r}")
        for s, v in _mapping(sla, "sla").items():
            if s in ap:  # an approval step's target given with the stages' SLAs: it is an approval SLA
                td = parse_duration(v, what=f"sla of approval {s!r}")
                if s in asl and asl[s] != td:
                    raise StageModelError(
                        f"sla and approval_sla give approval {s!r} two targets ({duration_spec(td)} and "
                        f"{duration_spec(asl[s])}); keep it in approval_sla only"
                    )
                asl[s] = td
                continue
            if s not in pos:
                raise StageModelError(
                    f"sla names {s!r}, which is not a stage; stages are {list(st)} "
                    f"(targets of approval steps go in approval_sla, approvals are {list(ap)})"
                )
            sl[s] = parse_duration(v, what=f"sla of {s!r}")
        if name is not None and not isinstance(name, str):
            raise StageModelError(f"name must be text, not {name!r}")
        set_ = object.__setattr__
        set_(self, "stages", st)
        set_(self, "optional", tuple(s for s in st if s in opt))
        set_(self, "outcomes", types.MappingProxyType(oc))
        set_(self, "approvals", types.MappingProxyType(ap))
        set_(self, "anywhere", anyw)
        set_(self, "allowed_backtracks", tuple(bts))
        set_(self, "sla", types.MappingProxyType({s: sl[s] for s in st if s in sl}))
        set_(self, "approval_sla", types.MappingProxyType({a: asl[a] for a in ap if a in asl}))
        set_(self, "name", name)
        set_(self, "basis", ())

    def __hash__(self) -> int:
        return hash(
            (
                self.stages,
                self.optional,
                tuple(self.outcomes.items()),
                tuple(self.approvals.items()),
                self.anywhere,
                self.allowed_backtracks,
                tuple(self.sla.items()),
                tuple(self.approval_sla.items()),
                self.name,
            )
        )

    # --- convenience ---------------------------------------------------------------------
    @property
    def won(self) -> tuple[str, ...]:
        """Activities that close a case as won."""
        return self.outcomes["won"]

    @property
    def lost(self) -> tuple[str, ...]:
        """Activities that close a case as lost."""
        return self.outcomes["lost"]

    @property
    def activities(self) -> frozenset[str]:
        """Every activity the model knows: stages, outcomes, approvals and anywhere activities."""
        return frozenset((*self.stages, *self.won, *self.lost, *self.approvals, *self.anywhere))

    # --- dict / YAML ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageModel:
        """A model from a mapping with the YAML schema's keys (``stages`` required; empty values allowed).

        Examples
        --------
        >>> StageModel.from_dict({"stages": ["A", "B"], "allowed_backtracks": [["B", "A"]]}).allowed_backtracks
        (('B', 'A'),)
        """
        if not isinstance(data, Mapping):
            raise StageModelError(f"a stage model is a mapping with keys {list(_KEYS)}, not {type(data).__name__}")
        unknown = sorted(str(k) for k in data if k not in _KEYS)
        if unknown:
            raise StageModelError(f"unknown key(s) {unknown} in the stage model; known keys are {list(_KEYS)}")
        if not data.get("stages"):
            raise StageModelError("a stage model needs at least one stage (key 'stages')")
        return cls(
            data["stages"],
            optional=data.get("optional") or (),
            outcomes=data.get("outcomes"),
            approvals=data.get("approvals"),
            anywhere=data.get("anywhere") or (),
            allowed_backtracks=data.get("allowed_backtracks") or (),
            sla=data.get("sla"),
            approval_sla=data.get("approval_sla"),
            name=data.get("name"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data in the YAML schema (durations as text such as ``"36h"``)."""
        return {
            "name": self.name,
            "stages": list(self.stages),
            "optional": list(self.optional),
            "outcomes": {"won": list(self.won), "lost": list(self.lost)},
            "approvals": dict(self.approvals),
            "anywhere": list(self.anywhere),
            "allowed_backtracks": [list(p) for p in self.allowed_backtracks],
            "sla": {k: duration_spec(v) for k, v in self.sla.items()},
            "approval_sla": {k: duration_spec(v) for k, v in self.approval_sla.items()},
        }

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> StageModel:
        """Read a model from a YAML file (UTF-8, a BOM is fine)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except FileNotFoundError as exc:
            raise StageModelError(f"no such stage model file: {p}") from exc
        except UnicodeDecodeError as exc:
            raise StageModelError(f"{p.name} is not UTF-8 text: {exc}") from exc
        yaml = _yaml()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise StageModelError(f"{p.name} is not valid YAML: {exc}") from exc
        if data is None:
            raise StageModelError(f"{p.name} is empty; a stage model needs at least one stage")
        try:
            return cls.from_dict(data)
        except StageModelError as exc:
            raise StageModelError(f"{p.name}: {exc}") from exc

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The model as YAML text (Unicode kept readable); also written to ``path`` when given.

        Examples
        --------
        >>> m = StageModel(["潜在客户识别", "客户接触"], outcomes={"won": ["合同签署"]}, sla={"客户接触": "36h"})
        >>> print(m.to_yaml().split("\\n")[0])
        stages: [潜在客户识别, 客户接触]
        >>> import yaml
        >>> StageModel.from_dict(yaml.safe_load(m.to_yaml())) == m
        True
        """
        data = self.to_dict()
        if data["name"] is None:
            del data["name"]
        text = _yaml().dump(data, Dumper=_dumper(), allow_unicode=True, sort_keys=False, width=1_000_000)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # --- inference -----------------------------------------------------------------------
    @property
    def inferred(self) -> bool:
        """Whether :meth:`infer` made this model (then :attr:`basis` says how)."""
        return bool(self.basis)

    @classmethod
    def infer(
        cls,
        log: EventLog,
        *,
        min_share: float = 0.8,
        won: Iterable[str] | None = None,
        lost: Iterable[str] | None = None,
        anywhere: Iterable[str] | None = None,
        name: str | None = None,
    ) -> StageModel:
        """A suggested model from a log: its stages in their intended order, and its outcomes.

        A starting point to review and edit, not a finding; :attr:`basis` lists, one sentence
        each, where every part came from (the report and the command line print it). The
        steps, all computed per variant:

        1. Outcome activities, from the first source that has them: ``won`` / ``lost`` when
           given; the CRM's own flags (``log.meta["stage_classes"]``, which the CRM readers fill
           from ``IsWon``/``IsClosed``, HubSpot/Pipedrive stage probabilities or status); the
           case table's ``outcome`` (the activity found in the most won (lost) cases, if it
           occurs in at least half of them and in under a tenth of the other cases); else a
           guess from activity names (``won``, ``approved``, ``signed``... / ``lost``,
           ``declined``, ``cancelled``...) kept only for activities that occur at most once
           per case and a won and a lost activity that share under a tenth of their cases.
        2. Reference cases: the won cases when there are any (they went the whole way), else
           all; cases whose history starts late (``left_censored`` in the case table) are left
           out of the reference while others remain.
        3. Stages: with a CRM stage definition (``log.meta["stages"]``), its open stages — in
           the CRM's order when it gives one for every stage, else those seen in the log, in
           the order of step 4. Otherwise the activities found in at least ``min_share`` of the
           reference cases (outcomes excluded); those that occur twice or more in most cases
           containing them are suggested as ``anywhere`` (calls, e-mails) unless ``anywhere``
           is given, and activities that in most reference cases come only after the won
           outcome (post-sale steps) are ``anywhere`` too.
        4. Order: ``a`` goes before ``b`` when, among reference cases with both, ``a`` is first
           seen before ``b`` more often than not; stages are ranked by how many others they
           precede (ties by mean first position).

        Examples
        --------
        >>> import pandas as pd, salesmining as sm
        >>> rows = [(c, a) for c, seq in {"1": "L C P W", "2": "L P C W", "3": "L C P W", "4": "L C X"}.items()
        ...         for a in seq.split()]
        >>> df = pd.DataFrame(rows, columns=["case", "act"])
        >>> df["ts"] = pd.date_range("2024-01-01", periods=len(df), freq="h", tz="UTC")
        >>> log = sm.from_dataframe(df, case="case", activity="act", timestamp="ts")
        >>> m = StageModel.infer(log, won=["W"])
        >>> m.stages
        ('L', 'C', 'P')
        >>> m.basis[0]
        'won/lost outcomes as given'
        """
        if not 0 < min_share <= 1:
            raise OptionError(f"min_share must be in (0, 1], not {min_share}")
        seq = log._sequences
        keys: list[str] = seq.attrs["keys"]
        if not keys:
            raise StageModelError("cannot infer a stage model from an empty log")
        v = _Variants.of(log, keys)
        basis: list[str] = []
        won_t, lost_t = _infer_outcomes(log, v, won, lost, basis)
        won_cases = v.cnt["won"].copy()
        if won is not None or (won_cases.sum() == 0 and won_t):
            won_cases = np.where(v.has[:, [v.a_idx[a] for a in won_t if a in v.a_idx]].any(1), v.cnt[""], 0)
        ref = won_cases if won_cases.sum() > 0 else v.cnt[""]
        if v.censored.sum() and (ref - v.censored).clip(0).sum() > 0:
            ref = (ref - np.minimum(ref, v.censored)).astype(np.int64)
            basis.append("cases whose history starts late (left-censored) left out of the reference")
        terminal = set(won_t) | set(lost_t)
        crm = _crm_stages(log, terminal)
        if crm is not None:
            ordered, stage_list = crm
            anyw = list(_names(anywhere, "anywhere")) if anywhere is not None else []
            cand = [a for a in stage_list if a not in anyw and (ordered or a in v.a_idx)]
            if not cand:
                raise StageModelError("the CRM stage definition has no open stage seen in the log")
            if ordered:
                stages = cand
                basis.append("stages and their order from the CRM's stage definition (log.meta['stages'])")
            else:
                all_ref = v.cnt[""] - np.minimum(v.cnt[""], v.censored)
                stages = _order(cand, v, all_ref if all_ref.sum() else v.cnt[""])
                basis.append(
                    "stages from the CRM's stage list (log.meta['stages']); the export gives no stage order, "
                    "so they are ordered as the log's cases first reach them"
                )
        else:
            n_ref = int(ref.sum())
            share = (v.has * ref[:, None]).sum(0) / n_ref
            cand = [a for a in v.acts if share[v.a_idx[a]] >= min_share and a not in terminal]
            if anywhere is None:
                anyw = _repeating(cand, v, ref) + _after_won(cand, v, ref, won_t)
                if anyw:
                    basis.append(f"suggested as anywhere (repeating, or after the won outcome): {', '.join(anyw)}")
            else:
                anyw = list(_names(anywhere, "anywhere"))
            cand = [a for a in cand if a not in anyw]
            if not cand:
                raise StageModelError(
                    f"no activity occurs in at least {min_share:.0%} of the reference cases; lower min_share"
                )
            stages = _order(cand, v, ref)
            basis.append(
                f"stages: activities in at least {min_share:.0%} of the {int(ref.sum()):,} reference cases, "
                "in their majority order"
            )
        label = name if name is not None else f"inferred from {log.name}" if log.name else "inferred"
        model = cls(stages, outcomes={"won": won_t, "lost": lost_t}, anywhere=anyw, name=label)
        object.__setattr__(model, "basis", tuple(basis))
        return model

    # --- display -------------------------------------------------------------------------
    def __repr__(self) -> str:
        ends = []
        if self.won:
            ends.append(f"won ({', '.join(self.won)})")
        if self.lost:
            ends.append(f"lost ({', '.join(self.lost)})")
        flow = " → ".join(f"[{s}]" if s in self.optional else s for s in self.stages)
        end = f" → {' | '.join(ends)}" if ends else ""
        label = f" {self.name!r}" if self.name else ""
        return f"<StageModel{label}: {flow}{end}; {len(self.anywhere)} anywhere, {len(self.approvals)} approvals>"

    def to_frame(self) -> pd.DataFrame:
        """One row per stage: ``stage``, ``position`` (0-based), ``optional``, ``sla``, ``approvals``.

        Examples
        --------
        >>> StageModel(["A", "B"], optional=["B"], sla={"A": "1d"}).to_frame()[["stage", "optional", "sla"]]
          stage  optional    sla
        0     A     False 1 days
        1     B      True    NaT
        """
        frame: pd.DataFrame = pd.DataFrame(
            {
                "stage": pd.Series(self.stages, dtype="str"),
                "position": np.arange(len(self.stages), dtype="int64"),
                "optional": [s in self.optional for s in self.stages],
                "sla": pd.Series([self.sla.get(s, pd.NaT) for s in self.stages], dtype="timedelta64[ns]"),
                "approvals": [tuple(a for a, st in self.approvals.items() if st == s) for s in self.stages],
            }
        )
        return frame

    def _repr_html_(self) -> str:
        rows = [
            (
                i + 1,
                s + (" (optional)" if s in self.optional else ""),
                duration_spec(self.sla[s]) if s in self.sla else "–",
                ", ".join(a for a, st in self.approvals.items() if st == s) or "–",
            )
            for i, s in enumerate(self.stages)
        ]
        facts: list[tuple[str, object]] = [
            ("stages", len(self.stages)),
            ("won", ", ".join(self.won) or "–"),
            ("lost", ", ".join(self.lost) or "–"),
            ("anywhere", ", ".join(self.anywhere) or "–"),
            ("allowed backtracks", ", ".join(f"{f} → {t}" for f, t in self.allowed_backtracks) or "–"),
        ]
        return _display.card(
            f"StageModel {self.name or ''}".strip(),
            facts,
            _display.table(["#", "stage", "SLA", "approvals"], rows, max_rows=50),
        )


# --- inference helpers ---------------------------------------------------------------------
#: Words (whole tokens of an activity name, any case) that mark a won / lost outcome when the
#: log has no outcome column and no CRM flags. English first, a few common CRM languages after.
WON_WORDS = frozenset(
    [
        "won",
        "win",
        "approved",
        "accepted",
        "signed",
        "ganado",
        "ganada",
        "firmado",
        "firmada",
        "aprobado",
        "aprobada",
        "aceptado",
        "aceptada",
        "gewonnen",
        "gagne",
        "gagné",
        "goedgekeurd",
    ]
)
LOST_WORDS = frozenset(
    [
        "lost",
        "lose",
        "declined",
        "cancelled",
        "canceled",
        "rejected",
        "refused",
        "dropped",
        "abandoned",
        "withdrawn",
        "perdido",
        "perdida",
        "rechazado",
        "rechazada",
        "cancelado",
        "cancelada",
        "verloren",
        "perdu",
        "afgewezen",
    ]
)
_TOKENS = re.compile(r"[^\W_]+", re.UNICODE)
_EXCLUSIVE = 0.1  # a won and a lost activity share under this share of the smaller one's cases
_ONCE = 0.95  # an outcome activity occurs at most once in at least this share of its cases


@dataclasses.dataclass(frozen=True)
class _Variants:
    """Per variant: activity presence and counts, case counts by outcome and left-censored cases."""

    acts: list[str]
    a_idx: dict[str, int]
    variants: list[list[str]]
    has: np.ndarray  # (variants, activities) bool
    counts: np.ndarray  # (variants, activities) occurrences
    cnt: dict[str, np.ndarray]  # "won" / "lost" / "" (all): cases per variant
    censored: np.ndarray  # left-censored cases per variant

    @classmethod
    def of(cls, log: EventLog, keys: list[str]) -> _Variants:
        seq = log._sequences
        variants = [k.split(_SEP) for k in keys]
        vid = seq["variant_id"].to_numpy()
        table = log.cases.set_index(CASE)
        outcome = seq[CASE].map(table[OUTCOME]).to_numpy(dtype=object)
        n_var = len(keys)
        cnt = {
            oc: np.bincount(vid[outcome == oc], minlength=n_var) if oc else np.bincount(vid, minlength=n_var)
            for oc in ("won", "lost", "")
        }
        if "left_censored" in table.columns:
            cens = seq[CASE].map(table["left_censored"]).astype("boolean").fillna(False).to_numpy(dtype=bool)
            censored = np.bincount(vid[cens], minlength=n_var)
        else:
            censored = np.zeros(n_var, dtype=np.int64)
        acts = sorted({a for v in variants for a in v})
        a_idx = {a: i for i, a in enumerate(acts)}
        counts = np.zeros((n_var, len(acts)), dtype=np.int64)
        for i, v in enumerate(variants):
            idx, n = np.unique([a_idx[a] for a in v], return_counts=True)
            counts[i, idx] = n
        return cls(acts, a_idx, variants, counts > 0, counts, cnt, censored)


def _pick_by_outcome(v: _Variants, target: str) -> tuple[str, ...]:
    inside = v.cnt[target]
    if inside.sum() == 0:
        return ()
    others = v.cnt[""] - inside
    share_in = (v.has * inside[:, None]).sum(0) / inside.sum()
    share_out = (v.has * others[:, None]).sum(0) / max(int(others.sum()), 1)
    ok = (share_in >= 0.5) & (share_out < 0.1)
    if not ok.any():
        return ()
    return (v.acts[int(np.argmax(np.where(ok, share_in, -1)))],)


def _pick_by_name(v: _Variants) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A won activity and the lost activities it excludes, guessed from activity names."""
    n = v.cnt[""]
    cases = (v.has * n[:, None]).sum(0)
    once = ((v.counts == 1) * n[:, None]).sum(0) >= _ONCE * np.maximum(cases, 1)

    def words(a: str) -> set[str]:
        return {t.lower() for t in _TOKENS.findall(a)}

    won_c = [i for i, a in enumerate(v.acts) if once[i] and words(a) & WON_WORDS and not words(a) & LOST_WORDS]
    lost_c = [i for i, a in enumerate(v.acts) if once[i] and words(a) & LOST_WORDS and not words(a) & WON_WORDS]
    if not won_c or not lost_c:
        return (), ()
    both = (v.has[:, won_c, None] & v.has[:, None, lost_c]) * n[:, None, None]
    shared = both.sum(0)  # (won, lost) cases with both
    smaller = np.minimum(cases[won_c][:, None], cases[lost_c][None, :])
    excl = shared < _EXCLUSIVE * np.maximum(smaller, 1)
    score = [(int((excl[w] * cases[lost_c]).sum()), int(cases[i]), -w) for w, i in enumerate(won_c)]
    best = max(range(len(won_c)), key=lambda w: score[w])
    if not excl[best].any():
        return (), ()
    lost = tuple(v.acts[lost_c[j]] for j in range(len(lost_c)) if excl[best, j])
    return (v.acts[won_c[best]],), lost


def _infer_outcomes(
    log: EventLog, v: _Variants, won: Iterable[str] | None, lost: Iterable[str] | None, basis: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if won is not None or lost is not None:
        basis.append("won/lost outcomes as given")
    classes = {a: c for a, c in (log.meta.get("stage_classes") or {}).items() if c in ("won", "lost")}
    seen = [a for a in classes if a in v.a_idx]
    if seen:
        won_t = tuple(a for a in seen if classes[a] == "won")
        lost_t = tuple(a for a in seen if classes[a] == "lost")
        how = "won/lost stages from the CRM's own flags (log.meta['stage_classes'])"
    elif v.cnt["won"].sum() or v.cnt["lost"].sum():
        won_t, lost_t = _pick_by_outcome(v, "won"), _pick_by_outcome(v, "lost")
        how = "won/lost activities from the case table's outcome column"
    else:
        won_t, lost_t = _pick_by_name(v)
        how = "won/lost guessed from activity names (each at most once per case, rarely together)"
    won_t = _names(won, "won") if won is not None else won_t
    lost_t = _names(lost, "lost") if lost is not None else lost_t
    if (won is None or lost is None) and (won_t or lost_t):
        basis.append(how)
    elif not won_t and not lost_t:
        basis.append("no won or lost outcome found: pass won=/lost= to StageModel.infer, or edit the model")
    return won_t, lost_t


def _crm_stages(log: EventLog, terminal: set[str]) -> tuple[bool, list[str]] | None:
    """(whether every stage has its CRM order, open stage activities in that order) from ``log.meta``."""
    recs = [r for r in (log.meta.get("stages") or []) if isinstance(r, Mapping) and r.get("activity")]
    open_ = [r for r in recs if r.get("outcome") not in ("won", "lost") and str(r["activity"]) not in terminal]
    if not open_:
        return None
    ordered = all(r.get("order") is not None for r in open_)
    if ordered:
        open_ = sorted(open_, key=lambda r: (str(r.get("pipeline")), int(r["order"])))
    return ordered, list(dict.fromkeys(str(r["activity"]) for r in open_))


def _repeating(cand: list[str], v: _Variants, ref: np.ndarray) -> list[str]:
    out: list[str] = []
    for a in cand:
        counts = v.counts[:, v.a_idx[a]]
        m = (counts > 0) & (ref > 0)
        reps = np.repeat(counts[m], ref[m])
        if len(reps) and float(np.median(reps)) >= 2:
            out.append(a)
    return out


def _after_won(cand: list[str], v: _Variants, ref: np.ndarray, won: tuple[str, ...]) -> list[str]:
    """Activities that, in most reference cases with both, are first seen after the won outcome."""
    if not won:
        return []
    out: list[str] = []
    for a in cand:
        after = total = 0
        for i, var in enumerate(v.variants):
            if not ref[i] or a not in var:
                continue
            w = [var.index(x) for x in won if x in var]
            if not w:
                continue
            total += int(ref[i])
            after += int(ref[i]) if var.index(a) > min(w) else 0
        if total and after > total / 2:
            out.append(a)
    return out


def _order(cand: list[str], v: _Variants, ref: np.ndarray) -> list[str]:
    """``cand`` in majority precedence order among the reference cases (ties by mean first position)."""
    k = len(cand)
    c_idx = {a: i for i, a in enumerate(cand)}
    before = np.zeros((k, k))
    pos_sum = np.zeros(k)
    pos_n = np.zeros(k)
    for i, var in enumerate(v.variants):
        w = ref[i]
        if w == 0:
            continue
        first: dict[str, int] = {}
        for j, a in enumerate(var):
            if a in c_idx and a not in first:
                first[a] = j
        order = sorted(first, key=first.__getitem__)
        for r, a in enumerate(order):
            pos_sum[c_idx[a]] += w * r
            pos_n[c_idx[a]] += w
            for b in order[r + 1 :]:
                before[c_idx[a], c_idx[b]] += w
    wins = (before > before.T).sum(1)
    mean_pos = pos_sum / np.maximum(pos_n, 1)
    return sorted(cand, key=lambda a: (-wins[c_idx[a]], mean_pos[c_idx[a]], a))


def as_stage_model(stages: object, *, what: str = "stages") -> StageModel:
    """A :class:`StageModel` from one, from a dict (:meth:`StageModel.from_dict`) or a YAML path.

    Every public function that takes ``stages`` goes through here, so the same mistake gives the
    same error everywhere: :class:`~salesmining.core.errors.StageModelTypeError` (a
    :class:`~salesmining.StageModelError` and a ``TypeError``) for anything else.
    """
    if isinstance(stages, StageModel):
        return stages
    if isinstance(stages, Mapping):
        return StageModel.from_dict(stages)
    if isinstance(stages, str) or hasattr(stages, "__fspath__"):
        return StageModel.from_yaml(stages)  # type: ignore[arg-type]
    raise StageModelTypeError(
        f"{what} must be a StageModel, a dict or a YAML path for one, not {type(stages).__name__}"
    )
