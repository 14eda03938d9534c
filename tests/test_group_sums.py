"""The integer-keyed helpers the fast findings are built on, against pandas on the original keys:
group sums and running sums (pandas adds sorted keys without NaN with numpy's ``add.reduceat`` and
others with Kahan compensation, so both paths are checked), a case's previous same key, and
stage visits from the numpy path against a pandas recount of their dwell by gap kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.analysis import visits as _visits
from salesmining.core.schema import CASE
from salesmining.findings.context import previous_same

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


def _values(rng: np.random.Generator, n: int, with_nan: bool) -> np.ndarray:
    v = rng.lognormal(5.0, 3.0, n) * rng.choice([1.0, -1.0, 1e-9, 1e9], n)
    if with_nan:
        v[rng.random(n) < 0.05] = np.nan
    return v


@pytest.mark.parametrize("sorted_keys", [True, False])
@pytest.mark.parametrize("with_nan", [True, False])
def test_group_sums_match_pandas_on_string_keys(sorted_keys: bool, with_nan: bool) -> None:
    rng = np.random.default_rng(7)
    n, k = 20_000, 700
    labels = rng.integers(0, k, n)
    if sorted_keys:
        labels = np.sort(labels)
    values = _values(rng, n, with_nan)
    keys = pd.Series([f"case {i:04d}" for i in labels])  # same order as the labels
    expected = pd.Series(values).groupby(keys, sort=True).sum()
    got = _visits.group_sum(labels, values, k)
    present = np.unique(labels)
    assert np.array_equal(got[present], expected.to_numpy())
    assert (got[np.setdiff1d(np.arange(k), present)] == 0).all()
    running = pd.Series(values).groupby(keys, sort=True).cumsum().to_numpy()
    assert np.array_equal(_visits.group_cumsum(labels, values), running, equal_nan=True)


def test_previous_same_is_a_grouped_shift() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 50, 5_000)
    frame = pd.DataFrame({"k": keys, "row": np.arange(len(keys))})
    expected = frame.groupby("k", sort=False)["row"].shift(1).fillna(-1).astype("int64").to_numpy()
    assert np.array_equal(previous_same(keys), expected)
    assert len(previous_same(np.zeros(0, dtype="int64"))) == 0


def test_stage_visits_add_up_to_their_gaps() -> None:
    """Each finished visit's seconds by gap kind are its gaps' sums (a pandas pivot recount), and
    kind seconds add up to the dwell."""
    log = sm.read_csv(
        SAMPLES / "opportunities.csv",
        case="Opportunity ID",
        activity="Activity",
        timestamp="Timestamp",
        resource="Owner",
        approval_result="Approval Result",
    )
    model = sm.StageModel.from_yaml(SAMPLES / "stages.yaml")
    gaps = _visits.event_gaps(log, model)
    visits = _visits.stage_visits(gaps, log, model)
    g = gaps[gaps["gap_visit"].notna() & (gaps["gap_visit"] >= 1)]
    pivot = g.pivot_table(index=[CASE, "gap_visit"], columns="gap_kind", values="gap_s", aggfunc="sum", fill_value=0.0)
    done = visits[visits["exit_us"].notna()]
    key = pd.MultiIndex.from_arrays([done["case"], done["visit_no"]])
    for kind in _visits.GAP_KINDS:
        want = pivot[kind].reindex(key).fillna(0.0).to_numpy() if kind in pivot else np.zeros(len(done))
        assert np.array_equal(done[f"{kind}_s"].to_numpy(), want)
    total = sum(done[f"{k}_s"] for k in _visits.GAP_KINDS)
    assert np.allclose(total, done["dwell_s"], rtol=1e-12, atol=1e-6)
