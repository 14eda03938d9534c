"""The skip rule: a mandatory stage missing between two recorded stages."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.findings.context import FindingContext
from salesmining.findings.evidence import at, evidence

__all__ = ["skip_evidence"]


def skip_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """One ``skip`` row per (case, skipped stage), from the conformance check."""
    cs = ctx.cases[["case_id", "skipped"]]
    flat = _flattened(cs["skipped"])
    if flat is None:  # not tuples throughout: as pandas explodes them
        ex = cs.explode("skipped").dropna(subset=["skipped"])
        case, skipped = ex["case_id"], ex["skipped"]
    else:
        row, skipped = flat
        case = cs["case_id"].array.take(row)
    return [evidence("skipped_stage", "skip", at(skipped), case, np.zeros(len(case)), "stage skipped")]


def _flattened(values: pd.Series) -> tuple[np.ndarray, pd.Series] | None:
    """``values.explode().dropna()`` for a column of tuples (the conformance's ``skipped``): per item,
    its row position and the item, in row order; ``None`` when some value is not a tuple."""
    items = values.to_numpy(dtype=object)
    if not all(type(x) is tuple for x in items):
        return None
    lengths = np.fromiter(map(len, items), dtype="int64", count=len(items))
    flat = np.empty(int(lengths.sum()), dtype=object)
    flat[:] = [x for t in items[lengths > 0] for x in t]
    row = np.repeat(np.arange(len(items)), lengths)
    keep = ~pd.isna(flat)
    return row[keep], pd.Series(flat[keep], dtype=object)
