"""Cleaning input values: text (NFC, trimmed, missing tokens), activity names, money amounts,
and the words that read as an approval decision or a case outcome."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from salesmining.ingest.timestamps import MISSING_TOKENS

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
    if pd.api.types.is_float_dtype(s.dtype):
        arr = s.to_numpy(dtype="float64", na_value=np.nan)
        integral = np.isfinite(arr) & (arr == np.round(arr))
        txt = np.where(integral, np.char.mod("%d", np.where(integral, arr, 0).astype("int64")), s.astype("str"))
        txt_obj = np.asarray(txt, dtype=object)
        txt_obj[~np.isfinite(arr)] = None
        s = pd.Series(txt_obj, index=s.index, dtype="object")
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    cleaned: list[str | None] = []
    for u in uniques:
        v = unicodedata.normalize("NFC", str(u)).strip()
        if activity:
            v = " ".join(_CONTROL.sub(" ", v).split())
        cleaned.append(None if v in MISSING_TOKENS else v)
    import pyarrow as pa

    lookup = pa.array([*cleaned, None], type=pa.large_string())
    taken = lookup.take(pa.array(np.where(codes < 0, len(cleaned), codes)))
    return pd.Series(taken, index=s.index, dtype="str")


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
    t = as_text(s)
    present = t.notna().to_numpy()
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
    y = y.where(~only_dots.fillna(False), y.str.replace(".", "", regex=False))
    vals = pd.to_numeric(y, errors="coerce").astype("float64")
    bad = present & vals.isna().to_numpy()
    return vals, bad
