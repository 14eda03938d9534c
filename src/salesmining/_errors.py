"""The exception tree of salesmining.

Every error salesmining raises on purpose derives from :class:`SalesminingError`,
so ``except salesmining.SalesminingError`` catches all of them::

    SalesminingError
    ├── LogSchemaError          input columns or values do not fit an event log
    │   ├── EncodingError       the file is not in the expected text encoding
    │   └── AmbiguousDateError  day/month order cannot be decided from the data
    ├── StageModelError         the intended stage model is invalid
    ├── EngineError             a dataframe engine is missing or refused an operation
    └── RenderError             a graph or chart cannot be drawn (e.g. no ``dot``)

Errors that point at input data carry the place: ``source`` (file name or
``"DataFrame"``), ``row`` (0-based data row), ``column`` and ``value``.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousDateError",
    "EncodingError",
    "EngineError",
    "LogSchemaError",
    "RenderError",
    "SalesminingError",
    "StageModelError",
]


class SalesminingError(Exception):
    """Base class of every error raised by salesmining."""


class LogSchemaError(SalesminingError, ValueError):
    """The input does not fit an event log: a missing column, a bad value, a rejected row.

    Attributes
    ----------
    source, row, column, value:
        Where the problem is, when known (``row`` is the 0-based data row).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.row = row
        self.column = column
        self.value = value


class EncodingError(LogSchemaError):
    """A file could not be decoded safely; the message names the encoding to pass."""


class AmbiguousDateError(LogSchemaError):
    """Dates such as ``02/03/24`` could be day-first or month-first; pass ``dayfirst`` or ``date_format``."""


class StageModelError(SalesminingError, ValueError):
    """The intended stage model is invalid (unknown stage referenced, duplicate stage, empty model...)."""


class EngineError(SalesminingError, RuntimeError):
    """A dataframe engine is not installed or cannot run an operation."""


class RenderError(SalesminingError, RuntimeError):
    """A graph or chart cannot be produced (for example Graphviz's ``dot`` is not installed)."""
