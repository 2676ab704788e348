"""Adding a delta to one module's output during a forward or a generate call.

This is the only module that touches nnsight or forward hooks. Two backends do the same thing:

- ``nnsight`` (default): wraps the loaded model once in
  ``nnsight.modeling.transformers.TransformersModel`` and edits ``<layer>.output`` in a trace.
- ``hooks``: a plain ``register_forward_hook`` that is always removed afterwards. It is the
  reference the nnsight path is tested against, and the faster choice for attacks that run many
  forward/backward passes (see bench/).

A delta is one vector (``[H]``, or ``[B, 1, H]`` one per row) added at every position of every
call with ``positions="all"`` or at the prompt forward only with ``positions="prompt"``; or one
vector per prompt position ``[B, T, H]``, added to the prompt forward only (the generated tokens
see it through the KV cache, as in the paper's latent attack). A direction can also be projected
out (ablation) before anything is added.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
import weakref
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch
from torch import Tensor, nn

Positions = Literal["prompt", "all"]
BACKENDS = ("nnsight", "hooks")


@dataclass
class LayerDelta:
    """What to change in one module's output, and where.

    Attributes:
        module_name: dotted name of the module whose output is changed.
        delta: what is added: ``[H]`` or ``[B, 1, H]`` (one vector per row, at every position
            of every call with ``positions="all"``, at the prompt only with ``"prompt"``), or
            ``[B, T, H]`` (the first T positions of the first call: always prompt-only).
            None adds nothing.
        positions: ``"all"`` or ``"prompt"``.
        ablate: a unit direction projected out of the output (``h - (h.d) d``) before adding.
    """

    module_name: str
    delta: Tensor | None
    positions: Positions = "all"
    ablate: Tensor | None = None

    def __post_init__(self) -> None:
        if self.positions not in ("prompt", "all"):
            raise ValueError(f"positions={self.positions!r} is not allowed (allowed: prompt, all)")
        if self.delta is not None and self.delta.dim() not in (1, 3):
            raise ValueError(f"delta must be [H], [B, 1, H] or [B, T, H], got {tuple(self.delta.shape)}")
        if self.delta is not None and self.delta.dim() == 3 and self.delta.shape[1] > 1:
            self.positions = "prompt"

    @property
    def every_call(self) -> bool:
        """Whether generated tokens are edited too (not only the prompt forward)."""
        return self.positions == "all"

    def edit(self, output: Tensor) -> Tensor:
        """The edited version of a ``[B, T, H]`` output (a new tensor; the input is untouched)."""
        if self.ablate is not None:
            d = self.ablate.to(device=output.device, dtype=output.dtype)
            output = output - (output @ d).unsqueeze(-1) * d
        if self.delta is None:
            return output
        d = self.delta.to(device=output.device, dtype=output.dtype)
        if d.dim() == 3:
            batch, length, width = output.shape
            if d.shape[0] != batch or d.shape[2] != width or d.shape[1] > length:
                raise ValueError(
                    f"delta of shape {tuple(d.shape)} does not fit the layer output {tuple(output.shape)}"
                )
            if 1 < d.shape[1] < length:  # positions after the prompt (e.g. an attack target) stay clean
                d = torch.cat([d, d.new_zeros(batch, length - d.shape[1], width)], dim=1)
        return output + d


class Backend(Protocol):
    """How a delta gets into the model."""

    def forward(
        self, model: nn.Module, inputs: dict[str, Tensor], delta: LayerDelta | None
    ) -> Tensor:
        """Run one forward with the delta applied and return the logits."""
        ...

    def generate(
        self, model: nn.Module, inputs: dict[str, Tensor], delta: LayerDelta | None, **kwargs: Any
    ) -> Tensor:
        """Run ``model.generate`` with the delta applied and return the token ids."""
        ...


def position_ids(attention_mask: Tensor) -> Tensor:
    """Positions that skip left padding, as ``generate`` computes them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


class HookBackend:
    """Plain PyTorch forward hooks; removed in ``finally``."""

    def _hook(self, model: nn.Module, delta: LayerDelta):
        calls = {"n": 0}

        def hook(_module: nn.Module, _inp: Any, output: Any) -> Any:
            first = calls["n"] == 0
            calls["n"] += 1
            if not (first or delta.every_call):
                return output
            hidden = delta.edit(output[0] if isinstance(output, tuple) else output)
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

        return model.get_submodule(delta.module_name).register_forward_hook(hook)

    def forward(self, model, inputs, delta):
        handle = self._hook(model, delta) if delta is not None else None
        try:
            return model(**inputs).logits
        finally:
            if handle is not None:
                handle.remove()

    def generate(self, model, inputs, delta, **kwargs):
        handle = self._hook(model, delta) if delta is not None else None
        try:
            return model.generate(**inputs, **kwargs)
        finally:
            if handle is not None:
                handle.remove()


class NNsightBackend:
    """nnsight 0.8 ``TransformersModel`` wrapping the loaded model (created once per model)."""

    def __init__(self, tokenizer: Any = None) -> None:
        self._wrapped: weakref.WeakKeyDictionary[nn.Module, Any] = weakref.WeakKeyDictionary()
        self.tokenizer = tokenizer  # nnsight's TransformersModel needs one to build its pipeline

    def wrap(self, model: nn.Module) -> Any:
        """The nnsight wrapper of ``model`` (imports nnsight on first use)."""
        if model not in self._wrapped:
            from nnsight.modeling.transformers import TransformersModel

            self._wrapped[model] = TransformersModel(model, tokenizer=self.tokenizer)
        return self._wrapped[model]

    @staticmethod
    def _envoy(wrapped: Any, module_name: str) -> Any:
        envoy = wrapped
        for part in module_name.split("."):
            envoy = envoy[int(part)] if part.isdigit() else getattr(envoy, part)
        return envoy

    def forward(self, model, inputs, delta):
        if delta is None:
            return model(**inputs).logits
        wrapped = self.wrap(model)
        with wrapped.trace(dict(inputs)):
            envoy = self._envoy(wrapped, delta.module_name)
            envoy.output = delta.edit(envoy.output)
            logits = wrapped.output.logits.save()
        return logits

    def generate(self, model, inputs, delta, **kwargs):
        if delta is None:
            return model.generate(**inputs, **kwargs)
        wrapped = self.wrap(model)
        envoy = self._envoy(wrapped, delta.module_name)
        with warnings.catch_warnings():
            # An open `tracer.all()` loop ends when generation ends; nnsight warns about it.
            warnings.simplefilter("ignore")
            with wrapped.generate(**kwargs) as tracer:
                with tracer.invoke(dict(inputs)):
                    if delta.every_call:
                        for _step in tracer.all():
                            envoy.output = delta.edit(envoy.output)
                    else:
                        envoy.output = delta.edit(envoy.output)
                with tracer.invoke():
                    result = tracer.result.save()
        return result


@contextmanager
def record_outputs(model: nn.Module, module_names: list[str]) -> Iterator[dict[str, Tensor]]:
    """Record the outputs of ``module_names`` during the forward calls inside the block, with
    their gradient. Reads only. A hook registered later (an intervention's) runs after these,
    so a module that is also being edited is recorded *before* its edit."""
    got: dict[str, Tensor] = {}

    def make(name: str):
        def hook(_module: nn.Module, _inp: Any, output: Any) -> None:
            got[name] = output[0] if isinstance(output, tuple) else output
        return hook

    handles = [model.get_submodule(n).register_forward_hook(make(n)) for n in module_names]
    try:
        yield got
    finally:
        for h in handles:
            h.remove()


def capture(model: nn.Module, inputs: dict[str, Tensor], module_name: str) -> Tensor:
    """Run one forward (no gradient) and return ``module_name``'s output ``[B, T, H]``.

    Reading is done with a plain hook on either backend: it changes nothing.
    """
    got: list[Tensor] = []

    def hook(_module: nn.Module, _inp: Any, output: Any) -> None:
        got.append(output[0] if isinstance(output, tuple) else output)

    handle = model.get_submodule(module_name).register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        handle.remove()
    return got[0]


def get_backend(name: str, tokenizer: Any = None) -> Backend:
    """Return a fresh backend by name (``tokenizer``: the model's, needed by nnsight).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name == "nnsight":
        return NNsightBackend(tokenizer)
    if name == "hooks":
        return HookBackend()
    raise ValueError(f"backend={name!r} is not known (allowed: {', '.join(BACKENDS)})")
