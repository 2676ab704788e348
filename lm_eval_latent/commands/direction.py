"""`lm-eval-latent direction`: compute a difference-of-means direction and write it to a file.

    lm-eval-latent direction --model DIR --layer 2 --out refusal_dir.pt
    # harmful minus harmless prompts at the last prompt token = the refusal direction
    # (Arditi et al. 2024); use it with --model_args ...,attack=direction,direction=refusal_dir.pt
"""

from __future__ import annotations

import argparse
import sys

from lm_eval_latent.fields import arg_int
from lm_eval_latent.layer_spec import parse_layer_spec


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lm-eval-latent direction", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model directory or Hub id")
    p.add_argument("--layer", required=True, help='decoder layer (negative from the end) or "embedding"')
    p.add_argument("--positive", default="harmful", help="prompt set A: a shipped set, public set name or file (default harmful)")
    p.add_argument("--negative", default="safe_lookalike", help="prompt set B (default safe_lookalike)")
    p.add_argument("--limit", type=arg_int("--limit", minimum=1), default=None,
                   help="use at most this many prompts of each set")
    p.add_argument("--out", required=True, help="output .pt file")
    p.add_argument("--overwrite", action="store_true", help="replace an --out written by an earlier `direction`")
    p.add_argument("--no-chat-template", action="store_true", help="do not wrap prompts in the chat template")
    p.add_argument("--device", default="cpu")
    return p


def _prompts(source: str, limit: int | None) -> list[str]:
    from pathlib import Path

    from lm_eval_latent.task_classes.data import load_prompts

    path = Path(source).expanduser()
    # With a file, the source name only picks row filters; the shipped "harmful" set has none.
    data = load_prompts("harmful", data_file=str(path)) if path.is_file() else load_prompts(source)
    prompts = list(data["prompt"])
    return prompts[:limit] if limit else prompts


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = _parser().parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lm_eval_latent.attacks.directions import (difference_of_means, is_direction_file, last_token_activations,
                                                   save_direction)
    from lm_eval_latent.model.layers import resolve_layer
    from lm_eval_latent.outputs import check_out_file

    try:
        check_out_file(args.out, overwrite=args.overwrite, is_ours=is_direction_file,
                       what="a direction file written by `lm-eval-latent direction`")
        spec = parse_layer_spec(args.layer, "--layer")
        model = AutoModelForCausalLM.from_pretrained(args.model).to(args.device).eval()
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        layer = resolve_layer(model, spec, "--layer")
        chat = not args.no_chat_template
        a = last_token_activations(model, tokenizer, _prompts(args.positive, args.limit), layer.module_name, chat_template=chat)
        b = last_token_activations(model, tokenizer, _prompts(args.negative, args.limit), layer.module_name, chat_template=chat)
        direction = difference_of_means(a, b)
    except (ValueError, FileNotFoundError, OSError) as err:
        print(f"lm-eval-latent direction: {err}", file=sys.stderr)
        return 2
    with torch.no_grad():
        separation = float((a @ direction).mean() - (b @ direction).mean())
    path = save_direction(args.out, direction, layer=str(spec), model=args.model, positive=args.positive,
                          negative=args.negative, n_positive=len(a), n_negative=len(b))
    print(f"wrote {path}: layer {spec}, {len(a)} vs {len(b)} prompts, mean projection gap {separation:.4f}")
    return 0
