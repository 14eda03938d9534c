"""Stage definitions: outcome classes (won/lost/open), stage tables and lookups, stage streams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from salesmining.core.errors import LogSchemaError

__all__ = ["STAGE_TABLE_COLUMNS", "classes_from_flags", "lookup_stages", "outcome_classes", "sort_stream"]


def outcome_classes(mapping: Mapping[Any, Any], *, what: str) -> dict[str, str]:
    """Validate a user mapping stage → ``"won"``/``"lost"``/``"open"`` (any case)."""
    out: dict[str, str] = {}
    for key, value in mapping.items():
        v = str(value).strip().lower()
        if v not in ("won", "lost", "open"):
            raise LogSchemaError(
                f"{what}: stage {key!r} maps to {value!r}; use 'won', 'lost' or 'open'", column=what, value=value
            )
        out[str(key).strip()] = v
    return out


def classes_from_flags(stage: pd.Series, is_closed: pd.Series, is_won: pd.Series) -> tuple[dict[str, str], list[str]]:
    """Stage → won/lost/open learned from per-row closed/won flags; stages with conflicting flags are left out."""
    cls = pd.Series(pd.NA, index=stage.index, dtype="str")
    cls[(is_closed.fillna(False) & is_won.fillna(False)).to_numpy(dtype=bool)] = "won"
    cls[(is_closed.fillna(False) & ~is_won.fillna(True)).to_numpy(dtype=bool)] = "lost"
    cls[(~is_closed.fillna(True)).to_numpy(dtype=bool)] = "open"
    pairs = pd.DataFrame({"stage": stage, "cls": cls}).dropna()
    n = pairs.groupby("stage")["cls"].nunique()
    conflicts = sorted(str(s) for s in n.index[n > 1])
    good = pairs[~pairs["stage"].isin(conflicts)].drop_duplicates("stage")
    return dict(zip(good["stage"].astype(str), good["cls"].astype(str), strict=True)), conflicts


STAGE_TABLE_COLUMNS = ("pipeline_id", "pipeline_label", "stage_id", "stage_label", "order", "cls")


def sort_stream(s: pd.DataFrame) -> pd.DataFrame:
    """Sort a stage stream (``case``, ``ts``, ``order``, ``row``, ``stage``) and add ``first``,
    ``prev`` (previous stage of the same case) and ``change`` (first row or a different stage)."""
    s = s.sort_values(["case", "ts", "order", "row"], kind="stable").reset_index(drop=True)
    first = (s["case"] != s["case"].shift()).to_numpy()
    prev = s["stage"].shift().where(~first)
    change = first | (s["stage"] != prev).fillna(True).to_numpy()
    return s.assign(first=first, prev=prev.astype("str"), change=change)


def lookup_stages(stage_ids: pd.Series, table: pd.DataFrame, *, pipeline_ids: pd.Series | None = None) -> pd.DataFrame:
    """Per value of ``stage_ids``: the stage table row (``pipeline_id``, ``pipeline_label``, ``stage_label``,
    ``order``, ``cls``) or NA. With ``pipeline_ids``, a stage id defined in several pipelines is looked up
    in the row's own pipeline."""
    t = table.drop_duplicates(["pipeline_id", "stage_id"], keep="last")
    ids = stage_ids.reset_index(drop=True).astype("str")
    by_stage = t.drop_duplicates("stage_id", keep="first").set_index("stage_id")
    out = pd.DataFrame(
        {c: ids.map(by_stage[c]) for c in ("pipeline_id", "pipeline_label", "stage_label", "order", "cls")}
    )
    if pipeline_ids is not None:
        key = pipeline_ids.reset_index(drop=True).astype("str") + "\x1f" + ids
        both = t.assign(k=t["pipeline_id"] + "\x1f" + t["stage_id"]).set_index("k")
        for c in ("pipeline_id", "pipeline_label", "stage_label", "order", "cls"):
            hit = key.map(both[c])
            out[c] = hit.where(hit.notna(), out[c])
    return out.astype(
        dict.fromkeys(("pipeline_id", "pipeline_label", "stage_label", "cls"), "str") | {"order": "float64"}
    )
