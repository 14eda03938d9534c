"""Writes that cannot half-happen: atomic files, one plain line and a non-zero exit on failure."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import salesmining as sm
from salesmining.cli import main
from salesmining.core.errors import OutputError
from salesmining.core.files import write_atomic

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"


def test_write_atomic_replaces_in_one_step_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "report.html"
    write_atomic(target, "first")
    write_atomic(target, "ünïcode 第二")
    assert target.read_text(encoding="utf-8") == "ünïcode 第二"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    target.write_text("the report from yesterday", encoding="utf-8")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OutputError, match=r"report\.html: the disk is full") as info:
        write_atomic(target, "x" * 10_000)
    assert isinstance(info.value, sm.SalesminingError) and isinstance(info.value, OSError)
    assert target.read_text(encoding="utf-8") == "the report from yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_parent_that_is_a_file_or_a_target_that_is_a_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "some_file.csv"
    blocker.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(OutputError, match=r"some_file\.csv is a file, not a folder"):
        write_atomic(blocker / "report.html", "x")
    with pytest.raises(OutputError, match="it is a folder; give a file name"):
        write_atomic(tmp_path, "x")
    assert blocker.read_text(encoding="utf-8") == "a,b\n"


def _diagnose_args(*extra: str) -> list[str]:
    return [
        "diagnose",
        str(SAMPLE / "opportunities.csv"),
        "--stages",
        str(SAMPLE / "stages.yaml"),
        "-q",
        *extra,
    ]


@pytest.mark.parametrize(
    ("option", "make_target"),
    [
        ("-o", lambda d: d / "some_file.csv" / "report.html"),
        ("-o", lambda d: d),
        ("--json", lambda d: d / "some_file.csv" / "findings.json"),
    ],
)
def test_cli_write_failures_are_one_line_and_exit_6(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, make_target: object
) -> None:
    (tmp_path / "some_file.csv").write_text("keep me\n", encoding="utf-8")
    target = make_target(tmp_path)  # type: ignore[operator]
    code = main(_diagnose_args(option, str(target)))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 6
    assert len(err) == 1 and err[0].startswith("salesmining: error: cannot write"), err
    assert "Traceback" not in "\n".join(err)
    assert (tmp_path / "some_file.csv").read_text(encoding="utf-8") == "keep me\n"


def test_tables_and_maps_are_written_whole(tmp_path: Path) -> None:
    log = sm.read_csv(SAMPLE / "opportunities.csv", case="Opportunity ID", activity="Activity", timestamp="Timestamp")
    d = sm.diagnose(log, SAMPLE / "stages.yaml")
    written = d.write_tables(tmp_path / "tables")
    assert written and all(p.stat().st_size > 0 for p in written)
    assert not [p for p in (tmp_path / "tables").iterdir() if p.name.startswith(".")]
    import pandas as pd

    back = pd.read_csv(tmp_path / "tables" / "findings.csv")
    assert len(back) == len(d.findings.to_frame())
