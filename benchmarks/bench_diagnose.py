"""The full chain against pm4py's chain and a bare polars chain, at 100k, 1M and 10M events.

    python benchmarks/bench_diagnose.py                         # 100k, 1M, 10M (pm4py skipped at 10M)
    python benchmarks/bench_diagnose.py --sizes 100k,1M --markdown
    python benchmarks/bench_diagnose.py --sizes 1M --skip-pm4py-at none

The input is the generated sales log with noise activities (``generate_sales_log(seed=5)`` plus
about two CRM noise events per case — emails, calls, meetings — between each case's first and
last event, exact duplicate rows among them dropped), written once as CSV under ``$SALESMINING_BENCH_DIR`` (default
``/tmp/salesmining-bench``): 9,000 cases ≈ 100k events, 90,000 cases ≈ 1M events; the 10M log is
the 1M log ten times under new case ids, as Parquet.

Contenders, each size and contender in its own subprocess (so peak memory is its own):

* **salesmining**: ``read_csv`` (10M: ``read_parquet`` when this salesmining has it, else
  ``pandas.read_parquet`` + ``from_dataframe``, said in the output) → ``discover`` →
  ``conform`` → ``find_bottlenecks`` (given the conformance) → ``ProcessGraph.to_dot``;
* **pm4py**: ``pandas.read_csv`` + ``pm4py.format_dataframe`` → ``discover_performance_dfg`` →
  ``get_variants`` → alignments (``conformance_diagnostics_alignments``) of the log without the
  noise activities (and without approvals / ``anywhere`` steps, as salesmining aligns), per
  (end, entry stage) group against the stage model's Petri net;
* **polars** (the floor): read, parse timestamps, sort by (case, time, row), directly-follows
  counts with median waits, variants.

Before any time is reported the shared numbers are compared: directly-follows counts and median
waits of every edge (salesmining, pm4py, polars), the number of variants and their counts, and
the alignment cost of every case (salesmining's ``conform(..., count_unknown=False)``, where the
noise activities are ignored as pm4py never sees them, against pm4py's). The run exits with 1 on
any difference. Wall time is one run per step; peak memory is the process's resident set
high-water mark during the step (sampled every 5 ms), and the process's peak overall.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")
os.environ.setdefault("PM4PY_SHOW_INTERNAL_WARNINGS", "false")

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(os.environ.get("SALESMINING_BENCH_DIR", "/tmp/salesmining-bench"))
SIZES = {"100k": 9_000, "1M": 90_000, "10M": 90_000}
NOISE = ["Email sent", "Call logged", "Meeting held", "Note added", "Task completed"]
NOISE_OWNERS = ["Rachel Kim", "Ana López", "王伟", "Tom Berg"]
COLS = {"case": "Opportunity ID", "activity": "Activity", "timestamp": "Timestamp", "resource": "Owner"}
READ = {**COLS, "approval_result": "Approval Result", "amount": "Amount"}
STEPS = {
    "salesmining": ["read", "discover", "conform", "find_bottlenecks", "to_dot"],
    "pm4py": ["read", "performance_dfg", "variants", "alignments"],
    "polars": ["read", "parse+sort", "dfg", "variants"],
}


# --- input ---------------------------------------------------------------------------------
def _generate(n_cases: int, out: Path) -> None:
    """The generated sales log plus noise activities (the recipe of the issue's measurements)."""
    import numpy as np
    import pandas as pd

    from salesmining.datasets import generate_sales_log

    ev, _ = generate_sales_log(n_cases=n_cases, seed=5)
    rng = np.random.default_rng(1)
    ts = pd.to_datetime(ev["Timestamp"], utc=True)
    g = ev.assign(_t=ts).groupby("Opportunity ID", sort=False)["_t"].agg(["min", "max"])
    k = rng.poisson(2.0, len(g))
    case = np.repeat(g.index.to_numpy(), k)
    lo = np.repeat(g["min"].to_numpy(), k)
    hi = np.repeat(g["max"].to_numpy(), k)
    t_noise = lo + (hi - lo) * rng.random(len(case))
    noise = pd.DataFrame(
        {
            "Opportunity ID": case,
            "Activity": rng.choice(NOISE, len(case)),
            "Timestamp": pd.DatetimeIndex(t_noise).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Owner": rng.choice(NOISE_OWNERS, len(case)),
        }
    )
    # two noise events of a case at the same second would be one event twice (salesmining rejects
    # the copy as a duplicate row, pm4py and polars keep it): keep one, so every contender reads the same log
    noise = noise.drop_duplicates(ignore_index=True)
    pd.concat([ev, noise], ignore_index=True).to_csv(out, index=False)


def input_file(size: str) -> Path:
    """The cached input of one size (generated on first use)."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    csv = BENCH_DIR / f"sales_{SIZES['1M' if size == '10M' else size]}.csv"
    if not csv.exists():
        print(f"generating {csv} ...", file=sys.stderr, flush=True)
        _generate(SIZES["1M" if size == "10M" else size], csv.with_suffix(".tmp"))
        csv.with_suffix(".tmp").rename(csv)
    if size != "10M":
        return csv
    parquet = BENCH_DIR / "sales_90000_x10.parquet"
    if not parquet.exists():
        import pandas as pd

        print(f"writing {parquet} ...", file=sys.stderr, flush=True)
        base = pd.read_csv(csv, dtype={"Opportunity ID": "str"}, low_memory=False)
        base["Timestamp"] = pd.to_datetime(base["Timestamp"], utc=True, format="ISO8601")
        parts = [base.assign(**{"Opportunity ID": f"R{r}-" + base["Opportunity ID"]}) for r in range(10)]
        pd.concat(parts, ignore_index=True).to_parquet(parquet.with_suffix(".tmp"), index=False)
        parquet.with_suffix(".tmp").rename(parquet)
    return parquet


def stage_model() -> Any:
    import salesmining as sm

    return sm.StageModel.from_yaml(ROOT / "sample_logs" / "stages.yaml")


# --- measuring -----------------------------------------------------------------------------
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Meter:
    """Wall time and resident-set peak of each step (a thread samples RSS every 5 ms)."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, _rss())

    def step(self, name: str, fn: Callable[[], Any]) -> Any:
        self._peak = _rss()
        t0 = time.perf_counter()
        out = fn()
        wall = time.perf_counter() - t0
        self._peak = max(self._peak, _rss())
        self.steps[name] = {"s": wall, "peak_mb": self._peak / 2**20}
        return out

    def close(self) -> dict[str, Any]:
        self._stop.set()
        import resource

        return {"steps": self.steps, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _edge_checks(edges: Any) -> dict[str, list[float]]:
    return {f"{a}\x1f{b}": [int(n), float(m)] for a, b, n, m in edges}


# --- contenders (each in its own process) --------------------------------------------------
def run_salesmining(size: str, path: Path) -> dict[str, Any]:
    import pandas as pd

    import salesmining as sm

    model = stage_model()
    m = Meter()
    note = ""
    if path.suffix == ".parquet":
        if hasattr(sm, "read_parquet"):
            log = m.step("read", lambda: sm.read_parquet(path, **READ))
            note = "read_parquet"
        else:
            log = m.step("read", lambda: sm.from_dataframe(pd.read_parquet(path), **READ))
            note = "pandas.read_parquet + from_dataframe (this salesmining has no read_parquet)"
    else:
        log = m.step("read", lambda: sm.read_csv(path, **READ))
        note = "read_csv"
    graph = m.step("discover", lambda: sm.discover(log))
    conf = m.step("conform", lambda: sm.conform(log, model))
    found = m.step("find_bottlenecks", lambda: sm.find_bottlenecks(log, model, conformance=conf))
    dot = m.step("to_dot", lambda: graph.to_dot().source)
    out = m.close()
    e = graph.to_frame()
    e = e[e["bridged"] == 0]
    out["checks"] = {
        "events": log.n_events,
        "cases": log.n_cases,
        "edges": _edge_checks(e[["source", "target", "count", "wait_median_s"]].itertuples(index=False)),
        "variant_counts": sorted(int(c) for c in log.variants()["count"]),
    }
    if size != "10M":
        quiet = sm.conform(log, model, count_unknown=False).to_frame()
        out["checks"]["costs"] = dict(zip(quiet["case_id"], (int(c) for c in quiet["alignment_cost"]), strict=True))
    out["note"] = note
    out["findings"] = len(found)
    out["dot_chars"] = len(dot)
    return out


def _pm4py_alignments(pm: Any, df: Any, model: Any) -> dict[str, int]:
    """Align the log without noise (and without approvals / anywhere steps) per (end, entry) group."""
    import pandas as pd

    from salesmining.analysis import conform as _conform

    free = set(model.approvals) | set(model.anywhere) | set(NOISE)
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
        res = pm.conformance_diagnostics_alignments(part, net, im, fm, return_diagnostics_dataframe=True)
        out.update(zip(res["case_id"], (int(c) // 10000 for c in res["cost"]), strict=True))
    return out


def run_pm4py(size: str, path: Path) -> dict[str, Any]:
    import pandas as pd
    import pm4py as pm

    model = stage_model()
    m = Meter()

    def read() -> Any:
        raw = pd.read_csv(path, dtype={COLS["case"]: "str"})
        raw[COLS["timestamp"]] = pd.to_datetime(raw[COLS["timestamp"]], utc=True, format="ISO8601")
        return pm.format_dataframe(
            raw, case_id=COLS["case"], activity_key=COLS["activity"], timestamp_key=COLS["timestamp"]
        )

    df = m.step("read", read)
    perf, _, _ = m.step("performance_dfg", lambda: pm.discover_performance_dfg(df))
    variants = m.step("variants", lambda: pm.get_variants(df))
    costs = m.step("alignments", lambda: _pm4py_alignments(pm, df, model))
    out = m.close()
    counts, _, _ = pm.discover_dfg(df)  # for the check only, not timed
    out["checks"] = {
        "events": len(df),
        "cases": int(df["case:concept:name"].nunique()),
        "edges": _edge_checks((a, b, n, perf[(a, b)]["median"]) for (a, b), n in counts.items()),
        "variant_counts": sorted(int(c if isinstance(c, int) else len(c)) for c in variants.values()),
        "costs": costs,
    }
    return out


def run_polars(size: str, path: Path) -> dict[str, Any]:
    import polars as pl

    m = Meter()
    c, a, t = COLS["case"], COLS["activity"], COLS["timestamp"]
    if path.suffix == ".parquet":
        raw = m.step("read", lambda: pl.read_parquet(path, columns=[c, a, t]))
    else:
        raw = m.step("read", lambda: pl.read_csv(path, columns=[c, a, t], schema_overrides={c: pl.String}))

    def parse_sort() -> pl.DataFrame:
        ts = pl.col(t) if raw.schema[t] != pl.String else pl.col(t).str.to_datetime(time_zone="UTC", time_unit="us")
        return (
            raw.with_row_index("row")
            .with_columns(ts.dt.epoch("us").alias("ts"))
            .sort([c, "ts", "row"])
            .select(c, a, "ts")
        )

    ev = m.step("parse+sort", parse_sort)

    def dfg() -> pl.DataFrame:
        same = pl.col(c).shift(-1) == pl.col(c)
        return (
            ev.with_columns(
                nxt=pl.when(same).then(pl.col(a).shift(-1)),
                wait=pl.when(same).then(pl.col("ts").shift(-1) - pl.col("ts")),
            )
            .filter(pl.col("nxt").is_not_null())
            .group_by(a, "nxt")
            .agg(pl.len().alias("n"), (pl.col("wait").median() / 1e6).alias("median_s"))
        )

    edges = m.step("dfg", dfg)
    variants = m.step(
        "variants", lambda: ev.group_by(c, maintain_order=True).agg(pl.col(a)).group_by(a).agg(pl.len().alias("n"))
    )
    out = m.close()
    out["checks"] = {
        "events": ev.height,
        "edges": _edge_checks(edges.select(a, "nxt", "n", "median_s").iter_rows()),
        "variant_counts": sorted(int(x) for x in variants["n"]),
    }
    return out


RUNNERS = {"salesmining": run_salesmining, "pm4py": run_pm4py, "polars": run_polars}


# --- the driver ----------------------------------------------------------------------------
def _worker(contender: str, size: str, out: Path) -> None:
    out.write_text(json.dumps(RUNNERS[contender](size, input_file(size))), encoding="utf-8")


def _spawn(contender: str, size: str) -> dict[str, Any]:
    out = BENCH_DIR / f"result_{contender}_{size}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", contender, "--sizes", size, "--out", str(out)]
    subprocess.run(cmd, check=True)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def _compare(size: str, res: dict[str, dict[str, Any]]) -> list[str]:
    """The shared numbers that differ between the contenders (empty: all agree)."""
    problems: list[str] = []
    ours = res["salesmining"]["checks"]
    for name, other in res.items():
        if name == "salesmining":
            continue
        chk = other["checks"]
        if chk["events"] != ours["events"]:
            problems.append(f"{size}: events {name} {chk['events']} vs salesmining {ours['events']}")
        for edge, (n, med) in ours["edges"].items():
            theirs = chk["edges"].get(edge)
            if theirs is None or theirs[0] != n or abs(theirs[1] - med) > 1e-6 * max(1.0, abs(med)):
                problems.append(f"{size}: edge {edge!r} salesmining {(n, med)} vs {name} {theirs}")
        extra = set(chk["edges"]) - set(ours["edges"])
        if extra and name == "polars":  # pm4py and polars see every edge; salesmining shows them all unbridged
            problems.append(f"{size}: {len(extra)} edges in {name} not in salesmining's map")
        if chk["variant_counts"] != ours["variant_counts"]:
            problems.append(f"{size}: variant counts differ from {name} ({len(chk['variant_counts'])} variants)")
        if "costs" in chk and "costs" in ours:
            diff = [k for k, v in chk["costs"].items() if ours["costs"].get(k) != v]
            if diff or len(chk["costs"]) > len(ours["costs"]):
                problems.append(f"{size}: {len(diff)} alignment costs differ from {name}, e.g. {diff[:3]}")
    return problems[:20]


def _machine() -> str:
    import importlib.metadata as md

    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GB RAM"
    except OSError:
        pass
    vers = []
    for pkg in ("salesmining", "polars", "pandas", "pyarrow", "pm4py", "narwhals"):
        with contextlib.suppress(md.PackageNotFoundError):
            vers.append(f"{pkg} {md.version(pkg)}")
    return f"{os.cpu_count()} cores, {mem}, Python {platform.python_version()}, {platform.machine()}; " + ", ".join(
        vers
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100k,1M,10M", help="comma-separated among 100k, 1M, 10M")
    ap.add_argument("--skip-pm4py-at", default="10M", help="sizes without pm4py (default 10M; 'none' runs all)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (docs/performance.md)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        ap.error(f"unknown size(s) {bad}; choose among {list(SIZES)}")
    if args.worker:
        _worker(args.worker, sizes[0], Path(args.out))
        return 0
    skip = {s.strip() for s in args.skip_pm4py_at.split(",")} - {"none", ""}
    rows: list[tuple[str, str, str, float, float]] = []
    notes: list[str] = []
    failed = False
    for size in sizes:
        input_file(size)
        res: dict[str, dict[str, Any]] = {}
        for contender in ("salesmining", "pm4py", "polars"):
            if contender == "pm4py" and size in skip:
                notes.append(
                    f"{size}: pm4py skipped (--skip-pm4py-at {size}): its chain takes minutes and more than 10 GB there"
                )
                continue
            print(f"[{size}] {contender} ...", file=sys.stderr, flush=True)
            res[contender] = _spawn(contender, size)
        problems = _compare(size, res)
        if problems:
            failed = True
            notes += [f"MISMATCH {p}" for p in problems]
        else:
            notes.append(
                f"{size}: {res['salesmining']['checks']['events']:,} events, "
                f"{res['salesmining']['checks']['cases']:,} cases, "
                f"{len(res['salesmining']['checks']['variant_counts']):,} variants; shared numbers agree "
                f"({'DFG counts, median waits, variants' + (', alignment costs' if 'pm4py' in res else '')}); "
                f"salesmining read with {res['salesmining']['note']}"
            )
        for contender, r in res.items():
            for step in STEPS[contender]:
                s = r["steps"][step]
                rows.append((size, contender, step, s["s"], s["peak_mb"]))
            total = sum(v["s"] for v in r["steps"].values())
            rows.append((size, contender, "**total**", total, r["max_rss_mb"]))
    _print(rows, notes, args.markdown)
    return 1 if failed else 0


def _print(rows: list[tuple[str, str, str, float, float]], notes: list[str], markdown: bool) -> None:
    totals = {(s, c): t for s, c, st, t, _ in rows if st == "**total**"}

    def ratio(size: str, contender: str) -> str:
        if contender != "salesmining":
            return ""
        out = []
        if (size, "pm4py") in totals:
            out.append(f"{totals[(size, 'pm4py')] / totals[(size, contender)]:.2f}× faster than pm4py")
        if (size, "polars") in totals:
            out.append(f"{totals[(size, contender)] / totals[(size, 'polars')]:.1f}× the polars chain")
        return "; ".join(out)

    print(f"machine: {_machine()}\n")
    if markdown:
        print("| size | contender | step | seconds | peak RSS (MB) | ratio |")
        print("|---|---|---|---:|---:|---|")
        for size, c, step, t, peak in rows:
            print(
                f"| {size} | {c} | {step} | {t:.2f} | {peak:,.0f} | {ratio(size, c) if step == '**total**' else ''} |"
            )
    else:
        print(f"{'size':<5} {'contender':<12} {'step':<18} {'seconds':>8} {'peak MB':>9}  ratio")
        for size, c, step, t, peak in rows:
            label = step.strip("*")
            extra = ratio(size, c) if step == "**total**" else ""
            print(f"{size:<5} {c:<12} {label:<18} {t:8.2f} {peak:9,.0f}  {extra}")
    print()
    for n in notes:
        print(("* " if markdown else "") + n)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
