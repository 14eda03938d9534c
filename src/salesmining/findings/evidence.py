"""The evidence table every rule family writes: one row per (finding, case), with its place.

A finding's place is structured: ``activity`` when it sits at one stage, approval step or
activity; ``from_activity`` and ``to_activity`` when it sits on a step between two (a backward
move, a first response, a handoff, an approval chain); ``stalled`` for open cases stalled in
``activity``. ``where`` is only the display text made from them (``"Offer → Lead"``,
``"Proposal (open, stalled)"``); nothing reads a place back out of it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "ARROW",
    "EVIDENCE_COLUMNS",
    "LOCATION_COLUMNS",
    "Place",
    "at",
    "between",
    "evidence",
    "evidence_by_rule",
    "tidy",
]

#: Joins the two ends of a step in ``where``.
ARROW = " → "
#: Marks a stalled open case's stage in ``where``.
STALLED = " (open, stalled)"
#: The structured place of a finding.
LOCATION_COLUMNS = ["activity", "from_activity", "to_activity", "stalled"]
EVIDENCE_COLUMNS = ["kind", "rule", "where", "case_id", "time_lost_s", "detail", *LOCATION_COLUMNS]


class Place(NamedTuple):
    """Where findings sit: scalars, or one value per evidence row."""

    where: Any
    activity: Any = None
    from_activity: Any = None
    to_activity: Any = None
    stalled: bool = False


def _text(values: Any) -> Any:
    return values if isinstance(values, str) else pd.Series(values).astype("object").reset_index(drop=True)


def at(activity: Any, *, stalled: bool = False) -> Place:
    """A place at one stage, approval step or activity (a scalar or one per row)."""
    where = _text(activity)
    if stalled:
        where = where + STALLED
    return Place(where, activity=activity, stalled=stalled)


def between(source: Any, target: Any, *, source_text: str = "?", target_text: str = "?") -> Place:
    """A place on the step ``source → target``; a missing end shows as ``source_text``/``target_text``."""
    src = source_text if source is None else source
    dst = target_text if target is None else target
    if not isinstance(src, str):
        src = _text(src).fillna(source_text)
    if not isinstance(dst, str):
        dst = _text(dst).fillna(target_text)
    return Place(src + ARROW + dst, from_activity=source, to_activity=target)


def _column(value: Any, n: int) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return [value] * n
    return np.asarray(value, dtype=object)


def evidence(kind: str, rule: str, place: Place, case: Any, lost_s: Any, detail: Any = "") -> pd.DataFrame:
    """Evidence rows of one rule: one per case (``case``, ``lost_s`` and ``detail`` per row)."""
    n = len(case)
    return pd.DataFrame(
        {
            "kind": [kind] * n,
            "rule": [rule] * n,
            "where": _column(place.where, n),
            "case_id": np.asarray(case, dtype=object),
            "time_lost_s": np.asarray(lost_s, dtype="float64"),
            "detail": _column(detail, n),
            "activity": _column(place.activity, n),
            "from_activity": _column(place.from_activity, n),
            "to_activity": _column(place.to_activity, n),
            "stalled": np.asarray(_column(place.stalled, n), dtype=bool),
        }
    )


def evidence_by_rule(kind: str, rules: Any, place: Place, case: Any, lost: Any, detail: Any) -> pd.DataFrame:
    """Evidence whose rule differs per row (e.g. over the SLA vs. above the fence), one block per rule."""
    rules_a = np.asarray(rules, dtype=object)
    n = len(rules_a)
    cols = {name: np.asarray(_column(value, n), dtype=object) for name, value in place._asdict().items()}
    case_a, lost_a, det_a = (
        np.asarray(case, dtype=object),
        np.asarray(lost, dtype="float64"),
        np.asarray(detail, dtype=object),
    )
    frames = []
    for r in sorted(set(rules_a.tolist())):
        m = rules_a == r
        frames.append(
            evidence(kind, str(r), Place(**{k: v[m] for k, v in cols.items()}), case_a[m], lost_a[m], det_a[m])
        )
    return pd.concat(frames, ignore_index=True) if frames else evidence(kind, "", at([]), [], [])


def tidy(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """All rules' evidence in one table, sorted by ``(kind, rule, where, case_id)``; missing places are ``None``."""
    parts = [p for p in parts if len(p)]
    ev = pd.concat(parts, ignore_index=True) if parts else evidence("loop", "", at([]), [], [])
    ev["where"] = ev["where"].astype("str")
    ev["case_id"] = ev["case_id"].astype("str")
    for c in ("activity", "from_activity", "to_activity"):
        col = ev[c].astype("object")
        ev[c] = col.where(col.notna(), None)
    ev["stalled"] = ev["stalled"].astype(bool)
    return ev.sort_values(["kind", "rule", "where", "case_id"], kind="stable").reset_index(drop=True)
