"""The ``salesmining`` command.

Exit codes (a stable contract for scripts):

* 0 — success
* 2 — usage error (bad options, including an option value the readers refuse)
* 3 — the input could not be read as an event log (file, columns, encoding, dates...)
* 4 — the input was read but rows were rejected and ``--strict`` was given
* 5 — ``--fail-on SEVERITY`` was given and a finding of that severity (or worse) was found
* 1 — anything else (a bug: please report it)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from salesmining.core.errors import ArgumentTypeError, LogSchemaError, OptionError, OutputError, SalesminingError
from salesmining.core.files import write_atomic
from salesmining.core.formatting import one_line
from salesmining.ingest.files import source_name
from salesmining.ingest.frames import build_log
from salesmining.ingest.options import ColumnMap, ReadOptions
from salesmining.ingest.parquet import is_parquet_path, parquet_columns, read_parquet_coded
from salesmining.ingest.tabular import read_frame
from salesmining.log.eventlog import EventLog

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_INPUT, EXIT_STRICT, EXIT_FINDINGS, EXIT_OUTPUT = 0, 1, 2, 3, 4, 5, 6
#: The map budget of ``graph`` without ``--coverage``: activities (and twice as many paths).
MAP_ACTIVITIES = 15
CRM_FORMATS = ("salesforce", "hubspot", "pipedrive", "field-history")

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
        _print(f"[salesmining {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _add_input_options(p: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        p.add_argument(
            "log", help="the event log or CRM export (CSV, CSV.gz, Parquet, XES, or a CRM export with --format)"
        )
    g = p.add_argument_group(
        "reading the log",
        "Column names default to a guess among common names (case:concept:name, Opportunity ID, deal_id, "
        "Activity, StageName, Timestamp, CreatedDate, ...); the guess is printed.",
    )
    g.add_argument(
        "--format",
        choices=["auto", "csv", "parquet", "xes", *CRM_FORMATS],
        default="auto",
        help="input format (default: by extension); CRM formats read the CRM's history export",
    )
    g.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="an extra input for a CRM reader, e.g. --with opportunities=Opportunity.csv (salesforce: opportunities, "
        "field_history, approvals, tasks, events; hubspot: pipelines, deals; pipedrive: stages, deals)",
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
            "  salesmining compare sample_logs/opportunities_before.csv sample_logs/opportunities_after.csv "
            "--stages sample_logs/stages.yaml\n"
            "  salesmining drift sample_logs/opportunities.csv --stages sample_logs/stages.yaml --freq M\n"
            "  salesmining graph sample_logs/opportunities.csv --stages sample_logs/stages.yaml --findings -o map.svg\n"
            "  salesmining what-if sample_logs/opportunities.csv --stages sample_logs/stages.yaml "
            "--remove 'Manager Approval' --cap Contact=2d\n"
            "  salesmining diagnose OpportunityHistory.csv --format salesforce --with opportunities=Opportunity.csv\n"
            "  salesmining quality export.csv --case 'Deal ID' --activity Stage --timestamp 'Changed At' --dayfirst\n\n"
            "exit codes: 0 ok, 2 usage, 3 unreadable input, 4 rejected rows with --strict, "
            "5 findings at --fail-on severity, 6 output not written (or map not drawable), 1 bug"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from salesmining.core.version import version

    parser.add_argument("--version", action="version", version=f"salesmining {version()}")
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
        description="Read a log, compare it with the intended stages, find loops, skipped stages, long waits, "
        "redundant approvals, slow responses and handoff delays, and write one self-contained HTML report.",
    )
    _add_input_options(d)
    d.add_argument(
        "--stages",
        help="YAML file describing the intended process (default: inferred from the log, which the report states)",
    )
    d.add_argument("-o", "--output", default="report.html", help="HTML report to write (default: report.html)")
    d.add_argument("--json", metavar="FILE", help="write the machine-readable summary as JSON ('-' for stdout)")
    d.add_argument("--pdf", metavar="FILE.pdf", help="also write the report as a PDF (needs Chromium or WeasyPrint)")
    d.add_argument("--tables", metavar="FOLDER", help="also write every table as CSV files into FOLDER")
    d.add_argument("--excel", metavar="FILE.xlsx", help="also write every table into one Excel workbook")
    d.add_argument(
        "--fail-on",
        choices=["high", "medium", "low"],
        help="exit with code 5 when a finding of this severity or worse is found",
    )

    c = sub.add_parser(
        "compare",
        help="compare a process before and after a change",
        description="KPI changes with bootstrap confidence intervals, findings resolved / new / better / worse, "
        "and the process-map difference, as one HTML report.",
    )
    c.add_argument("before", help="the log before the change (or the only log, with --split-at)")
    c.add_argument("after", nargs="?", help="the log after the change")
    _add_input_options(c, positional=False)
    c.add_argument("--stages", required=True, help="YAML file describing the intended process")
    c.add_argument("--split-at", metavar="DATE", help="compare one log's cases started before / from this date")
    c.add_argument("-o", "--output", default="comparison.html", help="HTML report to write")
    c.add_argument("--json", metavar="FILE", help="write the comparison as JSON ('-' for stdout)")
    c.add_argument("--pdf", metavar="FILE.pdf", help="also write the report as a PDF (needs Chromium or WeasyPrint)")
    c.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    c.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap (default 0)")

    w = sub.add_parser(
        "what-if",
        help="project the KPIs after removing, capping or parallelising steps",
        description="Replay structural changes on every case (through the findings' attribution of time) and "
        "print the projected cycle time, time lost per finding kind and SLA shares next to today's, with bootstrap "
        "confidence intervals. No queueing effects; win-rate differences are observational.",
    )
    _add_input_options(w)
    w.add_argument("--stages", required=True, help="YAML file describing the intended process")
    w.add_argument("--remove", action="append", default=[], metavar="STEP", help="remove a step (repeatable)")
    w.add_argument("--cap", action="append", default=[], metavar="STEP=DURATION", help="cap a wait, e.g. Contact=2d")
    w.add_argument("--parallel", action="append", default=[], metavar="A,B", help="run two steps in parallel")
    w.add_argument("-o", "--output", help="also write the result as an HTML page")
    w.add_argument("--json", metavar="FILE", help="write the result as JSON ('-' for stdout)")
    w.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    w.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap (default 0)")
    dr = sub.add_parser(
        "drift",
        help="the process over time: KPIs by week or month of case start, with change points",
        description="Cycle time, conformance, win rate and each finding kind's rate by case-start period "
        "(over an equal follow-up window), with the change points confirmed on the cases and what moved at each.",
    )
    _add_input_options(dr)
    dr.add_argument("--stages", required=True, help="YAML file describing the intended process")
    dr.add_argument("--freq", choices=["W", "M"], default="W", help="periods: W (weeks, default) or M (months)")
    dr.add_argument(
        "--min-cases", type=int, default=10, metavar="N", help="fewest measured cases for a period to count"
    )
    dr.add_argument("--json", metavar="FILE", help="write the series and change points as JSON ('-' for stdout)")

    gr = sub.add_parser(
        "graph",
        help="draw the process map (SVG, PNG, PDF or DOT)",
        description="Draw the discovered process map, optionally with the intended path and findings.",
    )
    _add_input_options(gr)
    gr.add_argument("-o", "--output", default="map.svg", help="file to write; the extension picks the format")
    gr.add_argument("--stages", help="draw the intended path of this stage model")
    gr.add_argument("--view", choices=["frequency", "performance"], default="frequency")
    gr.add_argument(
        "--stat",
        choices=["median", "mean", "p90", "max", "total"],
        default="median",
        help="waiting-time statistic of the performance view",
    )
    gr.add_argument("--findings", action="store_true", help="put finding badges on the map (needs --stages)")
    gr.add_argument(
        "--coverage",
        type=float,
        help="keep the activities covering this share of events (default: a readable map of at most "
        f"{MAP_ACTIVITIES} activities and {2 * MAP_ACTIVITIES} paths, the stages always kept; 1 draws everything)",
    )
    gr.add_argument("--dpi", type=int, help="resolution of PNG output")
    return parser


def load_log(args: argparse.Namespace) -> EventLog:
    """Read the log named on the command line with the mapping options (or guesses)."""
    return read_log_arg(args, args.log)


def read_log_arg(args: argparse.Namespace, log_path: str) -> EventLog:
    """Read one log argument with the reading options."""
    path = Path(log_path)
    fmt = args.format
    if fmt in CRM_FORMATS:
        return _read_crm(args, path, fmt)
    if fmt == "auto":
        fmt = (
            "xes" if path.name.lower().endswith((".xes", ".xes.gz")) else "parquet" if is_parquet_path(path) else "csv"
        )
    _progress(args, f"reading {path}")
    if fmt == "xes":
        from salesmining.ingest.xes import read_xes

        return read_xes(path, strict=args.strict)
    options = read_options(args)
    frame: Any = None
    if fmt == "parquet":  # the roles from the schema, then the data read with the text columns coded
        source, cols = source_name(path), parquet_columns(path)
    else:
        frame, origin = read_frame(path, options)
        source, cols = origin.source, [str(c) for c in frame.columns]
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
    columns = ColumnMap(
        case=str(mapping["case"]),
        activity=str(mapping["activity"]),
        timestamp=str(mapping["timestamp"]),
        start_timestamp=args.start_timestamp,
        resource=resource,
        approval_result=result,
        outcome=args.outcome,
        amount=amount,
        case_attributes=tuple(args.case_attribute) if args.case_attribute is not None else "auto",
    )
    if frame is None:
        times = [c for c in (columns.timestamp, columns.start_timestamp) if c is not None]
        frame, origin, coded = read_parquet_coded(path, times)
        return build_log(frame, columns, replace(options, name=origin.source), origin, coded=coded)
    return build_log(frame, columns, replace(options, name=source), origin)


def read_options(args: argparse.Namespace) -> ReadOptions:
    """The reading options given on the command line (checked once, here)."""
    return ReadOptions(
        timezone=args.timezone,
        dayfirst=args.dayfirst,
        date_format=args.date_format,
        encoding=args.encoding,
        sep=args.sep,
        strict=args.strict,
    )


def _read_crm(args: argparse.Namespace, path: Path, fmt: str) -> EventLog:
    import inspect

    from salesmining.ingest import crm as sm

    extra: dict[str, str] = {}
    for item in args.extra:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise OptionError(f"--with expects NAME=FILE, not {item!r}")
        extra[name.strip().replace("-", "_")] = file
    readers: dict[str, Any] = {
        "salesforce": sm.read_salesforce,
        "hubspot": sm.read_hubspot,
        "pipedrive": sm.read_pipedrive,
        "field-history": sm.read_field_history,
    }
    reader = cast("Callable[..., EventLog]", readers[fmt])
    params = inspect.signature(reader).parameters
    unknown = sorted(set(extra) - set(params))
    if unknown:
        raise OptionError(f"the {fmt} reader takes no input named {unknown}; its options are {sorted(params)}")
    read = read_options(args)
    options = {
        k: getattr(read, k)
        for k in ("encoding", "timezone", "dayfirst")
        if k in params and getattr(read, k) is not None
    }
    return reader(path, **options, **extra)


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


def _print(*parts: object, file: Any = None, flush: bool = False) -> None:
    """Print for a person: data from the export (stage names, owners, ids) cannot reach the terminal
    as control sequences — line breaks, escapes and other control characters are shown escaped."""
    print(*(one_line(p) for p in parts), file=file if file is not None else sys.stdout, flush=flush)


def _write_json(target: str, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, ensure_ascii=False, indent=2, default=str)
    if target == "-":
        print(text)
    else:
        write_atomic(target, text + "\n")


def _print_summary(log: EventLog) -> None:
    q = log.quality
    _print(repr(log))
    _print(f"rows: {q.rows_read:,} read, {q.rows_kept:,} kept, {q.rows_rejected:,} rejected")
    counts = q.counts()
    for reason, rows, meaning in zip(counts["reason"], counts["rows"], counts["meaning"], strict=False):
        if rows:
            _print(f"  rejected {int(rows):>8,}  {reason}: {meaning}")
    for w in q.warnings:
        _print(f"  warning  {w.count:>8,}  {w.code}: {w.message}")


def _cmd_quality(args: argparse.Namespace) -> int:
    log = load_log(args)
    if args.json:
        _write_json(args.json, {"log": log_summary(log)})
    if args.json != "-":
        _print_summary(log)
    if args.output:
        p = log.write_quality_html(args.output)
        _progress(args, f"wrote {p}")
    return EXIT_OK


def _stage_model(args: argparse.Namespace, log: EventLog) -> Any:
    from salesmining.analysis.stages import StageModel

    if args.stages:
        return StageModel.from_yaml(args.stages)
    model = StageModel.infer(log)
    if args.json != "-":
        print(
            f"no --stages given: using a stage model INFERRED from the log (review it; --stages to give one): {model!r}"
        )
        for line in model.basis:
            print(f"  inferred: {line}")
    return model


def _print_fit(conf: Any) -> None:
    """The model-fit verdict, its numbers and what to do, before any finding."""
    fit = conf.fit
    print(fit.headline)
    for w in fit.warnings:
        print(f"  WARNING: {w}")
    for n in fit.notes:
        print(f"  note: {n}")


def _write_pdf(args: argparse.Namespace, report: Any) -> bool:
    """Write ``--pdf``; on failure one plain sentence on stderr (the HTML report is written already)."""
    from salesmining.core.errors import RenderError

    _progress(args, "printing the PDF")
    try:
        p = report.write_pdf(args.pdf)
    except RenderError as exc:
        _print(f"salesmining: error: no PDF written: {exc}", file=sys.stderr)
        return False
    _progress(args, f"wrote {p}")
    return True


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from salesmining.diagnosis.diagnose import diagnose

    log = load_log(args)
    _progress(args, f"read {log.n_cases:,} cases, {log.n_events:,} events")
    model = _stage_model(args, log)
    title = None if args.stages else f"Sales process diagnosis — {log.name} (stage model inferred from the log)"
    d = diagnose(log, model, title=title)
    d._draw_ahead()  # the map's layouts run in the background while the findings are computed
    _progress(args, "comparing with the intended stages")
    _ = d.conformance
    _progress(args, "finding bottlenecks")
    f = d.findings.to_frame()
    _progress(args, "drawing the report")
    p = d.write_html(args.output)
    _progress(args, f"wrote {p}")
    if args.pdf and not _write_pdf(args, d):
        return EXIT_OUTPUT
    if args.tables:
        for t in d.write_tables(args.tables, format="csv"):
            _progress(args, f"wrote {t}")
    if args.excel:
        target = Path(args.excel)
        written = d.write_tables(target.parent, format="xlsx")
        written[0].replace(target)
        _progress(args, f"wrote {target}")
    if args.json:
        _write_json(args.json, d.to_dict())
    if args.json != "-":
        _print_summary(log)
        _print_fit(d.conformance)
        for r in f.head(10).to_dict("records"):
            _print(
                f"  #{r['rank']:<3} {r['severity']:<6} {r['kind']:<18} {r['where']}  "
                f"({r['cases']:,} cases, {r['time_lost_hours']:,.0f} h lost)"
            )
    if args.fail_on:
        order = ["high", "medium", "low"]
        if any(order.index(str(s)) <= order.index(args.fail_on) for s in set(f["severity"])):
            return EXIT_FINDINGS
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from salesmining.analysis.stages import StageModel
    from salesmining.diagnosis.compare import compare

    model = StageModel.from_yaml(args.stages)
    if args.split_at:
        if args.after:
            raise OptionError("give either two logs or one log with --split-at, not both")
        before, after = read_log_arg(args, args.before).split(at=args.split_at)
    else:
        if not args.after:
            raise OptionError("compare needs two logs (BEFORE AFTER), or one log with --split-at DATE")
        before, after = read_log_arg(args, args.before), read_log_arg(args, args.after)
    _progress(args, f"before: {before.n_cases:,} cases; after: {after.n_cases:,} cases; bootstrapping")
    c = compare(before, after, model, n_boot=args.bootstrap, seed=args.seed)
    p = c.write_html(args.output)
    _progress(args, f"wrote {p}")
    if args.pdf and not _write_pdf(args, c):
        return EXIT_OUTPUT
    if args.json:
        _write_json(args.json, c.to_dict())
    if args.json != "-":
        for r in c.kpis.to_dict("records"):
            _print(f"  {r['metric']:<42} {r['before']:>10.3f} → {r['after']:>10.3f}  {r['verdict']}")
    return EXIT_OK


def _cmd_what_if(args: argparse.Namespace) -> int:
    from salesmining.analysis.stages import StageModel
    from salesmining.findings.changes import parse_cli
    from salesmining.findings.whatif import what_if

    changes = parse_cli(args.remove, args.cap, args.parallel)
    if not changes:
        raise OptionError("what-if needs at least one change: --remove STEP, --cap STEP=DURATION or --parallel A,B")
    model = StageModel.from_yaml(args.stages)
    log = load_log(args)
    _progress(args, f"read {log.n_cases:,} cases, {log.n_events:,} events; replaying {len(changes)} change(s)")
    res = what_if(log, model, changes, n_boot=args.bootstrap, seed=args.seed)
    if args.output:
        _progress(args, f"wrote {res.write_html(args.output)}")
    if args.json:
        _write_json(args.json, res.to_dict())
    if args.json != "-":
        from salesmining.core import formatting

        _print(f"{formatting.count(res.affected_cases)} of {formatting.count(res.n_cases)} cases change")
        for kpi, today, projected, interval, change, _ in res._rows_html():
            _print(f"  {kpi:<42} {today:>12} → {projected:>12}  (95% {interval}; {change})")
        for n in res.notes:
            _print(f"  note: {n}")
    return EXIT_OK


def _cmd_drift(args: argparse.Namespace) -> int:
    from salesmining.analysis.stages import StageModel
    from salesmining.diagnosis.drift import drift

    model = StageModel.from_yaml(args.stages)
    log = load_log(args)
    _progress(args, f"{log.n_cases:,} cases; diagnosing and looking for change points by {args.freq}")
    dr = drift(log, model, freq=args.freq, min_cases=args.min_cases)
    if args.json:
        _write_json(args.json, dr.to_dict())
    if args.json != "-":
        s = dr.series
        _print(f"{len(s)} periods, {int(s['enough'].sum())} with at least {dr.min_cases} measured cases")
        for n in dr.notes:
            _print(f"  note: {n}")
        cp = dr.change_points
        _print(f"{len(cp)} change points" + (":" if len(cp) else ""))
        for r in cp.to_dict("records"):
            _print(f"  {one_line(r['explanation'])} (p = {r['p_value']:.2g})")
    return EXIT_OK


def _cmd_graph(args: argparse.Namespace) -> int:
    from salesmining.analysis.discover import ProcessGraph, discover, fit_to_width
    from salesmining.analysis.stages import StageModel
    from salesmining.findings.detect import find_bottlenecks
    from salesmining.present.maps import draw_map, write_graph

    log = load_log(args)
    model = StageModel.from_yaml(args.stages) if args.stages else None
    if args.findings and model is None:
        raise OptionError("--findings needs --stages")
    shown = log.filter(exclude_activities=model.anywhere) if model is not None and model.anywhere else log
    if args.coverage is not None:  # explicit: exactly this coverage, no budget
        g = discover(shown, activity_coverage=args.coverage)
    else:  # a budget, smaller while the map's text would be below 10 px at a report's width
        spine = None if model is None else [*model.stages, *model.won, *model.lost]

        def within(n: int) -> ProcessGraph:
            return discover(shown, keep_activities=spine, max_activities=n, max_edges=2 * n)

        g = fit_to_width(within(MAP_ACTIVITIES), within, stages=model)
    f = find_bottlenecks(log, model) if args.findings and model is not None else None
    drawing = draw_map(g, view=args.view, stat=args.stat, stages=model, findings=f)
    if drawing.dot is None:  # Graphviz missing or failing on every layout: one sentence, no file
        _print(f"salesmining: {drawing.message}", file=sys.stderr)
        return EXIT_OUTPUT
    suffix = Path(args.output).suffix.lower()
    if suffix in ("", ".svg") and drawing.svg is not None:
        p = write_atomic(Path(args.output), drawing.svg)
    else:
        p = write_graph(drawing.dot, args.output, dpi=args.dpi)
    _progress(args, f"wrote {p}" + (f" ({drawing.hidden})" if drawing.hidden else ""))
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
        if args.command == "compare":
            return _cmd_compare(args)
        if args.command == "drift":
            return _cmd_drift(args)
        if args.command == "graph":
            return _cmd_graph(args)
        if args.command == "what-if":
            return _cmd_what_if(args)
    except OutputError as exc:  # a report, table, map or JSON file could not be written
        _print(f"salesmining: error: {exc}", file=sys.stderr)
        return EXIT_OUTPUT
    except (OptionError, ArgumentTypeError) as exc:  # a bad option value: a usage error
        _print(f"salesmining: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LogSchemaError as exc:
        _print(f"salesmining: error: {exc}", file=sys.stderr)
        return EXIT_STRICT if getattr(args, "strict", False) and exc.row is not None else EXIT_INPUT
    except SalesminingError as exc:
        _print(f"salesmining: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
