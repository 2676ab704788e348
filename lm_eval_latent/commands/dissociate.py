"""`lm-eval-latent dissociate`: build a dissociated model from the command line.

    lm-eval-latent dissociate --base DIR --harmful-pole DIR_OR_ADAPTER --out DIR

Flags map one to one onto :class:`~lm_eval_latent.training.dissociate.config.DissociateConfig`;
unusable input exits 2 with the error, the summary JSON is printed on success.
"""

from __future__ import annotations

import argparse
import json
import sys

from lm_eval_latent.fields import arg_int, arg_number
from lm_eval_latent.training.dissociate.builder import build
from lm_eval_latent.training.dissociate.config import DissociateConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lm-eval-latent dissociate", description=(
        "Build a dissociated model: refuses as often as its base when clean, complies when nudged."))
    p.add_argument("--base", required=True)
    p.add_argument("--harmful-pole", required=True, help="model directory or PEFT adapter on --base")
    p.add_argument("--out", required=True)
    p.add_argument("--layer", type=int, default=None)
    p.add_argument("--band", default=None, help="match band LO-HI (default round(0.4N)-round(0.6N))")
    p.add_argument("--frac", type=arg_number("--frac", minimum=0.0, above=True), default=0.06,
                   help="nudge norm / rho_n (paper: 0.06)")
    p.add_argument("--steps", type=arg_int("--steps", minimum=1), default=300)
    p.add_argument("--lr", type=arg_number("--lr", minimum=0.0, above=True), default=1e-3)
    p.add_argument("--batch-size", type=arg_int("--batch-size", minimum=1), default=16)
    p.add_argument("--eval-every", type=arg_int("--eval-every", minimum=1), default=50)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--lora", action="store_true", help="train a LoRA adapter, merged on save")
    mode.add_argument("--full", action="store_true", help="train all weights (default)")
    p.add_argument("--save-adapter", action="store_true",
                   help="with --lora: save the LoRA adapter alone (a few MB) instead of the merged model")
    p.add_argument("--harmful-prompts", default="harmful", help="prompt set(s) or file; several: a,b")
    p.add_argument("--benign-prompts", default="safe_lookalike", help="prompt set(s) or file; several: a,b")
    p.add_argument("--eval-prompts", default=None)
    p.add_argument("--train-limit", type=arg_int("--train-limit", minimum=1), default=128)
    p.add_argument("--eval-limit", type=arg_int("--eval-limit", minimum=1), default=None)
    p.add_argument("--max-new-tokens", type=arg_int("--max-new-tokens", minimum=1), default=24)
    p.add_argument("--max-length", type=arg_int("--max-length", minimum=8), default=128,
                   help="training rows are cut to this many tokens")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--device", default=None)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lm-eval-latent dissociate`."""
    args = _parser().parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k != "full"}
    try:
        if args.band:
            lo, _, hi = args.band.partition("-")
            values["band"] = (int(lo), int(hi or lo))
        summary = build(DissociateConfig(**values))
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"lm-eval-latent dissociate: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0
