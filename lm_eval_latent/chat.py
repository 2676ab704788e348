"""Prompts as a chat model sees them, batched the way our own forward passes need them.

Used wherever we run the model ourselves (directions, the zoo, dissociation, the bench); lm-eval
applies the chat template itself for the tasks (``--apply_chat_template``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def user_turns(tokenizer: Any, prompts: Sequence[str]) -> list[str]:
    """Each prompt as one user turn in ``tokenizer``'s chat template, ending where the reply starts.

    Prompts stay as they are when the tokenizer has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        return list(prompts)
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts]


def left_padded(tokenizer: Any, texts: Sequence[str], *, add_special_tokens: bool = False) -> dict[str, Any]:
    """``input_ids`` and ``attention_mask`` of ``texts``, padded on the left.

    Left padding puts every row's last token in the last column (the next token is generated, or
    read, there). The tokenizer's own padding side is restored afterwards. Special tokens are off
    by default: a chat template already holds them.
    """
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        enc = tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=add_special_tokens)
    finally:
        tokenizer.padding_side = side
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
