"""The lean gap table's helpers against independent pandas computations: case positions (by
category code or by text), the visits' frontier (a grouped running maximum), the integer path of
the owner-change test (the same decisions as on text places), the context's case facts (a merge)
and its reference flags (a text lookup of the closed cases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import salesmining as sm
from salesmining.analysis import visits as _visits
from salesmining.core.schema import CASE, OUTCOME
from salesmining.datasets import SAMPLE_COLUMNS
from salesmining.findings import context as _context
from salesmining.findings.rules import FindingRules

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


def _log(name: str = "opportunities_artefacts") -> tuple[sm.EventLog, sm.StageModel]:
    log = sm.read_csv(SAMPLES / f"{name}.csv", **SAMPLE_COLUMNS, case_attributes="auto")
    return log, sm.StageModel.from_yaml(SAMPLES / ("stages_zh.yaml" if name.endswith("_zh") else "stages.yaml"))


@pytest.mark.parametrize("name", ["opportunities_artefacts", "opportunities_zh"])
def test_case_positions_by_code_and_by_text(name: str) -> None:
    log, model = _log(name)
    gaps = _visits.event_gaps(log, model)
    first = gaps["prev_ts"].isna().to_numpy()
    names = [str(v) for v in gaps[CASE].astype("object").to_numpy()[first]]
    ids = log.cases[CASE]
    want = [ids.tolist().index(n) for n in names]
    assert _visits.case_positions(gaps, ids).tolist() == want  # the fast path: the case table in order
    shuffled = ids.sample(frac=1.0, random_state=3).reset_index(drop=True)
    want = [shuffled.tolist().index(n) for n in names]
    assert _visits.case_positions(gaps, shuffled).tolist() == want  # matched as text
    some = shuffled.iloc[: len(shuffled) // 2].reset_index(drop=True)
    want = [some.tolist().index(n) if n in set(some) else -1 for n in names]
    assert _visits.case_positions(gaps, some).tolist() == want


def test_frontier_before_is_a_grouped_running_max() -> None:
    rng = np.random.default_rng(5)
    n = 5_000
    case = np.sort(rng.integers(0, 400, n))
    order = rng.integers(0, 7, n).astype("float64")
    same_case = np.r_[False, case[1:] == case[:-1]]
    frame = pd.DataFrame({"c": case, "o": order})
    want = frame.groupby("c")["o"].cummax().groupby(frame["c"]).shift(1).fillna(-1.0).to_numpy()
    assert np.array_equal(_visits._frontier_before(order, same_case), want)
    assert len(_visits._frontier_before(np.zeros(0), np.zeros(0, dtype=bool))) == 0


def test_slower_with_change_integer_places_decide_as_text_places() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    place = rng.integers(0, 30, n)
    change = rng.random(n) < 0.3
    both = rng.random(n) < 0.8
    judged = rng.random(n) < 0.7
    gap = rng.lognormal(3, 1, n) * np.where(change & (place % 3 == 0), 3.0, 1.0)
    gap[rng.random(n) < 0.02] = np.nan
    text = np.asarray([f"p{p}" for p in place], dtype=object)
    fast = _visits.slower_with_change(place, judged, both, change, gap, 0.05)
    slow = _visits.slower_with_change(text, judged, both, change, gap, 0.05)
    assert np.array_equal(fast, slow) and fast.any() and not fast.all()


def test_case_facts_and_reference_flags_match_a_merge_and_a_text_lookup() -> None:
    log, model = _log()
    conf = sm.conform(log, model)
    facts = _context._case_facts(log, conf)
    cf = conf.to_frame()[["case_id", "outcome", "throughput_s", "skipped", "backtracks", "repeats", "conforms"]]
    attrs = log.cases.drop(columns=[OUTCOME]).rename(columns={CASE: "case_id"})
    want = cf.merge(attrs, on="case_id", how="left")
    want["closed"] = want["outcome"].isin(["won", "lost"])
    want["won"] = want["outcome"] == "won"
    pd.testing.assert_frame_equal(facts, want, check_exact=True)
    ctx = _context.build_context(log, model, FindingRules(), conf, "polars")
    closed, usable = ctx._reference_cases
    names = list(ctx.case_index)
    closed_ids = set(want.loc[want["closed"], "case_id"])
    late = set(ctx.backfilled.index)
    assert closed.tolist() == [n in closed_ids and n not in late for n in names] + [False]
    assert usable.tolist() == [n not in late for n in names] + [True]
    outcome = dict(zip(want["case_id"], want["outcome"], strict=True))
    first = ctx.case_no[ctx.visit_rows]
    assert ctx.visits["outcome"].tolist() == [outcome[names[c]] for c in first]
