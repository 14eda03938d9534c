"""The reports in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Every page must open without a console error, a page error or a dialog; the map zooms; hovering a
node shows its numbers; clicking a finding highlights its place on the map and lists its example
cases, all checked against the diagnosis computed in Python. With ``SALESMINING_SCREENSHOTS=DIR``
the screenshots of ``docs/img`` are written there.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import salesmining as sm
from salesmining.datasets import SAMPLE_COLUMNS
from salesmining.present.maps import node_id
from salesmining.present.pdf import CHROMIUM_FLAGS, find_chromium
from salesmining.present.report import write_text

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
KW = {**SAMPLE_COLUMNS, "case_attributes": "auto"}
CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.needs_dot,
    pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium (scripts/run.sh does as root)"),
]
playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
)
SHOTS = os.environ.get("SALESMINING_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with tempfile.TemporaryDirectory(prefix="salesmining-chromium-") as profile, playwright_sync.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=[f for f in CHROMIUM_FLAGS if f != "--headless"],
            viewport={"width": 1280, "height": 1000},
        )
        yield context
        context.close()


class Page:
    """A report opened in the browser, with every console message, page error and dialog kept."""

    def __init__(self, context: Any, path: Path) -> None:
        self.problems: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector(".sm-map.sm-live")

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def check_clean(self) -> None:
        assert self.problems == []


def _diagnosis(log_file: str, stages_file: str) -> sm.Diagnosis:
    log = sm.read_csv(SAMPLES / log_file, **KW)  # type: ignore[arg-type]
    return sm.diagnose(log, SAMPLES / stages_file)


def _zoom_of(page: Page, nth: int = 0) -> float:
    transform = page.js(
        "n => document.querySelectorAll('.sm-live-svg')[n].querySelector('.svg-pan-zoom_viewport')"
        ".getAttribute('transform')",
        nth,
    )
    m = re.match(r"matrix\(([-\d.e]+)", transform or "")
    assert m, transform
    return float(m.group(1))


def _check_zoom(page: Page) -> None:
    """The "+" button and Ctrl + wheel zoom in (the viewport's transform scales up), "fit" goes back."""
    before = _zoom_of(page)
    page.page.locator(".sm-map").first.locator("[data-sm-zoom=in]").click()
    page.page.wait_for_timeout(150)  # svg-pan-zoom applies the transform on the next animation frame
    after_button = _zoom_of(page)
    assert after_button > before * 1.05
    svg = page.page.locator(".sm-live-svg").first
    svg.scroll_into_view_if_needed()
    box = svg.bounding_box()
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.page.keyboard.down("Control")
    page.page.mouse.wheel(0, -200)
    page.page.keyboard.up("Control")
    page.page.wait_for_timeout(150)
    assert _zoom_of(page) == pytest.approx(after_button * 1.25, rel=0.02)  # Ctrl + wheel: one step of 1.25
    page.page.locator(".sm-map").first.locator("[data-sm-zoom=reset]").click()
    page.page.wait_for_timeout(150)
    assert _zoom_of(page) == pytest.approx(before, rel=0.02)


def _check_hover(page: Page, d: sm.Diagnosis) -> None:
    row = d.graph.nodes.sort_values("events", ascending=False).iloc[0]
    node = page.page.locator(f'.sm-live-svg [data-sm-key="{node_id(str(row["activity"]))}"]').first
    node.hover()
    tip = page.page.locator(".sm-map").first.locator(".sm-tip")
    assert tip.is_visible()
    text = tip.inner_text()
    assert str(row["activity"]) in text and f"{int(row['events']):,} events" in text


def _check_findings_click(page: Page, d: sm.Diagnosis) -> None:
    f = d.findings.to_frame()
    # the first finding that sits on a step between two activities, and the first on one activity
    for _, r in pd.concat([f[f["from_activity"].notna()].head(1), f[f["activity"].notna()].head(1)]).iterrows():
        page.page.locator(f'.finding[data-sm-finding="{int(r["rank"])}"] button.sm-show').click()
        page.page.wait_for_timeout(150)
        highlighted = set(
            page.js(
                "() => [...document.querySelectorAll('.sm-live-svg')[0].querySelectorAll('.sm-hl')]"
                ".map(g => g.getAttribute('data-sm-key'))"
            )
        )
        if pd.notna(r["activity"]):
            expected = {node_id(str(r["activity"]))}
        else:
            a, b = node_id(str(r["from_activity"])), node_id(str(r["to_activity"]))
            expected = {a, b, f"{a}->{b}"}
        drawn = set(
            page.js(
                "() => [...document.querySelectorAll('.sm-live-svg')[0].querySelectorAll('[data-sm-key]')]"
                ".map(g => g.getAttribute('data-sm-key'))"
            )
        )
        note = page.page.locator(".sm-map").first.locator(".sm-focus-note").inner_text()
        if expected - drawn:  # the abstraction hid part of the place: the panel says so
            assert "hidden by the abstraction" in note, (r["kind"], r["where"], note)
        else:
            assert note == ""
        assert highlighted == expected & drawn, (r["kind"], r["where"])
        focus = page.page.locator(".sm-map").first.locator(".sm-focus")
        assert focus.is_visible()
        assert focus.locator(".sm-focus-cases li").all_inner_texts() == [str(c) for c in r["example_cases"]]
        assert f"#{int(r['rank'])}" in focus.locator(".sm-focus-title").inner_text()
        # the map zoomed in on the place
        assert _zoom_of(page) > 1.0
    # the summary table's rows select too, and "clear" ends the highlight
    page.page.locator('tr[data-sm-finding="1"]').first.click()
    assert page.js("() => document.querySelectorAll('.sm-live-svg')[0].querySelectorAll('.sm-hl').length") > 0
    page.page.locator(".sm-map").first.locator(".sm-focus-close").click()
    assert page.js("() => document.querySelectorAll('.sm-hl').length") == 0


def _check_map_text(page: Page) -> None:
    """Every live map's text at least 10 px high as the reader first sees it (fitted in its box)."""
    page.js("() => document.querySelectorAll('[data-sm-zoom=reset]').forEach(b => b.click())")
    smallest = page.js(
        "() => Math.min(...[...document.querySelectorAll('.sm-live-svg text')]"
        ".map(t => t.getBoundingClientRect().height).filter(h => h > 0))"
    )
    assert smallest >= 10, f"map text {smallest:.1f} px at the report's width"


def _shot(page: Page, name: str, height: int) -> None:
    if not SHOTS:
        return
    folder = Path(SHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    page.page.set_viewport_size({"width": 1280, "height": height})
    page.js("() => window.scrollTo(0, 0)")
    page.page.screenshot(path=str(folder / name))


@pytest.mark.parametrize(
    ("log_file", "stages_file", "shot"),
    [
        ("opportunities.csv", "stages.yaml", "report_sample.png"),
        ("opportunities_zh.csv", "stages_zh.yaml", "report_zh.png"),
    ],
)
def test_report_in_chromium(browser: Any, tmp_path: Path, log_file: str, stages_file: str, shot: str) -> None:
    d = _diagnosis(log_file, stages_file)
    page = Page(browser, d.write_html(tmp_path / "report.html"))
    assert page.js("() => document.querySelectorAll('.sm-map.sm-live').length") == 2  # frequency and waiting times
    _shot(page, shot, 2600)
    _check_zoom(page)
    _check_hover(page, d)
    _check_findings_click(page, d)
    if SHOTS and shot == "report_sample.png":  # a finding selected: its place zoomed in, its cases listed
        page.page.set_viewport_size({"width": 1280, "height": 1000})
        page.page.locator('.finding[data-sm-finding="1"] button.sm-show').click()
        page.page.wait_for_timeout(200)
        page.page.locator(".sm-map").first.screenshot(path=str(Path(SHOTS) / "report_sample_focus.png"))
    # charts fit their boxes: no chart wider than its container, none drawn as an image of text
    overflow = page.js(
        "() => [...document.querySelectorAll('.sm-chart svg')].filter(s => s.getBoundingClientRect().width >"
        " s.parentElement.getBoundingClientRect().width + 1).length"
    )
    assert overflow == 0
    smallest = page.js(
        "() => Math.min(...[...document.querySelectorAll('.sm-chart svg text')]"
        ".map(t => t.getBoundingClientRect().height).filter(h => h > 0))"
    )
    assert smallest >= 10  # text of the charts never below 10 px at the report's width
    _check_map_text(page)
    page.check_clean()


def test_comparison_report_in_chromium(browser: Any, tmp_path: Path) -> None:
    before = sm.read_csv(SAMPLES / "opportunities_before.csv", **KW)  # type: ignore[arg-type]
    after = sm.read_csv(SAMPLES / "opportunities_after.csv", **KW)  # type: ignore[arg-type]
    c = sm.compare(before, after, SAMPLES / "stages.yaml", n_boot=200)
    page = Page(browser, c.write_html(tmp_path / "comparison.html"))
    assert page.js("() => document.querySelectorAll('.sm-map.sm-live').length") == 2  # before and after
    _shot(page, "report_comparison.png", 1800)
    _check_zoom(page)
    page.check_clean()


def test_notebook_output_of_a_map_is_interactive(browser: Any, tmp_path: Path) -> None:
    d = _diagnosis("opportunities.csv", "stages.yaml")
    # two outputs on one page, as in a notebook: the script is included twice and runs twice
    body = d.graph._repr_html_() + d._repr_html_()
    page = Page(browser, write_text(tmp_path / "nb.html", f"<!DOCTYPE html><meta charset='utf-8'>{body}"))
    assert page.js("() => document.querySelectorAll('.sm-map.sm-live').length") == 2
    _check_zoom(page)
    page.page.locator('tr[data-sm-finding="1"]').first.click()
    assert page.js("() => document.querySelectorAll('.sm-map')[1].querySelectorAll('.sm-hl').length") > 0
    page.check_clean()


def test_hostile_names_stay_inert_in_the_browser(browser: Any, tmp_path: Path) -> None:
    evil = "</script><script>alert('x')</script>"
    stages = [f"Lead {evil}", "Qualify <b>now</b>", "Quote & </SCRIPT >"]
    rows = []
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    for i in range(30):
        path = stages if i % 3 else [stages[0], stages[2], stages[1], stages[2]]
        for j, act in enumerate([*path, "Won" if i % 2 else "Lost"]):
            rows.append(
                {"case": f"c{i}{evil if i == 1 else ''}", "act": act, "t": t0 + pd.Timedelta(days=i, hours=9 * j + i)}
            )
    log = sm.from_dataframe(pd.DataFrame(rows), case="case", activity="act", timestamp="t")
    d = sm.diagnose(log, sm.StageModel(stages, outcomes={"won": ["Won"], "lost": ["Lost"]}))
    page = Page(browser, d.write_html(tmp_path / "evil.html"))
    assert page.js("() => document.querySelectorAll('body script:not([type])').length") == 0  # nothing broke out
    for r in d.findings.to_frame().head(3).itertuples():
        page.page.locator(f'.finding[data-sm-finding="{r.rank}"] button.sm-show').click()
        shown = page.page.locator(".sm-map").first.locator(".sm-focus-cases li").all_inner_texts()
        assert shown == [str(c) for c in r.example_cases]  # the names arrive intact, as text
    page.check_clean()


REAL_LOGS = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))


def real_log(relative: str) -> Path:
    p = REAL_LOGS / relative
    if not p.exists():
        pytest.skip(f"real log {relative} not found under {REAL_LOGS} (see shared/real_logs/SOURCES.md)")
    return p


def _real_log_diagnosis(which: str) -> sm.Diagnosis:
    if which == "bpic2012":
        log = sm.read_xes(real_log("bpic2012/BPI_Challenge_2012.xes.gz"))
        model = sm.StageModel(
            ["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "A_ACCEPTED", "A_FINALIZED"],
            outcomes={"won": ["A_ACTIVATED"], "lost": ["A_DECLINED", "A_CANCELLED"]},
            anywhere=["A_APPROVED", "A_REGISTERED"],
            name="BPIC 2012 application funnel",
        )
        return sm.diagnose(log, model)
    history = real_log("salesforce/OpportunityHistory_us_locale.csv")
    log = sm.read_salesforce(history, opportunities=real_log("salesforce/Opportunity_us_locale.csv"))
    return sm.diagnose(log, sm.StageModel.infer(log))


@pytest.mark.real_logs
@pytest.mark.slow
@pytest.mark.parametrize(
    ("which", "shot"), [("bpic2012", "report_bpic2012.png"), ("salesforce", "report_salesforce.png")]
)
def test_real_log_reports_in_chromium(browser: Any, tmp_path: Path, which: str, shot: str) -> None:
    """A large real log (BPIC 2012: 262,200 events, 24 activities, abstracted by default) and a
    Salesforce demo org's export: the report opens clean, its maps are live and zoom, every map's
    text is at least 10 px at the report's width, and a finding's click highlights its place."""
    d = _real_log_diagnosis(which)
    page = Page(browser, d.write_html(tmp_path / "report.html"))
    assert page.js("() => document.querySelectorAll('.sm-map.sm-live').length") >= 1
    _check_map_text(page)
    _shot(page, shot, 2600)
    _check_zoom(page)
    if len(d.findings.to_frame()):
        _check_findings_click(page, d)
    page.check_clean()
