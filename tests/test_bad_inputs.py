"""The malformed-input corpus (tests/data/bad/MANIFEST.yaml): every file gives exactly the error,
rejections and warnings its manifest entry names, and the CLI reads each without a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import salesmining as sm
from salesmining.cli import main
from salesmining.core import errors

BAD = Path(__file__).parent / "data" / "bad"
MANIFEST: dict[str, dict[str, Any]] = yaml.safe_load((BAD / "MANIFEST.yaml").read_text(encoding="utf-8"))
MAPPING = {"case": "case", "activity": "activity", "timestamp": "timestamp"}
CLI_MAPPING = ["--case", "case", "--activity", "activity", "--timestamp", "timestamp"]


def _file(entry: str) -> Path:
    return BAD / entry.split(" (", 1)[0]


def _check(log: sm.EventLog, spec: dict[str, Any]) -> None:
    q = log.quality
    assert [q.rows_read, q.rows_kept] == spec["rows"]
    assert q.rows_read == q.rows_kept + q.rows_rejected  # nothing lost
    assert q.rejections["reason"].value_counts().to_dict() == spec.get("rejections", {})
    assert {w.code: w.count for w in q.warnings} == spec.get("warnings", {})
    if "events" in spec:
        ev = log.to_frame().sort_values("source_row")
        got = [
            [c, a, t.strftime("%Y-%m-%d %H:%M")]
            for c, a, t in zip(ev["case:concept:name"], ev["concept:name"], ev["time:timestamp"], strict=True)
        ]
        assert got == spec["events"]
        assert str(ev["time:timestamp"].dtype) == "datetime64[us, UTC]"


def test_the_corpus_is_complete() -> None:
    files = {p.name for p in BAD.glob("*.csv")}
    assert files == {_file(e).name for e in MANIFEST}


@pytest.mark.parametrize("entry", sorted(MANIFEST), ids=lambda e: e.replace(" ", "_"))
def test_bad_input(entry: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = MANIFEST[entry]
    path = _file(entry)
    options = dict(spec.get("read", {}))
    if "plausible_range" in options:
        options["plausible_range"] = tuple(options["plausible_range"])
    if "error" in spec:
        cls, fragment = spec["error"]
        with pytest.raises(getattr(errors, cls)) as info:
            sm.read_csv(path, **MAPPING, **options)
        assert fragment in str(info.value)
        assert "\n" not in str(info.value)
    else:
        _check(sm.read_csv(path, **MAPPING, **options), spec)
        # the same bytes from a buffer give the same account
        _check(sm.read_csv(path.read_bytes(), **MAPPING, **options), spec)
    capsys.readouterr()
    code = main(["quality", str(path), *CLI_MAPPING, *spec.get("cli", []), "-q"])
    out, err = capsys.readouterr()
    assert code == spec["cli_exit"]
    assert "Traceback" not in out + err
    if code:
        assert err.count("\n") == 1 and err.startswith("salesmining: error: ")
        assert spec["error"][1] in err


def test_a_10_mb_field_is_kept_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    note = "x" * 10_000_000
    path = tmp_path / "big_field.csv"
    path.write_text(f"case,activity,timestamp,note\nD1,Lead,2024-01-01 10:00,{note}\nD1,Won,2024-01-02 10:00,ok\n")
    log = sm.read_csv(path, **MAPPING)
    assert (log.quality.rows_read, log.quality.rows_kept) == (2, 2)
    notes = log.to_frame().sort_values("source_row")["note"].tolist()
    assert len(notes[0]) == 10_000_000 and notes[0] == note and notes[1] == "ok"
    assert main(["quality", str(path), *CLI_MAPPING, "-q"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_a_case_with_100k_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = 100_000
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(range(n), unit="min")
    frame = pd.DataFrame(
        {
            "case": ["BIG"] * n + ["S1", "S1"],
            "activity": [f"Step {i % 7}" for i in range(n)] + ["Lead", "Won"],
            "timestamp": [*ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"],
        }
    )
    path = tmp_path / "long_case.csv"
    frame.to_csv(path, index=False)
    log = sm.read_csv(path, **MAPPING)
    assert (log.n_cases, log.n_events) == (2, n + 2)
    assert log.quality.warnings == ()
    ev = log.to_frame()
    big = ev[ev["case:concept:name"] == "BIG"]
    assert big["time:timestamp"].is_monotonic_increasing
    assert big["time:timestamp"].iloc[-1] - big["time:timestamp"].iloc[0] == pd.Timedelta(minutes=n - 1)
    g = sm.discover(log)
    assert int(g.edges["count"].sum()) == log.n_events - log.n_cases
    assert main(["quality", str(path), *CLI_MAPPING, "-q"]) == 0
    assert "Traceback" not in capsys.readouterr().err


def test_duplicate_columns_of_a_dataframe_are_named() -> None:
    df = pd.DataFrame([["D1", "Lead", "2024-01-01", "x"]], columns=["case", "activity", "timestamp", "activity"])
    with pytest.raises(sm.LogSchemaError, match=r"\['activity'\] appear more than once"):
        sm.from_dataframe(df, **MAPPING)
