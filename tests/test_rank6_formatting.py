"""The vectorised short_durations against the scalar short_duration, value by value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesmining.core import formatting


def _values() -> np.ndarray:
    rng = np.random.default_rng(7)
    edges = [0.0, -0.0, 0.4, 0.5, 0.5000001, 1.5, 2.5, -0.3, -0.5, -0.7, -1.5, -59.9, 29.5, 30.0, 59.4, 59.5]
    edges += [59.999, 60.0, 89.99, 90.0, 150.0, 3569.9, 3570.0, 3599.5, 3599.999, 3600.0, 3779.99, 3780.0]
    edges += [5580.0, 86399.9, 86400.0, 90720.0, 1e6, 1e12, 2.0**52, 2.0**53, 1e300, -1e300, -(2.0**60)]
    edges += [np.nan, np.inf, -np.inf, np.nextafter(3600.0, 0), np.nextafter(86400.0, 0), 4.5e15]
    halves_h = (np.arange(1, 240) * 360 + 180).astype("float64")  # x.x5 hours in whole seconds
    halves_d = (np.arange(1, 400) * 8640 + 4320).astype("float64")  # x.x5 days in whole seconds
    whole = np.arange(0, 200_000, 7).astype("float64")
    spread = np.exp(rng.uniform(-5, 20, 20_000))
    signed = rng.normal(0, 5_000, 5_000)
    near = np.concatenate([np.nextafter(halves_h, np.inf), np.nextafter(halves_h, -np.inf)])
    return np.concatenate([edges, halves_h, halves_d, whole, spread, signed, near, rng.integers(0, 10**8, 5_000)])


@pytest.mark.parametrize("smallest", ["s", "min", "h"])
def test_same_text_as_the_scalar(smallest: str) -> None:
    values = _values()
    got = formatting.short_durations(values, smallest=smallest)
    want = [formatting.short_duration(float(x), smallest=smallest) for x in values]
    assert got.dtype == object and len(got) == len(values)
    bad = [(float(x), g, w) for x, g, w in zip(values, got, want, strict=True) if g != w]
    assert not bad, bad[:10]
    assert all(type(g) is str for g in got)


def test_working_clock_and_sequences() -> None:
    values = [45.0, 8 * 8 * 3600.0, -7200.0, 1e7, float("nan"), None]
    got = formatting.short_durations(values, working=True)
    assert got.tolist() == [formatting.short_duration(x, working=True) for x in values]
    assert got.tolist()[1] == "64.0 working h" and got.tolist()[3] == "2,777.8 working h"


def test_series_timedeltas_and_empty() -> None:
    s = pd.Series([30.0, 7200.0, None], index=[5, 6, 7])
    assert formatting.short_durations(s, smallest="min").tolist() == ["0 min", "2.0 h", "–"]
    tds = [pd.Timedelta(minutes=12), pd.NaT, pd.Timedelta(days=2)]
    assert formatting.short_durations(tds).tolist() == ["12 min", "–", "2.0 d"]
    assert formatting.short_durations([]).tolist() == []
    assert formatting.short_durations(np.array([], dtype="float64"), smallest="min").dtype == object
