"""The attribution table carried as codes: decoded to text only where it leaves the library.

Inside the library the table's text columns are categoricals built from codes; ``Findings.attribution``
hands them out as text (``str``). The gap table's text columns may be text or categoricals: the
findings, evidence and attribution are the same either way. The helpers that replace pandas calls
(the median without some entries) are checked against numpy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.datasets import SAMPLE_COLUMNS
from salesmining.findings import attribution as _attribution
from salesmining.findings import detect as _detect
from salesmining.findings.ranking import _median_without

ROOT = Path(__file__).resolve().parents[1]
TEXT = ["case_id", "prev_activity", "activity", "cause", "kind", "rule", "where"]


@pytest.fixture(scope="module")
def sample() -> tuple[sm.EventLog, sm.StageModel]:
    log = sm.read_csv(ROOT / "sample_logs" / "opportunities.csv", **SAMPLE_COLUMNS)
    return log, sm.StageModel.from_yaml(ROOT / "sample_logs" / "stages.yaml")


def test_public_attribution_is_text_and_coded_inside(sample: tuple[sm.EventLog, sm.StageModel]) -> None:
    log, model = sample
    f = sm.find_bottlenecks(log, model)
    inside = f._coded_attribution
    out = f.attribution
    assert list(out.columns) == _attribution.ATTRIBUTION_COLUMNS
    for c in TEXT:
        assert isinstance(inside[c].dtype, pd.CategoricalDtype), c
        assert out[c].dtype == "str", c
        decoded = inside[c].astype(object).where(inside[c].notna(), None)
        assert out[c].astype(object).where(out[c].notna(), None).tolist() == decoded.tolist(), c
    # uncharged gaps: no finding (missing), nothing charged
    none = out["kind"].isna()
    assert none.any() and (out.loc[none, "charged_s"] == 0).all()
    assert out.loc[~none, "rule"].notna().all()
    # handed out as a copy: changing it changes nothing
    out.loc[0, "case_id"] = "changed"
    assert f.attribution["case_id"].iloc[0] != "changed"


def test_categorical_gap_columns_give_the_same_results(
    sample: tuple[sm.EventLog, sm.StageModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, model = sample
    text = sm.find_bottlenecks(log, model)
    resolve = _attribution.attribute

    def on_categoricals(ev: pd.DataFrame, claimed: list[pd.DataFrame], gaps: pd.DataFrame) -> object:
        g = gaps.copy()
        for c in g.columns:
            if pd.api.types.is_string_dtype(g[c].dtype) or g[c].dtype == object:
                g[c] = g[c].astype("category")
        return resolve(ev, claimed, g)

    monkeypatch.setattr(_detect, "attribute", on_categoricals)
    coded = sm.find_bottlenecks(log, model)
    pd.testing.assert_frame_equal(text.attribution, coded.attribution, check_exact=True)
    pd.testing.assert_frame_equal(text.evidence, coded.evidence, check_exact=True)
    pd.testing.assert_frame_equal(text.to_frame(), coded.to_frame(), check_exact=True)


def test_median_without_is_numpys_median_of_the_rest() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 10, 101):
        ordered = np.sort(rng.integers(0, 20, n).astype("float64") * 0.1)
        for k in range(n + 1):
            removed = np.sort(rng.choice(n, size=k, replace=False))
            rest = np.delete(ordered, removed)
            want = float(np.median(rest)) if len(rest) else np.nan
            got = _median_without(ordered, removed)
            assert (np.isnan(want) and np.isnan(got)) or got == want
