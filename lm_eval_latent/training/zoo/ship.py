"""Shipping the tiny models: retrain, replace the packaged files, record their provenance.

`lm-eval-latent zoo ship` (`lm_eval_latent.commands.zoo`) calls `ship`; `cpu_name` is what
provenance files record as the machine's processor.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

from lm_eval_latent.outputs import write_dir_atomic
from lm_eval_latent.training import zoo


def sha256(path: Path) -> str:
    """The hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ship(names: list[str], cache_dir: str | None, command: str) -> dict:
    """Retrain ``names`` (reusing a cached build of the same key) and replace the shipped files,
    one folder at a time via a temporary sibling; records the provenance. Returns it."""
    import torch
    import transformers

    record = zoo.provenance()
    models = record.setdefault("models", {})
    for name in names:
        built = zoo.build(name, cache_dir, retrain=True)
        target = write_dir_atomic(zoo.SHIPPED_DIR / name, lambda tmp, built=built: [
            shutil.copyfile(f, tmp / f.name) for f in sorted(built.iterdir())])
        models[name] = {"command": command, "cache_key": zoo.cache_key(name),
                        "sources": {m: zoo.source_digest((m,)) for m in zoo.ZOO[name].sources},
                        "files": {f.name: sha256(f) for f in sorted(target.iterdir())}}
    record.pop("command", None)  # commands are per model
    record.update(torch=torch.__version__, transformers=transformers.__version__,
                  python=platform.python_version(), machine=platform.machine(), processor=cpu_name(),
                  omp_num_threads=os.environ.get("OMP_NUM_THREADS"),
                  date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))
    tmp_file = zoo.PROVENANCE_FILE.with_suffix(".tmp")
    tmp_file.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    tmp_file.replace(zoo.PROVENANCE_FILE)
    return record


def cpu_name() -> str:
    """The CPU's model name (recorded in provenance files)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


