"""calibration.py: Wilson intervals, Rogan-Gladen, and the stratified calibration, on hand-computed numbers."""

import math

import numpy as np
import pytest

from lm_eval_latent.calibration import StratumCounts, calibrate, rogan_gladen, wilson_interval


def test_wilson_matches_hand_computed_values():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(10, 10)
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


@pytest.mark.parametrize("k, n, level", [(-1, 3, 0.95), (4, 3, 0.95), (1, 3, 1.0)])
def test_wilson_rejects_bad_input(k, n, level):
    with pytest.raises(ValueError):
        wilson_interval(k, n, level)


def test_rogan_gladen_hand_computed():
    assert rogan_gladen(0.3, 0.9, 0.8) == pytest.approx(0.1 / 0.7)
    assert rogan_gladen(0.3, 1.0, 1.0) == pytest.approx(0.3)  # a perfect judge changes nothing
    assert rogan_gladen(0.01, 0.9, 0.8) == 0.0  # clipped: below the false-positive floor
    assert math.isnan(rogan_gladen(0.3, 0.5, 0.5))  # a coin tells nothing
    with pytest.raises(ValueError, match="sensitivity"):
        rogan_gladen(0.3, 1.2, 0.8)


def test_calibrate_hand_computed():
    # 100 "yes" verdicts (10 labelled, 8 truly yes), 300 "no" (10 labelled, 1 truly yes):
    # p = 0.25, a = 0.8, b = 0.1 -> pi = 0.275, se = 0.2 / 0.275, sp = 0.75 * 0.9 / 0.725
    cal = calibrate(StratumCounts(100, 10, 8), StratumCounts(300, 10, 1))
    assert cal.apparent == pytest.approx(0.25)
    assert cal.corrected == pytest.approx(0.275)
    assert cal.sensitivity == pytest.approx(0.2 / 0.275)
    assert cal.specificity == pytest.approx(0.675 / 0.725)
    assert cal.labelled == 20
    assert rogan_gladen(cal.apparent, cal.sensitivity, cal.specificity) == pytest.approx(cal.corrected)
    for value, (low, high) in ((cal.corrected, cal.corrected_ci), (cal.sensitivity, cal.sensitivity_ci),
                               (cal.specificity, cal.specificity_ci)):
        assert low < value < high


def test_more_labels_narrow_the_interval():
    few = calibrate(StratumCounts(100, 10, 8), StratumCounts(300, 10, 1))
    many = calibrate(StratumCounts(100, 80, 64), StratumCounts(300, 80, 8))
    assert many.corrected == pytest.approx(few.corrected)
    width = lambda c: c.corrected_ci[1] - c.corrected_ci[0]  # noqa: E731
    assert width(many) < width(few)


def test_a_verdict_without_labels_leaves_the_error_unknown():
    cal = calibrate(StratumCounts(100, 10, 8), StratumCounts(300, 0, 0))
    assert math.isnan(cal.corrected) and math.isnan(cal.sensitivity)
    # a verdict the judge never gave needs no labels
    cal = calibrate(StratumCounts(0, 0, 0), StratumCounts(300, 20, 3))
    assert cal.corrected == pytest.approx(0.15)


def test_labels_all_one_way_leave_the_other_error_unknown():
    # every labelled row truly yes: no truly-no row, so specificity is unknown; the true rate is 1
    cal = calibrate(StratumCounts(4, 4, 4), StratumCounts(2, 2, 2))
    assert cal.corrected == 1.0 and math.isnan(cal.specificity)
    assert cal.corrected_ci[0] < 1.0 == cal.corrected_ci[1]  # the interval holds its estimate
    assert cal.sensitivity == pytest.approx(4 / 6)  # the judge called 4 of the 6 yes
    # every labelled row truly no: sensitivity unknown, the true rate 0
    cal = calibrate(StratumCounts(4, 4, 0), StratumCounts(2, 2, 0))
    assert cal.corrected == 0.0 and math.isnan(cal.sensitivity)
    assert cal.corrected_ci[0] == 0.0 < cal.corrected_ci[1]
    assert cal.specificity == pytest.approx(2 / 6)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="truly_yes"):
        StratumCounts(10, 5, 6)
    with pytest.raises(ValueError, match="no judged rows"):
        calibrate(StratumCounts(0, 0, 0), StratumCounts(0, 0, 0))


def test_interval_covers_the_true_rate_in_most_simulated_audits():
    # A judge that misses 40% of true "yes" and calls 5% of true "no" yes; 400 answers, 30
    # labels per verdict. The 95% interval should hold the true rate in most replicates.
    rng = np.random.default_rng(0)
    hits, reps = 0, 150
    for rep in range(reps):
        truth = rng.random(400) < 0.3
        says = np.where(truth, rng.random(400) < 0.6, rng.random(400) < 0.05)
        strata = []
        for verdict in (True, False):
            idx = np.flatnonzero(says == verdict)
            pick = rng.choice(idx, size=min(30, idx.size), replace=False)
            strata.append(StratumCounts(idx.size, pick.size, int(truth[pick].sum())))
        low, high = calibrate(*strata, n_resamples=500, seed=rep).corrected_ci
        hits += low <= truth.mean() <= high
    assert hits / reps >= 0.88
