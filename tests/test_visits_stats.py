"""The coded core against independent computations: the Mann–Whitney test against scipy, the gap
table on integer codes against the narwhals gap table, the coded events against the log's frame,
and ``core.frames.isin`` against pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.analysis import visits as _visits
from salesmining.analysis.resources import resource_model
from salesmining.core.frames import isin
from salesmining.core.schema import ACTIVITY, CASE, RESOURCE, TIMESTAMP
from salesmining.datasets import SAMPLE_COLUMNS

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


def _samples(n: int, rng: np.random.Generator, kind: int) -> np.ndarray:
    if kind == 0:  # many ties
        return rng.integers(0, 5, n).astype("float64")
    return rng.exponential(2.0, n)


def test_mann_whitney_matches_scipy() -> None:
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(7)
    exact_seen = asymptotic_seen = 0
    for trial in range(1500):
        n1, n2 = int(rng.integers(1, 25)), int(rng.integers(1, 25))
        x = _samples(n1, rng, trial % 3) + (0.7 if trial % 2 else 0.0)
        y = _samples(n2, rng, trial % 3)
        ours = _visits.mann_whitney_greater(x, y)
        ref = float(mannwhitneyu(x, y, alternative="greater").pvalue)
        exact = not ((n1 > 8 and n2 > 8) or len(np.unique(np.concatenate([x, y]))) < n1 + n2)
        if exact:
            exact_seen += 1
            assert ours == ref, (n1, n2)  # the exact distribution: bit for bit
        else:
            asymptotic_seen += 1
            assert ours == pytest.approx(ref, rel=1e-12, abs=1e-300)
        assert (ours < 0.05) == (ref < 0.05)
    assert exact_seen > 100 and asymptotic_seen > 100
    big_x, big_y = rng.exponential(2.0, 20_000) + 0.01, rng.exponential(2.0, 30_000)
    assert _visits.mann_whitney_greater(big_x, big_y) == pytest.approx(
        float(mannwhitneyu(big_x, big_y, alternative="greater").pvalue), rel=1e-12
    )
    # one tiny sample against a large one: the exact distribution over many arrangements
    small, large = rng.exponential(2.0, 4) + 3, rng.exponential(2.0, 400)
    assert _visits.mann_whitney_greater(small, large) == float(mannwhitneyu(small, large, alternative="greater").pvalue)


def _read(name: str) -> sm.EventLog:
    return sm.read_csv(SAMPLES / f"{name}.csv", **SAMPLE_COLUMNS)


@pytest.mark.parametrize(("name", "stages"), [("opportunities_artefacts", "stages"), ("opportunities_zh", "stages_zh")])
def test_coded_gap_table_equals_the_narwhals_one(name: str, stages: str) -> None:
    """The default engine's gap table (numpy on the codes) is the narwhals table row for row."""
    log = _read(name)
    model = sm.StageModel.from_yaml(SAMPLES / f"{stages}.yaml")
    res, ref = resource_model(log), _visits.HandoffReference()
    coded = _visits._event_gaps_coded(log, model, backend="polars", resources=res, handoff=ref)
    narwhals = _visits._event_gaps(log, model, backend="polars", resources=res, handoff=ref)
    pd.testing.assert_frame_equal(coded, narwhals, check_exact=True)
    # the artefacts log has stage ties, system users and handoffs: the paths below are exercised
    if name == "opportunities_artefacts":
        assert (_visits.coded_tie_order(log, model) != log._coded.source_row).any()
        assert res.system and coded["owner_change"].any()


def test_coded_gap_table_with_lifecycle_ties_and_no_resources() -> None:
    """A hand-made log: lifecycle transitions (queues), tied stage events out of model order,
    an approval repeated, a rejection; and the same log without owners."""
    rows = [
        ("A", "Offer", "2024-01-01 09:00", "ann", "complete"),
        ("A", "Lead", "2024-01-01 09:00", "ann", "complete"),  # tie, out of model order
        ("A", "Review", "2024-01-02 09:00", "bob", "schedule"),
        ("A", "Review", "2024-01-03 09:00", "cy", "start"),
        ("A", "Won", "2024-01-04 09:00", None, "complete"),
        ("B", "Lead", "2024-01-01 10:00", "bob", "COMPLETE"),
        ("B", "Offer", "2024-01-05 10:00", "ann", "complete"),
        ("B", "Lead", "2024-01-06 10:00", "ann", "complete"),
        ("B", "Lost", "2024-01-06 10:00", "ann", "complete"),
    ]
    df = pd.DataFrame(rows, columns=["id", "act", "t", "who", "life"])
    model = sm.StageModel(["Lead", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]}, anywhere=["Review"])
    for kw in ({"resource": "who"}, {}):
        log = sm.from_dataframe(df, case="id", activity="act", timestamp="t", lifecycle="life", timezone="UTC", **kw)
        res, ref = resource_model(log), _visits.HandoffReference()
        coded = _visits._event_gaps_coded(log, model, backend="polars", resources=res, handoff=ref)
        narwhals = _visits._event_gaps(log, model, backend="polars", resources=res, handoff=ref)
        pd.testing.assert_frame_equal(coded, narwhals, check_exact=True)
        # case A's tie is read in model order: Lead before Offer
        assert coded.loc[coded[CASE] == "A", ACTIVITY].tolist()[:2] == ["Lead", "Offer"]


def test_coded_events_decode_to_the_log() -> None:
    log = _read("opportunities_zh")
    c = log._coded
    ev = log._events
    assert c.case_names[c.case].tolist() == ev[CASE].tolist()
    assert c.activity_names[c.activity].tolist() == ev[ACTIVITY].tolist()
    names = np.append(c.resource_names, None)
    assert [None if pd.isna(v) else v for v in ev[RESOURCE]] == names[c.resource].tolist()
    assert (c.ts_us == ev[TIMESTAMP].astype("int64").to_numpy()).all()
    assert list(c.case_names) == sorted(c.case_names)
    sizes = ev.groupby(CASE, sort=True).size().to_numpy()
    assert (np.diff(c.bounds) == sizes).all()
    assert log._coded is c  # computed once
    with pytest.raises(ValueError):
        c.case[0] = 1  # read-only: shared by every analysis


def test_isin_matches_pandas() -> None:
    s = pd.Series(["b", "a", None, "c", "a", "王伟"], dtype="str", index=[9, 8, 7, 6, 5, 4])
    for test in (["a"], {"a", "王伟"}, pd.Index(["b"]), pd.Series(["c", None]), [], np.array(["x"], dtype=object)):
        got = isin(s, test)
        pd.testing.assert_series_equal(got, s.isin(test))
