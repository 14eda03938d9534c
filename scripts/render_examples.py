"""Render the examples committed under docs/img from the sample logs.

    .venv/bin/python scripts/render_examples.py            # maps (needs Graphviz's dot)
    .venv/bin/python scripts/render_examples.py --shots    # also report screenshots (needs Debian's chromium)

Screenshots are taken by the browser test (tests/test_browser.py, headless Chromium driven by
Playwright), which fails on any console error or page error.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import salesmining as sm
from salesmining.present import maps as _render

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
IMG = ROOT / "docs" / "img"
KW = {
    "case": "Opportunity ID",
    "activity": "Activity",
    "timestamp": "Timestamp",
    "resource": "Owner",
    "approval_result": "Approval Result",
    "amount": "Amount",
    "case_attributes": "auto",
}


def maps() -> list[Path]:
    IMG.mkdir(parents=True, exist_ok=True)
    out = []
    for name, log_file, stages_file in (
        ("sample", "opportunities.csv", "stages.yaml"),
        ("sample_zh", "opportunities_zh.csv", "stages_zh.yaml"),
    ):
        log = sm.read_csv(SAMPLES / log_file, **KW)  # type: ignore[arg-type]
        d = sm.diagnose(log, SAMPLES / stages_file)
        views = {"map": _render.process_map(d.graph, stages=d.stages, findings=d.findings)}
        if name == "sample":
            views["map_performance"] = _render.process_map(d.graph, view="performance", stages=d.stages)
        for view, dot in views.items():
            stem = f"{name}_{view}" if name == "sample" else f"{name.replace('_zh', '')}_{view}_zh"
            out.append(_render.write_graph(dot, IMG / f"{stem}.svg"))
            out.append(_render.write_graph(dot, IMG / f"{stem}.png", dpi=110))
    return out


def shots() -> None:
    """The report screenshots: the browser test (tests/test_browser.py) run with
    SALESMINING_SCREENSHOTS, so they come from the run that checks the pages (no console error,
    zoom, hover and finding highlights working)."""
    env = {**os.environ, "SALESMINING_SCREENSHOTS": str(IMG)}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-n",
        "0",
        "-p",
        "no:randomly",
        "-rs",
        str(ROOT / "tests" / "test_browser.py"),
    ]
    res = subprocess.run(cmd, env=env, cwd=ROOT, check=False)
    if res.returncode != 0:
        sys.exit(f"the browser test failed (exit code {res.returncode}); screenshots may be incomplete")
    for name in ("report_sample.png", "report_sample_focus.png", "report_zh.png", "report_comparison.png"):
        if not (IMG / name).exists():
            sys.exit(f"{name} was not written: is Chromium installed (the browser test skips without it)?")
        print((IMG / name).relative_to(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", action="store_true", help="also take report screenshots with headless chromium")
    args = ap.parse_args()
    for p in maps():
        print(p.relative_to(ROOT))
    if args.shots:
        shots()


if __name__ == "__main__":
    main()
