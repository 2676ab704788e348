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
import sys
from pathlib import Path
from typing import Any

import torch


def read_nudge(path: str | Path) -> dict[str, Any]:
    """The layer and norm saved with a nudge (`save_direction` metadata).

    Raises:
        ValueError: a file without ``layer`` or ``norm`` (say them with --layer / --eps).
    """
    obj = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
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
    p.add_argument("--layer", type=int, default=None, help="default: the nudge file's")
    p.add_argument("--eps", type=float, default=None, help="L2 norm of the push; default: the nudge file's")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seeds", default="0", help="seeds of the random controls, e.g. 0,1,2")
    p.add_argument("--max-gen-toks", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="also write the result as JSON")
    args = p.parse_args(argv)
    try:
        res = door_check(args.model, args.nudge, layer=args.layer, eps=args.eps, limit=args.limit,
                         seeds=tuple(int(s) for s in args.seeds.split(",")), max_gen_toks=args.max_gen_toks,
                         batch_size=args.batch_size, device=args.device)
    except (ValueError, FileNotFoundError) as err:
        print(f"lm-eval-latent door: error: {err}", file=sys.stderr)
        return 2
    print(f"| condition | harmful compliance |\n|---|---:|\n| clean | {res['clean']:.3f} |\n"
          f"| nudge (layer {res['layer']}, eps {res['eps']:.3g}) | {res['nudged']:.3f} |\n"
          f"| random direction, same norm (mean of {len(res['random'])}) | {res['random_mean']:.3f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2))
    return 0
