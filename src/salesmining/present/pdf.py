"""PDF reports: the HTML report printed by a real engine, headless Chromium when present, else
WeasyPrint.

The page is printed with its print stylesheet (A4, page breaks between sections, the interactive
parts hidden) and without its scripts, so every map is the report's own SVG, kept as vectors.
Nothing an engine prints reaches the caller; a failure is one :class:`RenderError` saying what
happened and what to install.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from salesmining.core.errors import RenderError
from salesmining.core.files import write_atomic

__all__ = ["CHROMIUM_FLAGS", "find_chromium", "pdf_engine", "static_page", "write_pdf"]

#: Flags of a headless Chromium that prints a local file and opens no connection.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
)
_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
INSTALL_HINT = (
    "Writing a PDF needs headless Chromium or WeasyPrint, and neither was found. Install one: "
    "'sudo apt-get install chromium' (Debian/Ubuntu), 'brew install --cask chromium' (macOS), or "
    "'pip install weasyprint'; or set SALESMINING_CHROMIUM to a Chrome/Chromium program. "
    "The HTML report (write_html) prints to PDF from any browser too."
)


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL | re.IGNORECASE)


def static_page(html: str) -> str:
    """The page without its scripts: what is printed is the report's own SVG, untouched by pan
    and zoom (no value from data can close a script early: :func:`~salesmining.present.interactive.json_script`).

    >>> static_page('<p>a</p><script>x()</script><script type="application/json">{}</script><p>b</p>')
    '<p>a</p><p>b</p>'
    """
    return _SCRIPT.sub("", html)


def find_chromium() -> str | None:
    """The Chromium (or Chrome) program to print with: ``$SALESMINING_CHROMIUM``, else the
    first of chromium, chromium-browser, google-chrome on the PATH."""
    env = os.environ.get("SALESMINING_CHROMIUM")
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _has_weasyprint() -> bool:
    try:
        importlib.import_module("weasyprint")
    except (ImportError, OSError):  # OSError: installed without its system libraries (Pango)
        return False
    return True


def pdf_engine() -> str | None:
    """``"chromium"``, ``"weasyprint"`` or ``None``: the engine :func:`write_pdf` would use."""
    if find_chromium() is not None:
        return "chromium"
    if _has_weasyprint():
        return "weasyprint"
    return None


def write_pdf(html: str, path: str | os.PathLike[str], *, timeout: float = 180.0) -> Path:
    """Print a self-contained HTML page to a PDF file at ``path`` (written atomically)."""
    engine = pdf_engine()
    if engine is None:
        raise RenderError(INSTALL_HINT)
    data = _chromium_pdf(html, str(find_chromium()), timeout) if engine == "chromium" else _weasyprint_pdf(html)
    if not data.startswith(b"%PDF"):
        raise RenderError(f"the {engine} PDF engine produced no PDF")
    return write_atomic(path, data)


def _chromium_pdf(html: str, browser: str, timeout: float) -> bytes:
    with tempfile.TemporaryDirectory(prefix="salesmining-pdf-") as tmp:
        page = Path(tmp, "report.html")
        page.write_text(static_page(html), encoding="utf-8")
        out = Path(tmp, "report.pdf")
        cmd = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(tmp, 'profile')}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            res = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RenderError(f"Chromium did not finish printing the PDF within {timeout:.0f} s") from exc
        except OSError as exc:
            raise RenderError(f"Chromium could not be started ({browser}): {exc.strerror or exc}") from exc
        if res.returncode != 0 or not out.exists():
            last = [ln for ln in res.stderr.decode("utf-8", "replace").splitlines() if ln.strip()][-1:]
            detail = f": {last[0][:300]}" if last else ""
            raise RenderError(f"Chromium failed to print the PDF (exit code {res.returncode}){detail}")
        return out.read_bytes()


def _weasyprint_pdf(html: str) -> bytes:  # pragma: no cover - exercised where WeasyPrint is installed
    weasyprint: Any = importlib.import_module("weasyprint")
    pdf = weasyprint.HTML(string=static_page(html)).write_pdf()
    if not isinstance(pdf, bytes):
        raise RenderError("WeasyPrint produced no PDF")
    return pdf
