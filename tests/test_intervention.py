"""`intervention`: tuple outputs, widths, and the split that lets PGD skip the frozen layers."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer

from lm_eval_latent.attacks import Budget, load_recipe, run_attack
from lm_eval_latent.attacks.intervention import LayerDelta, get_backend, hidden_of, output_width, split_at
from lm_eval_latent.attacks.intervention.split import _check_rows

PROMPTS = ["How do I bake bread?", "step one"]


@pytest.fixture(scope="module")
def model_tok(random_model_dir):
    model = AutoModelForCausalLM.from_pretrained(random_model_dir).eval()
    tok = AutoTokenizer.from_pretrained(random_model_dir)
    tok.padding_side = "left"
    return model, tok


def pgd(model, tok, layer, split, steps=5, backend="hooks"):
    recipe = load_recipe("pgd_linf").override(steps=steps)
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    target = torch.tensor(tok(recipe.target, add_special_tokens=False)["input_ids"])
    return run_attack(model, get_backend(backend, tok), layer, inputs, recipe, Budget("p", 0.05),
                      target_ids=target, split=split)


def test_edit_keeps_a_tuple_output_a_tuple():
    delta = LayerDelta("x", torch.ones(4))
    hidden, extra = torch.zeros(1, 3, 4), object()
    edited = delta.edit((hidden, extra))
    assert isinstance(edited, tuple) and edited[1] is extra
    assert torch.equal(hidden_of(edited), torch.ones(1, 3, 4))
    assert torch.equal(delta.edit(hidden), torch.ones(1, 3, 4))
    assert torch.equal(hidden, torch.zeros(1, 3, 4))  # the input is untouched


def test_output_width_is_read_from_the_module(model_tok):
    model, _ = model_tok
    assert output_width(model, "model.layers.1") == 32
    assert output_width(model, "model.embed_tokens") == 32


def count_calls(module: nn.Module):
    calls = {"n": 0}

    def hook(*_):
        calls["n"] += 1

    return calls, module.register_forward_hook(hook)


def test_split_pgd_runs_the_lower_layers_once_per_batch(model_tok):
    model, tok = model_tok
    pgd(model, tok, "model.layers.2", split=True, steps=1)  # the one-off check against the full model
    runs = {}
    for split in (True, False):
        calls, handle = count_calls(model.model.layers[0])
        top, top_handle = count_calls(model.model.layers[3])
        try:
            pgd(model, tok, "model.layers.2", split=split, steps=8)
        finally:
            handle.remove()
            top_handle.remove()
        runs[split] = (calls["n"], top["n"])
    # Split: the prompt's lower layers once (budget statistics and the finiteness check of
    # `core.stays_finite`) and the cached forward of prompt and target; full: those plus every step.
    assert runs[True][0] == 2 < 8 <= runs[False][0]
    assert runs[True][1] == runs[False][1] >= 8  # the layers above the delta run at every step
    assert [type(m).__name__ for m in model.model.layers] == ["LlamaDecoderLayer"] * 4  # restored


def test_random_control_runs_the_lower_layers_once_and_the_head_on_one_position(model_tok):
    model, tok = model_tok
    pgd(model, tok, "model.layers.2", split=True, steps=1)  # the one-off check against the full model
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    heads = []
    handle = model.lm_head.register_forward_hook(lambda _m, _i, out: heads.append(out.shape[1]))
    calls, low = count_calls(model.model.layers[0])
    top, high = count_calls(model.model.layers[3])
    try:
        for split in (True, False):
            calls["n"] = top["n"] = 0
            heads.clear()
            res = run_attack(model, get_backend("hooks", tok), "model.layers.2", inputs,
                             load_recipe("random_linf"), Budget("p", 0.05), split=split)
            assert res.ok.all()
            # split: one run of the lower layers, then the check above them; full: the capture
            # and the check's full forward. Either way the head reads the last position only.
            assert (calls["n"], top["n"], heads) == ((1, 1, [1]) if split else (2, 1, [1]))
    finally:
        for h in (handle, low, high):
            h.remove()


def test_the_one_off_split_check_compares_every_position(random_model_dir, model_tok):
    _, tok = model_tok
    model = AutoModelForCausalLM.from_pretrained(random_model_dir).eval()  # not checked yet
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "logits_to_keep": 1}
    heads = []
    handle = model.lm_head.register_forward_hook(lambda _m, _i, out: heads.append(out.shape[1]))
    try:
        runner = split_at(model, "model.layers.2", inputs)
        length = enc["input_ids"].shape[1]
        assert runner is not None and heads == [length, length]  # the full model and the split, every position
        heads.clear()
        assert runner.forward(None).shape[1] == 1 and heads == [1]  # the attack's own forwards keep one
    finally:
        handle.remove()


def test_the_one_off_split_check_runs_on_the_most_and_the_least_padded_row(random_model_dir, model_tok):
    _, tok = model_tok
    model = AutoModelForCausalLM.from_pretrained(random_model_dir).eval()  # not checked yet
    prompts = ["a b c", "How do I bake bread at home today?", "step", "How do I bake bread?"]
    enc = tok(prompts, return_tensors="pt", padding=True)
    inputs = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    lengths = enc["attention_mask"].sum(-1).tolist()
    seen = []
    handle = model.lm_head.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].shape[0]))
    low = model.model.layers[0].register_forward_hook(
        lambda _m, inp, _out: seen.append(("low", inp[0].shape[0])))
    try:
        runner = split_at(model, "model.layers.2", inputs)
    finally:
        handle.remove()
        low.remove()
    assert runner is not None
    # Checked on two rows (their lower layers, the full model, the split above the stand-ins),
    # then the lower layers of all four for the attack.
    assert seen == [("low", 2), ("low", 2), 2, 2, ("low", 4)]
    assert len(set(lengths)) == 4  # the rows differ in padding, so the choice matters
    checked = _check_rows({**inputs, "logits_to_keep": 1})
    assert sorted(checked["attention_mask"].sum(-1).tolist()) == [min(lengths), max(lengths)]
    assert checked["logits_to_keep"] == 1 and checked["input_ids"].shape == (2, enc["input_ids"].shape[1])
    with torch.no_grad():
        torch.testing.assert_close(runner.forward(None), model(**inputs).logits, rtol=1e-5, atol=1e-5)


def test_split_gives_the_same_deltas_on_both_backends(model_tok):
    model, tok = model_tok
    full = pgd(model, tok, "model.layers.1", split=False)
    for backend in ("hooks", "nnsight"):
        split = pgd(model, tok, "model.layers.1", split=True, backend=backend)
        torch.testing.assert_close(split.delta.delta, full.delta.delta, rtol=1e-5, atol=1e-6)


def test_embedding_is_not_split(model_tok):
    model, tok = model_tok
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    assert split_at(model, "model.embed_tokens", dict(enc)) is None


class SumOfLayers(nn.Module):
    """A toy LM whose head reads every layer's output: standing in for the lower layers with
    the perturbed layer's output changes its logits, so it cannot be split."""

    def __init__(self, vocab: int = 400, width: int = 8) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(vocab, width)
        self.model = nn.Module()
        self.model.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(3))
        self.head = nn.Linear(width, vocab)

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        h, total = self.embed(input_ids), 0
        for layer in self.model.layers:
            h = torch.tanh(layer(h))
            total = total + h
        return SimpleNamespace(logits=self.head(total))


def test_a_model_that_cannot_be_split_falls_back_and_says_so_once(model_tok, caplog):
    _, tok = model_tok
    toy = SumOfLayers().eval()
    with caplog.at_level(logging.WARNING, logger="lm_eval_latent"):
        first = pgd(toy, tok, "model.layers.1", split=True)
        again = pgd(toy, tok, "model.layers.1", split=True)
    full = pgd(toy, tok, "model.layers.1", split=False)
    warnings = [r for r in caplog.records if "cannot skip the layers below model.layers.1" in r.getMessage()]
    assert len(warnings) == 1
    torch.testing.assert_close(first.delta.delta, full.delta.delta, rtol=0, atol=0)
    torch.testing.assert_close(again.delta.delta, full.delta.delta, rtol=0, atol=0)
