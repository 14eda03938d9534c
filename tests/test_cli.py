"""The salesmining command: guesses, exit codes, JSON contract, escaped HTML."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from salesmining.cli import guess_column, main
from salesmining.present.interactive import assets_html

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "opportunities.csv"


def test_guess_column_ignores_case_and_separators() -> None:
    cols = ["Opportunity_Id", "STAGE NAME", "Created-Date", "Owner"]
    assert guess_column(cols, "case") == "Opportunity_Id"
    assert guess_column(cols, "activity") == "STAGE NAME"
    assert guess_column(cols, "timestamp") == "Created-Date"
    assert guess_column(cols, "resource") == "Owner"
    assert guess_column(["x", "y"], "case") is None


def test_quality_json_matches_independent_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q.json"
    html = tmp_path / "q.html"
    assert main(["quality", str(SAMPLE), "--json", str(out), "-o", str(html), "-q"]) == 0
    got = json.loads(out.read_text(encoding="utf-8"))["log"]
    raw = pd.read_csv(SAMPLE)
    assert got["events"] == got["rows_read"] == len(raw)
    assert got["cases"] == raw["Opportunity ID"].nunique()
    assert got["activities"] == raw["Activity"].nunique()
    assert got["rows_rejected"] == 0
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Every input row accounted for" in page
    assert "Opportunity ID" not in capsys.readouterr().err  # -q: no progress


def test_exit_codes(tmp_path: Path) -> None:
    assert main(["quality", str(tmp_path / "missing.csv"), "-q"]) == 3
    bad = tmp_path / "bad.csv"
    bad.write_text("deal,stage,at\nD1,Lead,2024-01-01T10:00:00Z\nD1,,2024-01-02T10:00:00Z\n", encoding="utf-8")
    assert main(["quality", str(bad), "--case", "deal", "--activity", "stage", "--timestamp", "at", "-q"]) == 0
    strict = ["quality", str(bad), "--case", "deal", "--activity", "stage", "--timestamp", "at", "--strict", "-q"]
    assert main(strict) == 4
    assert main(["quality", str(bad), "--case", "nope", "--activity", "stage", "--timestamp", "at", "-q"]) == 3
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    assert main(["quality", str(odd), "-q"]) == 3  # cannot guess the columns
    with pytest.raises(SystemExit) as e:
        main(["quality"])
    assert e.value.code == 2


def test_bad_option_values_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Option values the readers refuse exit with 2 (usage) and say why; unreadable input stays 3."""
    good = tmp_path / "good.csv"
    good.write_text("deal,stage,at\nD1,Lead,2024-01-01T10:00:00Z\n", encoding="utf-8")
    mapping = ["--case", "deal", "--activity", "stage", "--timestamp", "at", "-q"]
    for extra, says in (
        (["--sep", ""], "sep= must not be empty"),
        (["--date-format", ""], "date_format= must not be empty"),
        (["--format", "salesforce", "--with", "opportunities"], "--with expects NAME=FILE"),
        (["--format", "hubspot", "--with", "tasks=t.csv"], "takes no input named ['tasks']"),
    ):
        assert main(["quality", str(good), *mapping, *extra]) == 2, extra
        assert says in capsys.readouterr().err, extra
    assert main(["quality", str(good), *mapping, "--timezone", "Nowhere/Town"]) == 3
    assert "unknown time zone" in capsys.readouterr().err
    assert main(["quality", str(good), *mapping, "--dayfirst", "--timezone", "Europe/Berlin"]) == 0


def test_console_script_help_runs() -> None:
    exe = Path(sys.executable).with_name("salesmining")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "salesmining.cli"]
    res = subprocess.run([*cmd, "--help"], capture_output=True, text=True, check=True)
    assert "exit codes" in res.stdout and "diagnose" in res.stdout


def test_report_escapes_hostile_names(tmp_path: Path) -> None:
    log = tmp_path / "evil.csv"
    log.write_text(
        'deal,stage,at\n"<script>alert(1)</script>","<img src=x onerror=alert(2)>",2024-01-01T10:00:00Z\n'
        '"<script>alert(1)</script>",Won & "done",2024-01-02T10:00:00Z\n',
        encoding="utf-8",
    )
    out = tmp_path / "r.html"
    assert (
        main(["diagnose", str(log), "--case", "deal", "--activity", "stage", "--timestamp", "at", "-o", str(out), "-q"])
        == 0
    )
    page = out.read_text(encoding="utf-8")
    # the report's own scripts (pan-zoom, glue, JSON data blocks) aside, no script and no image
    own = re.sub(
        r'<script type="application/json" class="sm-map-data">[^<]*</script>', "", page.replace(assets_html(), "")
    )
    assert "<script" not in own and "<img" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "Won &amp; &#34;done&#34;" in page or "Won &amp; &quot;done&quot;" in page


def test_chinese_sample_round_trips_in_json(tmp_path: Path) -> None:
    out = tmp_path / "zh.json"
    zh = ROOT / "sample_logs" / "opportunities_zh.csv"
    assert main(["quality", str(zh), "--json", str(out), "-q"]) == 0
    text = out.read_text(encoding="utf-8")
    assert json.loads(text)["log"]["events"] == len(pd.read_csv(zh))
