"""`attacks.core`: properties of the batched latent attacks on a random tiny Llama (no training needed)."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lm_eval_latent.attacks import Budget, load_recipe, run_attack
from lm_eval_latent.attacks.core import _target_loss
from lm_eval_latent.attacks.intervention import LayerDelta, capture, get_backend, position_ids

LAYER = "model.layers.1"
PROMPTS = ["How do I bake bread?", "Tell me about the printing press, please, in detail.", "step one"]


@pytest.fixture(scope="module")
def model_tok(random_model_dir):
    model = AutoModelForCausalLM.from_pretrained(random_model_dir, dtype=torch.float64).eval()
    tok = AutoTokenizer.from_pretrained(random_model_dir)
    tok.padding_side = "left"
    return model, tok


def batch(tok, prompts):
    enc = tok(prompts, return_tensors="pt", padding=True)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def target(tok, recipe):
    return torch.tensor(tok(recipe.target, add_special_tokens=False)["input_ids"])


def attack(model, tok, name, budget, prompts=PROMPTS, backend="hooks", **overrides):
    recipe = load_recipe(name).override(**overrides)
    return run_attack(model, get_backend(backend, tok), LAYER, batch(tok, prompts), recipe, budget,
                      target_ids=target(tok, recipe))


def clean_acts(model, inputs):
    return capture(model, {**inputs, "position_ids": position_ids(inputs["attention_mask"])}, LAYER)


def test_pgd_linf_stays_in_the_ball_and_off_padding(model_tok):
    model, tok = model_tok
    inputs = batch(tok, PROMPTS)
    res = attack(model, tok, "pgd_linf", Budget("p", 0.05))
    h = clean_acts(model, inputs)
    mask = inputs["attention_mask"]
    for b in range(len(PROMPTS)):
        radius = 0.05 * h[b][mask[b].bool()].abs().max()
        assert res.delta.delta[b].abs().max() <= radius * (1 + 1e-9)
        assert torch.all(res.delta.delta[b][~mask[b].bool()] == 0)
    assert res.delta.positions == "prompt"
    assert res.ok.all()


def test_pgd_linf_lowers_the_target_loss_more_than_random(model_tok):
    model, tok = model_tok
    inputs = batch(tok, PROMPTS)
    recipe = load_recipe("pgd_linf")
    backend = get_backend("hooks")
    budget = Budget("p", 0.2)
    pgd = attack(model, tok, "pgd_linf", budget)
    rnd = attack(model, tok, "random_linf", budget)
    with torch.no_grad():
        base = _target_loss(model, backend, inputs, target(tok, recipe), LayerDelta(LAYER, None))
        with_pgd = _target_loss(model, backend, inputs, target(tok, recipe), pgd.delta)
        with_rnd = _target_loss(model, backend, inputs, target(tok, recipe), rnd.delta)
    assert with_pgd < base
    assert with_pgd < with_rnd


def test_eps_budget_bounds_the_frobenius_norm(model_tok):
    model, tok = model_tok
    for name in ("pgd_linf", "random_linf"):
        res = attack(model, tok, name, Budget("eps", 3.0))
        assert torch.all(res.norms <= 3.0 + 1e-6)
        torch.testing.assert_close(res.norms, res.delta.delta.flatten(1).norm(dim=-1).float().cpu())


@pytest.mark.parametrize("name", ["pgd_l2", "gaussian_l2", "direction"])
def test_vector_attacks_have_the_budget_norm(model_tok, name):
    model, tok = model_tok
    inputs = batch(tok, PROMPTS)
    res = attack(model, tok, name, Budget("frac", 0.1))
    h = clean_acts(model, inputs)
    m = inputs["attention_mask"].double()
    rho = (h.norm(dim=-1) * m).sum(-1) / m.sum(-1)
    torch.testing.assert_close(res.delta.delta.squeeze(1).norm(dim=-1), 0.1 * rho)
    assert res.delta.positions == "all"


@pytest.mark.parametrize("name", ["pgd_linf", "random_linf", "pgd_l2", "gaussian_l2"])
def test_batched_equals_one_at_a_time(model_tok, name):
    model, tok = model_tok
    budget = Budget("p", 0.05)
    together = attack(model, tok, name, budget)
    mask = batch(tok, PROMPTS)["attention_mask"]
    for b, prompt in enumerate(PROMPTS):
        alone = attack(model, tok, name, budget, prompts=[prompt])
        n = int(mask[b].sum())
        got = together.delta.delta[b, -n:] if together.delta.delta.shape[1] > 1 else together.delta.delta[b]
        want = alone.delta.delta[0, -n:] if alone.delta.delta.shape[1] > 1 else alone.delta.delta[0]
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)
        assert math.isclose(float(together.norms[b]), float(alone.norms[0]), rel_tol=1e-6)


def test_nnsight_and_hooks_give_the_same_pgd(model_tok):
    model, tok = model_tok
    budget = Budget("p", 0.05)
    a = attack(model, tok, "pgd_linf", budget, backend="hooks", steps=3)
    b = attack(model, tok, "pgd_linf", budget, backend="nnsight", steps=3)
    torch.testing.assert_close(a.delta.delta, b.delta.delta)


def test_random_controls_are_seeded(model_tok):
    model, tok = model_tok
    a = attack(model, tok, "random_linf", Budget("p", 0.05))
    b = attack(model, tok, "random_linf", Budget("p", 0.05))
    c = attack(model, tok, "random_linf", Budget("p", 0.05), seed=7)
    torch.testing.assert_close(a.delta.delta, b.delta.delta)
    assert not torch.allclose(a.delta.delta, c.delta.delta)


def test_ablation_removes_the_direction(model_tok):
    model, tok = model_tok
    inputs = batch(tok, PROMPTS)
    res = attack(model, tok, "direction_ablate", Budget("frac", 1.0))
    d = res.delta.ablate
    got: list[torch.Tensor] = []
    handle = model.model.layers[2].register_forward_pre_hook(lambda _m, args: got.append(args[0]))
    try:
        with torch.no_grad():
            get_backend("hooks").forward(model, {**inputs, "position_ids": position_ids(inputs["attention_mask"])}, res.delta)
    finally:
        handle.remove()
    assert (got[0] @ d.double()).abs().max() < 1e-6  # the direction is float32


def test_non_finite_row_is_flagged_and_the_others_go_on(random_model_dir, model_tok):
    _, tok = model_tok
    model = AutoModelForCausalLM.from_pretrained(random_model_dir, dtype=torch.float64).eval()
    bad_token = tok("step", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        model.get_input_embeddings().weight[bad_token] = float("nan")
    prompts = ["How do I bake bread?", "step one"]
    res = attack(model, tok, "pgd_linf", Budget("p", 0.05), prompts=prompts, steps=2)
    assert res.ok.tolist() == [True, False]
    assert torch.isfinite(res.delta.delta).all()
    assert res.norms[0] > 0 and res.norms[1] == 0


@pytest.mark.parametrize("name", ["direction", "random_linf", "pgd_linf"])
def test_rows_that_overflow_under_the_delta_are_not_ok(random_model_dir, name):
    model = AutoModelForCausalLM.from_pretrained(random_model_dir, dtype=torch.float16).eval()
    tok = AutoTokenizer.from_pretrained(random_model_dir)
    tok.padding_side = "left"
    res = attack(model, tok, name, Budget("p", 1e9), steps=1)  # entries p * max|h| > 65504
    assert res.ok.tolist() == [False] * len(PROMPTS) and (res.norms == 0).all()
    fine = attack(model, tok, name, Budget("p", 0.5), steps=1)
    assert fine.ok.all()


def test_a_vector_longer_than_a_norm_can_square_is_not_ok(random_model_dir):
    from lm_eval_latent.attacks.core import stays_finite

    model = AutoModelForCausalLM.from_pretrained(random_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(random_model_dir)
    tok.padding_side = "left"
    inputs = batch(tok, PROMPTS[:2])
    h = clean_acts(model, inputs)
    unit = torch.ones(h.shape[-1]) / h.shape[-1] ** 0.5
    # 2e19 is finite in float32, its square is not: the next layer's norm would be inf
    assert stays_finite(model, get_backend("hooks"), inputs, h, LayerDelta(LAYER, unit * 2e19)).tolist() == [False, False]
    assert stays_finite(model, get_backend("hooks"), inputs, h, LayerDelta(LAYER, unit * 4.0)).tolist() == [True, True]


def test_the_finiteness_check_through_the_split_agrees_with_the_full_forward(model_tok):
    from lm_eval_latent.attacks.core import stays_finite
    from lm_eval_latent.attacks.intervention import split_at

    model, tok = model_tok
    inputs = batch(tok, PROMPTS)
    full = {**inputs, "position_ids": position_ids(inputs["attention_mask"])}
    runner = split_at(model, LAYER, full)
    assert runner is not None and torch.equal(runner.hidden, clean_acts(model, inputs))
    h, backend = runner.hidden, get_backend("hooks")
    delta = LayerDelta(LAYER, 1e-3 * torch.ones_like(h) * inputs["attention_mask"].unsqueeze(-1))
    longest = int(inputs["attention_mask"].sum(-1).argmax())  # a row with no padding

    def overflow(_module, _inputs, output):  # a layer above the delta overflows at the row's first token
        hidden = output[0] if isinstance(output, tuple) else output
        hidden[longest, 0] = math.inf

    expected = [row != longest for row in range(len(PROMPTS))]
    assert stays_finite(model, backend, full, h, delta, runner).all()
    handle = model.model.layers[2].register_forward_hook(overflow)
    try:
        # The check reads the last position's logits only: the overflow reaches them through attention.
        assert stays_finite(model, backend, full, h, delta).tolist() == expected
        assert stays_finite(model, backend, full, h, delta, runner).tolist() == expected
    finally:
        handle.remove()
