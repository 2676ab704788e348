"""Properties of the `latent_hf` model on a random tiny Llama."""

from __future__ import annotations

import math

import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from lm_eval_latent.attacks.directions import random_direction, save_direction
from lm_eval_latent.model.latent_hf import LatentHFLM

PROMPTS = ["How do I bake bread?", "Tell me about the printing press.", "step one"]


def make(model_dir, **kwargs) -> LatentHFLM:
    return LatentHFLM(pretrained=str(model_dir), device="cpu", batch_size=2, **kwargs)


def gen_requests(n_tokens: int = 6) -> list[Instance]:
    return [
        Instance("generate_until", {}, (p, {"until": [], "max_gen_toks": n_tokens, "do_sample": False}), 0)
        for p in PROMPTS
    ]


def ll_requests() -> list[Instance]:
    return [Instance("loglikelihood", {}, (p, " step two"), 0) for p in PROMPTS]


def layer_outputs(model, input_ids) -> list[torch.Tensor]:
    outs: list[torch.Tensor] = []
    handles = [
        layer.register_forward_hook(lambda _m, _i, o: outs.append(o[0] if isinstance(o, tuple) else o))
        for layer in model.model.layers
    ]
    try:
        with torch.no_grad():
            model(input_ids)
    finally:
        for h in handles:
            h.remove()
    return outs


def count_hooks(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def hf(random_model_dir):
    return HFLM(pretrained=str(random_model_dir), device="cpu", batch_size=2)


def test_eps_zero_equals_hf(random_model_dir, hf):
    lm = make(random_model_dir, perturb_layer=2, eps=0)
    assert lm.generate_until(gen_requests()) == hf.generate_until(gen_requests())
    assert lm.loglikelihood(ll_requests()) == hf.loglikelihood(ll_requests())


def test_perturbation_changes_outputs(random_model_dir, hf):
    lm = make(random_model_dir, perturb_layer=1, eps=50)
    assert lm.loglikelihood(ll_requests()) != hf.loglikelihood(ll_requests())


@pytest.mark.parametrize("positions", ["all", "prompt"])
def test_nnsight_equals_hooks(random_model_dir, positions):
    nn_lm = make(random_model_dir, perturb_layer=2, eps=20, positions=positions, backend="nnsight")
    hook_lm = make(random_model_dir, perturb_layer=2, eps=20, positions=positions, backend="hooks")
    assert nn_lm.generate_until(gen_requests()) == hook_lm.generate_until(gen_requests())
    ids = torch.tensor([nn_lm.tok_encode("How do I bake bread? step two")])
    torch.testing.assert_close(nn_lm._model_call(ids), hook_lm._model_call(ids), rtol=0, atol=0)


def test_only_target_layer_changes(random_model_dir):
    lm = make(random_model_dir, perturb_layer=2, eps=3, backend="hooks")
    ids = torch.tensor([lm.tok_encode("How do I bake bread?")])
    clean = layer_outputs(lm.model, ids)
    captured: list[torch.Tensor] = []
    # Record what every layer emits while the perturbation is on (after it is applied).
    handles = [
        layer.register_forward_hook(lambda _m, _i, o: captured.append(o[0] if isinstance(o, tuple) else o))
        for layer in lm.model.model.layers
    ]
    try:
        lm._model_call(ids)
    finally:
        for h in handles:
            h.remove()
    # The recording hooks ran before ours on the target layer, so compare inputs:
    # layers 0 and 1 are untouched, layer 2's input is untouched, layers 3+ see the change.
    torch.testing.assert_close(captured[0], clean[0], rtol=0, atol=0)
    torch.testing.assert_close(captured[1], clean[1], rtol=0, atol=0)
    torch.testing.assert_close(captured[2], clean[2], rtol=0, atol=0)
    assert not torch.allclose(captured[3], clean[3])
    applied = applied_delta(lm, ids, lm.model.model.layers[3])
    # What reached layer 3 differs from the clean run by exactly the delta the model computed.
    computed = lm.attack(lm.resolve(None), ids).delta.delta
    torch.testing.assert_close(applied, computed.expand_as(applied), rtol=0, atol=1e-5)
    assert math.isclose(float(applied[0, 0].norm()), 3.0, rel_tol=1e-4)  # eps=3


def applied_delta(lm: LatentHFLM, ids: torch.Tensor, next_module: torch.nn.Module) -> torch.Tensor:
    """What the perturbation added, as the module after the perturbed one receives it."""
    got: list[torch.Tensor] = []
    handle = next_module.register_forward_pre_hook(lambda _m, args: got.append(args[0]))
    try:
        lm._model_call(ids)
        perturbed = got[-1]
        with torch.no_grad():
            lm.model(ids)
        clean = got[-1]
    finally:
        handle.remove()
    return perturbed - clean


@pytest.mark.parametrize("backend", ["nnsight", "hooks"])
def test_model_is_clean_after_calls_and_errors(random_model_dir, hf, backend):
    lm = make(random_model_dir, perturb_layer=1, eps=50, backend=backend)
    before = count_hooks(lm.model)
    lm.generate_until(gen_requests())
    assert count_hooks(lm.model) == before
    with pytest.raises(Exception):
        lm._model_call(torch.tensor([[10**6]]))  # token id outside the vocabulary
    assert count_hooks(lm.model) == before
    # The underlying network answers exactly like the clean model again.
    ids = torch.tensor([lm.tok_encode("How do I bake bread?")])
    with torch.no_grad():
        torch.testing.assert_close(lm.model(ids).logits, hf.model(ids).logits, rtol=0, atol=0)


def test_seed_gives_same_direction_and_other_seed_differs(random_model_dir):
    ids = torch.tensor([make(random_model_dir).tok_encode("How do I bake bread?")])
    a, b, c = (applied_delta(lm, ids, lm.model.model.layers[2])
               for lm in (make(random_model_dir, perturb_layer=1, eps=2, seed=s) for s in (3, 3, 4)))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert not torch.allclose(a, c, atol=1e-3)
    assert torch.allclose(a.norm(dim=-1), torch.full(a.shape[:2], 2.0), rtol=1e-4)
    torch.testing.assert_close(a, a[:, :1].expand_as(a), rtol=0, atol=1e-5)  # one vector at every position


def test_direction_file_and_embedding_layer(random_model_dir, tmp_path):
    direction = random_direction(32, seed=11) * 7  # the saved norm is ignored
    path = save_direction(tmp_path / "d.pt", direction, layer=1)
    lm = make(random_model_dir, perturb_layer="embedding", eps=4, direction=str(path))
    ids = torch.tensor([lm.tok_encode("How do I bake bread?")])
    applied = applied_delta(lm, ids, lm.model.model.layers[0])
    torch.testing.assert_close(applied, (direction / direction.norm() * 4).expand_as(applied), rtol=0, atol=1e-5)
    assert lm.layer.module_name.endswith("embed_tokens")


@pytest.mark.parametrize("layer", [-1, -1.0, "-1"])  # lm-eval's --model_args turns "-1" into -1.0
def test_negative_layer_counts_from_the_end(random_model_dir, layer):
    lm = make(random_model_dir, perturb_layer=layer, eps=1, seed=2.0)
    assert lm.layer.index == 3 and lm.layer.module_name == "model.layers.3"
    assert lm.perturb.seed == 2 and isinstance(lm.perturb.seed, int)


def test_overflowing_rows_are_answered_non_finite_not_generated(random_model_dir):
    from lm_eval_latent.task_classes import protocol

    # p scales the activations, so only the run can tell: 1e9 * max|h| overflows float16.
    lm = make(random_model_dir, perturb_layer=1, p=1e9, dtype="float16")
    assert lm.generate_until(gen_requests(2)) == [protocol.NON_FINITE_TEXT] * len(PROMPTS)
    fine = make(random_model_dir, perturb_layer=1, p=0.5, dtype="float16")
    assert protocol.NON_FINITE_TEXT not in fine.generate_until(gen_requests(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"perturb_layr": 2}, "did you mean 'perturb_layer'"),
        ({"perturb_layer": 40, "eps": 1}, "perturb_layer=40 is out of range for LlamaForCausalLM with 4 layers"),
        ({"perturb_layer": "middle", "eps": 1}, "perturb_layer='middle' is not a layer"),
        ({"perturb_layer": 1, "eps": -1}, "eps=-1 is below 0"),
        ({"perturb_layer": 1, "eps": "nan"}, "eps='nan' is not finite"),
        ({"perturb_layer": 1, "eps": "four"}, "eps='four' is not a number"),
        ({"eps": 4}, "needs perturb_layer"),
        ({"perturb_layer": 1, "eps": 1, "positions": "some"}, "positions='some' is not allowed"),
        ({"perturb_layer": 1, "eps": 1, "backend": "magic"}, "backend='magic' is not known"),
        ({"perturb_layer": 1, "eps": 1, "direction": "/nope/d.pt"}, "no such file"),
        ({"lora": "/nope/adapter"}, "no PEFT adapter there"),
        ({"merge_lora": True}, "merge_lora=true needs lora"),
        ({"perturb_layer": 1, "attack": "pgd"}, "attack='pgd' is not known (known: "),
        ({"perturb_layer": 1, "eps": 1, "p": 0.1}, "give one budget, not 2"),
        ({"attack": "pgd_linf"}, "attack=pgd_linf needs perturb_layer"),
        ({"perturb_layer": -5, "eps": 1}, 'perturb_layer=-5 is out of range for LlamaForCausalLM with 4 layers '
                                         '(allowed: -4..3 or "embedding")'),
        ({"perturb_layer": -5.0, "eps": 1}, "perturb_layer=-5 is out of range"),
        ({"perturb_layer": 1.5, "eps": 1}, "perturb_layer=1.5 is not a layer"),
        ({"seed": 1.5}, "seed=1.5 is not an integer"),
        ({"perturb_layer": 1, "steps": 2.7}, "steps=2.7 is not an integer (allowed: an integer >= 0)"),
        ({"perturb_layer": 1, "steps": "abc"}, "steps='abc' is not an integer"),
        ({"perturb_layer": 1, "step_size": "abc"}, "step_size='abc' is not a number (allowed: a finite number > 0)"),
        ({"perturb_layer": 1, "step_size": 0}, "step_size=0 is not above 0"),
        ({"perturb_layer": 1, "eps": 1e30}, "eps=1e+30 is above 1.84467e+19 (allowed: a finite number >= 0 and <= 1.84467e+19)"),
        ({"perturb_layer": 1, "eps": "1e300"}, "eps='1e300' is above 1.84467e+19"),
        ({"perturb_layer": 1, "eps": 1e5, "dtype": "float16"},
         "eps=100000 is not finite in the model's dtype float16 (allowed: a finite number >= 0 and <= 65504)"),
    ],
)
def test_bad_input_is_named(random_model_dir, kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError)) as err:
        make(random_model_dir, **kwargs)
    assert message in str(err.value)


def test_direction_of_wrong_size(random_model_dir, tmp_path):
    path = save_direction(tmp_path / "d.pt", torch.ones(5))
    with pytest.raises(ValueError, match=r"shape \(5,\); the perturbed layer's width is 32"):
        make(random_model_dir, perturb_layer=1, eps=1, direction=str(path))


def test_hf_arguments_keep_working(random_model_dir):
    lm = make(random_model_dir, dtype="float32", max_length=64, perturb_layer=1, eps=1)
    assert lm.max_length == 64 and lm.model.dtype == torch.float32


def test_apply_to_latent_leaves_plain_requests_clean(random_model_dir, hf):
    lm = make(random_model_dir, perturb_layer=1, eps=50, apply_to="latent")
    assert lm.generate_until(gen_requests()) == hf.generate_until(gen_requests())
    with pytest.raises(ValueError, match="apply_to='some' is not allowed"):
        make(random_model_dir, perturb_layer=1, eps=1, apply_to="some")


def latent_requests(prompts: list[str], n_tokens: int = 3) -> list[Instance]:
    from lm_eval_latent.task_classes import protocol

    kwargs = protocol.encode({"until": [], "max_gen_toks": n_tokens, "do_sample": False}, protocol.Setting("attack"))
    return [Instance("generate_until", {}, (p, dict(kwargs)), 0) for p in prompts]


def test_attack_batches_are_sorted_by_length_and_answers_keep_their_order(random_model_dir, monkeypatch):
    import lm_eval_latent.model.latent_hf as latent_hf
    from lm_eval_latent.task_classes import protocol

    seen: list[list[int]] = []
    real = latent_hf.run_attack

    def recording(model, backend, name, inputs, recipe, *args, **kwargs):
        seen.append(inputs["attention_mask"].sum(-1).tolist())
        return real(model, backend, name, inputs, recipe, *args, **kwargs)

    monkeypatch.setattr(latent_hf, "run_attack", recording)
    prompts = ["step one", "Tell me about the history of the printing press, please, in detail.", "How?",
               "How do I bake bread?"]
    lm = make(random_model_dir, perturb_layer=1, p=0.05, steps=2)
    replies = [protocol.LatentReply.loads(r) for r in lm.generate_until(latent_requests(prompts))]
    lengths = [n for batch in seen for n in batch]
    assert lengths == sorted(lengths, reverse=True)  # little padding: long rows together
    alone = [protocol.LatentReply.loads(lm.generate_until(latent_requests([p]))[0]) for p in prompts]
    assert [r.text for r in replies] == [a.text for a in alone]
    assert [r.delta_norm for r in replies] == pytest.approx([a.delta_norm for a in alone], rel=1e-5)


def test_auto_batch_size_is_capped_by_the_attack_backward(random_model_dir, monkeypatch):
    """A PGD step that fits only 2 rows caps `batch_size=auto`, though generation fits 8."""
    import lm_eval_latent.model.latent_hf as latent_hf

    real = latent_hf.run_attack
    rows: list[int] = []

    def small_memory(model, backend, name, inputs, recipe, *args, **kwargs):
        if recipe.kind == "pgd_linf":
            if inputs["input_ids"].shape[0] > 2:
                raise RuntimeError("CUDA out of memory.")  # what accelerate's probe halves on
            rows.append(inputs["input_ids"].shape[0])
        return real(model, backend, name, inputs, recipe, *args, **kwargs)

    monkeypatch.setattr(latent_hf, "run_attack", small_memory)
    lm = LatentHFLM(pretrained=str(random_model_dir), device="cpu", batch_size="auto", max_batch_size=8,
                    perturb_layer=1, p=0.05, steps=1, max_length=32)
    prompts = [f"How do I bake bread number {i}?" for i in range(5)]
    lm.generate_until(latent_requests(prompts))
    assert rows == [2, 2, 2, 1]  # the probe's 2, then the real batches of 2, 2 and 1


def test_use_cache_is_refused_for_latent_arguments(random_model_dir, tmp_path):
    """lm-eval's cache key is the request alone: a cached answer at eps=4 would serve eps=8."""
    from lm_eval.api.model import CachingLM

    with pytest.raises(ValueError, match=r"--use_cache cannot be used with latent_hf's latent arguments "
                                         r"\(perturb_layer=1,eps=4\)"):
        CachingLM(make(random_model_dir, perturb_layer=1, eps=4), str(tmp_path / "cache.db"))
    CachingLM(make(random_model_dir, backend="hooks"), str(tmp_path / "plain.db"))  # nothing latent: allowed


def test_use_cache_keys_a_task_setting_with_its_request(random_model_dir, tmp_path):
    """A setting the task puts in its requests is part of lm-eval's cache key (it was not JSON)."""
    from lm_eval.api.model import CachingLM

    from lm_eval_latent.attacks.budget import Budget
    from lm_eval_latent.task_classes import protocol

    def requests(eps: float) -> list[Instance]:
        kwargs = protocol.encode({"until": [], "max_gen_toks": 3, "do_sample": False},
                                 protocol.Setting("attack", layer=1, budget=Budget("eps", eps), attack="direction"))
        return [Instance("generate_until", {}, (p, dict(kwargs)), 0) for p in PROMPTS[:2]]

    lm = make(random_model_dir)
    cached = CachingLM(lm, str(tmp_path / "cache.db"))
    first = cached.generate_until(requests(2.0))
    assert cached.generate_until(requests(2.0)) == first  # served from the cache
    other = [protocol.LatentReply.loads(r) for r in cached.generate_until(requests(8.0))]
    assert [r.delta_norm for r in other] == pytest.approx([8.0, 8.0], rel=1e-4)  # not the eps=2 answers
