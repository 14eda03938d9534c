"""salesmining — sales process mining and bottleneck discovery.

Turn a CRM export into a clean event log, discover the real process, compare it with the
intended stage sequence and rank loops, skipped stages, long waits and redundant approvals
by impact.

>>> import salesmining as sm
>>> sm.__version__ != ""
True
"""

from __future__ import annotations

from salesmining.analysis.conform import Conformance, conform
from salesmining.analysis.discover import BusinessCalendar, ProcessGraph, discover
from salesmining.analysis.stages import StageModel
from salesmining.core.errors import (
    AmbiguousDateError,
    EncodingError,
    EngineError,
    LogSchemaError,
    RenderError,
    SalesminingError,
    StageModelError,
)
from salesmining.crm import read_field_history, read_hubspot, read_pipedrive, read_salesforce
from salesmining.diagnosis.diagnose import Comparison, Diagnosis, compare, diagnose
from salesmining.findings.detect import (
    FINDING_KINDS,
    FINDING_RULES,
    FindingRules,
    Findings,
    KPIs,
    find_bottlenecks,
    kpis,
)
from salesmining.ingest.tabular import from_dataframe, read_csv
from salesmining.ingest.xes import read_xes, write_xes
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import REJECT_REASONS, WARNING_CODES, IngestReport, IngestWarning


def __getattr__(name: str) -> str:
    # __version__ is read from the installed metadata on first use (importlib.metadata is slow to import)
    if name == "__version__":
        from salesmining.core.version import version

        return version()
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
