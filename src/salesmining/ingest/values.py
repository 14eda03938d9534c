"""Cleaning input values: text (NFC, trimmed, missing tokens), activity names, money amounts,
and the words that read as an approval decision or a case outcome."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from salesmining.ingest.timestamps import MISSING_TOKENS

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

__all__ = ["OUTCOME_WORDS", "RESULT_WORDS", "approval_results", "as_text", "clean_activity", "parse_amount"]

_APPROVED = (
    "approve|approved|yes|y|ok|okay|accept|accepted|granted|pass|passed|aprobado|aprobada|approuvé|approuvée|"
    "validé|validée|accepté|genehmigt|freigegeben|akzeptiert|aprovado|aprovada|approvato|approvata|goedgekeurd|"
    "通过|批准|同意|已通过|已批准|已同意|审批通过|核准|准予|承認|承认|通過"
)
_REJECTED = (
    "reject|rejected|declined|decline|denied|deny|no|n|refused|not approved|failed|rechazado|rechazada|denegado|"
    "denegada|refusé|refusée|rejeté|rejetée|abgelehnt|zurückgewiesen|rejeitado|rejeitada|reprovado|reprovada|"
    "recusado|respinto|respinta|afgewezen|驳回|拒绝|不通过|未通过|不同意|不批准|已驳回|已拒绝|否决|駁回|拒絕|却下|不通過"
)
_RECALLED = (
    "recalled|recall|removed|withdrawn|withdraw|cancelled|canceled|retirado|retirada|cancelado|cancelada|annulé|"
    "zurückgezogen|撤回|已撤回|撤销|已撤销|取消"
)
_PENDING = (
    "pending|started|submitted|in progress|waiting|noresponse|no response|held|reassigned|pendiente|en attente|"
    "ausstehend|pendente|待审批|审批中|待审核|审核中|处理中|未审批|待处理"
)
#: Approval decisions as CRMs and people write them (lower-cased, NFC, ``_`` read as a space) →
#: the canonical words ``approved``, ``rejected``, ``recalled`` (withdrawn or removed before a
#: decision) and ``pending``: English, Salesforce's StepStatus values, Spanish, French, German,
#: Portuguese, Italian, Dutch, Chinese and Japanese. Other values are kept, lower-cased.
RESULT_WORDS: dict[str, str] = {
    w: target
    for target, words in (
        ("approved", _APPROVED),
        ("rejected", _REJECTED),
        ("recalled", _RECALLED),
        ("pending", _PENDING),
    )
    for w in words.split("|")
}
OUTCOME_WORDS = {"won": "won", "win": "won", "lost": "lost", "lose": "lost", "open": "open"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def as_text(s: pd.Series, *, activity: bool = False) -> pd.Series:
    """Values as clean strings (NFC, trimmed; for activities also control characters and runs of
    white space folded); missing tokens → NA. Integral floats lose their '.0'. Work is done once
    per distinct value."""
    return to_pandas_text(text_values(s, activity=activity), s.index)


def text_values(s: pd.Series, *, activity: bool = False) -> pl.Series:
    """:func:`as_text` as a polars ``String`` series (positional). Arrow-backed text is cleaned in
    polars: values that are plain printable ASCII with no white space at either end (and, for
    activities, no double space) are clean as they are; only the distinct other values go
    through Python."""
    return checked_text_values(s, activity=activity)[0]


def checked_text_values(s: pd.Series, *, activity: bool = False) -> tuple[pl.Series, bool]:
    """:func:`text_values` and whether cleaning left every value of Arrow-backed text ``s`` as it
    is (then ``s`` itself holds the clean text; ``False`` when not known)."""
    import polars as pl

    if is_arrow_text(s):
        t = polars_text(s)
        plain = _plain_ascii(s.array._pa_array, activity=activity)  # type: ignore[attr-defined]
        out = _clean_polars(t, activity=activity, all_plain=plain)
        return out, plain and out is t
    if pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        integral = np.isfinite(arr) & (arr == np.round(arr))
        txt = np.where(integral, np.char.mod("%d", np.where(integral, arr, 0).astype("int64")), s.astype("str"))
        txt_obj = np.asarray(txt, dtype=object)
        txt_obj[~np.isfinite(arr)] = None
        s = pd.Series(txt_obj, index=s.index, dtype="object")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    lookup = pl.Series([*_clean_each([str(u) for u in uniques], activity), None], dtype=pl.String)
    return lookup.gather(np.where(codes < 0, len(uniques), codes)), False


def is_arrow_text(s: pd.Series) -> bool:
    """Whether ``s`` holds pandas' Arrow-backed text (``str`` or ``string[pyarrow]``)."""
    return isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"


def polars_text(s: pd.Series) -> pl.Series:
    """Arrow-backed pandas text as a polars ``String`` series (missing → null), without a copy of
    the values through Python."""
    import polars as pl

    return pl.Series(s.array._pa_array).cast(pl.String)  # type: ignore[attr-defined]


def to_pandas_text(t: pl.Series, index: pd.Index | None = None) -> pd.Series:
    """A polars ``String`` series as pandas' default text dtype (``str``, Arrow-backed, NaN for missing)."""
    import polars as pl

    arr = t.to_arrow(compat_level=pl.CompatLevel.oldest())
    return pd.Series(arr, index=index, dtype="str")


def _plain_ascii(values: pa.ChunkedArray, *, activity: bool) -> bool:
    """Whether every non-empty value is printable ASCII with no space at either end (and, for
    activities, no double space anywhere): cleaning leaves such values as they are (empty ones
    become missing). Read from the Arrow buffers: the bytes' range, each value's first and last byte."""
    for chunk in values.chunks:
        if not len(chunk):
            continue
        bounds = np.frombuffer(chunk.buffers()[1], dtype=np.int64 if chunk.type == "large_string" else np.int32)
        bounds = bounds[chunk.offset : chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2] or b"", dtype=np.uint8)[bounds[0] : bounds[-1]]
        if not len(data):
            continue
        if data.min() < 0x20 or data.max() > 0x7E:
            return False
        filled = bounds[1:] > bounds[:-1]
        starts, ends = bounds[:-1][filled] - bounds[0], bounds[1:][filled] - bounds[0]
        if (data[starts] == 0x20).any() or (data[ends - 1] == 0x20).any():
            return False
        if activity and ((data[:-1] == 0x20) & (data[1:] == 0x20)).any():
            return False
    return True


# Plain printable ASCII with a non-space character at both ends: NFC, trimming and (without a
# double space) white-space folding leave such a value as it is.
_PLAIN = r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$"


def _clean_polars(t: pl.Series, *, activity: bool, all_plain: bool = False) -> pl.Series:
    """:func:`text_values` of polars text: plain values (:data:`_PLAIN`) stay as they are (missing
    tokens become missing), the distinct others are cleaned in Python. ``all_plain``: every
    non-empty value is known to be plain already."""
    import polars as pl

    out = t
    plain = pl.Series(np.ones(len(t), dtype=bool)) if all_plain else t.str.contains(_PLAIN).fill_null(False)
    if activity and not all_plain:
        plain &= ~t.str.contains("  ", literal=True).fill_null(False)
    if not all_plain and not plain.all():
        at = np.flatnonzero(~plain.to_numpy())
        other = t.gather(at)
        distinct = other.drop_nulls().unique(maintain_order=True)
        table = pl.Series(_clean_each(distinct.to_list(), activity), dtype=pl.String)
        out = t.clone().scatter(at, other.replace_strict(distinct, table, default=None, return_dtype=pl.String))
    missing = plain & t.is_in(list(MISSING_TOKENS))
    if missing.any():
        out = pl.select(pl.when(missing).then(None).otherwise(out)).to_series()
    return out if out is t and all_plain else out.alias(t.name)


def _clean_each(values: list[str], activity: bool) -> list[str | None]:
    """The Python cleaning of distinct values: NFC, trimmed, (activities) folded; missing tokens → None."""
    cleaned: list[str | None] = []
    for u in values:
        v = unicodedata.normalize("NFC", u).strip()
        if activity:
            v = " ".join(_CONTROL.sub(" ", v).split())
        cleaned.append(None if v in MISSING_TOKENS else v)
    return cleaned


def approval_results(s: pd.Series) -> pd.Series:
    """Approval decisions as the canonical lower-case words of :data:`RESULT_WORDS`
    (``Approved``, ``通过``, ``Rechazado``, ``Recalled`` ...); other values lower-cased, missing → NA.

    >>> approval_results(pd.Series(["Approved", "驳回", "Rechazado", "Removed", None, "Escalated"])).tolist()
    ['approved', 'rejected', 'rejected', 'recalled', nan, 'escalated']
    """
    low = as_text(s).str.lower()
    table = {v: RESULT_WORDS.get(" ".join(v.replace("_", " ").split()), v) for v in pd.unique(low.dropna())}
    return low.map(table).astype("str")


def clean_activity(s: pd.Series) -> pd.Series:
    """Activity names as clean text: :func:`as_text` with control characters and runs of white space folded."""
    return as_text(s, activity=True)


def parse_amount(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numbers from money strings: ``$12,400.00``, ``12.400,00 €``, ``42,000``, ``-1 250,5``.

    Returns (values, unparsable mask for non-empty values that did not parse).
    """
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("float64"), np.zeros(len(s), dtype=bool)
    vals, bad = amounts(text_values(s))
    return pd.Series(vals, index=s.index), bad


def amounts(t: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parse_amount` of cleaned text (null = missing): (float64 values, unparsable mask).
    Each distinct value is read once: ASCII values are normalised by polars string operations,
    others by the pandas ones (whose ``\\d`` is Unicode's); one ``pandas.to_numeric`` reads them
    all, with a missing value among them when the column has one (its result type depends on
    what the column holds, so it sees the same kinds of value as on the whole column)."""
    import polars as pl

    distinct = t.drop_nulls().unique(maintain_order=True)
    ascii_ = distinct.str.contains(r"^[\x00-\x7f]*$").to_numpy()
    normalised = np.empty(len(distinct), dtype=object)
    normalised[ascii_] = _amount_text_ascii(distinct.filter(pl.Series(ascii_))).to_numpy()
    if (~ascii_).any():
        normalised[~ascii_] = _amount_text_pandas(to_pandas_text(distinct.filter(pl.Series(~ascii_)))).to_numpy()
    with_missing = [*normalised, None] if t.null_count() else list(normalised)
    numbers = pd.to_numeric(pd.Series(with_missing, dtype="str"), errors="coerce").astype("float64")
    vals = (
        t.replace_strict(
            distinct, pl.Series(numbers.to_numpy()[: len(distinct)]), default=None, return_dtype=pl.Float64
        )
        .fill_null(np.nan)
        .to_numpy()
    )
    bad = t.is_not_null().to_numpy() & np.isnan(vals)
    return vals, bad


def _amount_text_ascii(x: pl.Series) -> pl.Series:
    """ASCII money strings as number text: what is not a digit, ``,``, ``.`` or ``-`` is dropped;
    with both separators the last one is the decimal mark; a lone comma is a thousands separator
    only in groups of three (``42,000``), else the decimal mark; several dots are thousands
    separators."""
    import polars as pl

    v = pl.col("x").str.replace_all(r"[^0-9,.\-]", "")
    has_c, has_d = v.str.contains(",", literal=True), v.str.contains(".", literal=True)
    rev = v.str.reverse()
    comma_dec = has_c & has_d & (rev.str.find(",", literal=True) < rev.str.find(".", literal=True))
    thousands = has_c & ~has_d & v.str.contains(r"^-?[0-9]{1,3}(,[0-9]{3})+$")
    no_commas = v.str.replace_all(",", "", literal=True)
    y = (
        pl.when(comma_dec)
        .then(v.str.replace_all(".", "", literal=True).str.replace_all(",", ".", literal=True))
        .when(has_c & has_d)
        .then(no_commas)
        .when(thousands)
        .then(no_commas)
        .when(has_c)
        .then(v.str.replace_all(",", ".", literal=True))
        .when(v.str.count_matches(".", literal=True) > 1)
        .then(v.str.replace_all(".", "", literal=True))
        .otherwise(v)
    )
    return pl.DataFrame({"x": x}).select(y).to_series()


def _amount_text_pandas(t: pd.Series) -> pd.Series:
    """The rules of :func:`_amount_text_ascii` in pandas string operations (for non-ASCII text)."""
    x = t.str.replace(r"[^\d,.\-]", "", regex=True)
    both = x.str.contains(",", regex=False) & x.str.contains(".", regex=False)
    comma_dec = both & (x.str.rfind(",") > x.str.rfind("."))
    only_comma = x.str.contains(",", regex=False) & ~x.str.contains(".", regex=False)
    comma_thousands = only_comma & x.str.fullmatch(r"-?\d{1,3}(,\d{3})+")
    y = x.where(~comma_dec, x.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    y = y.where(~(both & ~comma_dec), y.str.replace(",", "", regex=False))
    y = y.where(~comma_thousands.fillna(False), y.str.replace(",", "", regex=False))
    y = y.where(~(only_comma & ~comma_thousands.fillna(False)), y.str.replace(",", ".", regex=False))
    only_dots = ~x.str.contains(",", regex=False) & (x.str.count(r"\.") > 1)
    return y.where(~only_dots.fillna(False), y.str.replace(".", "", regex=False))
