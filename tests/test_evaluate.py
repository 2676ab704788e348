"""`evaluate.run_latent_hf`: one lm-eval run through latent_hf, saved as lm-eval's CLI saves it."""

from __future__ import annotations

import json

from lm_eval_latent.evaluate import run_latent_hf


def test_one_run_returns_lm_eval_results_and_saves_them(random_model_dir, tmp_path):
    res = run_latent_hf(random_model_dir, ["refusal_rate"], model_args="perturb_layer=1,eps=0", limit=2,
                        max_gen_toks=2, batch_size=2, out=tmp_path)
    assert {"refusal_rate,none", "unscored,none"} <= set(res["results"]["refusal_rate"])
    assert "pretrained=" in str(res["config"]["model_args"])
    [results] = tmp_path.rglob("results_*.json")
    assert json.loads(results.read_text())["results"]["refusal_rate"] == res["results"]["refusal_rate"]
    [samples] = tmp_path.rglob("samples_refusal_rate_*.jsonl")
    assert len(samples.read_text().splitlines()) == 2


def test_without_out_nothing_is_written(random_model_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_latent_hf(random_model_dir, ["refusal_rate"], limit=1, max_gen_toks=1)
    assert "samples" not in res and list(tmp_path.iterdir()) == []
