"""rank7's replay helpers against plain numpy/pandas: step rows by sorted codes, factorised
categoricals, finite gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesmining.findings import replay


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_by_code_runs_are_flatnonzero_of_each_code(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_names = 7
    codes = rng.integers(-1, n_names, 5_000).astype("int32")
    order, bounds = replay._by_code(codes, n_names)
    for c in range(-1, n_names):
        assert order[bounds[c + 1] : bounds[c + 2]].tolist() == np.flatnonzero(codes == c).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [0, 10, 100_000])
def test_factorized_categorical_as_pd_factorize(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["Lead", "Offer", "Won", "Lost", "Call"]
    values = np.asarray(rng.choice(names, n), dtype=object)
    if n:
        values[rng.random(n) < 0.1] = None
        values[-1] = "Rare"  # first seen only in the last row: beyond every prefix
    col = pd.Series(values, dtype="category").cat.add_categories(["Unused"])
    codes, uniques = replay._factorized(col)
    want_codes, want_uniques = pd.factorize(col)
    assert codes.tolist() == np.asarray(want_codes).tolist()
    assert list(uniques) == list(np.asarray(want_uniques, dtype=object))


def test_finite_as_nan_to_num() -> None:
    for values in (np.array([1.0, 2.5, 0.0]), np.array([np.nan, np.inf, -np.inf, 3.0]), np.zeros(0)):
        got = replay._finite(values)
        np.testing.assert_array_equal(got, np.nan_to_num(values))
        assert got is not values
