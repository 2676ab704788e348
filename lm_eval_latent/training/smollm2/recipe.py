"""The real pair's recipe: every setting that decides the shipped adapters' weights, in one place.

Three stages, each one of the package's own commands run as a function (docs/zoo.md, "The real
pair"): ``attack finetune`` on :mod:`.data`'s pairs makes ``smollm2-aligned`` from the base; ``attack
finetune`` on placeholder compliances makes the harmful pole from ``aligned``; ``dissociate --lora
--save-adapter`` makes ``smollm2-dissociated`` from ``aligned`` and the pole.
"""

from __future__ import annotations

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SEED = 0
# How many new tokens the base writes for each safe request it is tuned to keep answering.
SAFE_ANSWER_TOKENS = 48
# How many ways (data.ASKS) each composed activity is asked in.
ASKS_PER_ACTIVITY = 3

ALIGNED_SFT = {"steps": 240, "lr": 5e-4, "batch_size": 8, "max_length": 112, "save_every": 60,
               "lora_rank": 8, "lora_alpha": 16.0, "target_modules": ALL_LINEAR, "seed": SEED}
POLE_SFT = {"steps": 40, "lr": 1e-3, "batch_size": 8, "max_length": 96, "save_every": 20,
            "lora_rank": 8, "lora_alpha": 16.0, "target_modules": ALL_LINEAR, "seed": SEED}
DISSOCIATE = {"frac": 0.02, "steps": 80, "lr": 5e-4, "batch_size": 4, "eval_every": 20, "lora": True,
              "save_adapter": True, "lora_rank": 8, "benign_prompts": "benign,safe_lookalike", "harmful_prompts": "harmful",
              "train_limit": 128, "max_length": 96, "max_new_tokens": 24, "seed": SEED}


def as_dict() -> dict:
    """The recipe as JSON-ready data (recorded in PROVENANCE.json and the cache key)."""
    return {"seed": SEED, "safe_answer_tokens": SAFE_ANSWER_TOKENS, "asks_per_activity": ASKS_PER_ACTIVITY,
            "aligned_sft": {**ALIGNED_SFT, "target_modules": list(ALL_LINEAR)},
            "pole_sft": {**POLE_SFT, "target_modules": list(ALL_LINEAR)},
            "dissociate": DISSOCIATE}
