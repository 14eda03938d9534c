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
        """A suggested model from a log: its common activities in their most common order.

        A starting point to review and edit, not a finding. The steps, all computed per variant:

        1. Outcome activities: ``won`` / ``lost`` when given; otherwise, from the case table's
           ``outcome``, the activity found in the most won (lost) cases, if it occurs in at least
           half of them and in under a tenth of the other cases.
        2. Reference cases: the won cases when there are any (they went the whole way), else all.
        3. Stages: activities found in at least ``min_share`` of the reference cases (outcomes
           excluded). Those that occur twice or more in most cases containing them are suggested
           as ``anywhere`` (calls, e-mails) unless ``anywhere`` is given.
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
        >>> StageModel.infer(log, won=["W"]).stages
        ('L', 'C', 'P')
        """
        if not 0 < min_share <= 1:
            raise OptionError(f"min_share must be in (0, 1], not {min_share}")
        seq = log._sequences
        keys: list[str] = seq.attrs["keys"]
        if not keys:
            raise StageModelError("cannot infer a stage model from an empty log")
        variants = [k.split(_SEP) for k in keys]
        vid = seq["variant_id"].to_numpy()
        outcome = seq[CASE].map(log.cases.set_index(CASE)[OUTCOME]).to_numpy(dtype=object)
        n_var = len(keys)
        # case counts per variant and outcome
        cnt = {
            oc: np.bincount(vid[outcome == oc], minlength=n_var) if oc else np.bincount(vid, minlength=n_var)
            for oc in ("won", "lost", "")
        }
        acts = sorted({a for v in variants for a in v})
        a_idx = {a: i for i, a in enumerate(acts)}
        has = np.zeros((n_var, len(acts)), dtype=bool)
        for i, v in enumerate(variants):
            has[i, [a_idx[a] for a in set(v)]] = True

        def pick(target: str) -> tuple[str, ...]:
            inside = cnt[target]
            if inside.sum() == 0:
                return ()
            others = cnt[""] - inside
            share_in = (has * inside[:, None]).sum(0) / inside.sum()
            share_out = (has * others[:, None]).sum(0) / max(int(others.sum()), 1)
            ok = (share_in >= 0.5) & (share_out < 0.1)
            if not ok.any():
                return ()
            return (acts[int(np.argmax(np.where(ok, share_in, -1)))],)

        won_t = _names(won, "won") if won is not None else pick("won")
        lost_t = _names(lost, "lost") if lost is not None else pick("lost")
        won_cases = cnt["won"].copy()
        if won is not None or (won_cases.sum() == 0 and won_t):
            won_cases = np.where(has[:, [a_idx[a] for a in won_t if a in a_idx]].any(1), cnt[""], 0)
        ref = won_cases if won_cases.sum() > 0 else cnt[""]
        n_ref = int(ref.sum())
        share = (has * ref[:, None]).sum(0) / n_ref
        terminal = set(won_t) | set(lost_t)
        cand = [a for a in acts if share[a_idx[a]] >= min_share and a not in terminal]
        if anywhere is None:
            anyw: list[str] = []
            for a in cand:
                counts = np.array([v.count(a) for v in variants])
                m = (counts > 0) & (ref > 0)
                reps = np.repeat(counts[m], ref[m])
                if len(reps) and float(np.median(reps)) >= 2:
                    anyw.append(a)
        else:
            anyw = list(_names(anywhere, "anywhere"))
        cand = [a for a in cand if a not in anyw]
        if not cand:
            raise StageModelError(
                f"no activity occurs in at least {min_share:.0%} of the reference cases; lower min_share"
            )
        k = len(cand)
        c_idx = {a: i for i, a in enumerate(cand)}
        before = np.zeros((k, k))
        pos_sum = np.zeros(k)
        pos_n = np.zeros(k)
        for i, v in enumerate(variants):
            w = ref[i]
            if w == 0:
                continue
            first: dict[str, int] = {}
            for j, a in enumerate(v):
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
        stages = sorted(cand, key=lambda a: (-wins[c_idx[a]], mean_pos[c_idx[a]], a))
        label = name if name is not None else f"inferred from {log.name}" if log.name else "inferred"
        return cls(stages, outcomes={"won": won_t, "lost": lost_t}, anywhere=anyw, name=label)

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
