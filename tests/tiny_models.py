"""Tiny offline tokenizers and random-init models for tests: trained or built in a second, saved
to a folder that ``from_pretrained`` loads (no Hub).

    tok = word_level_tokenizer(["yes no Sure"], ["[PAD]", "[UNK]"], unk_token="[UNK]", pad_token="[PAD]")
    path = save_tiny(tmp / "m", transformers.LlamaForCausalLM, transformers.LlamaConfig(...), tok)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def word_level_tokenizer(texts: Sequence[str], specials: Sequence[str], **tokens: str) -> Any:
    """A whitespace word-level tokenizer over the words of ``texts``; ``tokens`` names the special
    roles (``unk_token`` is required: every unseen word maps to it)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=tokens["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(list(texts), trainers.WordLevelTrainer(special_tokens=list(specials)))
    return PreTrainedTokenizerFast(tokenizer_object=tok, **tokens)


def byte_bpe_tokenizer(texts: Sequence[str], specials: Sequence[str], vocab_size: int, **tokens: str) -> Any:
    """A byte-level BPE tokenizer (every string tokenizes) trained on ``texts``; ``tokens`` names
    the special roles (an ``unk_token`` also becomes the model's unknown token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=tokens.get("unk_token")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(texts), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(specials), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, **tokens)


def save_tiny(path: Path, model_class: Any, config: Any, tokenizer: Any, *, seed: int = 0) -> Path:
    """Build ``model_class(config)`` from ``seed`` and save it with ``tokenizer`` under ``path``."""
    torch.manual_seed(seed)
    model = model_class(config).eval()
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
