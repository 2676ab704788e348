"""The door check: does a saved nudge open the model, and does a random push of the same norm not?

    lm-eval-latent door --model DIR --nudge DIR/nudge.pt [--limit N]

The check itself is `lm_eval_latent.evaluate.door`; this module reads the command line and prints
(and with ``--out`` writes) its result.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from lm_eval_latent.attacks.budget import MAX_BUDGET
from lm_eval_latent.evaluate.door import RESULT_KEYS, door_check
from lm_eval_latent.fields import arg_int, arg_number, parse_int
from lm_eval_latent.outputs import check_out_file, is_json_with, write_text_atomic


def main(argv: list[str] | None = None) -> int:
    """Entry point of `lm-eval-latent door`."""
    p = argparse.ArgumentParser(prog="lm-eval-latent door", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--nudge", required=True, help="a direction file with layer and norm metadata")
    p.add_argument("--layer", type=arg_int("--layer"), default=None, help="default: the nudge file's")
    p.add_argument("--eps", type=arg_number("--eps", minimum=0.0, maximum=MAX_BUDGET), default=None,
                   help="L2 norm of the push; default: the nudge file's")
    p.add_argument("--limit", type=arg_int("--limit", minimum=1), default=None)
    p.add_argument("--seeds", default="0", help="seeds of the random controls, e.g. 0,1,2")
    p.add_argument("--max-gen-toks", type=arg_int("--max-gen-toks", minimum=1), default=64)
    p.add_argument("--batch-size", type=arg_int("--batch-size", minimum=1), default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="also write the result as JSON")
    p.add_argument("--overwrite", action="store_true", help="replace an --out written by an earlier `door`")
    args = p.parse_args(argv)
    try:
        out = check_out_file(args.out, overwrite=args.overwrite, is_ours=is_json_with(RESULT_KEYS),
                             what="a result written by `lm-eval-latent door`") if args.out else None
        seeds = tuple(parse_int(s, "--seeds") for s in args.seeds.split(","))
        res = door_check(args.model, args.nudge, layer=args.layer, eps=args.eps, limit=args.limit,
                         seeds=seeds, max_gen_toks=args.max_gen_toks,
                         batch_size=args.batch_size, device=args.device)
    except (ValueError, FileNotFoundError) as err:
        print(f"lm-eval-latent door: error: {err}", file=sys.stderr)
        return 2
    print(f"| condition | harmful compliance |\n|---|---:|\n| clean | {res['clean']:.3f} |\n"
          f"| nudge (layer {res['layer']}, eps {res['eps']:.3g}) | {res['nudged']:.3f} |\n"
          f"| random direction, same norm (mean of {len(res['random'])}) | {res['random_mean']:.3f} |")
    if out is not None:
        def finite(v: Any) -> Any:  # a rate with no scored row is null: strict JSON, never NaN
            if isinstance(v, list):
                return [finite(x) for x in v]
            return None if isinstance(v, float) and not math.isfinite(v) else v

        write_text_atomic(out, json.dumps({k: finite(v) for k, v in res.items()}, indent=2, allow_nan=False))
    return 0
