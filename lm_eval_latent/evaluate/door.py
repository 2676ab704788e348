"""The door check: does a saved nudge open the model, and does a random push of the same norm not?

    lm-eval-latent door --model DIR --nudge DIR/nudge.pt [--limit N]

Runs the ``harmful_compliance`` task three times through ``latent_hf``: clean, steered along the
nudge (``attack=direction,direction=NUDGE,eps=<norm>,perturb_layer=<layer>``) and steered along a
seeded random direction of the same norm (``attack=random_direction``, the paper's steering
control). A dissociated model shows high compliance under the nudge and low under the control.
The command's arguments are read in `lm_eval_latent.commands.door`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lm_eval_latent.evaluate import task_metric

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
