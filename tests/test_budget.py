"""`attacks.budget`: the three budget kinds, their statistics and their limits."""

from __future__ import annotations

import math

import pytest
import torch

from lm_eval_latent.attacks.budget import Budget, max_abs, parse_budget_grid, rho


def test_grid_and_kind_errors():
    with pytest.raises(ValueError, match="budgets=.* is empty"):
        parse_budget_grid("", "p")
    with pytest.raises(ValueError, match="'-0.1' is not allowed"):
        parse_budget_grid("0.1,-0.1", "p")
    with pytest.raises(ValueError, match="'x' is not a number"):
        parse_budget_grid("x", "p")
    with pytest.raises(ValueError, match="budget_kind='q' is not known"):
        parse_budget_grid("0.1", "q")
    with pytest.raises(ValueError, match="budget kind 'q' is not known"):
        Budget("q", 1.0)
    assert parse_budget_grid("0.5,1", "eps") == [Budget("eps", 0.5), Budget("eps", 1.0)]


def test_statistics_on_hand_computed_numbers():
    # One row, two positions of width 2; the second is padding: max|h| = 4, rho = |(3, 4)| = 5.
    h = torch.tensor([[[3.0, -4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 0]])
    assert max_abs(h, mask).tolist() == [4.0] and rho(h, mask).tolist() == [5.0]
    assert Budget("p", 0.5).linf_radius(h, mask).tolist() == pytest.approx([2.0])
    assert Budget("eps", 2.0).linf_radius(h, mask).tolist() == pytest.approx([2.0 / math.sqrt(2)])
    assert Budget("frac", 0.1).linf_radius(h, mask).tolist() == pytest.approx([0.5 / math.sqrt(2)])
    assert Budget("eps", 2.0).l2_norm(h, mask).tolist() == [2.0]
    assert Budget("p", 0.5).l2_norm(h, mask).tolist() == pytest.approx([2.0 * math.sqrt(2)])
    assert Budget("frac", 0.1).l2_norm(h, mask).tolist() == pytest.approx([0.5])


def test_budgets_beyond_what_a_norm_can_square_are_refused():
    with pytest.raises(ValueError, match=r"eps=1e\+30 is not allowed \(allowed: a finite number >= 0 and <= 1.84467e\+19\)"):
        Budget("eps", 1e30)
    with pytest.raises(ValueError, match="'1e300' is not allowed"):
        parse_budget_grid("0.1,1e300", "p")
    Budget("eps", 1e19).check_dtype(torch.float32)
    with pytest.raises(ValueError, match="not finite in the model's dtype float16"):
        Budget("eps", 1e5).check_dtype(torch.float16)
    Budget("p", 1e5).check_dtype(torch.float16)  # relative: only the run can tell
