"""The gap table's and the visits' text columns as categoricals, and the rules' text tests on codes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.analysis import visits as _visits
from salesmining.analysis.resources import resource_model
from salesmining.core.schema import ACTIVITY, APPROVAL_RESULT, CASE, LIFECYCLE, RESOURCE, SOURCE_ROW
from salesmining.datasets import SAMPLE_COLUMNS
from salesmining.engine.aggregations import TS
from salesmining.findings.codes import same_text, text_in

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"
STR = pd.StringDtype("pyarrow", na_value=np.nan)


def _read(name: str) -> sm.EventLog:
    return sm.read_csv(SAMPLES / f"{name}.csv", **SAMPLE_COLUMNS)


def _lifecycle_log() -> tuple[sm.EventLog, sm.StageModel]:
    rows = [
        ("Ä-1", "Offer", "2024-01-01 09:00", "ann", "complete"),
        ("Ä-1", "Lead", "2024-01-01 09:00", "ann", "complete"),
        ("Ä-1", "Prüfung", "2024-01-02 09:00", "björn", "schedule"),
        ("Ä-1", "Prüfung", "2024-01-03 09:00", "中文", "START"),
        ("Ä-1", "Won", "2024-01-04 09:00", None, "complete"),
        ("B", "Lead", "2024-01-01 10:00", "björn", "COMPLETE"),
        ("B", "Offer", "2024-01-05 10:00", "ann", "complete"),
        ("B", "Lead", "2024-01-06 10:00", "ann", None),
        ("B", "Lost", "2024-01-06 10:00", "ann", "complete"),
    ]
    df = pd.DataFrame(rows, columns=["id", "act", "t", "who", "life"])
    log = sm.from_dataframe(
        df, case="id", activity="act", timestamp="t", resource="who", lifecycle="life", timezone="UTC"
    )
    model = sm.StageModel(["Lead", "Offer"], outcomes={"won": ["Won"], "lost": ["Lost"]}, anywhere=["Prüfung"])
    return log, model


def _logs() -> list[tuple[sm.EventLog, sm.StageModel]]:
    return [
        (_read("opportunities_artefacts"), sm.StageModel.from_yaml(SAMPLES / "stages.yaml")),
        (_read("opportunities_zh"), sm.StageModel.from_yaml(SAMPLES / "stages_zh.yaml")),
        _lifecycle_log(),
    ]


def _text(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else str(v) for v in values.astype("object")]


@pytest.mark.parametrize("k", [0, 1, 2])
def test_gap_table_categoricals_decode_to_a_pandas_recount(k: int) -> None:
    log, model = _logs()[k]
    gaps = _visits.event_gaps(log, model)
    for col in _visits.TEXT_COLUMNS:
        dtype = gaps[col].dtype
        assert isinstance(dtype, pd.CategoricalDtype), col
        cats = list(dtype.categories)
        assert cats == sorted(cats), col  # name order: grouping or sorting by the codes is by the text
    # the recount: the log's events in the table's order (by source row), previous event per case in pandas
    # (the table keeps no source row: its order is the log's events by case, time and tie order)
    c = log._coded
    order = np.lexsort((_visits.coded_tie_order(log, model), c.ts_us, c.case))
    ev = log._events.set_index(SOURCE_ROW).loc[c.source_row[order]].reset_index()
    assert (gaps[TS].to_numpy() == c.ts_us[order]).all()
    assert _text(gaps[CASE]) == _text(ev[CASE])
    assert _text(gaps[ACTIVITY]) == _text(ev[ACTIVITY])
    assert _text(gaps["actor"]) == _text(ev[RESOURCE])
    if LIFECYCLE in ev.columns:
        life = ev[LIFECYCLE].astype("object").map(lambda s: s.lower() if isinstance(s, str) else s)
        assert _text(gaps["lifecycle"]) == _text(life)
    else:
        assert gaps["lifecycle"].isna().all()
    if APPROVAL_RESULT in ev.columns:
        assert _text(gaps["result"]) == _text(ev[APPROVAL_RESULT])
    prev_act = ev[ACTIVITY].astype("object").groupby(ev[CASE].astype("object"), sort=False).shift(1)
    assert _text(gaps["prev_act"]) == _text(prev_act)
    first = prev_act.isna().to_numpy()
    kind = np.asarray(_text(gaps["gap_kind"]), dtype=object)
    assert (kind[first] == "none").all() and set(kind[~first]) <= set(_visits.GAP_KINDS)
    assert set(_text(gaps["handoff_reference"])) <= {"", "step", "activity"}
    assert set(_text(gaps["role"])) <= {"stage", "outcome", "approval", "anywhere", "other"}
    # the owner: the actor where it is neither an approval nor a system user
    actor = np.asarray(_text(gaps["actor"]), dtype=object)
    owner = np.asarray(_text(gaps["owner"]), dtype=object)
    has = owner != None  # noqa: E711
    assert (owner[has] == actor[has]).all()


@pytest.mark.parametrize("k", [0, 1, 2])
def test_both_engines_give_equal_categorical_tables(k: int) -> None:
    log, model = _logs()[k]
    res, ref = resource_model(log), _visits.HandoffReference()
    coded = _visits._event_gaps_coded(log, model, backend="polars", resources=res, handoff=ref)
    other = _visits._event_gaps(log, model, backend="polars", resources=res, handoff=ref)
    pd.testing.assert_frame_equal(coded, other, check_exact=True)
    # on pandas the narwhals engine keeps the sorted rows' labels (and an int64 ``pos``): its text
    # columns are the same categoricals
    text = list(_visits.TEXT_COLUMNS)
    on_pandas = _visits._event_gaps(log, model, backend="pandas", resources=res, handoff=ref)
    pd.testing.assert_frame_equal(coded[text], on_pandas[text].reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("k", [0, 2])
def test_stage_visits_text_columns_are_categoricals_of_the_gap_rows(k: int) -> None:
    log, model = _logs()[k]
    gaps = _visits.event_gaps(log, model)
    v = _visits.stage_visits(gaps, log, model)
    st = np.flatnonzero(gaps["is_stage"].to_numpy() == 1)
    for col, src in (("case", CASE), ("stage", ACTIVITY), ("role", "role"), ("owner", "owner")):
        assert isinstance(v[col].dtype, pd.CategoricalDtype)
        assert _text(v[col]) == _text(gaps[src].iloc[st])
    for col in ("backward_from", "reopen_from"):
        text = _text(v[col])
        assert set(text) - {None} <= set(_text(v["stage"]))


def test_as_text_is_the_str_column() -> None:
    names = np.asarray(sorted(["b", "a", "中文", "Ärger", "😀"]), dtype=object)
    codes = np.array([3, -1, 0, 4, 2, 2, 1])
    cat = pd.Series(_visits._categorical(codes, names), index=np.arange(10, 17), name="x")
    out = _visits.as_text(cat)
    expected = pd.Series([names[c] if c >= 0 else np.nan for c in codes], index=cat.index, name="x", dtype=STR)
    pd.testing.assert_series_equal(out, expected)
    assert out.dtype == pd.Series(["a"]).dtype  # pandas' default text dtype
    pd.testing.assert_series_equal(_visits.as_text(expected.astype("object")), expected)
    pd.testing.assert_series_equal(_visits.as_text(cat.iloc[:0]), expected.iloc[:0])


def test_sorted_categorical_renumbers_to_name_order() -> None:
    out = _visits._sorted_categorical(np.array([0, 1, 2, 0, -1]), ("stage", "outcome", "approval"))
    assert list(out.categories) == ["approval", "outcome", "stage"]
    assert _text(pd.Series(out)) == ["stage", "outcome", "approval", "stage", None]


_VALUES = ["Lead", None, "中文", "Ärger", "lead", "😀", "Lead", "", None, "Angebot"]


def _as_categorical(values: Sequence[object], categories: Sequence[str]) -> pd.Series:
    return pd.Series(pd.Categorical(list(values), categories=list(categories)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "names", [["Lead"], ["中文", "😀"], ["nope"], [], [""], ["Lead", None], ["Ärger", "Angebot", "lead"]]
)
def test_text_in_matches_isin_on_text(names: list[object]) -> None:
    text = pd.Series(_VALUES, dtype=STR)
    expected = text.isin(names).to_numpy(dtype=bool)
    cats = sorted({v for v in _VALUES if v is not None} | {"unused"})
    for col in (text, text.astype("object"), _as_categorical(_VALUES, cats), _as_categorical(_VALUES, cats[::-1])):
        got = text_in(col, names)
        assert got.dtype == bool
        assert got.tolist() == expected.tolist(), col.dtype


def test_same_text_matches_equality_on_text() -> None:
    other = ["Lead", "Lead", "中文", "Arger", None, "😀", "lead", "", None, "Angebot"]
    a, b = pd.Series(_VALUES, dtype=STR), pd.Series(other, dtype=STR)
    expected = (a == b).fillna(False).to_numpy(dtype=bool)
    assert expected.tolist() == [True, False, True, False, False, True, False, True, False, True]
    cats_a = sorted({v for v in _VALUES if v is not None})
    cats_b = sorted({v for v in other if v is not None} | {"only here"})
    pairs = [
        (a, b),
        (a.astype("object"), b.astype("object")),
        (_as_categorical(_VALUES, cats_a), _as_categorical(other, cats_b)),  # different category sets
        (_as_categorical(_VALUES, cats_a), _as_categorical(other, [*cats_a, "Arger"])),
        (_as_categorical(_VALUES, cats_a), b),  # one categorical, one text
    ]
    for x, y in pairs:
        got = same_text(x, y)
        assert got.dtype == bool
        assert got.tolist() == expected.tolist(), (x.dtype, y.dtype)
        assert same_text(y, x).tolist() == expected.tolist()
