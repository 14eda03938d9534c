"""Ingest: every input row is kept or rejected for exactly one reason, with its place."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining import REJECT_REASONS
from salesmining.core.errors import ArgumentTypeError, OptionError

CASE, ACT, TS = "case:concept:name", "concept:name", "time:timestamp"

BAD_ROWS_CSV = """deal,stage,at,started,owner,segment
D1,Lead,2024-01-02T09:00:00Z,2024-01-02T08:00:00Z,ana,SMB
D1,Contact,2024-01-03T10:00:00Z,,ana,SMB
,Lead,2024-01-04T09:00:00Z,,bo,SMB
D2,,2024-01-04T09:00:00Z,,bo,SMB
D2,Lead,,,bo,SMB
D2,Lead,yesterday-ish,,bo,SMB
D2,Lead,1900-01-01 00:00:00,,bo,SMB
D2,Contact,2024-01-05T09:00:00Z,not a time,bo,SMB
D2,Proposal,2024-01-06T09:00:00Z,2024-01-07T09:00:00Z,bo,SMB
D1,Contact,2024-01-03T10:00:00Z,,ana,SMB
D2,Lead,2024-01-04T10:00:00Z,,bo,Enterprise
"""


def read_bad(**kw: object) -> sm.EventLog:
    return sm.read_csv(
        io.BytesIO(BAD_ROWS_CSV.encode()),
        case="deal",
        activity="stage",
        timestamp="at",
        start_timestamp="started",
        resource="owner",
        case_attributes=["segment"],
        **kw,  # type: ignore[arg-type]
    )


def test_each_rejection_reason_counted_on_its_row() -> None:
    log = read_bad()
    q = log.quality
    rej = q.rejections
    expected = {
        2: ("missing_case_id", "deal", ""),
        3: ("missing_activity", "stage", ""),
        4: ("missing_timestamp", "at", ""),
        5: ("unparsable_timestamp", "at", "yesterday-ish"),
        6: ("implausible_timestamp", "at", "1900-01-01 00:00:00"),
        7: ("unparsable_start_timestamp", "started", "not a time"),
        8: ("start_after_timestamp", "started", "2024-01-07T09:00:00Z"),
        9: ("duplicate_row", "*", "(whole row)"),
    }
    got = {int(r.row): (r.reason, r.column, r.value) for r in rej.itertuples()}
    assert got == expected
    assert list(rej.columns[:4]) == ["row", "reason", "column", "value"]
    assert q.rows_read == 11 and q.rows_kept == 3 and q.rows_rejected == 8
    assert q.rows_kept + q.rows_rejected == q.rows_read
    assert sorted(log.to_frame()["source_row"]) == [0, 1, 10]
    counts = q.counts().set_index("reason")["rows"]
    assert set(counts.index) == set(REJECT_REASONS)
    assert counts.sum() == 8


def test_strict_names_file_row_column() -> None:
    with pytest.raises(sm.LogSchemaError) as err:
        sm.read_csv(io.BytesIO(BAD_ROWS_CSV.encode()), case="deal", activity="stage", timestamp="at", strict=True)
    e = err.value
    assert e.row == 2 and e.column == "deal" and e.source == "<buffer>"
    assert "row 2 (line 4 of the file)" in str(e)
    assert "missing case id" in str(e)


def test_missing_column_lists_columns_and_closest_match() -> None:
    df = pd.DataFrame({"Opportunity ID": ["a"], "Stage": ["x"], "Created Date": ["2024-01-01"]})
    with pytest.raises(
        sm.LogSchemaError, match=r"'Opportunity Id' does not exist\. Did you mean 'Opportunity ID'\?"
    ) as err:
        sm.from_dataframe(df, case="Opportunity Id", activity="Stage", timestamp="Created Date")
    assert "Created Date" in str(err.value)


def test_case_attributes_keep_last_value_and_warn_on_change() -> None:
    log = read_bad()
    cases = log.cases.set_index(CASE)
    assert cases.loc["D2", "segment"] == "Enterprise"  # row 10 is D2's last event
    assert cases.loc["D1", "segment"] == "SMB"
    w = {w.code: w for w in log.quality.warnings}
    assert "inconsistent_case_attribute" not in w  # D2's other rows were rejected
    assert w["single_event_cases"].count == 1  # D2 keeps only row 10
    df = pd.DataFrame(
        {
            "id": ["a", "a", "b"],
            "act": ["x", "y", "x"],
            "t": ["2024-01-02Z", "2024-01-01Z", "2024-01-01Z"],
            "seg": ["late", "early", None],
        }
    )
    log2 = sm.from_dataframe(df, case="id", activity="act", timestamp="t", case_attributes=["seg"])
    segs = log2.cases.set_index(CASE)["seg"]
    assert segs["a"] == "late" and pd.isna(segs["b"])
    w2 = {w.code: w for w in log2.quality.warnings}
    assert w2["inconsistent_case_attribute"].count == 1


def test_ties_keep_source_order_and_warn() -> None:
    df = pd.DataFrame(
        {
            "id": ["c", "c", "c", "c"],
            "act": ["B", "A", "C", "D"],
            "t": ["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-01 09:00", "2024-01-01 10:00"],
        }
    )
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    assert log.to_frame()[ACT].tolist() == ["C", "B", "A", "D"]
    ties = next(w for w in log.quality.warnings if w.code == "timestamp_ties")
    assert ties.count == 2 and ties.rows == (1, 3)
    assert log.quality.has_warning("assumed_utc")


def test_timezone_localises_naive_values() -> None:
    df = pd.DataFrame({"id": ["a", "a"], "act": ["x", "y"], "t": ["2024-07-01 10:00", "2024-01-15 10:00"]})
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t", timezone="Europe/Madrid")
    got = sorted(log.to_frame()[TS].dt.strftime("%Y-%m-%d %H:%M"))
    assert got == ["2024-01-15 09:00", "2024-07-01 08:00"]  # CET +1, CEST +2
    assert not log.quality.has_warning("assumed_utc")
    with pytest.raises(sm.LogSchemaError, match="unknown time zone"):
        sm.from_dataframe(df, case="id", activity="act", timestamp="t", timezone="Mars/Olympus")


def test_mixed_zones_warned() -> None:
    df = pd.DataFrame({"id": ["a", "a"], "act": ["x", "y"], "t": ["2024-01-01T10:00:00+0200", "2024-01-02 10:00"]})
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    assert log.quality.has_warning("mixed_timezones")
    assert log.to_frame()[TS].iloc[0] == pd.Timestamp("2024-01-01 08:00", tz="UTC")


def test_ambiguous_dates_refused_unless_told() -> None:
    df = pd.DataFrame({"id": ["a", "a"], "act": ["x", "y"], "t": ["02/03/24", "04/05/24"]})
    with pytest.raises(sm.AmbiguousDateError, match="dayfirst"):
        sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    day = sm.from_dataframe(df, case="id", activity="act", timestamp="t", dayfirst=True)
    assert day.to_frame()[TS].iloc[0] == pd.Timestamp("2024-03-02", tz="UTC")
    month = sm.from_dataframe(df, case="id", activity="act", timestamp="t", dayfirst=False)
    assert month.to_frame()[TS].iloc[0] == pd.Timestamp("2024-02-03", tz="UTC")
    fmt = sm.from_dataframe(df, case="id", activity="act", timestamp="t", date_format="%d/%m/%y")
    assert fmt.to_frame()[TS].tolist() == day.to_frame()[TS].tolist()
    assert day.quality.has_warning("date_only")


def test_day_order_inferred_when_data_decides() -> None:
    df = pd.DataFrame({"id": ["a", "a"], "act": ["x", "y"], "t": ["02/03/24 10:00", "13/03/24 09:30"]})
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    assert log.to_frame()[TS].iloc[0] == pd.Timestamp("2024-03-02 10:00", tz="UTC")
    assert log.quality.has_warning("inferred_dayfirst")
    both = pd.DataFrame({"id": ["a", "a"], "act": ["x", "y"], "t": ["13/03/24", "03/13/24"]})
    with pytest.raises(sm.AmbiguousDateError, match="date_format"):
        sm.from_dataframe(both, case="id", activity="act", timestamp="t")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-02-07 20:47:49", "2023-02-07 20:47:49"),
        ("2021-05-27T13:59:29.000+0000", "2021-05-27 13:59:29"),
        ("2024-03-05T14:23:11Z", "2024-03-05 14:23:11"),
        ("2024-03-05T14:23:11-07:00", "2024-03-05 21:23:11"),
        ("02/23/26 08:55 PM", "2026-02-23 20:55:00"),
        ("02/23/26 12:05 AM", "2026-02-23 00:05:00"),
        ("1700000000", "2023-11-14 22:13:20"),
        ("1700000000123", "2023-11-14 22:13:20"),
        ("Mar 5, 2024 10:00 AM", "2024-03-05 10:00:00"),
        ("2024/03/05 14:23", "2024-03-05 14:23:00"),
    ],
)
def test_timestamp_zoo(raw: str, expected: str) -> None:
    df = pd.DataFrame({"id": ["a"], "act": ["x"], "t": [raw]})
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    assert log.to_frame()[TS].iloc[0].strftime("%Y-%m-%d %H:%M:%S") == expected


def test_typed_columns_from_dataframe() -> None:
    df = pd.DataFrame(
        {
            "id": [101.0, 101.0, 102.0],
            "act": ["a", "b", "a"],
            "t": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00", "2024-01-01 11:00"]).tz_localize(
                "Asia/Shanghai"
            ),
            "amount": ["$12,400.00", "12.400,50 €", "42,000"],
        }
    )
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t", amount="amount")
    assert log.cases[CASE].tolist() == ["101", "102"]
    assert log.cases["amount"].tolist() == [12400.5, 42000.0]
    assert log.to_frame()[TS].iloc[0] == pd.Timestamp("2024-01-01 02:00", tz="UTC")


def test_outcome_column_normalised_or_refused() -> None:
    df = pd.DataFrame({"id": ["a", "b", "c"], "act": ["x"] * 3, "t": ["2024-01-01Z"] * 3, "o": ["Won", "LOST", "open"]})
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t", outcome="o")
    assert log.cases["outcome"].tolist() == ["won", "lost", "open"]
    df.loc[2, "o"] = "Closed Won"
    with pytest.raises(sm.LogSchemaError, match="with_outcomes"):
        sm.from_dataframe(df, case="id", activity="act", timestamp="t", outcome="o")


def test_unicode_names_normalised_nfc() -> None:
    decomposed = "Negociacio\u0301n"
    df = pd.DataFrame(
        {
            "id": ["a", "a", "b"],
            "act": [decomposed, "报价与谈判", "Negociación"],
            "t": ["2024-01-01Z", "2024-01-02Z", "2024-01-01Z"],
        }
    )
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    assert set(log.activities) == {"Negociación", "报价与谈判"}
    assert log.activities[0] == "Negociación"


def test_salesforce_report_footer_rows_are_counted_not_lost() -> None:
    text = (
        '"Opportunity ID","Stage","Last Modified"\n'
        '"006A","Prospecting","02/23/26 08:55 PM"\n'
        '"006A","Closed Won","02/24/26 09:10 AM"\n'
        '\n"Grand Totals (2 records)"\n'
        '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\n'
    )
    log = sm.read_csv(io.StringIO(text), case="Opportunity ID", activity="Stage", timestamp="Last Modified")
    assert log.n_events == 2
    assert log.quality.rows_read == 4
    assert log.quality.rejections["reason"].tolist() == ["missing_activity", "missing_activity"]


def test_semicolon_separator_sniffed() -> None:
    text = "id;act;t\na;x;2024-01-01 10:00\na;y;2024-01-02 10:00\n"
    log = sm.read_csv(io.StringIO(text), case="id", activity="act", timestamp="t")
    assert log.n_events == 2
    assert "separator ';'" in log.quality.notes[0]


def test_gzip_file_and_malformed_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import gzip

    p = tmp_path / "log.csv.gz"
    p.write_bytes(gzip.compress(b"id,act,t\na,x,2024-01-01T00:00:00Z\n"))
    assert sm.read_csv(p, case="id", activity="act", timestamp="t").n_events == 1
    bad = tmp_path / "bad.csv"
    bad.write_text('id,act,t\na,"x,2024-01-01\n')
    with pytest.raises(sm.LogSchemaError, match=r"bad\.csv"):
        sm.read_csv(bad, case="id", activity="act", timestamp="t")
    with pytest.raises(sm.LogSchemaError, match="no such file"):
        sm.read_csv(tmp_path / "nope.csv", case="id", activity="act", timestamp="t")


# --- encodings -----------------------------------------------------------------------------
SPANISH = (
    "Oportunidad,Etapa,Fecha\n"
    "006A,Prospección,2024-01-02 10:00\n"
    "006A,Negociación/Revisión,2024-01-05 10:00\n"
    "006A,Cerrada ganada,2024-01-09 10:00\n"
    "006B,Calificación,2024-01-03 10:00\n"
    "006B,Pérdida — señal,2024-01-04 10:00\n"
)


def test_utf8_with_bom() -> None:
    data = b"\xef\xbb\xbf" + SPANISH.encode("utf-8")
    log = sm.read_csv(io.BytesIO(data), case="Oportunidad", activity="Etapa", timestamp="Fecha")
    assert "Negociación/Revisión" in log.activities
    assert log.quality.encoding == "utf-8-sig"


def test_cp1252_export_decoded_with_stated_fallback_never_mojibake() -> None:
    data = SPANISH.encode("cp1252")
    log = sm.read_csv(io.BytesIO(data), case="Oportunidad", activity="Etapa", timestamp="Fecha")
    assert set(log.activities) == {
        "Prospección",
        "Negociación/Revisión",
        "Cerrada ganada",
        "Calificación",
        "Pérdida — señal",
    }
    assert log.quality.has_warning("encoding_fallback")
    assert log.quality.encoding == "cp1252"


def test_latin1_export_with_explicit_encoding() -> None:
    data = SPANISH.replace(" — ", " - ").encode("latin-1")
    log = sm.read_csv(io.BytesIO(data), case="Oportunidad", activity="Etapa", timestamp="Fecha", encoding="latin-1")
    assert "Pérdida - señal" in log.activities
    with pytest.raises(sm.EncodingError, match="cannot be read as 'utf-8'"):
        sm.read_csv(io.BytesIO(data), case="Oportunidad", activity="Etapa", timestamp="Fecha", encoding="utf-8")


def test_chinese_gb18030_decoded_or_refused_with_advice() -> None:
    text = "商机,阶段,时间\n" + "".join(
        f"C{i},{stage},2024-01-0{d} 10:00\n"
        for i in range(20)
        for d, stage in enumerate(["潜在客户识别", "客户接触", "需求分析", "报价与谈判"], start=1)
    )
    data = text.encode("gb18030")
    try:
        log = sm.read_csv(io.BytesIO(data), case="商机", activity="阶段", timestamp="时间")
    except sm.EncodingError as exc:
        assert "encoding=" in str(exc)
    else:
        assert set(log.activities) == {"潜在客户识别", "客户接触", "需求分析", "报价与谈判"}
    explicit = sm.read_csv(io.BytesIO(data), case="商机", activity="阶段", timestamp="时间", encoding="gb18030")
    assert explicit.n_cases == 20 and explicit.n_events == 80


def test_undecodable_bytes_refused_with_advice() -> None:
    data = b"id,act,t\n" + bytes(range(0x80, 0x100)) * 3 + b",x,2024-01-01\n"
    try:
        log = sm.read_csv(io.BytesIO(data), case="id", activity="act", timestamp="t")
    except sm.EncodingError as exc:
        assert "encoding=" in str(exc) and "line 2" in str(exc)
    else:  # if a fallback was taken it must be reported
        assert log.quality.has_warning("encoding_fallback")


# --- never mutate the caller's data --------------------------------------------------------
def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 1, 2, 2],
            "act": [" Lead ", "Won", "Lead", None],
            "t": ["2024-01-02 10:00", "2024-01-01 10:00", "2024-01-01 10:00", "2024-01-03 10:00"],
            "seg": ["A", "A", "B", "B"],
            "amt": ["1,000", "1,000", "x", "2.5"],
        }
    )


def test_from_dataframe_does_not_mutate() -> None:
    df = _frame()
    before = df.copy(deep=True)
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t", case_attributes=["seg"], amount="amt")
    pd.testing.assert_frame_equal(df, before)
    assert log.n_events == 3
    assert log.quality.has_warning("unparsable_amount")


def test_event_log_constructor_and_outputs_do_not_share_state() -> None:
    log = sm.from_dataframe(_frame(), case="id", activity="act", timestamp="t")
    out = log.to_frame()
    out.loc[0, "concept:name"] = "HACKED"
    out2 = log.cases
    out2.loc[0, "outcome"] = "won"
    assert "HACKED" not in log.activities
    assert log.cases["outcome"].isna().all()
    ev = log.to_frame()
    ev_before = ev.copy(deep=True)
    sm.EventLog(ev)
    pd.testing.assert_frame_equal(ev, ev_before)
    with pytest.raises(AttributeError):
        log.foo = 1  # type: ignore[attr-defined]


def test_filter_and_with_outcomes_leave_original_intact() -> None:
    log = sm.from_dataframe(_frame(), case="id", activity="act", timestamp="t")
    snapshot = log.to_frame().copy(deep=True)
    won = log.with_outcomes(won=["Won"])
    assert won.cases.set_index(CASE)["outcome"].to_dict() == {"1": "won", "2": "open"}
    assert log.filter(outcome="won").n_cases == 0  # the original has no outcomes
    assert won.filter(outcome="won").n_cases == 1
    pd.testing.assert_frame_equal(log.to_frame(), snapshot)
    assert log.cases["outcome"].isna().all()


def test_read_csv_does_not_touch_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "x.csv"
    p.write_bytes(b"id,act,t\na,x,2024-01-01\n")
    sm.read_csv(p, case="id", activity="act", timestamp="t")
    assert p.read_bytes() == b"id,act,t\na,x,2024-01-01\n"


def test_no_lost_rows_on_random_garbage() -> None:
    rng = np.random.default_rng(3)
    n = 500
    pool_ts = ["2024-01-01 10:00", "", "nope", "1800-01-01", "2024-02-30", "2024-05-05T10:00:00Z", "1700000000"]
    df = pd.DataFrame(
        {
            "c": rng.choice(["a", "b", "", "c", None], n),
            "a": rng.choice(["x", "y", "", " ", None], n),
            "t": rng.choice(pool_ts, n),
        }
    )
    log = sm.from_dataframe(df, case="c", activity="a", timestamp="t")
    q = log.quality
    assert q.rows_kept + q.rows_rejected == n == q.rows_read
    assert q.rows_kept == log.n_events
    assert not set(q.rejections["row"]) & set(log.to_frame()["source_row"])
    assert set(q.rejections["row"]) | set(log.to_frame()["source_row"]) == set(range(n))


def test_iso_fast_path_agrees_with_the_general_parser() -> None:
    from salesmining.ingest.timestamps import parse_timestamps

    rng = np.random.default_rng(5)
    stamps = pd.Timestamp("2021-03-01") + pd.to_timedelta(rng.integers(0, 10**8, 300), unit="s")
    iso = list(stamps.strftime("%Y-%m-%d %H:%M:%S")) + list(stamps.strftime("%Y-%m-%dT%H:%M:%S.123+0200"))
    fast = parse_timestamps(pd.Series(iso), column="t", source="x", timezone="Europe/Madrid")
    general = parse_timestamps(pd.Series([*iso, "Mar 5, 2024"]), column="t", source="x", timezone="Europe/Madrid")
    pd.testing.assert_series_equal(fast.values, general.values.iloc[:-1])
    assert not fast.unparsable.any() and not general.unparsable.any()
    assert [c for c, _, _ in fast.warnings] == ["mixed_timezones"]


# --- option values: checked once, every error a SalesminingError ----------------------------------
GOOD_CSV = "deal,stage,at\nD1,Lead,2024-01-02T09:00:00Z\nD1,Won,2024-01-05T09:00:00Z\n"
MAPPING = {"case": "deal", "activity": "stage", "timestamp": "at"}


def _opt_csv(**kw: object) -> sm.EventLog:
    return sm.read_csv(io.StringIO(GOOD_CSV), **{**MAPPING, **kw})  # type: ignore[arg-type]


def _opt_frame(**kw: object) -> sm.EventLog:
    df = pd.read_csv(io.StringIO(GOOD_CSV), dtype=str)
    return sm.from_dataframe(df, **{**MAPPING, **kw})  # type: ignore[arg-type]


def _opt_xes(**kw: object) -> sm.EventLog:
    # the options are checked before the file is opened: a bad option wins over a missing file
    return sm.read_xes("no-such-file.xes", **kw)  # type: ignore[arg-type]


def _opt_crm(reader: str) -> object:
    def run(**kw: object) -> sm.EventLog:
        fn = getattr(sm, reader)
        return fn("no-such-export.csv", **kw)  # type: ignore[no-any-return]

    run.reader = reader  # type: ignore[attr-defined]
    return run


_TYPE, _VALUE = ArgumentTypeError, OptionError
BAD_OPTIONS = [
    (_opt_csv, {"case": None}, _TYPE),
    (_opt_csv, {"activity": ["stage"]}, _TYPE),
    (_opt_frame, {"timestamp": " "}, _VALUE),
    (_opt_frame, {"case_attributes": "segment"}, _TYPE),
    (_opt_frame, {"case_attributes": 3}, _TYPE),
    (_opt_frame, {"resource": True}, _TYPE),
    (_opt_csv, {"dayfirst": "yes"}, _TYPE),
    (_opt_csv, {"strict": "no"}, _TYPE),
    (_opt_csv, {"sep": ""}, _VALUE),
    (_opt_csv, {"encoding": 1252}, _TYPE),
    (_opt_csv, {"date_format": ""}, _VALUE),
    (_opt_csv, {"timezone": 2}, _TYPE),
    (_opt_csv, {"timezone": "Mars/Olympus"}, sm.LogSchemaError),
    (_opt_csv, {"plausible_range": ("2020-01-01",)}, _TYPE),
    (_opt_frame, {"plausible_range": ("2030-01-01", "2020-01-01")}, _VALUE),
    (_opt_frame, {"plausible_range": ("soon", "later")}, _VALUE),
    (_opt_xes, {"plausible_range": ("2030-01-01", "2020-01-01")}, _VALUE),
    (_opt_xes, {"strict": 1}, _TYPE),
    (lambda **kw: sm.from_dataframe([{"deal": "D1"}], **MAPPING), {"df": None}, _TYPE),  # type: ignore[arg-type]
    (
        lambda **kw: sm.read_salesforce(
            pd.DataFrame({"OpportunityId": ["o1"], "StageName": ["A"], "CreatedDate": ["2024-01-01T00:00:00Z"]}),
            **kw,
        ),
        {"approvals": (pd.DataFrame(), pd.DataFrame(), pd.DataFrame())},
        _TYPE,
    ),
    *[
        case
        for reader in ("read_salesforce", "read_hubspot", "read_pipedrive", "read_field_history")
        for case in (
            (_opt_crm(reader), {"bulk_min_cases": -1}, _VALUE),
            (_opt_crm(reader), {"bulk_min_cases": 2.5}, _TYPE),
            (_opt_crm(reader), {"bulk_window": float("nan")}, _VALUE),
            (_opt_crm(reader), {"bulk_window": "60"}, _TYPE),
            (_opt_crm(reader), {"dayfirst": 1}, _TYPE),
            (_opt_crm(reader), {"timezone": "Nowhere/Town"}, sm.LogSchemaError),
            (_opt_crm(reader), {"encoding": b"utf-8"}, _TYPE),
        )
    ],
]


def _option_id(case: tuple[Any, dict[str, object], type]) -> str:
    read, options, error = case
    reader = getattr(read, "reader", getattr(read, "__name__", "reader"))
    shown = "-".join(f"{k}={v!r}" if not isinstance(v, tuple) else f"{k}=<{len(v)} items>" for k, v in options.items())
    return f"{reader}-{shown}-{error.__name__}"


@pytest.mark.parametrize(("read", "options", "error"), BAD_OPTIONS, ids=[_option_id(c) for c in BAD_OPTIONS])
def test_bad_option_values_are_salesmining_errors(read: object, options: dict[str, object], error: type) -> None:
    with pytest.raises(error) as info:
        read(**options)  # type: ignore[operator]
    exc = info.value
    assert isinstance(exc, sm.SalesminingError)
    # the built-in base callers catch: a wrong type is a TypeError, a wrong value a ValueError
    assert isinstance(exc, TypeError if error is _TYPE else ValueError)
    assert not isinstance(exc, ValueError if error is _TYPE else TypeError)
    key = next(iter(options))
    assert key.split("_")[0] in str(exc) or "time zone" in str(exc) or "DataFrame" in str(exc)


def test_good_option_values_still_read() -> None:
    """The checks refuse only what never worked: the defaults and ordinary values read as before."""
    a = _opt_csv(plausible_range=("2000-01-01", "2030-01-01"), dayfirst=False, strict=True, sep=",", encoding="utf-8")
    b = _opt_frame(case_attributes=[], timezone="Europe/Berlin", date_format=None)
    assert a.n_events == b.n_events == 2
    assert a.quality.notes[-1] == b.quality.notes[-1] == "mapped: case='deal', activity='stage', timestamp='at'"


def test_options_are_frozen_values() -> None:
    from salesmining.ingest.options import BulkRule, ColumnMap, ReadOptions

    cols = ColumnMap(case="deal", activity="stage", timestamp="at", case_attributes=["segment"])
    assert cols.case_attributes == ("segment",) and not cols.auto_case_attributes
    assert ColumnMap(case="d", activity="s", timestamp="t", case_attributes="auto").auto_case_attributes
    assert list(cols.roles()) == [
        "case",
        "activity",
        "timestamp",
        "start_timestamp",
        "resource",
        "lifecycle",
        "approval_result",
        "outcome",
        "amount",
        "owner",
        "case attribute 'segment'",
    ]
    opts = ReadOptions(timezone="UTC")
    assert opts.bounds() == (pd.Timestamp("1971-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))
    for obj, attr in ((cols, "case"), (opts, "strict"), (BulkRule(), "window")):
        with pytest.raises(AttributeError):
            setattr(obj, attr, None)


def _layout_values(rng: np.random.Generator, n: int) -> list[str]:
    """Strict ISO values in several layouts, some impossible (month 13, Feb 30, 25 o'clock) or
    outside the years a timestamp holds."""
    years = rng.choice([1600, 1677, 1678, 1999, 2024, 2261, 2262, 9999], n)
    month, day = rng.integers(0, 14, n), rng.integers(0, 32, n)
    hour, minute, second = rng.integers(0, 26, n), rng.integers(0, 61, n), rng.integers(0, 61, n)
    frac = rng.integers(0, 10**6, n)
    zones = rng.choice(["+00:00", "-07:00", "+05:30", "+0200", "-0000"], n)
    layouts = [
        "{y:04d}-{m:02d}-{d:02d}",
        "{y:04d}-{m:02d}-{d:02d} {H:02d}:{M:02d}",
        "{y:04d}-{m:02d}-{d:02d}T{H:02d}:{M:02d}:{S:02d}Z",
        "{y:04d}-{m:02d}-{d:02d} {H:02d}:{M:02d}:{S:02d}{z}",
        "{y:04d}-{m:02d}-{d:02d}T{H:02d}:{M:02d}:{S:02d}.{f:06d}{z}",
        "{y:04d}-{m:02d}-{d:02d} {H:02d}:{M:02d}:{S:02d}.{f:06d}123",
    ]
    return [
        layouts[i % len(layouts)].format(
            y=years[i], m=month[i], d=day[i], H=hour[i], M=minute[i], S=second[i], f=frac[i], z=zones[i]
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("timezone", [None, "America/New_York"])
def test_fixed_byte_layouts_agree_with_the_patterns(timezone: str | None) -> None:
    # a column read at once takes the byte-layout path (1,000 or more values per layout); read
    # in pieces of 300 values every value goes through the patterns: the results are the same
    from salesmining.ingest.timestamps import parse_timestamps

    values = pd.Series(_layout_values(np.random.default_rng(5), 12_000), dtype="str")

    def parse(s: pd.Series) -> Any:
        return parse_timestamps(s, column="at", source="test", timezone=timezone, dayfirst=None)

    whole = parse(values)
    pieces = [parse(values.iloc[i : i + 300]) for i in range(0, len(values), 300)]
    got = pd.concat([p.values for p in pieces], ignore_index=True)
    pd.testing.assert_series_equal(whole.values, got)
    for mask in ("missing", "unparsable", "out_of_range", "date_only"):
        assert np.array_equal(getattr(whole, mask), np.concatenate([getattr(p, mask) for p in pieces])), mask
    assert whole.unparsable.any() and whole.out_of_range.any() and whole.date_only.any()


def test_amount_rules_agree_between_polars_and_pandas() -> None:
    # ASCII amounts are normalised with polars string operations, others with pandas' (the same rules)
    import polars as pl

    from salesmining.ingest.values import _amount_text_ascii, _amount_text_pandas

    rng = np.random.default_rng(9)
    alphabet = np.array(list("0123456789,.-$€ e"))
    raw = ["".join(rng.choice(alphabet, rng.integers(0, 12))) for _ in range(5_000)]
    raw += ["$12,400.00", "12.400,00 €", "42,000", "-1 250,5", "1,5", "1.234.567", "0,001", "1.2.3,4"]
    ascii_raw = [v for v in raw if v.isascii()]
    by_polars = _amount_text_ascii(pl.Series(ascii_raw, dtype=pl.String)).to_list()
    by_pandas = _amount_text_pandas(pd.Series(ascii_raw, dtype="str")).tolist()
    assert by_polars == by_pandas


def test_duplicates_among_many_rows_match_pandas() -> None:
    # past 1,000 rows only rows sharing timestamp and case id are compared in full
    rng = np.random.default_rng(2)
    n = 5_000
    df = pd.DataFrame(
        {
            "deal": rng.choice([f"D{i}" for i in range(300)], n),
            "stage": rng.choice(["Lead", "Contact", "Won"], n),
            "at": rng.choice([f"2024-01-{d:02d} 10:00:00Z" for d in range(1, 29)], n),
            "note": rng.choice(["a", "b", ""], n),
        }
    )
    log = sm.from_dataframe(df, case="deal", activity="stage", timestamp="at")
    rej = log.quality.rejections
    expected = np.flatnonzero(df.duplicated(keep="first").to_numpy())
    assert rej.loc[rej["reason"] == "duplicate_row", "row"].tolist() == expected.tolist()
    assert log.n_events == n - len(expected)


def test_take_text_through_the_dictionary_equals_a_plain_take() -> None:
    """A column of few distinct values (nulls included) is taken through its dictionary: same values."""
    import numpy as np
    import pyarrow as pa

    from salesmining.ingest.frames import _take_text

    rng = np.random.default_rng(3)
    few = pa.chunked_array([pa.array(rng.choice(["a", "bb", None], 3000).tolist(), pa.large_string())] * 3)
    many = pa.chunked_array([pa.array([f"id{i}" for i in range(9000)], pa.large_string())])
    take = pa.array(rng.permutation(9000))
    for values in (few, many):
        assert pa.chunked_array([_take_text(values, take)]).combine_chunks().equals(values.take(take).combine_chunks())


def test_case_codes_handed_over_by_read_csv_are_the_ones_coded_events_computes() -> None:
    """``read_csv`` hands its case-id factorisation to the log: the coded events are the same."""
    from salesmining.engine.aggregations import coded_events

    text = (
        "deal,stage,at\nb,Lead,2024-01-02\na,Lead,2024-01-01\nb,Won,2024-01-01\nc,Lead,2024-01-03\na,Won,2024-01-05\n"
    )
    log = sm.read_csv(io.StringIO(text), case="deal", activity="stage", timestamp="at")
    assert "_case_codes" in log.__dict__
    handed, fresh = log._coded, coded_events(log._events)
    assert "_case_codes" not in log.__dict__
    for name in ("case", "activity", "resource", "ts_us", "source_row", "case_names", "activity_names", "bounds"):
        assert np.array_equal(getattr(handed, name), getattr(fresh, name)), name
        assert getattr(handed, name).dtype == getattr(fresh, name).dtype, name
