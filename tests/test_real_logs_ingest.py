"""The real logs in ../shared/real_logs load with the counts their own readers give."""

from __future__ import annotations

import pandas as pd
import pytest

import salesmining as sm

CASE, ACT, TS = "case:concept:name", "concept:name", "time:timestamp"


def _real(path: str):  # type: ignore[no-untyped-def]
    import os
    from pathlib import Path

    root = Path(os.environ.get("SALESMINING_REAL_LOGS", Path(__file__).resolve().parents[2] / "shared" / "real_logs"))
    p = root / path
    if not p.exists():
        pytest.skip(f"{path} not found under {root} (see shared/real_logs/SOURCES.md)")
    return p


def test_bpic2012_read_xes_matches_pm4py(bpic2012: sm.EventLog, bpic2012_pm4py: pd.DataFrame) -> None:
    assert (bpic2012.n_cases, bpic2012.n_events, len(bpic2012.activities)) == (13_087, 262_200, 24)
    ref = bpic2012_pm4py
    assert bpic2012.n_cases == ref[CASE].nunique()
    assert bpic2012.n_events == len(ref)
    assert sorted(bpic2012.activities) == sorted(ref[ACT].unique())
    q = bpic2012.quality
    assert (q.rows_read, q.rows_kept, q.rows_rejected) == (262_200, 262_200, 0)
    ours = bpic2012.to_frame()
    # same multiset of (case, activity, timestamp) as pm4py's reader
    key = [CASE, ACT, TS]
    a = ours[key].astype({TS: "int64"}).sort_values(key).reset_index(drop=True)
    b = ref[key].assign(**{TS: pd.to_datetime(ref[TS], utc=True).astype("datetime64[us, UTC]")})
    b = b.astype({CASE: "str", ACT: "str", TS: "int64"}).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    # trace attributes became case attributes
    assert set(bpic2012.cases.columns) >= {CASE, "outcome", "AMOUNT_REQ", "REG_DATE"}
    assert bpic2012.has_resources
    tr = bpic2012.time_range
    assert tr is not None and tr[0] == pd.to_datetime(ref[TS], utc=True).min()


@pytest.mark.parametrize("path", ["receipt/receipt.csv.gz", "roadtraffic/roadtraffic100traces.csv"])
def test_pm4py_csvs_read_with_counts_matching_pandas(path: str) -> None:
    p = _real(path)
    log = sm.read_csv(
        p, case=CASE, activity=ACT, timestamp=TS, resource="org:resource", lifecycle="lifecycle:transition"
    )
    raw = pd.read_csv(p)
    assert log.quality.rows_read == len(raw)
    assert log.n_events == len(raw) - int(raw.duplicated().sum())
    assert log.quality.rows_rejected == int(raw.duplicated().sum())
    assert log.n_cases == raw[CASE].nunique()
    assert sorted(log.activities) == sorted(raw[ACT].unique())
    expected_ts = pd.to_datetime(raw[TS], utc=True, format="ISO8601")
    got = log.to_frame().sort_values("source_row")[TS]
    assert got.tolist() == expected_ts.tolist()
    per_case = raw.groupby(CASE).size().sort_index()
    ours = log.to_frame().groupby(CASE).size().sort_index()
    assert ours.tolist() == per_case.tolist()
