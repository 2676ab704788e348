"""Evaluating a model for dissociation: greedy chat replies clean, nudged or under a control
direction, judged by the keyword judge (used while building and to report the result)."""

from __future__ import annotations

from pathlib import Path

import torch

from lm_eval_latent.attacks.intervention import LayerDelta, get_backend
from lm_eval_latent.chat import left_padded, user_turns


def read_prompts(source: str) -> list[str]:
    """Prompts from ``"zoo:harmful"`` / ``"zoo:benign"`` (the toy corpus), a prompt set, or a file;
    several sources separated by commas (``"benign,safe_lookalike"``) give their prompts in turn."""
    if "," in source and not Path(source).expanduser().is_file():
        return [p for part in source.split(",") if part.strip() for p in read_prompts(part.strip())]
    if source.startswith("zoo:"):
        from lm_eval_latent.training.zoo import corpus

        return sorted({c.prompt for c in corpus.requests() if c.kind == source[4:]})
    from lm_eval_latent.task_classes.data import load_prompts

    is_file = Path(source).expanduser().is_file()
    return list(load_prompts("harmful", data_file=source)["prompt"] if is_file else load_prompts(source)["prompt"])


def greedy(model, tok, prompts: list[str], delta: LayerDelta | None, max_new_tokens: int,
           batch_size: int = 32) -> list[str]:
    """Greedy chat replies, with ``delta`` applied through the hooks backend."""
    backend = get_backend("hooks")
    out: list[str] = []
    for i in range(0, len(prompts), batch_size):
        enc = {k: v.to(model.device) for k, v in left_padded(tok, user_turns(tok, prompts[i:i + batch_size])).items()}
        with torch.no_grad():
            ids = backend.generate(model, enc, delta, max_new_tokens=max_new_tokens, do_sample=False,
                                   pad_token_id=tok.pad_token_id or tok.eos_token_id)
        out += tok.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def rates(prompts: list[str], replies: list[str]) -> dict[str, float]:
    """Refusal and compliance shares under the keyword judge (`metrics.verdict_rates`: broken rows
    count as neither, unscored rows are left out of the denominator)."""
    from lm_eval_latent.judging import get_judge
    from lm_eval_latent.metrics import is_broken, verdict_rates

    verdicts = [j.verdict for j in get_judge("keyword").judge(prompts, replies)]
    shares = verdict_rates(verdicts, [is_broken(r) for r in replies])
    return {"refusal": shares["refusal_rate"], "compliance": shares["compliance_rate"]}


def mean_rho(model, tok, prompts, name, capture, position_ids, rho) -> float:
    enc = {k: v.to(model.device) for k, v in left_padded(tok, user_turns(tok, prompts)).items()}
    h = capture(model, {**enc, "position_ids": position_ids(enc["attention_mask"])}, name)
    return float(rho(h.float(), enc["attention_mask"]).mean())


def evaluate(model, tok, prompts, nudge, control, cfg) -> dict[str, float]:
    was = model.training
    model.eval()
    try:
        clean = rates(prompts, greedy(model, tok, prompts, None, cfg.max_new_tokens))
        nudged = rates(prompts, greedy(model, tok, prompts, nudge, cfg.max_new_tokens))
        out = {"clean_refusal": clean["refusal"], "clean_compliance": clean["compliance"],
               "nudged_compliance": nudged["compliance"], "nudged_refusal": nudged["refusal"]}
        if control is not None:
            ctrl = rates(prompts, greedy(model, tok, prompts, control, cfg.max_new_tokens))
            out["control_refusal"] = ctrl["refusal"]
        return out
    finally:
        model.train(was)
