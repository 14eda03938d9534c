"""Charts (matplotlib figures), drawn from tidy frames computed elsewhere.

Every function returns a ``matplotlib.figure.Figure`` (never shows it); :func:`figure_to_svg`
and :func:`figure_to_png` embed it in reports. Fonts fall back to Noto Sans CJK so Chinese and
Spanish stage names render.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
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
    seen = set(dwell["stage"].unique())
    stages = [s for s in order if s in seen]
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
    seen = set(wip["stage"].unique())
    pivot = (
        wip.pivot_table(index="period", columns="stage", values="cases", aggfunc="sum")
        .reindex(columns=[s for s in order if s in seen])
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


# --- inline SVG charts for the reports -------------------------------------------------------------
# Drawn from aggregates (one bar per stage, one box per stage, one area per stage, binned spectra
# and dotted charts), so their size and drawing time do not grow with the events. Each is an
# ``<svg viewBox=... width="100%">`` that fits its box at any width; text is at least 13 units at a
# drawn width of 880, i.e. at least 10 px down to a 680 px wide box (an A4 page).
_W = 880
_FONT = 14
_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcb6",
    "#d37295",
    "#a0cbe8",
)
_OTHER = "#bab0ac"


def _e(text: object) -> str:
    import html

    return html.escape(str(text), quote=True)


def _short(text: object, limit: int) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _text_width(text: str, size: float = _FONT) -> float:
    """A generous estimate of drawn text width (wide characters count double)."""
    return sum(size * (1.0 if ord(ch) > 0x2E80 else 0.58) for ch in text)


def _svg(height: float, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {height:.0f}" width="100%" role="img" '
        f'font-size="{_FONT}" fill="#1f2328"><title>{_e(title)}</title>{"".join(body)}</svg>'
    )


def _label_column(labels: Sequence[str], limit: int = 30) -> tuple[list[str], float]:
    shown = [_short(s, limit) for s in labels]
    width = max((_text_width(s) for s in shown), default=0.0) + 12
    return shown, min(max(width, 80.0), _W * 0.4)


def _empty(title: str, what: str) -> str:
    return _svg(40, [f'<text x="0" y="26" fill="#57606a">{_e(what)}</text>'], title)


def funnel_svg(funnel: pd.DataFrame, *, title: str = "Stage funnel (skip-aware)") -> str:
    """Horizontal bars of the cases that reached each stage (``stage``, ``reached``,
    ``share_of_cases``, ``conversion`` — the KPIs' funnel), with the conversion to the next stage."""
    from salesmining.core import formatting as f

    if not len(funnel):
        return _empty(title, "no stages reached")
    labels, left = _label_column([str(s) for s in funnel["stage"]])
    right = 250.0
    top = float(funnel["reached"].max()) or 1.0
    row = 30
    body = []
    for i, (full, shown, reached, share, conv) in enumerate(
        zip(funnel["stage"], labels, funnel["reached"], funnel["share_of_cases"], funnel["conversion"], strict=True)
    ):
        y = 8 + i * row
        w = max((_W - left - right) * float(reached) / top, 1.0)
        nxt = "" if f.is_missing(conv) else f" · {f.percent(conv)} go on"
        body.append(
            f"<g><title>{_e(full)}: {f.count(reached)} cases ({f.percent(share)}){_e(nxt)}</title>"
            f'<text x="{left - 8:.1f}" y="{y + 18}" text-anchor="end">{_e(shown)}</text>'
            f'<rect x="{left:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="#5f9ccd" rx="2"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + 18}">{f.count(reached)} ({f.percent(share)}){_e(nxt)}</text></g>'
        )
    return _svg(16 + len(funnel) * row, body, title)


def _log_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    """Tick positions (hours) and labels for a log-scale duration axis."""
    marks = [
        (1 / 60, "1 min"),
        (0.25, "15 min"),
        (1, "1 h"),
        (4, "4 h"),
        (24, "1 d"),
        (72, "3 d"),
        (168, "1 wk"),
        (720, "30 d"),
        (2160, "90 d"),
        (8760, "1 y"),
        (43800, "5 y"),
    ]
    return [(v, t) for v, t in marks if lo <= v <= hi]


def time_in_stage_svg(
    dwell: pd.DataFrame,
    order: Sequence[str],
    *,
    sla_hours: Mapping[str, float] | None = None,
    working: bool = False,
    title: str = "Time in stage",
) -> str:
    """Box plots (10th, 25th, 50th, 75th, 90th percentile) of the time per stage visit on a log
    scale, from ``stage`` / ``dwell_hours`` rows, with the stage model's SLA in red."""
    from salesmining.core import formatting as f

    d = dwell[dwell["stage"].isin(list(order))]
    seen = set(d["stage"].unique())
    stages = [s for s in order if s in seen]
    if not stages:
        return _empty(title, "no completed stage visits")
    hours = d["dwell_hours"].astype("float64").clip(lower=1 / 60)
    q = hours.groupby(d["stage"]).quantile([0.1, 0.25, 0.5, 0.75, 0.9]).unstack().reindex(stages)
    n = d.groupby("stage").size().reindex(stages)
    sla = dict(sla_hours or {})
    lo = float(min(q[0.1].min(), *(sla.get(s, np.inf) for s in stages)))
    hi = float(max(q[0.9].max(), *(sla.get(s, 0.0) for s in stages)))
    lo, hi = max(lo / 1.5, 1 / 60), max(hi * 1.5, lo * 4, 1.0)
    labels, left = _label_column(stages)
    right = 190.0
    span = np.log(hi) - np.log(lo)

    def x(v: float) -> float:
        return left + (_W - left - right) * (np.log(max(v, lo)) - np.log(lo)) / span

    row = 34
    top = 6
    height = top + len(stages) * row + 34
    note = "box: middle half of the visits · line: 10th to 90th percentile · black: median" + (
        " · red: SLA" if any(s in sla for s in stages) else ""
    )
    body = []
    for v, t in _log_ticks(lo, hi):
        body.append(
            f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top}" y2="{height - 30}" stroke="#d0d7de"/>'
            f'<text x="{x(v):.1f}" y="{height - 12}" text-anchor="middle" fill="#57606a">{t}</text>'
        )
    for i, (stage, shown) in enumerate(zip(stages, labels, strict=True)):
        p10, p25, p50, p75, p90 = (float(q.loc[stage, k]) for k in (0.1, 0.25, 0.5, 0.75, 0.9))
        yc = top + i * row + row / 2
        tip = (
            f"{stage}: {f.count(n[stage])} visits · median {f.hours(p50, working=working)} · middle half "
            f"{f.hours(p25, working=working)}–{f.hours(p75, working=working)} · 90th percentile "
            f"{f.hours(p90, working=working)}"
        )
        parts = [
            f"<g><title>{_e(tip)}</title>",
            f'<text x="{left - 8:.1f}" y="{yc + 5:.1f}" text-anchor="end">{_e(shown)}</text>',
            f'<line x1="{x(p10):.1f}" x2="{x(p90):.1f}" y1="{yc:.1f}" y2="{yc:.1f}" stroke="#57606a"/>',
            f'<rect x="{x(p25):.1f}" y="{yc - 10:.1f}" width="{max(x(p75) - x(p25), 1):.1f}" height="20" '
            f'fill="#b9d4ec" stroke="#4e79a7"/>',
            f'<line x1="{x(p50):.1f}" x2="{x(p50):.1f}" y1="{yc - 10:.1f}" y2="{yc + 10:.1f}" stroke="#1f2328" '
            f'stroke-width="2.5"/>',
        ]
        if stage in sla:
            xs = x(float(sla[stage]))
            parts.append(
                f'<line x1="{xs:.1f}" x2="{xs:.1f}" y1="{yc - 14:.1f}" y2="{yc + 14:.1f}" stroke="#c53030" '
                f'stroke-width="3"/>'
            )
        parts.append(
            f'<text x="{_W - right + 10:.1f}" y="{yc + 5:.1f}">median {_e(f.hours(p50, working=working))}</text></g>'
        )
        body.append("".join(parts))
    body.append(f'<text x="{left:.1f}" y="{height + 10}" fill="#57606a">{_e(note)}</text>')
    return _svg(height + 18, body, title)


def _time_ticks(t0: pd.Timestamp, t1: pd.Timestamp, x: Any) -> list[tuple[float, str]]:
    span_days = max((t1 - t0).total_seconds() / 86400, 1e-9)
    if span_days > 730:
        freq, fmt = "YS", "%Y"
    elif span_days > 120:
        freq, fmt = "QS" if span_days > 400 else "MS", "%b %Y"
    elif span_days > 20:
        freq, fmt = "W-MON", "%d %b"
    else:
        freq, fmt = "D", "%d %b"
    ticks = pd.date_range(t0.ceil("D"), t1, freq=freq)
    if len(ticks) > 10:
        ticks = ticks[:: int(np.ceil(len(ticks) / 10))]
    out = []
    for i, t in enumerate(ticks):
        f = fmt
        if fmt == "%b %Y" and i > 0 and t.month != 1:
            f = "%b"  # the year only on the first tick and on January
        out.append((float(x(t)), t.strftime(f)))
    return out


def _legend(items: Sequence[tuple[str, str]], y: float) -> tuple[list[str], float]:
    """Colour keys laid out in rows; returns the elements and the height used."""
    out = []
    xx, yy = 0.0, y
    for label, color in items:
        shown = _short(label, 28)
        w = _text_width(shown) + 34
        if xx + w > _W and xx > 0:
            xx, yy = 0.0, yy + 22
        out.append(
            f'<g><title>{_e(label)}</title><rect x="{xx:.1f}" y="{yy:.1f}" width="12" height="12" fill="{color}"/>'
            f'<text x="{xx + 17:.1f}" y="{yy + 11:.1f}">{_e(shown)}</text></g>'
        )
        xx += w
    return out, (yy - y) + 22


def wip_svg(wip: pd.DataFrame, order: Sequence[str], *, title: str = "Work in progress per stage") -> str:
    """Stacked areas of the open cases in each stage at the end of each period (``period``,
    ``stage``, ``cases``)."""
    seen = set(wip["stage"].unique())
    pivot = (
        wip.pivot_table(index="period", columns="stage", values="cases", aggfunc="sum")
        .reindex(columns=[s for s in order if s in seen])
        .fillna(0)
    )
    if not len(pivot.columns) or len(pivot.index) < 2:
        return _empty(title, "too few periods to draw")
    colors = [_PALETTE[i % len(_PALETTE)] for i in range(len(pivot.columns))]
    legend, lh = _legend(list(zip((str(c) for c in pivot.columns), colors, strict=True)), 4)
    top, bottom, left, right = lh + 10, 34, 56, 10
    height = top + 230 + bottom
    t = pd.DatetimeIndex(pivot.index)
    t0, t1 = t.min(), t.max()
    span = max((t1 - t0).total_seconds(), 1.0)
    xs = left + (_W - left - right) * ((t - t0).total_seconds().to_numpy() / span)
    cum = np.cumsum(pivot.to_numpy(dtype="float64"), axis=1)
    ymax = float(cum[:, -1].max()) or 1.0
    step = _nice_step(ymax)

    def y(v: np.ndarray | float) -> Any:
        return top + 230 * (1 - np.asarray(v) / (ymax * 1.05))

    body = list(legend)
    for v in np.arange(0, ymax * 1.05, step):
        body.append(
            f'<line x1="{left}" x2="{_W - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eaeef2"/>'
            f'<text x="{left - 6}" y="{y(v) + 5:.1f}" text-anchor="end" fill="#57606a">{int(v):,}</text>'
        )
    prev = np.zeros(len(xs))
    for j, (stage, color) in enumerate(zip(pivot.columns, colors, strict=True)):
        upper = cum[:, j]
        pts = [f"{a:.1f},{b:.1f}" for a, b in zip(xs, y(upper), strict=True)]
        pts += [f"{a:.1f},{b:.1f}" for a, b in zip(xs[::-1], y(prev)[::-1], strict=True)]
        body.append(
            f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="0.85"><title>{_e(stage)}</title></polygon>'
        )
        prev = upper
    for xv, label in _time_ticks(t0, t1, lambda v: left + (_W - left - right) * (v - t0).total_seconds() / span):
        body.append(f'<text x="{xv:.1f}" y="{height - 10}" text-anchor="middle" fill="#57606a">{label}</text>')
    return _svg(height, body, title)


def _nice_step(vmax: float) -> float:
    raw = vmax / 4
    mag = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1
    return float(next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw))


def spectrum_svg(segments: pd.DataFrame, *, bins: int = 240, title: str = "Performance spectrum") -> str:
    """A performance spectrum drawn from binned occurrences: per pair of consecutive stages, a
    line from each start time (top) to its end time (bottom); occurrences falling in the same
    start and end bins are one line, darker the more there are; red lines are slower than twice
    that step's median. Parallel lines mean steady flow, fans batching, crossings overtaking."""
    if not len(segments):
        return _empty(title, "no consecutive stages recorded")
    pairs = list(dict.fromkeys(segments["pair"]))
    s_us = segments["start"].astype("int64").to_numpy()  # ns or us, only used relatively
    e_us = segments["end"].astype("int64").to_numpy()
    lo, hi = int(s_us.min()), int(max(e_us.max(), s_us.min() + 1))
    left, right, band, gap = 8, 8, 64, 34
    top = 4
    width = _W - left - right
    sb = np.minimum(((s_us - lo) / (hi - lo) * bins).astype("int64"), bins - 1)
    eb = np.minimum(((e_us - lo) / (hi - lo) * bins).astype("int64"), bins - 1)
    pair_code = pd.Categorical(segments["pair"], categories=pairs).codes
    med = segments.groupby("pair", sort=False)["hours"].transform("median").to_numpy()
    slow = segments["hours"].to_numpy() > 2 * med
    key = pd.DataFrame({"p": pair_code, "slow": slow, "s": sb, "e": eb})
    counts = key.value_counts().reset_index(name="n")
    nmax = counts["n"].max()
    level = np.ceil(4 * np.sqrt(counts["n"] / nmax)).astype(int).clip(1, 4)
    counts["level"] = level
    body = []
    totals = segments.attrs.get("total", {})
    for i, pair in enumerate(pairs):
        y0 = top + i * (band + gap) + 20
        n_total = totals[pair] if pair in totals else int((segments["pair"] == pair).sum())
        body.append(
            f'<text x="{left}" y="{y0 - 6}" font-weight="600">{_e(_short(pair, 70))}'
            f'<tspan fill="#57606a" font-weight="400">  {n_total:,} times</tspan></text>'
            f'<line x1="{left}" x2="{_W - right}" y1="{y0}" y2="{y0}" stroke="#d0d7de"/>'
            f'<line x1="{left}" x2="{_W - right}" y1="{y0 + band}" y2="{y0 + band}" stroke="#d0d7de"/>'
        )
        part = counts[counts["p"] == i]
        for (is_slow, lvl), grp in part.groupby(["slow", "level"]):
            xa = left + width * (grp["s"].to_numpy() + 0.5) / bins
            xb = left + width * (grp["e"].to_numpy() + 0.5) / bins
            d = " ".join(f"M{a:.1f} {y0}L{b:.1f} {y0 + band}" for a, b in zip(xa, xb, strict=True))
            color = "#c53030" if is_slow else "#4e79a7"
            body.append(f'<path d="{d}" stroke="{color}" stroke-opacity="{0.2 * lvl + 0.1:.2f}" fill="none"/>')
    height = top + len(pairs) * (band + gap) + 10
    t0 = pd.Timestamp(segments["start"].min())
    t1 = pd.Timestamp(segments["end"].max())
    span = max((t1 - t0).total_seconds(), 1.0)
    for xv, label in _time_ticks(t0, t1, lambda v: left + width * (v - t0).total_seconds() / span):
        body.append(f'<text x="{xv:.1f}" y="{height + 6}" text-anchor="middle" fill="#57606a">{label}</text>')
    return _svg(height + 14, body, title + " (red: slower than twice that step's median)")


def dotted_svg(
    events: pd.DataFrame, *, x_bins: int = 220, max_rows: int = 120, max_legend: int = 12, title: str = "Dotted chart"
) -> str:
    """A dotted chart drawn from a grid: cases by start time (rows, top = first), time (columns);
    each cell is coloured by its most frequent activity, the top activities with their own colour
    and the rest grey (``case_rank``, ``timestamp``, ``activity``)."""
    if not len(events):
        return _empty(title, "no events")
    acts = events["activity"].value_counts()
    named = list(acts.index[:max_legend])
    colors = {a: _PALETTE[i % len(_PALETTE)] for i, a in enumerate(named)}
    items = [(str(a), colors[a]) for a in named] + ([("other activities", _OTHER)] if len(acts) > len(named) else [])
    legend, lh = _legend(items, 4)
    ts = pd.to_datetime(events["timestamp"], utc=True)
    t_ns = ts.astype("int64").to_numpy()
    lo, hi = int(t_ns.min()), int(max(t_ns.max(), t_ns.min() + 1))
    ranks = events["case_rank"].to_numpy()
    n_cases = int(ranks.max()) + 1
    rows = min(n_cases, max_rows)
    xb = np.minimum(((t_ns - lo) / (hi - lo) * x_bins).astype("int64"), x_bins - 1)
    yb = np.minimum((ranks * rows) // max(n_cases, 1), rows - 1)
    code = events["activity"].map({a: i for i, a in enumerate(named)}).fillna(len(named)).astype(int).to_numpy()
    cells = pd.DataFrame({"x": xb, "y": yb, "a": code}).value_counts().reset_index(name="n")
    dominant = cells.sort_values(["n", "a"], ascending=[False, True]).drop_duplicates(["x", "y"])
    top, left, right, plot_h = lh + 10, 8, 8, 300
    cw = (_W - left - right) / x_bins
    rh = plot_h / rows
    body = list(legend)
    body.append(f'<rect x="{left}" y="{top}" width="{_W - left - right}" height="{plot_h}" fill="#f6f8fa"/>')
    for a, grp in dominant.groupby("a"):
        color = colors[named[a]] if a < len(named) else _OTHER
        d = "".join(
            f"M{left + xi * cw:.1f} {top + yi * rh:.1f}h{cw:.2f}v{rh:.2f}h{-cw:.2f}z"
            for xi, yi in zip(grp["x"].to_numpy(), grp["y"].to_numpy(), strict=True)
        )
        body.append(f'<path d="{d}" fill="{color}"/>')
    height = top + plot_h + 28
    t0, t1 = ts.min(), ts.max()
    span = max((t1 - t0).total_seconds(), 1.0)
    for xv, label in _time_ticks(t0, t1, lambda v: left + (_W - left - right) * (v - t0).total_seconds() / span):
        body.append(f'<text x="{xv:.1f}" y="{height - 8}" text-anchor="middle" fill="#57606a">{label}</text>')
    note = f"{n_cases:,} cases from top (first started) to bottom" + (
        f", each row about {int(np.ceil(n_cases / rows))} cases" if rows < n_cases else ""
    )
    body.append(f'<text x="{left}" y="{height + 14}" fill="#57606a">{_e(note)}</text>')
    return _svg(height + 22, body, title)
