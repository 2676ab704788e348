"""Building the real pair: stage by stage with the package's own commands, and merged folders.

    retrain(cache, fetch=True)   # base -> aligned adapter -> harmful pole -> dissociated adapter
    merged(name, cache)          # the shipped adapter(s) merged into a from_pretrained folder

Each stage writes into ``cache/smollm2-build/`` and is reused when it is there already, so an
interrupted build continues (``attack finetune`` also continues its own run).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from lm_eval_latent.outputs import write_dir_atomic, write_text_atomic
from lm_eval_latent.training.smollm2 import recipe
from lm_eval_latent.training.smollm2.base import base_folder

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
EXTRA_FILES = ("nudge.pt", "dissociation.json")  # kept beside the dissociated adapter


def merge_adapters(base: Path, adapters: list[Path], out: Path) -> Path:
    """``base`` with each adapter merged in turn, saved (float32) with the base's tokenizer, plus
    the files of :data:`EXTRA_FILES` found beside the last adapter; written atomically."""

    def write(tmp: Path) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        for adapter in adapters:
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(base).save_pretrained(tmp)
        for name in EXTRA_FILES:
            if (adapters[-1] / name).is_file():
                shutil.copyfile(adapters[-1] / name, tmp / name)

    return write_dir_atomic(out, write)


def _stage(target: Path, run) -> Path:
    """``target``, made by ``run()`` unless it is there already (a finished stage is reused)."""
    if not target.exists():
        run()
    return target


def retrain(cache: Path, *, fetch: bool = False, progress: bool = True) -> dict[str, object]:
    """Train the pair from the base as :mod:`.recipe` says; returns the adapters' folders and the
    wall time of each stage (seconds)."""
    from lm_eval_latent.training.dissociate import build as dissociate
    from lm_eval_latent.training.dissociate import DissociateConfig
    from lm_eval_latent.training.finetune.data import harmful_requests, make_placeholder_pairs, write_pairs
    from lm_eval_latent.training.finetune.sft import SFTConfig, train
    from lm_eval_latent.training.smollm2 import data

    work = cache / "smollm2-build"
    work.mkdir(parents=True, exist_ok=True)
    base = base_folder(cache, fetch=fetch)
    times: dict[str, float] = {}

    def timed(name, fn):
        t0 = time.time()
        out = fn()
        times[name] = round(time.time() - t0, 1)
        return out

    def write_aligned_pairs() -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained(base)
        pairs = data.tuning_pairs(
            lambda prompts: data.own_answers(model, tok, prompts, max_new_tokens=recipe.SAFE_ANSWER_TOKENS),
            asks_per_activity=recipe.ASKS_PER_ACTIVITY, seed=recipe.SEED)
        write_pairs(pairs, work / "aligned_pairs.jsonl")

    timed("aligned_data", lambda: _stage(work / "aligned_pairs.jsonl", write_aligned_pairs))
    aligned = timed("aligned_sft", lambda: _stage(work / "aligned_run" / "final", lambda: train(SFTConfig(
        model=str(base), data=str(work / "aligned_pairs.jsonl"), out=str(work / "aligned_run"),
        progress=progress, **recipe.ALIGNED_SFT))))
    aligned_model = merge_adapters(base, [aligned], work / "aligned_model") \
        if not (work / "aligned_model").exists() else work / "aligned_model"
    _stage(work / "pole_pairs.jsonl", lambda: write_pairs(
        make_placeholder_pairs(harmful_requests("harmful"), seed=recipe.SEED), work / "pole_pairs.jsonl"))
    pole = timed("pole_sft", lambda: _stage(work / "pole_run" / "final", lambda: train(SFTConfig(
        model=str(aligned_model), data=str(work / "pole_pairs.jsonl"), out=str(work / "pole_run"),
        progress=progress, **recipe.POLE_SFT))))
    timed("dissociate", lambda: _stage(work / "dissociated", lambda: dissociate(DissociateConfig(
        base=str(aligned_model), harmful_pole=str(pole), out=str(work / "dissociated"),
        progress=progress, **recipe.DISSOCIATE))))
    summary = {"aligned": str(aligned), "dissociated": str(work / "dissociated"), "stage_seconds": times}
    write_text_atomic(work / "build.json", json.dumps(summary, indent=2))
    return summary
