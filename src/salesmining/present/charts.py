"""Charts (matplotlib figures), drawn from tidy frames computed elsewhere.

Every function returns a ``matplotlib.figure.Figure`` (never shows it); :func:`figure_to_svg`
and :func:`figure_to_png` embed it in reports. Fonts fall back to Noto Sans CJK so Chinese and
Spanish stage names render.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "dotted_chart",
    "figure_to_png",
    "figure_to_svg",
    "funnel_chart",
    "performance_spectrum",
    "time_in_stage_chart",
    "wip_chart",
]

_PREFERRED = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "DejaVu Sans",
)


_CJK = ("Noto Sans CJK", "WenQuanYi", "Microsoft YaHei", "Source Han Sans", "Noto Sans SC")
_CJK_FILE = re.compile(r"cjk|wqy|wenquanyi|sourcehan|msyh|yahei|notosanssc|notosanstc", re.IGNORECASE)
_font_cache_checked = False


def _cjk_files_missing_from_cache(font_manager: Any) -> list[str]:
    """Installed CJK font files that matplotlib's font cache does not know: fonts installed after
    the cache was written (matplotlib never looks again, so charts fall back to DejaVu Sans and
    warn about missing glyphs). Empty when the cache has a CJK family already."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    if any(name.startswith(_CJK) for name in known):
        return []
    cached = {str(f.fname) for f in font_manager.fontManager.ttflist}
    return sorted(p for p in font_manager.findSystemFonts() if _CJK_FILE.search(Path(p).name) and p not in cached)


def _refresh_font_cache() -> list[str]:
    """Once per process: add installed CJK fonts that matplotlib's font cache is missing to the
    live font manager and write the cache again (so later runs know them at once); returns the
    files added."""
    global _font_cache_checked
    if _font_cache_checked:
        return []
    _font_cache_checked = True
    import matplotlib
    from matplotlib import font_manager

    missing = _cjk_files_missing_from_cache(font_manager)
    added: list[str] = []
    for path in missing:
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):  # an unreadable font file: skip it
            continue
        added.append(path)
    if added:
        cache = Path(matplotlib.get_cachedir(), f"fontlist-v{font_manager.FontManager.__version__}.json")
        font_manager.json_dump(font_manager.fontManager, cache)  # logs (does not raise) if it cannot write
    return added


def _fonts() -> list[str]:
    """Installed families in order of preference (asking for a missing one makes matplotlib log)."""
    from matplotlib import font_manager

    _refresh_font_cache()
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in _PREFERRED if f in installed] or ["sans-serif"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = _fonts()
    plt.rcParams["svg.fonttype"] = "none"  # keep text as text (searchable, small)
    plt.rcParams["svg.hashsalt"] = "salesmining"  # deterministic ids
    plt.rcParams["axes.spines.top"] = False
    plt.rcParams["axes.spines.right"] = False
    return plt


def _new(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    _plt()
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def funnel_chart(funnel: pd.DataFrame, *, title: str = "Stage funnel (skip-aware)") -> Figure:
    """Horizontal bars of cases that reached each stage, with conversion to the next."""
    fig, ax = _new(7, 0.5 + 0.45 * max(len(funnel), 1))
    y = np.arange(len(funnel))[::-1]
    ax.barh(y, funnel["reached"], color="#5f9ccd")
    ax.set_yticks(y, [str(s) for s in funnel["stage"]])
    top = float(funnel["reached"].max()) if len(funnel) else 1.0
    for yi, (reached, conv) in zip(y, zip(funnel["reached"], funnel["conversion"], strict=True), strict=True):
        text = f"{int(reached):,}" + ("" if pd.isna(conv) else f"  → {conv:.0%}")
        ax.text(reached + top * 0.01, yi, text, va="center", fontsize=9)
    ax.set_xlim(0, top * 1.25)
    ax.set_xlabel("cases that reached the stage (or a later one)")
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def time_in_stage_chart(
    dwell: pd.DataFrame,
    order: Sequence[str],
    *,
    sla_hours: dict[str, float] | None = None,
    title: str = "Time in stage (log scale)",
) -> Figure:
    """Box plots of dwell time per stage on a log scale, with SLA markers."""
    stages = [s for s in order if s in set(dwell["stage"])]
    fig, ax = _new(7, 0.6 + 0.5 * max(len(stages), 1))
    data = [np.clip(dwell.loc[dwell["stage"] == s, "dwell_hours"].to_numpy(), 1 / 60, None) for s in stages]
    if stages:
        ax.boxplot(
            data,
            orientation="horizontal",
            tick_labels=stages,
            showfliers=True,
            widths=0.6,
            flierprops={"markersize": 2, "alpha": 0.4},
        )
        ax.invert_yaxis()
        ax.set_xscale("log")
        for i, s in enumerate(stages, start=1):
            if sla_hours and s in sla_hours:
                ax.plot([sla_hours[s]] * 2, [i - 0.35, i + 0.35], color="#c53030", lw=2)
    ax.set_xlabel("hours in stage (red: SLA)")
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def dotted_chart(
    events: pd.DataFrame, *, title: str = "Dotted chart: events of each case over time", max_legend: int = 12
) -> Figure:
    """One row per case (ordered by start), one dot per event, coloured by activity."""
    fig, ax = _new(8, 4.5)
    acts = events["activity"].value_counts().index.tolist()
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    for i, a in enumerate(acts):
        m = events["activity"] == a
        ax.scatter(
            pd.to_datetime(events.loc[m, "timestamp"]),
            events.loc[m, "case_rank"],
            s=2,
            color=cmap(i % 20),
            label=a if i < max_legend else None,
            linewidths=0,
            rasterized=True,  # thousands of dots: an image inside the SVG
        )
    ax.set_ylabel("cases (by start)")
    ax.set_title(title, loc="left", fontsize=11)
    if acts:
        ax.legend(markerscale=4, fontsize=7, loc="upper left", frameon=False)
    return fig


def performance_spectrum(segments: pd.DataFrame, *, title: str = "Performance spectrum") -> Figure:
    """Each occurrence of a transition as a line from its start (top) to its end (bottom), per
    pair: parallel lines mean steady flow, fans mean batching, crossings mean overtaking."""
    pairs = list(dict.fromkeys(segments["pair"]))
    import matplotlib.dates as mdates
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    _plt()
    fig = Figure(figsize=(8, 1.2 * max(len(pairs), 1) + 0.8), dpi=100, layout="constrained")
    axes = fig.subplots(max(len(pairs), 1), 1, squeeze=False, sharex=True)
    if len(segments):
        for ax, pair in zip(axes[:, 0], pairs, strict=False):
            s = segments[segments["pair"] == pair]
            slow = s["hours"] > 2 * s["hours"].median()
            for flag, color in ((False, "#7fb3d9"), (True, "#c53030")):
                part = s[slow == flag]
                x0 = mdates.date2num(part["start"].dt.tz_localize(None).to_numpy())  # type: ignore[no-untyped-call]
                x1 = mdates.date2num(part["end"].dt.tz_localize(None).to_numpy())  # type: ignore[no-untyped-call]
                lines = np.stack(
                    [np.column_stack([x0, np.ones_like(x0)]), np.column_stack([x1, np.zeros_like(x1)])], axis=1
                )
                # dense layers are embedded as an image inside the SVG (small, fast to display)
                segs = list(lines)
                ax.add_collection(LineCollection(segs, colors=color, linewidths=0.5, alpha=0.5, rasterized=True))
            if len(s):
                lo = mdates.date2num(s["start"].min().tz_localize(None))  # type: ignore[no-untyped-call]
                hi = mdates.date2num(s["end"].max().tz_localize(None))  # type: ignore[no-untyped-call]
                ax.set_xlim(lo, hi)
            ax.xaxis_date()
            ax.set_yticks([0, 1], ["end", "start"])
            ax.set_ylabel(pair, rotation=0, ha="right", va="center", fontsize=8)
    axes[0, 0].set_title(title + " (red: slower than twice that step's median)", loc="left", fontsize=11)
    return fig


def wip_chart(wip: pd.DataFrame, order: Sequence[str], *, title: str = "Work in progress per stage") -> Figure:
    """Stacked areas: cases in each stage at the end of each period."""
    fig, ax = _new(8, 3.5)
    pivot = (
        wip.pivot_table(index="period", columns="stage", values="cases", aggfunc="sum")
        .reindex(columns=[s for s in order if s in set(wip["stage"])])
        .fillna(0)
    )
    if len(pivot.columns):
        ax.stackplot(pivot.index, pivot.T.to_numpy(), labels=list(pivot.columns), alpha=0.85)
        ax.legend(fontsize=7, loc="upper left", frameon=False, ncols=2)
    ax.set_ylabel("open cases in stage")
    ax.set_title(title, loc="left", fontsize=11)
    return fig


def figure_to_svg(fig: Figure) -> str:
    """An SVG string (text kept as text, no metadata date) of a figure."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "salesmining"})
    return buf.getvalue()


def figure_to_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """PNG bytes of a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": "salesmining"})
    return buf.getvalue()
