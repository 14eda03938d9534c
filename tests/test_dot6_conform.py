"""conform's string columns taken from few distinct values, and the per-case basics read off the
case table: cross-checked against plain pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.analysis import conform as _conform


@pytest.mark.parametrize(
    "values",
    [
        ["won", "lost", "open", "won", "won"],
        ["won", None, "lost", np.nan, "won"],
        [None, None],
        ["选", "赢", "选"],
        [],
    ],
)
def test_str_series_is_a_str_series(values: list[object]) -> None:
    arr = np.array(values, dtype=object)
    expected = pd.Series(arr, dtype="str")
    got = _conform._str_series(arr)
    pd.testing.assert_series_equal(got, expected, check_exact=True)
    assert got.isna().tolist() == [v is None or (isinstance(v, float) and np.isnan(v)) for v in values]


def test_str_take_is_a_str_series_of_the_taken_values() -> None:
    values = np.array(["open", "won", "lost"], dtype=object)
    at = np.array([2, 0, 0, 1, 2, 1], dtype=np.int64)
    expected = pd.Series(values[at], dtype="str")
    pd.testing.assert_series_equal(_conform._str_take(values, at), expected, check_exact=True)
    pd.testing.assert_series_equal(
        _conform._str_take(values, np.zeros(0, dtype=np.int64)), pd.Series([], dtype="str"), check_exact=True
    )


def _log() -> sm.EventLog:
    rows = [
        ("b-2", "Lead", "2024-01-03", None),
        ("b-2", "Offer", "2024-01-09", None),
        ("a-1", "Lead", "2024-01-01", "won"),
        ("a-1", "Won", "2024-01-05", "won"),
        ("c-3", "Lead", "2024-02-01", "open"),
        ("ä-4", "Lead", "2024-02-02", None),
        ("ä-4", "Lost", "2024-03-02", None),
        ("10", "Lead", "2024-01-01", "lost"),
    ]
    df = pd.DataFrame(rows, columns=["deal", "stage", "at", "result"])
    df["at"] = pd.to_datetime(df["at"], utc=True)
    return sm.from_dataframe(df, case="deal", activity="stage", timestamp="at", outcome="result")


def test_case_basics_match_pandas() -> None:
    log = _log()
    base = _conform._case_basics(log, None)
    ev = log.to_frame()
    span = ev.groupby("case:concept:name")["time:timestamp"].agg(["min", "max"])
    span = span.sort_index()
    assert base["case_id"].tolist() == sorted(span.index.tolist())
    assert str(base["case_id"].dtype) == "str"
    thr = (span["max"] - span["min"]).dt.total_seconds().reindex(base["case_id"]).to_numpy()
    np.testing.assert_array_equal(base["throughput_s"].to_numpy(), thr)
    known = log.cases.set_index("case:concept:name")["outcome"].reindex(base["case_id"]).to_numpy(dtype=object)
    assert [None if pd.isna(x) else x for x in base["_known"]] == [None if pd.isna(x) else x for x in known]


def test_case_basics_without_an_aligned_case_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """A case table in another order is read by id (the fallback), with the same result."""
    log = _log()
    expected = _conform._case_basics(log, None)
    shuffled = log._cases.iloc[::-1].reset_index(drop=True)
    monkeypatch.setattr(type(log), "_cases", property(lambda self: shuffled), raising=False)
    got = _conform._case_basics(log, None)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
