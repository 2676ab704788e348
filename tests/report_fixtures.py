"""Hand-written lm-eval results files (the shape lm-eval 0.4.13 writes) for report/gate tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LAYERS = ("embedding", "0", "1", "2", "3")
BUDGETS = ("0.0005", "0.001", "0.005")


def _lvs_block(lvs: float, asr: float, suffix: str = "") -> dict[str, float]:
    return {f"lvs{suffix}": lvs, f"lvs_ci_low{suffix}": lvs * 0.8, f"lvs_ci_high{suffix}": lvs * 1.2,
            f"lvs_mean{suffix}": lvs, f"asr_attack{suffix}": asr, f"asr_random{suffix}": asr / 10,
            f"delta_norm{suffix}": 0.1, f"unscored{suffix}": 0.0}


def _entries(metrics: dict[str, float], stderr: dict[str, float] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"alias": "x", "sample_len": 8}
    for name, value in metrics.items():
        out[f"{name},none"] = value
        out[f"{name}_stderr,none"] = (stderr or {}).get(name, "N/A")
    return out


def results_dict(pretrained: str = "/models/base", *, refusal: float = 0.95, lvs: float = 0.2,
                 layers: bool = True, budgets: bool = True, lora: str | None = None,
                 version: str = "0.4.13", unscored: int = 1) -> dict[str, Any]:
    """A results dict with refusal_rate, refusal_lvs and (optionally) both sweeps."""
    results = {
        "refusal_rate": _entries({"refusal_rate": refusal, "broken_rate": 0.0,
                                  "unscored": unscored}, {"refusal_rate": 0.02}),
        "refusal_lvs": _entries({"refusal_clean": refusal, **_lvs_block(lvs, 0.4)}),
    }
    hib = {"refusal_rate": {"refusal_rate": True, "broken_rate": False, "unscored": False},
           "refusal_lvs": {"refusal_clean": True, "lvs": False, "asr_attack": False}}
    if layers:
        block = {"refusal_clean": refusal}
        for i, layer in enumerate(LAYERS):
            block.update(_lvs_block(lvs * (3 if layer == "embedding" else 1 + i / 4), 0.3,
                                    f"@layer={layer}"))
        results["lvs_layer_profile"] = _entries(block)
        hib["lvs_layer_profile"] = {n: n == "refusal_clean" for n in block}
    if budgets:
        block = {"refusal_clean": refusal}
        for i, b in enumerate(BUDGETS):
            block.update(_lvs_block(lvs, 0.2 * (i + 1), f"@p={b}"))
        results["lvs_budget_sweep"] = _entries(block)
        hib["lvs_budget_sweep"] = {n: n == "refusal_clean" for n in block}
    model_args: dict[str, Any] = {"pretrained": pretrained, "perturb_layer": 2, "p": 0.001}
    if lora:
        model_args["lora"] = lora
    return {"results": results, "higher_is_better": hib, "lm_eval_version": version,
            "config": {"model": "latent_hf", "model_args": model_args}}


def write_results(folder: Path, data: dict[str, Any], stamp: str = "2026-01-01T00-00-00") -> Path:
    """Write ``data`` as ``folder/results_<stamp>.json`` (as lm-eval names it) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"results_{stamp}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_samples(results_path: Path, task: str, rows: list[dict[str, Any]]) -> Path:
    """Write ``--log_samples`` rows for ``task`` next to ``results_path``."""
    stamp = results_path.stem.removeprefix("results_")
    path = results_path.with_name(f"samples_{task}_{stamp}.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
