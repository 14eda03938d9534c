"""Natural input: durations in words (English, Chinese), an approval SLA given with the stage SLAs,
approval decisions in the CRMs' and people's own words, and the matplotlib CJK font cache."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import salesmining as sm
from salesmining.analysis.stages import parse_duration as stages_parse_duration
from salesmining.core.durations import parse_duration
from salesmining.core.errors import OptionError
from salesmining.present import charts

H, MIN, D = pd.Timedelta(hours=1), pd.Timedelta(minutes=1), pd.Timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 days", 3 * D),
        ("2 weeks", 14 * D),
        ("36 hours", 36 * H),
        ("90 minutes", 90 * MIN),
        ("1 day 12 hours", 36 * H),
        ("1 day, 12 hours", 36 * H),
        ("1 day and 12 hours", 36 * H),
        ("1 Day 30 Minutes", D + 30 * MIN),
        ("1 week 2 days", 9 * D),
        ("1.5 hrs", 90 * MIN),
        ("45 secs", pd.Timedelta(seconds=45)),
        ("2 wks", 14 * D),
        ("3天", 3 * D),
        ("3 天", 3 * D),
        ("2周", 14 * D),
        ("2个星期", 14 * D),
        ("36小时", 36 * H),
        ("36个小时", 36 * H),
        ("90分钟", 90 * MIN),
        ("1天12小时", 36 * H),
        ("1天12小时30分钟", 36 * H + 30 * MIN),
        ("30秒", pd.Timedelta(seconds=30)),
        # the forms accepted before words
        ("1d12h", 36 * H),
        ("1d 12h", 36 * H),
        ("90min", 90 * MIN),
        ("2w", 14 * D),
        ("P2D", 2 * D),
        ("PT36H", 36 * H),
        ("P1DT12H", 36 * H),
    ],
)
def test_durations_in_words(text: str, expected: pd.Timedelta) -> None:
    assert parse_duration(text) == expected
    assert stages_parse_duration(text) == expected
    assert sm.StageModel(["A"], sla={"A": text}).sla["A"] == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("3 months", "years and months have no fixed length"),
        ("1 year", "years and months have no fixed length"),
        ("3个月", "years and months have no fixed length"),
        ("2M", "ambiguous (M = months or minutes?)"),
        ("3 dayz", "cannot read '3 dayz'"),
        ("three days", "cannot read 'three days'"),
        ("-3 days", "cannot read '-3 days'"),
        ("0 days", "must be a positive duration"),
        ("days", "cannot read 'days'"),
    ],
)
def test_unreadable_durations_say_why(text: str, fragment: str) -> None:
    with pytest.raises(OptionError) as core:
        parse_duration(text)
    assert fragment in str(core.value)
    with pytest.raises(sm.StageModelError) as stages:  # the stage model's error class, as before
        stages_parse_duration(text, what="sla of 'A'")
    assert fragment in str(stages.value) and str(stages.value).startswith("sla of 'A': ")


def test_timedeltas_pass_through() -> None:
    assert parse_duration(dt.timedelta(hours=5)) == 5 * H
    assert parse_duration(pd.Timedelta("2 days")) == 2 * D


def test_yaml_stage_model_reads_words(tmp_path: Path) -> None:
    p = tmp_path / "stages.yaml"
    p.write_text(
        "stages: [线索, 报价]\napprovals: {折扣审批: 报价}\nsla: {线索: 3天, 报价: 1 day 12 hours}\n"
        "approval_sla: {折扣审批: 36小时}\n",
        encoding="utf-8",
    )
    m = sm.StageModel.from_yaml(p)
    assert dict(m.sla) == {"线索": 3 * D, "报价": 36 * H}
    assert dict(m.approval_sla) == {"折扣审批": 36 * H}
    assert m.to_dict()["sla"] == {"线索": "3d", "报价": "36h"}


APPROVALS = {"Deal Desk Review": "Proposal"}


def test_an_sla_on_an_approval_step_is_its_approval_sla() -> None:
    m = sm.StageModel(["Lead", "Proposal"], approvals=APPROVALS, sla={"Lead": "2d", "Deal Desk Review": "3d"})
    assert dict(m.sla) == {"Lead": 2 * D}
    assert dict(m.approval_sla) == {"Deal Desk Review": 3 * D}
    same = sm.StageModel(
        ["Lead", "Proposal"], approvals=APPROVALS, sla={"Lead": "2d"}, approval_sla={"Deal Desk Review": "72h"}
    )
    assert m == same
    agreeing = sm.StageModel(
        ["Lead", "Proposal"],
        approvals=APPROVALS,
        sla={"Deal Desk Review": "3 days"},
        approval_sla={"Deal Desk Review": "3d"},
    )
    assert dict(agreeing.approval_sla) == {"Deal Desk Review": 3 * D}


def test_conflicting_or_unknown_sla_names_approval_sla() -> None:
    with pytest.raises(sm.StageModelError, match="two targets \\(3d and 2d\\); keep it in approval_sla only"):
        sm.StageModel(
            ["Lead", "Proposal"],
            approvals=APPROVALS,
            sla={"Deal Desk Review": "3d"},
            approval_sla={"Deal Desk Review": "2d"},
        )
    with pytest.raises(sm.StageModelError, match="targets of approval steps go in approval_sla"):
        sm.StageModel(["Lead", "Proposal"], approvals=APPROVALS, sla={"Legal Review": "3d"})


def test_an_approval_sla_given_in_sla_drives_the_findings() -> None:
    # D1 waits 4 days for the approval, D2 1 day: over a 3-day target only D1.
    rows = [
        ("D1", "Lead", "2024-01-01"),
        ("D1", "Proposal", "2024-01-02"),
        ("D1", "Deal Desk Review", "2024-01-06"),
        ("D1", "Won", "2024-01-07"),
        ("D2", "Lead", "2024-01-01"),
        ("D2", "Proposal", "2024-01-02"),
        ("D2", "Deal Desk Review", "2024-01-03"),
        ("D2", "Won", "2024-01-04"),
    ]
    df = pd.DataFrame(rows, columns=["case", "activity", "timestamp"])
    log = sm.from_dataframe(df, case="case", activity="activity", timestamp="timestamp", timezone="UTC")
    kw: dict[str, Any] = {"approvals": APPROVALS, "outcomes": {"won": ["Won"]}}
    via_sla = sm.StageModel(["Lead", "Proposal"], sla={"Deal Desk Review": "3 days"}, **kw)
    via_approval_sla = sm.StageModel(["Lead", "Proposal"], approval_sla={"Deal Desk Review": "3d"}, **kw)
    a = sm.find_bottlenecks(log, via_sla).to_frame()
    b = sm.find_bottlenecks(log, via_approval_sla).to_frame()
    pd.testing.assert_frame_equal(a, b)
    over = a[a["rule"] == "approval_over_sla"]
    assert len(over) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("通过", "approved"),
        ("批准", "approved"),
        ("同意", "approved"),
        ("驳回", "rejected"),
        ("拒绝", "rejected"),
        ("不通过", "rejected"),
        ("Approved", "approved"),
        ("Rejected", "rejected"),
        ("Removed", "recalled"),
        ("Recalled", "recalled"),
        ("Pending", "pending"),
        ("NoResponse", "pending"),
        ("Aprobado", "approved"),
        ("Rechazado", "rejected"),
        ("approuvé", "approved"),
        ("abgelehnt", "rejected"),
        ("  APPROVED ", "approved"),
        ("not_approved", "rejected"),
        ("Escalated", "escalated"),
    ],
)
def test_approval_results_in_their_own_words(raw: str, expected: str) -> None:
    df = pd.DataFrame(
        {
            "case": ["D1", "D1"],
            "activity": ["Proposal", "Discount Approval"],
            "timestamp": ["2024-01-01 10:00", "2024-01-02 10:00"],
            "result": ["", raw],
        }
    )
    log = sm.from_dataframe(
        df, case="case", activity="activity", timestamp="timestamp", approval_result="result", timezone="UTC"
    )
    ev = log.to_frame().sort_values("source_row")
    assert ev["approval_result"].isna().tolist() == [True, False]
    assert ev["approval_result"].iloc[1] == expected


# --- the matplotlib font cache ------------------------------------------------------------------
@dataclasses.dataclass
class _Entry:
    name: str
    fname: str


class _FakeManager:
    def __init__(self, entries: list[_Entry], families: dict[str, str]) -> None:
        self.ttflist = list(entries)
        self.families = families  # what addfont finds in each file
        self.added: list[str] = []

    def addfont(self, path: str) -> None:
        self.added.append(path)
        self.ttflist.append(_Entry(self.families[path], path))


CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, entries: list[_Entry]) -> tuple[_FakeManager, list[Any]]:
    import matplotlib
    from matplotlib import font_manager

    fake = _FakeManager(entries, {CJK: "Noto Sans CJK JP"})
    dumps: list[Any] = []
    monkeypatch.setattr(font_manager, "fontManager", fake)
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [DEJAVU, CJK])
    monkeypatch.setattr(font_manager, "json_dump", lambda fm, path: dumps.append((fm, Path(path))))
    monkeypatch.setattr(matplotlib, "get_cachedir", lambda: str(tmp_path))
    monkeypatch.setattr(charts, "_font_cache_checked", False)
    return fake, dumps


def test_a_stale_font_cache_is_refreshed_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake, dumps = _fake(monkeypatch, tmp_path, [_Entry("DejaVu Sans", DEJAVU)])
    assert charts._fonts() == ["Noto Sans CJK JP", "DejaVu Sans"]
    assert fake.added == [CJK]  # only the CJK file the cache did not know
    assert len(dumps) == 1 and dumps[0][0] is fake and dumps[0][1].parent == tmp_path
    assert dumps[0][1].name.startswith("fontlist-v")
    fake.ttflist = [_Entry("DejaVu Sans", DEJAVU)]  # even if it went stale again: once per process
    assert charts._fonts() == ["DejaVu Sans"] and fake.added == [CJK] and len(dumps) == 1


def test_a_cache_that_knows_cjk_is_left_alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake, dumps = _fake(monkeypatch, tmp_path, [_Entry("DejaVu Sans", DEJAVU), _Entry("Noto Sans CJK SC", CJK)])
    assert charts._fonts() == ["Noto Sans CJK SC", "DejaVu Sans"]
    assert fake.added == [] and dumps == []


def test_no_cjk_fonts_installed_means_no_rebuild(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from matplotlib import font_manager

    fake, dumps = _fake(monkeypatch, tmp_path, [_Entry("DejaVu Sans", DEJAVU)])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [DEJAVU])
    assert charts._fonts() == ["DejaVu Sans"]
    assert fake.added == [] and dumps == []
