"""The report's "what if" section, as plain values: the candidate changes ranked by projected gain.

One candidate per redundant-approval, long-wait and slow-response finding (the change in its
``whatif_change`` column, already computed with the findings), plus the removal of every approval
step a redundant-approval finding names. All are replayed by :mod:`salesmining.findings.replay`;
this module only formats them (the template escapes them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from salesmining.core import formatting as _f
from salesmining.findings.changes import Change, changes
from salesmining.findings.replay import FINDING_N_BOOT, gains, timeline
from salesmining.findings.whatif import ASSUMPTIONS

__all__ = ["finding_whatif_text", "whatif_section"]


class _DiagnosisLike(Protocol):
    @property
    def findings(self) -> Any: ...

    @property
    def stages(self) -> Any: ...


def _h(seconds: float) -> str:
    return _f.hours(seconds / 3600)


def _gain_text(gain: float, lo: float, hi: float) -> str:
    if _f.is_missing(gain):
        return ""
    interval = "" if _f.is_missing(lo) else f" (95% interval {_h(lo)} to {_h(hi)})"
    return f"−{_h(gain)} median cycle time{interval}" if gain >= 0 else f"+{_h(-gain)} median cycle time{interval}"


def finding_whatif_text(row: Mapping[Any, Any]) -> str:
    """``"cap Contact at 5d: −0.1 d median cycle time (95% interval …)"`` for a finding row, else ``""``."""
    change = row.get("whatif_change")
    if not isinstance(change, str) or not change:
        return ""
    return f"{change}: " + _gain_text(row["whatif_median_gain_s"], row["whatif_low_s"], row["whatif_high_s"])


def whatif_section(d: _DiagnosisLike) -> dict[str, Any]:
    """``{"candidates": [...], "assumptions": [...]}``; each candidate a dict of display strings
    (``rank``, ``change``, ``source``, ``gain``, ``interval``, ``saved``), best projected gain first
    (then most time saved over all cases)."""
    f = d.findings.to_frame()
    rows: list[tuple[float, float, float, float, str, str]] = []
    for r in f[f["whatif_change"].notna()].to_dict("records"):
        rows.append(
            (
                float(r["whatif_median_gain_s"]),
                float(r["whatif_low_s"]),
                float(r["whatif_high_s"]),
                float(r["whatif_saved_s"]),
                str(r["whatif_change"]),
                f"#{r['rank']} {str(r['kind']).replace('_', ' ')} — {r['where']}",
            )
        )
    # removing each approval step a redundant-approval finding names, whole
    ra = f[f["kind"] == "redundant_approval"]
    steps = pd.unique(pd.concat([ra["activity"], ra["from_activity"], ra["to_activity"]]).dropna())
    approvals = [s for s in steps if s in d.stages.approvals]
    if approvals:
        cands: list[list[Change]] = [[changes.remove(str(s))] for s in approvals]
        tl = timeline(d.findings._coded_attribution, d.findings._cases, d.stages)
        for s, (g, lo, hi, saved) in zip(approvals, gains(tl, cands, n_boot=FINDING_N_BOOT, seed=0), strict=True):
            rows.append((g, lo, hi, saved, f"remove {s}", "an approval step with redundant-approval findings"))

    def key(x: tuple[float, float, float, float, str, str]) -> tuple[float, float, str]:
        return (-x[0] if math.isfinite(x[0]) else math.inf, -x[3] if math.isfinite(x[3]) else math.inf, x[4])

    rows.sort(key=key)
    out = []
    for i, (g, lo, hi, saved, change, source) in enumerate(rows, start=1):
        out.append(
            {
                "rank": i,
                "change": change,
                "source": source,
                "gain": "–" if _f.is_missing(g) else _h(g),
                "interval": "–" if _f.is_missing(lo) else f"{_h(lo)} to {_h(hi)}",
                "saved": "–" if _f.is_missing(saved) else _h(saved),
            }
        )
    return {"candidates": out, "assumptions": list(ASSUMPTIONS), "n_boot": FINDING_N_BOOT}
