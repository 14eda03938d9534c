"""report7: root_causes counts values with codes; cross-checked against pandas' value_counts and crosstab."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salesmining.findings import root_causes as rc


@pytest.mark.parametrize("seed", range(8))
def test_counts_in_order_is_value_counts_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # few distinct values over many rows: many ties in the counts
    s = pd.Series(rng.choice(["a", "b", "c", "d", "e", None], size=int(rng.integers(1, 40))), dtype="str")
    codes, values = rc._value_codes(s)
    mask = rng.random(len(s)) < 0.6
    got = [(values[c], k) for c, k in rc._counts_in_order(codes[mask], len(values))]
    want = [(str(v), int(k)) for v, k in s[mask].value_counts().items()]
    assert got == want


def test_value_codes_missing_is_minus_one() -> None:
    s = pd.Series(["x", None, "y", "x"], dtype="str")
    codes, values = rc._value_codes(s)
    assert list(codes) == [0, -1, 1, 0]
    assert values == ["x", "y"]


@pytest.mark.parametrize("seed", range(6))
def test_outcome_derived_matches_crosstab(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    won = rng.random(n) < 0.5
    closed = rng.random(n) < 0.8
    # half the seeds: a value that restates the outcome (with a little noise)
    if seed % 2:
        vals = np.where(won, "yes", "no").astype(object)
        vals[rng.random(n) < 0.01] = "maybe"
    else:
        vals = rng.choice(["p", "q", "r"], size=n).astype(object)
    vals[rng.random(n) < 0.1] = None
    s = pd.Series(vals, dtype="str")
    cases = pd.DataFrame({"closed": closed, "won": won & closed})
    # the definition, with pandas' crosstab
    ok = closed & s.notna().to_numpy()
    w = cases["won"].to_numpy()[ok]
    if ok.sum() < 10 or w.all() or not w.any():
        want = False
    else:
        t = pd.crosstab(s[ok].astype("str").to_numpy(), w)
        want = bool(t.max(axis=1).sum() >= rc._OUTCOME_PURE * ok.sum() and len(t) <= max(2, 0.2 * ok.sum()))
    assert rc._outcome_derived(s, cases) is want


def _root_causes_by_value_counts(evidence: pd.DataFrame, findings: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """The table written out with value_counts per finding and attribute (default rules)."""
    rules = rc.FindingRules()
    attrs = rc._attribute_bands(cases)
    rows = []
    for f in findings.itertuples():
        ids = set(evidence.loc[(evidence["kind"] == f.kind) & (evidence["where"] == f.where), "case_id"])
        is_aff = cases["case_id"].isin(ids).to_numpy()
        pop, label = rc._population(cases, is_aff)
        is_aff = is_aff & pop
        a, n = int(is_aff.sum()), int(pop.sum())
        if a < rules.root_cause_min_cases or a == n:
            continue
        for name, s in attrs.items():
            vc_all = s[pop].value_counts()
            for value, k in s[is_aff].value_counts().items():
                t = int(vc_all[value])
                lift = (k / a) / (t / n)
                if (
                    k >= rules.root_cause_min_cases
                    and k >= rules.root_cause_min_share * a
                    and lift >= rules.root_cause_min_lift
                ):
                    rows.append((int(f.rank), f.kind, f.where, name, str(value), int(k), a, t, n, float(lift), label))
    df = pd.DataFrame(rows, columns=rc.ROOT_CAUSE_COLUMNS)
    df = df.sort_values(["rank", "lift", "affected_with"], ascending=[True, False, False], kind="stable")
    return df.groupby("rank", sort=False).head(3).reset_index(drop=True)


def test_root_causes_against_value_counts() -> None:
    rng = np.random.default_rng(7)
    n = 400
    cases = pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "region": pd.Series(rng.choice(["north", "south", "east", "west", None], size=n), dtype="str"),
            "segment": pd.Series(rng.choice(["smb", "mid", "ent"], size=n), dtype="str"),
            "amount": rng.integers(100, 10_000, size=n).astype("float64"),
            "closed": rng.random(n) < 0.7,
        }
    )
    cases["won"] = cases["closed"] & (rng.random(n) < 0.5)
    findings = pd.DataFrame(
        {"rank": [1, 2, 3], "kind": ["loop", "long_wait", "skip"], "rule": "r", "where": ["A", "B", "C"]}
    )
    ev = []
    for kind, where, p in [("loop", "A", 0.2), ("long_wait", "B", 0.1), ("skip", "C", 0.3)]:
        # affected cases leaning towards one region, so some lifts pass
        w = np.where(cases["region"].to_numpy() == "north", 3 * p, p)
        hit = cases.loc[rng.random(n) < np.minimum(w, 1), "case_id"]
        ev.append(pd.DataFrame({"kind": kind, "rule": "r", "where": where, "case_id": hit}))
    evidence = pd.concat(ev, ignore_index=True)
    got = rc.root_causes(evidence, findings, cases, top=10)
    want = _root_causes_by_value_counts(evidence, findings, cases)
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want)
