"""A small inline SVG timeline: one metric by period, its change points marked (no matplotlib).

Draws what it is given — values already aggregated per period and texts already formatted —
and escapes every text. Periods with too few cases are drawn as hollow points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from salesmining.core.html import esc

__all__ = ["timeline_svg"]

_W, _H = 640, 170
_L, _R, _T, _B = 56, 16, 24, 34


def timeline_svg(
    periods: Sequence[Any],
    values: Sequence[float],
    enough: Sequence[bool],
    marks: Sequence[tuple[Any, str]],
    *,
    value_text: Sequence[str],
    title: str,
) -> str:
    """The SVG (``viewBox``, ``width:100%``): a line over the periods with enough cases, hollow
    points for the others, a dashed line and label at each ``(date, text)`` mark."""
    n = len(periods)
    finite = [v for v in values if not math.isnan(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad

    def x(i: float) -> float:
        return _L + (_W - _L - _R) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return _T + (_H - _T - _B) * (1 - (v - lo) / (hi - lo))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" style="width:100%;height:auto" '
        f'role="img" aria-label="{esc(title)} by period">',
        f"<title>{esc(title)} by period</title>",
        f'<line x1="{_L}" y1="{_H - _B}" x2="{_W - _R}" y2="{_H - _B}" stroke="#999"/>',
    ]
    fv = [(i, v, t) for i, (v, t) in enumerate(zip(values, value_text, strict=True)) if not math.isnan(v)]
    if fv:
        top = max(fv, key=lambda r: r[1])
        bottom = min(fv, key=lambda r: r[1])
        for _i, v, t in {top[0]: top, bottom[0]: bottom}.values():
            out.append(
                f'<text x="{_L - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end" fill="#444">{esc(t)}</text>'
            )
    path: list[str] = []
    for i, v in enumerate(values):
        if math.isnan(v) or not enough[i]:
            if path:
                out.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{" ".join(path)}"/>')
                path = []
            continue
        path.append(f"{x(i):.1f},{y(v):.1f}")
    if path:
        out.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{" ".join(path)}"/>')
    for i, (v, t) in enumerate(zip(values, value_text, strict=True)):
        if math.isnan(v):
            continue
        fill = "#1f77b4" if enough[i] else "#fff"
        few = "" if enough[i] else " (too few cases)"
        out.append(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{fill}" stroke="#1f77b4">'
            f"<title>{esc(f'{periods[i]:%Y-%m-%d}')}: {esc(t)}{few}</title></circle>"
        )
    for k in sorted({0, n // 2, n - 1}) if n else []:
        side = "start" if k == 0 else "end" if k == n - 1 else "middle"
        out.append(
            f'<text x="{x(k):.1f}" y="{_H - _B + 16}" font-size="11" text-anchor="{side}" fill="#444">'
            f"{esc(f'{periods[k]:%Y-%m-%d}')}</text>"
        )
    starts = list(periods)
    for date, text in marks:
        i = next((j for j, p in enumerate(starts) if p >= date), n - 1)
        xi = x(i - 0.5) if i > 0 else x(0)
        anchor = "end" if xi > _W * 0.6 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(
            f'<line x1="{xi:.1f}" y1="{_T - 6}" x2="{xi:.1f}" y2="{_H - _B}" stroke="#d62728" stroke-dasharray="4 3"/>'
            f'<text x="{xi + dx:.1f}" y="{_T + 4}" font-size="11" text-anchor="{anchor}" fill="#d62728">'
            f"{esc(f'{date:%Y-%m-%d}')}: {esc(text)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
