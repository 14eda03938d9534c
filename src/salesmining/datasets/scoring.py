"""Score findings against the generator's ground truth: precision and recall per finding kind,
and the negatives (artefacts that are not problems) that fired anyway.

The yardstick every finding rule is measured with on synthetic logs::

    events, truth = generate_sales_log(seed=5, negatives=True)
    score = score_findings(sm.find_bottlenecks(log, model), truth)
    score.to_frame()      # kind, predicted, support, true_positives, precision, recall
    score.fired           # the negatives some finding names at their place
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from salesmining.core.errors import ArgumentTypeError, OptionError
from salesmining.core.vocabulary import PROCESS_LEVEL_RULES
from salesmining.datasets._generator import NEGATIVE_KINDS, NEGATIVE_MUST_NOT_RAISE, PROBLEM_KINDS

__all__ = ["PLACE_SEPARATOR", "GroundTruthScore", "score_findings"]

#: Joins the activities of a ground-truth ``where`` (``"Contact -> Needs Analysis"``).
PLACE_SEPARATOR = " -> "
_SEVERITY = {"high": 0, "medium": 1, "low": 2}
_PER_KIND_COLUMNS = ["kind", "predicted", "support", "true_positives", "precision", "recall"]
_NEGATIVE_COLUMNS = ["case_id", "negative", "where", "must_not_raise", "fired", "fired_kinds", "fired_rules"]


@dataclasses.dataclass(frozen=True, eq=False)
class GroundTruthScore:
    """Findings scored against a ground truth (see :func:`score_findings`).

    ``to_frame()`` (also :attr:`per_kind`): one row per finding kind with ``predicted`` (cases
    the findings name for the kind), ``support`` (cases the ground truth lists), ``true_positives``,
    ``precision`` (1.0 when nothing is predicted) and ``recall`` (1.0 when nothing is injected).
    :attr:`negatives`: one row per negative of the ground truth with ``fired`` and the kinds and
    rules that fired at its place; :attr:`fired` keeps the ones that fired.
    """

    _per_kind: pd.DataFrame = dataclasses.field(repr=False)
    _negatives: pd.DataFrame = dataclasses.field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Precision, recall and support per finding kind."""
        return self._per_kind.copy()

    @property
    def per_kind(self) -> pd.DataFrame:
        """The same table as :meth:`to_frame`."""
        return self._per_kind.copy()

    @property
    def negatives(self) -> pd.DataFrame:
        """Every negative of the ground truth, whether it fired and with which kinds and rules."""
        return self._negatives.copy()

    @property
    def fired(self) -> pd.DataFrame:
        """The negatives that some finding of a forbidden kind names at their place."""
        return self._negatives[self._negatives["fired"]].reset_index(drop=True)

    def fired_by_negative(self) -> dict[str, int]:
        """How many negatives of each kind fired (every negative kind of the ground truth, 0 included)."""
        n = self._negatives
        counts = n.loc[n["fired"], "negative"].value_counts()
        return {str(k): int(counts.get(k, 0)) for k in pd.unique(n["negative"])}

    def passes(self, *, min_precision: float = 0.95, min_recall: float = 0.95) -> bool:
        """Every kind at or above both bounds and no negative fired."""
        pk = self._per_kind
        good = (pk["precision"] >= min_precision) & (pk["recall"] >= min_recall)
        return bool(good.all()) and not bool(self._negatives["fired"].any())

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data: ``per_kind`` rows and ``negatives_fired`` by negative kind."""
        rows = [
            {
                "kind": str(r["kind"]),
                "predicted": int(r["predicted"]),
                "support": int(r["support"]),
                "true_positives": int(r["true_positives"]),
                "precision": float(r["precision"]),
                "recall": float(r["recall"]),
            }
            for r in self._per_kind.to_dict("records")
        ]
        return {"per_kind": rows, "negatives_fired": self.fired_by_negative()}

    def __repr__(self) -> str:
        pk = self._per_kind
        worst_p = float(pk["precision"].min()) if len(pk) else 1.0
        worst_r = float(pk["recall"].min()) if len(pk) else 1.0
        return (
            f"<GroundTruthScore: {len(pk)} kinds, lowest precision {worst_p:.3f}, lowest recall {worst_r:.3f}; "
            f"{int(self._negatives['fired'].sum())} of {len(self._negatives)} negatives fired>"
        )


def _scored_evidence(findings: Any, min_severity: str) -> pd.DataFrame:
    """The findings' evidence rows at or above ``min_severity``, with place tokens."""
    if not hasattr(findings, "evidence") or not hasattr(findings, "to_frame"):
        raise ArgumentTypeError(f"findings must be a Findings result, got {type(findings).__name__}")
    if min_severity not in _SEVERITY:
        raise OptionError(f"min_severity must be high, medium or low, not {min_severity!r}")
    ev = findings.evidence
    fr = findings.to_frame()[["kind", "rule", "where", "severity"]].drop_duplicates(["kind", "rule", "where"])
    ev = ev.merge(fr, on=["kind", "rule", "where"], how="inner")
    ev = ev[ev["severity"].map(_SEVERITY) <= _SEVERITY[min_severity]]
    ev = ev.assign(case_id=ev["case_id"].astype("str"))
    return ev.reset_index(drop=True)


def _truth_parts(ground_truth: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not isinstance(ground_truth, pd.DataFrame):
        raise ArgumentTypeError(f"ground_truth must be a pandas DataFrame, got {type(ground_truth).__name__}")
    missing = {"case_id", "kind", "where"} - set(ground_truth.columns)
    if missing:
        raise OptionError(f"ground_truth lacks the column(s) {sorted(missing)}")
    gt = ground_truth.assign(case_id=ground_truth["case_id"].astype("str"))
    positives = gt[gt["kind"].isin(PROBLEM_KINDS)]
    negatives = gt[gt["kind"].isin(NEGATIVE_KINDS)].reset_index(drop=True)
    if "must_not_raise" in negatives.columns:
        must = negatives["must_not_raise"].fillna("").astype("str")
    else:
        must = negatives["kind"].map(lambda k: " ".join(NEGATIVE_MUST_NOT_RAISE[k]))
    negatives = negatives.assign(must_not_raise=must.to_numpy())
    return positives, negatives


def score_findings(
    findings: Any,
    ground_truth: pd.DataFrame,
    *,
    kinds: Iterable[str] = PROBLEM_KINDS,
    min_severity: str = "low",
    exclude_rules: Iterable[str] = PROCESS_LEVEL_RULES,
) -> GroundTruthScore:
    """Score a :class:`~salesmining.Findings` result against a generator ground truth.

    A case counts as *predicted* for a kind when some finding of that kind (at ``min_severity`` or
    above, from a rule not in ``exclude_rules`` — by default the process-level rules
    ``sequential_chain``, ``rubber_stamp`` and ``stalled_open``, which describe the design or the
    current state, not an event that happened to a case) lists it in its evidence; precision and
    recall are counted over cases, per kind.

    A *negative* (a ground-truth row whose ``kind`` is in :data:`NEGATIVE_KINDS`) *fires* when a
    finding of one of its ``must_not_raise`` kinds — any rule, process-level ones included, at
    ``min_severity`` or above — names its case at its place: every place activity the finding
    names (its ``activity``, ``from_activity``, ``to_activity``) is one of the activities in the
    negative's ``where`` (``"A -> B -> C"``). A true handoff at the next step (``B → C``) of a case
    whose designed handoff is ``A -> B`` is not the negative firing.

    Parameters
    ----------
    findings:
        A :class:`~salesmining.Findings` (anything with ``evidence`` and ``to_frame()``).
    ground_truth:
        The table :func:`generate_sales_log` returns, or a ``*_ground_truth.csv`` read back.
    kinds:
        The finding kinds to score (default: all of :data:`PROBLEM_KINDS`).
    min_severity:
        Count only findings at this severity or above (``low`` = every finding).
    exclude_rules:
        Rules that never count as a prediction of a case problem.

    Examples
    --------
    >>> import pandas as pd
    >>> from salesmining.datasets import score_findings
    >>> class F:  # a stand-in for a Findings result
    ...     evidence = pd.DataFrame({"kind": ["loop"], "rule": ["backward_move"], "where": ["B → A"],
    ...         "case_id": ["c1"], "activity": [None], "from_activity": ["B"], "to_activity": ["A"]})
    ...     def to_frame(self):
    ...         return pd.DataFrame({"kind": ["loop"], "rule": ["backward_move"], "where": ["B → A"],
    ...                              "severity": ["medium"]})
    >>> truth = pd.DataFrame({"case_id": ["c1", "c2"], "kind": ["loop", "bulk_update_tie"],
    ...     "where": ["B -> A", "A -> B"], "detail": ["", ""], "must_not_raise": ["", "loop"]})
    >>> s = score_findings(F(), truth, kinds=["loop"])
    >>> {k: s.to_dict()["per_kind"][0][k] for k in ("predicted", "support", "precision", "recall")}
    {'predicted': 1, 'support': 1, 'precision': 1.0, 'recall': 1.0}
    >>> s.fired_by_negative()
    {'bulk_update_tie': 0}
    """
    ev = _scored_evidence(findings, min_severity)
    positives, negatives = _truth_parts(ground_truth)
    wanted = list(kinds)
    unknown = set(wanted) - set(PROBLEM_KINDS)
    if unknown:
        raise OptionError(f"unknown finding kind(s) {sorted(unknown)}; kinds are {PROBLEM_KINDS}")

    # ---- per kind, over cases
    excluded = set(exclude_rules)
    pred = ev.loc[~ev["rule"].isin(excluded), ["kind", "case_id"]].drop_duplicates()
    true = positives[["kind", "case_id"]].drop_duplicates()
    hits = pred.merge(true, on=["kind", "case_id"], how="inner")
    kind_index = pd.Index(wanted, name="kind")
    n_pred = pred.groupby("kind").size().reindex(kind_index, fill_value=0)
    n_true = true.groupby("kind").size().reindex(kind_index, fill_value=0)
    n_hit = hits.groupby("kind").size().reindex(kind_index, fill_value=0)
    per_kind = pd.DataFrame(
        {
            "kind": wanted,
            "predicted": n_pred.to_numpy(dtype="int64"),
            "support": n_true.to_numpy(dtype="int64"),
            "true_positives": n_hit.to_numpy(dtype="int64"),
        }
    )
    per_kind["precision"] = (
        per_kind["true_positives"] / per_kind["predicted"].where(per_kind["predicted"] > 0)
    ).fillna(1.0)
    per_kind["recall"] = (per_kind["true_positives"] / per_kind["support"].where(per_kind["support"] > 0)).fillna(1.0)

    # ---- negatives, at their place
    neg = negatives.assign(neg_id=range(len(negatives)))
    tokens = neg.assign(token=neg["where"].fillna("").astype("str").str.split(PLACE_SEPARATOR)).explode("token")
    tokens = tokens.assign(must=tokens["must_not_raise"].str.split()).explode("must")
    tokens = tokens[["neg_id", "case_id", "token", "must"]].rename(columns={"must": "kind"}).dropna()
    tokens = tokens.drop_duplicates()
    evx = ev.reset_index(drop=True).assign(ev_id=np.arange(len(ev)))
    place = evx.melt(
        id_vars=["ev_id", "kind", "rule", "case_id"],
        value_vars=["activity", "from_activity", "to_activity"],
        value_name="token",
    ).dropna(subset=["token"])
    place = place.assign(token=place["token"].astype("str")).drop_duplicates(["ev_id", "token"])
    n_tokens = place.groupby("ev_id").size()
    matched = tokens.merge(place[["ev_id", "kind", "rule", "case_id", "token"]], on=["case_id", "kind", "token"])
    # at the negative's place: every place activity the finding names lies within the negative's where
    per_pair = matched.groupby(["neg_id", "ev_id"]).size()
    whole = per_pair[per_pair.to_numpy() == n_tokens.reindex(per_pair.index.get_level_values("ev_id")).to_numpy()]
    fired = matched.merge(whole.index.to_frame(index=False), on=["neg_id", "ev_id"]).drop_duplicates(
        ["neg_id", "ev_id"]
    )
    by_neg = fired.groupby("neg_id")
    fired_kinds = {int(k): " ".join(sorted(set(v))) for k, v in by_neg["kind"]}
    fired_rules = {int(k): " ".join(sorted(set(v))) for k, v in by_neg["rule"]}
    ids = [int(i) for i in neg["neg_id"]]
    negatives_out = pd.DataFrame(
        {
            "case_id": neg["case_id"].to_numpy(),
            "negative": neg["kind"].to_numpy(),
            "where": neg["where"].to_numpy(),
            "must_not_raise": neg["must_not_raise"].to_numpy(),
            "fired": [i in fired_kinds for i in ids],
            "fired_kinds": pd.Series([fired_kinds.get(i, "") for i in ids], dtype="object"),
            "fired_rules": pd.Series([fired_rules.get(i, "") for i in ids], dtype="object"),
        },
        columns=_NEGATIVE_COLUMNS,
    )
    return GroundTruthScore(per_kind[_PER_KIND_COLUMNS], negatives_out)
