"""The account of every input row: :class:`IngestReport`.

A row read from an export is either *kept* (it became an event) or *rejected*
for exactly one reason from a closed vocabulary (:data:`REJECT_REASONS`). Things
that are suspicious but not wrong are *warnings*, also from a closed vocabulary
(:data:`WARNING_CODES`), each with a count and example rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from salesmining.core import formatting as _fmt
from salesmining.core import html as _display
from salesmining.core.errors import LogSchemaError, OptionError
from salesmining.core.frames import handout

__all__ = ["REJECT_REASONS", "WARNING_CODES", "IngestReport", "IngestWarning"]

#: Why a row can be rejected, in the order the checks run (a row gets the first that applies).
REJECT_REASONS: Mapping[str, str] = {
    "missing_case_id": "the case id is empty",
    "missing_activity": "the activity is empty",
    "missing_timestamp": "the timestamp is empty",
    "unparsable_timestamp": "the timestamp could not be read as a date/time",
    "implausible_timestamp": "the timestamp lies outside the plausible range",
    "unparsable_start_timestamp": "the start timestamp is present but could not be read",
    "start_after_timestamp": "the start timestamp is later than the (completion) timestamp",
    "duplicate_row": "identical to an earlier row in every column",
    "not_a_stage_change": "a CRM history row that repeats the previous stage (no stage event)",
    "unknown_stage": "a CRM stage id that the pipeline definition does not know",
    "unmatched_reference": "refers to a record (e.g. opportunity) that is not in the log",
    "other_pipeline": "belongs to a CRM pipeline other than the one selected (pipeline=...)",
    "duplicate_event": "the same change is already recorded by another input (e.g. OpportunityHistory)",
    "creation_marker": "a record-creation row without a stage; its time is kept as the case's created_at",
    "superseded_row": "an earlier row for the same record in a case-level table; the last row is used",
    "out_of_scope": "a kind of row the adapter does not turn into events (e.g. a file in a Pipedrive flow)",
}

#: What each warning means.
WARNING_CODES: Mapping[str, str] = {
    "assumed_utc": "timestamps without a time zone were taken as UTC (pass timezone=...)",
    "mixed_timezones": "the timestamp column mixes values with and without a zone, or several offsets",
    "dst_ambiguous": "local times that occur twice at a daylight-saving change (read as standard time)",
    "dst_nonexistent": "local times skipped by a daylight-saving change (moved forward to the first valid time)",
    "inferred_dayfirst": "day/month order was inferred from values that only fit one order",
    "epoch_timestamps": "numeric timestamps were read as Unix epoch seconds or milliseconds",
    "date_only": "timestamps carry a date but no time of day (ordering within a day is by source row)",
    "timestamp_ties": "events of the same case share a timestamp (ordered by source row)",
    "single_event_cases": "cases with a single event (no transitions, no durations)",
    "inconsistent_case_attribute": "a case attribute changes within a case (the last value is kept)",
    "excel_mangled_ids": "case ids in Excel's scientific notation (1.23457E+17): digits are lost, cases may merge",
    "unparsable_amount": "amount values that could not be read as numbers (left empty)",
    "encoding_fallback": "the file was not UTF-8 and was decoded with a detected encoding",
    "loops_unobservable": "the export keeps only the latest entry per stage, so loops cannot be seen",
    "history_absent": "the export holds no stage history, only current state",
    "bulk_update": "many cases changed by one user within seconds (migration or bulk edit)",
    "system_user": "events made by a system or integration user",
    "reopened_cases": "cases that were closed and then reopened",
    "left_censored": "cases whose history starts after the first stage (created late or history turned on late)",
    "dropped_values": "single values of kept rows that could not be read (e.g. one unparsable date of a wide export)",
    "history_gaps": "a change's old value differs from the previous change's new value (history rows are missing)",
}

_REJECTION_COLUMNS = ["row", "reason", "column", "value", "source"]


def empty_rejections() -> pd.DataFrame:
    """An empty rejections table with the fixed columns and dtypes."""
    return pd.DataFrame(
        {
            "row": pd.Series([], dtype="int64"),
            "reason": pd.Series([], dtype="str"),
            "column": pd.Series([], dtype="str"),
            "value": pd.Series([], dtype="str"),
            "source": pd.Series([], dtype="str"),
        }
    )


@dataclass(frozen=True)
class IngestWarning:
    """Something suspicious in the input that did not cost a row.

    ``rows`` holds up to ten example rows (0-based data rows of ``source``).
    """

    code: str
    message: str
    count: int
    rows: tuple[int, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.code not in WARNING_CODES:
            raise OptionError(f"unknown warning code {self.code!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``code``, ``message``, ``count``, ``rows``, ``source``."""
        return {
            "code": self.code,
            "message": self.message,
            "count": int(self.count),
            "rows": [int(r) for r in self.rows],
            "source": self.source,
        }

    def __repr__(self) -> str:
        return f"<IngestWarning {self.code}: {self.count:,} — {self.message}>"


@dataclass(frozen=True, eq=False)
class IngestReport:
    """Every input row accounted for: read = kept + rejected, each rejection with its reason.

    Attributes
    ----------
    source:
        File name(s) or ``"DataFrame"``.
    rows_read, rows_kept:
        Input rows seen, and rows that became events.
    encoding:
        The text encoding used to read a file (``None`` for DataFrames).
    warnings:
        :class:`IngestWarning` items, most frequent first.
    notes:
        Plain-language facts about how the input was read (mapping, separator, ...).
    """

    source: str
    rows_read: int
    rows_kept: int
    _rejections: pd.DataFrame = field(repr=False)
    warnings: tuple[IngestWarning, ...] = ()
    encoding: str | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rej = self._rejections.reset_index(drop=True)[_REJECTION_COLUMNS]
        object.__setattr__(self, "_rejections", rej)
        if self.rows_read - self.rows_kept != len(rej):
            raise LogSchemaError(
                f"ingest accounting broken: read {self.rows_read} - kept {self.rows_kept} != rejected {len(rej)}"
            )

    @property
    def rows_rejected(self) -> int:
        """Rows that did not become events (each listed in :attr:`rejections`)."""
        return len(self._rejections)

    @property
    def rejections(self) -> pd.DataFrame:
        """One row per rejected input row: ``row``, ``reason``, ``column``, ``value``, ``source``."""
        return handout(self._rejections)

    def counts(self) -> pd.DataFrame:
        """Rejections per reason (all reasons, zeros included): ``reason``, ``rows``, ``meaning``."""
        got = self._rejections["reason"].value_counts()
        return pd.DataFrame(
            {
                "reason": list(REJECT_REASONS),
                "rows": [int(got.get(r, 0)) for r in REJECT_REASONS],
                "meaning": list(REJECT_REASONS.values()),
            }
        )

    def warnings_frame(self) -> pd.DataFrame:
        """Warnings as a table: ``code``, ``count``, ``message``, ``example_rows``, ``source``."""
        return pd.DataFrame(
            {
                "code": [w.code for w in self.warnings],
                "count": [w.count for w in self.warnings],
                "message": [w.message for w in self.warnings],
                "example_rows": [w.rows for w in self.warnings],
                "source": [w.source for w in self.warnings],
            },
            columns=["code", "count", "message", "example_rows", "source"],
        )

    def to_frame(self) -> pd.DataFrame:
        """The rejections table (same as :attr:`rejections`)."""
        return self.rejections

    def has_warning(self, code: str) -> bool:
        """Whether a warning with this code was raised."""
        return any(w.code == code for w in self.warnings)

    def with_warnings(self, extra: Iterable[IngestWarning]) -> IngestReport:
        """A copy with more warnings (used by adapters that know more about the data)."""
        return IngestReport(
            source=self.source,
            rows_read=self.rows_read,
            rows_kept=self.rows_kept,
            _rejections=self._rejections,
            warnings=_sorted_warnings((*self.warnings, *extra)),
            encoding=self.encoding,
            notes=self.notes,
        )

    @classmethod
    def combine(cls, reports: Iterable[IngestReport], *, kept: int | None = None) -> IngestReport:
        """Merge the reports of several inputs read into one log."""
        reps = list(reports)
        rej = pd.concat([r._rejections for r in reps] or [empty_rejections()], ignore_index=True)
        read = sum(r.rows_read for r in reps)
        return cls(
            source=" + ".join(r.source for r in reps),
            rows_read=read,
            rows_kept=read - len(rej) if kept is None else kept,
            _rejections=rej,
            warnings=_sorted_warnings(w for r in reps for w in r.warnings),
            encoding=", ".join(sorted({r.encoding for r in reps if r.encoding})) or None,
            notes=tuple(n for r in reps for n in r.notes),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable data: the counts, rejections per reason (non-zero only) and warnings."""
        counts = self.counts()
        return {
            "source": self.source,
            "encoding": self.encoding,
            "rows_read": int(self.rows_read),
            "rows_kept": int(self.rows_kept),
            "rows_rejected": int(self.rows_rejected),
            "rejections_by_reason": {
                str(r): int(n) for r, n in zip(counts["reason"], counts["rows"], strict=True) if n
            },
            "warnings": [w.to_dict() for w in self.warnings],
            "notes": list(self.notes),
        }

    def html(self, *, title: str | None = None) -> str:
        """The data-quality page of this report alone (self-contained HTML): every input row
        accounted for, warnings and reading notes. :meth:`salesmining.EventLog.quality_html`
        adds what the log holds (activities, outcomes)."""
        from salesmining.present.report import render_template

        return render_template(
            "quality.html.j2",
            **quality_context(self),
            title=title or f"Data quality — {self.source}",
            facts=[
                ("rows read", _fmt.count(self.rows_read)),
                ("rows kept", _fmt.count(self.rows_kept)),
                ("rows rejected", _fmt.count(self.rows_rejected)),
            ],
            activities=None,
            outcomes=None,
            case_columns=None,
            history=(),
            meta={},
        )

    def write_html(self, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
        """Write :meth:`html` to a file (UTF-8)."""
        from salesmining.present.report import write_text

        return write_text(Path(path), self.html(title=title))

    def __repr__(self) -> str:
        return (
            f"<IngestReport {_fmt.one_line(self.source)}: {self.rows_read:,} read, {self.rows_kept:,} kept, "
            f"{self.rows_rejected:,} rejected, {len(self.warnings)} warnings>"
        )

    def _repr_html_(self) -> str:
        return _ingest_report_html(self)


def quality_context(rep: IngestReport) -> dict[str, Any]:
    """The report part of the data-quality page as plain values (for ``quality.html.j2``)."""
    import datetime as _dt

    rej = rep.rejections
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "report": rep,
        "reasons": list(rep.counts().itertuples(index=False)),
        "rejections": list(rej.head(200).itertuples(index=False)),
        "n_rejections": len(rej),
        "warnings": rep.warnings,
        "notes": rep.notes,
    }


def _sorted_warnings(items: Iterable[IngestWarning]) -> tuple[IngestWarning, ...]:
    return tuple(sorted(items, key=lambda w: (-w.count, w.code, w.source)))


def make_rejections(
    rows: Iterable[int], reason: str, column: str, values: Iterable[object], source: str
) -> pd.DataFrame:
    """Build a rejections table for one reason."""
    if reason not in REJECT_REASONS:
        raise OptionError(f"unknown rejection reason {reason!r}")
    rows_l = [int(r) for r in rows]
    return pd.DataFrame(
        {
            "row": pd.Series(rows_l, dtype="int64"),
            "reason": pd.Series([reason] * len(rows_l), dtype="str"),
            "column": pd.Series([column] * len(rows_l), dtype="str"),
            "value": pd.Series(["" if _isna(v) else str(v) for v in values], dtype="str"),
            "source": pd.Series([source] * len(rows_l), dtype="str"),
        }
    )


def _isna(v: object) -> bool:
    try:
        return bool(pd.isna(v))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _ingest_report_html(rep: IngestReport) -> str:
    facts = [
        ("rows read", _fmt.count(rep.rows_read)),
        ("kept", _fmt.count(rep.rows_kept)),
        ("rejected", _fmt.count(rep.rows_rejected)),
        ("encoding", rep.encoding or "–"),
    ]
    counts = rep.counts()
    counts = counts[counts["rows"] > 0]
    reasons = _display.table(["reason", "rows", "meaning"], counts.itertuples(index=False)) if len(counts) else ""
    warns = (
        _display.table(
            ["warning", "count", "message"], [(w.code, _fmt.count(w.count), w.message) for w in rep.warnings]
        )
        if rep.warnings
        else ""
    )
    return _display.card(f"Ingest report — {rep.source}", facts, reasons, warns)
