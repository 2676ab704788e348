"""`plugin._hook`: the start-up hook the .pth runs; it costs nothing until lm-eval is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(argv: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_hook_imports_nothing_until_lm_eval_is_imported():
    code = (
        "import os, sys; before = set(sys.modules); import lm_eval_latent.plugin._hook; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert eval(out.stdout) == ["lm_eval_latent", "lm_eval_latent.plugin", "lm_eval_latent.plugin._hook"]


def test_hook_registers_model_lazily_without_importing_it(tmp_path):
    code = (
        "import sys; from lm_eval.api.registry import get_model; "
        "assert 'lm_eval_latent.model.latent_hf' not in sys.modules; "
        "print(get_model('latent_hf').__name__)"
    )
    proc = run([sys.executable, "-c", code], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "LatentHFLM"


def test_hook_can_be_turned_off(tmp_path):
    code = "from lm_eval.api.registry import get_model; get_model('latent_hf')"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "LM_EVAL_LATENT_DISABLE_HOOK": "1"}, timeout=120)
    assert proc.returncode != 0 and "latent_hf" in proc.stderr
