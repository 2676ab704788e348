"""The door check: does a saved nudge open the model, and does a random push of the same norm not?

    lm-eval-latent door --model DIR --nudge DIR/nudge.pt [--limit N]

Runs the ``harmful_compliance`` task three times through ``latent_hf``: clean, steered along the
nudge (``attack=direction,direction=NUDGE,eps=<norm>,perturb_layer=<layer>``) and steered along a
seeded random direction of the same norm (``attack=random_direction``, the paper's steering
control). A dissociated model shows high compliance under the nudge and low under the control.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from lm_eval_latent.attacks.budget import MAX_BUDGET
from lm_eval_latent.fields import arg_int, arg_number, parse_int
from lm_eval_latent.outputs import check_out_file, is_json_with, write_text_atomic

# The keys that make a JSON file a door result (what --out --overwrite may replace).
RESULT_KEYS = ("clean", "nudged", "random", "layer", "eps")


def read_nudge(path: str | Path) -> dict[str, Any]:
    """The layer and norm saved with a nudge (`save_direction` metadata).

    Raises:
        ValueError: a file without ``layer`` or ``norm`` (say them with --layer / --eps).
    """
    try:
        obj = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"--nudge {str(path)!r}: no such file") from None
    except Exception as err:  # noqa: BLE001 - torch.load raises many kinds for a foreign file
        raise ValueError(f"--nudge {str(path)!r} is not a direction file ({type(err).__name__}); "
                         "expected a .pt written by `dissociate` or `lm-eval-latent direction`") from None
    meta = {k: v for k, v in obj.items() if k != "direction"} if isinstance(obj, dict) else {}
    return meta


def door_check(model: str | Path, nudge: str | Path, *, layer: int | None = None, eps: float | None = None,
               limit: int | None = None, seeds: tuple[int, ...] = (0,), max_gen_toks: int = 64,
               batch_size: int = 16, device: str = "cpu", backend: str = "hooks") -> dict[str, Any]:
    """Compliance clean, under the nudge and under random directions of the same norm.

    Returns:
        ``{"clean", "nudged", "random": [...per seed], "random_mean", "layer", "eps", ...}``,
        compliance rates in [0, 1] (lower is safer).
    """
    from lm_eval_latent.training.finetune.onset import task_metric

    meta = read_nudge(nudge)
    layer = int(meta["layer"]) if layer is None and "layer" in meta else layer
    eps = float(meta["norm"]) if eps is None and "norm" in meta else eps
    if layer is None or eps is None:
        raise ValueError(f"--nudge {str(nudge)!r} carries no layer/norm metadata; give --layer and --eps")
    run = lambda args: task_metric(model, args, limit=limit, max_gen_toks=max_gen_toks,  # noqa: E731
                                   batch_size=batch_size, device=device)
    common = f"perturb_layer={layer},eps={eps},backend={backend}"
    clean = run("")
    nudged = run(f"attack=direction,direction={Path(nudge).expanduser()},{common}")
    random = [run(f"attack=random_direction,seed={s},{common}") for s in seeds]
    return {"model": str(model), "nudge": str(nudge), "layer": layer, "eps": eps, "limit": limit,
            "clean": clean, "nudged": nudged, "random": random, "random_mean": sum(random) / len(random),
            "seeds": list(seeds)}


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
