"""rank7's assembly helpers against plain pandas/numpy: evidence grouped in runs, top examples,
the lower-median row, case lookups, the evidence's Arrow columns and its sort on codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesmining.findings import evidence as ev
from salesmining.findings import ranking


def _evidence(seed: int, n: int = 3_000, nan: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lost = rng.choice([0.0, 1.0, 2.5, 10.0, -3.0, 1e7 + 0.1], n) * rng.random(n).round(1)
    if nan:
        lost[rng.random(n) < 0.05] = np.nan
    frame = pd.DataFrame(
        {
            "kind": pd.Series(rng.choice(["loop", "long_wait"], n), dtype="str"),
            "rule": pd.Series(rng.choice(["a", "b", "c"], n), dtype="str"),
            "where": pd.Series(rng.choice(["X", "Y → Z", "Ä"], n), dtype="str"),
            "case_id": pd.Series([f"c{i:03d}" for i in rng.integers(0, 400, n)], dtype="str"),
            "time_lost_s": lost,
            "detail": pd.Series([f"d{i}" for i in range(n)], dtype="str"),
        }
    )
    return frame


def _plain(frame: pd.DataFrame, ids: pd.Series, k: int | None) -> list[tuple]:
    """Each finding as plain pandas computes it: first row, case rows, sums, examples, typical row."""
    out = []
    pos = {c: i for i, c in enumerate(ids)}
    for _, g in frame.groupby(["kind", "rule", "where"], sort=True):
        per = g.groupby("case_id", sort=True)["time_lost_s"].sum().clip(lower=0)
        ranked = sorted(zip(per.index, per.to_numpy(), strict=True), key=lambda t: (-t[1], t[0]))
        shown = [c for c, _ in ranked][: k if k is not None else None]
        typical = g.assign(row=np.arange(len(g))).sort_values(["time_lost_s", "case_id", "row"], kind="stable")
        out.append(
            (
                int(g.index[0]),
                [pos.get(c, -1) for c in per.index],
                per.to_numpy(),
                shown,
                int(typical.index[(len(g) - 1) // 2]),
            )
        )
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("nan", [False, True])
@pytest.mark.parametrize("k", [None, 0, 3])
def test_per_finding_sorted_and_any_order_as_pandas(seed: int, nan: bool, k: int | None) -> None:
    frame = _evidence(seed, nan=nan)
    ids = pd.Series([f"c{i:03d}" for i in range(350)][::-1], dtype="str")  # some evidence cases are not there
    order = frame.sort_values(["kind", "rule", "where", "case_id"], kind="stable").index
    for f in (frame.loc[order].reset_index(drop=True), frame):  # sorted: runs; shuffled: grouped in full
        got = ranking._per_finding(f, ids, k)
        want = _plain(f, ids, k)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.first_row == w[0]
            assert g.case_rows.tolist() == w[1]
            np.testing.assert_array_equal(g.lost, w[2])
            assert list(g.examples) == w[3]
            assert g.typical_row == w[4]
    assert ranking._sorted_runs(frame) is None
    assert ranking._sorted_runs(frame.loc[order].reset_index(drop=True)) is not None


@pytest.mark.parametrize("seed", range(6))
def test_top_and_lower_median_as_lexsort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.choice([0.0, -0.0, 1.0, 2.0, np.nan, 5.5], rng.integers(1, 60))
    sums = np.where(np.isnan(values), 0.0, values)
    for k in (None, 0, 1, 3, 100):
        order = np.lexsort((np.arange(len(sums)), -sums))
        want = order if k is None else order[:k]
        assert ranking._top(sums, k).tolist() == want.tolist()
    lex = np.lexsort((np.arange(len(values)), values))
    assert ranking._lower_median_row(values) == lex[(len(values) - 1) // 2]


def test_case_numbers_as_get_indexer() -> None:
    index = pd.Index([f"c{i}" for i in range(50)], dtype=object)
    same = pd.Series(list(index), dtype="str")
    assert ranking._case_numbers(same, index).tolist() == list(range(50))
    other = pd.Series(["c3", "zz", "c0", "c49"], dtype="str")
    assert ranking._case_numbers(other, index).tolist() == index.get_indexer(other.astype(object)).tolist()
    ints = pd.Series([3, 1], dtype="int64")
    assert ranking._case_numbers(ints, pd.Index([1, 2, 3])).tolist() == [2, 0]


@pytest.mark.parametrize("kind", ["str", "category", "object"])
def test_evidence_columns_as_pandas_infers_them(kind: str) -> None:
    values = pd.Series(["Lead", None, "Offer", "Lead"], dtype="str")
    col = values.astype(kind) if kind != "object" else values.astype(object)
    got = ev.evidence("loop", "r", ev.at(col), col, [1.0, 2.0, 3.0, 4.0], ["x", "y", "z", "w"])
    want = pd.DataFrame(
        {
            "kind": ["loop"] * 4,
            "rule": ["r"] * 4,
            "where": np.asarray(pd.Series(col).astype("object"), dtype=object),
            "case_id": np.asarray(col, dtype=object),
            "time_lost_s": [1.0, 2.0, 3.0, 4.0],
            "detail": ["x", "y", "z", "w"],
            "activity": pd.Series(np.asarray(col, dtype=object), dtype=object),
            "from_activity": pd.Series([None] * 4, dtype=object),
            "to_activity": pd.Series([None] * 4, dtype=object),
            "stalled": False,
        }
    )
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    step = ev.between(col, "Won", target_text="?")
    plain = pd.Series(col).astype("object").fillna("?") + " → Won"
    assert step.where.tolist() == plain.tolist()
    stalled = ev.at(col, stalled=True).where
    want_stalled = ["Lead (open, stalled)", None, "Offer (open, stalled)", "Lead (open, stalled)"]
    assert [w if isinstance(w, str) else None for w in stalled] == want_stalled


def test_tidy_sorts_as_sort_values() -> None:
    frame = _evidence(5)
    frame["activity"] = pd.Series(np.where(np.arange(len(frame)) % 3, "A", None), dtype=object)
    frame["from_activity"] = None
    frame["to_activity"] = None
    frame["stalled"] = False
    frame.loc[frame.index[::7], "where"] = np.nan
    parts = [frame.iloc[:1000], frame.iloc[1000:]]
    got = ev.tidy(parts)
    want = pd.concat(parts, ignore_index=True)
    want["activity"] = want["activity"].astype("object").where(want["activity"].notna(), None)
    want = want.sort_values(["kind", "rule", "where", "case_id"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
