"""Golden snapshots: prove that a speed change changed nothing a user can see.

    python scripts/golden.py save  DIR              # snapshot every result of every dataset
    python scripts/golden.py check DIR              # recompute and compare, exactly (dtypes too)
    python scripts/golden.py check DIR --big        # also the generated 100k and 1M logs, 100k as Parquet
    python scripts/golden.py check DIR --only gen1M # one dataset

A developer's tool, not a test: the snapshot is taken on the commit before a change and checked
after it. Datasets: the bundled samples, the shared real logs ($SALESMINING_REAL_LOGS, default
../shared/real_logs; absent ones are skipped) and, with --big, the benchmark's generated logs
($SALESMINING_BENCH_DIR), the 100k one also as Parquet through ``read_parquet``. For each it
keeps the event log, its cases, quality report, variants, the process graph, the conformance
table, every finding table (frame, evidence, attribution, root causes), the KPIs and the
diagnosis' dict, and compares frames with ``pandas.testing.assert_frame_equal(check_exact=True)``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

import salesmining as sm
from salesmining.datasets import SAMPLE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
REAL = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))
BENCH = Path(os.environ.get("SALESMINING_BENCH_DIR", "/tmp/salesmining-bench"))
os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _sample(name: str, stages: str) -> Callable[[], tuple[sm.EventLog, Any]]:
    def load() -> tuple[sm.EventLog, Any]:
        log = sm.read_csv(
            SAMPLES / f"{name}.csv",
            **SAMPLE_COLUMNS,
            case_attributes="auto",
        )
        return log, sm.StageModel.from_yaml(SAMPLES / stages)

    return load


def _bench(size: str) -> Callable[[], tuple[sm.EventLog, Any]]:
    def load() -> tuple[sm.EventLog, Any]:
        import bench_diagnose as bd

        return sm.read_csv(bd.input_file(size), **bd.READ), bd.stage_model()

    return load


def _bench_parquet(size: str, auto: bool) -> Callable[[], tuple[sm.EventLog, Any]]:
    """The generated log of ``size`` as Parquet (native timestamps), through ``read_parquet``;
    ``auto`` also lets the reader find the per-case columns, as the command line does."""

    def load() -> tuple[sm.EventLog, Any]:
        import bench_diagnose as bd

        csv = bd.input_file(size)
        path = csv.with_suffix(".parquet")
        if not path.exists():
            base = pd.read_csv(csv, dtype={"Opportunity ID": "str"}, low_memory=False)
            base["Timestamp"] = pd.to_datetime(base["Timestamp"], utc=True, format="ISO8601")
            base.to_parquet(path.with_suffix(".tmp"), index=False, row_group_size=20_000)
            path.with_suffix(".tmp").rename(path)
        extra: dict[str, Any] = {"case_attributes": "auto"} if auto else {}
        return sm.read_parquet(path, **bd.READ, **extra), bd.stage_model()

    return load


def datasets(big: bool) -> dict[str, Callable[[], tuple[sm.EventLog, Any]]]:
    out: dict[str, Callable[[], tuple[sm.EventLog, Any]]] = {
        "opportunities": _sample("opportunities", "stages.yaml"),
        "opportunities_after": _sample("opportunities_after", "stages.yaml"),
        "opportunities_before": _sample("opportunities_before", "stages.yaml"),
        "opportunities_artefacts": _sample("opportunities_artefacts", "stages.yaml"),
        "opportunities_zh": _sample("opportunities_zh", "stages_zh.yaml"),
    }
    import findings_on_real_logs as real

    for title, (path, load) in real.LOGS.items():
        if (REAL / path).exists():
            out["real:" + title.split(" (")[0]] = load
    if big:
        out["gen100k"] = _bench("100k")
        out["gen1M"] = _bench("1M")
        out["gen100k.parquet"] = _bench_parquet("100k", auto=False)
        out["gen100k.parquet auto"] = _bench_parquet("100k", auto=True)
    return out


def _frame(value: Any) -> Any:
    return value.to_frame() if hasattr(value, "to_frame") else value


def snapshot(log: sm.EventLog, model: Any) -> dict[str, Any]:
    """Every table and dict a user can read off one log."""
    snap: dict[str, Any] = {
        "events": log.to_frame(),
        "cases": log.cases,
        "quality": log.quality.to_frame(),
        "variants": log.variants(),
    }
    snap["graph"] = sm.discover(log).to_frame()
    conf = sm.conform(log, model)
    snap["conformance"] = conf.to_frame()
    found = sm.find_bottlenecks(log, model, conformance=conf)
    snap["findings"] = found.to_frame()
    snap["evidence"] = found.evidence
    snap["attribution"] = found.attribution
    snap["root_causes"] = found.root_causes
    snap["findings_dict"] = found.to_dict()
    snap["kpis"] = _frame(sm.kpis(log, model))
    d = sm.diagnose(log, model)
    snap["diagnosis"] = d.to_dict()
    return snap


def _compare(name: str, key: str, old: Any, new: Any) -> list[str]:
    if isinstance(old, pd.DataFrame) or isinstance(new, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(old, new, check_exact=True)
        except AssertionError as exc:
            return [f"{name}/{key}: {str(exc).strip()[:600]}"]
        return []
    if isinstance(old, pd.Series):
        try:
            pd.testing.assert_series_equal(old, new, check_exact=True)
        except AssertionError as exc:
            return [f"{name}/{key}: {str(exc).strip()[:600]}"]
        return []
    if repr(old) != repr(new):
        a, b = repr(old), repr(new)
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        lo, hi = max(0, at - 80), at + 120
        return [f"{name}/{key}: differs at char {at}: {a[lo:hi]!r} != {b[lo:hi]!r}"]
    return []


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["save", "check"])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--big", action="store_true", help="also the generated logs (100k, 1M; 100k as Parquet)")
    parser.add_argument("--only", action="append", default=[], help="only these datasets (repeatable)")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    sets = datasets(args.big or any(o.startswith("gen") for o in args.only))
    if args.only:
        sets = {k: v for k, v in sets.items() if k in args.only}
    failures: list[str] = []
    for name, load in sets.items():
        t0 = time.perf_counter()
        log, model = load()
        snap = snapshot(log, model)
        path = args.dir / (name.replace(":", "_").replace(" ", "_") + ".pkl")
        if args.mode == "save":
            path.write_bytes(pickle.dumps(snap))
            print(f"saved {name} ({time.perf_counter() - t0:.1f} s)", flush=True)
            continue
        if not path.exists():
            failures.append(f"{name}: no snapshot at {path}")
            continue
        old = pickle.loads(path.read_bytes())  # our own snapshot
        bad = [m for key in old.keys() | snap.keys() for m in _compare(name, key, old.get(key), snap.get(key))]
        failures += bad
        print(f"{'OK  ' if not bad else 'DIFF'} {name} ({time.perf_counter() - t0:.1f} s)", flush=True)
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
