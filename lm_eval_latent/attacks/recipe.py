"""Attack recipes: which attack, with which settings, read from YAML under `interventions/`.

A recipe is named on the command line (``attack=pgd_linf``) or given by path
(``attack=/path/my_attack.yaml``). Every field has the paper's default; model_args can override
``steps``, ``step_size``, ``target`` and ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lm_eval_latent.attacks.budget import MAX_BUDGET, Budget, check_kind
from lm_eval_latent.attacks.intervention import POSITIONS, Positions
from lm_eval_latent.fields import SettingError, SettingFileNotFoundError, parse_int, parse_number
from lm_eval_latent.shipped import interventions_dir

ATTACK_KINDS = ("pgd_linf", "random_linf", "pgd_l2", "gaussian_l2", "direction")
DIRECTION_MODES = ("add", "subtract", "ablate")
# Where each kind perturbs by default: per-position attacks touch the prompt only (the paper's
# latent attack); vector attacks and steering touch every position, generated tokens included.
_DEFAULT_POSITIONS: dict[str, Positions] = {"pgd_linf": "prompt", "random_linf": "prompt", "pgd_l2": "all",
                      "gaussian_l2": "all", "direction": "all"}


@dataclass
class AttackRecipe:
    """One attack and its settings (validated on construction)."""

    name: str = field(metadata={"help": "recipe name, shown in results"})
    kind: str = field(metadata={"help": f"one of {', '.join(ATTACK_KINDS)}"})
    steps: int = field(default=10, metadata={"help": "optimisation steps (PGD)"})
    step_size: float = field(default=0.25, metadata={"help": "step as a fraction of the budget"})
    target: str = field(default="Sure, here is", metadata={"help": "affirmative target string"})
    seed: int = field(default=0, metadata={"help": "seed of random deltas and directions"})
    positions: Positions | None = field(default=None, metadata={"help": "prompt or all; default by kind"})
    mode: str = field(default="add", metadata={"help": "direction attack: add, subtract or ablate"})
    control: str | None = field(default=None, metadata={"help": "recipe of the matched random control"})
    direction_source: str = field(
        default="file", metadata={"help": "direction attack: file (direction=PATH, else random) or random"}
    )
    budget_kind: str = field(default="p", metadata={"help": "default budget kind: eps, p or frac"})
    budget_value: float = field(default=0.001, metadata={"help": "default budget value"})
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ATTACK_KINDS:
            raise SettingError(f"attack kind {self.kind!r} is not known (allowed: {', '.join(ATTACK_KINDS)})")
        self.steps = parse_int(self.steps, "steps", minimum=0)
        self.step_size = parse_number(self.step_size, "step_size", minimum=0.0, above=True)
        self.seed = parse_int(self.seed, "seed")
        if self.positions is None:
            self.positions = _DEFAULT_POSITIONS[self.kind]
        if self.positions not in POSITIONS:
            raise SettingError(f"positions={self.positions!r} is not allowed (allowed: {', '.join(POSITIONS)})")
        if self.mode not in DIRECTION_MODES:
            raise SettingError(f"mode={self.mode!r} is not allowed (allowed: {', '.join(DIRECTION_MODES)})")
        if self.direction_source not in ("file", "random"):
            raise SettingError(f"direction_source={self.direction_source!r} is not allowed (allowed: file, random)")
        if self.kind in ("pgd_linf", "pgd_l2") and not self.target:
            raise SettingError(f"attack {self.name!r} needs a non-empty target string")
        self.budget_value = parse_number(self.budget_value, "budget_value", maximum=MAX_BUDGET)
        check_kind(self.budget_kind)

    @property
    def default_budget(self) -> Budget:
        """The budget used when the user names none."""
        return Budget(self.budget_kind, float(self.budget_value))

    def override(self, **changes: Any) -> AttackRecipe:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

def known_recipes() -> list[str]:
    """Names of the shipped recipes."""
    return sorted(p.stem for p in interventions_dir().glob("*.yaml"))


def load_recipe(name_or_path: str) -> AttackRecipe:
    """Load a shipped recipe by name, or any recipe YAML by path.

    Raises:
        ValueError: for an unknown name (listing the known ones) or a bad file.
    """
    import yaml

    text = str(name_or_path)
    path = Path(text).expanduser()
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        path = interventions_dir() / f"{text}.yaml"
        if not path.is_file():
            raise SettingError(f"attack={text!r} is not known (known: {', '.join(known_recipes())}; or give a YAML path)")
    elif not path.is_file():
        raise SettingFileNotFoundError(f"attack={text!r}: no such file (give a recipe name or an existing YAML file)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise SettingError(f"attack recipe {path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise SettingError(f"attack recipe {path}: not valid YAML{line} ({getattr(err, 'problem', None) or err})") from None
    if not isinstance(data, dict) or not data:
        found = "an empty file" if not data else f"a YAML {type(data).__name__}"
        raise SettingError(f"attack recipe {path}: needs a mapping of fields with at least `kind` "
                         f"(allowed kinds: {', '.join(ATTACK_KINDS)}); found {found}")
    allowed = {f.name for f in fields(AttackRecipe)}
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise SettingError(f"attack recipe {path}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    if "kind" not in data:
        raise SettingError(f"attack recipe {path}: no `kind` field (allowed: {', '.join(ATTACK_KINDS)})")
    data.setdefault("name", path.stem)
    try:
        return AttackRecipe(**data)
    except ValueError as err:
        raise SettingError(f"attack recipe {path}: {err}") from None
