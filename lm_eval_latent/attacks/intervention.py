"""Adding a delta to one module's output during a forward or a generate call.

This is the only module that touches nnsight or forward hooks. Two backends do the same thing:

- ``nnsight`` (default): wraps the loaded model once in
  ``nnsight.modeling.transformers.TransformersModel`` and edits ``<layer>.output`` in a trace.
- ``hooks``: a plain ``register_forward_hook`` that is always removed afterwards. It is the
  reference the nnsight path is tested against.

A delta is one vector (``[H]``, or ``[B, 1, H]`` one per row) added at every position of every
call with ``positions="all"`` or at the prompt forward only with ``positions="prompt"``; or one
vector per prompt position ``[B, T, H]``, added to the prompt forward only (the generated tokens
see it through the KV cache, as in the paper's latent attack). A direction can also be projected
out (ablation) before anything is added.

Some decoder layers return a tensor, others (Falcon, Bloom, MPT) a tuple whose first item is the
hidden state: `hidden_of` and `LayerDelta.edit` are the one place that tells them apart.

An attack that runs many forward/backward passes with the delta at layer l need not run the
layers below l each time: `split_at` runs them once, keeps layer l's output and stands in for
them with it (the model still builds its own masks and position embeddings). Those steps add the
delta in the stand-in, through `LayerDelta.edit`, on either backend.
"""

from __future__ import annotations

import logging
import warnings
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

import torch
from torch import Tensor, nn

Positions = Literal["prompt", "all"]
POSITIONS: tuple[str, ...] = get_args(Positions)
BackendName = Literal["nnsight", "hooks"]
BACKENDS: tuple[str, ...] = get_args(BackendName)
log = logging.getLogger(__name__)


def hidden_of(output: Any) -> Tensor:
    """The hidden state ``[B, T, H]`` in a module's output (a tensor, or a tuple led by one)."""
    return output[0] if isinstance(output, tuple) else output


def with_hidden(output: Any, hidden: Tensor) -> Any:
    """``output`` with its hidden state replaced by ``hidden``, in the same structure."""
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


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

    def edit(self, output: Any) -> Any:
        """The edited version of a module's output (a ``[B, T, H]`` tensor or a tuple led by
        one), in the same structure; the input is untouched."""
        return with_hidden(output, self._edit(hidden_of(output)))

    def _edit(self, output: Tensor) -> Tensor:
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
            return delta.edit(output) if first or delta.every_call else output

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
            got[name] = hidden_of(output)
        return hook

    handles = [model.get_submodule(n).register_forward_hook(make(n)) for n in module_names]
    try:
        yield got
    finally:
        for h in handles:
            h.remove()


class _Stop(Exception):
    """Raised by a hook to end a forward once the module of interest has run."""


def run_until(model: nn.Module, inputs: dict[str, Tensor], module_name: str) -> Any:
    """Run a forward (no gradient) only as far as ``module_name``; return its raw output.

    The layers above it are not run: a hook stops the forward once the module has returned.
    """
    got: list[Any] = []

    def hook(_module: nn.Module, _inp: Any, output: Any) -> None:
        got.append(output)
        raise _Stop

    handle = model.get_submodule(module_name).register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(**inputs)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not got:
        raise ValueError(f"{module_name} did not run during the forward of {type(model).__name__}")
    return got[0]


def capture(model: nn.Module, inputs: dict[str, Tensor], module_name: str) -> Tensor:
    """Run a forward (no gradient) up to ``module_name`` and return its output ``[B, T, H]``.

    Reading is done with a plain hook on either backend: it changes nothing.
    """
    return hidden_of(run_until(model, inputs, module_name))


_widths: weakref.WeakKeyDictionary[nn.Module, dict[str, int]] = weakref.WeakKeyDictionary()


def output_width(model: nn.Module, module_name: str) -> int:
    """Width ``H`` of ``module_name``'s output, probed once per model with a one-token forward.

    Read from the module itself because it is not always the embedding width (OPT-350m projects
    512-wide embeddings into 1024-wide decoder layers).
    """
    known = _widths.setdefault(model, {})
    if module_name not in known:
        device = next(model.parameters()).device
        one = torch.zeros(1, 1, dtype=torch.long, device=device)
        known[module_name] = int(capture(model, {"input_ids": one}, module_name).shape[-1])
    return known[module_name]


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

    def forward(self, delta: LayerDelta | None) -> Tensor:
        """Logits ``[B, T, V]`` with ``delta`` added at layer l (None: the clean logits)."""
        originals = [self.layers[i] for i in range(self.index + 1)]
        self.stand_ins[-1].delta = delta
        try:
            for i, stand_in in enumerate(self.stand_ins):
                self.layers[i] = stand_in
            return self.model(**self.inputs).logits
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
    stand-ins, None is returned from then on and a warning says so once.
    """
    parent_name, _, last = module_name.rpartition(".")
    layers = model.get_submodule(parent_name) if parent_name else None
    if not last.isdigit() or not isinstance(layers, nn.ModuleList):
        return None
    checked = _split_ok.setdefault(model, {})
    if checked.get(module_name) is False:
        return None
    split = SplitForward(model, inputs, layers, int(last), run_until(model, inputs, module_name))
    if module_name not in checked:
        checked[module_name] = _same_as_full(model, inputs, split)
        if not checked[module_name]:
            log.warning(
                "%s: cannot skip the layers below %s (the split model does not give the full "
                "model's logits); every attack step runs the full model. Said once.",
                type(model).__name__, module_name,
            )
            return None
    return split


def _same_as_full(model: nn.Module, inputs: dict[str, Tensor], split: SplitForward) -> bool:
    with torch.no_grad():
        full = model(**inputs).logits
        try:
            part = split.forward(None)
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
