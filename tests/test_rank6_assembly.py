"""The findings' assembly helpers on codes against plain pandas: designed handoff steps, back-fill spans."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesmining.findings.backfill import backfill_spans
from salesmining.findings.detect import _designed_steps
from salesmining.findings.rules import FindingRules


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("dtype", ["str", "category"])
def test_designed_steps_as_value_counts_of_the_step_text(seed: int, dtype: str) -> None:
    rng = np.random.default_rng(seed)
    acts = ["Lead", "Offer", "Email", "Call", "Won"]
    n = 2_000
    g = pd.DataFrame(
        {
            "prev_act": pd.Series(rng.choice(acts, n), dtype=dtype),
            "concept:name": pd.Series(rng.choice(acts[: 2 + seed], n), dtype=dtype),
            "handoff_share": rng.random(n),
        }
    )
    g.loc[rng.random(n) < 0.05, "prev_act"] = None
    rows = np.flatnonzero(rng.random(n) < 0.3)
    ch = g.iloc[rows]
    step = ch["prev_act"].astype(str) + " → " + ch["concept:name"].astype(str)
    step = step.where(ch["prev_act"].notna())
    share = ch["handoff_share"].groupby(step).first()
    want = [(s, float(share[s])) for s in step.value_counts().index]
    assert _designed_steps(g, rows) == want
    assert _designed_steps(g, rows[:0]) == []


def test_backfill_spans_as_plain_pandas() -> None:
    rng = np.random.default_rng(4)
    n_cases = 300
    per = rng.integers(1, 8, n_cases)
    case = np.repeat([f"c{i:03d}" for i in range(n_cases)], per)
    ts = np.concatenate([np.sort(rng.integers(0, 10**9, k)) for k in per]) * 1_000_000
    pos = np.concatenate([np.arange(k) for k in per]).astype("uint32")
    first = np.r_[True, case[1:] != case[:-1]]
    gaps = pd.DataFrame(
        {
            "case:concept:name": pd.Series(case, dtype="str"),
            "ts_us": ts,
            "pos": pos,
            "is_stage": (rng.random(len(case)) < 0.7).astype("int64"),
            "prev_ts": np.where(first, np.nan, 1.0),
        }
    )
    for k in (2, 3):
        span, adjacent = backfill_spans(gaps, FindingRules(backfill_min_stages=k))
        st = gaps[gaps["is_stage"] == 1]
        grp = st.groupby("case:concept:name", sort=False)
        nth = grp.cumcount()
        a = st[nth == 0].set_index("case:concept:name")
        b = st[nth == k - 1].set_index("case:concept:name")
        a = a.loc[b.index]
        want_span = pd.Series((b["ts_us"].to_numpy() - a["ts_us"].to_numpy()) / 1e6, index=b.index.rename("case"))
        want_adj = pd.Series((b["pos"].to_numpy() - a["pos"].to_numpy()) == k - 1, index=b.index.rename("case"))
        pd.testing.assert_series_equal(span, want_span, check_names=False, check_exact=True)
        pd.testing.assert_series_equal(adjacent, want_adj, check_names=False, check_exact=True)
        assert span.name == "ts_us" and adjacent.name == "pos" and span.index.name == "case"
