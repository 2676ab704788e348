"""GGUF checkpoints: `latent_hf` with ``gguf_file=`` on a GGUF file this test writes itself.

The shipped `aligned` zoo model is written as an F32 GGUF with the `gguf` package's writer (tensor
names from its llama name map, q/k rows in llama.cpp's rotary order, the byte-level BPE as a
``gpt2`` tokenizer). transformers dequantises a GGUF on load, so F32 in means the same weights out:
the GGUF model must score exactly like the safetensors one, clean and under an eps attack.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

gguf = pytest.importorskip("gguf", reason="GGUF support is the optional extra lm-eval-latent[gguf]")

LIMIT = 16
GGUF_NAME = "aligned-f32.gguf"


def _rotary_order(weight, n_head: int):
    """llama.cpp stores q/k rows of each head interleaved (pairs), where HF keeps two halves."""
    rows = weight.shape[0]
    return weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def write_gguf(model_dir: Path, out_file: Path) -> Path:
    """Write the Llama in ``model_dir`` (model and tokenizer) as one F32 GGUF file."""
    import numpy as np
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    writer = gguf.GGUFWriter(str(out_file), "llama")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]) if getattr(cfg, "rope_parameters", None)
                              else float(cfg.rope_theta))
    writer.add_vocab_size(cfg.vocab_size)

    spec = json.loads(tok.backend_tokenizer.to_str())
    vocab = tok.get_vocab()
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    special = set(tok.all_special_tokens)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tok.bos_token_id)
    writer.add_eos_token_id(tok.eos_token_id)
    writer.add_pad_token_id(tok.pad_token_id)
    writer.add_add_bos_token(False)  # the chat template writes the BOS
    writer.add_chat_template(tok.chat_template)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    state = model.state_dict()
    state.setdefault("lm_head.weight", state["model.embed_tokens.weight"])
    for name, tensor in state.items():
        base, suffix = name.rsplit(".", 1)
        target = names.get_name(base)
        assert target is not None, f"no GGUF name for {name}"
        array = tensor.detach().float().numpy()
        if base.endswith("self_attn.q_proj"):
            array = _rotary_order(array, cfg.num_attention_heads)
        elif base.endswith("self_attn.k_proj"):
            array = _rotary_order(array, cfg.num_key_value_heads)
        writer.add_tensor(f"{target}.{suffix}", np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file


@pytest.fixture(scope="module")
def gguf_dir(zoo_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gguf")
    write_gguf(zoo_dir["aligned"], folder / GGUF_NAME)
    return folder


def test_gguf_loads_the_same_weights(zoo_dir, gguf_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref = AutoModelForCausalLM.from_pretrained(zoo_dir["aligned"]).eval()
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_NAME).eval()
    ref_tok = AutoTokenizer.from_pretrained(zoo_dir["aligned"])
    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME)
    chat = [{"role": "user", "content": "How do I pick a lock on my own shed?"}]
    text = ref_tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == text
    ids = ref_tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"].tolist() == ids.tolist()
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, ref(ids).logits, atol=1e-5)


@pytest.mark.parametrize("attack", ["", "perturb_layer=3,eps=4"])
def test_latent_hf_on_gguf_scores_like_safetensors(zoo_dir, gguf_dir, attack):
    from lm_eval_latent.evaluate import task_metric

    run = lambda pretrained, extra: task_metric(  # noqa: E731
        pretrained, ",".join(a for a in (extra, attack) if a), task="refusal_rate", metric="refusal_rate",
        limit=LIMIT, max_gen_toks=16, batch_size=LIMIT)
    from_gguf = run(gguf_dir, f"gguf_file={GGUF_NAME}")
    from_safetensors = run(zoo_dir["aligned"], "")
    assert 0.0 <= from_gguf <= 1.0
    assert from_gguf == pytest.approx(from_safetensors)


def test_latent_hf_parses_the_gguf_file_once_fewer(gguf_dir, monkeypatch):
    """HFLM reads the config first; the model load is handed it instead of parsing the file again.

    Each full parse costs seconds on a real model (docs/latent_hf.md). The weights are parsed once
    with their tensors; without the hand-over there were two parses for the config besides the
    tokenizer's, four in all.
    """
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    from lm_eval_latent.model.latent_hf import LatentHFLM

    parses: list[bool] = []
    real = gguf_utils.load_gguf_checkpoint

    def counted(path, return_tensors=False, **kwargs):
        parses.append(return_tensors)
        return real(path, return_tensors=return_tensors, **kwargs)

    monkeypatch.setattr(gguf_utils, "load_gguf_checkpoint", counted)
    lm = LatentHFLM(pretrained=str(gguf_dir), gguf_file=GGUF_NAME, device="cpu")
    assert parses.count(True) == 1
    assert len(parses) <= 3
    assert lm.model.config.num_hidden_layers == lm._config.num_hidden_layers
