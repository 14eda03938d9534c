"""Render the examples committed under docs/img from the sample logs.

    .venv/bin/python scripts/render_examples.py            # maps (needs Graphviz's dot)
    .venv/bin/python scripts/render_examples.py --real     # also maps of real logs (SALESMINING_REAL_LOGS)
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
from salesmining.datasets import SAMPLE_COLUMNS
from salesmining.present import maps as _render

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
IMG = ROOT / "docs" / "img"
KW = {**SAMPLE_COLUMNS, "case_attributes": "auto"}


def _write_map(drawing: _render.MapDrawing, stem: str) -> list[Path]:
    """The map's SVG as drawn, and a PNG about as wide as a report's body (1,100 px)."""
    if drawing.svg is None or drawing.dot is None:
        sys.exit(f"{stem}: {drawing.message}")
    dpi = max(48, min(110, int(72 * _render.REPORT_WIDTH_PX / max(drawing.width_pt, 1.0))))
    svg = _render.write_graph(drawing.dot, IMG / f"{stem}.svg")
    png = _render.write_graph(drawing.dot, IMG / f"{stem}.png", dpi=dpi)
    print(f"{stem}: {drawing!r}" + (f"; {drawing.hidden}" if drawing.hidden else ""))
    return [svg, png]


def maps() -> list[Path]:
    IMG.mkdir(parents=True, exist_ok=True)
    out = []
    for name, log_file, stages_file in (
        ("sample", "opportunities.csv", "stages.yaml"),
        ("sample_zh", "opportunities_zh.csv", "stages_zh.yaml"),
    ):
        log = sm.read_csv(SAMPLES / log_file, **KW)  # type: ignore[arg-type]
        d = sm.diagnose(log, SAMPLES / stages_file)
        views = {"map": _render.draw_map(d.graph, stages=d.stages, findings=d.findings)}
        if name == "sample":
            views["map_performance"] = _render.draw_map(d.graph, view="performance", stages=d.stages)
        for view, drawing in views.items():
            stem = f"{name}_{view}" if name == "sample" else f"{name.replace('_zh', '')}_{view}_zh"
            out += _write_map(drawing, stem)
    return out


def real_maps() -> list[Path]:
    """Maps of shared real logs (BPIC 2012, the Salesforce demo org), with the stage models of
    scripts/findings_on_real_logs.py; skipped with a note when the logs are absent."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import findings_on_real_logs as real

    out = []
    for stem, key in (
        ("bpic2012_map", "BPIC 2012 (loan applications)"),
        ("salesforce_demo_org_map", "Salesforce demo org"),
    ):
        path, load = real.LOGS[key]
        if not (real.REAL / path).exists():
            print(f"{stem}: {real.REAL / path} not found, skipped")
            continue
        log, model = load()
        d = sm.diagnose(log, model)
        out += _write_map(_render.draw_map(d.graph, stages=d.stages, findings=d.findings, legend=False), stem)
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
    ap.add_argument(
        "--real", action="store_true", help="also draw maps of the shared real logs (BPIC 2012, Salesforce)"
    )
    args = ap.parse_args()
    for p in maps() + (real_maps() if args.real else []):
        print(p.relative_to(ROOT))
    if args.shots:
        shots()


if __name__ == "__main__":
    main()
