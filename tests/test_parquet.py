"""read_parquet against read_csv on the same data, the vectorised timestamp parser against pandas,
and the row accounting of the columnar ingest against pandas recounts."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.cli import main
from salesmining.ingest.options import ReadOptions
from salesmining.ingest.timestamps import parse_timestamps

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "opportunities.csv"
KEYS = {"case": "Opportunity ID", "activity": "Activity", "timestamp": "Timestamp", "resource": "Owner"}
CASE, ACT, TS = "case:concept:name", "concept:name", "time:timestamp"


def _text_frame(path: Path | io.StringIO) -> pd.DataFrame:
    """The file as all-text columns, as pandas reads it (nothing converted)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def _parquet(df: pd.DataFrame, tmp_path: Path, name: str = "log.parquet") -> Path:
    p = tmp_path / name
    df.to_parquet(p, index=False)
    return p


def _report(log: sm.EventLog) -> dict[str, Any]:
    """The report without what names the file (its name, the reading notes)."""
    d = log.quality.to_dict()
    return {
        "rows": (d["rows_read"], d["rows_kept"], d["rows_rejected"]),
        "by_reason": d["rejections_by_reason"],
        "warnings": [(w["code"], w["count"], w["rows"]) for w in d["warnings"]],
        "rejections": log.quality.rejections[["row", "reason", "column", "value"]].to_dict("records"),
    }


def test_parquet_of_text_columns_builds_the_same_log_as_the_csv(tmp_path: Path) -> None:
    from_csv = sm.read_csv(SAMPLE, **KEYS, case_attributes="auto")
    from_pq = sm.read_parquet(_parquet(_text_frame(SAMPLE), tmp_path), **KEYS, case_attributes="auto")
    pd.testing.assert_frame_equal(from_csv.to_frame(), from_pq.to_frame())
    pd.testing.assert_frame_equal(from_csv.cases, from_pq.cases)
    assert _report(from_csv) == _report(from_pq)


def test_native_utc_timestamps_are_used_as_they_are(tmp_path: Path) -> None:
    raw = _text_frame(SAMPLE)
    native = raw.assign(Timestamp=pd.to_datetime(raw["Timestamp"], utc=True, format="ISO8601"))
    from_csv = sm.read_csv(SAMPLE, **KEYS)
    from_pq = sm.read_parquet(_parquet(native, tmp_path), **KEYS)
    pd.testing.assert_frame_equal(from_csv.to_frame(), from_pq.to_frame())
    assert _report(from_csv) == _report(from_pq)
    # and against a pandas recount of the file: events per case, every timestamp
    ev = from_pq.to_frame().sort_values("source_row")
    assert ev[TS].tolist() == pd.to_datetime(raw["Timestamp"], utc=True, format="ISO8601").tolist()
    per_case = raw.groupby("Opportunity ID").size().sort_index()
    assert ev.groupby(CASE).size().sort_index().tolist() == per_case.tolist()
    assert from_pq.n_cases == raw["Opportunity ID"].nunique()


def test_naive_native_timestamps_follow_the_timezone_option_like_naive_text(tmp_path: Path) -> None:
    text = pd.DataFrame(
        {
            "deal": ["A", "A", "B", "B", "C"],
            "stage": ["Lead", "Won", "Lead", "Lost", "Lead"],
            # 2024-03-31 02:30 does not exist in Berlin; 2024-10-27 02:30 occurs twice
            "at": ["2024-03-30 09:00", "2024-03-31 02:30", "2024-10-27 02:30", "2024-11-02 10:15", "2024-06-01"],
        }
    )
    native = text.assign(at=pd.to_datetime(text["at"], format="ISO8601"))
    keys = {"case": "deal", "activity": "stage", "timestamp": "at"}
    for tz in (None, "Europe/Berlin"):
        csv_log = sm.read_csv(io.StringIO(text.to_csv(index=False)), **keys, timezone=tz)
        pq_log = sm.read_parquet(_parquet(native, tmp_path), **keys, timezone=tz)
        pd.testing.assert_series_equal(csv_log.to_frame()[TS], pq_log.to_frame()[TS])
        csv_codes = {w.code for w in csv_log.quality.warnings}
        pq_codes = {w.code for w in pq_log.quality.warnings}
        # a native datetime has a time of day even at midnight: only the text says "date only"
        assert csv_codes - {"date_only"} == pq_codes
        if tz is None:
            assert "assumed_utc" in pq_codes
        else:
            assert {"dst_ambiguous", "dst_nonexistent"} <= pq_codes
            berlin = pd.Timestamp("2024-03-30 09:00", tz="Europe/Berlin").tz_convert("UTC")
            assert pq_log.to_frame().set_index("source_row").loc[0, TS] == berlin


def test_rejections_and_warnings_agree_between_csv_and_parquet(tmp_path: Path) -> None:
    csv = (
        "deal,stage,at,amount\n"
        "D1,Lead,2024-01-02T09:00:00Z,100\n"
        "D1,Lead,2024-01-02T09:00:00Z,100\n"  # duplicate
        ",Lead,2024-01-03T09:00:00Z,5\n"  # missing case
        "D2,,2024-01-03T09:00:00Z,5\n"  # missing activity
        "D2,Lead,not a date,5\n"
        "D2,Won,1900-01-01T00:00:00Z,5\n"  # implausible
        "D3,Lead,2024-01-04T10:00:00+02:00,7\n"
        "D3,Won,2024-01-05T10:00:00-07:00,7\n"
        "1.23457E+17,Lead,2024-01-04T10:00:00Z,1\n"
    )
    keys = {"case": "deal", "activity": "stage", "timestamp": "at", "amount": "amount"}
    a = sm.read_csv(io.StringIO(csv), **keys)
    b = sm.read_parquet(_parquet(_text_frame(io.StringIO(csv)), tmp_path), **keys)
    assert _report(a) == _report(b)
    assert a.quality.to_dict()["rejections_by_reason"] == {
        "duplicate_row": 1,
        "missing_case_id": 1,
        "missing_activity": 1,
        "unparsable_timestamp": 1,
        "implausible_timestamp": 1,
    }
    assert {"mixed_timezones", "excel_mangled_ids"} <= {w.code for w in b.quality.warnings}
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    pd.testing.assert_frame_equal(a.cases, b.cases)


def test_native_types_stay_and_dates_read_as_dates(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "deal": pd.Categorical(["A", "A", "B"]),
            "stage": ["Lead", "Won", "Lead"],
            "day": pd.to_datetime(["2024-02-01", "2024-02-03", "2024-02-02"]).date,
            "n": [1, 2, 3],
        }
    )
    log = sm.read_parquet(_parquet(df, tmp_path), case="deal", activity="stage", timestamp="day")
    ev = log.to_frame().sort_values("source_row")
    assert ev[TS].tolist() == list(pd.to_datetime(["2024-02-01", "2024-02-03", "2024-02-02"], utc=True))
    assert ev["n"].tolist() == [1, 2, 3] and ev["n"].dtype == np.int64
    assert "date_only" in {w.code for w in log.quality.warnings}


def test_parquet_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(sm.LogSchemaError, match="no such file"):
        sm.read_parquet(tmp_path / "missing.parquet", case="a", activity="b", timestamp="c")
    fake = tmp_path / "fake.parquet"
    fake.write_text("deal,stage\nA,Lead\n", encoding="utf-8")
    with pytest.raises(sm.LogSchemaError, match="cannot be read as a Parquet file"):
        sm.read_parquet(fake, case="a", activity="b", timestamp="c")
    empty = _parquet(pd.DataFrame({"deal": pd.Series([], dtype=str)}), tmp_path, "empty.parquet")
    with pytest.raises(sm.LogSchemaError, match="no data rows"):
        sm.read_parquet(empty, case="deal", activity="b", timestamp="c")
    good = _parquet(pd.DataFrame({"deal": ["A"], "stage": ["Lead"], "at": ["2024-01-01"]}), tmp_path)
    with pytest.raises(sm.LogSchemaError, match="Did you mean 'stage'"):
        sm.read_parquet(good, case="deal", activity="stag", timestamp="at")


def test_cli_reads_parquet_like_csv(tmp_path: Path) -> None:
    pq = _parquet(_text_frame(SAMPLE), tmp_path, "opportunities.parquet")
    out_pq, out_csv = tmp_path / "pq.json", tmp_path / "csv.json"
    assert main(["quality", str(pq), "--json", str(out_pq), "-q"]) == 0
    assert main(["quality", str(SAMPLE), "--json", str(out_csv), "-q"]) == 0
    got, ref = (json.loads(p.read_text(encoding="utf-8"))["log"] for p in (out_pq, out_csv))
    raw = pd.read_csv(SAMPLE)
    assert got["events"] == got["rows_read"] == len(raw) == ref["events"]
    assert got["cases"] == raw["Opportunity ID"].nunique() == ref["cases"]
    # a Parquet file without the ending is told by its magic bytes
    bare = tmp_path / "export"
    bare.write_bytes(pq.read_bytes())
    assert main(["quality", str(bare), "-q"]) == 0


# --- the vectorised timestamp parser -------------------------------------------------------------
def test_iso_layouts_parse_like_pandas_iso8601() -> None:
    rng = np.random.default_rng(7)
    stamps = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**8, 400), unit="s")
    micro = pd.to_timedelta(rng.integers(0, 10**6, 400), unit="us")
    values = (
        list(stamps.strftime("%Y-%m-%dT%H:%M:%SZ"))
        + list(stamps.strftime("%Y-%m-%d %H:%M:%S+0530"))
        + list((stamps + micro).strftime("%Y-%m-%dT%H:%M:%S.%f-07:00"))
        + list(stamps.strftime("%Y-%m-%dT%H:%M+01:00"))
    )
    got = parse_timestamps(pd.Series(values), column="t", source="x")
    want = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    pd.testing.assert_series_equal(got.values, want, check_names=False)
    assert not got.unparsable.any() and not got.date_only.any()
    assert [c for c, _, _ in got.warnings] == ["mixed_timezones"]


def test_day_month_layouts_parse_like_strptime() -> None:
    rng = np.random.default_rng(11)
    stamps = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 10**8, 300) * 60, unit="s")
    us = list(stamps.strftime("%m/%d/%Y %I:%M %p"))
    got = parse_timestamps(pd.Series(us), column="t", source="x", dayfirst=False)
    want = pd.to_datetime(pd.Series(us), format="%m/%d/%Y %I:%M %p").dt.tz_localize("UTC")
    pd.testing.assert_series_equal(got.values, want.astype("datetime64[us, UTC]"), check_names=False)
    eu = list(stamps.strftime("%d.%m.%y %H:%M"))
    got_eu = parse_timestamps(pd.Series(eu), column="t", source="x", timezone="Europe/Madrid")
    want_eu = pd.to_datetime(pd.Series(eu), format="%d.%m.%y %H:%M").dt.tz_localize(
        "Europe/Madrid", ambiguous=np.zeros(len(eu), dtype=bool), nonexistent="shift_forward"
    )
    pd.testing.assert_series_equal(
        got_eu.values, want_eu.dt.tz_convert("UTC").astype("datetime64[us, UTC]"), check_names=False
    )
    assert "inferred_dayfirst" in [c for c, _, _ in got_eu.warnings]


def test_impossible_dates_are_unparsable_and_month_names_go_to_dateutil() -> None:
    values = pd.Series(
        ["2024-02-30 10:00", "2023-02-29", "2024-02-29", "13/13/2024", "Mar 5, 2024 10:00 AM", "", "2024-01-01 25:00"]
    )
    got = parse_timestamps(values, column="t", source="x")
    assert got.unparsable.tolist() == [True, True, False, True, False, False, True]
    assert got.missing.tolist() == [False] * 5 + [True, False]
    assert got.values[2] == pd.Timestamp("2024-02-29", tz="UTC")
    assert got.values[4] == pd.Timestamp("2024-03-05 10:00", tz="UTC")


def test_duplicates_in_a_large_text_frame_match_pandas() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    df = pd.DataFrame(
        {
            "deal": [f"D{i}" for i in rng.integers(0, 300, n)],
            "stage": rng.choice(["Lead", "Demo", "Won"], n),
            "at": [
                f"2024-01-{d:02d}T{h:02d}:00:00Z"
                for d, h in zip(rng.integers(1, 29, n), rng.integers(0, 3, n), strict=True)
            ],
        }
    ).astype("str")
    log = sm.from_dataframe(df, case="deal", activity="stage", timestamp="at")
    dup = df.duplicated(keep="first")
    assert log.quality.to_dict()["rejections_by_reason"].get("duplicate_row", 0) == int(dup.sum()) > 0
    assert sorted(log.quality.rejections["row"]) == list(np.flatnonzero(dup.to_numpy()))
    assert log.n_events == n - int(dup.sum())


def test_cli_parquet_read_is_read_parquet_with_the_guessed_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the command line reads the schema first, guesses the roles, then reads with the text coded:
    # the same log as sm.read_parquet with those columns, and as the plain frame through build_log
    from dataclasses import replace

    from salesmining.cli import build_parser, load_log
    from salesmining.ingest.frames import build_log
    from salesmining.ingest.options import ColumnMap
    from salesmining.ingest.parquet import _read, read_parquet_coded

    raw = _text_frame(SAMPLE)
    raw.loc[3, "Activity"] = "  Proposal "  # cleaned text, once per distinct value
    raw.loc[5, "Timestamp"] = "not a date"  # a rejection
    pq = _parquet(raw, tmp_path, "opportunities.parquet")
    args = build_parser().parse_args(["quality", str(pq), "-q"])
    got = load_log(args)
    guessed = {"amount": "Amount", "approval_result": "Approval Result"}
    ref = sm.read_parquet(pq, **KEYS, **guessed, case_attributes="auto")
    pd.testing.assert_frame_equal(got.to_frame(), ref.to_frame())
    pd.testing.assert_frame_equal(got.cases, ref.cases)
    assert _report(got) == _report(ref)
    frame, origin, none = _read(pq, code=lambda name: False)  # every column as plain text
    assert none == {}
    coded = read_parquet_coded(pq, ["Timestamp"])[2]  # what the CLI's read codes: the text, not the time
    assert {"Activity", "Owner"} <= set(coded) and "Timestamp" not in coded
    columns = ColumnMap(**KEYS, **guessed, case_attributes="auto")
    plain = build_log(frame, columns, replace(ReadOptions(), name=origin.source), origin)
    pd.testing.assert_frame_equal(got.to_frame(), plain.to_frame())
    pd.testing.assert_frame_equal(got.cases, plain.cases)
    assert _report(got) == _report(plain)
    assert _report(got)["rows"] == (len(raw), len(raw) - 1, 1)
    # a file that is not Parquet, named as one: one clear line from the schema read, no traceback
    fake = tmp_path / "fake.parquet"
    fake.write_text("deal,stage\nA,Lead\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["quality", str(fake), "-q"]) != 0
    err = capsys.readouterr().err
    assert "fake.parquet cannot be read as a Parquet file" in err and "Traceback" not in err
