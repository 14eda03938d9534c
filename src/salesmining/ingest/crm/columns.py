"""Finding columns by their aliases and reading their values: clean text, booleans, human or system users."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from salesmining.core.errors import LogSchemaError
from salesmining.ingest.values import as_text

__all__ = ["human_or_system", "norm_name", "parse_bool", "resolve_columns", "text"]


def norm_name(name: object) -> str:
    """A header reduced to lower-case letters and digits (``"Opportunity ID"`` → ``"opportunityid"``)."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def resolve_columns(
    df: pd.DataFrame,
    roles: Mapping[str, Sequence[str]],
    *,
    required: Iterable[str] = (),
    source: str,
    what: str,
) -> dict[str, str | None]:
    """Find each role's column by its aliases, ignoring case, spaces and punctuation.

    Parameters
    ----------
    roles:
        Role name → aliases, best first (e.g. ``"OpportunityId": ("OpportunityId", "Opportunity ID")``).
    required:
        Roles that must be found, else :class:`LogSchemaError` naming the closest column.
    what:
        What the input is, for messages (e.g. ``"OpportunityHistory export"``).
    """
    by_norm: dict[str, str] = {}
    for col in df.columns:
        by_norm.setdefault(norm_name(col), str(col))
    found: dict[str, str | None] = {}
    for role, aliases in roles.items():
        found[role] = next((by_norm[n] for n in (norm_name(a) for a in aliases) if n in by_norm), None)
    missing = [r for r in required if found.get(r) is None]
    if missing:
        role = missing[0]
        cols = [str(c) for c in df.columns]
        close = difflib.get_close_matches(role, cols, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}? Rename it first (df.rename(columns=...))." if close else ""
        raise LogSchemaError(
            f"{source}: the {what} needs a {role!r} column (looked for {list(roles[role])}).{hint} "
            f"Columns present: {cols}",
            source=source,
            column=role,
        )
    return found


def text(df: pd.DataFrame, col: str | None, *, activity: bool = False) -> pd.Series:
    """A column as clean text (NA for empty/missing tokens), positional index; all-NA if ``col`` is None."""
    if col is None:
        return pd.Series(pd.NA, index=range(len(df)), dtype="str")
    return as_text(df[col].reset_index(drop=True), activity=activity)


_TRUE = frozenset({"true", "1", "yes", "y", "t", "x", "wahr", "vrai", "si", "sí", "ja", "verdadero"})


_FALSE = frozenset({"false", "0", "no", "n", "f", "falsch", "faux", "nein", "falso"})


def parse_bool(s: pd.Series) -> pd.Series:
    """``TRUE``/``FALSE``/``1``/``0``/``yes``/``no`` (any case) → nullable booleans; other values → NA."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.reset_index(drop=True).astype("boolean")
    t = as_text(s.reset_index(drop=True)).str.lower()
    out = pd.Series(pd.NA, index=t.index, dtype="boolean")
    out[t.isin(_TRUE).to_numpy()] = True
    out[t.isin(_FALSE).to_numpy()] = False
    return out


def human_or_system(source_type: pd.Series, human: Iterable[str]) -> pd.Series:
    """``"human"`` for the given source types (any case), ``"system"`` for other non-empty ones, else NA."""
    t = source_type.reset_index(drop=True).astype("str").str.strip().str.upper()
    hs = {h.upper() for h in human}
    out = pd.Series(pd.NA, index=t.index, dtype="str")
    out[t.notna().to_numpy() & (t != "").to_numpy()] = "system"
    out[t.isin(hs).to_numpy()] = "human"
    return out
