"""Shared fixtures: tiny models built once per test session, offline settings, shared data."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Before torch or transformers are imported: one thread (two stall badly on these 2-core
# machines), no Hub, a throwaway HF cache.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "HF_HOME" not in os.environ:
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="lm_eval_latent_hf_home_")
    atexit.register(shutil.rmtree, os.environ["HF_HOME"], ignore_errors=True)

import pytest  # noqa: E402
import torch  # noqa: E402

from tiny_models import byte_bpe_tokenizer, save_tiny  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LM_EVAL_LATENT_SHARED", REPO.parent / "shared" / "datasets"))
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tokenizer():
    """A small BPE tokenizer trained locally (no download) with a chat template."""
    specials = ["<unk>", "<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|end|>"]
    corpus = [
        "Sure, here is how to do it: step one, step two.",
        "I'm sorry, but I can't help with that request.",
        "How do I bake bread? Tell me about the history of the printing press.",
    ] * 20
    fast = byte_bpe_tokenizer(corpus, specials, 400, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                              eos_token="</s>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_random_model(path: Path, *, layers: int = 4, hidden: int = 32, seed: int = 0) -> Path:
    """A random-init tiny Llama with the small local tokenizer (about a second)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    fast = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=512, bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id, tie_word_embeddings=False,
    )
    return save_tiny(path, LlamaForCausalLM, config, fast, seed=seed)


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init 4-layer tiny Llama saved with its tokenizer."""
    return build_random_model(tmp_path_factory.mktemp("random_llama"))


@pytest.fixture(scope="session")
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache for models retrained from scratch (env LM_EVAL_LATENT_TEST_CACHE keeps it across runs)."""
    keep = os.environ.get("LM_EVAL_LATENT_TEST_CACHE")
    return Path(keep) if keep else tmp_path_factory.mktemp("zoo")


@pytest.fixture(scope="session")
def zoo_dir() -> dict[str, Path]:
    """The shipped tiny trained models (aligned, unsafe): the same bits on every machine."""
    from lm_eval_latent.training import zoo

    return {name: zoo.build(name) for name in ("aligned", "unsafe")}


@pytest.fixture(scope="session")
def dissociated_dir() -> Path:
    """The shipped tiny dissociated model (built from aligned and unsafe by `dissociate`)."""
    from lm_eval_latent.training import zoo

    return zoo.build("dissociated")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The public data copies in ../shared/datasets (skips when absent)."""
    if not SHARED.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED} (set LM_EVAL_LATENT_SHARED)")
    return SHARED
