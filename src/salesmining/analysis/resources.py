"""Who did it: system and automation users, and optional roles, as one :class:`ResourceModel`.

An event's owner is its ``org:resource``. Some owners are not people: an integration user, a
batch job, the workflow engine closing tickets. A change of owner to or from one of them is not
a handoff, and their events do not take a case from one person to another. They come from, in
this order:

* ``system_users=`` given by the caller: exactly those (detection is then off);
* the CRM readers' ``resource_type`` column (``"system"``), always honoured;
* otherwise, detection from the data, each with its reason stated (in the findings' warnings):

  - a name that says so: a word such as *system*, *batch*, *integration*, *automation*, *bot*,
    *cron*, *scheduler*, *workflow*, *api*;
  - a resource that acts in at least ``SYSTEM_MIN_CASE_SHARE`` of the cases, in a log with at
    least ``SYSTEM_MIN_RESOURCES`` resources, at a median of at most ``SYSTEM_MAX_MEDIAN_GAP_S``
    after the previous event of the case (a person does not answer every case within a minute).

``roles=`` maps owners to a team or role; handoff findings are then grouped by the pair of
roles instead of one per step.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesmining.core import formatting
from salesmining.core.errors import ArgumentTypeError
from salesmining.core.schema import RESOURCE

if TYPE_CHECKING:
    from salesmining.log.eventlog import EventLog

__all__ = [
    "SYSTEM_MAX_MEDIAN_GAP_S",
    "SYSTEM_MIN_CASE_SHARE",
    "SYSTEM_MIN_RESOURCES",
    "SYSTEM_NAME",
    "ResourceModel",
    "resource_model",
]

#: Names that say a resource is not a person (whole words, any case).
SYSTEM_NAME = re.compile(
    r"(?:^|[^a-z])(?:system|sys|batch|integration|automation|automated|auto|bot|robot|cron|scheduler|workflow|api)"
    r"(?:$|[^a-z])",
    re.IGNORECASE,
)
#: A resource in at least this share of the cases, ...
SYSTEM_MIN_CASE_SHARE = 0.9
#: ... in a log with at least this many resources, ...
SYSTEM_MIN_RESOURCES = 3
#: ... acting at a median of at most this many seconds after the previous event, is automation.
SYSTEM_MAX_MEDIAN_GAP_S = 60.0


@dataclasses.dataclass(frozen=True)
class ResourceModel:
    """System users (with the reason each is one) and the owner → role mapping (may be empty)."""

    system: frozenset[str] = frozenset()
    reasons: tuple[str, ...] = ()
    roles: tuple[tuple[str, str], ...] = ()

    def role_of(self, owners: pd.Series) -> pd.Series:
        """Each owner's role; an owner without one stands for itself."""
        if not self.roles:
            return owners
        mapped = owners.map(dict(self.roles))
        return mapped.where(mapped.notna(), owners)


def _detect(log: EventLog) -> tuple[set[str], list[str]]:
    """Detected system users and the reason for each: computed once per log (the log is immutable)."""
    cached: tuple[frozenset[str], tuple[str, ...]] | None = log.__dict__.get("_system_users")
    if cached is None:
        found, reasons = _detect_coded(log)
        cached = (frozenset(found), tuple(reasons))
        log.__dict__["_system_users"] = cached
    return set(cached[0]), list(cached[1])


def _detect_coded(log: EventLog) -> tuple[set[str], list[str]]:
    ev = log._events
    found: set[str] = set()
    reasons: list[str] = []
    if RESOURCE not in ev.columns:
        return found, reasons
    coded = log._coded
    names = pd.Series(coded.resource_names, dtype="object").astype(str)
    # per distinct name (sorted, as the reasons are), not per event
    by_name = names[names.str.contains(SYSTEM_NAME)]
    for n in sorted(by_name):
        found.add(n)
        reasons.append(f"{n!r} is treated as a system user: its name says so")
    if len(names) < SYSTEM_MIN_RESOURCES or log.n_cases == 0:
        return found, reasons
    # the events are in (case, time, source row) order: the gap before each event of its case
    r, case = coded.resource.astype("int64"), coded.case.astype("int64")
    gap = np.empty(len(r), dtype="float64")
    gap[1:] = np.diff(coded.ts_us) / 1e6
    gap[coded.first_of_case()] = np.nan
    has = r >= 0
    # distinct (case, resource) pairs: the keys are sorted by case already, so a stable sort is cheap
    width = max(len(names), 1)
    keys = np.sort(case[has] * width + r[has], kind="stable")
    pairs = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
    n_cases = np.bincount(pairs % width, minlength=len(names))
    seen = np.flatnonzero(np.bincount(r[has], minlength=len(names)) > 0)
    share = pd.Series(n_cases[seen] / log.n_cases, index=names.to_numpy()[seen])
    # the median gap only of the resources acting in enough cases (the others are no system users)
    wide = np.zeros(len(names), dtype=bool)
    wide[seen[share.to_numpy() >= SYSTEM_MIN_CASE_SHARE]] = True
    mine = has & wide[np.maximum(r, 0)]
    median_gap = pd.Series(gap[mine], dtype="float64").groupby(r[mine]).median()
    median_gap.index = names.to_numpy()[median_gap.index.to_numpy()]
    hit = share[(share >= SYSTEM_MIN_CASE_SHARE) & (median_gap.reindex(share.index) <= SYSTEM_MAX_MEDIAN_GAP_S)]
    for n in sorted(set(hit.index) - found):
        found.add(str(n))
        reasons.append(
            f"{n!r} is treated as a system user: it acts in {formatting.percent(float(share[n]))} of the cases, "
            f"a median {formatting.short_duration(float(median_gap[n]))} after the previous event"
        )
    return found, reasons


def resource_model(
    log: EventLog,
    *,
    system_users: Iterable[str] | None = None,
    roles: Mapping[str, str] | None = None,
) -> ResourceModel:
    """The log's :class:`ResourceModel`: given system users (else detected ones) plus the reader's
    ``resource_type == "system"`` events, and the roles."""
    if isinstance(system_users, str):
        raise ArgumentTypeError("system_users must be a list of user names, not one string")
    if roles is not None and not isinstance(roles, Mapping):
        raise ArgumentTypeError("roles must map owner names to roles (a dict)")
    ev = log._events
    if system_users is None:
        system, reasons = _detect(log)
        if reasons:
            reasons = [r + " (pass system_users=[...] to choose them yourself)" for r in reasons]
    else:
        system, reasons = {str(u) for u in system_users}, []
    if "resource_type" in ev.columns and RESOURCE in ev.columns:
        flagged = (ev["resource_type"].astype("object") == "system").to_numpy(dtype=bool)
        system |= {str(u) for u in pd.unique(ev.loc[flagged, RESOURCE].dropna())}
    role_pairs = tuple(sorted((str(k), str(v)) for k, v in (roles or {}).items()))
    return ResourceModel(frozenset(system), tuple(reasons), role_pairs)


def is_system(owners: pd.Series, resources: ResourceModel) -> np.ndarray:
    """Whether each owner is a system user."""
    if not resources.system:
        return np.zeros(len(owners), dtype=bool)
    return owners.astype("object").isin(list(resources.system)).to_numpy(dtype=bool)
