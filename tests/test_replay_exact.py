"""The fast what-if replay computes bit for bit what the straightforward version computed.

Each fast path is checked against the plain computation it replaces: the resamples (int32 draws,
counts per row), the quantiles of the resamples (searched in a band of sorted positions, the
rest over all positions), the sums (whole numbers in one matrix product), the group sums and
running sums (exact for whole numbers, pandas otherwise).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from salesmining.findings import replay
from salesmining.findings.replay import boot_stat, count_blocks, group_cumsum, group_sums


def old_count_blocks(n: int, n_boot: int, seed: int) -> list[np.ndarray]:
    """The resamples as they were drawn before: int64 indices, counted in one flat bincount."""
    rng = np.random.default_rng(seed)
    per = max(1, replay._BLOCK // max(n, 1))
    out, done = [], 0
    while done < n_boot:
        k = min(per, n_boot - done)
        idx = rng.integers(0, n, size=(k, n))
        flat = (idx + (np.arange(k) * n)[:, None]).ravel()
        out.append(np.bincount(flat, minlength=k * n).astype(np.int32).reshape(k, n))
        done += k
    return out


def old_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """The quantiles as they were computed before: running counts over all sorted positions."""
    n = len(values)
    h = (n - 1) * q
    lo = math.floor(h)
    frac = h - lo
    order = np.argsort(values, kind="stable")
    v = values[order]
    cs = np.cumsum(counts[:, order], axis=1, dtype=np.int64)
    j0 = np.minimum((cs <= lo).sum(axis=1), n - 1)
    j1 = np.minimum((cs <= min(lo + 1, n - 1)).sum(axis=1), n - 1)
    return np.asarray(v[j0] + frac * (v[j1] - v[j0]))


@pytest.mark.parametrize("n", [1, 2, 7, 800, 9_000, 90_001])
def test_resamples_are_the_ones_drawn_before(n: int) -> None:
    n_boot = 2 * max(1, replay._BLOCK // n) + 3  # three blocks, the last one short
    new, old = list(count_blocks(n, n_boot, seed=11)), old_count_blocks(n, n_boot, seed=11)
    assert [b.shape for b in new] == [b.shape for b in old]
    for a, b in zip(new, old, strict=True):
        assert np.array_equal(a, b)
        assert a.dtype == np.float32


@pytest.mark.parametrize("how", ["median", "p90"])
@pytest.mark.parametrize("n", [3, 50, 600, 5_000, 40_000])
def test_quantiles_are_bit_identical_to_the_full_search(n: int, how: str) -> None:
    rng = np.random.default_rng(n)
    values = np.round(rng.lognormal(10, 1.5, size=n), -2)  # many ties
    values[: n // 10] = 0.0
    counts = next(count_blocks(n, 60, seed=2))
    # rows far from any bootstrap: all weight on the smallest, the largest or one middle case, so
    # their quantile falls outside the band and is found over all positions
    odd = np.zeros((3, n), dtype=counts.dtype)
    odd[0, np.argmin(values)] = n
    odd[1, np.argmax(values)] = n
    odd[2, n // 2] = n
    counts = np.vstack([counts, odd])
    q = {"median": 0.5, "p90": 0.9}[how]
    got, want = boot_stat(values, counts, how), old_quantile(values, counts, q)
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))
    # int32 counts (as callers may hand them) give the same
    assert np.array_equal(boot_stat(values, counts.astype(np.int32), how), want)


def test_sums_of_whole_numbers_and_of_fractions_round_as_before() -> None:
    n = 30_000
    rng = np.random.default_rng(5)
    flags = (rng.random(n) < 0.3).astype(float)
    hours = np.where(rng.random(n) < 0.2, rng.integers(0, 10**6, size=n) / 3600, 0.0)
    for counts in count_blocks(n, 300, seed=4):
        old32 = counts.astype(np.int32)
        ones, frac = replay._Sums([flags, hours], n).of(counts)
        assert np.array_equal(ones, old32 @ flags)
        assert np.array_equal(frac, old32 @ hours)


@pytest.mark.parametrize("whole", [True, False])
def test_group_sums_and_running_sums_equal_pandas(whole: bool) -> None:
    rng = np.random.default_rng(8)
    groups = np.sort(rng.integers(0, 400, size=5_000))
    values = rng.integers(0, 10**6, size=5_000).astype(float)
    if not whole:
        values = values / 1000 + 0.1
    run = pd.Series(values).groupby(groups).cumsum().to_numpy()
    total = pd.Series(values).groupby(groups).sum().to_numpy()
    assert np.array_equal(group_cumsum(groups, values), run)
    assert np.array_equal(group_sums(groups, values), total)
