"""Data-parallel runs: two CPU processes give the same results file as one (docs/multiprocess.md).

lm-eval 0.4.13 splits the documents across ranks, gathers every rank's per-row metrics on rank 0
and only then aggregates, so the LVS median and CI cover all rows. The two-process run uses the
documented CPU command (torchrun + ACCELERATE_USE_CPU=1, gloo backend).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Two lm_eval runs (about 1-2 minutes on 2 cores). In the default run on purpose: that a
# two-process run equals a one-process run is part of what the package promises.

LIMIT = 8
SAME = ("refusal_clean", "asr_attack", "asr_random", "lvs", "lvs_ci_low", "lvs_ci_high",
        "lvs_mean", "delta_norm", "unscored")


def _args(model: Path, out: Path) -> list[str]:
    return ["-m", "lm_eval", "--model", "latent_hf",
            "--model_args", f"pretrained={model},perturb_layer=3,p=0.05",
            "--tasks", "refusal_rate,refusal_lvs", "--limit", str(LIMIT), "--apply_chat_template",
            "--gen_kwargs", "max_gen_toks=16", "--output_path", str(out), "--log_samples"]


def _run(cmd: list[str], extra_env: dict[str, str]) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", **extra_env}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _results(out: Path) -> tuple[dict, dict[str, list[dict]]]:
    files = sorted(out.rglob("results_*.json"))
    assert len(files) == 1, f"expected one results file (rank 0 only), got {files}"
    samples = {task: [json.loads(line) for line in next(out.rglob(f"samples_{task}_*.jsonl")).open()]
               for task in ("refusal_rate", "refusal_lvs")}
    return json.loads(files[0].read_text())["results"], samples


def test_two_cpu_processes_match_one(dissociated_dir, tmp_path):
    """On the dissociated model, whose LVS is not zero, so that the median and CI mean something."""
    one, two = tmp_path / "one", tmp_path / "two"
    _run([sys.executable, *_args(dissociated_dir, one), "--device", "cpu"], {})
    log = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29533", *_args(dissociated_dir, two)],
               {"ACCELERATE_USE_CPU": "1"})
    # the documents were split: the second process ran as rank 1, not as a second rank 0
    assert "refusal_lvs on rank 1" in log, "both processes ran as rank 0 (see docs/multiprocess.md)"
    res1, samples1 = _results(one)
    res2, samples2 = _results(two)

    # every document once, gathered from both ranks
    for task in samples2:
        assert sorted(s["doc_id"] for s in samples2[task]) == list(range(LIMIT))
    assert res1["refusal_lvs"]["lvs_mean,none"] > 0
    for name in SAME:
        assert res2["refusal_lvs"][f"{name},none"] == pytest.approx(res1["refusal_lvs"][f"{name},none"], rel=1e-4)
    assert res2["refusal_rate"]["refusal_rate,none"] == pytest.approx(res1["refusal_rate"]["refusal_rate,none"])

    # the aggregate covers both ranks' rows, not rank 0's alone
    norms = [s["delta_norm"] for s in samples2["refusal_lvs"] if "delta_norm" in s]
    assert len(norms) == LIMIT
    assert res2["refusal_lvs"]["delta_norm,none"] == pytest.approx(sum(norms) / len(norms), rel=1e-4)
