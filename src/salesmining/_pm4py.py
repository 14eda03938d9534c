"""The one place that imports pm4py (lazily): XES files, and later Petri nets / BPMN.

pm4py is AGPL-3.0; importing it only here, only when needed, keeps ``import salesmining``
fast and lets users who never touch XES or drawn models avoid loading it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from salesmining._errors import EngineError, LogSchemaError

__all__ = ["pm4py"]


def pm4py() -> Any:
    """Import pm4py quietly (no progress bars, no internal warnings)."""
    os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")
    os.environ.setdefault("PM4PY_SHOW_INTERNAL_WARNINGS", "false")
    try:
        import pm4py as _pm4py
    except ImportError as exc:  # pragma: no cover - pm4py is a dependency
        raise EngineError("pm4py is needed for this operation: pip install pm4py") from exc
    return _pm4py


def read_xes_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An XES (or .xes.gz) file as pm4py's DataFrame (XES column names, case attributes as ``case:*``)."""
    p = Path(path)
    if not p.exists():
        raise LogSchemaError(f"no such file: {p}", source=str(p))
    pm = pm4py()
    try:
        df = pm.read_xes(str(p), return_legacy_log_object=False)
    except Exception as exc:  # noqa: BLE001 - pm4py/lxml raise many kinds
        raise LogSchemaError(f"{p.name} is not a readable XES file: {exc}", source=p.name) from exc
    if not isinstance(df, pd.DataFrame):
        df = pm.convert_to_dataframe(df)
    return df


def write_xes_frame(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a pm4py-style DataFrame as XES (gzip-compressed when the name ends in .gz)."""
    pm = pm4py()
    p = str(path)
    pm.write_xes(df, p, case_id_key="case:concept:name")
