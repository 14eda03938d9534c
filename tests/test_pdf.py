"""PDF reports: printed by headless Chromium (or WeasyPrint), several pages, the findings in the
text, maps as vectors; a clear error saying what to install when there is no engine."""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import pytest

import salesmining as sm
from salesmining.cli import main
from salesmining.core.errors import RenderError
from salesmining.datasets import SAMPLE_COLUMNS
from salesmining.present import pdf

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
KW = dict(SAMPLE_COLUMNS)
needs_engine = pytest.mark.skipif(
    pdf.pdf_engine() is None, reason="no PDF engine: install chromium (apt-get install chromium) or weasyprint"
)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def _reader(path: Path) -> Any:
    pypdf = pytest.importorskip("pypdf", reason="pypdf reads the PDF's text (pip install pypdf)")
    return pypdf.PdfReader(str(path))


def _text(path: Path) -> tuple[int, str]:
    reader = _reader(path)
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return len(reader.pages), " ".join(unicodedata.normalize("NFKC", text).split())


@needs_engine
@needs_dot
@pytest.mark.needs_dot
@pytest.mark.slow
def test_diagnosis_pdf_has_pages_findings_and_vector_maps(tmp_path: Path) -> None:
    d = sm.diagnose(sm.read_csv(SAMPLES / "opportunities.csv", **KW), SAMPLES / "stages.yaml")  # type: ignore[arg-type]
    p = d.write_pdf(tmp_path / "out" / "report.pdf")
    data = p.read_bytes()
    assert data.startswith(b"%PDF")
    pages, text = _text(p)
    assert pages > 1
    top = d.findings.to_frame().iloc[0]
    assert f"{top['kind'].replace('_', ' ')} — {top['where']}" in text or (
        top["kind"].replace("_", " ") in text and str(top["where"]) in text
    )
    assert str(top["example_cases"][0]) in text  # the evidence is printed
    assert "drag to move" not in text and "show on the map" not in text  # the interactive parts are hidden
    assert "Click a finding" not in text
    # the maps get landscape pages, the rest is portrait A4
    sizes = [(round(float(pg.mediabox.width)), round(float(pg.mediabox.height))) for pg in _reader(p).pages]
    assert sizes[0] == (595, 842) and (842, 595) in sizes
    # the maps are vectors: the node labels are text in the PDF, not pixels
    assert "Needs Analysis" in text and "Process map — frequency" in text
    assert sorted(q.name for q in p.parent.iterdir()) == ["report.pdf"]  # written atomically, nothing left over


@needs_engine
@needs_dot
@pytest.mark.needs_dot
@pytest.mark.slow
def test_comparison_pdf_and_cli_pdf_option(tmp_path: Path) -> None:
    out, js = tmp_path / "c.html", tmp_path / "c.pdf"
    code = main(
        [
            "compare",
            str(SAMPLES / "opportunities_before.csv"),
            str(SAMPLES / "opportunities_after.csv"),
            "--stages",
            str(SAMPLES / "stages.yaml"),
            "--bootstrap",
            "100",
            "-o",
            str(out),
            "--pdf",
            str(js),
            "-q",
        ]
    )
    assert code == 0 and out.exists()
    pages, text = _text(js)
    assert pages > 1 and "Before / after" in text and "share of cases with loop" in text


@needs_dot
@pytest.mark.needs_dot
@pytest.mark.slow
def test_weasyprint_prints_when_there_is_no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SALESMINING_CHROMIUM", str(tmp_path / "no-such-browser"))
    if pdf.pdf_engine() != "weasyprint":
        pytest.skip("WeasyPrint is not installed (pip install 'salesmining[pdf]'), or its Pango libraries are missing")
    d = sm.diagnose(sm.read_csv(SAMPLES / "opportunities_zh.csv", **KW), SAMPLES / "stages_zh.yaml")  # type: ignore[arg-type]
    p = d.write_pdf(tmp_path / "zh.pdf")
    pages, text = _text(p)
    top = d.findings.to_frame().iloc[0]
    assert pages > 1 and str(top["where"]).split(" → ")[0] in text and "drag to move" not in text


def test_without_an_engine_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SALESMINING_CHROMIUM", str(tmp_path / "no-such-browser"))
    monkeypatch.setattr(pdf, "_has_weasyprint", lambda: False)
    assert pdf.pdf_engine() is None
    with pytest.raises(RenderError, match=r"apt-get install chromium.*pip install weasyprint"):
        pdf.write_pdf("<p>x</p>", tmp_path / "x.pdf")
    assert not (tmp_path / "x.pdf").exists()


@needs_dot
@pytest.mark.needs_dot
def test_cli_pdf_without_engine_exits_6_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SALESMINING_CHROMIUM", str(tmp_path / "no-such-browser"))
    monkeypatch.setattr(pdf, "_has_weasyprint", lambda: False)
    html = tmp_path / "r.html"
    code = main(
        [
            "diagnose",
            str(SAMPLES / "opportunities.csv"),
            "--stages",
            str(SAMPLES / "stages.yaml"),
            "-o",
            str(html),
            "--pdf",
            str(tmp_path / "r.pdf"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 6 and html.exists() and not (tmp_path / "r.pdf").exists()
    assert re.search(r"salesmining: error: no PDF written: Writing a PDF needs headless Chromium or WeasyPrint", err)
    assert "Traceback" not in err


def test_a_failing_browser_is_one_render_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'something went wrong' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("SALESMINING_CHROMIUM", str(fake))
    with pytest.raises(RenderError, match=r"Chromium failed to print the PDF \(exit code 3\): something went wrong"):
        pdf.write_pdf("<p>x</p>", tmp_path / "x.pdf")
