"""`attacks.recipe`: attack recipes, shipped by name or read from a YAML file."""

from __future__ import annotations

import dataclasses

import pytest

from lm_eval_latent.attacks.recipe import AttackRecipe, known_recipes, load_recipe


def test_shipped_recipes_and_an_unknown_name():
    assert {"pgd_linf", "random_linf", "pgd_l2", "gaussian_l2", "direction"} <= set(known_recipes())
    with pytest.raises(ValueError, match=r"attack='pgd' is not known \(known: .*pgd_linf"):
        load_recipe("pgd")


def test_positions_default_by_kind_and_overrides_ignore_none():
    assert load_recipe("pgd_linf").positions == "prompt" and load_recipe("pgd_l2").positions == "all"
    recipe = load_recipe("pgd_linf")
    assert recipe.override(steps=None, seed=3) == dataclasses.replace(recipe, seed=3)
    with pytest.raises(ValueError, match="positions='middle' is not allowed"):
        AttackRecipe(name="x", kind="pgd_linf", positions="middle")
    with pytest.raises(ValueError, match="budget_kind='q' is not known"):
        AttackRecipe(name="x", kind="pgd_linf", budget_kind="q")


def test_recipe_file_with_unknown_field(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("kind: pgd_linf\nstpes: 3\n")
    with pytest.raises(ValueError, match="unknown field\\(s\\) stpes"):
        load_recipe(str(path))
    path.write_text("kind: pgd_linf\nsteps: 3\n")
    assert load_recipe(str(path)).steps == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: [pgd_linf\n", "not valid YAML at line 2"),
        ("", "needs a mapping of fields with at least `kind` (allowed kinds: pgd_linf"),
        ("- pgd_linf\n", "found a YAML list"),
        ("steps: 3\n", "no `kind` field (allowed: pgd_linf"),
        ("kind: pgd_linf\nsteps: 2.7\n", "steps=2.7 is not an integer"),
        ("kind: pgd_linf\nstep_size: abc\n", "step_size='abc' is not a number"),
        ("kind: pgd_linf\nbudget_value: 1e300\n", "budget_value='1e300' is above"),
        ("kind: laser\n", "attack kind 'laser' is not known"),
    ],
)
def test_bad_recipe_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_recipe(str(path))
    assert str(err.value).startswith(f"attack recipe {path}: ") and message in str(err.value)


def test_non_utf8_recipe_names_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_bytes(b"kind: pgd_linf\n# \xff\xfe\n")
    with pytest.raises(ValueError, match=f"attack recipe {path}: not UTF-8"):
        load_recipe(str(path))
