"""Hostile names from a CRM export come out inert everywhere: HTML, SVG/DOT, CSV/Excel, JSON, terminal."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import salesmining as sm
from salesmining.cli import main

SCRIPT = "<script>alert(1)</script>"
STAGES = [
    f"Lead {SCRIPT}",
    '=HYPERLINK("http://evil.example","click")',
    'Quote "A" \\ {x|y} <b>bold</b>',
    "node [shape=box]; edge -> graph",
    "+SUM(A1:A9)",
]
WON, LOST = "@Won\x1b[31m", "-Lost"
OWNERS = ["=cmd|' /C calc'!A0", f"{SCRIPT}owner", 'o\'brien "q"']


def _hostile_frame() -> pd.DataFrame:
    rows = []
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    for i in range(40):
        case = f"=1+{i}" if i % 3 == 0 else f"{SCRIPT}{i}"
        path = STAGES if i % 4 else [STAGES[0], STAGES[2], STAGES[1], STAGES[2], STAGES[3]]
        end = WON if i % 2 else LOST
        for j, act in enumerate([*path, end]):
            rows.append(
                {
                    "case": case,
                    "act": act,
                    "t": (t0 + pd.Timedelta(days=i, hours=7 * j + (i % 5))).isoformat(),
                    "owner": OWNERS[(i + j) % 3],
                    "segment": "@SUM(1)" if i % 2 else "<i>SMB</i>",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def diagnosis() -> sm.Diagnosis:
    log = sm.from_dataframe(
        _hostile_frame(), case="case", activity="act", timestamp="t", resource="owner", case_attributes=["segment"]
    )
    model = sm.StageModel(STAGES, outcomes={"won": [WON], "lost": [LOST]}, allowed_backtracks=[(STAGES[2], STAGES[1])])
    return sm.diagnose(log, model)


def test_html_report_and_cards_escape_every_name(diagnosis: sm.Diagnosis, tmp_path: Path) -> None:
    html = diagnosis.html()
    for part in (diagnosis._repr_html_(), diagnosis.findings._repr_html_(), diagnosis.log._repr_html_(), html):
        assert SCRIPT not in part
        assert "<b>bold</b>" not in part and "<i>SMB</i>" not in part
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_maps_keep_every_name_inside_its_label(diagnosis: sm.Diagnosis) -> None:
    import subprocess

    from salesmining.present.maps import node_id, svg_text

    dot = diagnosis.graph.to_dot(stages=diagnosis.stages, findings=diagnosis.findings)
    svg = svg_text(dot)
    assert "<script" not in svg.lower()
    assert "<b>bold</b>" not in svg
    # Graphviz's own reading of the DOT: exactly one node per activity (plus the start, end and
    # legend markers) — no name broke out of its label into statements of its own
    plain = subprocess.run(["dot", "-Tplain"], input=dot.source, capture_output=True, text=True, check=True).stdout
    drawn = sorted(line.split()[1] for line in plain.splitlines() if line.startswith("node "))
    expected = sorted([*(node_id(a) for a in diagnosis.graph.nodes["activity"]), "__start__", "__end__", "__legend__"])
    assert drawn == expected


def test_spreadsheet_exports_run_no_formula(diagnosis: sm.Diagnosis, tmp_path: Path) -> None:
    starts = ("=", "+", "-", "@")
    for p in diagnosis.write_tables(tmp_path / "csv"):
        frame = pd.read_csv(p, dtype=str, keep_default_na=False)
        for col in frame.columns:
            bad = [v for v in frame[col] if v.startswith(starts) and not _is_number(v)]
            assert bad == [], f"{p.name}:{col} holds formula-like text {bad[:3]}"
    pytest.importorskip("openpyxl")
    import openpyxl

    (book,) = diagnosis.write_tables(tmp_path / "xlsx", format="xlsx")
    wb = openpyxl.load_workbook(book)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(starts) or _is_number(cell.value), cell.value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_json_keeps_names_as_data(diagnosis: sm.Diagnosis) -> None:
    payload = json.loads(json.dumps(diagnosis.to_dict(), ensure_ascii=False))
    text = json.dumps(payload, ensure_ascii=False)
    assert SCRIPT in text  # data stays data in JSON: the consumer escapes for its own output
    assert "\x1b" not in text  # control characters are \\u-escaped by JSON


def test_terminal_output_holds_no_control_sequences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "hostile.csv"
    _hostile_frame().to_csv(csv, index=False)
    model = tmp_path / "stages.yaml"
    sm.StageModel(STAGES, outcomes={"won": [WON], "lost": [LOST]}).to_yaml(model)
    code = main(
        [
            "diagnose",
            str(csv),
            "--case",
            "case",
            "--activity",
            "act",
            "--timestamp",
            "t",
            "--resource",
            "owner",
            "--stages",
            str(model),
            "-o",
            str(tmp_path / "r.html"),
        ]
    )
    out = capsys.readouterr()
    assert code in (0, 5), out.err
    for stream in (out.out, out.err):
        assert "\x1b" not in stream
        assert all(ch.isprintable() or ch == "\n" for ch in stream)
