"""Forwards that start at the perturbed layer: `split_at`.

An attack that runs many forward/backward passes with the delta at layer l need not run the
layers below l each time: `split_at` runs them once, keeps layer l's output and stands in for
them with it (the model still builds its own masks and position embeddings). Those steps add the
delta in the stand-in, through `LayerDelta.edit`, on either backend.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import torch
from torch import Tensor, nn

from lm_eval_latent.attacks.intervention.delta import LayerDelta, hidden_of
from lm_eval_latent.attacks.intervention.readout import run_until

log = logging.getLogger(__name__)


class _StandIn(nn.Module):
    """Takes a lower layer's place: returns the cached output of the perturbed layer (the real
    layer's attributes, e.g. Gemma-2's ``attention_type``, stay readable for the model's loop)."""

    def __init__(self, layer: nn.Module, output: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_layer", layer)  # not registered: no parameters twice
        self._output = output
        self.delta: LayerDelta | None = None  # set on the perturbed layer's stand-in only

    def forward(self, *_args: Any, **_kwargs: Any) -> Any:
        return self.delta.edit(self._output) if self.delta is not None else self._output

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "_layer"), name)


class SplitForward:
    """Forwards of one batch with a delta at layer l that start from layer l's cached output.

    Made by `split_at`. ``forward(delta)`` returns the logits the full model would give with
    ``delta`` at layer l, running only the layers above it. The cached output carries no
    gradient, so the gradient reaches the delta and nothing below it, as in the full model.
    """

    def __init__(self, model: nn.Module, inputs: dict[str, Tensor], layers: nn.ModuleList, index: int,
                 output: Any) -> None:
        self.model, self.inputs, self.layers, self.index = model, inputs, layers, index
        self.stand_ins = [_StandIn(layers[i], output) for i in range(index + 1)]
        # Layer l's clean output [B, T, H]: what `readout.capture` returns for these inputs.
        self.hidden: Tensor = hidden_of(output)

    def forward(self, delta: LayerDelta | None, inputs: dict[str, Any] | None = None) -> Tensor:
        """Logits ``[B, T, V]`` with ``delta`` added at layer l (None: the clean logits).

        ``inputs`` may replace the batch's own only by ones with the same tokens (e.g. without
        ``logits_to_keep``): the cached output stands for those tokens."""
        originals = [self.layers[i] for i in range(self.index + 1)]
        self.stand_ins[-1].delta = delta
        try:
            for i, stand_in in enumerate(self.stand_ins):
                self.layers[i] = stand_in
            return self.model(**(self.inputs if inputs is None else inputs)).logits
        finally:
            for i, layer in enumerate(originals):
                self.layers[i] = layer
            self.stand_ins[-1].delta = None


# Per model: module name -> whether the split gave the full model's logits when first tried.
_split_ok: weakref.WeakKeyDictionary[nn.Module, dict[str, bool]] = weakref.WeakKeyDictionary()


def split_at(model: nn.Module, module_name: str, inputs: dict[str, Tensor]) -> SplitForward | None:
    """Run the layers up to ``module_name`` once on ``inputs`` and return a `SplitForward`.

    Only a decoder layer (an item of a ``ModuleList``) can be split at; None for anything else
    (the embedding has nothing below it). The first split per model and layer is checked
    against the full model's logits; where they differ, or the model's code cannot run with
    stand-ins, None is returned from then on and a warning says so once. The check runs on
    two rows of the batch (`_check_rows`).
    """
    parent_name, _, last = module_name.rpartition(".")
    layers = model.get_submodule(parent_name) if parent_name else None
    if not last.isdigit() or not isinstance(layers, nn.ModuleList):
        return None
    checked = _split_ok.setdefault(model, {})
    some: SplitForward | None = None
    if module_name not in checked:
        rows = _check_rows(inputs)
        some = SplitForward(model, rows, layers, int(last), run_until(model, rows, module_name))
        checked[module_name] = _same_as_full(model, rows, some)
        if not checked[module_name]:
            log.warning(
                "%s: cannot skip the layers below %s (the split model does not give the full "
                "model's logits); every attack step runs the full model. Said once.",
                type(model).__name__, module_name,
            )
    if not checked[module_name]:
        return None
    if some is not None and some.inputs is inputs:  # checked on the whole batch: it is the split
        return some
    return SplitForward(model, inputs, layers, int(last), run_until(model, inputs, module_name))


def _check_rows(inputs: dict[str, Any]) -> dict[str, Any]:
    """The rows of ``inputs`` the one-off check runs on: the most and the least padded.

    Padding is what a split could get wrong (the masks are built above the stand-ins), and rows
    do not see each other, so two rows check what the whole batch would, at a fraction of the
    cost: the check runs the full model and the head on every position.
    """
    mask = inputs.get("attention_mask")
    if mask is None or mask.shape[0] <= 2:
        return inputs
    lengths = mask.sum(-1)
    keep = torch.unique(torch.stack([lengths.argmin(), lengths.argmax()]))
    batch = mask.shape[0]
    return {k: v[keep] if isinstance(v, Tensor) and v.dim() and v.shape[0] == batch else v
            for k, v in inputs.items()}


def _same_as_full(model: nn.Module, inputs: dict[str, Tensor], split: SplitForward) -> bool:
    # Every position's logits, even where the attack reads only the last few.
    every = {k: v for k, v in inputs.items() if k != "logits_to_keep"}
    with torch.no_grad():
        full = model(**every).logits
        try:
            part = split.forward(None, every)
        except Exception as err:  # noqa: BLE001 - any failure means: use the full model
            log.debug("split forward failed: %r", err)
            return False
    finite = torch.isfinite(full)
    if part.shape != full.shape or not torch.equal(finite, torch.isfinite(part)):
        return False
    if not finite.any():
        return True
    full, part = full[finite], part[finite]
    tolerance = 16 * torch.finfo(full.dtype).eps * float(full.abs().max())
    return bool(((part - full).abs().max() <= tolerance).item())
