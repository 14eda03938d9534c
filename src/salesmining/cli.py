"""The ``salesmining`` command.

Exit codes (a stable contract for scripts):

* 0 — success
* 2 — usage error (bad options)
* 3 — the input could not be read as an event log (file, columns, encoding, dates...)
* 4 — the input was read but rows were rejected and ``--strict`` was given
* 1 — anything else (a bug: please report it)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from salesmining import _io
from salesmining._errors import LogSchemaError, SalesminingError
from salesmining._log import EventLog

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_INPUT, EXIT_STRICT = 0, 1, 2, 3, 4

# Column names tried, in order, when a mapping option is not given (compared case-insensitively,
# ignoring spaces, underscores and dashes).
GUESSES: dict[str, tuple[str, ...]] = {
    "case": (
        "case:concept:name",
        "case_id",
        "caseid",
        "case",
        "opportunity id",
        "opportunityid",
        "deal id",
        "dealid",
        "deal_id",
        "record id",
        "opportunity",
        "deal",
    ),
    "activity": ("concept:name", "activity", "stage", "stagename", "stage name", "deal stage", "event", "status"),
    "timestamp": (
        "time:timestamp",
        "timestamp",
        "time",
        "createddate",
        "created date",
        "changed at",
        "date",
        "datetime",
        "event time",
    ),
    "resource": ("org:resource", "resource", "owner", "user", "createdbyid", "changed by"),
    "amount": ("amount", "deal amount", "value", "deal value"),
    "approval_result": ("approval_result", "approval result", "stepstatus", "step status", "decision"),
}


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " _-")


def guess_column(columns: Sequence[str], role: str) -> str | None:
    """The first column matching a known name for ``role``, or None."""
    by_norm = {_norm(c): c for c in columns}
    for cand in GUESSES[role]:
        if _norm(cand) in by_norm:
            return by_norm[_norm(cand)]
    return None


def _progress(args: argparse.Namespace, msg: str) -> None:
    if not args.quiet:
        print(f"[salesmining {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("log", help="the event log or CRM export (CSV, CSV.gz or XES)")
    g = p.add_argument_group(
        "reading the log",
        "Column names default to a guess among common names (case:concept:name, Opportunity ID, deal_id, "
        "Activity, StageName, Timestamp, CreatedDate, ...); the guess is printed.",
    )
    g.add_argument(
        "--format", choices=["auto", "csv", "xes"], default="auto", help="input format (default: by extension)"
    )
    g.add_argument("--case", help="column with the case (opportunity/deal) id")
    g.add_argument("--activity", help="column with the activity or stage name")
    g.add_argument("--timestamp", help="column with the event time")
    g.add_argument("--start-timestamp", help="column with the activity start time, if any")
    g.add_argument("--resource", help="column with who did the event (owner, approver)")
    g.add_argument(
        "--case-attribute",
        action="append",
        default=None,
        metavar="COLUMN",
        help="a case-level column (repeatable); default: every column constant within each case",
    )
    g.add_argument("--outcome", help="column whose values are won/lost/open")
    g.add_argument("--amount", help="column with the deal amount")
    g.add_argument("--approval-result", help="column with approval decisions (approved/rejected)")
    g.add_argument("--timezone", help="IANA zone of timestamps without one (default: UTC, with a warning)")
    order = g.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", action="store_const", const=True, dest="dayfirst", help="read 02/03/24 as 2 March")
    order.add_argument(
        "--monthfirst", action="store_const", const=False, dest="dayfirst", help="read 02/03/24 as February 3"
    )
    g.add_argument("--date-format", help="strptime format of the timestamp column, e.g. '%%d.%%m.%%Y %%H:%%M'")
    g.add_argument("--encoding", help="text encoding (default: UTF-8, else a detected fallback that the report states)")
    g.add_argument("--sep", help="field separator (default: sniffed among , ; tab |)")
    g.add_argument("--strict", action="store_true", help="fail (exit 4) if any row would be rejected")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="salesmining",
        description=(
            "Sales process mining for CRM exports: read an activity export into a clean event log, with every "
            "input row accounted for, and report on it."
        ),
        epilog=(
            "examples:\n"
            "  salesmining quality sample_logs/opportunities.csv\n"
            "  salesmining diagnose sample_logs/opportunities.csv --stages sample_logs/stages.yaml -o report.html\n"
            "  salesmining quality export.csv --case 'Deal ID' --activity Stage --timestamp 'Changed At' --dayfirst\n\n"
            "exit codes: 0 ok, 2 usage, 3 unreadable input, 4 rejected rows with --strict, 1 bug"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from salesmining import __version__

    parser.add_argument("--version", action="version", version=f"salesmining {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    q = sub.add_parser(
        "quality",
        help="read a log and report how every row was accounted for",
        description="Read a log and print (or write as HTML/JSON) its data-quality report.",
    )
    _add_input_options(q)
    q.add_argument("-o", "--output", help="write the HTML quality report here")
    q.add_argument("--json", metavar="FILE", help="write the summary as JSON ('-' for stdout)")

    d = sub.add_parser(
        "diagnose",
        help="diagnose a sales process and write an HTML report",
        description="Read a log, analyse it against the intended stages, and write an HTML report.",
    )
    _add_input_options(d)
    d.add_argument("--stages", help="YAML file describing the intended stage sequence")
    d.add_argument("-o", "--output", default="report.html", help="HTML report to write (default: report.html)")
    d.add_argument("--json", metavar="FILE", help="write the machine-readable summary as JSON ('-' for stdout)")
    return parser


def load_log(args: argparse.Namespace) -> EventLog:
    """Read the log named on the command line with the mapping options (or guesses)."""
    path = Path(args.log)
    fmt = args.format
    if fmt == "auto":
        fmt = "xes" if path.name.lower().endswith((".xes", ".xes.gz")) else "csv"
    _progress(args, f"reading {path}")
    if fmt == "xes":
        from salesmining._xes import read_xes

        return read_xes(path, strict=args.strict)
    frame, source, used, warns, notes = _io.read_table_file(path, encoding=args.encoding, sep=args.sep)
    cols = [str(c) for c in frame.columns]
    mapping: dict[str, str | None] = {}
    for role in ("case", "activity", "timestamp"):
        given = getattr(args, role)
        mapping[role] = given or guess_column(cols, role)
        if mapping[role] is None:
            raise LogSchemaError(
                f"{source}: cannot tell which column holds the {role}; pass --{role} COLUMN. Columns present: {cols}",
                source=source,
            )
    resource = args.resource or guess_column(cols, "resource")
    amount = args.amount or guess_column(cols, "amount")
    result = args.approval_result or guess_column(cols, "approval_result")
    optional = {"resource": resource, "amount": amount, "approval_result": result}
    guessed = {k: v for k, v in {**mapping, **optional}.items() if v and not getattr(args, k)}
    if guessed:
        _progress(args, "guessed columns: " + ", ".join(f"{k}={v!r}" for k, v in guessed.items()))
    return _io._ingest(
        frame,
        source=source,
        encoding=used,
        extra_warnings=warns,
        notes=notes,
        case=str(mapping["case"]),
        activity=str(mapping["activity"]),
        timestamp=str(mapping["timestamp"]),
        start_timestamp=args.start_timestamp,
        resource=resource,
        lifecycle=None,
        approval_result=result,
        case_attributes=args.case_attribute if args.case_attribute is not None else "auto",
        outcome=args.outcome,
        amount=amount,
        owner=None,
        timezone=args.timezone,
        dayfirst=args.dayfirst,
        date_format=args.date_format,
        strict=args.strict,
        plausible_range=_io.DEFAULT_PLAUSIBLE_RANGE,
        name=source,
        file_lines=True,
    )


def log_summary(log: EventLog) -> dict[str, Any]:
    """The ``log`` object of the JSON contract."""
    q = log.quality
    return {
        "cases": log.n_cases,
        "events": log.n_events,
        "activities": len(log.activities),
        "rows_read": q.rows_read,
        "rows_rejected": q.rows_rejected,
        "rejections_by_reason": {
            str(reason): int(rows)
            for reason, rows in zip(q.counts()["reason"], q.counts()["rows"], strict=True)
            if rows
        },
        "warnings": [{"code": w.code, "count": w.count, "message": w.message} for w in q.warnings],
    }


def _write_json(target: str, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, ensure_ascii=False, indent=2, default=str)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n", encoding="utf-8")


def _print_summary(log: EventLog) -> None:
    q = log.quality
    print(repr(log))
    print(f"rows: {q.rows_read:,} read, {q.rows_kept:,} kept, {q.rows_rejected:,} rejected")
    counts = q.counts()
    for reason, rows, meaning in zip(counts["reason"], counts["rows"], counts["meaning"], strict=False):
        if rows:
            print(f"  rejected {int(rows):>8,}  {reason}: {meaning}")
    for w in q.warnings:
        print(f"  warning  {w.count:>8,}  {w.code}: {w.message}")


def _cmd_quality(args: argparse.Namespace) -> int:
    from salesmining._report import quality_report_html, write_text

    log = load_log(args)
    if args.json:
        _write_json(args.json, {"log": log_summary(log)})
    if args.json != "-":
        _print_summary(log)
    if args.output:
        p = write_text(args.output, quality_report_html(log))
        _progress(args, f"wrote {p}")
    return EXIT_OK


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from salesmining._report import quality_report_html, write_text

    log = load_log(args)
    _progress(args, f"read {log.n_cases:,} cases, {log.n_events:,} events")
    html = quality_report_html(log, title=f"Diagnosis — {log.name}")
    p = write_text(args.output, html)
    _progress(args, f"wrote {p}")
    if args.json:
        _write_json(args.json, {"log": log_summary(log)})
    if args.json != "-":
        _print_summary(log)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``salesmining`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "quality":
            return _cmd_quality(args)
        if args.command == "diagnose":
            return _cmd_diagnose(args)
    except LogSchemaError as exc:
        print(f"salesmining: error: {exc}", file=sys.stderr)
        return EXIT_STRICT if getattr(args, "strict", False) and exc.row is not None else EXIT_INPUT
    except SalesminingError as exc:
        print(f"salesmining: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
