"""Regenerate every generated file in ``sample_logs/`` (deterministic).

Usage::

    python sample_logs/generate.py

Re-running produces byte-identical files.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    from salesmining.datasets import write_sample_logs
except ImportError:  # running from a source checkout without installing
    sys.path.insert(0, str(HERE.parent / "src"))
    from salesmining.datasets import write_sample_logs


def main() -> None:
    """Write the sample logs next to this script and list them."""
    for path in write_sample_logs(HERE):
        print(f"{path.relative_to(HERE.parent)}  {path.stat().st_size:>9,} bytes")


if __name__ == "__main__":
    main()
