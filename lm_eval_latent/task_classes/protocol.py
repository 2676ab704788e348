"""The one seam between a task and `latent_hf`: a typed `Setting` out, a `LatentReply` back.

A task asks for a clean, attacked or control generation by attaching a `Setting` to a
generate_until request (`encode`); the model reads it back (`decode`) and resolves it once per
group of requests:

    gen_kwargs = protocol.encode({"until": []}, Setting("attack", layer=4, budget=Budget("p", 0.001)))

``role`` is ``clean``, ``attack`` (the model's configured attack, or ``attack`` named here) or
``control`` (that attack's matched random control). ``layer``, ``budget`` and ``attack`` left
None take the model's own (its ``perturb_layer``, budget and attack; `latent_hf` chooses those
defaults in one place). A setting may instead name a layer *range* (``layers``: ``"all"``,
``"4-20"``, ``"2,5,embedding"``): the model, which knows its layers, resolves it and answers
with one reply per layer (`LatentReply.dumps_many`), so a task never needs the layer count. The `Setting` travels as plain JSON data (`Setting.as_data`): lm-eval
hashes a request's arguments for its ``--use_cache`` key and writes them to ``--log_samples``, so
the setting is part of the cache key and readable in the logs. The model answers with a JSON `LatentReply` instead of bare text (lm-eval
keeps responses as strings), so the task learns ``||delta||`` and whether the row's activations
were finite. A plain request (no setting) whose perturbed row was not finite is answered with
`NON_FINITE_TEXT`. Tasks import this module; they never reach into attack internals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

from lm_eval_latent.attacks.budget import Budget
from lm_eval_latent.fields import SettingError
from lm_eval_latent.layer_spec import EMBEDDING, check_layer_range

KEY = "latent"
Role = Literal["clean", "attack", "control"]
ROLES: tuple[str, ...] = get_args(Role)
# What `latent_hf` answers to a *plain* request whose row went non-finite under the configured
# perturbation (a text generated from NaN logits is nobody's answer): the behavioural tasks
# report such a row unscored. No model writes this text; lm-eval's own `hf` never sends it.
NON_FINITE_TEXT = "[lm-eval-latent: activations not finite under the perturbation; row unscored]"


@dataclass(frozen=True)
class Setting:
    """What one request asks the model for (validated; hashable, so requests group by it).

    Attributes:
        role: clean, attack or control.
        layer: a parsed layer spec (an int, negative from the end, or "embedding"); None: the
            model's ``perturb_layer``.
        budget: None: the model's budget, else its attack's default.
        attack: a recipe name or path; None: the model's attack.
        layers: a layer range (`layer_spec.parse_layer_range`'s forms, ``"all"`` included) to
            run at each of its layers instead of at ``layer``; the model resolves it against
            its own layers and answers one reply per layer, in the range's order.
    """

    role: Role = "attack"
    layer: int | str | None = None
    budget: Budget | None = None
    attack: str | None = None
    layers: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise SettingError(f"role={self.role!r} is not known (allowed: {', '.join(ROLES)})")
        if self.layer is not None and (isinstance(self.layer, bool) or not (
                isinstance(self.layer, int) or self.layer == EMBEDDING)):
            raise SettingError(f'layer={self.layer!r} is not a layer (allowed: an int or "{EMBEDDING}")')
        if self.budget is not None and not isinstance(self.budget, Budget):
            raise SettingError(f"budget={self.budget!r} is not a Budget (allowed: Budget(kind, value) or None)")
        if self.layers is not None:
            if self.layer is not None:
                raise SettingError(f"layer={self.layer!r} and layers={self.layers!r} both given (allowed: one of them)")
            check_layer_range(self.layers, "layers")

    def as_data(self) -> dict[str, Any]:
        """The setting as JSON data (what `encode` puts in a request); `from_data` reads it back.

        ``layers`` is written only when given, so a single-layer request's data (and lm-eval's
        cache key made from it) is what it was before ranges existed.
        """
        budget = None if self.budget is None else {"kind": self.budget.kind, "value": self.budget.value}
        data = {"role": self.role, "layer": self.layer, "budget": budget, "attack": self.attack}
        return data if self.layers is None else {**data, "layers": self.layers}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Setting:
        """The setting `as_data` wrote (validated).

        Raises:
            ValueError: when ``data`` is not what `as_data` writes.
        """
        if set(data) - {"layers"} != {"role", "layer", "budget", "attack"}:
            raise ValueError(f"{data!r} has keys {sorted(data)} (allowed: attack, budget, layer, role and "
                             "optionally layers)")
        budget = data["budget"]
        if budget is not None:
            if not isinstance(budget, Mapping) or set(budget) != {"kind", "value"}:
                raise ValueError(f"budget={budget!r} is not a budget (allowed: {{'kind': ..., 'value': ...}} or None)")
            budget = Budget(budget["kind"], budget["value"])
        return cls(role=data["role"], layer=data["layer"], budget=budget, attack=data["attack"],
                   layers=data.get("layers"))

    def as_role(self, role: Role) -> Setting:
        """The same setting for another role (an attack's control asks for the same layer and budget)."""
        return replace(self, role=role)

    def at_layer(self, layer: int | str) -> Setting:
        """The same setting at one layer of its range (what the model runs for each)."""
        return replace(self, layers=None, layer=layer)


def encode(gen_kwargs: Mapping[str, Any], setting: Setting) -> dict[str, Any]:
    """Generation kwargs carrying ``setting`` as JSON data (a new dict; ``gen_kwargs`` is left as it is)."""
    return {**gen_kwargs, KEY: setting.as_data()}


def decode(gen_kwargs: Mapping[str, Any]) -> tuple[Setting | None, dict[str, Any]]:
    """The setting a request carries (None for a plain request) and its kwargs without it.

    Raises:
        ValueError: when the ``latent`` entry is not a `Setting`.
    """
    rest = {k: v for k, v in gen_kwargs.items() if k != KEY}
    if KEY not in gen_kwargs:
        return None, rest
    value = gen_kwargs[KEY]
    if isinstance(value, Setting):  # built by hand in this process
        return value, rest
    try:
        if not isinstance(value, Mapping):
            raise ValueError(f"a {type(value).__name__}")
        return Setting.from_data(value), rest
    except ValueError as err:
        raise ValueError(f"generation kwarg {KEY!r}={value!r} is not a protocol.Setting ({err}); "
                         "build requests with protocol.encode") from err


@dataclass
class LatentReply:
    """What `latent_hf` returns for a request that carried a `Setting`.

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
        """Parse a reply; a bare string (a model that ignores the setting) becomes ``ok=False``."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return cls(text=str(text), delta_norm=float("nan"), ok=False, role="unknown")
        if not isinstance(data, dict) or "text" not in data:
            return cls(text=str(text), delta_norm=float("nan"), ok=False, role="unknown")
        norm = data.get("delta_norm")
        data["delta_norm"] = float("nan") if norm is None else float(norm)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @staticmethod
    def dumps_many(texts: list[str]) -> str:
        """One answer to a layer-range request: the replies (`dumps` texts) of its layers, in order."""
        return json.dumps([json.loads(t) for t in texts], ensure_ascii=False)

    @classmethod
    def loads_many(cls, text: str) -> list[LatentReply]:
        """The replies of a `dumps_many` answer; any other text is one reply (`loads`)."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            data = None
        if not isinstance(data, list) or not data:
            return [cls.loads(text)]
        return [cls.loads(json.dumps(item, ensure_ascii=False)) for item in data]


# The model arguments a run may carry, which lm-eval merges into every task's metadata: tasks tell
# them from their own settings (`task_options`), the model checks them (`model.model_args`).
# `latent_hf`'s own ones are `PerturbConfig`'s fields (tests/test_model_args.py keeps them equal).
LATENT_MODEL_ARGS = frozenset({"perturb_layer", "eps", "p", "frac", "attack", "direction", "positions", "steps",
                               "step_size", "target", "apply_to", "seed", "lora", "merge_lora", "backend"})
# Keyword arguments that HFLM forwards to `from_pretrained`; accepted as they are.
HF_LOAD_KWARGS = frozenset(
    {
        "device_map", "attn_implementation", "torch_dtype", "low_cpu_mem_usage", "load_in_8bit",
        "load_in_4bit", "bnb_4bit_quant_type", "bnb_4bit_compute_dtype", "bnb_4bit_use_double_quant",
        "quantization_config", "use_safetensors", "cache_dir", "local_files_only", "token",
        "offload_state_dict", "variant", "use_cache",
    }
)


def model_arg_names() -> frozenset[str]:
    """Every ``--model_args`` key `latent_hf` accepts: lm-eval's ``hf`` arguments, ours, and the
    ``from_pretrained`` keywords HFLM forwards."""
    import inspect

    from lm_eval.models.huggingface import HFLM

    hflm = frozenset(p for p in inspect.signature(HFLM.__init__).parameters if p not in ("self", "kwargs"))
    return hflm | LATENT_MODEL_ARGS | HF_LOAD_KWARGS
