"""``column_codes``: one reading of a text column, categorical or not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.analysis.visits import column_codes


def _decoded(codes: np.ndarray, names: np.ndarray) -> list[object]:
    return [names[c] if c >= 0 else None for c in codes]


def test_column_codes_agree_for_text_and_categorical() -> None:
    text = pd.Series(["b", None, "a", "b", "中文", "a"], dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    cat = pd.Series(pd.Categorical.from_codes([1, -1, 2, 1, 0, 2], categories=["中文", "b", "a"]))
    expected = ["b", None, "a", "b", "中文", "a"]
    for col in (text, cat):
        for sort in (False, True):
            codes, names = column_codes(col, sort=sort)
            assert codes.dtype == np.int64
            assert _decoded(codes, names) == expected
            if sort:
                assert list(names) == sorted(names)
    assert column_codes(text, sort=True)[0].tolist() == column_codes(cat, sort=True)[0].tolist() == [1, -1, 0, 1, 2, 0]
