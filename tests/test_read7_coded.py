"""The coded text of the Parquet reader (codes into distinct values) against the same columns
decoded by pandas, and read_parquet's log against the one built from the decoded frame."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import salesmining as sm
from salesmining.ingest.coded import CodedText, coded_from_dictionary
from salesmining.ingest.frames import _is_identity
from salesmining.ingest.values import checked_text_values, text_values

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "opportunities_artefacts.csv"
KEYS = {"case": "Opportunity ID", "activity": "Activity", "timestamp": "Timestamp", "resource": "Owner"}


def _dictionary_column(values: list[str | None], chunk: int) -> pa.ChunkedArray:
    """``values`` written to Parquet in row groups of ``chunk`` rows and read back as dictionaries."""
    buf = io.BytesIO()
    pq.write_table(pa.table({"x": pa.array(values, type=pa.string())}), buf, row_group_size=chunk)
    return pq.read_table(pa.BufferReader(buf.getvalue()), read_dictionary=["x"])["x"]


def test_coded_text_holds_each_rows_value_and_each_value_once() -> None:
    rng = np.random.default_rng(5)
    words = ["Lead", " Lead", "Won", "won", "", "N/A", "Ünïcode", None]
    values = [words[i] for i in rng.integers(0, len(words), 5000)]
    coded = coded_from_dictionary(_dictionary_column(values, chunk=700))
    assert coded is not None
    expected = pd.Series(values, dtype="str")
    pd.testing.assert_series_equal(coded.series(), expected)
    assert len(set(coded.values.to_pylist())) == len(coded.values)  # one code per value
    assert (coded.codes < 0).sum() == expected.isna().sum()
    np.testing.assert_array_equal(coded.missing(), expected.isna().to_numpy())
    rows = rng.permutation(5000)[:3000]
    pd.testing.assert_series_equal(coded.series(rows), expected.iloc[rows].reset_index(drop=True))


def test_coded_text_is_refused_when_the_dictionaries_are_long_or_not_text() -> None:
    ids = [f"id-{i}" for i in range(4000)]
    assert coded_from_dictionary(_dictionary_column(ids, chunk=1000)) is None
    ints = pa.chunked_array([pa.array([1, 2, 1]).dictionary_encode()])
    assert coded_from_dictionary(ints) is None
    assert coded_from_dictionary(pa.chunked_array([pa.array(["a", "b"] * 100)])) is None


def test_map_values_and_polars_are_the_row_wise_results() -> None:
    values = pa.array(["  Lead ", "Won", "null", None], type=pa.large_string())
    codes = np.array([0, 1, 2, -1, 3, 1, 0], dtype=np.int32)
    coded = CodedText(codes, values)
    rows = pd.Series([" " + "x"] * 0 + ["  Lead ", "Won", "null", None, None, "Won", "  Lead "], dtype="str")
    cleaned = coded.map_values(lambda v: text_values(pd.Series(v.to_arrow(), dtype="str")))
    pd.testing.assert_series_equal(cleaned.series(), pd.Series(text_values(rows).to_list(), dtype="str"))
    assert coded.polars().to_list() == [None if pd.isna(v) else v for v in rows]
    np.testing.assert_array_equal(cleaned.missing(), [False, False, True, True, True, False, False])


@pytest.mark.parametrize(
    ("rows", "n", "expected"),
    [(np.arange(5), 5, True), (np.array([0, 2, 1]), 3, False), (np.arange(4), 5, False), (np.arange(0), 0, True)],
)
def test_is_identity(rows: np.ndarray, n: int, expected: bool) -> None:
    assert _is_identity(rows, n) is expected


def test_checked_text_values_says_unchanged_only_when_nothing_changed() -> None:
    clean = pd.Series(["Lead", "Won", None], dtype="str")
    dirty = pd.Series(["Lead ", "Won", "n/a"], dtype="str")
    for s in (clean, dirty):
        out, same = checked_text_values(s)
        assert out.to_list() == text_values(s).to_list()
        assert same == (pd.Series(out.to_list(), dtype="str").equals(s))
    assert checked_text_values(pd.Series([1.0, 2.0]))[1] is False


def test_read_parquet_through_dictionaries_builds_the_log_of_the_decoded_frame(tmp_path: Path) -> None:
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False, na_filter=False)
    raw = raw.sample(frac=1, random_state=4).reset_index(drop=True)
    raw.loc[raw.index[::17], "Owner"] = None
    raw.loc[raw.index[::23], "Activity"] = "  "
    raw.loc[raw.index[::29], "Segment"] = None
    raw = pd.concat([raw, raw.iloc[:40]], ignore_index=True)  # duplicate rows
    path = tmp_path / "log.parquet"
    pq.write_table(pa.Table.from_pandas(raw, preserve_index=False), path, row_group_size=900)
    kw = {**KEYS, "approval_result": "Approval Result", "amount": "Amount", "case_attributes": ["Region"]}
    got = sm.read_parquet(path, **kw, name="x")
    want = sm.from_dataframe(raw.astype("str"), **kw, name="x")
    pd.testing.assert_frame_equal(got.to_frame(), want.to_frame(), check_exact=True)
    pd.testing.assert_frame_equal(got.cases, want.cases, check_exact=True)
    pd.testing.assert_frame_equal(
        got.quality.rejections.drop(columns="source"), want.quality.rejections.drop(columns="source")
    )
    assert [(w.code, w.count, w.rows) for w in got.quality.warnings] == [
        (w.code, w.count, w.rows) for w in want.quality.warnings
    ]


def test_codes_of_sliced_indices_with_nulls() -> None:
    from salesmining.ingest.coded import _codes

    idx = pa.array([3, None, 1, 0, None, 2, 7, None, 5, 4, None], type=pa.int32())
    for part in (idx, idx.slice(1), idx.slice(3, 6), pa.array([1, 2], type=pa.int32())):
        expected = pd.Series(part.to_pylist(), dtype="Int64").fillna(-1).to_numpy(dtype=np.int32)
        np.testing.assert_array_equal(_codes(part), expected)
