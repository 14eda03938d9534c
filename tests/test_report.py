"""Diagnosis and before/after reports: contents, escaping, tables, JSON, significance verdicts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import salesmining as sm
from salesmining.analysis import series as _series
from salesmining.cli import main
from salesmining.datasets import SAMPLE_COLUMNS
from salesmining.present import charts as _charts
from salesmining.present.interactive import assets_html

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
KW = {**SAMPLE_COLUMNS, "case_attributes": "auto"}


@pytest.fixture(scope="module")
def diagnosis() -> sm.Diagnosis:
    log = sm.read_csv(SAMPLES / "opportunities_zh.csv", **KW)  # type: ignore[arg-type]
    return sm.diagnose(log, SAMPLES / "stages_zh.yaml")


def test_report_has_every_section_and_is_self_contained(diagnosis: sm.Diagnosis, tmp_path: Path) -> None:
    p = diagnosis.write_html(tmp_path / "r.html")
    page = p.read_text(encoding="utf-8")
    for section in (
        "Summary",
        "Process map",
        "Intended vs actual",
        "Findings",
        "KPIs and charts",
        "Data quality",
        "Methods",
    ):
        assert f">{section}</h2>" in page, section
    assert 'src="http' not in page and 'href="http' not in page and "<link" not in page  # no network needed
    assert page.count("<svg") >= 5  # the map(s) and the charts, inline
    assert "报价与谈判" in page and "需求分析" in page
    top = diagnosis.findings.to_frame().iloc[0]
    assert str(top["example_cases"][0]) in page  # evidence is in the report
    assert "@media print" in page


def test_summary_repr_html_shows_kpis_findings_and_map(diagnosis: sm.Diagnosis) -> None:
    html = diagnosis._repr_html_()
    assert "win rate" in html and "<svg" in html
    assert diagnosis.findings.to_frame().iloc[0]["kind"].replace("_", " ") in html
    assert "\n" not in repr(diagnosis)


def test_json_contract(diagnosis: sm.Diagnosis) -> None:
    d = json.loads(json.dumps(diagnosis.to_dict()))
    # issue 14: the stage model (inferred or not, and why) and the KPI notes (why n/a) are part of the contract
    assert set(d) == {"log", "kpis", "findings", "conformance", "kpi_notes", "stage_model"}
    assert {"cases", "events", "activities", "rows_read", "rows_rejected"} <= set(d["log"])
    assert d["log"]["cases"] == 400
    assert {
        "win_rate",
        "cycle_time_median_days",
        "cycle_time_p90_days",
        "rework_rate",
        "first_time_right_rate",
        "avg_deal_size",
    } <= set(d["kpis"])
    f0 = d["findings"][0]
    assert {
        "kind",
        "where",
        "cases",
        "share",
        "time_lost_hours",
        "win_rate_effect",
        "example_cases",
        "severity",
    } <= set(f0)
    assert {"fitting_share", "skip_rates", "backtrack_rates"} <= set(d["conformance"])
    assert d["conformance"]["skip_rates"]["需求分析"] == pytest.approx(
        diagnosis.conformance.skip_rates.set_index("stage").loc["需求分析", "share"]
    )


def test_tables_export_csv_and_excel_with_formulas_neutralised(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "id": ["=cmd|' /C calc'!A0", "=cmd|' /C calc'!A0", "b"],
            "act": ["Lead", "+SUM(1)", "Lead"],
            "t": ["2024-01-01Z", "2024-01-02Z", "2024-01-03Z"],
        }
    )
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    d = sm.diagnose(log, sm.StageModel(["Lead", "+SUM(1)"], outcomes={"won": ["W"], "lost": ["L"]}))
    files = d.write_tables(tmp_path / "csv")
    assert {f.name for f in files} >= {"findings.csv", "kpis.csv", "conformance.csv", "variants.csv"}
    conf = (tmp_path / "csv" / "conformance.csv").read_text(encoding="utf-8")
    assert "'=cmd" in conf and "\n=cmd" not in conf
    acts = (tmp_path / "csv" / "activities.csv").read_text(encoding="utf-8")
    assert "'+SUM(1)" in acts
    (xlsx,) = d.write_tables(tmp_path / "xl", format="xlsx")
    import openpyxl

    wb = openpyxl.load_workbook(xlsx)
    assert "conformance" in wb.sheetnames
    values = [c.value for row in wb["conformance"].iter_rows() for c in row]
    assert "'=cmd|' /C calc'!A0" in values
    with pytest.raises(ValueError, match="csv"):
        d.write_tables(tmp_path, format="parquet")


def test_report_escapes_script_in_stage_names(tmp_path: Path) -> None:
    evil = "<script>alert('x')</script>"
    df = pd.DataFrame(
        {
            "id": ["a", "a", "a", "b", "b"],
            "act": ["Lead", evil, "Won", "Lead", "Won"],
            "t": ["2024-01-01Z", "2024-01-05Z", "2024-01-09Z", "2024-01-01Z", "2024-01-02Z"],
        }
    )
    log = sm.from_dataframe(df, case="id", activity="act", timestamp="t")
    model = sm.StageModel(["Lead", evil], outcomes={"won": ["Won"], "lost": ["Lost"]}, sla={evil: "1d"}, name=evil)
    page = sm.diagnose(log, model).html()
    assert evil not in page
    # the only scripts are the report's own (the vendored pan-zoom, the glue) and its JSON data blocks
    own = page.replace(assets_html(), "")
    own = re.sub(r'<script type="application/json" class="sm-map-data">[^<]*</script>', "", own)
    assert "<script" not in own.lower()
    assert "&lt;script&gt;" in page


def test_compare_sample_before_after_finds_the_injected_improvements() -> None:
    before = sm.read_csv(SAMPLES / "opportunities_before.csv", **KW)  # type: ignore[arg-type]
    after = sm.read_csv(SAMPLES / "opportunities_after.csv", **KW)  # type: ignore[arg-type]
    c = sm.compare(before, after, SAMPLES / "stages.yaml", n_boot=1000, seed=1)
    k = c.kpis.set_index("metric")
    # the optimisation cut loops, redundant approvals and slow first responses to about a third
    for metric in (
        "share of cases with loop",
        "share of cases with redundant approval",
        "share of cases with slow response",
        "rework_rate",
    ):
        assert k.loc[metric, "verdict"] == "better", metric
        assert k.loc[metric, "ci_high"] < 0
    # skipping Needs Analysis was left unchanged by the generator: not significant
    assert k.loc["skip_rate", "verdict"] == "no significant change"
    assert k.loc["skip_rate", "ci_low"] < 0 < k.loc["skip_rate", "ci_high"]
    # deltas are after − before of the plain statistics, recomputed here
    conf_b = c.before.conformance.to_frame()
    conf_a = c.after.conformance.to_frame()
    skip_b = (conf_b["skipped"].map(len) > 0).mean()
    skip_a = (conf_a["skipped"].map(len) > 0).mean()
    assert k.loc["skip_rate", "delta"] == pytest.approx(skip_a - skip_b)
    f = c.findings.set_index(["kind", "rule", "where"])
    assert f.loc[("loop", "backward_move", "Quote & Negotiation → Solution Proposal"), "status"] == "better"
    assert "\n" not in repr(c)
    html = c.html()
    assert "95% interval" in html and "no significant change" in html


def test_compare_one_log_split_at_a_date() -> None:
    log = sm.read_csv(SAMPLES / "opportunities.csv", **KW)  # type: ignore[arg-type]
    before, after = log.split(at="2024-07-01")
    assert before.n_cases + after.n_cases == log.n_cases
    c = sm.compare(before, after, SAMPLES / "stages.yaml", n_boot=300)
    assert c.kpis["n_before"].max() <= before.n_cases


def test_charts_draw_from_tidy_series_with_chinese_text() -> None:
    log = sm.read_csv(SAMPLES / "opportunities_zh.csv", **KW)  # type: ignore[arg-type]
    model = sm.StageModel.from_yaml(SAMPLES / "stages_zh.yaml")
    dwell = _series.stage_dwell(log, model)
    assert set(dwell["stage"]) <= set(model.stages)
    svg = _charts.figure_to_svg(_charts.time_in_stage_chart(dwell, model.stages))
    assert "报价与谈判" in svg
    wip = _series.work_in_progress(log, model)
    # recount cases in each stage at three grid points straight from the raw events: a case is in
    # a stage from its entry until its next stage or outcome event (open cases: until the log ends)
    raw = pd.read_csv(SAMPLES / "opportunities_zh.csv")
    raw["t"] = pd.to_datetime(raw["Timestamp"], utc=True)
    marks = raw[raw["Activity"].isin([*model.stages, *model.won, *model.lost])].sort_values(
        ["Opportunity ID", "t"], kind="stable"
    )
    nxt = marks.groupby("Opportunity ID")["t"].shift(-1).fillna(raw["t"].max() + pd.Timedelta(microseconds=1))
    visits = marks.assign(end=nxt)[marks["Activity"].isin(model.stages)]
    for when in wip["period"].drop_duplicates().iloc[[5, 20, -1]]:
        got = wip[wip["period"] == when].set_index("stage")["cases"]
        inside = visits[(visits["t"] <= when) & (visits["end"] > when)]
        expected = inside.groupby("Activity").size().reindex(model.stages, fill_value=0)
        assert got.reindex(model.stages).tolist() == expected.tolist(), when
    seg = _series.transition_segments(log, [(model.stages[0], model.stages[1])])
    ev = log.to_frame()
    nxt = ev.groupby("case:concept:name")["concept:name"].shift(-1)
    assert len(seg) == int(((ev["concept:name"] == model.stages[0]) & (nxt == model.stages[1])).sum())
    png = _charts.figure_to_png(_charts.performance_spectrum(seg), dpi=40)
    assert png[:4] == b"\x89PNG"


def test_cli_diagnose_compare_graph_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    js = tmp_path / "f.json"
    code = main(
        [
            "diagnose",
            str(SAMPLES / "opportunities.csv"),
            "--stages",
            str(SAMPLES / "stages.yaml"),
            "-o",
            str(out),
            "--json",
            str(js),
            "-q",
            "--fail-on",
            "high",
        ]
    )
    assert code == 5  # the sample has high-severity findings
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["log"]["cases"] == 800 and data["findings"]
    assert ">Findings</h2>" in out.read_text(encoding="utf-8")
    cmp_out = tmp_path / "c.html"
    assert (
        main(
            [
                "compare",
                str(SAMPLES / "opportunities_before.csv"),
                str(SAMPLES / "opportunities_after.csv"),
                "--stages",
                str(SAMPLES / "stages.yaml"),
                "-o",
                str(cmp_out),
                "--bootstrap",
                "200",
                "-q",
            ]
        )
        == 0
    )
    assert "95% interval" in cmp_out.read_text(encoding="utf-8")
    dot_out = tmp_path / "m.dot"
    assert (
        main(
            [
                "graph",
                str(SAMPLES / "opportunities.csv"),
                "--stages",
                str(SAMPLES / "stages.yaml"),
                "--findings",
                "-o",
                str(dot_out),
                "-q",
            ]
        )
        == 0
    )
    assert re.search(r"digraph process_map", dot_out.read_text(encoding="utf-8"))
    inferred = tmp_path / "i.html"
    assert main(["diagnose", str(SAMPLES / "opportunities.csv"), "-o", str(inferred), "-q"]) == 0
    assert "stage model inferred from the log" in inferred.read_text(encoding="utf-8")
