"""Turning a recipe and a budget into a delta for a batch of prompts.

Every attack works on a left-padded batch at once: padding is masked out of the budget
statistics, out of the loss and out of the delta, and each row's loss is summed (not averaged),
so each row gets exactly the gradient it would get alone. Random deltas are drawn from a
generator seeded by the recipe seed and the row's own tokens, so a row gets the same noise in
any batch.

A row whose clean activations hold NaN or inf, whose delta becomes non-finite, or whose
computation overflows once the delta is added (`stays_finite`) is marked not ``ok``: its delta is
zero and the task reports it unscored.
"""

from __future__ import annotations

import inspect
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lm_eval_latent.attacks.directions import random_direction
from lm_eval_latent.attacks.intervention import (
    Backend, LayerDelta, SplitForward, capture, output_width, position_ids, split_at,
)
from lm_eval_latent.attacks.budget import Budget, relative_size, scale_warning
from lm_eval_latent.attacks.recipe import AttackRecipe

log = logging.getLogger(__name__)
_WARNED: set[tuple[str, str]] = set()  # one scale warning per layer and budget in a process


@dataclass
class AttackResult:
    """A batch's perturbation and what the task needs to know about each row.

    Attributes:
        delta: what to apply during generation (None when nothing is added).
        norms: ``[B]`` L2 norm of each row's perturbation (Frobenius over the prompt positions
            for per-position attacks; the vector norm for vector attacks).
        ok: ``[B]`` False where activations, the delta or the perturbed logits were not finite.
    """

    delta: LayerDelta | None
    norms: Tensor
    ok: Tensor


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Turn off parameter gradients (only the delta needs one); restore them afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def row_generators(input_ids: Tensor, mask: Tensor, seed: int) -> list[torch.Generator]:
    """One generator per row, seeded by ``seed`` and the row's unpadded tokens."""
    gens = []
    for ids, m in zip(input_ids.tolist(), mask.tolist(), strict=True):
        tokens = [t for t, keep in zip(ids, m, strict=True) if keep]
        key = zlib.crc32(repr((seed, tokens)).encode())
        gens.append(torch.Generator().manual_seed(key))
    return gens


def _with_target(model: nn.Module, inputs: dict[str, Tensor], target_ids: Tensor) -> dict[str, Any]:
    """The prompts followed by the target tokens (what the attack's loss reads).

    Only the last ``k + 1`` positions' logits are read, so where the model takes
    ``logits_to_keep`` (transformers' causal LMs do) the head runs on those alone: with a
    50k-token vocabulary the head over every prompt position costs as much as a dozen layers.
    """
    input_ids, mask = inputs["input_ids"], inputs["attention_mask"]
    target = target_ids.to(input_ids.device).expand(input_ids.shape[0], target_ids.shape[0])
    full_mask = torch.cat([mask, torch.ones_like(target)], dim=1)
    full = {"input_ids": torch.cat([input_ids, target], dim=1), "attention_mask": full_mask}
    return _last_logits(model, full, target_ids.shape[0] + 1)


def _last_logits(model: nn.Module, inputs: dict[str, Tensor], keep: int) -> dict[str, Any]:
    """``inputs`` with generate's position ids, asking for the last ``keep`` positions' logits
    only where the model takes ``logits_to_keep`` (transformers' causal LMs do)."""
    out: dict[str, Any] = {**inputs, "position_ids": position_ids(inputs["attention_mask"])}
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT
    if "logits_to_keep" in inspect.signature(base.forward).parameters:
        out["logits_to_keep"] = keep
    return out


def _nll(logits: Tensor, target_ids: Tensor) -> Tensor:
    """Sum over rows of the mean NLL of the ``k`` target tokens, which end the sequence."""
    batch, k = logits.shape[0], target_ids.shape[0]
    target = target_ids.to(logits.device).expand(batch, k)
    pred = logits[:, -k - 1 : -1].float()  # the position before each target token
    nll = F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), reduction="none")
    return nll.view(batch, k).mean(-1).sum()


def _target_loss(
    model: nn.Module, backend: Backend, inputs: dict[str, Tensor], target_ids: Tensor, delta: LayerDelta
) -> Tensor:
    """Sum over rows of the mean NLL of the target tokens after each prompt (full model)."""
    return _nll(backend.forward(model, _with_target(model, inputs, target_ids), delta), target_ids)


def target_loss_fn(model, backend, module_name, inputs, target_ids, split: bool = True):
    """``delta -> loss`` for one batch; with ``split`` the layers below the delta run only once
    (`intervention.split_at`), where the architecture allows it."""
    full = _with_target(model, inputs, target_ids)
    runner: SplitForward | None = split_at(model, module_name, full) if split else None
    if runner is None:
        return lambda delta: _nll(backend.forward(model, full, delta), target_ids)
    return lambda delta: _nll(runner.forward(delta), target_ids)


def pgd_linf(model, backend, module_name, inputs, h, budget, recipe, target_ids, split=True) -> tuple[Tensor, Tensor]:
    """Signed-gradient descent in the per-row l-inf ball; returns ``(delta [B,T,H], norms [B])``."""
    valid = inputs["attention_mask"].unsqueeze(-1).to(h.dtype)
    radius = budget.linf_radius(h, inputs["attention_mask"]).view(-1, 1, 1)
    step = recipe.step_size * radius
    delta = torch.zeros_like(h)
    loss_fn = target_loss_fn(model, backend, module_name, inputs, target_ids, split)
    with torch.enable_grad(), frozen(model):
        for _ in range(recipe.steps):
            delta.requires_grad_(True)
            loss = loss_fn(LayerDelta(module_name, delta * valid))
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = torch.maximum(torch.minimum(delta - step * grad.sign(), radius), -radius) * valid
    delta = delta.detach()
    return delta, delta.flatten(1).norm(dim=-1)


def random_linf(inputs, h, budget, recipe) -> tuple[Tensor, Tensor]:
    """Uniform noise in the same l-inf ball: ``delta ~ U[-r, r]`` at each valid position."""
    mask = inputs["attention_mask"]
    radius = budget.linf_radius(h, mask)
    delta = torch.zeros_like(h)
    for b, (gen, r) in enumerate(zip(row_generators(inputs["input_ids"], mask, recipe.seed), radius, strict=True)):
        keep = mask[b].bool()
        # Draw only for the row's own positions, so padding does not change its noise.
        u = torch.rand((int(keep.sum()), h.shape[-1]), generator=gen, dtype=torch.float32).to(h)
        delta[b, keep] = (2 * u - 1) * r
    return delta, delta.flatten(1).norm(dim=-1)


def pgd_l2(model, backend, module_name, inputs, h, budget, recipe, target_ids, split=True) -> tuple[Tensor, Tensor]:
    """One vector per row at every position, normalised-gradient steps, kept on the sphere."""
    norm = budget.l2_norm(h, inputs["attention_mask"]).view(-1, 1, 1)
    v = torch.zeros(h.shape[0], 1, h.shape[-1], dtype=h.dtype, device=h.device)
    loss_fn = target_loss_fn(model, backend, module_name, inputs, target_ids, split)
    with torch.enable_grad(), frozen(model):
        for _ in range(recipe.steps):
            v.requires_grad_(True)
            loss = loss_fn(LayerDelta(module_name, v, "all"))
            (grad,) = torch.autograd.grad(loss, v)
            with torch.no_grad():
                v = v - recipe.step_size * norm * grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-12)
                v = norm * v / v.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    v = v.detach()
    return v, v.flatten(1).norm(dim=-1)


def gaussian_l2(inputs, h, budget, recipe) -> tuple[Tensor, Tensor]:
    """A Gaussian direction per row scaled to the same norm as pgd_l2's vector."""
    norm = budget.l2_norm(h, inputs["attention_mask"])
    rows = []
    for gen, n in zip(row_generators(inputs["input_ids"], inputs["attention_mask"], recipe.seed), norm, strict=True):
        g = torch.randn(h.shape[-1], generator=gen, dtype=torch.float32).to(h)
        rows.append(n * g / g.norm())
    v = torch.stack(rows).unsqueeze(1)
    return v, v.flatten(1).norm(dim=-1)


def steering_vector(h, mask, budget, direction: Tensor, recipe) -> tuple[Tensor, Tensor]:
    """``±norm * d_hat`` per row (norm from the budget), at every position."""
    norm = budget.l2_norm(h, mask)
    sign = -1.0 if recipe.mode == "subtract" else 1.0
    v = sign * norm.view(-1, 1, 1) * direction.to(h).view(1, 1, -1)
    return v, norm.abs()


def run_attack(
    model: nn.Module,
    backend: Backend,
    module_name: str,
    inputs: dict[str, Tensor],
    recipe: AttackRecipe,
    budget: Budget,
    *,
    direction: Tensor | None = None,
    target_ids: Tensor | None = None,
    split: bool = True,
) -> AttackResult:
    """Compute the perturbation of one left-padded batch.

    Args:
        model: the (possibly PEFT-wrapped) causal LM.
        backend: how deltas get into the model (`intervention.get_backend`).
        module_name: the perturbed module (from `layers.resolve_layer`).
        inputs: ``input_ids`` and ``attention_mask`` ``[B, T]`` (left padding).
        recipe: the attack.
        budget: its size.
        direction: unit direction for ``direction`` attacks (random when None).
        target_ids: token ids of the affirmative target (PGD attacks).
        split: let PGD steps skip the layers below the perturbed one (same deltas; False runs
            the full model at every step, as the bench's reference does).

    Returns:
        The delta to apply while generating, each row's norm and whether it was finite.

    Raises:
        ValueError: when ``direction`` does not have the perturbed module's width.
    """
    mask = inputs["attention_mask"]
    kind = recipe.kind
    width = output_width(model, module_name)
    uses_file = kind == "direction" and recipe.direction_source != "random"
    if uses_file and direction is not None and direction.shape[-1] != width:
        raise ValueError(
            f"direction has {direction.shape[-1]} entries but {module_name} outputs vectors of width "
            f"{width}; use a direction written for this layer (lm-eval-latent direction --layer ...)"
        )
    prompt = _last_logits(model, inputs, 1)
    runner: SplitForward | None = None
    if kind == "direction" and recipe.mode != "ablate" and budget.kind == "eps":
        # A fixed vector: no statistic of the clean activations is needed, skip that forward.
        h = torch.zeros(mask.shape[0], 1, width, device=mask.device)
        ok = torch.ones(mask.shape[0], dtype=torch.bool, device=mask.device)
    else:
        # The layers up to the delta run once: their output gives the budget statistics, and
        # the finiteness check of the result then runs only the layers above (`split_at`).
        runner = split_at(model, module_name, prompt) if split else None
        h = (runner.hidden if runner is not None else capture(model, prompt, module_name)).detach()
        ok = torch.isfinite(h).flatten(1).all(-1)
        h = torch.where(ok.view(-1, 1, 1), h, torch.zeros_like(h))
    if kind != "direction" or recipe.mode != "ablate":
        _warn_scale(budget, kind, h, mask, module_name)
    ablate = None
    if kind == "pgd_linf":
        delta, norms = pgd_linf(model, backend, module_name, inputs, h, budget, recipe, target_ids, split)
    elif kind == "random_linf":
        delta, norms = random_linf(inputs, h, budget, recipe)
    elif kind == "pgd_l2":
        delta, norms = pgd_l2(model, backend, module_name, inputs, h, budget, recipe, target_ids, split)
    elif kind == "gaussian_l2":
        delta, norms = gaussian_l2(inputs, h, budget, recipe)
    else:
        if direction is None or recipe.direction_source == "random":
            direction = random_direction(h.shape[-1], recipe.seed)
        if recipe.mode == "ablate":
            ablate = direction
            removed = (h @ direction.to(h)) * mask.to(h.dtype)
            delta, norms = None, removed.norm(dim=-1)
        else:
            delta, norms = steering_vector(h, mask, budget, direction, recipe)
    if delta is not None:
        ok = ok & torch.isfinite(delta).flatten(1).all(-1)
        delta = torch.where(ok.view(-1, 1, 1), delta, torch.zeros_like(delta))
    layer_delta = LayerDelta(module_name, delta, recipe.positions, ablate=ablate)
    if delta is not None or ablate is not None:
        ok = ok & stays_finite(model, backend, prompt, h, layer_delta, runner)
        if delta is not None:
            layer_delta.delta = torch.where(ok.view(-1, 1, 1), delta, torch.zeros_like(delta))
    norms = torch.where(ok, norms, torch.zeros_like(norms))
    return AttackResult(layer_delta, norms.detach().float().cpu(), ok.cpu())


def _warn_scale(budget: Budget, kind: str, h: Tensor, mask: Tensor, module_name: str) -> None:
    if (module_name, budget.label) in _WARNED or kind == "direction" and budget.kind == "eps":
        return  # a fixed eps vector skips the statistics (h is a zero placeholder)
    note = scale_warning(budget, relative_size(budget, h.float(), mask, per_position=kind.endswith("linf")),
                         module_name)
    if note is not None:
        _WARNED.add((module_name, budget.label))
        log.warning(note)


def stays_finite(model: nn.Module, backend: Backend, inputs: dict[str, Tensor], h: Tensor,
                 delta: LayerDelta, runner: SplitForward | None = None) -> Tensor:
    """``[B]`` whether each row's computation stays finite with ``delta`` applied to ``h``.

    A finite delta can still break the model: the next layer's norm squares the perturbed
    activations (in float32 at best), so a vector longer than ``sqrt(float32 max)`` (about
    1.8e19) turns into inf there; and later layers can overflow in a narrow dtype. Such a row
    would generate from degenerate or NaN logits and its text would be judged as if the model
    had written it. So: the perturbed activations' squared norms must be finite in float32 (and
    their entries in the model's dtype), and one forward of the prompt must give finite logits
    at its last position, the ones generation starts from (a non-finite value at an earlier
    position reaches it through attention). With ``runner`` (the prompt split at the perturbed
    layer) that forward runs only the layers above the delta.
    """
    mask = inputs["attention_mask"]
    edited = delta.edit(h)  # h: [B, T, H] clean activations, or [B, 1, H] zeros on the fast path
    squares = edited.float().pow(2).sum(-1)
    valid = mask.bool() if squares.shape[1] == mask.shape[1] else torch.ones_like(squares, dtype=torch.bool)
    ok = ((torch.isfinite(squares) & torch.isfinite(edited).all(-1)) | ~valid).all(-1)
    with torch.no_grad():
        logits = runner.forward(delta) if runner is not None else backend.forward(model, inputs, delta)
    finite = torch.isfinite(logits[:, -1]).all(-1)
    return ok.to(mask.device) & finite.to(mask.device)
