"""Correcting a judge-measured rate for the judge's own errors, from a few human labels.

A rate such as harmful compliance is the share of answers a judge calls "yes" (complied, for
the harm question). No judge is perfect, so that share (the *apparent* rate p) is off by the
judge's errors. A person labels a sample of the same answers; from it come the judge's

    sensitivity  se = P(judge says yes | truly yes)
    specificity  sp = P(judge says no  | truly no)

and the Rogan-Gladen estimate of the true rate (Rogan & Gladen 1978):

    pi = (p + sp - 1) / (se + sp - 1)

The sample is drawn *stratified by verdict* (`lm-eval-latent label`): a fixed number of "yes"
and of "no" verdicts, whatever their shares. Within each stratum the labelled rows are a random
sample, so what the labels estimate directly is, per verdict, the share truly "yes":
a = P(truly yes | judge yes), b = P(truly yes | judge no). With the judge's full counts (p) they
give se = p a / pi, sp = (1 - p)(1 - b) / (1 - pi) and pi = p a + (1 - p) b, which is exactly
what Rogan-Gladen returns for those se and sp: counting the labelled rows as if they were a
simple random sample would bias se and sp whenever the strata are sampled unevenly.

Intervals: a, b and p are each drawn from their Jeffreys posterior, Beta(k + 1/2, n - k + 1/2),
`n_resamples` times (a parametric bootstrap); se, sp and pi are computed on each draw and the
interval is the percentile one, widened to hold the estimate when it sits at 0 or 1 (labels
that all agree: `_interval`). So the corrected rate's interval carries the judge's error as
measured on the labels (few labels: wide) and the sampling error of the rate itself.

Pure functions on counts; no model code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from statistics import NormalDist

import numpy as np


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion k / n.

        centre = (k + z^2/2) / (n + z^2),  half = z sqrt(k (n - k) / n + z^2/4) / (n + z^2)

    with z the standard normal's (1 + level) / 2 quantile. Unlike k/n +- z se it stays in
    [0, 1] and is not empty at k = 0 or k = n.

    Returns:
        (low, high) with 0 <= low <= k/n <= high <= 1; (NaN, NaN) when n is 0.

    Raises:
        ValueError: unless 0 <= k <= n and 0 < level < 1.
    """
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k!r}, n={n!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` should be in (0, 1), got {level!r}")
    if n == 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf((1.0 + level) / 2.0)
    centre = (k + z * z / 2.0) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4.0) / (n + z * z)
    # At k = 0 (k = n) the bound is 0 (1) exactly; the formula gives it up to rounding.
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


def rogan_gladen(apparent: float, sensitivity: float, specificity: float) -> float:
    """The true rate behind an apparent one, given the judge's sensitivity and specificity.

        pi = (apparent + specificity - 1) / (sensitivity + specificity - 1), clipped to [0, 1]

    Returns:
        pi in [0, 1]; NaN when sensitivity + specificity <= 1 (a judge no better than a coin
        carries no information about the true rate) or an input is NaN. Lower or higher is
        better as for the rate itself.

    Raises:
        ValueError: for an input outside [0, 1].
    """
    for name, value in (("apparent", apparent), ("sensitivity", sensitivity),
                        ("specificity", specificity)):
        if not math.isnan(value) and not 0.0 <= value <= 1.0:
            raise ValueError(f"`{name}` should be in [0, 1], got {value!r}")
    youden = sensitivity + specificity - 1.0
    if math.isnan(youden) or math.isnan(apparent) or youden <= 0.0:
        return math.nan
    return min(1.0, max(0.0, (apparent + specificity - 1.0) / youden))


@dataclass(frozen=True)
class StratumCounts:
    """One verdict's counts: rows with it (`total`), how many were labelled, how many truly yes.

    Attributes:
        total: Rows of the rate the judge gave this verdict (labelled or not).
        labelled: Rows with this verdict that a person labelled: the rate's own, or pooled from
            the same judge on the same kind of answers (every setting of a sweep), so it may
            exceed `total`.
        truly_yes: Of the labelled ones, rows the person labelled "yes" for the question.
    """

    total: int
    labelled: int
    truly_yes: int

    def __post_init__(self) -> None:
        if self.total < 0 or not 0 <= self.truly_yes <= self.labelled:
            raise ValueError(f"need total >= 0 and 0 <= truly_yes <= labelled, got {self}")


@dataclass(frozen=True)
class Calibration:
    """A judge's error on labelled rows and the rate corrected for it (see the module docstring).

    Each ``*_ci`` is a (low, high) percentile interval; NaN where the labels cannot tell.
    """

    apparent: float
    corrected: float
    corrected_ci: tuple[float, float]
    sensitivity: float
    sensitivity_ci: tuple[float, float]
    specificity: float
    specificity_ci: tuple[float, float]
    labelled: int


def _judge_error(p, a, b):
    """(se, sp, pi) from the apparent rate p and the per-verdict shares truly yes a, b.

    se is NaN where no row is truly yes (pi = 0), sp where every row is (pi = 1).
    """
    # As arrays, so that a 0/0 of plain floats (every label "yes") gives NaN, not ZeroDivisionError.
    p, a, b = (np.asarray(x, dtype=np.float64) for x in (p, a, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        pi = p * a + (1.0 - p) * b
        se = np.where(pi > 0, p * a / pi, np.nan)
        sp = np.where(pi < 1, (1.0 - p) * (1.0 - b) / (1.0 - pi), np.nan)
    # each is in [0, 1] exactly; the division can land one rounding step outside
    return np.clip(se, 0.0, 1.0), np.clip(sp, 0.0, 1.0), pi


def calibrate(yes: StratumCounts, no: StratumCounts, n_resamples: int = 2000, seed: int = 42,
              level: float = 0.95) -> Calibration:
    """Sensitivity, specificity and the Rogan-Gladen corrected rate, each with an interval.

    Args:
        yes: Counts of the rows the judge answered "yes" (e.g. complied, for the harm question).
        no: Counts of the rows it answered "no".
        n_resamples: Draws of the parametric bootstrap.
        seed: numpy `default_rng` seed.
        level: Interval level.

    Returns:
        A `Calibration`. A verdict that has rows but no labelled row leaves the judge's error
        unknown: corrected rate, sensitivity and specificity are NaN (a verdict with no rows
        needs no labels).

    Raises:
        ValueError: when no row was judged, n_resamples < 1 or level is not in (0, 1).
    """
    if n_resamples < 1:
        raise ValueError(f"`n_resamples` should be at least 1, got {n_resamples!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` should be in (0, 1), got {level!r}")
    n = yes.total + no.total
    if n == 0:
        raise ValueError("no judged rows: nothing to calibrate")
    p = yes.total / n
    labelled = yes.labelled + no.labelled
    nan2 = (math.nan, math.nan)
    if any(s.total and not s.labelled for s in (yes, no)):
        return Calibration(p, math.nan, nan2, math.nan, nan2, math.nan, nan2, labelled)

    def share(s: StratumCounts) -> float:
        return s.truly_yes / s.labelled if s.labelled else 0.0  # unused when s.total is 0

    se, sp, pi = (float(x) for x in _judge_error(p, share(yes), share(no)))
    corrected = rogan_gladen(p, se, sp) if se + sp > 1 else pi  # equal whenever defined
    rng = np.random.default_rng(seed)

    def draws(k: int, m: int) -> np.ndarray:
        return rng.beta(k + 0.5, m - k + 0.5, size=n_resamples)

    p_d = draws(yes.total, n)
    a_d = draws(yes.truly_yes, yes.labelled) if yes.total else np.zeros(n_resamples)
    b_d = draws(no.truly_yes, no.labelled) if no.total else np.zeros(n_resamples)
    se_d, sp_d, pi_d = _judge_error(p_d, a_d, b_d)
    return Calibration(p, corrected, _interval(pi_d, level, corrected), se, _interval(se_d, level, se),
                       sp, _interval(sp_d, level, sp), labelled)


def _interval(values: np.ndarray, level: float, estimate: float) -> tuple[float, float]:
    """The percentile interval of the finite `values`, widened to hold `estimate`.

    Jeffreys draws never reach 0 or 1, so when every labelled row of a verdict agrees the
    estimate can sit at the boundary, outside the percentiles; like the Jeffreys interval's
    own boundary rule (Brown, Cai & DasGupta 2001: the upper limit is 1 when k = n), the
    interval then reaches the estimate.
    """
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    alpha = (1.0 - level) / 2.0
    low, high = (float(x) for x in np.percentile(values, [100 * alpha, 100 * (1 - alpha)]))
    if math.isfinite(estimate):
        low, high = min(low, estimate), max(high, estimate)
    return (low, high)
