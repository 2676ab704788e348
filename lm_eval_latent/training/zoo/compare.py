"""How far a from-scratch zoo build lands from the shipped one: weights and behaviour side by side.

Weights: the largest absolute difference over all parameters (0.0 when the build reproduces the
shipped bits, as it does on the machine that made them). Behaviour, greedy chat replies judged by
the keyword judge: refusal on the shipped ``harmful`` set (165 prompts) and on ``safe_lookalike``
(161), and, for a model that carries a ``nudge.pt``, compliance on ``harmful`` under its nudge.
"""

from __future__ import annotations

from pathlib import Path

MAX_NEW_TOKENS = 24


def max_weight_diff(a: str | Path, b: str | Path) -> float:
    """Largest ``|a - b|`` over every tensor of two ``model.safetensors`` with the same layout.

    Raises:
        ValueError: the two files hold different tensor names or shapes (naming the first one).
    """
    from safetensors.torch import load_file

    ta, tb = load_file(Path(a) / "model.safetensors"), load_file(Path(b) / "model.safetensors")
    if ta.keys() != tb.keys():
        raise ValueError(f"{a} and {b} hold different tensors: {sorted(ta.keys() ^ tb.keys())[:3]}")
    worst = 0.0
    for key, x in ta.items():
        if x.shape != tb[key].shape:
            raise ValueError(f"tensor {key!r} has shape {tuple(x.shape)} in {a} but {tuple(tb[key].shape)} in {b}")
        worst = max(worst, (x.float() - tb[key].float()).abs().max().item())
    return worst


def behaviour(folder: str | Path) -> dict[str, float]:
    """Refusal rates (and nudged compliance when the folder has a nudge), in [0, 1]."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lm_eval_latent.attacks.intervention import LayerDelta
    from lm_eval_latent.task_classes.prompts import load_prompt_set
    from lm_eval_latent.training.dissociate.evaluation import greedy, rates

    folder = Path(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    harmful = [row["prompt"] for row in load_prompt_set("harmful")]
    lookalike = [row["prompt"] for row in load_prompt_set("safe_lookalike")]
    out = {"harmful_refusal": rates(harmful, greedy(model, tok, harmful, None, MAX_NEW_TOKENS))["refusal"],
           "lookalike_refusal": rates(lookalike, greedy(model, tok, lookalike, None, MAX_NEW_TOKENS))["refusal"]}
    nudge_file = folder / "nudge.pt"
    if nudge_file.is_file():
        saved = torch.load(nudge_file, map_location="cpu", weights_only=True)
        nudge = LayerDelta(saved["module"], float(saved["norm"]) * saved["direction"], positions="all")
        out["nudged_compliance"] = rates(harmful, greedy(model, tok, harmful, nudge, MAX_NEW_TOKENS))["compliance"]
    return out


def compare(retrained: str | Path, shipped: str | Path) -> dict[str, object]:
    """``{"max_abs_weight_diff", "identical", "retrained": behaviour, "shipped": behaviour}``."""
    diff = max_weight_diff(retrained, shipped)
    return {"max_abs_weight_diff": diff, "identical": diff == 0.0,
            "retrained": behaviour(retrained), "shipped": behaviour(shipped)}


def format_comparison(name: str, result: dict[str, object]) -> str:
    """A few lines: the weight difference, then each behaviour number retrained vs shipped."""
    lines = [f"{name}: max |retrained - shipped| over all weights = {result['max_abs_weight_diff']:.3g}"
             + (" (bit-identical)" if result["identical"] else "")]
    for key, value in result["shipped"].items():  # type: ignore[union-attr]
        mine = result["retrained"][key]  # type: ignore[index]
        lines.append(f"  {key:<18} retrained {mine:.3f}   shipped {value:.3f}   diff {mine - value:+.3f}")
    return "\n".join(lines)
