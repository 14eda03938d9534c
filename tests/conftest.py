"""Shared fixtures: the real logs in ../shared/real_logs (skipped with a reason when absent)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_LOGS = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))
SAMPLE_LOGS = ROOT / "sample_logs"

os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")
os.environ.setdefault("PM4PY_SHOW_INTERNAL_WARNINGS", "false")


def real_log(relative: str) -> Path:
    """Path of a file under ../shared/real_logs, or skip the test saying what is missing."""
    p = REAL_LOGS / relative
    if not p.exists():
        pytest.skip(f"real log {relative} not found under {REAL_LOGS} (see shared/real_logs/SOURCES.md)")
    return p


@pytest.fixture(scope="session")
def bpic2012_path() -> Path:
    return real_log("bpic2012/BPI_Challenge_2012.xes.gz")


@pytest.fixture(scope="session")
def bpic2012(bpic2012_path: Path):  # type: ignore[no-untyped-def]
    """BPIC 2012 read once per test session (pm4py's XES reader takes ~20 s)."""
    import salesmining as sm

    return sm.read_xes(bpic2012_path)


@pytest.fixture(scope="session")
def bpic2020_path() -> Path:
    return real_log("bpic2020/RequestForPayment.xes.gz")


@pytest.fixture(scope="session")
def bpic2012_pm4py(bpic2012_path: Path):  # type: ignore[no-untyped-def]
    """BPIC 2012 as pm4py's own DataFrame, read once."""
    from salesmining.interop import pm4py as _pm4py

    return _pm4py.read_xes_frame(bpic2012_path)


def has_dot() -> bool:
    return shutil.which("dot") is not None
