"""``case_attributes="auto"``: the columns constant within every case, found on value codes, against
the plain pandas recount it replaced (a ``groupby(case).nunique()`` of the columns as objects)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from salesmining.ingest.frames import _constant_within_cases
from salesmining.ingest.timestamps import MISSING_TOKENS


def _reference(raw: pd.DataFrame, keep: np.ndarray, case_ids: pd.Series, columns: list[Any]) -> list[Any]:
    rows = raw[keep]
    frame = rows[columns].reset_index(drop=True).astype("object")
    frame = frame.where(~frame.isin(list(MISSING_TOKENS)) & frame.notna(), None)
    nun = frame.groupby(case_ids.reset_index(drop=True).to_numpy(), sort=False).nunique(dropna=True)
    has_value = frame.notna().any()
    return [c for c in columns if bool(has_value[c]) and int(nun[c].max()) <= 1]


def _frame(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    case = rng.integers(0, max(n // 6, 1), n)
    ids = pd.Series([f"C{c:04d}" for c in case], dtype="str")
    segment = np.array(["SMB", "Mid", "Ent"])[case % 3]  # constant per case
    noisy = segment.copy()
    noisy[rng.random(n) < 0.02] = "Other"  # changes within some cases
    with_gaps = segment.astype(object)
    holes = rng.random(n) < 0.3
    with_gaps[holes] = rng.choice(["", "nan", "N/A", None], holes.sum())  # empty, not a second value
    amount = (case * 10.5).astype("float64")
    amount[rng.random(n) < 0.2] = np.nan
    raw = pd.DataFrame(
        {
            "Segment": pd.Series(segment, dtype="str"),
            "Noisy": pd.Series(noisy, dtype="str"),
            "Gappy": pd.Series(with_gaps, dtype="str"),
            "Coded": pd.Categorical(segment),  # a column read through its dictionary
            "Amount": amount,
            "Activity": pd.Series(rng.choice(["Lead", "Won"], n), dtype="str"),
            "Empty": pd.Series([""] * n, dtype="str"),
            "Nothing": np.full(n, np.nan),
            "At": pd.to_datetime(case, unit="D"),
            "Flag": (case % 2 == 0),
            "Mixed": pd.Series([1 if c % 2 else "1" for c in case], dtype=object),  # 1 and "1" differ
        }
    )
    keep = rng.random(n) < 0.9
    return raw, keep, ids[keep].reset_index(drop=True)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_constant_columns_match_the_groupby_nunique_recount(seed: int) -> None:
    raw, keep, ids = _frame(np.random.default_rng(seed), 3000)
    cols = list(raw.columns)
    got = _constant_within_cases(raw, keep, ids, cols)
    assert got == _reference(raw, keep, ids, cols)
    # and what that means, said by hand: the per-case columns are found, the others are not
    assert {"Segment", "Gappy", "Coded", "Amount", "At", "Flag"} <= set(got)
    assert not {"Noisy", "Activity", "Empty", "Nothing"} & set(got)


def test_a_value_only_in_a_rejected_row_does_not_count() -> None:
    raw = pd.DataFrame({"Segment": pd.Series(["A", "A", "B", "C"], dtype="str")})
    ids = pd.Series(["x", "x", "y"], dtype="str")
    keep = np.array([True, True, False, True])  # "B" in case x is rejected
    assert _constant_within_cases(raw, keep, pd.Series(["x", "x", "y"], dtype="str"), ["Segment"]) == ["Segment"]
    keep_all = np.ones(4, dtype=bool)
    ids = pd.Series(["x", "x", "x", "y"], dtype="str")
    assert _constant_within_cases(raw, keep_all, ids, ["Segment"]) == []
    assert _reference(raw, keep_all, ids, ["Segment"]) == []
