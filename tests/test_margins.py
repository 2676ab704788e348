"""The test helper `margins`: hand-computed margins, so the thresholds other tests use are known."""

from __future__ import annotations

import pytest

from margins import alike, apart, at_least, at_most, binomial_margin


def test_binomial_margin_by_hand():
    assert binomial_margin(0.9, 100) == pytest.approx(3 * 0.03)  # sqrt(0.09 / 100) = 0.03
    assert binomial_margin(1.0, 100) == pytest.approx(3 * 0.01)  # variance floored at 1/n
    with pytest.raises(ValueError, match="n should be a positive count"):
        binomial_margin(0.5, 0)


def test_claims_and_comparisons():
    assert at_least(0.82, 100, 0.9) and not at_least(0.80, 100, 0.9)  # bound 0.81
    assert at_most(0.18, 100, 0.1) and not at_most(0.20, 100, 0.1)
    # two rates of 0.9 and 0.8 on 100 prompts: pooled 0.85, margin 3 * sqrt(2 * 0.1275 / 100) = 0.151
    assert alike(0.9, 0.8, 100) and not apart(0.8, 0.9, 100)
    assert apart(0.1, 0.9, 40) and not alike(0.1, 0.9, 40)
