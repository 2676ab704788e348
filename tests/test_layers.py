"""`layers`: layer specs as users write them, resolved against a model's decoder layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from lm_eval_latent.layer_spec import EMBEDDING, check_layer_range, parse_layer_range, parse_layer_spec
from lm_eval_latent.model.layers import decoder_layers_name, resolve_layer, resolve_layer_range


@pytest.fixture(scope="module")
def llama() -> nn.Module:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=4,
                         num_attention_heads=2, num_key_value_heads=2)
    return LlamaForCausalLM(config).eval()


@pytest.mark.parametrize(("value", "spec"), [(3, 3), (-1.0, -1), (" -2 ", -2), ("Embedding", EMBEDDING),
                                             ("embed", EMBEDDING), (None, None), ("", None)])
def test_parse_layer_spec(value, spec):
    assert parse_layer_spec(value) == spec


@pytest.mark.parametrize("value", [1.5, "x", True])
def test_parse_layer_spec_refuses(value):
    with pytest.raises(ValueError, match="is not a layer"):
        parse_layer_spec(value, "layer")


def test_resolve_layer_names_the_module(llama):
    assert decoder_layers_name(llama) == "model.layers"
    last = resolve_layer(llama, -1)
    assert (last.index, last.module_name, last.num_layers) == (3, "model.layers.3", 4)
    assert llama.get_submodule(last.module_name) is llama.model.layers[3]
    embedding = resolve_layer(llama, EMBEDDING)
    assert embedding.index is None and llama.get_submodule(embedding.module_name) is llama.get_input_embeddings()


def test_out_of_range_names_the_architecture_and_the_range(llama):
    with pytest.raises(ValueError, match=r"perturb_layer=4 is out of range for LlamaForCausalLM with 4 layers "
                                         r"\(allowed: -4..3 or \"embedding\"\)"):
        resolve_layer(llama, 4)


def test_unknown_architecture_says_what_it_looked_for():
    with pytest.raises(ValueError, match="don't know where the decoder layers of Linear are"):
        decoder_layers_name(nn.Linear(2, 2))


def test_parse_layer_range():
    assert parse_layer_range("1-2,embedding,0", 4) == [1, 2, EMBEDDING, 0]
    assert parse_layer_range("all", 3) == [EMBEDDING, 0, 1, 2]
    assert parse_layer_range("-1", None) == [-1]
    with pytest.raises(ValueError, match="needs the model's layer count"):
        parse_layer_range("all", None)
    with pytest.raises(ValueError, match="layer 9 is out of range"):
        parse_layer_range("8-9", 9)
    with pytest.raises(ValueError, match="cannot read '3-1'"):
        parse_layer_range("3-1", 4)


def test_a_range_is_checked_without_a_model_and_resolved_against_one(llama):
    assert check_layer_range(" all ") == "all" and check_layer_range("1-2,embedding") == "1-2,embedding"
    with pytest.raises(ValueError, match="cannot read '3-1'"):
        check_layer_range("3-1")
    assert resolve_layer_range(llama, "all") == [EMBEDDING, 0, 1, 2, 3]  # the model's 4 layers
    assert resolve_layer_range(llama, "-1,1,embedding,1") == [-1, 1, EMBEDDING]  # each once, in order
    with pytest.raises(ValueError, match="layers: layer 9 is out of range for a model with 4 layers"):
        resolve_layer_range(llama, "1,9")
