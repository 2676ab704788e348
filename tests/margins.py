"""Margins for rates measured on n prompts, so that a test holds on any machine.

A rate from n greedy answers moves when float rounding on another CPU flips a borderline prompt;
how far it can honestly move shrinks with n. So a test states a *claim* (the rate the model is
built for, docs/zoo.md) and accepts anything within ``Z`` standard errors of it at the n used,
instead of comparing a float at the bound it happened to have on one machine.
"""

from __future__ import annotations

import math

Z = 3.0  # standard errors; a normal tail of 0.13% on each side


def binomial_margin(p: float, n: int, z: float = Z) -> float:
    """``z`` standard errors of a proportion ``p`` on ``n`` prompts (the variance floored at
    ``1/n`` so that a claim of 0 or 1 still leaves room for one or two flips)."""
    if n < 1:
        raise ValueError(f"n should be a positive count of prompts, got {n!r}")
    return z * math.sqrt(max(p * (1 - p), 1 / n) / n)


def at_least(rate: float, n: int, claim: float) -> bool:
    """``rate`` is consistent with a true rate of at least ``claim``."""
    return rate >= claim - binomial_margin(claim, n)


def at_most(rate: float, n: int, claim: float) -> bool:
    """``rate`` is consistent with a true rate of at most ``claim``."""
    return rate <= claim + binomial_margin(claim, n)


def alike(a: float, b: float, n: int) -> bool:
    """Two rates on the same ``n`` prompts are within a two-proportion interval of each other."""
    pooled = (a + b) / 2
    return abs(a - b) <= binomial_margin(pooled, n) * math.sqrt(2)


def apart(low: float, high: float, n: int) -> bool:
    """``high`` exceeds ``low`` by more than a two-proportion interval on ``n`` prompts each."""
    pooled = (low + high) / 2
    return high - low > binomial_margin(pooled, n) * math.sqrt(2)
