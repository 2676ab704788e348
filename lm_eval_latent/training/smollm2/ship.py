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

STAGES = {"aligned": Path("aligned_run") / "final", "dissociated": Path("dissociated")}


def ship(cache: Path, seconds: dict[str, float]) -> dict:
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
                         lambda tmp, src=src, names=names: [shutil.copyfile(src / n, tmp / n) for n in names])
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
        "dissociation": json.loads((work / "dissociated" / "dissociation.json").read_text()),
        "stage_seconds": seconds,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "python": platform.python_version()},
        "machine": {"processor": _cpu_name(), "cores": os.cpu_count(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }
    write_text_atomic(smollm2.PROVENANCE_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    """Entry point (maintainers only)."""
    p = argparse.ArgumentParser(prog="python -m lm_eval_latent.training.smollm2.ship", description=__doc__.splitlines()[0])
    p.add_argument("cache", type=Path)
    p.add_argument("--seconds", default="", help="wall time per stage, e.g. aligned_sft=900,dissociate=1200")
    args = p.parse_args(argv)
    seconds = {k: float(v) for k, _, v in (item.partition("=") for item in args.seconds.split(",") if item)}
    ship(args.cache, seconds)
    print(smollm2.ADAPTERS_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
