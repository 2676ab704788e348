"""Tiny random models (2 layers, width 32) of every architecture the layer finder names.

Built from configs, no download; all share one small BPE tokenizer (`conftest.build_tokenizer`).
Used by `test_architectures.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

WIDTH, LAYERS, HEADS = 32, 2, 4


def _decoder(cls_name: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    """Config kwargs shared by the Llama-like decoders."""
    return cls_name, {
        "hidden_size": WIDTH, "intermediate_size": 2 * WIDTH, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": 2, "max_position_embeddings": 256, **extra,
    }


# name -> (config class, kwargs). Head dims are set where the default (128, 256) is huge.
ARCHS: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": _decoder("LlamaConfig"),
    "mistral": _decoder("MistralConfig"),
    "qwen2": _decoder("Qwen2Config"),
    "qwen3": _decoder("Qwen3Config", head_dim=8),
    "gemma": _decoder("GemmaConfig", head_dim=8),
    "gemma2": _decoder("Gemma2Config", head_dim=8),
    "gemma3": _decoder("Gemma3TextConfig", head_dim=8),
    "phi3": _decoder("Phi3Config"),
    "stablelm": _decoder("StableLmConfig"),
    "olmo2": _decoder("Olmo2Config"),
    "granite": _decoder("GraniteConfig"),
    "cohere": _decoder("CohereConfig"),
    "gpt2": ("GPT2Config", {"n_embd": WIDTH, "n_layer": LAYERS, "n_head": HEADS, "n_positions": 256}),
    "gptj": ("GPTJConfig", {"n_embd": WIDTH, "n_layer": LAYERS, "n_head": HEADS, "rotary_dim": 4,
                            "n_positions": 256}),
    "gpt_neox": ("GPTNeoXConfig", {"hidden_size": WIDTH, "intermediate_size": 2 * WIDTH,
                                   "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                                   "max_position_embeddings": 256}),
    "opt": ("OPTConfig", {"hidden_size": WIDTH, "ffn_dim": 2 * WIDTH, "num_hidden_layers": LAYERS,
                          "num_attention_heads": HEADS, "word_embed_proj_dim": WIDTH,
                          "max_position_embeddings": 256}),
    # OPT-350m's shape: embeddings narrower than the decoder, projected in and out.
    "opt_proj": ("OPTConfig", {"hidden_size": WIDTH, "ffn_dim": 2 * WIDTH, "num_hidden_layers": LAYERS,
                               "num_attention_heads": HEADS, "word_embed_proj_dim": WIDTH // 2,
                               "max_position_embeddings": 256}),
    "falcon": ("FalconConfig", {"hidden_size": WIDTH, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS}),
    "bloom": ("BloomConfig", {"hidden_size": WIDTH, "n_layer": LAYERS, "n_head": HEADS}),
    "mpt": ("MptConfig", {"d_model": WIDTH, "n_layers": LAYERS, "n_heads": HEADS, "expansion_ratio": 2,
                          "max_seq_len": 256}),
    "gemma3_multimodal": ("Gemma3Config", {}),
}


def _config(name: str, tok: Any) -> Any:
    import transformers

    cls_name, kwargs = ARCHS[name]
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    if name == "gemma3_multimodal":
        _, text = ARCHS["gemma3"]
        return transformers.Gemma3Config(
            text_config={**text, "vocab_size": len(tok), **ids},
            vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                           "num_attention_heads": 2, "image_size": 28, "patch_size": 14},
            mm_tokens_per_image=4, image_token_index=len(tok) - 1, **ids,
        )
    return getattr(transformers, cls_name)(vocab_size=len(tok), tie_word_embeddings=False, **ids, **kwargs)


def build_arch_model(name: str, tok: Any, path: Path, seed: int = 0) -> Path:
    """Save a random-init tiny ``name`` model with ``tok`` under ``path``."""
    from transformers import AutoModelForCausalLM, Gemma3ForConditionalGeneration

    torch.manual_seed(seed)
    config = _config(name, tok)
    cls = Gemma3ForConditionalGeneration if name == "gemma3_multimodal" else AutoModelForCausalLM
    model = (cls(config) if name == "gemma3_multimodal" else cls.from_config(config)).eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
