"""The built wheel ships tasks/, interventions/, the prompt sets and the start-up hook."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_contents(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    [wheel] = tmp_path.glob("lm_eval_latent-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "lm_eval_latent.pth" in names
    for task in ("refusal_rate", "harmful_compliance", "over_refusal", "refusal_lvs", "lvs_budget_sweep",
                 "lvs_layer_profile", "over_refusal_xstest", "refusal_rate_advbench", "_safety_behavioral"):
        assert f"lm_eval_latent/tasks/{task}.yaml" in names, task
    assert "lm_eval_latent/tasks/utils.py" in names
    for recipe in ("pgd_linf", "random_linf", "pgd_l2", "gaussian_l2", "direction"):
        assert f"lm_eval_latent/interventions/{recipe}.yaml" in names, recipe
    assert {"lm_eval_latent/prompts/harmful.jsonl", "lm_eval_latent/prompts/safe_lookalike.jsonl"} <= names
    assert "lm_eval_latent/judging/ngram_weights.npz" in names  # the default judge's weights
