"""docs/api.md is what scripts/gen_api_docs.py generates from the current docstrings."""

from __future__ import annotations

import difflib
import runpy
from pathlib import Path

import salesmining as sm

ROOT = Path(__file__).resolve().parents[1]
API_MD = ROOT / "docs" / "api.md"
HOW = "run `python scripts/gen_api_docs.py` and commit docs/api.md"


def test_api_reference_is_up_to_date() -> None:
    expected = runpy.run_path(str(ROOT / "scripts" / "gen_api_docs.py"))["render"]()
    committed = API_MD.read_text(encoding="utf-8")
    if committed != expected:
        diff = difflib.unified_diff(
            committed.splitlines(), expected.splitlines(), "docs/api.md", "generated", lineterm="", n=1
        )
        shown = "\n".join(list(diff)[:60])
        raise AssertionError(f"docs/api.md is out of date with the public API or its docstrings: {HOW}\n{shown}")


def test_api_reference_covers_every_public_name() -> None:
    text = API_MD.read_text(encoding="utf-8")
    missing = [name for name in sm.__all__ if f"### `{name}`" not in text]
    assert not missing, f"not in docs/api.md: {missing}; {HOW}"
