"""``visits.group_sum`` on ready integer labels against pandas' own ``groupby(...).sum()``, bit for
bit, on awkward floats (huge and tiny magnitudes of both signs, NaN, inf): sorted labels without NaN
take numpy's ``add.reduceat`` (pandas' monotonic shortcut), everything else pandas' compensated
kernel; labels pandas would read otherwise (negative, out of range) go through pandas itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesmining.analysis import visits as _visits


def _awkward(rng: np.random.Generator, n: int, *, nan: bool, inf: bool) -> np.ndarray:
    v = rng.lognormal(3.0, 4.0, n) * rng.choice([1.0, -1.0, 1e-12, 1e12, -1e17, 3e-300], n)
    if nan:
        v[rng.random(n) < 0.07] = np.nan
    if inf:
        v[rng.integers(0, n, 3)] = np.inf
    return v


def _pandas(labels: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros(n_groups, dtype="float64")
    sums = pd.Series(values).groupby(labels, sort=True).sum()
    out[sums.index.to_numpy()] = sums.to_numpy()
    return out


@pytest.mark.parametrize("sorted_labels", [True, False])
@pytest.mark.parametrize("nan", [True, False])
@pytest.mark.parametrize("inf", [True, False])
@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_group_sum_is_pandas_bit_for_bit(sorted_labels: bool, nan: bool, inf: bool, dtype: str) -> None:
    rng = np.random.default_rng(15)
    n, k = 50_000, 3_000
    labels = rng.integers(0, k, n).astype(dtype)
    if sorted_labels:
        labels = np.sort(labels)
    values = _awkward(rng, n, nan=nan, inf=inf)
    got = _visits.group_sum(labels, values, k + 5)  # some groups without rows: 0
    want = _pandas(labels, values, k + 5)
    assert got.tobytes() == want.tobytes()
    # the compensation matters here: a plain bincount adds differently
    if not sorted_labels and not nan and not inf:
        assert not np.array_equal(np.bincount(labels, weights=values, minlength=k + 5), want)


def test_group_sum_kernel_is_present_and_matches_on_cancellation() -> None:
    assert _visits._kahan_group_sum() is not None  # this pandas: the fast path is taken
    labels = np.array([1, 0, 1, 1, 0, 1, 0])
    values = np.array([1e16, 1.0, 1.0, -1e16, 2.0, 1.0, 0.1])
    assert _visits.group_sum(labels, values, 2).tolist() == _pandas(labels, values, 2).tolist()


def test_group_sum_edge_labels() -> None:
    assert _visits.group_sum(np.zeros(0, dtype="int64"), np.zeros(0), 3).tolist() == [0.0, 0.0, 0.0]
    labels, values = np.array([2, 2, 2]), np.array([np.nan, np.nan, np.nan])
    assert _visits.group_sum(labels, values, 3).tolist() == [0.0, 0.0, 0.0]
    # a bool weight and integer values are added as float64, as pandas adds them
    labels = np.array([0, 1, 0, 1])
    assert _visits.group_sum(labels, np.array([True, False, True, True]), 2).tolist() == [2.0, 1.0]
    with pytest.raises(IndexError):
        _visits.group_sum(np.array([0, 7]), np.array([1.0, 2.0]), 3)
