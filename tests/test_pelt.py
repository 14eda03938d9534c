"""Our numpy PELT (``diagnosis/pelt.py``) against ruptures' ``Pelt`` with the same weighted cost:
the breakpoints must be identical on random weighted series with and without changes, short and
long, with ties, and on the drift's own standardised series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from salesmining.diagnosis.drift_points import MIN_SEGMENT, PENALTY_FACTOR
from salesmining.diagnosis.pelt import weighted_l2_pelt

rpt = pytest.importorskip("ruptures", reason="ruptures (the dev extra) is the reference PELT")


def _ruptures_bkps(z: np.ndarray, w: np.ndarray, pen: float, min_size: int) -> list[int]:
    from ruptures.base import BaseCost

    class WeightedL2(BaseCost):  # the cost drift used with ruptures
        model = "weighted_l2"

        def __init__(self) -> None:
            self.min_size = min_size

        def fit(self, signal: np.ndarray) -> WeightedL2:
            self.signal = signal
            zz, wt = signal[:, 0], signal[:, 1]
            self.cw = np.concatenate([[0.0], np.cumsum(wt)])
            self.cwz = np.concatenate([[0.0], np.cumsum(wt * zz)])
            self.cwz2 = np.concatenate([[0.0], np.cumsum(wt * zz * zz)])
            return self

        def error(self, start: int, end: int) -> float:
            sw = self.cw[end] - self.cw[start]
            swz = self.cwz[end] - self.cwz[start]
            return float(self.cwz2[end] - self.cwz2[start] - (swz * swz / sw if sw > 0 else 0.0))

    algo = rpt.Pelt(custom_cost=WeightedL2(), min_size=min_size, jump=1).fit(np.column_stack([z, w]))
    return [int(b) for b in algo.predict(pen=pen)[:-1]]


def _series(rng: np.random.Generator, kind: int) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.choice([3, 4, 5, 6, 7, 9, 12, 20, 35, 60, 150]))
    w = rng.integers(1, 60, n).astype("float64")
    if kind == 0:  # no change
        z = rng.normal(0, 1, n)
    elif kind == 1:  # real changes: a few level shifts
        levels = np.repeat(rng.normal(0, 3, 4), math.ceil(n / 4))[:n]
        z = levels + rng.normal(0, 1, n)
    elif kind == 2:  # ties: few distinct values, equal weights, so equal-cost splits occur
        z = rng.integers(0, 3, n).astype("float64")
        w = np.ones(n)
    else:  # a rate-like series: shares of cases, standardised
        p = np.where(np.arange(n) < n // 2, 0.3, rng.choice([0.3, 0.6]))
        z = rng.binomial(w.astype(int), p) / w / 0.46
    return z, w


def test_pelt_equals_ruptures_on_random_weighted_series() -> None:
    rng = np.random.default_rng(20261202)
    changes = ties = 0
    for trial in range(600):
        z, w = _series(rng, trial % 4)
        min_size = int(rng.choice([1, 2, 3, 4])) if trial % 5 else MIN_SEGMENT
        if len(z) < min_size:
            continue
        pen = float(rng.choice([0.5, 2.0, PENALTY_FACTOR * math.log(len(z)), 25.0]))
        ours = weighted_l2_pelt(z, w, pen, min_size)
        assert ours == _ruptures_bkps(z, w, pen, min_size), (trial, len(z), min_size, pen)
        changes += bool(ours)
        ties += trial % 4 == 2 and bool(ours)
    assert changes > 100 and ties > 20  # the comparison covered segmentations, also among ties


def test_pelt_exact_ties_break_like_ruptures() -> None:
    # a symmetric series: splitting at 2 or at 4 costs exactly the same
    z, w = np.array([0.0, 0, 1, 1, 0, 0]), np.ones(6)
    for pen in (0.1, 0.3, 0.6, 1.0):
        assert weighted_l2_pelt(z, w, pen, 2) == _ruptures_bkps(z, w, pen, 2)
    assert weighted_l2_pelt(z, w, 0.1, 2) == [2, 4]


def test_pelt_finds_an_injected_shift_and_nothing_in_noise() -> None:
    rng = np.random.default_rng(3)
    w = np.full(40, 30.0)
    shifted = np.concatenate([np.zeros(25), np.full(15, 2.0)]) + rng.normal(0, 1, 40) / np.sqrt(w)
    pen = PENALTY_FACTOR * math.log(40)
    assert weighted_l2_pelt(shifted * np.sqrt(30), w / 30, pen, MIN_SEGMENT) == [25]
    assert weighted_l2_pelt(rng.normal(0, 1, 40), np.ones(40), pen, MIN_SEGMENT) == []
    assert weighted_l2_pelt(np.array([1.0, 2.0]), np.ones(2), pen, MIN_SEGMENT) == []  # too short
