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


def test_relative_size_is_the_per_position_norm_over_rho():
    from lm_eval_latent.attacks.budget import relative_size

    h = torch.ones(1, 4, 16) * 2.0  # every position has norm 8, so rho = 8
    mask = torch.ones(1, 4)
    # frac=0.1, l-inf: radius 0.1 * 8 / 4 = 0.2 per entry, a position's norm 0.2 * 4 = 0.8 = 0.1 rho
    assert torch.allclose(relative_size(Budget("frac", 0.1), h, mask, per_position=True), torch.tensor([0.1]))
    # eps=4 over 4 x 16 entries: radius 4 / 8 = 0.5, a position's norm 2 = 0.25 rho
    assert torch.allclose(relative_size(Budget("eps", 4), h, mask, per_position=True), torch.tensor([0.25]))
    assert torch.allclose(relative_size(Budget("eps", 4), h, mask, per_position=False), torch.tensor([0.5]))


def test_a_budget_outside_the_layers_scale_is_named_in_a_warning():
    from lm_eval_latent.attacks.budget import MEANINGFUL_SCALE, scale_warning

    low, high = MEANINGFUL_SCALE
    assert scale_warning(Budget("frac", 0.1), torch.tensor([0.1]), "model.layers.3") is None
    small = scale_warning(Budget("eps", 4), torch.tensor([low / 10]), "model.layers.16")
    assert "eps=4" in small and "model.layers.16" in small and "below" in small
    big = scale_warning(Budget("p", 0.5), torch.tensor([high * 3]), "model.layers.2")
    assert "above" in big and "asr_random" in big
    assert scale_warning(Budget("eps", 0), torch.tensor([0.0]), "x") is None  # eps=0 is a clean run


def test_run_attack_warns_once_when_the_budget_is_below_the_layers_scale(random_model_dir, caplog):
    from transformers import AutoModelForCausalLM

    from lm_eval_latent.attacks import core
    from lm_eval_latent.attacks.intervention import get_backend
    from lm_eval_latent.attacks.recipe import load_recipe

    model = AutoModelForCausalLM.from_pretrained(random_model_dir).eval()
    inputs = {"input_ids": torch.tensor([[5, 6, 7, 8]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    core._WARNED.clear()
    with caplog.at_level("WARNING", logger="lm_eval_latent.attacks.core"):
        for _ in range(2):
            core.run_attack(model, get_backend("hooks"), "model.layers.1", inputs, load_recipe("random_linf"),
                            Budget("eps", 1e-6))
    notes = [r.getMessage() for r in caplog.records if "meaningful range" in r.getMessage()]
    assert len(notes) == 1 and "eps=1e-06" in notes[0]
