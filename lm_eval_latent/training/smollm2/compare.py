"""How far a retrained real pair lands from the shipped one (``zoo build --retrain smollm2-*``).

Training drifts across CPUs (float rounding, amplified by training), so a retrain elsewhere does not
give the shipped bits; this says by how much: the largest weight difference of the merged models,
and for ``smollm2-dissociated`` its dissociation summary beside the shipped one.
"""

from __future__ import annotations

import json
from pathlib import Path

SUMMARY_KEYS = ("clean_refusal", "nudged_compliance", "random_control_refusal", "base_clean_refusal",
                "base_nudged_compliance", "best_step")


def max_weight_difference(a: Path, b: Path) -> float:
    """The largest absolute difference between same-named tensors of two safetensors folders."""
    from safetensors.torch import load_file

    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    if wa.keys() != wb.keys():
        raise ValueError(f"{a} and {b} hold different tensors")
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def compare_real(name: str, retrained: Path, cache_dir: str | None) -> dict:
    """The retrained folder of ``name`` against the shipped adapters merged the same way."""
    from lm_eval_latent.training import smollm2, zoo

    cache = Path(cache_dir) if cache_dir else zoo.default_cache_dir()
    shipped = smollm2.folder(name, cache)
    out: dict = {"max_weight_difference": max_weight_difference(retrained, shipped)}
    if (retrained / "dissociation.json").is_file() and (shipped / "dissociation.json").is_file():
        new, old = (json.loads((f / "dissociation.json").read_text()) for f in (retrained, shipped))
        out["summary"] = {k: (new.get(k), old.get(k)) for k in SUMMARY_KEYS}
    return out


def format_real(name: str, result: dict) -> str:
    """A few lines for the terminal."""
    lines = [f"{name}: retrained vs shipped, max weight difference {result['max_weight_difference']:.3g}"]
    for key, (new, old) in result.get("summary", {}).items():
        lines.append(f"  {key}: {new} (shipped {old})")
    return "\n".join(lines)
