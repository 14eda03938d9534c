"""The drift's statistics in numpy against scipy (two-sided Mann–Whitney, the normal tail of the
two-proportion test, Benjamini–Hochberg), and the sample report built without importing scipy or
ruptures (their import costs seconds per process)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from salesmining.analysis.visits import mann_whitney_two_sided, normal_sf
from salesmining.diagnosis.drift_points import benjamini_hochberg, two_proportion_p

SAMPLES = Path(__file__).resolve().parents[1] / "sample_logs"


def test_two_sided_mann_whitney_matches_scipy() -> None:
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(11)
    exact_seen = asymptotic_seen = capped = 0
    for trial in range(1500):
        n1, n2 = int(rng.integers(1, 25)), int(rng.integers(1, 25))
        if trial % 3 == 0:  # many ties
            x, y = rng.integers(0, 5, n1).astype("float64"), rng.integers(0, 5, n2).astype("float64")
        else:
            x, y = rng.exponential(2.0, n1), rng.exponential(2.0, n2)
        x = x + (0.0 if trial % 2 else rng.choice([-0.8, 0.8]))
        ours = mann_whitney_two_sided(x, y)
        ref = float(mannwhitneyu(x, y, alternative="two-sided").pvalue)
        exact = not ((n1 > 8 and n2 > 8) or len(np.unique(np.concatenate([x, y]))) < n1 + n2)
        if exact:
            exact_seen += 1
            assert ours == ref, (n1, n2)  # the exact distribution: bit for bit
        else:
            asymptotic_seen += 1
            assert ours == pytest.approx(ref, rel=1e-12, abs=1e-300)
        assert mann_whitney_two_sided(y, x) == pytest.approx(ours, rel=1e-12)  # symmetric
        capped += ref == 1.0
        assert (ours < 0.05) == (ref < 0.05)
    assert exact_seen > 100 and asymptotic_seen > 100 and capped > 10
    big_x, big_y = rng.exponential(2.0, 20_000) + 0.01, rng.exponential(2.0, 30_000)
    assert mann_whitney_two_sided(big_x, big_y) == pytest.approx(float(mannwhitneyu(big_x, big_y).pvalue), rel=1e-12)


def test_normal_tail_and_two_proportion_p_match_scipy() -> None:
    from scipy.stats import chi2_contingency, norm

    for z in [-40.0, -8.5, -3.0, -1.0, -0.3, 0.0, 0.2, 0.7071, 1.0, 1.96, 3.5, 8.0, 12.0, 38.0]:
        assert normal_sf(z) == pytest.approx(float(norm.sf(z)), rel=1e-13, abs=1e-300)
    rng = np.random.default_rng(5)
    for _ in range(300):
        n1, n2 = int(rng.integers(2, 400)), int(rng.integers(2, 400))
        x1, x2 = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n2 + 1))
        ours = two_proportion_p(x1, n1, x2, n2)
        table = np.array([[x1, n1 - x1], [x2, n2 - x2]])
        if (table.sum(axis=0) == 0).any():  # no variation: the test has nothing to test
            assert ours == 1.0
            continue
        ref = float(chi2_contingency(table, correction=False).pvalue)
        assert ours == pytest.approx(ref, rel=1e-9, abs=1e-300)


def test_benjamini_hochberg_matches_scipy() -> None:
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(8)
    for trial in range(400):
        m = int(rng.integers(1, 40))
        p = rng.uniform(0, 1, m) ** rng.choice([1, 4, 12])
        if trial % 3 == 0:  # ties and exact zeros / ones
            p = np.round(p, 1)
        ours = benjamini_hochberg(p)
        ref = false_discovery_control(p, method="bh")
        np.testing.assert_array_equal(ours, ref)
    p = np.array([0.5, 0.6, 0.1, 0.001])
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.6, 0.6, 0.2, 0.004])  # worked by hand
    # the caller's array untouched
    assert p.tolist() == [0.5, 0.6, 0.1, 0.001]


def test_sample_report_imports_neither_scipy_nor_ruptures(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import json, sys
        import salesmining as sm
        from salesmining.cli import main
        log = sm.read_csv({str(SAMPLES / "opportunities.csv")!r}, case="Opportunity ID", activity="Activity",
                          timestamp="Timestamp", resource="Owner", approval_result="Approval Result")
        d = sm.diagnose(log, {str(SAMPLES / "stages.yaml")!r})
        html = d.html()
        main(["diagnose", {str(SAMPLES / "opportunities.csv")!r}, "--stages", {str(SAMPLES / "stages.yaml")!r},
              "-o", {str(tmp_path / "report.html")!r}, "-q"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("scipy", "ruptures"))
        print(json.dumps({{"heavy": heavy, "html": len(html), "drift": "drift" in html.lower()}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["html"] > 10_000 and got["drift"]  # the report was built, with its drift section
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert got["heavy"] == []
