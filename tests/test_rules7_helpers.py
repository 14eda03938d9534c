"""The rule families' integer helpers, each checked against a plain pandas computation of the same thing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesmining.findings import approvals as _approvals
from salesmining.findings import attribution as _attribution
from salesmining.findings import loops as _loops
from salesmining.findings import skips as _skips
from salesmining.findings.evidence import ARROW


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("ordered", [True, False])
def test_visit_gap_rows_are_pandas_first_matches(seed: int, ordered: bool) -> None:
    rng = np.random.default_rng(seed)
    gkey = rng.integers(0, 40, 200)
    if ordered:
        gkey = np.sort(gkey)
    hkey = np.r_[rng.integers(-1, 45, 30), gkey[:3]]  # some keys twice, some missing, some of no gap
    rows, which = _attribution._visit_gap_rows(gkey, hkey)
    # pandas: each gap row joined with the first hit (in hit order) of its key
    hits = pd.DataFrame({"key": hkey, "hit": np.arange(len(hkey))}).drop_duplicates("key")
    joined = pd.DataFrame({"key": gkey, "row": np.arange(len(gkey))}).merge(hits, on="key", how="inner")
    joined = joined.sort_values("row")
    assert rows.tolist() == joined["row"].tolist()
    assert which.tolist() == joined["hit"].tolist()


def test_tail_claims_by_case_number_are_the_tail_of_each_visit() -> None:
    rng = np.random.default_rng(5)
    n = 60
    case = np.sort(rng.integers(0, 6, n))
    first = np.r_[True, case[1:] != case[:-1]]
    visit = np.zeros(n)
    for c in np.unique(case):
        at = np.flatnonzero(case == c)
        visit[at] = np.sort(rng.integers(1, 4, len(at)))
    gap_visit = np.where(first, np.nan, visit)
    kind = np.where(rng.random(n) < 0.8, "stage", "approval")
    names = [f"C{c}" for c in range(6)]
    gaps = pd.DataFrame(
        {
            "case:concept:name": pd.Categorical([names[c] for c in case], categories=names),
            "gap_visit": gap_visit,
            "gap_kind": pd.Categorical(kind),
            "gap_s": rng.integers(1, 100, n).astype("float64"),
            "prev_ts": np.where(first, np.nan, 1.0),
        }
    )
    hits = pd.DataFrame(
        {"case": [0, 2, 3, 5], "visit_no": [1.0, 2.0, 1.0, 3.0], "excess_s": [30.0, 500.0, 0.0, 50.0]}
    ).assign(rule=["r1", "r2", "r1", "r2"], where=["a", "b", "c", "d"])
    got = _attribution.tail_claims(
        gaps,
        hits,
        "long_wait",
        case_no=np.cumsum(first) - 1,
        case_index=pd.Index(names, dtype=object),
        by_number=True,
    )
    want = []
    for h in hits.itertuples():
        mine = gaps[(case == h.case) & (gaps["gap_visit"] == h.visit_no) & (kind == "stage")]
        cum = mine["gap_s"].cumsum()
        amount = np.minimum(np.maximum(cum - (mine["gap_s"].sum() - max(h.excess_s, 0.0)), 0.0), mine["gap_s"])
        want += [(g, names[h.case], h.rule, h.where, a) for g, a in zip(mine.index, amount, strict=True)]
    want.sort()
    rows = list(
        zip(
            got["gap"],
            got["case_id"].astype(str),
            got["rule"].astype(str),
            got["where"].astype(str),
            got["claim_s"],
            strict=True,
        )
    )
    assert rows == want


def test_sorted_codes_are_the_concatenation_factorised_in_order() -> None:
    shared = pd.Categorical(["b", "a", "c", "a"], categories=["a", "b", "c", "d"])
    columns = [
        pd.Series(shared),
        pd.Series(shared.take([2, 0])),
        pd.Series(["c", "a"], dtype="str"),
        pd.Series(pd.Categorical(["zz", "b"])),
    ]
    for used_only in (False, True):
        codes, names = _attribution._sorted_codes(columns, used_only=used_only)
        text = pd.concat([c.astype(object) for c in columns], ignore_index=True)
        assert list(np.asarray(names, dtype=object)[codes]) == text.tolist()
        assert list(names) == sorted(names)
        uniques = pd.factorize(text, sort=True)[1]
        if used_only:  # exactly the distinct values
            assert list(names) == list(uniques)
        else:  # a category no row uses is kept
            assert list(names) == sorted([*uniques, "d"])
    # categoricals of one category set: the codes as they are, the categories as the names
    codes, names = _attribution._sorted_codes(columns[:2])
    assert names is shared.categories and codes.tolist() == [1, 0, 2, 0, 2, 1]


def test_arrow_codes_are_factorised_text() -> None:
    values = pd.Series(["b", None, "a", "b", "é"], dtype="str")
    codes, names = _attribution._arrow_codes(values)
    want, uniques = pd.factorize(values)
    assert codes.tolist() == want.tolist()
    assert names.to_pylist() == list(uniques)


def test_previous_row_is_pandas_shift() -> None:
    values = pd.Series([np.nan, 1.0, 2.0, np.nan, 4.0, 5.0])
    index = pd.Index([0, 2, 4, 5])
    want = values.shift(1).loc[index].fillna(0).to_numpy()
    assert _approvals._previous_row(values, index).tolist() == want.tolist()
    labelled = values.set_axis([10, 11, 12, 13, 14, 15])
    assert _approvals._previous_row(labelled, pd.Index([10, 13])).tolist() == [0.0, 2.0]


def test_flattened_skips_are_pandas_explode() -> None:
    values = pd.Series([(), ("a",), ("b", "c"), (), ("d",)], index=[5, 6, 7, 8, 9], dtype=object)
    rows, items = _skips._flattened(values)
    ex = values.explode().dropna()
    assert items.tolist() == ex.tolist()
    assert values.index[rows].tolist() == ex.index.tolist()
    assert _skips._flattened(pd.Series([("a",), ["b"]], dtype=object)) is None


def test_repeat_details_and_counts_are_the_per_row_texts() -> None:
    rng = np.random.default_rng(3)
    n, redo = rng.integers(1, 6, 50), rng.integers(0, 3, 50)
    want = [f"x{a + 1}" + (f", {b} by another owner" if b else "") for a, b in zip(n, redo, strict=True)]
    assert _loops._repeat_details(n, redo).tolist() == want
    assert _loops._counted("moved back", n).tolist() == [f"moved back x{a}" for a in n]
    assert len(_loops._repeat_details(np.zeros(0), np.zeros(0))) == 0


def test_per_case_step_is_a_groupby_over_the_text() -> None:
    rng = np.random.default_rng(11)
    case_index = pd.Index(["k", "b", "x", "a", "m"], dtype=object)  # not in text order
    labels = np.asarray(["A → B", "A → C", "B → A"], dtype=object)
    moves = (rng.integers(0, 5, 30), rng.integers(0, 3, 30))
    lost = (moves[0][:20], moves[1][:20], rng.random(20) * 1e5)
    got = _loops._per_case_step(case_index, moves, lost, len(labels))
    mv = pd.DataFrame({"case": case_index[moves[0]], "label": labels[moves[1]]})
    ls = pd.DataFrame({"case": case_index[lost[0]], "label": labels[lost[1]], "s": lost[2]})
    per = ls.groupby(["case", "label"], sort=True).agg(lost=("s", "sum"))
    per = per.join(mv.groupby(["case", "label"]).agg(moves=("case", "size")), how="outer")
    per = per.fillna({"lost": 0.0, "moves": 0}).reset_index()
    assert list(got["case"]) == per["case"].tolist()
    assert list(labels[got["label"]]) == per["label"].tolist()
    assert got["moves"].tolist() == per["moves"].astype(int).tolist()
    assert got["lost"].tolist() == per["lost"].tolist()
    assert all(ARROW in t for t in labels[got["label"]])


def test_positions_number_the_other_names_after_the_names() -> None:
    names = pd.Index(["a", "c", "e"], dtype="str")
    others = pd.Series(["e", "b", "a", "z"], dtype="str")
    at, n = _attribution._positions(names, others)
    assert at.tolist() == [2, 3, 0, 4] and n == 5
    vocab = [*names, "b", "z"]
    assert [vocab[i] for i in at] == others.tolist()


def test_utc_us_is_pandas_to_datetime() -> None:
    values = np.array([0, 1_700_000_000_123_456, -5], dtype="int64")
    for raw in (values, values.astype("float64")):
        got = _attribution._utc_us(raw)
        want = pd.to_datetime(raw.astype("int64"), unit="us", utc=True)
        assert got.dtype == want.dtype and got.equals(want)


def test_labels_are_dense_and_equal_for_equal_keys() -> None:
    key = np.array([7, 3, 7, 9, 3, 3])
    labels, n = _attribution._labels(key)
    assert n == 3
    assert pd.Series(labels).groupby(key).nunique().eq(1).all()  # one label per key
    assert len(set(labels.tolist())) == n and set(labels.tolist()) == set(range(n))


def test_stall_details_are_the_per_row_texts() -> None:
    from types import SimpleNamespace

    from salesmining.findings import waits as _waits

    ctx = SimpleNamespace(
        model=SimpleNamespace(sla={"B": pd.Timedelta(hours=2)}), rules=SimpleNamespace(stall_quantile=0.9)
    )
    hit = pd.DataFrame(
        {
            "stage": pd.Categorical(["A", "B", "A", "C"]),
            "target": [3600.0, 7200.0, 3600.0, 86400.0],
            "age_s": [4000.0, 90000.0, 7300.0, 2e6],
        }
    )
    want = [
        f"in stage for {_waits._dur(a)} so far ({_waits._limit_text(s, t, ctx)})"  # type: ignore[arg-type]
        for a, s, t in zip(hit["age_s"], hit["stage"], hit["target"], strict=True)
    ]
    assert _waits._stall_details(ctx, hit).tolist() == want  # type: ignore[arg-type]
    assert len(_waits._stall_details(ctx, hit.iloc[:0])) == 0  # type: ignore[arg-type]


def test_target_details_are_the_per_row_texts() -> None:
    from salesmining.findings import waits as _waits

    seconds = pd.Series([4000.0, 90000.0, 7300.0, 59.0])
    target = pd.Series([3600.0, 7200.0, 3600.0, 30.0])
    want = [f"decision after {_waits._dur(d)} (target {_waits._dur(t)})" for d, t in zip(seconds, target, strict=True)]
    assert _waits._target_details("decision after ", seconds, " (target ", target).tolist() == want
    assert len(_waits._target_details("", seconds.iloc[:0], " in stage (target ", target.iloc[:0])) == 0
