"""The exception tree of salesmining.

Every error salesmining raises on purpose derives from :class:`SalesminingError`,
so ``except salesmining.SalesminingError`` catches all of them::

    SalesminingError
    ├── LogSchemaError          input columns or values do not fit an event log
    │   ├── EncodingError       the file is not in the expected text encoding
    │   └── AmbiguousDateError  day/month order cannot be decided from the data
    ├── StageModelError         the intended stage model is invalid
    │   └── StageModelTypeError   what was passed is no stage model at all (also a TypeError)
    ├── OptionError             an option has a value it cannot take (also a ValueError)
    ├── ArgumentTypeError       an argument has the wrong type (also a TypeError)
    ├── EngineError             a dataframe engine is missing or refused an operation
    ├── RenderError             a graph or chart cannot be drawn (e.g. no ``dot``)
    │   └── MapUnavailableError   Graphviz failed on every layout tried (one plain sentence)
    └── OutputError             a file cannot be written (also an OSError); nothing is half-written

Each class also derives from the built-in exception callers expect (``ValueError``,
``TypeError`` or ``RuntimeError``), so ``except ValueError`` keeps working. The classes not in
``salesmining.__all__`` are importable from ``salesmining.core.errors``.

Errors that point at input data carry the place: ``source`` (file name or
``"DataFrame"``), ``row`` (0-based data row), ``column`` and ``value``.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousDateError",
    "ArgumentTypeError",
    "EncodingError",
    "EngineError",
    "LogSchemaError",
    "MapUnavailableError",
    "OptionError",
    "OutputError",
    "RenderError",
    "SalesminingError",
    "StageModelError",
    "StageModelTypeError",
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


class StageModelTypeError(StageModelError, TypeError):
    """``stages`` is neither a :class:`~salesmining.StageModel`, a dict or YAML path for one, nor a drawn model."""


class OptionError(SalesminingError, ValueError):
    """An option got a value it cannot take (``view="sideways"``, ``coverage=1.5``); the message lists valid ones."""


class ArgumentTypeError(SalesminingError, TypeError):
    """An argument has the wrong type (``calendar="Mon-Fri"`` where a ``BusinessCalendar`` is expected)."""


class EngineError(SalesminingError, RuntimeError):
    """A dataframe engine is not installed or cannot run an operation."""


class RenderError(SalesminingError, RuntimeError):
    """A graph or chart cannot be produced (for example Graphviz's ``dot`` is not installed)."""


class MapUnavailableError(RenderError):
    """Graphviz could not draw a process map with any of the layouts tried (simpler layouts and a
    stronger abstraction included). The message is one plain sentence saying what to do; nothing
    Graphviz printed is in it. ``attempts`` lists each layout tried and why it failed."""

    def __init__(self, message: str, attempts: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.attempts = attempts


class OutputError(SalesminingError, OSError):
    """A report, table, map or JSON file cannot be written: the message names the path and the reason.

    Writes are atomic (:func:`salesmining.core.files.write_atomic`), so a failed write leaves any
    earlier file unchanged.
    """
