"""The skip rule: a mandatory stage missing between two recorded stages."""

from __future__ import annotations

import numpy as np
import pandas as pd

from salesmining.findings.context import FindingContext
from salesmining.findings.evidence import at, evidence

__all__ = ["skip_evidence"]


def skip_evidence(ctx: FindingContext) -> list[pd.DataFrame]:
    """One ``skip`` row per (case, skipped stage), from the conformance check."""
    cs = ctx.cases[["case_id", "skipped"]]
    ex = cs.explode("skipped").dropna(subset=["skipped"])
    return [evidence("skipped_stage", "skip", at(ex["skipped"]), ex["case_id"], np.zeros(len(ex)), "stage skipped")]
