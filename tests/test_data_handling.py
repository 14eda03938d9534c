"""What docs/data-handling.md promises: nothing is sent anywhere, reports load nothing from outside."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

import salesmining as sm

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"


def test_a_whole_diagnosis_opens_no_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network access refused by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    log = sm.read_csv(
        SAMPLE / "opportunities.csv",
        case="Opportunity ID",
        activity="Activity",
        timestamp="Timestamp",
        resource="Owner",
        case_attributes="auto",
    )
    d = sm.diagnose(log, SAMPLE / "stages.yaml")
    report = d.write_html(tmp_path / "report.html").read_text(encoding="utf-8")
    d.write_tables(tmp_path / "tables")
    assert attempts == []
    # self-contained: no script, stylesheet, image or font fetched from elsewhere
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", report, flags=re.IGNORECASE)
    assert external == []
    assert not re.search(r"@import|url\(\s*['\"]?https?:", report, flags=re.IGNORECASE)
