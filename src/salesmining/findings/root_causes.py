"""Root-cause hints: case attributes over-represented among the cases a finding affects.

A lift is a correlation, not a cause. What a client can read:

* **No tautologies.** Attributes that restate the path or the outcome are never offered: the
  conformance and outcome columns, the CRM's stage columns (``first_stage``, ``last_stage``,
  ``current_stage``), reopen/flip counters, ``left_censored``, ``is_deleted``; any attribute
  whose values are mostly activity names of the log (a stage name); id-like attributes (a name
  ending in ``id``, or text with nearly one value per case); and any attribute that splits the
  closed cases into won and lost almost perfectly (it is derived from the outcome).
* **Readable bands.** Numbers in quartile bands (``1,000 – 5,000``); dates in date bands
  (``2024-01-03 – 2024-03-30``), never epoch microseconds.
* **A fair population.** A finding whose affected cases are (almost) all closed — every
  outcome finding — is compared with the closed cases only; one whose affected cases are
  (almost) all open (stalled deals) with the open cases; otherwise with every case. Open cases
  would otherwise inflate the lift of anything that correlates with being recent.
* **Minimum support** (:class:`~salesmining.FindingRules`): at least ``root_cause_min_cases``
  affected cases and ``root_cause_min_share`` of them hold the value, and the lift is at least
  ``root_cause_min_lift``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from salesmining.core import formatting
from salesmining.findings.rules import FindingRules

__all__ = ["root_causes"]

_NOT_ATTRIBUTES = {
    "case_id",
    "outcome",
    "throughput_s",
    "skipped",
    "backtracks",
    "repeats",
    "conforms",
    "closed",
    "won",
    # restate the path or the outcome (CRM case tables)
    "first_stage",
    "last_stage",
    "current_stage",
    "reopened",
    "reopen_count",
    "outcome_flips",
    "left_censored",
    "is_deleted",
    "variant_id",
    "variant",
}
_ID_NAME = re.compile(r"(?:^|[\W_])(?:id|ID|Id)$|[a-z]Id$|^(?:id|ID|Id)[\W_]|^[Nn]ame$")
#: share of distinct values (per non-missing case) above which text is an identifier
_NEAR_UNIQUE = 0.5
#: share of an attribute's values that are activity names for it to count as a stage column
_STAGE_VALUES = 0.5
#: share of closed cases whose outcome the attribute's value determines for it to be outcome-derived
_OUTCOME_PURE = 0.98
#: a finding's affected cases at least (at most) this share closed: compared with closed (open) cases
_STATUS_SHARE = 0.95

ROOT_CAUSE_COLUMNS = [
    "rank",
    "kind",
    "where",
    "attribute",
    "value",
    "affected_with",
    "affected",
    "all_with",
    "all",
    "lift",
    "population",
]


def _date_bands(s: pd.Series) -> pd.Series:
    """Dates in (up to) four bands of equal case counts, labelled ``first date – last date``."""
    ns = s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s
    key = ns.astype("int64").where(ns.notna())
    try:
        codes = pd.qcut(key, 4, labels=False, duplicates="drop")
    except ValueError:
        return pd.Series(pd.NA, index=s.index, dtype="str")
    day = ns.dt.strftime("%Y-%m-%d")
    lo = day.groupby(codes).min()
    hi = day.groupby(codes).max()
    labels = {c: (lo[c] if lo[c] == hi[c] else f"{lo[c]} – {hi[c]}") for c in lo.index}
    return codes.map(labels).astype("str").where(codes.notna())


def _number_bands(s: pd.Series) -> pd.Series | None:
    try:
        codes = pd.qcut(s, 4, labels=False, duplicates="drop")
    except ValueError:
        return None
    lo = s.groupby(codes).min()
    hi = s.groupby(codes).max()

    def num(x: float) -> str:
        return formatting.number(int(x) if float(x).is_integer() else float(x))

    labels = {c: num(lo[c]) if lo[c] == hi[c] else f"{num(lo[c])} – {num(hi[c])}" for c in lo.index}
    return codes.map(labels).astype("str").where(codes.notna())


def _as_dates(s: pd.Series) -> pd.Series | None:
    """Text that is (almost) all ISO dates, as UTC datetimes; else None."""
    sample = s.dropna().astype("str")
    if not len(sample) or not sample.str.match(r"^\d{4}-\d{2}-\d{2}").mean() >= 0.95:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601")
    return parsed if parsed.notna().sum() >= 0.95 * s.notna().sum() else None


def _outcome_derived(s: pd.Series, cases: pd.DataFrame) -> bool:
    """Whether the value splits the closed cases into won and lost almost perfectly (both present)."""
    closed = cases["closed"].to_numpy(dtype=bool) & s.notna().to_numpy()
    if closed.sum() < 10:
        return False
    won = cases["won"].to_numpy(dtype=bool)[closed]
    if won.all() or not won.any():
        return False
    # the won × value table: per distinct value its won and lost counts (as pd.crosstab would count them)
    codes, uniques = pd.factorize(s[closed].astype("str").to_numpy())
    purest = np.maximum(
        np.bincount(codes[won], minlength=len(uniques)), np.bincount(codes[~won], minlength=len(uniques))
    )
    return bool(purest.sum() >= _OUTCOME_PURE * closed.sum() and len(uniques) <= max(2, 0.2 * closed.sum()))


def _attribute_bands(cases: pd.DataFrame, activities: frozenset[str] = frozenset()) -> dict[str, pd.Series]:
    """Every readable case attribute as categories: few distinct values as they are, numbers in
    quartile bands, dates in date bands; tautological and id-like attributes left out."""
    out: dict[str, pd.Series] = {}
    for col in cases.columns:
        if col in _NOT_ATTRIBUTES or _ID_NAME.search(str(col)):
            continue
        s = cases[col]
        if not s.notna().any():
            continue
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[f"{col} band"] = _date_bands(s)
            continue
        if pd.api.types.is_bool_dtype(s.dtype):
            out[str(col)] = s.astype("str").where(s.notna())
            continue
        if not pd.api.types.is_numeric_dtype(s.dtype):
            if activities and s.dropna().astype("str").isin(activities).mean() >= _STAGE_VALUES:
                continue  # a stage column: restates the path
            dates = _as_dates(s) if s.nunique() > 30 else None
            if dates is not None:
                out[f"{col} band"] = _date_bands(dates)
                continue
            if s.nunique() > 30:
                # numbers stored as text (XES string attributes, CSV columns) are banded like numbers
                num = pd.to_numeric(s, errors="coerce")
                if num.notna().sum() >= 0.95 * s.notna().sum() > 0:
                    s = num
        if pd.api.types.is_numeric_dtype(s.dtype) and s.nunique() > 8:
            bands = _number_bands(s.astype("float64"))
            if bands is not None:
                out[f"{col} band"] = bands
        elif s.nunique(dropna=True) <= 30 and s.nunique(dropna=True) <= max(2, _NEAR_UNIQUE * s.notna().sum()):
            out[str(col)] = s.astype("str").where(s.notna())
    if "closed" in cases.columns and "won" in cases.columns:
        out = {k: v for k, v in out.items() if not _outcome_derived(v, cases)}
    return out


def _population(cases: pd.DataFrame, is_aff: np.ndarray) -> tuple[np.ndarray, str]:
    """The cases an affected set is compared with: closed, open or all (see the module notes)."""
    if "closed" not in cases.columns:
        return np.ones(len(cases), dtype=bool), "all cases"
    closed = cases["closed"].to_numpy(dtype=bool)
    if closed.all() or not closed.any():
        return np.ones(len(cases), dtype=bool), "all cases"
    share = closed[is_aff].mean() if is_aff.any() else 0.0
    if share >= _STATUS_SHARE:
        return closed, "closed cases"
    if share <= 1 - _STATUS_SHARE:
        return ~closed, "open cases"
    return np.ones(len(cases), dtype=bool), "all cases"


def _value_codes(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """An attribute's values as int codes (-1: missing) and the text of each code."""
    codes, uniques = pd.factorize(s)
    return np.asarray(codes, dtype=np.int64), [str(v) for v in uniques]


def _counts_in_order(codes: np.ndarray, n_values: int) -> list[tuple[int, int]]:
    """(code, count) of the values present in ``codes`` (-1: missing, not counted), in
    ``Series.value_counts()`` order: most frequent first, ties in order of first appearance."""
    codes = codes[codes >= 0]
    counts = np.bincount(codes, minlength=n_values)
    first = np.full(n_values, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    present = np.flatnonzero(counts)
    order = present[np.lexsort((first[present], -counts[present]))]
    return [(int(c), int(counts[c])) for c in order]


def root_causes(
    evidence: pd.DataFrame,
    findings: pd.DataFrame,
    cases: pd.DataFrame,
    top: int,
    *,
    rules: FindingRules | None = None,
    activities: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """For the ``top`` findings: readable attribute values over-represented among the affected
    cases, compared with the cases of the same status (closed / open / all; column
    ``population``); kept with the support and lift of ``rules``, three per finding."""
    rules = rules or FindingRules()
    coded = [(name, *_value_codes(s)) for name, s in _attribute_bands(cases, activities).items()]
    rows = []
    # each evidence row's case as a row of ``cases`` (one row per case; -1: not a case of the table)
    at = pd.Index(cases["case_id"]).get_indexer(evidence["case_id"])
    for f in findings.head(top).itertuples():
        of_f = (evidence["kind"] == f.kind) & (evidence["rule"] == f.rule) & (evidence["where"] == f.where)
        is_aff = np.zeros(len(cases), dtype=bool)
        hit = at[of_f.to_numpy()]
        is_aff[hit[hit >= 0]] = True
        pop, label = _population(cases, is_aff)
        is_aff = is_aff & pop
        a = int(is_aff.sum())
        n = int(pop.sum())
        if a < rules.root_cause_min_cases or a == n:
            continue
        for name, codes, values in coded:
            all_with = np.bincount(codes[pop & (codes >= 0)], minlength=len(values))
            for code, k in _counts_in_order(codes[is_aff], len(values)):
                t = int(all_with[code])
                lift = (k / a) / (t / n)
                if (
                    k >= rules.root_cause_min_cases
                    and k >= rules.root_cause_min_share * a
                    and lift >= rules.root_cause_min_lift
                ):
                    rows.append((int(f.rank), f.kind, f.where, name, values[code], k, a, t, n, float(lift), label))
    df = pd.DataFrame(rows, columns=ROOT_CAUSE_COLUMNS)
    df = df.sort_values(["rank", "lift", "affected_with"], ascending=[True, False, False], kind="stable")
    return df.groupby("rank", sort=False).head(3).reset_index(drop=True)
