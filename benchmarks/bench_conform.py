"""conform() against a StageModel vs pm4py alignments on the equivalent Petri nets.

Run: ``python benchmarks/bench_conform.py`` (add ``--quick`` to skip the large logs).

For every log, salesmining's time is one call of :func:`salesmining.conform` on a fresh log
(reading the variants included; the lazy aggregates — deviations, skip and backtrack rates —
are timed separately). pm4py is timed twice for the same per-case alignment costs:

* ``pm4py (log)`` — what a pm4py user would run: drop approvals and ``anywhere`` activities
  from the event DataFrame, then ``pm4py.conformance_diagnostics_alignments`` on the cases of
  each (end, entry stage) group against its net (``_conform.stage_model_to_petri_net``); pm4py
  finds the variants itself.
* ``pm4py (min)`` — only the alignment calls, given one trace per distinct aligned sequence:
  the least work pm4py can do for the same answer. Compared with ``DP``: salesmining's
  alignment step alone on the same distinct sequences (the rest of ``conform`` is reading
  variants, per-variant facts and assembling the per-case table).

The costs are compared case by case; the run fails if any differs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")
os.environ.setdefault("PM4PY_SHOW_INTERNAL_WARNINGS", "false")

import numpy as np
import pandas as pd

import salesmining as sm
from salesmining.analysis import conform as _conform
from salesmining.datasets import generate_sales_log, stages_yaml
from salesmining.interop import pm4py as _pm4py

ROOT = Path(__file__).resolve().parents[1]
REAL_LOGS = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))


def sales_log(n_cases: int, seed: int) -> tuple[sm.EventLog, sm.StageModel]:
    events, _ = generate_sales_log(n_cases=n_cases, seed=seed)
    log = sm.from_dataframe(events, case="Opportunity ID", activity="Activity", timestamp="Timestamp")
    import yaml

    return log, sm.StageModel.from_dict(yaml.safe_load(stages_yaml()))


def pm4py_groups(log: sm.EventLog, model: sm.StageModel) -> dict[tuple[str, bool | str], list[list[str]]]:
    """Distinct aligned sequences, grouped by the net they are aligned against (see the module notes)."""
    terminal = {*model.won, *model.lost}
    keep = set(model.stages) | terminal
    groups: dict[tuple[str, bool | str], set[tuple[str, ...]]] = {}
    for key in log._sequences.attrs["keys"]:
        acts = key.split("\x1f")
        trace = tuple(a for a in acts if a in keep or a not in model.activities)
        core = [a for a in acts if a in keep]
        end = "open" if not core or core[-1] not in terminal else "won" if core[-1] in model.won else "lost"
        entry = next((a for a in acts if a in model.stages), True)
        if trace:
            groups.setdefault((end, entry), set()).add(trace)
    return {k: sorted(list(t) for t in v) for k, v in groups.items()}


def pm4py_on_log(log: sm.EventLog, model: sm.StageModel) -> tuple[float, dict[str, int]]:
    """The pm4py user's route: project the DataFrame, group cases by end and entry, align each group."""
    pm = _pm4py.pm4py()
    df = log.to_pm4py()
    t0 = time.perf_counter()
    free = set(model.approvals) | set(model.anywhere)
    proj = df[~df["concept:name"].isin(free)]
    terminal = {*model.won, *model.lost}
    core = proj[proj["concept:name"].isin(set(model.stages) | terminal)]
    last = core.groupby("case:concept:name")["concept:name"].last()
    first_stage = core[core["concept:name"].isin(model.stages)].groupby("case:concept:name")["concept:name"].first()
    cases = pd.Index(proj["case:concept:name"].unique())
    end = last.reindex(cases).map(lambda a: "won" if a in model.won else "lost" if a in model.lost else "open")
    entry = first_stage.reindex(cases).astype(object).where(lambda s: s.notna(), True)
    out: dict[str, int] = {}
    for (e, en), ids in pd.Series(cases, index=cases).groupby([end.to_numpy(), entry.to_numpy()]):
        net, im, fm = _conform.stage_model_to_petri_net(model, end=e, late_entry=en)
        part = proj[proj["case:concept:name"].isin(ids)]
        with _pm4py._quiet():
            res = pm.conformance_diagnostics_alignments(part, net, im, fm, return_diagnostics_dataframe=True)
        out.update(zip(res["case_id"], (res["cost"] // 10000).astype(int), strict=True))
    return time.perf_counter() - t0, out


def bench(label: str, log: sm.EventLog, model: sm.StageModel) -> None:
    fresh = sm.EventLog(log.to_frame(), log.cases)  # no cached variants
    t0 = time.perf_counter()
    res = sm.conform(fresh, model)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = (res.deviations, res.skip_rates, res.backtrack_rates)
    t_aggr = time.perf_counter() - t0

    groups = pm4py_groups(log, model)
    n_traces = sum(len(v) for v in groups.values())
    aligner = _conform._Aligner.build(model)
    other = len(aligner.labels)
    codes = [
        np.array([aligner.labels.get(a, other) for a in t], dtype=np.int64)
        for traces in groups.values()
        for t in traces
    ]
    entries = np.array(
        [
            len(model.stages) if e is True else model.stages.index(e)
            for (_, e), traces in groups.items()
            for _ in traces
        ],
        dtype=np.int64,
    )
    t0 = time.perf_counter()
    dp_costs, _ = _conform._Aligner.build(model).costs(codes, entries)
    t_dp = time.perf_counter() - t0
    end_of = [_conform.ENDS.index(e) for (e, _), traces in groups.items() for _ in traces]
    dp = dict(
        zip(
            ((e, en, tuple(t)) for (e, en), tr in groups.items() for t in tr),
            dp_costs[range(len(codes)), end_of],
            strict=True,
        )
    )
    theirs: dict[tuple[str, bool | str, tuple[str, ...]], int] = {}
    t_pm = 0.0
    for (end, entry), traces in groups.items():
        net, im, fm = _conform.stage_model_to_petri_net(model, end=end, late_entry=entry)
        t0 = time.perf_counter()
        out = _pm4py.align_traces(traces, net, im, fm)
        t_pm += time.perf_counter() - t0
        for t, r in zip(traces, out, strict=True):
            theirs[(end, entry, tuple(t))] = r["cost"]

    t_pm_log, per_case = pm4py_on_log(log, model)

    # same answer? every case's cost equals pm4py's for its (end, entry, trace), both routes
    f = res.to_frame()
    mine = f.set_index("case_id")["alignment_cost"]
    mismatches = sum(int(mine[c] != v) for c, v in per_case.items())
    mismatches += sum(int(dp[k] != v) for k, v in theirs.items())
    keys = log._sequences.attrs["keys"]
    terminal = {*model.won, *model.lost}
    keep = set(model.stages) | terminal
    for vid, cost in f.drop_duplicates("variant_id")[["variant_id", "alignment_cost"]].itertuples(index=False):
        acts = keys[vid].split("\x1f")
        trace = tuple(a for a in acts if a in keep or a not in model.activities)
        if not trace:
            continue
        core = [a for a in acts if a in keep]
        end = "open" if not core or core[-1] not in terminal else "won" if core[-1] in model.won else "lost"
        entry = next((a for a in acts if a in model.stages), True)
        mismatches += int(theirs[(end, entry, trace)] != cost)
    verdict = "costs equal" if not mismatches else f"{mismatches} MISMATCHES"
    print(
        f"{label:<34} {log.n_cases:>7,} {len(keys):>8,} {n_traces:>8,}  {t_ours:7.3f}s {t_aggr:6.3f}s"
        f"  {t_pm_log:8.2f}s {t_pm_log / t_ours:6.1f}x  {t_dp * 1e3:6.1f}ms {t_pm:8.2f}s {t_pm / t_dp:7.0f}x  {verdict}"
    )
    if mismatches:
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the small logs")
    args = ap.parse_args()
    print(
        f"{'log':<34} {'cases':>7} {'variants':>8} {'aligned':>8}  {'conform':>8} {'aggr.':>7}"
        f"  {'pm4py (log)':>9} {'ratio':>6}  {'DP':>8} {'pm4py (min)':>9} {'ratio':>7}"
    )
    # warm up imports and first-call set-up on both sides, so the first row is not start-up time
    warm, warm_model = sales_log(50, seed=1)
    bench_quiet = sm.conform(warm, warm_model)
    pm4py_on_log(warm, warm_model)
    del bench_quiet
    sample = ROOT / "sample_logs"
    if (sample / "opportunities.csv").exists():
        log = sm.read_csv(
            sample / "opportunities.csv", case="Opportunity ID", activity="Activity", timestamp="Timestamp"
        )
        bench("sample_logs/opportunities.csv", log, sm.StageModel.from_yaml(sample / "stages.yaml"))
    for n in (5_000,) if args.quick else (5_000, 50_000):
        log, model = sales_log(n, seed=3)
        bench(f"generated sales log ({n:,} cases)", log, model)
    receipt = REAL_LOGS / "receipt" / "receipt.csv.gz"
    if receipt.exists():
        log = sm.read_csv(receipt, case="case:concept:name", activity="concept:name", timestamp="time:timestamp")
        inferred = sm.StageModel.infer(log, min_share=0.5)
        bench("receipt (inferred model)", log, inferred)
    bpic = REAL_LOGS / "bpic2012" / "BPI_Challenge_2012.xes.gz"
    if bpic.exists() and not args.quick:
        log = sm.read_xes(bpic)
        log = log.filter(activities=[a for a in log.activities if not a.startswith("W_")])
        ev = log.to_frame()
        complete = ev[ev["lifecycle:transition"].str.upper() == "COMPLETE"] if "lifecycle:transition" in ev else ev
        log = sm.EventLog(complete, log.cases)
        model = sm.StageModel(
            ["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "A_ACCEPTED", "O_SELECTED", "O_CREATED", "O_SENT"],
            optional=["A_PREACCEPTED"],
            outcomes={"won": ["A_APPROVED"], "lost": ["A_DECLINED", "A_CANCELLED"]},
            anywhere=["O_CANCELLED", "A_FINALIZED", "O_SENT_BACK"],
            allowed_backtracks=[("O_SENT", "O_SELECTED")],
        )
        bench("BPIC 2012 (A_/O_ events)", log, model)
        # the same model on every completed event: the W_ work items are unknown activities (log
        # moves), so traces are long and nearly every variant is a distinct alignment problem
        full = sm.read_xes(bpic)
        ev = full.to_frame()
        full = sm.EventLog(ev[ev["lifecycle:transition"].str.upper() == "COMPLETE"], full.cases)
        bench("BPIC 2012 (all, W_ unknown)", full, model)


if __name__ == "__main__":
    main()
