"""Salesforce record ids (15- and 18-character forms) and the helpers every export shares: case lookup, tie ranks."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from salesmining.ingest.crm.events import make_events

__all__ = ["case_keys", "map_cases", "no_events", "rank", "sf_key"]


def sf_key(s: pd.Series) -> pd.Series:
    """Salesforce ids compare on their 15-character case-sensitive form (reports export 15, the API 18)."""
    t = s.astype("str")
    long_id = t.str.fullmatch(r"[A-Za-z0-9]{18}").fillna(False).to_numpy(dtype=bool)
    return t.where(~long_id, t.str.slice(0, 15))


def case_keys(case: pd.Series) -> dict[str, str]:
    ids = pd.Series(pd.unique(case.dropna()), dtype="str")
    return dict(zip(sf_key(ids), ids, strict=True))


def map_cases(ref: pd.Series, cases_by_key: Mapping[str, str]) -> pd.Series:
    return sf_key(ref).map(cases_by_key).astype("str")


def rank(s: pd.Series) -> np.ndarray:
    """Rank of ids in code-point order (Salesforce ids sort in creation order); NA last."""
    vals = s.fillna("\uffff").to_numpy(dtype=object)
    order = np.argsort(vals, kind="stable")
    rank = np.empty(len(vals), dtype="int64")
    rank[order] = np.arange(len(vals))
    return rank


def no_events(label: str) -> pd.DataFrame:
    return make_events(0, case=None, activity=None, ts=None, input_row=[], source_object=label, event_type=None)
