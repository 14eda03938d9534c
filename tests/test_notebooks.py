"""The example notebooks run from start to end and print the numbers they should.

Each notebook is executed with nbclient in a kernel running this interpreter (whatever kernels
are registered), with ``notebooks/`` as the working directory and ``SALESMINING_OUT`` pointing
to a temporary folder so no report lands in the checkout. The BPIC 2012 notebook reads
``../shared/real_logs``; without that log it skips its analysis itself (and says so), and this
test checks that message instead.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
REAL_LOGS = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))  # as in conftest.py
CELL_TIMEOUT = 300  # seconds per cell
BPIC2012 = REAL_LOGS / "bpic2012" / "BPI_Challenge_2012.xes.gz"


def _kernel_manager(tmp_path: Path) -> AsyncKernelManager:
    """A kernel manager whose kernel is this very interpreter (the venv under test)."""
    spec_dir = tmp_path / "kernels" / "salesmining-tests"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "salesmining tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    ksm = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)])
    return AsyncKernelManager(kernel_name="salesmining-tests", kernel_spec_manager=ksm)


def _execute(nb: nbformat.NotebookNode, tmp_path: Path) -> str:
    """Execute ``nb`` in place in ``notebooks/``; return everything it printed (stdout, in cell order)."""
    client = NotebookClient(
        nb,
        km=_kernel_manager(tmp_path),
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    # raises CellExecutionError (the cell and its traceback) on the first failing cell; the
    # kernel is shut down and its channels closed either way
    client.execute(cleanup_kc=True)
    # an exception raised after the cell's code (e.g. while matplotlib draws a figure) is only an output
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "\n".join(f"{e['ename']}: {e['evalue']}" for e in errors)
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stdout"
    )


def run_notebook(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Execute a notebook; return everything it printed (stdout streams, in cell order)."""
    out = tmp_path / "out"
    monkeypatch.setenv("SALESMINING_OUT", str(out))
    monkeypatch.setenv("SALESMINING_REAL_LOGS", str(REAL_LOGS))
    monkeypatch.setenv("PM4PY_SHOW_PROGRESS_BAR", "false")
    monkeypatch.setenv("MPLBACKEND", "agg")
    return _execute(nbformat.read(NOTEBOOKS / name, as_version=4), tmp_path)


def _count(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not found in the notebook's output:\n{text[-3000:]}"
    return int(match.group(1).replace(",", ""))


@pytest.mark.slow
def test_quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = run_notebook("01_quickstart.ipynb", tmp_path, monkeypatch)
    assert _count(r"Cases: ([\d,]+)", text) == 800
    assert _count(r"Rows read ([\d,]+) = kept", text) == 7565
    assert re.search(r"Win rate: \d+\.\d% of \d+ closed deals", text)
    report = tmp_path / "out" / "quickstart_report.html"
    assert report.stat().st_size > 10_000
    assert list((tmp_path / "out" / "quickstart_tables").glob("*.csv"))


@pytest.mark.slow
def test_before_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = run_notebook("02_before_after.ipynb", tmp_path, monkeypatch)
    # loops were cut to a third in the after period: the rework rate must come out better
    assert re.search(r"^rework_rate\s.*\sbetter$", text, re.MULTILINE), text
    assert re.search(r"^share of cases with loop\s.*\sbetter$", text, re.MULTILINE), text
    assert "Same result as comparing the two files: True" in text
    assert (tmp_path / "out" / "before_after_report.html").is_file()


@pytest.mark.slow
@pytest.mark.real_logs
def test_real_log_bpic2012(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs with or without the log: without it the notebook must skip itself, saying why."""
    text = run_notebook("03_real_log_bpic2012.ipynb", tmp_path, monkeypatch)
    if not BPIC2012.is_file():
        assert "SKIPPED: the BPIC 2012 log was not found" in text
        return
    assert _count(r"Cases: ([\d,]+)", text) == 13087
    assert _count(r"Events: ([\d,]+)", text) == 262200
    assert _count(r"Offer sent more than once: ([\d,]+)", text) > 1000
    assert re.search(r"Win rate \(activated / closed\): 17\.\d%", text)


def test_bpic2012_notebook_skips_without_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast check of the skip path (the setup cell only, with real logs pointed elsewhere)."""
    nb = nbformat.read(NOTEBOOKS / "03_real_log_bpic2012.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type == "code"][:2]  # setup + the guarded read
    monkeypatch.setenv("SALESMINING_REAL_LOGS", str(tmp_path / "nowhere"))
    text = _execute(nb, tmp_path)
    assert "SKIPPED: the BPIC 2012 log was not found" in text
    assert "Cases:" not in text


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a cell has outputs; strip them (python notebooks/_build.py)"
            assert cell.execution_count is None, f"{name}: a cell has an execution count"
    assert "widgets" not in nb.metadata, f"{name}: widget state is committed"


def test_notebooks_match_generator() -> None:
    build = runpy.run_path(str(NOTEBOOKS / "_build.py"))
    assert sorted(build["NOTEBOOKS"]) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for name in build["NOTEBOOKS"]:
        committed = (NOTEBOOKS / name).read_text(encoding="utf-8")
        assert committed == build["render"](name), f"{name} differs from its generator: run python notebooks/_build.py"
