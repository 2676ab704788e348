"""The `latent_hf` perturbation settings, validated on construction.

Every field can be given flat on the command line (``--model_args perturb_layer=2,eps=4``);
lm-eval turns ``eps=4`` into an int, ``perturb_layer=-1`` into the float -1.0 and ``true`` into a
bool, so the parsers (`lm_eval_latent.fields`) accept the types lm-eval produces as well as
strings, and integer fields take whole floats but refuse 1.5.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from lm_eval_latent.attacks.budget import BUDGET_KINDS, MAX_BUDGET, Budget
from lm_eval_latent.attacks.intervention import BACKENDS, POSITIONS, BackendName, Positions
from lm_eval_latent.fields import SettingError, SettingFileNotFoundError, parse_bool, parse_int, parse_number
from lm_eval_latent.layer_spec import parse_layer_spec


ApplyTo = Literal["all", "latent"]
APPLY_TO: tuple[str, ...] = get_args(ApplyTo)


@dataclass
class PerturbConfig:
    """What `latent_hf` does to the model before it answers.

    With ``perturb_layer`` unset (or ``eps=0``) the model runs clean and equals lm-eval's ``hf``.
    """

    perturb_layer: int | str | None = field(
        default=None,
        metadata={"help": 'decoder layer whose output is perturbed (negative from the end) or "embedding"'},
    )
    eps: float | None = field(
        default=None, metadata={"help": "budget: absolute L2 norm of the perturbation (see docs/lvs.md)"}
    )
    p: float | None = field(
        default=None, metadata={"help": "budget: the paper's relative l-inf budget, p * max|clean activation|"}
    )
    frac: float | None = field(
        default=None, metadata={"help": "budget: fraction of the mean activation norm rho at the layer"}
    )
    attack: str | None = field(
        default=None,
        metadata={"help": "attack recipe name (pgd_linf, random_linf, pgd_l2, gaussian_l2, direction, ...) "
                  "or YAML path; default `direction` (the vector eps * direction)"},
    )
    direction: str | None = field(
        default=None, metadata={"help": "path of a saved direction; default a seeded random unit vector"}
    )
    positions: Positions | None = field(
        default=None,
        metadata={"help": "prompt: prompt positions only; all: generated tokens too (default: the attack's)"},
    )
    steps: int | None = field(default=None, metadata={"help": "attack steps (default: the recipe's)"})
    step_size: float | None = field(default=None, metadata={"help": "attack step, a fraction of the budget"})
    target: str | None = field(default=None, metadata={"help": "affirmative target of PGD attacks"})
    apply_to: ApplyTo = field(
        default="all",
        metadata={"help": "all: every request runs perturbed; latent: only the LVS tasks' attack "
                  "requests (behavioural tasks in the same run stay clean)"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the random direction and random attacks"})
    lora: str | None = field(default=None, metadata={"help": "path or Hub id of a PEFT attack adapter"})
    merge_lora: bool = field(default=False, metadata={"help": "merge the adapter into the weights"})
    backend: BackendName = field(default="nnsight", metadata={"help": "nnsight or hooks"})

    def __post_init__(self) -> None:
        self.perturb_layer = parse_layer_spec(self.perturb_layer)
        given = [k for k in BUDGET_KINDS if getattr(self, k) not in (None, "")]
        for kind in given:
            setattr(self, kind, parse_number(getattr(self, kind), kind, maximum=MAX_BUDGET))
        if len(given) > 1:
            raise SettingError(
                f"give one budget, not {len(given)} ({', '.join(f'{k}={getattr(self, k):g}' for k in given)}); "
                "allowed: eps (absolute L2), p (relative l-inf) or frac (fraction of rho)"
            )
        if self.apply_to not in APPLY_TO:
            raise SettingError(f"apply_to={self.apply_to!r} is not allowed (allowed: {', '.join(APPLY_TO)})")
        if self.positions is not None and self.positions not in POSITIONS:
            raise SettingError(f"positions={self.positions!r} is not allowed (allowed: {', '.join(POSITIONS)})")
        self.seed = parse_int(self.seed, "seed")
        if self.steps is not None:
            self.steps = parse_int(self.steps, "steps", minimum=0)
        if self.step_size is not None:
            self.step_size = parse_number(self.step_size, "step_size", minimum=0.0, above=True)
        self.merge_lora = parse_bool(self.merge_lora, "merge_lora")
        if self.backend not in BACKENDS:
            raise SettingError(f"backend={self.backend!r} is not known (allowed: {', '.join(BACKENDS)})")
        if self.merge_lora and not self.lora:
            raise SettingError("merge_lora=true needs lora=PATH_OR_HUB_ID (the adapter to merge)")
        if self.perturb_layer is None and (self.attack or (self.budget and self.budget.value > 0)):
            what = f"attack={self.attack}" if self.attack else self.budget.label  # type: ignore[union-attr]
            raise SettingError(f'{what} needs perturb_layer (an int or "embedding") to say where')
        self._check_files()

    def _check_files(self) -> None:
        """Files and recipes named by the settings, checked before the model loads (seconds to
        minutes): a missing ``direction`` file or ``lora`` folder, an unknown or missing ``attack``
        recipe, and a direction ablation with nothing to ablate are setting errors (exit status 2)."""
        if self.direction is not None and not Path(str(self.direction)).expanduser().is_file():
            raise SettingFileNotFoundError(f"direction={str(self.direction)!r}: no such file (give a .pt, .npy "
                                           "or .json vector; write one with `lm-eval-latent direction`)")
        lora = Path(str(self.lora)).expanduser() if self.lora else None
        if lora is not None and (str(self.lora).startswith((".", "/", "~")) or lora.exists()) \
                and not (lora / "adapter_config.json").is_file():
            raise SettingFileNotFoundError(f"lora={self.lora!r}: no PEFT adapter there (expected "
                                           f"{lora / 'adapter_config.json'}); give the directory written by "
                                           "`save_pretrained` or a Hub id")
        if not self.attack:
            return
        from lm_eval_latent.attacks.recipe import load_recipe

        recipe = load_recipe(str(self.attack))
        if recipe.kind == "direction" and recipe.mode == "ablate" and recipe.direction_source == "file" \
                and self.direction is None:
            # Without a file the direction attack falls back to a seeded random direction: ablating
            # that measures nothing the user meant.
            raise SettingError(f"attack={self.attack} projects a direction out and needs direction=PATH "
                               "(write one with `lm-eval-latent direction`); without it a random direction "
                               "would be ablated")

    @property
    def budget(self) -> Budget | None:
        """The budget the user named, if any."""
        for kind in BUDGET_KINDS:
            value = getattr(self, kind)
            if value is not None:
                return Budget(kind, float(value))
        return None

    @property
    def active(self) -> bool:
        """Whether plain requests run perturbed (a layer, and an attack or a non-zero budget)."""
        if self.perturb_layer is None or self.apply_to == "latent":
            return False
        if self.budget is not None:
            return self.budget.value > 0
        return self.attack is not None

    @classmethod
    def field_names(cls) -> list[str]:
        """The model_args this config reads."""
        return [f.name for f in fields(cls)]

    @classmethod
    def pop_from(cls, kwargs: dict[str, Any]) -> PerturbConfig:
        """Build a config from (and remove its keys out of) a model_args dict."""
        return cls(**{name: kwargs.pop(name) for name in cls.field_names() if name in kwargs})
