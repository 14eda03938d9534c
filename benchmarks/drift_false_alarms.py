"""False alarms and detections of ``sm.drift`` over generator seeds.

Run: ``python benchmarks/drift_false_alarms.py`` (``--seeds 40 --cases 1500``).

For each seed two logs are generated: one with no change, one with a change injected on
``--date`` (Manager Approval removed, long waits and slow responses much more frequent for the
cases that start from then on). The script reports, weekly and monthly:

* the **false-alarm rate**: the share of change-free logs with at least one change point, and the
  number of change points per change-free log;
* the **detection rate**: the share of changed logs where the change is found within one period
  of the injected date, for the median cycle time and for any metric.

The figures are quoted in ``docs/drift.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import salesmining as sm  # noqa: E402
from salesmining.datasets import SAMPLE_COLUMNS, generate_sales_log  # noqa: E402

CHANGE = {"remove_step": "Manager Approval", "rates": {"long_wait": 0.35, "slow_response": 0.45}}


def _log(seed: int, n: int, change: dict[str, object] | None) -> sm.EventLog:
    ev, _ = generate_sales_log(seed=seed, n_cases=n, change_at=change)
    return sm.from_dataframe(ev, **SAMPLE_COLUMNS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--cases", type=int, default=1500)
    ap.add_argument("--date", default="2024-06-19")
    args = ap.parse_args(argv)
    stages = sm.StageModel.from_yaml(ROOT / "sample_logs" / "stages.yaml")
    date = pd.Timestamp(args.date, tz="UTC")
    rows = []
    t0 = time.perf_counter()
    for seed in range(1000, 1000 + args.seeds):
        for changed in (False, True):
            d = sm.diagnose(_log(seed, args.cases, {"date": args.date, **CHANGE} if changed else None), stages)
            for freq, period in (("W", pd.Timedelta(days=7)), ("M", pd.Timedelta(days=31))):
                cp = sm.drift(d, freq=freq).change_points
                near = (cp["date"] - date).abs() <= period
                rows.append(
                    {
                        "seed": seed,
                        "changed": changed,
                        "freq": freq,
                        "n_change_points": len(cp),
                        "found_any": bool(near.any()),
                        "found_cycle": bool((near & (cp["metric"] == "cycle_time_median_days")).any()),
                        "far": int((~near).sum()),
                    }
                )
    r = pd.DataFrame(rows)
    print(f"{args.seeds} seeds x {args.cases} cases, change on {args.date}; {time.perf_counter() - t0:.0f} s")
    for freq, g in r.groupby("freq"):
        free, chg = g[~g["changed"]], g[g["changed"]]
        print(
            f"{freq}: false alarms {(free['n_change_points'] > 0).mean():.1%} of change-free logs "
            f"({free['n_change_points'].mean():.2f} change points per log); "
            f"change found within one period: {chg['found_any'].mean():.1%} "
            f"(cycle time {chg['found_cycle'].mean():.1%}); "
            f"change points away from the date in changed logs: {chg['far'].mean():.2f} per log"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
