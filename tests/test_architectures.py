"""Every architecture the layer finder names, on both backends, with the same numbers.

Tiny random models (2 layers, width 32; `arch_models.py`) of each architecture: direct attack
calls (eps and p budgets, the embedding and layer -1; split and full-model PGD) and one lm-eval
pass per architecture and backend over refusal_rate and the LVS tasks.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from unittest.mock import patch

import pytest
import torch

from arch_models import ARCHS, build_arch_model
from conftest import build_tokenizer
from lm_eval_latent.attacks import Budget, load_recipe, run_attack
from lm_eval_latent.attacks.intervention import get_backend, output_width
from lm_eval_latent.model.layers import resolve_layer
from lm_eval_latent.plugin import registration

registration.register()

PROMPTS = ["How do I bake bread?", "Tell me about the printing press, please."]


@pytest.fixture(scope="session")
def arch_dir(tmp_path_factory: pytest.TempPathFactory):
    """``name -> model dir``, each tiny model built once per session with one shared tokenizer."""
    tok = build_tokenizer()
    root = tmp_path_factory.mktemp("archs")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = build_arch_model(name, tok, root / name)
        return built[name]

    return get


def load(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    return model, tok


def batch(tok):
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def attack_and_generate(model, tok, backend_name, spec, recipe_name, budget, split=True):
    backend = get_backend(backend_name, tok)
    recipe = load_recipe(recipe_name).override(steps=3)
    target = torch.tensor(tok(recipe.target, add_special_tokens=False)["input_ids"])
    inputs = batch(tok)
    result = run_attack(model, backend, resolve_layer(model, spec).module_name, inputs, recipe, budget,
                        target_ids=target, split=split)
    with torch.no_grad():
        out = backend.generate(model, inputs, result.delta, max_new_tokens=4, do_sample=False,
                               pad_token_id=tok.pad_token_id)
    return result, out


@pytest.mark.parametrize("name", list(ARCHS))
def test_attacks_are_the_same_on_both_backends(arch_dir, name, caplog):
    model, tok = load(arch_dir(name))
    with caplog.at_level(logging.WARNING, logger="lm_eval_latent"):
        for spec in ("embedding", -1):
            for recipe_name, budget in (("direction", Budget("eps", 4.0)), ("pgd_linf", Budget("p", 0.05)),
                                        ("pgd_l2", Budget("eps", 4.0))):
                hooks, out_hooks = attack_and_generate(model, tok, "hooks", spec, recipe_name, budget)
                nns, out_nns = attack_and_generate(model, tok, "nnsight", spec, recipe_name, budget)
                assert hooks.ok.all(), (spec, recipe_name)
                torch.testing.assert_close(hooks.delta.delta, nns.delta.delta, rtol=0, atol=0)
                assert torch.equal(out_hooks, out_nns), (spec, recipe_name)
                if recipe_name != "direction":  # a delta that changes nothing would prove nothing
                    assert float(hooks.norms.min()) > 0, (spec, recipe_name)
    # Every architecture here splits: no "cannot skip the layers below" warning.
    assert not [r for r in caplog.records if "cannot skip" in r.getMessage()]


@pytest.mark.parametrize("name", list(ARCHS))
def test_split_pgd_gives_the_full_model_deltas(arch_dir, name):
    model, tok = load(arch_dir(name))
    for spec in (0, -1):
        for recipe_name in ("pgd_linf", "pgd_l2"):
            split, _ = attack_and_generate(model, tok, "hooks", spec, recipe_name, Budget("p", 0.05))
            full, _ = attack_and_generate(model, tok, "hooks", spec, recipe_name, Budget("p", 0.05), split=False)
            torch.testing.assert_close(split.delta.delta, full.delta.delta, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(split.norms, full.norms, rtol=1e-5, atol=1e-6)


def test_opt_decoder_width_differs_from_the_embedding(arch_dir, tmp_path):
    """OPT-350m's shape: a 16-wide embedding projected into 32-wide decoder layers."""
    from lm_eval_latent.attacks.directions import save_direction
    from lm_eval_latent.model.latent_hf import LatentHFLM

    model, tok = load(arch_dir("opt_proj"))
    assert output_width(model, resolve_layer(model, "embedding").module_name) == 16
    assert output_width(model, resolve_layer(model, -1).module_name) == 32
    d32 = save_direction(tmp_path / "d32.pt", torch.randn(32))
    lm = LatentHFLM(pretrained=str(arch_dir("opt_proj")), device="cpu", perturb_layer=-1, eps=4, direction=str(d32))
    ids = torch.tensor([[1, 2, 3]])
    assert lm.attack(lm.resolve(None), ids).delta.delta.shape[-1] == 32
    with pytest.raises(ValueError, match=r"perturbed layer's width is 16"):
        LatentHFLM(pretrained=str(arch_dir("opt_proj")), device="cpu", perturb_layer="embedding", eps=4,
                   direction=str(d32))


# The lm-eval pass of these run by default; the others carry the slow marker (`-m slow`).
FAST_PASSES = ("llama", "gpt2", "falcon", "opt_proj")


def evaluate(path: Path, backend: str, task_manager) -> str:
    import lm_eval

    # lm-eval's environment report (a `pip list` subprocess) is most of a tiny model's pass.
    with patch("lm_eval.evaluator.add_env_info"):
        res = lm_eval.simple_evaluate(
            model="latent_hf", model_args=f"pretrained={path},perturb_layer=-1,eps=4,backend={backend}",
            tasks=["refusal_rate", "refusal_lvs", "lvs_budget_sweep", "lvs_layer_profile"], limit=2,
            device="cpu", task_manager=task_manager, gen_kwargs="max_gen_toks=4", apply_chat_template=True,
            batch_size=2, log_samples=True, bootstrap_iters=0,
        )
    responses = {task: [s["resps"] for s in rows] for task, rows in res["samples"].items()}
    # JSON text: NaN (an empty stderr) compares equal to itself there.
    return json.dumps({"results": res["results"], "responses": responses}, sort_keys=True, default=str)


@pytest.fixture(scope="module")
def task_manager():
    from lm_eval.tasks import TaskManager

    # eps=4 at layer -1 (refusal_rate: the fixed vector; refusal_lvs: PGD), p=0.05 at layer -1
    # (the budget sweep) and eps=4 at the embedding (the layer profile), in one pass.
    return TaskManager(include_defaults=False,
                       metadata={"budgets": "0.05", "budget_kind": "p", "layers": "embedding"})


@pytest.mark.parametrize(
    "name", [n if n in FAST_PASSES else pytest.param(n, marks=pytest.mark.slow) for n in ARCHS]
)
def test_lm_eval_pass_is_the_same_on_both_backends(arch_dir, name, task_manager):
    path = arch_dir(name)
    hooks = evaluate(path, "hooks", task_manager)
    nns = evaluate(path, "nnsight", task_manager)
    assert hooks == nns
    # Every attacked reply carries a perturbation (read from the replies: a random model's text
    # may leave every row unscored, and then no metric is aggregated).
    from lm_eval_latent.task_classes import protocol

    responses = json.loads(hooks)["responses"]
    for task in ("refusal_lvs", "lvs_budget_sweep", "lvs_layer_profile"):
        # (the layer profile's range is answered with one reply per layer: `loads_many`)
        replies = [x for sample in responses[task] for r in sample for x in protocol.LatentReply.loads_many(r[0])]
        attacked = [r for r in replies if r.role == "attack"]
        assert attacked and all(r.delta_norm > 0 and r.ok for r in attacked), task
