"""discover's statistics on arrays in memory (engine.aggregations' coded_* helpers), checked
against plain pandas/numpy recounts and against the narwhals engines, exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.core.schema import ACTIVITY, CASE, TIMESTAMP
from salesmining.engine import aggregations as _engine

H = 3600 * 10**6


def _log(seed: int, n_cases: int = 200, *, starts: bool = False, singles: bool = False) -> sm.EventLog:
    """A random log with many ties (equal timestamps), repeated pairs within a case and, optionally,
    start timestamps (some missing, some after the completion)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 2 if singles else 10, n_cases)
    case = np.repeat([f"c{i:04d}" for i in range(n_cases)], lengths)
    act = rng.choice(["P", "Q", "R", "S", "T", "Ä", "中"], len(case))
    base = pd.Timestamp("2024-03-01", tz="UTC")
    ts = base + pd.to_timedelta(rng.integers(0, 40, len(case)) * 1800 + rng.integers(0, 3, len(case)), unit="s")
    df = pd.DataFrame({"case": case, "act": act, "ts": ts})
    if not starts:
        return sm.from_dataframe(df.sample(frac=1.0, random_state=seed), case="case", activity="act", timestamp="ts")
    st = df["ts"] - pd.to_timedelta(rng.integers(-3600, 4 * 3600, len(df)), unit="s")
    df["start"] = st.where(rng.random(len(df)) > 0.3)
    df = df.sample(frac=1.0, random_state=seed)
    return sm.from_dataframe(df, case="case", activity="act", timestamp="ts", start_timestamp="start")


def _pandas_flow(log: sm.EventLog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference: plain pandas on the events sorted by (case, time, source row)."""
    ev = log.to_frame().sort_values([CASE, TIMESTAMP, "source_row"], kind="stable").reset_index(drop=True)
    us = ev[TIMESTAMP].astype("int64").to_numpy()
    start = ev["start_timestamp"] if "start_timestamp" in ev.columns else None
    nxt_us = us.copy() if start is None else np.where(start.notna(), start.astype("int64"), us)
    same = [*(ev[CASE].to_numpy()[1:] == ev[CASE].to_numpy()[:-1]).tolist(), False]
    rows = []
    for i, s in enumerate(same):
        if s:
            rows.append((ev[ACTIVITY][i], ev[ACTIVITY][i + 1], ev[CASE][i], max(int(nxt_us[i + 1] - us[i]), 0)))
    pairs = pd.DataFrame(rows, columns=["source", "target", "case", "w"])
    e = pairs.groupby(["source", "target"]).agg(count=("w", "size"), cases=("case", "nunique"))
    w = pairs.groupby(["source", "target"])["w"]
    e["wait_median_s"] = w.agg(lambda x: float(np.median(x.to_numpy())) / 1e6)
    e["wait_p90_s"] = w.agg(lambda x: float(np.quantile(x.to_numpy(), 0.9)) / 1e6)
    e["wait_max_s"] = w.max() / 1e6
    e["wait_min_s"] = w.min() / 1e6
    e["wait_total_s"] = w.agg(lambda x: sum(int(v) for v in x) / 1e6)
    first = ev.groupby(CASE).head(1)[ACTIVITY].value_counts()
    last = ev.groupby(CASE).tail(1)[ACTIVITY].value_counts()
    n = ev.groupby(ACTIVITY).agg(events=(CASE, "size"), cases=(CASE, "nunique"))
    n["starts"] = first.reindex(n.index).fillna(0).astype("int64")
    n["ends"] = last.reindex(n.index).fillna(0).astype("int64")
    return n, e


def _named(log: sm.EventLog, nodes: pd.DataFrame, edges: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = log._coded.activity_names
    n = nodes.assign(activity=names[nodes[_engine.ACT_ID]]).set_index("activity")
    e = edges.assign(source=names[edges["source_id"]], target=names[edges["target_id"]]).set_index(["source", "target"])
    return n, e


@pytest.mark.parametrize(("seed", "starts"), [(1, False), (2, False), (3, True), (4, True)])
def test_coded_flow_stats_is_a_plain_recount(seed: int, starts: bool) -> None:
    log = _log(seed, starts=starts)
    nodes, edges = _engine.coded_flow_stats(_engine.flow_events(log))
    got_n, got_e = _named(log, nodes, edges)
    ref_n, ref_e = _pandas_flow(log)
    assert got_n[["events", "cases", "starts", "ends"]].sort_index().to_dict() == ref_n.sort_index().to_dict()
    assert set(got_e.index) == set(ref_e.index)
    for col in ["count", "cases", "wait_median_s", "wait_p90_s", "wait_max_s", "wait_min_s", "wait_total_s"]:
        assert got_e.loc[ref_e.index, col].tolist() == ref_e[col].tolist(), col
    assert got_e["wait_mean_s"].to_numpy() == pytest.approx(
        (got_e["wait_total_s"] / got_e["count"]).to_numpy(), rel=1e-15
    )


@pytest.mark.parametrize("engine", ["polars", "pandas"])
@pytest.mark.parametrize(("seed", "starts", "singles"), [(5, False, False), (6, True, False), (7, False, True)])
def test_coded_flow_stats_equals_the_engines(engine: str, seed: int, starts: bool, singles: bool) -> None:
    log = _log(seed, starts=starts, singles=singles)
    enc = _engine.encode_events(log)
    native = enc.native(engine)
    events = _engine.flow_events(log)
    for got, ref in zip(_engine.coded_flow_stats(events), _engine.flow_stats(native, has_start=starts), strict=True):
        pd.testing.assert_frame_equal(got, ref, check_exact=True)
    if starts:
        pd.testing.assert_frame_equal(
            _engine.coded_service_stats(events), _engine.service_stats(native), check_exact=True
        )
    # the projection (hidden activities bridged) equals the engines' filtered frame
    kept = np.isin(log._coded.activity_names, ["P", "R", "中"])
    projected = _engine.coded_flow_stats(events.keep(kept))
    filtered = _engine._lazy(native).filter(_engine.nw.col(_engine.ACT_ID).is_in(np.flatnonzero(kept).tolist()))
    for got, ref in zip(projected, _engine.flow_stats(_engine.nw.to_native(filtered), has_start=starts), strict=True):
        pd.testing.assert_frame_equal(got, ref, check_exact=True)


def test_coded_flow_stats_of_nothing() -> None:
    log = _log(8)
    events = _engine.flow_events(log)
    none = events.keep(np.zeros(events.n_activities, dtype=bool))
    assert none.n_events == 0 and len(none.codes) == 0 and none.offsets.tolist() == [0] * len(events.offsets)
    enc = _engine.encode_events(log)
    ref = _engine.flow_stats(enc.native("polars").head(0), has_start=False)
    for got, want in zip(_engine.coded_flow_stats(none), ref, strict=True):
        pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("n_groups", [33, 3000, 40_000])
def test_distinct_counts_is_nunique(n_groups: int) -> None:
    # 8-bit and 16-bit radix sorts, and combined keys beyond 32,768 groups
    rng = np.random.default_rng(n_groups)
    m = np.sort(rng.integers(0, 500, 20_000))  # members in order, as events by case
    g = rng.integers(0, n_groups - 3, len(m))
    weight = rng.integers(1, 9, 500)
    frame = pd.DataFrame({"g": g, "m": m})
    ref = frame.groupby("g")["m"].nunique().reindex(range(n_groups), fill_value=0)
    assert _engine.distinct_counts(g, m, n_groups).tolist() == ref.tolist()
    pairs = frame.drop_duplicates()
    weighted = pd.Series(weight[pairs["m"]], index=pairs.index).groupby(pairs["g"]).sum()
    got = _engine.distinct_counts(g, m, n_groups, weight)
    assert got.tolist() == weighted.reindex(range(n_groups), fill_value=0).tolist()
    assert got.dtype == np.int64
    assert _engine.distinct_counts(np.zeros(0, np.int64), np.zeros(0, np.int64), 2).tolist() == [0, 0]


def test_distinct_counts_with_huge_members() -> None:
    # members whose combined key with the group would not fit int64: the lexsort path
    m = np.array([0, 0, 2**61, 2**61, 2**62], dtype=np.int64)
    g = np.array([40_000, 1, 40_000, 40_000, 1])
    got = _engine.distinct_counts(g, m, 40_001)
    assert (got[1], got[40_000], int(got.sum())) == (2, 2, 4)


@pytest.mark.parametrize("scale", [10**6, 10**12, 2**61])
def test_group_durations_are_numpys_statistics(scale: int) -> None:
    rng = np.random.default_rng(scale % 1000)
    sizes = np.r_[np.arange(1, 45), [97, 250]]
    g = np.repeat(np.arange(len(sizes)), sizes)
    w = rng.integers(-scale, scale, len(g))
    w[g == 3] = 11  # equal values
    shuffle = rng.permutation(len(g))
    g, w = g[shuffle], w[shuffle]
    raw = _engine.group_durations(g, w, np.bincount(g), "x")
    out = _engine._finish(pd.DataFrame({"n": np.bincount(g), **raw}), "x", "n")
    groups = [np.sort(w[g == k]) for k in range(len(sizes))]
    if scale < 2**52:  # numpy's median (a + b) / 2 is polars' (b - a) * 0.5 + a while exact
        assert out["x_median_s"].tolist() == [float(np.median(x)) / 1e6 for x in groups]
        assert out["x_p90_s"].tolist() == [float(np.quantile(x, 0.9)) / 1e6 for x in groups]
    # totals: whole seconds and microsecond remainders summed apart (Python ints), then joined
    parts = [(sum(int(v) // 10**6 for v in x), sum(int(v) % 10**6 for v in x)) for x in groups]
    assert out["x_total_s"].tolist() == [float(s) + float(r) / 1e6 for s, r in parts]
    assert out["x_max_s"].tolist() == [x[-1] / 1e6 for x in groups]
    assert out["x_min_s"].tolist() == [x[0] / 1e6 for x in groups]
    # and exactly what polars' group_by computes (median and the two order statistics)
    import polars as pl

    ref = (
        pl.DataFrame({"g": g, "w": w})
        .group_by("g")
        .agg(
            pl.col("w").median().alias("m"),
            pl.col("w").quantile(0.9, interpolation="lower").alias("lo"),
            pl.col("w").quantile(0.9, interpolation="higher").alias("hi"),
        )
        .sort("g")
    )
    assert raw["x_median"].tolist() == ref["m"].to_list()
    assert raw["x_qlo"].astype(np.float64).tolist() == ref["lo"].to_list()
    assert raw["x_qhi"].astype(np.float64).tolist() == ref["hi"].to_list()


def test_coded_throughput_stats_is_a_plain_recount() -> None:
    log = _log(10, starts=True)
    cv = log._coded_variants
    events = _engine.flow_events(log)
    ev = log.to_frame()
    first = ev["start_timestamp"].fillna(ev[TIMESTAMP])
    per_case = pd.DataFrame({"c": ev[CASE], "t0": first.astype("int64"), "t1": ev[TIMESTAMP].astype("int64")})
    per_case = per_case.groupby("c", sort=True).agg(t0=("t0", "min"), t1=("t1", "max"))
    thr = (per_case["t1"] - per_case["t0"]).to_numpy()
    got = _engine.coded_throughput_stats(cv, thr)
    assert got["count"].tolist() == np.bincount(cv.of_case).tolist()
    assert got["example_id"].tolist() == [int(np.flatnonzero(cv.of_case == v)[0]) for v in range(cv.n_variants)]
    for v in range(cv.n_variants):
        x = np.sort(thr[cv.of_case == v])
        row = got.iloc[v]
        assert (row["throughput_median_s"], row["throughput_p90_s"]) == (np.median(x) / 1e6, np.quantile(x, 0.9) / 1e6)
        assert (row["throughput_max_s"], row["throughput_min_s"]) == (x[-1] / 1e6, x[0] / 1e6)
    from salesmining.analysis.discover import _throughput

    assert _throughput(events, log._coded.bounds).tolist() == thr.tolist()


def test_coded_variants_tuples_and_order_are_kept_and_fresh() -> None:
    log = _log(11)
    cv, names = log._coded_variants, log._coded.activity_names
    per_case = log.to_frame().groupby(CASE, sort=True)[ACTIVITY].agg(tuple)
    tuples = cv.tuples(names)
    assert [tuples[v] for v in cv.of_case] == per_case.tolist()
    again = cv.tuples(names)
    assert again == tuples and again is not tuples  # a new list: callers may change theirs
    again.clear()
    assert cv.tuples(names) == tuples
    assert cv.order(names).tolist() == sorted(range(len(tuples)), key=lambda i: (-cv.count[i], tuples[i]))
    other = np.array([n + "!" for n in names], dtype=object)  # other names: not the kept ones
    assert cv.tuples(other)[0] == tuple(n + "!" for n in tuples[0])


@pytest.mark.parametrize("n_names", [300, 70_000])
def test_variant_order_with_many_activities(n_names: int) -> None:
    # more than 255 (two bytes per rank) and more than 65,535 activities (four bytes)
    rng = np.random.default_rng(n_names)
    names = np.array([f"a{i:06d}" for i in rng.permutation(n_names)], dtype=object)
    seqs = sorted({tuple(rng.integers(0, n_names, rng.integers(0, 5)).tolist()) for _ in range(600)})
    seqs += [(0,), (0, 0), (0, 1), (1,)]  # prefixes, each once
    seqs = list(dict.fromkeys(seqs))
    count = rng.integers(1, 3, len(seqs))
    offsets = np.r_[0, np.cumsum([len(q) for q in seqs])].astype(np.int64)
    codes = np.array([c for q in seqs for c in q], dtype=np.int32)
    tuples = [tuple(str(names[c]) for c in q) for q in seqs]
    assert _engine.variant_tuples(offsets, codes, names) == tuples
    order = _engine.variant_order(count, offsets, codes, names)
    assert order.tolist() == sorted(range(len(seqs)), key=lambda i: (-count[i], tuples[i]))


def test_discover_projection_and_service_match_pandas_engine() -> None:
    log = _log(12, starts=True)
    for options in ({}, {"activity_coverage": 0.6}, {"max_activities": 3, "max_edges": 4}):
        a = sm.discover(log, **options)
        b = sm.discover(log, backend="pandas", **options)
        for attr in ("nodes", "edges", "variants", "hidden_nodes", "hidden_edges"):
            pd.testing.assert_frame_equal(getattr(a, attr), getattr(b, attr), check_exact=True)
        assert a.abstraction == b.abstraction
        if not options:  # every activity shown: every started event has a service time
            assert a.nodes["service_count"].sum() == int(log.to_frame()["start_timestamp"].notna().sum())


def test_working_time_waits() -> None:
    df = pd.DataFrame(
        {
            "c": ["a", "a", "a"],
            "x": ["s", "t", "u"],
            "at": ["2024-01-05 16:00Z", "2024-01-08 10:00Z", "2024-01-08 11:00Z"],
        }
    )
    log = sm.from_dataframe(df, case="c", activity="x", timestamp="at")
    _, edges = _engine.coded_flow_stats(_engine.flow_events(log, calendar=sm.BusinessCalendar()))
    assert edges["wait_median_s"].tolist() == [2 * 3600.0, 3600.0]  # Fri 16–17 + Mon 09–10, then one hour
