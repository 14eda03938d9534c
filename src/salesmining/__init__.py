"""salesmining — sales process mining and bottleneck discovery.

Turn a CRM export into a clean event log, discover the real process, compare it with the
intended stage sequence and rank loops, skipped stages, long waits and redundant approvals
by impact.

>>> import salesmining as sm
>>> sm.__version__ != ""
True
"""

from __future__ import annotations

from salesmining._conform import Conformance, conform
from salesmining._diagnosis import Comparison, Diagnosis, compare, diagnose
from salesmining._discover import BusinessCalendar, ProcessGraph, discover
from salesmining._errors import (
    AmbiguousDateError,
    EncodingError,
    EngineError,
    LogSchemaError,
    RenderError,
    SalesminingError,
    StageModelError,
)
from salesmining._findings import FINDING_KINDS, FINDING_RULES, FindingRules, Findings, KPIs, find_bottlenecks, kpis
from salesmining._io import from_dataframe, read_csv
from salesmining._log import EventLog
from salesmining._quality import REJECT_REASONS, WARNING_CODES, IngestReport, IngestWarning
from salesmining._stages import StageModel
from salesmining._xes import read_xes, write_xes
from salesmining.crm import read_field_history, read_hubspot, read_pipedrive, read_salesforce


def __getattr__(name: str) -> str:
    # __version__ is read from the installed metadata on first use (importlib.metadata is slow to import)
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("salesmining")
        except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without install
            return "0+unknown"
    raise AttributeError(f"module 'salesmining' has no attribute {name!r}")

__all__ = [
    "AmbiguousDateError",
    "BusinessCalendar",
    "Comparison",
    "Conformance",
    "Diagnosis",
    "EncodingError",
    "EngineError",
    "EventLog",
    "FINDING_KINDS",
    "FINDING_RULES",
    "FindingRules",
    "Findings",
    "IngestReport",
    "IngestWarning",
    "KPIs",
    "LogSchemaError",
    "ProcessGraph",
    "REJECT_REASONS",
    "RenderError",
    "SalesminingError",
    "StageModel",
    "StageModelError",
    "WARNING_CODES",
    "__version__",
    "compare",
    "conform",
    "diagnose",
    "discover",
    "find_bottlenecks",
    "from_dataframe",
    "kpis",
    "read_csv",
    "read_field_history",
    "read_hubspot",
    "read_pipedrive",
    "read_salesforce",
    "read_xes",
    "write_xes",
]
