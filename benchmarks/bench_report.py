"""The two start-up targets: ``import salesmining`` < 1 s and the sample report ≤ 2 s.

    python benchmarks/bench_report.py              # 7 runs of each, fresh processes
    python benchmarks/bench_report.py --runs 15 --markdown

Each run is a new process, as a user's would be, with compiled bytecode (the script
byte-compiles ``src/salesmining`` first, as ``scripts/run.sh diagnose`` does):

* **import**: ``python -c "import salesmining"``, timed inside the process (``perf_counter``
  around the import), so interpreter start-up is not counted;
* **sample report**: the README's main command, ``salesmining diagnose
  sample_logs/opportunities.csv --stages sample_logs/stages.yaml -o … --json …``, timed from
  outside: wall time of the whole process (start-up, reading, findings, maps through Graphviz,
  the HTML and JSON written), and its CPU time (user + system, children included).

It prints the best, median and worst of the runs and the load average before and after, since on
a shared machine the median moves with the load and the best run is what the code costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_TARGET_S = 1.0
REPORT_TARGET_S = 2.0


def _env() -> dict[str, str]:
    # as an installed package runs: bytecode may be read (and written)
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def time_import() -> float:
    """Seconds ``import salesmining`` takes in a fresh interpreter."""
    code = "import time; t = time.perf_counter(); import salesmining; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env())
    return float(out.stdout.split()[-1])


def time_report(out_dir: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the sample report command, as one fresh process."""
    cli = Path(sys.executable).with_name("salesmining")
    cmd = [
        str(cli),
        "diagnose",
        str(ROOT / "sample_logs" / "opportunities.csv"),
        "--stages",
        str(ROOT / "sample_logs" / "stages.yaml"),
        "-o",
        str(out_dir / "report.html"),
        "--json",
        str(out_dir / "findings.json"),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, env=_env())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _summary(values: list[float]) -> str:
    return f"best {min(values):.2f} s, median {statistics.median(values):.2f} s, worst {max(values):.2f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs of each (default 7)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table (docs/performance.md)")
    args = ap.parse_args(argv)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "salesmining")], check=True)
    load0 = os.getloadavg()[0]
    time_import()  # warm the file cache
    imports = [time_import() for _ in range(args.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        time_report(Path(tmp))
        reports = [time_report(Path(tmp)) for _ in range(args.runs)]
    load1 = os.getloadavg()[0]
    walls, cpus = [w for w, _ in reports], [c for _, c in reports]
    ok_import, ok_report = min(imports) < IMPORT_TARGET_S, min(walls) <= REPORT_TARGET_S
    if args.markdown:
        print("| what | best | median | worst | target |")
        print("|---|---:|---:|---:|---|")
        print(
            f"| `import salesmining` | {min(imports):.2f} s | {statistics.median(imports):.2f} s | "
            f"{max(imports):.2f} s | < {IMPORT_TARGET_S:.0f} s: {'met' if ok_import else 'not met'} |"
        )
        print(
            f"| sample report, wall | {min(walls):.2f} s | {statistics.median(walls):.2f} s | "
            f"{max(walls):.2f} s | ≤ {REPORT_TARGET_S:.0f} s: {'met' if ok_report else 'not met'} |"
        )
        print(f"| sample report, CPU | {min(cpus):.2f} s | {statistics.median(cpus):.2f} s | {max(cpus):.2f} s | |")
        print(f"\n{args.runs} runs of each; load average {load0:.1f} before, {load1:.1f} after.")
    else:
        print(f"import salesmining: {_summary(imports)} (target < {IMPORT_TARGET_S:.0f} s)")
        print(f"sample report, wall: {_summary(walls)} (target ≤ {REPORT_TARGET_S:.0f} s)")
        print(f"sample report, CPU:  {_summary(cpus)}")
        print(f"{args.runs} runs of each; load average {load0:.1f} before, {load1:.1f} after")
    return 0 if ok_import and ok_report else 1


if __name__ == "__main__":
    raise SystemExit(main())
