"""The installed version of salesmining, read lazily (importlib.metadata is slow to import)."""

from __future__ import annotations

import functools

__all__ = ["version"]


@functools.cache
def version() -> str:
    """The installed distribution's version (``"0+unknown"`` for a source tree without install)."""
    from importlib import metadata

    try:
        return metadata.version("salesmining")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "0+unknown"
