"""Diagnose every log in ../shared/real_logs and print what a consultant would read first.

    python scripts/findings_on_real_logs.py            # Markdown to stdout
    python scripts/findings_on_real_logs.py --top 8    # more findings per log

The source of docs/findings-on-real-logs.md: for each log, how it was read, the stage model
(given or inferred), the model fit, the headline KPIs, the top findings with their evidence
and the time they charge, and the audit of time counted once. Logs that are absent are listed
as skipped. Set SALESMINING_REAL_LOGS to read them from elsewhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

import salesmining as sm

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))
os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")

P = "Request For Payment "


def _bpic2012() -> tuple[sm.EventLog, Any]:
    log = sm.read_xes(REAL / "bpic2012/BPI_Challenge_2012.xes.gz")
    model = sm.StageModel(
        ["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "A_ACCEPTED", "A_FINALIZED"],
        outcomes={"won": ["A_ACTIVATED"], "lost": ["A_DECLINED", "A_CANCELLED"]},
        anywhere=["A_APPROVED", "A_REGISTERED"],
        name="BPIC 2012 application funnel",
    )
    return log, model


def _bpic2020() -> tuple[sm.EventLog, Any]:
    log = sm.read_xes(REAL / "bpic2020/RequestForPayment.xes.gz")
    approvals = [
        P + a
        for a in (
            "APPROVED by ADMINISTRATION",
            "APPROVED by BUDGET OWNER",
            "APPROVED by PRE_APPROVER",
            "APPROVED by SUPERVISOR",
            "FINAL_APPROVED by SUPERVISOR",
            "FINAL_APPROVED by DIRECTOR",
        )
    ]
    model = sm.StageModel(
        [P + "SUBMITTED by EMPLOYEE", "Request Payment"],
        outcomes={"won": ["Payment Handled"], "lost": [P + "REJECTED by EMPLOYEE"]},
        approvals=dict.fromkeys(approvals, P + "SUBMITTED by EMPLOYEE"),
        anywhere=[
            P + f"REJECTED by {x}" for x in ("ADMINISTRATION", "SUPERVISOR", "MISSING", "PRE_APPROVER", "BUDGET OWNER")
        ]
        + [P + "SAVED by EMPLOYEE"],
        name="BPIC 2020 request for payment",
    )
    return log, model


def _pm4py_csv(path: str) -> Callable[[], tuple[sm.EventLog, Any]]:
    def load() -> tuple[sm.EventLog, Any]:
        log = sm.read_csv(
            REAL / path,
            case="case:concept:name",
            activity="concept:name",
            timestamp="time:timestamp",
            resource="org:resource",
        )
        return log, sm.StageModel.infer(log)

    return load


def _salesforce(kind: str) -> Callable[[], tuple[sm.EventLog, Any]]:
    def load() -> tuple[sm.EventLog, Any]:
        folder = REAL / "salesforce"
        log = sm.read_salesforce(
            folder / f"OpportunityHistory_{kind}.csv", opportunities=folder / f"Opportunity_{kind}.csv"
        )
        return log, sm.StageModel.infer(log)

    return load


LOGS: dict[str, tuple[str, Callable[[], tuple[sm.EventLog, Any]]]] = {
    "BPIC 2012 (loan applications)": ("bpic2012/BPI_Challenge_2012.xes.gz", _bpic2012),
    "BPIC 2020 (request for payment)": ("bpic2020/RequestForPayment.xes.gz", _bpic2020),
    "Receipt (environmental permits)": ("receipt/receipt.csv.gz", _pm4py_csv("receipt/receipt.csv.gz")),
    "Road traffic fines (100 cases)": (
        "roadtraffic/roadtraffic100traces.csv",
        _pm4py_csv("roadtraffic/roadtraffic100traces.csv"),
    ),
    "Salesforce demo org": ("salesforce/OpportunityHistory_demo_org.csv", _salesforce("demo_org")),
    "Salesforce US locale": ("salesforce/OpportunityHistory_us_locale.csv", _salesforce("us_locale")),
}


def _md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = [str(v).replace("|", "\\|").replace("\n", " ") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _time_audit(d: sm.Diagnosis) -> str:
    f = d.findings.to_frame()
    ev = d.findings.evidence
    cases = d.log.cases
    closed = ev
    if "stalled" in ev.columns:
        closed = ev[~ev["stalled"].fillna(False).astype(bool)]
    charged = closed.groupby("case_id")["time_lost_s"].sum()
    ct = d.log.to_frame().groupby("case:concept:name")["time:timestamp"].agg(["min", "max"])
    duration = (ct["max"] - ct["min"]).dt.total_seconds()
    over = int((charged > duration.reindex(charged.index) + 1e-6).sum())
    share = charged.sum() / duration.sum() if duration.sum() else float("nan")
    return (
        f"time charged by findings (stalled open cases aside): {charged.sum() / 3600:,.0f} h = {share:.1%} of all "
        f"case time; cases charged more than they lasted: {over:,} of {len(cases):,}; findings: {len(f)}"
    )


def report(top: int) -> str:
    out = ["<!-- generated by scripts/findings_on_real_logs.py -->"]
    for title, (path, load) in LOGS.items():
        out.append(f"\n## {title}\n")
        if not (REAL / path).exists():
            out.append(f"_skipped: {path} not found under {REAL}_")
            continue
        t0 = time.perf_counter()
        try:
            log, model = load()
            d = sm.diagnose(log, model)
            d.findings  # noqa: B018 - compute now, inside the try
        except sm.SalesminingError as exc:
            out.append(f"_could not be diagnosed: {type(exc).__name__}: {exc}_")
            continue
        f = d.findings.to_frame()
        out.append(f"`{log!r}`\n")
        out.append(f"Stage model: `{model!r}`\n")
        fit = getattr(d.conformance, "fit", None)
        out.append(f"Fit: `{fit!r}`\n" if fit is not None else f"Conformance: `{d.conformance!r}`\n")
        out.append(f"KPIs: `{d.kpis!r}`\n")
        out.append(_time_audit(d) + "\n")
        cols = [c for c in ("rank", "severity", "kind", "rule", "where", "cases", "time_lost_hours") if c in f.columns]
        shown = f[cols].head(top).copy()
        if "time_lost_hours" in shown:
            shown["time_lost_hours"] = shown["time_lost_hours"].round(1)
        out.append(_md_table(shown) + "\n")
        for w in d.findings.warnings:
            out.append(f"* warning: {w}")
        out.append(f"\n_{time.perf_counter() - t0:.1f} s_")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=6)
    args = parser.parse_args(argv)
    sys.stdout.write(report(args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
