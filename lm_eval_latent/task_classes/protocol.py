"""How a task asks `latent_hf` for a clean, attacked or control generation, and gets it back.

A task puts a ``latent`` entry in a generate_until request's generation kwargs:

    {"until": [...], "latent": {"role": "attack", "layer": 4, "budget": {"kind": "p", "value": 0.001}}}

``role`` is ``clean``, ``attack`` (the model's configured attack, or ``attack`` named here) or
``control`` (that attack's matched random control). ``layer`` and ``budget`` are optional and
default to the model's ``perturb_layer`` and budget. The model answers such a request with a JSON
reply (`LatentReply`) instead of bare text, so the task learns ``||delta||`` and whether the row's
activations were finite. A plain request (no ``latent`` entry) whose perturbed row was not finite
is answered with `NON_FINITE_TEXT`. Tasks import this module; they never reach into attack internals.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

KEY = "latent"
ROLES = ("clean", "attack", "control")
# What `latent_hf` answers to a *plain* request whose row went non-finite under the configured
# perturbation (a text generated from NaN logits is nobody's answer): the behavioural tasks
# report such a row unscored. No model writes this text; lm-eval's own `hf` never sends it.
NON_FINITE_TEXT = "[lm-eval-latent: activations not finite under the perturbation; row unscored]"


def request_spec(role: str, layer: int | str | None = None, budget: dict[str, Any] | None = None,
                 attack: str | None = None) -> dict[str, Any]:
    """The ``latent`` entry for one request (validated)."""
    if role not in ROLES:
        raise ValueError(f"role={role!r} is not known (allowed: {', '.join(ROLES)})")
    spec: dict[str, Any] = {"role": role}
    if layer is not None:
        spec["layer"] = layer
    if budget is not None:
        spec["budget"] = dict(budget)
    if attack is not None:
        spec["attack"] = attack
    return spec


@dataclass
class LatentReply:
    """What `latent_hf` returns for a request that carried a ``latent`` entry.

    Attributes:
        text: the generation.
        delta_norm: L2 norm of the perturbation applied (0 for clean).
        ok: False when the row's activations or delta were not finite (the row is unscored).
        role, layer, budget, attack: what was applied, for logs.
    """

    text: str
    delta_norm: float = 0.0
    ok: bool = True
    role: str = "clean"
    layer: str | None = None
    budget: str | None = None
    attack: str | None = None

    def dumps(self) -> str:
        """JSON text (a non-finite norm is written as null)."""
        data = asdict(self)
        if not math.isfinite(data["delta_norm"]):
            data["delta_norm"] = None
            data["ok"] = False
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def loads(cls, text: str) -> LatentReply:
        """Parse a reply; a bare string (a model that ignores ``latent``) becomes ``ok=False``."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return cls(text=str(text), delta_norm=float("nan"), ok=False, role="unknown")
        if not isinstance(data, dict) or "text" not in data:
            return cls(text=str(text), delta_norm=float("nan"), ok=False, role="unknown")
        norm = data.get("delta_norm")
        data["delta_norm"] = float("nan") if norm is None else float(norm)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
