"""Root-cause hints: case attributes over-represented among the cases a finding affects.

A lift is a correlation, not a cause.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["root_causes"]

_NOT_ATTRIBUTES = {
    "case_id",
    "outcome",
    "throughput_s",
    "skipped",
    "backtracks",
    "repeats",
    "conforms",
    "closed",
    "won",
}
ROOT_CAUSE_COLUMNS = [
    "rank",
    "kind",
    "where",
    "attribute",
    "value",
    "affected_with",
    "affected",
    "all_with",
    "all",
    "lift",
]


def _attribute_bands(cases: pd.DataFrame) -> dict[str, pd.Series]:
    """Every case attribute as categories: few distinct values as they are, numbers in quartile bands."""
    out: dict[str, pd.Series] = {}
    for col in cases.columns:
        if col in _NOT_ATTRIBUTES:
            continue
        s = cases[col]
        if not pd.api.types.is_numeric_dtype(s.dtype) and s.nunique() > 30:
            # numbers stored as text (XES string attributes, CSV columns) are banded like numbers
            num = pd.to_numeric(s, errors="coerce")
            if num.notna().sum() >= 0.95 * s.notna().sum() > 0:
                s = num
        if pd.api.types.is_numeric_dtype(s.dtype) and s.nunique() > 8:
            try:
                bands = pd.qcut(s, 4, duplicates="drop")
            except ValueError:
                continue
            out[f"{col} band"] = bands.astype("str").where(s.notna())
        elif s.nunique(dropna=True) <= 30 and s.notna().any():
            out[str(col)] = s.astype("str").where(s.notna())
    return out


def root_causes(evidence: pd.DataFrame, findings: pd.DataFrame, cases: pd.DataFrame, top: int) -> pd.DataFrame:
    """For the ``top`` findings: values with lift ≥ 1.5 held by at least 3 affected cases, three per finding."""
    attrs = _attribute_bands(cases)
    rows = []
    n = len(cases)
    for f in findings.head(top).itertuples():
        ids = set(
            evidence.loc[
                (evidence["kind"] == f.kind) & (evidence["rule"] == f.rule) & (evidence["where"] == f.where), "case_id"
            ]
        )
        is_aff = cases["case_id"].isin(ids).to_numpy()
        a = int(is_aff.sum())
        if a < 3:
            continue
        for name, s in attrs.items():
            vc_all = s.value_counts()
            vc_aff = s[is_aff].value_counts()
            for value, k in vc_aff.items():
                t = int(vc_all.loc[value])  # type: ignore[call-overload]
                lift = (k / a) / (t / n)
                if k >= 3 and lift >= 1.5:
                    rows.append((int(f.rank), f.kind, f.where, name, str(value), int(k), a, t, n, float(lift)))
    df = pd.DataFrame(rows, columns=ROOT_CAUSE_COLUMNS)
    df = df.sort_values(["rank", "lift", "affected_with"], ascending=[True, False, False], kind="stable")
    return df.groupby("rank", sort=False).head(3).reset_index(drop=True)
