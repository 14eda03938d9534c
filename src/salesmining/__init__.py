"""salesmining — sales process mining and bottleneck discovery.

Turn a CRM export into a clean event log, discover the real process, compare it with the
intended stage sequence and rank loops, skipped stages, long waits and redundant approvals
by impact.

>>> import salesmining as sm
>>> sm.__version__ != ""
True
"""

from __future__ import annotations

from importlib import metadata as _metadata

from salesmining._conform import Conformance, conform
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
from salesmining._io import from_dataframe, read_csv
from salesmining._log import EventLog
from salesmining._quality import REJECT_REASONS, WARNING_CODES, IngestReport, IngestWarning
from salesmining._stages import StageModel
from salesmining._xes import read_xes, write_xes
from salesmining.crm import read_field_history, read_hubspot, read_pipedrive, read_salesforce

try:
    __version__ = _metadata.version("salesmining")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "AmbiguousDateError",
    "BusinessCalendar",
    "Conformance",
    "EncodingError",
    "EngineError",
    "EventLog",
    "IngestReport",
    "IngestWarning",
    "LogSchemaError",
    "ProcessGraph",
    "REJECT_REASONS",
    "RenderError",
    "SalesminingError",
    "StageModel",
    "StageModelError",
    "WARNING_CODES",
    "__version__",
    "conform",
    "discover",
    "from_dataframe",
    "read_csv",
    "read_field_history",
    "read_hubspot",
    "read_pipedrive",
    "read_salesforce",
    "read_xes",
    "write_xes",
]
