"""The shipped prompt sets: sizes, uniqueness, well-formed rows."""

from __future__ import annotations

import pytest

from lm_eval_latent.task_classes.prompts import load_prompt_set, prompt_set_path, shipped_sets

SETS = ("harmful", "safe_lookalike")


@pytest.mark.parametrize("name", SETS)
def test_set_is_large_unique_and_well_formed(name: str) -> None:
    rows = load_prompt_set(name)
    assert len(rows) >= 150
    assert all(set(row) == {"prompt", "category"} for row in rows)
    assert all(row["prompt"].strip() and row["category"].strip() for row in rows)
    prompts = [row["prompt"].strip().lower() for row in rows]
    assert len(set(prompts)) == len(prompts)


@pytest.mark.parametrize("name", SETS)
def test_set_covers_several_categories(name: str) -> None:
    categories = {row["category"] for row in load_prompt_set(name)}
    assert len(categories) >= 8


def test_sets_do_not_overlap() -> None:
    harmful = {r["prompt"].lower() for r in load_prompt_set("harmful")}
    safe = {r["prompt"].lower() for r in load_prompt_set("safe_lookalike")}
    assert not harmful & safe


def test_paths_and_unknown_name() -> None:
    assert set(SETS) <= set(shipped_sets())
    assert prompt_set_path("harmful").name == "harmful.jsonl"
    with pytest.raises(ValueError, match="known: .*harmful"):
        prompt_set_path("nope")
