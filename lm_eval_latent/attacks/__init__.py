"""Latent attacks: recipes (`recipe`), budgets (`budget`) and the algorithms (`core`).

    recipe = load_recipe("pgd_linf")
    result = run_attack(model, backend, "model.layers.2", inputs, recipe, Budget("p", 0.001),
                        target_ids=ids)
"""

from lm_eval_latent.attacks.budget import BUDGET_KINDS, Budget, parse_budget_grid
from lm_eval_latent.attacks.core import AttackResult, run_attack
from lm_eval_latent.attacks.recipe import ATTACK_KINDS, AttackRecipe, known_recipes, load_recipe

__all__ = [
    "ATTACK_KINDS", "BUDGET_KINDS", "AttackRecipe", "AttackResult", "Budget", "known_recipes",
    "load_recipe", "parse_budget_grid", "run_attack",
]
