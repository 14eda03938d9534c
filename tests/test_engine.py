"""The engine layer: exact statistics on every engine, sequences, and a reference DFG on random logs."""

from __future__ import annotations

import importlib.util
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.core.schema import CASE
from salesmining.engine import aggregations as _engine

ENGINES = ["polars", "pandas", "duckdb"]


def _grouped(native: Any, *, by_rank: bool) -> pd.DataFrame:
    frame = _engine._with_sum_parts(_engine._lazy(native), "w")
    counts = [nw.len().alias("n")]
    if by_rank:  # the DuckDB/Spark path, forced on every engine
        agg = frame.group_by("g").agg(*counts, *_engine._aggs("w", "x"))
        agg = agg.join(_engine._quantile_bounds(frame, ["g"], "w", _engine.P90, "x"), on="g", how="left")
    else:
        agg = _engine._grouped_durations(frame, ["g"], "w", "x", counts)
    out = _engine._finish(_engine._collect(agg), "x", "n")
    out["g"] = out["g"].astype("int64")
    return out.sort_values("g").reset_index(drop=True)


@pytest.fixture(scope="module")
def durations() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    sizes = np.r_[np.arange(1, 40), [97, 250, 1001]]  # every small group size hits a different virtual index
    g = np.repeat(np.arange(len(sizes)), sizes)
    w = rng.integers(0, 10**12, len(g))  # microseconds: up to ~11.6 days
    w[g == 5] = 7  # a group of identical values
    return pd.DataFrame({"g": g, "w": w}).sample(frac=1.0, random_state=1).reset_index(drop=True)


# DuckDB only interpolates quantiles, so it always takes the rank path; polars and pandas run both
@pytest.mark.parametrize(
    ("engine", "by_rank"), [("polars", False), ("polars", True), ("pandas", False), ("pandas", True), ("duckdb", True)]
)
def test_statistics_match_numpy_bit_for_bit(durations: pd.DataFrame, engine: str, by_rank: bool) -> None:
    got = _grouped(_engine.to_native(durations, engine), by_rank=by_rank)
    groups = durations.groupby("g")["w"]
    sec = {g: s.to_numpy() / 1e6 for g, s in groups}
    exact = {g: s.to_numpy() for g, s in groups}
    assert got["n"].tolist() == [len(exact[g]) for g in got["g"]]
    assert got["x_p90_s"].tolist() == [float(np.quantile(exact[g], 0.9)) / 1e6 for g in got["g"]]
    assert got["x_median_s"].tolist() == [float(np.median(exact[g])) / 1e6 for g in got["g"]]
    assert got["x_max_s"].tolist() == [sec[g].max() for g in got["g"]]
    assert got["x_min_s"].tolist() == [sec[g].min() for g in got["g"]]
    totals = [sum(int(v) for v in exact[g]) for g in got["g"]]  # Python ints: exact
    assert got["x_total_s"].tolist() == [t // 10**6 + (t % 10**6) / 1e6 for t in totals]
    means = [t / 1e6 / len(exact[g]) for t, g in zip(totals, got["g"], strict=True)]
    assert got["x_mean_s"].tolist() == pytest.approx(means, rel=1e-15)


@pytest.mark.parametrize("engine", ENGINES)
def test_totals_do_not_overflow(engine: str) -> None:
    # 20,000 durations of ~28.5 years: the microsecond sum (1.8e19) exceeds int64
    w = np.full(20_000, 9 * 10**14 + 123_456, dtype="int64")
    native = _engine.to_native(pd.DataFrame({"g": np.zeros(len(w), dtype="int64"), "w": w}), engine)
    got = _grouped(native, by_rank=engine == "duckdb")
    exact = 20_000 * (9 * 10**14 + 123_456)
    assert got.loc[0, "x_total_s"] == exact // 10**6 + (exact % 10**6) / 1e6
    assert got.loc[0, "x_mean_s"] == pytest.approx((9 * 10**14 + 123_456) / 1e6, rel=1e-15)


def test_lerp_quantile_is_numpys_linear() -> None:
    rng = np.random.default_rng(3)
    for n in range(1, 60):
        x = np.sort(rng.integers(-(10**12), 10**12, n))
        h = (n - 1) * 0.9
        lo, hi = x[int(np.floor(h))], x[min(int(np.floor(h)) + 1, n - 1)]
        got = _engine.lerp_quantile(np.array([lo]), np.array([hi]), np.array([n]), 0.9)[0]
        assert got == np.quantile(x, 0.9)


# --- a reference DFG on random logs with many ties --------------------------------------------
def _random_log(seed: int, n_cases: int = 150) -> sm.EventLog:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 9, n_cases)
    case = np.repeat([f"k{i:03d}" for i in range(n_cases)], lengths)
    act = rng.choice(list("PQRST"), len(case))
    # hours from a small range: lots of equal timestamps within a case
    ts = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 30, len(case)) * 3600, unit="s")
    df = pd.DataFrame({"case": case, "act": act, "ts": ts}).sample(frac=1.0, random_state=seed)
    return sm.from_dataframe(df, case="case", activity="act", timestamp="ts")


def _reference(log: sm.EventLog) -> tuple[dict[tuple[str, str], list[int]], dict[tuple[str, ...], int]]:
    """Plain pandas: sort by (case, time, source row), pair each event with the next one (waits in µs)."""
    ev = log.to_frame().sort_values([CASE, "time:timestamp", "source_row"], kind="stable")
    nxt = ev.groupby(CASE).shift(-1)
    ok = nxt["concept:name"].notna()
    waits = (nxt.loc[ok, "time:timestamp"] - ev.loc[ok, "time:timestamp"]) // pd.Timedelta(microseconds=1)
    pairs = pd.DataFrame({"s": ev.loc[ok, "concept:name"], "t": nxt.loc[ok, "concept:name"], "w": waits})
    edges = {(s, t): sorted(g["w"].tolist()) for (s, t), g in pairs.groupby(["s", "t"])}
    variants = ev.groupby(CASE)["concept:name"].agg(lambda s: tuple(s.tolist())).value_counts().to_dict()
    return edges, variants


@pytest.mark.parametrize("seed", [1, 2])
def test_discover_matches_a_plain_reference(seed: int) -> None:
    log = _random_log(seed)
    edges, variants = _reference(log)
    for engine in ENGINES:
        g = sm.discover(log, backend=engine)
        got = g.edges.set_index(["source", "target"])
        assert set(got.index) == set(edges)
        for pair, w in edges.items():
            row = got.loc[pair]
            assert row["count"] == len(w)
            # statistics are taken on exact microseconds, then reported in seconds
            assert (row["wait_median_s"], row["wait_p90_s"]) == (np.median(w) / 1e6, np.quantile(w, 0.9) / 1e6)
            assert (row["wait_max_s"], row["wait_min_s"]) == (max(w) / 1e6, min(w) / 1e6)
            assert row["wait_total_s"] == sum(w) / 1e6
        assert dict(zip(g.variants["variant"], g.variants["count"], strict=True)) == variants


# --- sequences, variants and engine plumbing ---------------------------------------------------
def test_case_sequences_and_variants_agree_across_engines() -> None:
    log = _random_log(5)
    ref = _engine.case_sequences(log)
    for engine in ("pandas", "duckdb"):
        other = _engine.case_sequences(log, backend=engine)
        pd.testing.assert_frame_equal(other, ref)
        assert other.attrs["keys"] == ref.attrs["keys"]
        pd.testing.assert_frame_equal(_engine.variants(log, backend=engine), log.variants())
    _, variants = _reference(log)
    assert dict(zip(log.variants()["variant"], log.variants()["count"], strict=True)) == variants


def test_case_sequences_on_codes_equal_the_narwhals_path() -> None:
    for seed in (5, 6):
        log = _random_log(seed)
        ref = _engine._case_sequences_native(log, "polars")
        got = _engine.case_sequences(log)
        pd.testing.assert_frame_equal(got, ref)
        assert got.attrs["keys"] == ref.attrs["keys"]


def _sequence_table(seqs: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum([len(q) for q in seqs], out=offsets[1:])
    return offsets, np.array([x for q in seqs for x in q], dtype=np.int32)


def test_group_sequences_is_exact() -> None:
    rng = np.random.default_rng(3)
    seqs = [tuple(rng.integers(0, 3, rng.integers(0, 5)).tolist()) for _ in range(600)]  # empty ones too
    ids, first = _engine.group_sequences(*_sequence_table(seqs))
    seen: dict[tuple[int, ...], int] = {}
    assert ids.tolist() == [seen.setdefault(q, len(seen)) for q in seqs]  # numbered by first appearance
    assert first.tolist() == [seqs.index(q) for q in seen]
    assert [len(x) for x in _engine.group_sequences(np.zeros(1, dtype=np.int64), np.zeros(0))] == [0, 0]


def test_variant_order_is_the_order_of_python_tuples() -> None:
    # names whose codes are not in name order, non-ASCII, and sequences that are prefixes of others
    names = np.array(["b", "a", "Ä", "aa", "Z", "中", "a b"], dtype=object)
    rng = np.random.default_rng(4)
    seqs = sorted({tuple(rng.integers(0, len(names), rng.integers(0, 6)).tolist()) for _ in range(800)})
    rng.shuffle(seqs)  # type: ignore[arg-type]
    count = rng.integers(1, 4, len(seqs))
    offsets, codes = _sequence_table(seqs)
    tuples = _engine.variant_tuples(offsets, codes, names)
    assert tuples == [tuple(str(names[c]) for c in q) for q in seqs]
    order = _engine.variant_order(count, offsets, codes, names)
    assert order.tolist() == sorted(range(len(seqs)), key=lambda i: (-count[i], tuples[i]))


def test_coded_variants_of_a_log() -> None:
    log = _random_log(7)
    cv = log._coded_variants
    per_case = log.to_frame().groupby(CASE, sort=True)["concept:name"].agg(tuple)
    tuples = _engine.variant_tuples(cv.offsets, cv.codes, log._coded.activity_names)
    assert [tuples[v] for v in cv.of_case] == per_case.tolist()
    assert len(set(tuples)) == cv.n_variants == len(tuples)
    assert cv.count.tolist() == np.bincount(cv.of_case).tolist()
    assert cv.first_case.tolist() == [int(np.flatnonzero(cv.of_case == v)[0]) for v in range(cv.n_variants)]


def test_encoded_events_working_clock() -> None:
    df = pd.DataFrame({"c": ["a", "a"], "x": ["s", "t"], "at": ["2024-01-05 16:00Z", "2024-01-08 10:00Z"]})
    log = sm.from_dataframe(df, case="c", activity="x", timestamp="at")
    plain = _engine.encode_events(log)
    work = _engine.encode_events(log, calendar=sm.BusinessCalendar())
    assert np.diff(plain.frame[_engine.CLOCK].to_numpy()).tolist() == [66 * 3600 * 10**6]
    assert np.diff(work.frame[_engine.CLOCK].to_numpy()).tolist() == [2 * 3600 * 10**6]  # Fri 16–17, Mon 09–10
    assert plain.frame[_engine.TS].tolist() == work.frame[_engine.TS].tolist()  # order is never the working clock


def test_unknown_engine() -> None:
    with pytest.raises(sm.EngineError, match="unknown engine"):
        _engine.to_native(pd.DataFrame({"a": [1]}), "spark")


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is not None, reason="pyspark is installed")
def test_missing_pyspark_is_an_engine_error() -> None:
    with pytest.raises(sm.EngineError, match="pip install pyspark"):
        _engine.to_native(pd.DataFrame({"a": [1]}), "pyspark")


@pytest.mark.slow
# PySpark 4 does not support pandas 3 cleanly yet: its own toPandas path warns (Arrow fallback,
# pandas' deprecated copy keyword). Those warnings come from pyspark's internals, not from us.
@pytest.mark.filterwarnings("ignore::UserWarning:pyspark.*", "ignore::DeprecationWarning", "ignore::FutureWarning")
def test_pyspark_matches_polars() -> None:
    pytest.importorskip("pyspark", reason="pyspark is optional (pip install salesmining[spark])")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("PySpark needs Java (apt-get install default-jre-headless)")
    log = _random_log(9, n_cases=40)
    a, b = sm.discover(log), sm.discover(log, backend="pyspark")
    pd.testing.assert_frame_equal(a.nodes, b.nodes)
    pd.testing.assert_frame_equal(a.edges, b.edges)
    pd.testing.assert_frame_equal(a.variants, b.variants)
    # the per-event timing behind the findings runs on Spark too (window functions over cases)
    stages = sm.StageModel(sorted(log.activities)[:3], outcomes={"won": ["zz-won"], "lost": ["zz-lost"]})
    pd.testing.assert_frame_equal(
        sm.find_bottlenecks(log, stages).to_frame(), sm.find_bottlenecks(log, stages, backend="pyspark").to_frame()
    )
