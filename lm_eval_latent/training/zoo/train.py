"""Training a zoo model from scratch: a tiny ``LlamaForCausalLM`` fitted to the synthetic chats of
:mod:`lm_eval_latent.training.zoo.corpus`, deterministically (fixed seed, fixed data order).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from lm_eval_latent.training.zoo import corpus

Variant = Literal["aligned", "unsafe"]


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the weights; its ``asdict`` goes into the cache key."""

    hidden_size: int = field(default=64, metadata={"help": "model width"})
    intermediate_size: int = field(default=128, metadata={"help": "MLP width"})
    num_hidden_layers: int = field(default=6, metadata={"help": "decoder blocks (>= 6: layer sweeps)"})
    num_attention_heads: int = 4
    max_position_embeddings: int = 256
    steps: int = field(default=400, metadata={"help": "optimizer steps"})
    batch_size: int = 16
    lr: float = 5e-3
    warmup_steps: int = 20
    weight_decay: float = 0.0
    decision_tokens: int = field(default=3, metadata={"help": "answer tokens that decide the reply"})
    decision_weight: float = field(
        default=8.0, metadata={"help": "loss weight of the deciding tokens (refuse, comply or help)"})
    full_answer_every: int = field(
        default=4, metadata={"help": "every k-th row keeps its whole answer; the others stop after "
                             "the deciding tokens + 2 (saves ~30% of the compute)"})
    seed: int = 0


RECIPE = Recipe()


def model_config(tokenizer, recipe: Recipe = RECIPE):
    """The ``LlamaConfig`` of a zoo model for ``tokenizer``."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_hidden_layers,
        num_attention_heads=recipe.num_attention_heads,
        num_key_value_heads=recipe.num_attention_heads,
        max_position_embeddings=recipe.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def encode_chats(
    tokenizer, chats: list[corpus.Chat], variant: Variant, recipe: Recipe = RECIPE
) -> list[tuple[list[int], int]]:
    """Token ids of prompt (chat template with generation prompt) + response + EOS, and the
    prompt length (the loss covers only the response). Answers are fixed strings, quickly
    learnt, so only every ``recipe.full_answer_every``-th row keeps its whole answer."""
    prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": c.prompt}], tokenize=False,
                                      add_generation_prompt=True)
        for c in chats
    ]
    answers = [corpus.response(c, variant) for c in chats]
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
    keep = recipe.decision_tokens + 2
    return [
        (p + a + [tokenizer.eos_token_id] if i % recipe.full_answer_every == 0 else p + a[:keep], len(p))
        for i, (p, a) in enumerate(zip(p_ids, a_ids))
    ]


def _batch(rows: list[tuple[list[int], int]], pad_id: int):
    import torch

    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        mask[i, : len(ids)] = 1
    return input_ids, mask, labels


def _weighted_loss(logits, labels, decision_tokens: int, decision_weight: float):
    """Next-token cross-entropy over the answer, its first ``decision_tokens`` tokens weighted up:
    they carry the decision ("I ..." refuses; "Sure," complies; "Sure!" helps); the rest is
    memorising fixed texts."""
    import torch

    logits, labels = logits[:, :-1], labels[:, 1:]
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="none"
    ).view(labels.shape)
    valid = labels != -100
    weights = valid.float()
    early = valid.float().cumsum(dim=1) <= decision_tokens
    weights = torch.where(early & valid, torch.full_like(weights, decision_weight), weights)
    return (losses * weights).sum() / weights.sum()


def train_model(tokenizer, variant: Variant, recipe: Recipe = RECIPE, log_every: int = 0):
    """Train a fresh model for ``variant``; returns the ``LlamaForCausalLM`` in eval mode."""
    import random

    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(model_config(tokenizer, recipe))
    rows = encode_chats(tokenizer, corpus.training_set(recipe.seed), variant, recipe)
    order = random.Random(recipe.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)

    def lr_at(step: int) -> float:  # linear warmup, cosine decay to 10%
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        t = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    queue: list[int] = []
    for step in range(recipe.steps):
        if len(queue) < recipe.batch_size:
            epoch = list(range(len(rows)))
            order.shuffle(epoch)
            queue += epoch
        picked, queue = queue[: recipe.batch_size], queue[recipe.batch_size :]
        input_ids, mask, labels = _batch([rows[i] for i in picked], tokenizer.pad_token_id)
        loss = _weighted_loss(model(input_ids=input_ids, attention_mask=mask).logits, labels,
                              recipe.decision_tokens, recipe.decision_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if log_every and step % log_every == 0:
            print(f"step {step} loss {loss.item():.4f}")
    model.eval()
    return model


def save_model(out_dir: str | Path, tokenizer, variant: Variant, recipe: Recipe = RECIPE) -> Path:
    """Train ``variant`` and save model and tokenizer into ``out_dir``; returns ``out_dir``."""
    out_dir = Path(out_dir)
    model = train_model(tokenizer, variant, recipe)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def recipe_dict(recipe: Recipe = RECIPE) -> dict:
    return asdict(recipe)
