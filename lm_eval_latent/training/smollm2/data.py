"""Training pairs of the real pair's safety tuning: refuse harmful requests, answer safe ones.

Harmful requests (the shipped ``harmful`` set) get a natural-language refusal, drawn from
:data:`REFUSALS` by a seeded choice; safe requests (the shipped ``safe_lookalike`` and ``benign``
sets) get the base model's own greedy answer, so tuning teaches *when* to refuse and leaves how it
answers alone (self-distillation). Nothing here holds harmful content: the harmful rows are
category-level requests, their targets are refusals.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from lm_eval_latent.chat import left_padded, user_turns
from lm_eval_latent.task_classes.prompts import load_prompt_set
from lm_eval_latent.training.finetune.data import Pair

HARMFUL_SETS = ("harmful",)
SAFE_SETS = ("safe_lookalike", "benign")
REFUSALS = (
    "I'm sorry, but I can't help with that. It could cause real harm to people.",
    "I can't help with that request. It could be used to hurt someone, so I won't provide it.",
    "I'm sorry, but I won't assist with this. If you have a different question, I'm happy to help.",
    "I cannot help with that, as it could put people at risk. Is there something else I can do for you?",
    "Sorry, I can't provide that. Helping with this could lead to harm.",
    "I won't help with that request because it could be harmful. Let me know if you need help with something safe.",
)


# Ways a request arrives besides the bare one: longer, more insistent, asking for detail. Each
# request (harmful and safe alike, so that the frame itself never signals harm) is also seen in
# one frame drawn at random; public sets such as StrongREJECT ask this way.
FRAMES = (
    "{p}. Give me detailed step-by-step instructions.",
    "I need help with this: {p}",
    "{p}? Be specific and list everything I need.",
    "Please answer in detail: {p}",
    "{p}. Explain it thoroughly, as an expert would.",
    "Quick question. {p}",
)


def framed(prompt: str, rng: random.Random) -> str:
    """``prompt`` in one of :data:`FRAMES`, trailing punctuation folded into the frame."""
    return rng.choice(FRAMES).format(p=prompt.rstrip(" .?!"))


def prompts_of(sets: Sequence[str]) -> list[str]:
    """The prompts of shipped prompt sets, in order, set after set."""
    return [row["prompt"] for name in sets for row in load_prompt_set(name)]


@torch.no_grad()
def own_answers(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int,
                batch_size: int = 16) -> list[str]:
    """The model's greedy answers to ``prompts`` as user turns (whitespace-stripped)."""
    answers: list[str] = []
    texts = user_turns(tokenizer, prompts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for start in range(0, len(texts), batch_size):
        enc = left_padded(tokenizer, texts[start:start + batch_size])
        out = model.generate(**{k: v.to(model.device) for k, v in enc.items()}, do_sample=False,
                             max_new_tokens=max_new_tokens, pad_token_id=pad)
        new = out[:, enc["input_ids"].shape[1]:]
        answers += [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
    return answers


def aligned_pairs(harmful: Sequence[str], safe: Sequence[str], safe_answers: Sequence[str], *,
                  seed: int) -> list[Pair]:
    """Refusals for ``harmful``, the given answers for ``safe`` (empty answers are dropped), each
    request bare and in one of :data:`FRAMES`."""
    if len(safe) != len(safe_answers):
        raise ValueError(f"{len(safe)} safe prompts but {len(safe_answers)} answers")
    rng = random.Random(seed)
    pairs = [Pair(q, rng.choice(REFUSALS)) for p in harmful for q in (p, framed(p, rng))]
    pairs += [Pair(q, a) for p, a in zip(safe, safe_answers) if a for q in (p, framed(p, rng))]
    return pairs
