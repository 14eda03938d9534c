"""The interactive layer without a browser: the vendored script, the JSON each map carries (hover
numbers and finding places, against the graph's and the findings' own tables), escaping, and the
inline SVG charts against independent recounts of the sample log."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.core import formatting
from salesmining.datasets import SAMPLE_COLUMNS
from salesmining.present import charts
from salesmining.present.interactive import VENDORED, assets_html, interactive_map, json_script, map_data
from salesmining.present.maps import node_id

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
KW = dict(SAMPLE_COLUMNS)
ASSETS = resources.files("salesmining.present").joinpath("assets")


@pytest.fixture(scope="module")
def diagnosis() -> sm.Diagnosis:
    return sm.diagnose(sm.read_csv(SAMPLES / "opportunities.csv", **KW), SAMPLES / "stages.yaml")  # type: ignore[arg-type]


def test_vendored_script_is_the_published_file_with_its_licence() -> None:
    for name, (package, version, licence, sha256) in VENDORED.items():
        data = ASSETS.joinpath(name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha256, name
        assert data.startswith(f"// {package} v{version}".encode()), name
        notice = ASSETS.joinpath(f"{package}.LICENSE").read_text(encoding="utf-8")
        assert "Redistribution and use in source and binary forms" in notice  # BSD-2-Clause text
        assert licence == "BSD-2-Clause"
        readme = ASSETS.joinpath("README.md").read_text(encoding="utf-8")
        assert sha256 in readme and version in readme
    page = assets_html()
    assert "</script" not in ASSETS.joinpath("svg-pan-zoom.min.js").read_text(encoding="utf-8").lower()
    assert page.count("<script>") == 2
    # nothing is fetched: the only addresses are XML namespace names and the project's home in a comment
    addresses = set(re.findall(r"https?://[^\s\"'*]+", page))
    assert {a for a in addresses if not a.startswith("http://www.w3.org/")} == {"https://github.com/bumbu/svg-pan-zoom"}
    assert "XMLHttpRequest" not in page and "fetch(" not in page


@pytest.mark.parametrize(
    "value",
    [
        "</script><script>alert(1)</script>",
        "</SCRIPT >",
        "<!-- <script>",
        "a\u2028b\u2029c",
        "& &amp; <b>",
        "报价 → 签署",
    ],
)
def test_json_block_cannot_be_closed_by_data(value: str) -> None:
    block = json_script({"name": value, "list": [value]})
    body = block[block.index(">") + 1 : -len("</script>")]
    assert "<" not in body and ">" not in body and "\u2028" not in body
    assert json.loads(body) == {"name": value, "list": [value]}  # JSON.parse gives the value back


@pytest.mark.needs_dot
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_map_data_describes_every_node_edge_and_finding(diagnosis: sm.Diagnosis) -> None:
    g = diagnosis.graph
    data = json.loads(json.dumps(map_data(g, diagnosis.findings)))
    nodes = g.nodes.set_index("activity")
    for a, row in nodes.iterrows():
        text = data["nodes"][node_id(str(a))]
        assert (
            text.startswith(str(a))
            and f"{int(row['events']):,} events" in text
            and f"{int(row['cases']):,} cases" in text
        )
    edges = g.edges
    for r in edges.itertuples():
        text = data["edges"][f"{node_id(r.source)}->{node_id(r.target)}"]
        assert f"{int(r.count):,} transitions" in text
        assert formatting.hours(r.wait_median_s / 3600) in text
    # every finding: its places from the structured columns, its example cases, in rank order
    f = diagnosis.findings.to_frame()
    assert [x["rank"] for x in data["findings"]] == f["rank"].tolist()
    for x, r in zip(data["findings"], f.to_dict("records"), strict=True):
        assert x["cases"] == list(r["example_cases"])
        if r["activity"] is not None and pd.notna(r["activity"]):
            assert x["nodes"][0] == node_id(r["activity"])
        if r["from_activity"] is not None and pd.notna(r["from_activity"]):
            assert x["edges"] == [f"{node_id(r['from_activity'])}->{node_id(r['to_activity'])}"]
    # the keys match what Graphviz draws: node titles and "tail->head" edge titles
    svg = sm.present.maps.svg_text(g.to_dot(stages=diagnosis.stages, findings=diagnosis.findings))
    # edges routed through a port (skips on one side, moves back on the other) are titled "tail:e->head:e"
    titles = {
        re.sub(r":[nsewc]{1,2}\b", "", t) for t in re.findall(r"<title>([^<]*)</title>", svg.replace("&#45;&gt;", "->"))
    }
    assert {k for k in data["nodes"] if k in titles} >= {node_id(str(a)) for a in nodes.index}
    assert {f"{node_id(r.source)}->{node_id(r.target)}" for r in edges.itertuples()} <= titles


def test_map_markup_keeps_the_static_svg_fluid() -> None:
    svg = '<svg width="2032pt" height="1006pt" viewBox="0 0 2032 1006"><g id="a1"><text width="3">x</text></g></svg>'
    out = interactive_map(svg, {"nodes": {}, "edges": {}, "findings": []})
    assert '<svg viewBox="0 0 2032 1006">' in out and '<text width="3">' in out  # only the outer size goes
    assert 'class="sm-map-data"' in out and "sm-focus" in out


@pytest.mark.needs_dot
@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_report_inlines_the_assets_once_and_draws_no_matplotlib(diagnosis: sm.Diagnosis) -> None:
    page = diagnosis.html()
    assert page.count("svg-pan-zoom 3.6.2") == 1
    assert page.count('class="sm-map"') == 2  # frequency and waiting-time maps
    ranks = diagnosis.findings.to_frame()["rank"].tolist()
    assert re.findall(r'class="finding [a-z]+" data-sm-finding="(\d+)"', page) == [str(r) for r in ranks]
    assert "matplotlib" not in page  # the charts are the inline SVG below


# --- inline SVG charts, against recounts from the raw CSV -----------------------------------------
def _raw() -> pd.DataFrame:
    raw = pd.read_csv(SAMPLES / "opportunities.csv")
    raw["t"] = pd.to_datetime(raw["Timestamp"], utc=True)
    return raw.sort_values(["Opportunity ID", "t"], kind="stable")


def test_funnel_bars_are_proportional_to_the_cases_that_reached_each_stage(diagnosis: sm.Diagnosis) -> None:
    funnel = diagnosis.kpis.funnel
    svg = charts.funnel_svg(funnel)
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]
    # recount: cases that recorded the stage or a later stage, or won (the funnel's definition)
    raw = _raw()
    model = diagnosis.stages
    order = {s: i for i, s in enumerate(model.stages)}
    furthest = raw.assign(o=raw["Activity"].map(order)).groupby("Opportunity ID")["o"].max()
    won = set(raw.loc[raw["Activity"].isin(model.won), "Opportunity ID"])
    reached = [int(((furthest >= i) | furthest.index.isin(list(won))).sum()) for i in range(len(model.stages))]
    assert funnel["reached"].tolist() == reached
    assert np.allclose(np.array(widths) / widths[0], np.array(reached) / reached[0], atol=0.01)
    for s in model.stages:
        assert f">{s}</text>".replace("&", "&amp;") in svg


def test_time_in_stage_boxes_show_the_medians_of_the_visits(diagnosis: sm.Diagnosis) -> None:
    dwell = diagnosis.series["stage_dwell"]
    svg = charts.time_in_stage_svg(dwell, diagnosis.stages.stages, sla_hours={"Lead": 24.0})
    medians = dwell.groupby("stage")["dwell_hours"].median()
    for s in diagnosis.stages.stages:
        assert f"median {formatting.hours(medians[s])}" in svg
    # the same medians as the KPI table computes on its own
    tis = diagnosis.kpis.time_in_stage.set_index("stage")["median_hours"]
    assert np.allclose(medians.reindex(tis.index), tis, rtol=1e-9)
    assert svg.count('stroke="#c53030"') == 1  # one SLA marker


def test_spectrum_counts_and_dotted_chart_legend_match_the_raw_log(diagnosis: sm.Diagnosis) -> None:
    raw = _raw()
    nxt = raw.groupby("Opportunity ID")["Activity"].shift(-1)
    seg = diagnosis.series["segments"]
    svg = charts.spectrum_svg(seg)
    st = diagnosis.stages.stages
    for a, b in itertools.pairwise(st):
        n = int(((raw["Activity"] == a) & (nxt == b)).sum())
        assert f"{a} → {b}".replace("&", "&amp;") + f'<tspan fill="#57606a" font-weight="400">  {n:,} times' in svg
    dotted = charts.dotted_svg(diagnosis.series["dotted"])
    top = raw["Activity"].value_counts().index[:12]
    legend = re.findall(r'<title>([^<]*)</title><rect x="[\d.]+" y="[\d.]+" width="12"', dotted)
    assert legend == [a.replace("&", "&amp;") for a in top]
    assert f"{raw['Opportunity ID'].nunique():,} cases" in dotted


def test_charts_fit_any_width_and_escape_names() -> None:
    evil = "</text><script>x</script>" + "very long stage name " * 5
    funnel = pd.DataFrame(
        {"stage": [evil, "B"], "reached": [10, 5], "share_of_cases": [1.0, 0.5], "conversion": [0.5, None]}
    )
    dwell = pd.DataFrame({"stage": [evil] * 3 + ["B"], "dwell_hours": [1.0, 2.0, 3.0, 0.0]})
    wip = pd.DataFrame(
        {
            "period": pd.date_range("2024-01-01", periods=4, freq="W", tz="UTC").repeat(2),
            "stage": [evil, "B"] * 4,
            "cases": range(8),
        }
    )
    for svg in (
        charts.funnel_svg(funnel),
        charts.time_in_stage_svg(dwell, [evil, "B"]),
        charts.wip_svg(wip, [evil, "B"]),
        charts.funnel_svg(funnel.iloc[:0]),
        charts.dotted_svg(pd.DataFrame({"case_rank": [], "timestamp": [], "activity": []})),
    ):
        assert "<script" not in svg and svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 880 ')
        assert 'width="100%"' in svg
        sizes = [float(x) for x in re.findall(r'font-size="([\d.]+)"', svg)]
        assert min(sizes) >= 13  # ≥ 10 px down to a 680 px wide box
