"""Synthetic sales event logs with known, injected process problems and artefacts.

Use :func:`generate_sales_log` to create an opportunity event log and its
ground-truth table (the injected problems, and with ``negatives=`` the artefacts
that must not be reported), :func:`score_findings` to score findings against it,
and :func:`write_sample_logs` to (re)write the committed files in ``sample_logs/``.
"""

from salesmining.datasets._generator import (
    DEFAULT_NEGATIVES,
    DEFAULT_RATES,
    NEGATIVE_KINDS,
    NEGATIVE_MUST_NOT_RAISE,
    PROBLEM_KINDS,
    SAMPLE_COLUMNS,
    SAMPLE_LOGS_DIR,
    generate_sales_log,
    stages_yaml,
    write_sample_logs,
)
from salesmining.datasets.scoring import GroundTruthScore, score_findings

__all__ = [
    "DEFAULT_NEGATIVES",
    "DEFAULT_RATES",
    "GroundTruthScore",
    "NEGATIVE_KINDS",
    "NEGATIVE_MUST_NOT_RAISE",
    "PROBLEM_KINDS",
    "SAMPLE_COLUMNS",
    "SAMPLE_LOGS_DIR",
    "generate_sales_log",
    "score_findings",
    "stages_yaml",
    "write_sample_logs",
]
