"""bench/bench_latent.py on a tiny random model (its equalities, no timing asserted), and bench/bench_startup.py (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_bench_runs_and_compares_like_for_like(random_model_dir, tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(BENCH / "bench_latent.py"), "--model", str(random_model_dir), "--layer", "1",
           "--prompts", "3", "--batch", "2", "--split-prompts", "2", "--steps", "2", "--max-new-tokens", "3",
           "--only", "lvs,split", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    lvs, split = result["lvs"], result["split"]
    assert lvs["prompts"] == 3 and lvs["max_new_tokens"] == 3
    phases = {"pgd", "control_delta", "generate_clean", "generate_attack", "generate_control"}
    assert set(lvs["phases_batched"]) == set(lvs["phases_one_at_a_time"]) == phases
    assert lvs["max_rel_norm_diff"] < 1e-3  # batching changes float rounding only
    assert split["max_abs_delta_diff"] < 1e-4  # the split gives the full model's deltas
    # A second run refuses to overwrite its output.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode != 0 and "exists" in again.stderr


def load_bench():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_latent", BENCH / "bench_latent.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_ratio_of_a_phase_too_fast_to_measure_is_none_not_a_crash():
    # A fast machine finishes a tiny phase inside the clock's resolution: 0.0 s must not divide.
    ratio = load_bench().ratio
    assert ratio(1.0, 0.0) is None and ratio(0.0, 0.0) is None
    assert ratio(3.0, 2.0) == 1.5


def test_bench_default_generation_length_is_the_lvs_tasks():
    module = load_bench()
    from lm_eval_latent.shipped import tasks_dir

    text = (tasks_dir() / "latent_vulnerability" / "_lvs_template.yaml").read_text()
    assert f"max_gen_toks: {module.lvs_max_gen_toks()}" in text


@pytest.mark.slow
def test_startup_bench_times_both_commands(tmp_path):
    out = tmp_path / "startup.json"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_startup.py"), "--runs", "1", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    # Times are recorded, never compared: a test must pass on a faster or slower machine.
    for name in ("lm-eval-latent", "lm_eval"):
        assert set(result["median_s"][name]) == {"startup_s", "total_s"}
    assert {"startup_ratio", "total_ratio"} <= set(result)
