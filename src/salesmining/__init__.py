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
from salesmining.diagnosis.compare import Comparison, compare
from salesmining.diagnosis.diagnose import Diagnosis, diagnose
from salesmining.diagnosis.drift import Drift, drift
from salesmining.findings.changes import changes
from salesmining.findings.detect import (
    FINDING_KINDS,
    FINDING_RULES,
    FindingRules,
    Findings,
    KPIs,
    find_bottlenecks,
    kpis,
)
from salesmining.findings.whatif import WhatIf, what_if
from salesmining.ingest.parquet import read_parquet
from salesmining.ingest.tabular import from_dataframe, read_csv
from salesmining.ingest.xes import read_xes, write_xes
from salesmining.log.eventlog import EventLog
from salesmining.log.quality import REJECT_REASONS, WARNING_CODES, IngestReport, IngestWarning


def _public_home() -> None:
    # Public objects say they live in `salesmining` (reprs, tracebacks, help(), pickles), not in
    # the layer module that defines them. A class's own methods follow, so doctest still finds
    # their examples (under `salesmining`).
    import contextlib
    import functools

    def rename(obj: object) -> None:
        for f in (obj, getattr(obj, "__func__", None), getattr(obj, "fget", None), getattr(obj, "func", None)):
            if f is not None and hasattr(f, "__module__"):
                with contextlib.suppress(AttributeError, TypeError):  # builtins cannot be renamed
                    f.__module__ = "salesmining"

    for name in __all__:
        obj = globals().get(name)
        if isinstance(obj, type):
            own = obj.__module__
            for member in vars(obj).values():
                inner = getattr(member, "__func__", None) or getattr(member, "fget", None) or member
                inner = getattr(inner, "func", inner) if isinstance(member, functools.cached_property) else inner
                if getattr(inner, "__module__", None) == own:
                    rename(member)
            rename(obj)
        elif callable(obj):
            rename(obj)


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
    "Drift",
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
    "WhatIf",
    "__version__",
    "changes",
    "compare",
    "conform",
    "diagnose",
    "discover",
    "drift",
    "find_bottlenecks",
    "from_dataframe",
    "kpis",
    "read_csv",
    "read_field_history",
    "read_hubspot",
    "read_parquet",
    "read_pipedrive",
    "read_salesforce",
    "read_xes",
    "what_if",
    "write_xes",
]

_public_home()
