"""Data-parallel runs: two CPU processes give the same results file as one (docs/multiprocess.md).

lm-eval 0.4.13 splits the documents across ranks, gathers every rank's per-row metrics on rank 0
and only then aggregates, so the LVS median and CI cover all rows. The two-process run uses the
documented CPU command (torchrun + ACCELERATE_USE_CPU=1, gloo backend).

What keeps it the same on every machine and under load: the model is the shipped dissociated one
(the same bits everywhere; a from-scratch build can fail to dissociate on another CPU and leave a
model no attack moves, which once made ``lvs_mean`` 0 here), every row is seeded by its own tokens,
and torchrun's ``--standalone`` rendezvous takes a free port, so concurrent runs of this test (other
checkouts on the same machine) do not collide on a fixed ``--master_port``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from margins import at_least

# Two lm_eval runs (about 1-2 minutes on 2 cores). In the default run on purpose: that a
# two-process run equals a one-process run is part of what the package promises.

LIMIT = 8
# The shipped dissociated model complies under PGD at p=0.05 on all 8 prompts (asr_attack 1.0);
# the comparison needs most rows moved, or equal medians would mean nothing. Claimed 0.9, the bar
# test_dissociate holds the model's nudged compliance to, so at n=8 five moved rows still pass.
MOVED_CLAIM = 0.9
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
    log = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                *_args(dissociated_dir, two)],
               {"ACCELERATE_USE_CPU": "1"})
    # the documents were split: the second process ran as rank 1, not as a second rank 0
    assert "refusal_lvs on rank 1" in log, "both processes ran as rank 0 (see docs/multiprocess.md)"
    res1, samples1 = _results(one)
    res2, samples2 = _results(two)

    # every document once, gathered from both ranks
    for task in samples2:
        assert sorted(s["doc_id"] for s in samples2[task]) == list(range(LIMIT))
    moved = [s["lvs"] > 0 for s in samples1["refusal_lvs"]]
    assert at_least(sum(moved) / LIMIT, LIMIT, MOVED_CLAIM), (
        f"only {sum(moved)} of {LIMIT} rows moved under the attack on {dissociated_dir}: not the shipped "
        "dissociated model? (the comparison below would be vacuous)")
    rows1 = {s["doc_id"]: s["lvs"] for s in samples1["refusal_lvs"]}
    rows2 = {s["doc_id"]: s["lvs"] for s in samples2["refusal_lvs"]}
    assert rows2 == pytest.approx(rows1, rel=1e-4)  # row by row, not only in aggregate
    for name in SAME:
        assert res2["refusal_lvs"][f"{name},none"] == pytest.approx(res1["refusal_lvs"][f"{name},none"], rel=1e-4)
    assert res2["refusal_rate"]["refusal_rate,none"] == pytest.approx(res1["refusal_rate"]["refusal_rate,none"])

    # the aggregate covers both ranks' rows, not rank 0's alone
    norms = [s["delta_norm"] for s in samples2["refusal_lvs"] if "delta_norm" in s]
    assert len(norms) == LIMIT
    assert res2["refusal_lvs"]["delta_norm,none"] == pytest.approx(sum(norms) / len(norms), rel=1e-4)
