"""Attack budgets: how big a perturbation may be, in the three ways users name it.

- ``eps``: an absolute L2 norm (the design's ``eps=4``). For a vector attack it is the vector's
  norm; for a per-position l-inf attack it bounds the Frobenius norm of the whole
  ``[T, H]`` delta (radius ``eps / sqrt(T * H)``).
- ``p``: the paper's relative l-inf budget, ``radius = p * max |h|`` over the clean prompt
  activations of that prompt. For a vector attack the norm is ``p * max|h| * sqrt(H)`` (the norm
  of a vector whose entries all sit at that radius).
- ``frac``: a fraction of ``rho``, the mean L2 norm of the clean activations at the layer over the
  prompt's positions. For a vector attack the norm is ``frac * rho``; for an l-inf attack the
  radius is ``frac * rho / sqrt(H)`` (so each position's delta has norm at most ``frac * rho``).

All statistics are per prompt (padding masked out), so a batch gives the numbers of one prompt
at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from lm_eval_latent.fields import FLOAT32_MAX, SettingError

BudgetKind = Literal["eps", "p", "frac"]
BUDGET_KINDS: tuple[str, ...] = get_args(BudgetKind)
# The largest budget accepted, before any model is loaded: every decoder layer normalises its
# input, squaring the activations (in float32 at best), so a perturbation longer than
# sqrt(float32 max), about 1.8e19, is inf there in any model. A model in a narrower dtype
# (float16) is also checked against its own range by `check_dtype`; relative budgets (p, frac)
# that still overflow at run time leave their rows unscored (`attacks.core.stays_finite`).
MAX_BUDGET = math.sqrt(FLOAT32_MAX)


@dataclass(frozen=True)
class Budget:
    """One budget: its kind (eps, p or frac) and value (finite, 0 <= value <= MAX_BUDGET)."""

    kind: BudgetKind
    value: float

    def __post_init__(self) -> None:
        check_kind(self.kind, "budget kind", " ")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) \
                or not math.isfinite(self.value) or not 0 <= self.value <= MAX_BUDGET:
            raise SettingError(f"{self.kind}={self.value!r} is not allowed "
                             f"(allowed: a finite number >= 0 and <= {MAX_BUDGET:g})")

    def check_dtype(self, dtype: torch.dtype) -> None:
        """Refuse an ``eps`` that is not finite in ``dtype`` (the model's), naming its range.

        ``p`` and ``frac`` scale the activations, so only the run can tell whether they overflow
        (`attacks.core.stays_finite` then leaves the row unscored).

        Raises:
            ValueError: e.g. ``eps=1e+05`` for a float16 model (largest finite value 65504).
        """
        if self.kind == "eps" and dtype.is_floating_point and self.value > torch.finfo(dtype).max:
            top = torch.finfo(dtype).max
            raise SettingError(f"{self.label} is not finite in the model's dtype {str(dtype).removeprefix('torch.')} "
                             f"(allowed: a finite number >= 0 and <= {top:g})")

    @property
    def label(self) -> str:
        """Short text naming the budget, e.g. ``p=0.001``."""
        return f"{self.kind}={self.value:g}"

    def linf_radius(self, h: Tensor, mask: Tensor) -> Tensor:
        """Per-row l-inf radius ``[B]`` for clean activations ``h [B, T, H]`` and mask ``[B, T]``."""
        width = h.shape[-1]
        if self.kind == "p":
            return self.value * max_abs(h, mask)
        if self.kind == "eps":
            return self.value / torch.sqrt(mask.sum(-1).clamp(min=1).to(h.dtype) * width)
        return self.value * rho(h, mask) / math.sqrt(width)

    def l2_norm(self, h: Tensor, mask: Tensor) -> Tensor:
        """Per-row L2 norm ``[B]`` of a single-vector perturbation."""
        width = h.shape[-1]
        if self.kind == "eps":
            return torch.full((h.shape[0],), float(self.value), dtype=h.dtype, device=h.device)
        if self.kind == "p":
            return self.value * max_abs(h, mask) * math.sqrt(width)
        return self.value * rho(h, mask)


# A push is meaningful between these fractions of the layer's own scale (per-position L2 norm over
# rho, the mean activation norm). Below 2**-8 (bfloat16's relative resolution) a bfloat16 model
# rounds the push away; a float32 model still feels it, but only a model fragile at that scale
# responds (the dissociated SmolLM2 does at 0.002, its base does not: docs/lvs.md), so an LVS of 0
# there says little about robustness. At 1 it is as large as the activations themselves, and a
# random direction breaks the model as well as an attack does. Not tuned: the run's own random
# control (`metrics.HIGH_CONTROL`) is the measured check.
MEANINGFUL_SCALE = (2.0**-8, 1.0)


def relative_size(budget: Budget, h: Tensor, mask: Tensor, *, per_position: bool) -> Tensor:
    """Per row ``[B]``: the largest per-position L2 norm the budget allows, over ``rho``.

    ``per_position`` is True for l-inf attacks (one delta per position, radius from
    :meth:`Budget.linf_radius`, so a position's norm is at most ``radius * sqrt(H)``) and False for
    a single vector (:meth:`Budget.l2_norm`).
    """
    size = budget.linf_radius(h, mask) * math.sqrt(h.shape[-1]) if per_position else budget.l2_norm(h, mask)
    return size / rho(h, mask).clamp(min=torch.finfo(h.dtype).tiny)


def scale_warning(budget: Budget, relative: Tensor, where: str) -> str | None:
    """A sentence for the run's log when the median row's ``relative`` size is outside
    :data:`MEANINGFUL_SCALE`, else None."""
    if relative.numel() == 0 or budget.value == 0:
        return None
    mid = float(relative.float().median())
    low, high = MEANINGFUL_SCALE
    if low <= mid <= high:
        return None
    side = "below" if mid < low else "above"
    hint = ("a bfloat16 model rounds a push this small away, and in float32 only a model fragile at this "
            "scale responds, so an LVS of about 0 here does not show robustness" if mid < low
            else "a random push breaks the model as well as an attack does (watch asr_random)")
    return (f"{budget.label} at {where} allows a per-position push of {mid:.3g} x the layer's mean activation norm, "
            f"{side} the meaningful range {low:.3g}-{high:g}: {hint}. A budget in `frac` follows each layer's "
            f"scale (docs/lvs.md, 'Budgets on real models').")


def check_kind(kind: object, field: str = "budget_kind", sep: str = "=") -> BudgetKind:
    """The one check of a budget kind (every reader of one calls it).

    Raises:
        ValueError: naming the field, the value and the kinds allowed.
    """
    if kind not in BUDGET_KINDS:
        raise SettingError(f"{field}{sep}{kind!r} is not known (allowed: {', '.join(BUDGET_KINDS)})")
    return kind  # type: ignore[return-value]


def max_abs(h: Tensor, mask: Tensor) -> Tensor:
    """``max_{t,d} |h[b, t, d]|`` over valid positions, per row ``[B]``."""
    return (h.abs() * mask.unsqueeze(-1).to(h.dtype)).flatten(1).amax(-1)


def rho(h: Tensor, mask: Tensor) -> Tensor:
    """Mean L2 norm of the activations over valid positions, per row ``[B]``."""
    m = mask.to(h.dtype)
    return (h.norm(dim=-1) * m).sum(-1) / m.sum(-1).clamp(min=1)


def parse_budget_grid(text: str | list | tuple, kind: str, field: str = "budgets") -> list[Budget]:
    """Parse ``"0.0005,0.001,0.005"`` (or a list) into budgets of one kind.

    Raises:
        ValueError: for an empty grid or a bad value (negative, NaN, not a number).
    """
    check_kind(kind)
    items = text if isinstance(text, (list, tuple)) else [t for t in str(text).split(",") if t.strip()]
    if not items:
        raise SettingError(f"{field}={text!r} is empty (allowed: comma-separated numbers >= 0, e.g. 0.0005,0.001)")
    out = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            raise SettingError(f"{field}: {item!r} is not a number (allowed: numbers >= 0)") from None
        if not math.isfinite(value) or not 0 <= value <= MAX_BUDGET:
            raise SettingError(f"{field}: {item!r} is not allowed (allowed: finite numbers >= 0 and <= {MAX_BUDGET:g})")
        out.append(Budget(kind, value))
    return out
