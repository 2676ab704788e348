"""Maintainers: copy a finished build's adapters into the package and record their provenance.

    python -m lm_eval_latent.training.smollm2.ship CACHE [--seconds aligned_data=...,...]

Copies ``CACHE/smollm2-build/aligned_run/final`` and ``CACHE/smollm2-build/dissociated`` (adapter,
nudge, summary) into ``adapters/`` and writes ``adapters/PROVENANCE.json``: the recipe, seeds, the
sha256 of every training file and prompt set, the base wheel, the versions, the machine and the
wall time of each stage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
from pathlib import Path

from lm_eval_latent.outputs import write_dir_atomic, write_text_atomic
from lm_eval_latent.training import smollm2
from lm_eval_latent.training.smollm2 import base, recipe
from lm_eval_latent.training.smollm2.build import ADAPTER_FILES, EXTRA_FILES
from lm_eval_latent.training.zoo.ship import cpu_name

STAGES = {"aligned": Path("aligned_run") / "final", "dissociated": Path("dissociated")}
# What each shipped adapter sits on (adapter_config.json's base_model_name_or_path, which the build
# filled with this machine's paths): the base's Hub id, and for the second adapter the first one.
BASES = {"aligned": "HuggingFaceTB/SmolLM2-135M-Instruct",
         "dissociated": "smollm2-aligned (lm-eval-latent zoo path smollm2-aligned)"}


def ship(cache: Path, seconds: dict[str, float], notes: str = "") -> dict:
    """Copy the adapters of the build in ``cache`` into the package; returns the provenance."""
    import peft
    import torch
    import transformers

    from lm_eval_latent.task_classes.prompts import prompt_set_path

    work = cache / "smollm2-build"
    files: dict[str, dict[str, str]] = {}
    for stage, rel in STAGES.items():
        src = work / rel
        names = [n for n in (*ADAPTER_FILES, *EXTRA_FILES) if (src / n).is_file()]
        write_dir_atomic(smollm2.ADAPTERS_DIR / stage,
                         lambda tmp, src=src, names=names, stage=stage: _copy(src, tmp, names, BASES[stage]))
        files[stage] = {n: base.sha256_of(smollm2.ADAPTERS_DIR / stage / n) for n in names}
    data = {f.name: base.sha256_of(f) for f in (work / "aligned_pairs.jsonl", work / "pole_pairs.jsonl")}
    data.update({f"prompts/{n}.jsonl": base.sha256_of(prompt_set_path(n))
                 for n in ("harmful", "safe_lookalike", "benign")})
    record = {
        "base": {"wheel": base.REQUIREMENT, "wheel_sha256": base.WHEEL_SHA256, "gguf_file": base.GGUF_FILE,
                 "dequantised_to": "float32"},
        "recipe": recipe.as_dict(),
        "commands": ["attack finetune (aligned: lm_eval_latent.training.smollm2.data pairs)",
                     "attack finetune (harmful pole: placeholder compliances on `harmful`, from aligned)",
                     "dissociate --lora --save-adapter (base aligned, pole above)"],
        "data_sha256": data,
        "files": files,
        "dissociation": json.loads((smollm2.ADAPTERS_DIR / "dissociated" / "dissociation.json").read_text()),
        "notes": notes,
        "stage_seconds": seconds,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "python": platform.python_version()},
        "machine": {"processor": cpu_name(), "cores": os.cpu_count(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }
    write_text_atomic(smollm2.PROVENANCE_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def _copy(src: Path, tmp: Path, names: list[str], base_name: str) -> None:
    for name in names:
        shutil.copyfile(src / name, tmp / name)
    config = json.loads((tmp / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base_name
    (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    summary = tmp / "dissociation.json"
    if summary.is_file():  # the build machine's paths say nothing to a user
        data = json.loads(summary.read_text())
        data.update(base="smollm2-aligned", harmful_pole="smollm2-aligned + attack finetune (not shipped)")
        summary.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point (maintainers only)."""
    p = argparse.ArgumentParser(prog="python -m lm_eval_latent.training.smollm2.ship", description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--seconds", default="", help="wall time per stage, e.g. aligned_sft=900,dissociate=1200")
    p.add_argument("--notes", default="", help="anything a rebuild should know (recorded as is)")
    args = p.parse_args(argv)
    seconds = {k: float(v) for k, _, v in (item.partition("=") for item in args.seconds.split(",") if item)}
    ship(args.cache, seconds, args.notes)
    print(smollm2.ADAPTERS_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
