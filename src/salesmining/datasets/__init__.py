"""Synthetic sales event logs with known, injected process problems.

Use :func:`generate_sales_log` to create an opportunity event log and its
ground-truth table, and :func:`write_sample_logs` to (re)write the committed
files in ``sample_logs/``.
"""

from salesmining.datasets._generator import (
    DEFAULT_RATES,
    PROBLEM_KINDS,
    SAMPLE_LOGS_DIR,
    generate_sales_log,
    stages_yaml,
    write_sample_logs,
)

__all__ = [
    "DEFAULT_RATES",
    "PROBLEM_KINDS",
    "SAMPLE_LOGS_DIR",
    "generate_sales_log",
    "stages_yaml",
    "write_sample_logs",
]
