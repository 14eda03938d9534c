"""PELT change points (Killick, Fearnhead & Eckley 2012) for a case-weighted series, in numpy.

The algorithm of ``ruptures.Pelt`` with ``jump=1`` — same recursion, same pruning, same
tie-breaking (the earliest last change point among equal costs), the same floating-point sums —
for the weighted squared-error cost Σ w·(z − z̄_w)² over a segment. It is ours because importing
``ruptures`` (which imports ``scipy.stats`` and ``scipy.spatial``) costs about 1.8 s per process;
``tests/test_pelt.py`` checks that the breakpoints are exactly ruptures' on many random series.
"""

from __future__ import annotations

import numpy as np


def weighted_l2_pelt(z: np.ndarray, w: np.ndarray, penalty: float, min_size: int) -> list[int]:
    """The optimal change points of ``z`` weighted by ``w`` (the indices where a new segment starts,
    ascending, without the series' end) for the given ``penalty`` per segment and minimum segment
    length: ``ruptures.Pelt(custom_cost=<weighted L2>, min_size=min_size, jump=1)
    .fit(np.column_stack([z, w])).predict(pen=penalty)[:-1]``.

    A series shorter than ``min_size`` (where ruptures refuses to segment) has no change point.

    >>> weighted_l2_pelt(np.array([0.0, 0, 0, 0, 5, 5, 5, 5]), np.ones(8), 1.0, 2)
    [4]
    """
    z = np.asarray(z, dtype="float64")
    w = np.asarray(w, dtype="float64")
    n = len(z)
    if n < min_size:
        return []
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cwz = np.concatenate([[0.0], np.cumsum(w * z)])
    cwz2 = np.concatenate([[0.0], np.cumsum(w * z * z)])
    total = np.zeros(n + 1)  # total[t]: the optimal penalised cost of z[0:t]
    last = np.zeros(n + 1, dtype=np.int64)  # last[t]: where its last segment starts
    admissible = np.zeros(0, dtype=np.int64)
    for end in range(min_size, n + 1):  # over periods (a few hundred at most), not rows
        new = end - min_size
        # z[0:new] has no segmentation for 0 < new < min_size: ruptures skips and drops that point
        if new == 0 or new >= min_size:
            admissible = np.append(admissible, new)
        sw = cw[end] - cw[admissible]
        swz = cwz[end] - cwz[admissible]
        with np.errstate(divide="ignore", invalid="ignore"):
            fit = np.where(sw > 0, swz * swz / sw, 0.0)
        cost = total[admissible] + ((cwz2[end] - cwz2[admissible] - fit) + penalty)
        k = int(np.argmin(cost))  # the first minimum, as Python's min() over ruptures' list
        total[end] = cost[k]
        last[end] = admissible[k]
        admissible = admissible[cost <= total[end] + penalty]
    out: list[int] = []
    t = int(last[n])
    while t > 0:
        out.append(t)
        t = int(last[t])
    return out[::-1]
