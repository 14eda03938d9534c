"""Internal helpers of the faster ingest: the locality test of take positions, the strict-order
test of case ids, and the reader's log constructor (checked against plain numpy / Python / the
public constructor)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import salesmining as sm
from salesmining.core.schema import CASE
from salesmining.ingest.frames import _mostly_local, _take_text
from salesmining.log.eventlog import EventLog, _reader_log, _strictly_increasing


@pytest.mark.parametrize("seed", range(4))
def test_mostly_local_matches_a_plain_count_of_short_steps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5000
    near = np.arange(n) + rng.integers(-50, 50, n)
    far = rng.permutation(n * 100)[:n]
    mixed = np.where(rng.random(n) < 0.95, near, far)
    for rows in (near, far, mixed, np.arange(n), np.array([3]), np.array([], dtype=np.int64)):
        steps = [abs(int(b) - int(a)) for a, b in itertools.pairwise(rows)]
        expected = not steps or sum(s <= 1024 for s in steps) >= 0.9 * len(steps)
        assert _mostly_local(rows) is expected


def test_take_text_is_a_plain_take_whether_positions_are_local_or_not() -> None:
    rng = np.random.default_rng(7)
    few = pa.chunked_array([pa.array(rng.choice(["a", "bb", None, "ü"], 6000).tolist(), pa.large_string())] * 2)
    for rows in (np.arange(12000)[::-1].copy(), rng.permutation(12000), np.sort(rng.integers(0, 12000, 9000))):
        take = pa.array(rows)
        want = [few.to_pylist()[int(i)] for i in rows]
        for local in (None, True, False):
            assert pa.chunked_array([_take_text(few, take, local)]).to_pylist() == want


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["a", "b", "c"], True),
        (["a", "a", "b"], False),
        (["b", "a"], False),
        (["Z", "a", "é", "中"], True),  # code-point order, as Python's sorted gives
        (["é", "z"], False),
        (["10", "9"], True),
        ([], True),
        (["x"], True),
    ],
)
def test_strictly_increasing_is_python_string_order(ids: list[str], expected: bool) -> None:
    s = pd.Series(ids, dtype="str")
    assert _strictly_increasing(s) is expected
    assert expected == (sorted(set(ids)) == ids)


def test_strictly_increasing_is_false_with_a_missing_id() -> None:
    assert _strictly_increasing(pd.Series(["a", None, "c"], dtype="str")) is False


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert list(a.dtypes) == list(b.dtypes)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize(
    "text",
    [
        "deal,stage,at,result,Outcome\nb,Lead,2024-01-02,,Won\na,Lead,2024-01-01,,lost\nb,Won,2024-01-01,ok,won\n"
        "c,Lead,2024-01-03,,\na,Won,2024-01-05,no,LOST\n",
        "deal,stage,at,result,Outcome\n中,Lead,2024-01-02,,\nZ,Lead,2024-01-01,,\né,Won,2024-01-01,,\n",
    ],
)
def test_reader_log_equals_the_constructor(text: str) -> None:
    log = sm.read_csv(
        io.StringIO(text), case="deal", activity="stage", timestamp="at", approval_result="result", outcome="Outcome"
    )
    events, cases = log._events, log.cases
    fast = _reader_log(events, cases, quality=log.quality, name="x")
    slow = EventLog(events, cases, quality=log.quality, name="x")
    _frames_equal(fast._events, slow._events)
    _frames_equal(fast._cases, slow._cases)
    assert fast.name == slow.name and fast.meta == slow.meta and fast.history == slow.history


def test_reader_log_falls_back_to_the_constructor_when_ids_are_not_in_order() -> None:
    log = sm.read_csv(
        io.StringIO("deal,stage,at\nb,Lead,2024-01-02\na,Lead,2024-01-01\n"),
        case="deal",
        activity="stage",
        timestamp="at",
    )
    events = log._events.iloc[::-1].reset_index(drop=True)  # b's event first: the constructor sorts
    cases = log.cases.iloc[::-1].reset_index(drop=True)
    fast = _reader_log(events, cases, quality=log.quality, name=None)
    slow = EventLog(events, cases, quality=log.quality, name=None)
    _frames_equal(fast._events, slow._events)
    _frames_equal(fast._cases, slow._cases)
    assert fast._events[CASE].tolist() == ["a", "b"]


def _parquet_bytes(table: pa.Table, **kw: object) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def test_read_parquet_equals_from_dataframe_of_pandas_reading_the_file() -> None:
    """``read_parquet`` (reader's log constructor, local takes) gives the same log as
    ``from_dataframe`` of the frame pandas reads from the file (text as str)."""
    rng = np.random.default_rng(2)
    n = 4000
    stamps = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")
    df = pd.DataFrame(
        {
            "deal": [f"D{i}" for i in rng.integers(0, 300, n)],
            "stage": rng.choice(["Lead", "Won", " Lost ", "null", "Étape"], n),
            "at": stamps,
            "who": pd.Series(rng.choice(["Ann", "Bo", None], n), dtype="object"),
            "note": [f"n{i}" for i in range(n)],
        }
    )
    data = _parquet_bytes(pa.Table.from_pandas(df, preserve_index=False), row_group_size=1500)
    log = sm.read_parquet(data, case="deal", activity="stage", timestamp="at", resource="who")
    ref = pd.read_parquet(io.BytesIO(data))
    for col in ("deal", "stage", "who", "note"):
        ref[col] = ref[col].astype("str")
    want = sm.from_dataframe(ref, case="deal", activity="stage", timestamp="at", resource="who")
    _frames_equal(log.to_frame(), want.to_frame())
    _frames_equal(log.cases, want.cases)
    assert log.quality.rows_kept == want.quality.rows_kept
    assert [(w.code, w.count, w.rows) for w in log.quality.warnings] == [
        (w.code, w.count, w.rows) for w in want.quality.warnings
    ]
