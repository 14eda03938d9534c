"""Report output: packaged Jinja2 templates (autoescaping on), inline SVG, files and spreadsheet tables.

Renders plain values handed to it; computes nothing.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
import pandas as pd

from salesmining.core.errors import OptionError
from salesmining.core.files import prepare_folder, write_atomic

__all__ = ["graph_svg", "render_template", "strip_xml", "write_tables", "write_text"]

_ENV: jinja2.Environment | None = None


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """The templates compiled once per user, in Jinja's cache folder under the temporary directory
    (private to the user; each template keyed by its path and checked against its source), so a
    report does not parse and compile its templates again (~50 ms). Any trouble with the cache
    (unwritable, damaged) only means compiling as without it."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    # the generated code depends on the environment's options and Jinja's version: both in the name
    try:
        return _CompiledTemplates(pattern=f"salesmining-1-jinja-{jinja2.__version__}-%s.cache")
    except (OSError, RuntimeError):  # no private temporary folder: compile every time
        return None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("salesmining.present", "templates"),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            bytecode_cache=_bytecode_cache(),
        )
        _ENV.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) else v
    return _ENV


def render_template(name: str, **context: Any) -> str:
    """Render a packaged template with autoescaping."""
    return _env().get_template(name).render(**context)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically, creating parent folders (:func:`salesmining.core.files.write_atomic`)."""
    return write_atomic(path, text)


# --- diagnosis and comparison reports ------------------------------------------------------------
def strip_xml(svg: str) -> str:
    """Inline-able SVG: drop the XML declaration and DOCTYPE."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def graph_svg(dot: Any) -> tuple[str | None, str | None]:
    """(inline SVG, None) or (None, reason) when Graphviz is unavailable."""
    from salesmining.core.errors import RenderError
    from salesmining.present.maps import svg_text

    try:
        return strip_xml(svg_text(dot)), None
    except RenderError as exc:
        return None, str(exc)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            txt = s.astype("object")
            mask = txt.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_START))
            out[col] = txt.where(~mask, "'" + txt.astype(str))
    return out


def write_tables(tables: dict[str, pd.DataFrame], folder: Path, *, fmt: str = "csv") -> list[Path]:
    """Write tables as CSV files or one Excel workbook (formula-like text neutralised)."""
    if fmt not in ("csv", "xlsx", "excel"):
        raise OptionError(f"format must be 'csv' or 'xlsx', not {fmt!r}")
    prepare_folder(folder)
    written: list[Path] = []
    clean = {name: _neutralise(_tuples_to_text(df)) for name, df in tables.items()}
    if fmt == "csv":
        for name, df in clean.items():
            text = df.to_csv(index=False, lineterminator="\n")
            written.append(write_atomic(folder / f"{name}.csv", text))
        return written
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:
        from salesmining.core.errors import EngineError

        raise EngineError("Excel export needs openpyxl: pip install 'salesmining[excel]'") from exc
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as xl:
        for name, df in clean.items():
            out = df.copy()
            for col in out.columns:
                if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                    out[col] = out[col].dt.tz_localize(None)
            out.to_excel(xl, sheet_name=name[:31], index=False)
    return [write_atomic(folder / "salesmining_tables.xlsx", buffer.getvalue())]


def _tuples_to_text(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, tuple)).any():
            out[col] = out[col].map(lambda v: " | ".join(map(str, v)) if isinstance(v, tuple) else v)
    return out
