"""The two ways a `LayerDelta` gets into a forward or a generate call: nnsight and hooks.

- ``nnsight`` (default): wraps the loaded model once in
  ``nnsight.modeling.transformers.TransformersModel`` and edits ``<layer>.output`` in a trace.
- ``hooks``: a plain ``register_forward_hook`` that is always removed afterwards. It is the
  reference the nnsight path is tested against.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from typing import Any, Literal, Protocol, TypeVar, get_args

from torch import Tensor, nn

from lm_eval_latent.attacks.intervention.delta import LayerDelta

BackendName = Literal["nnsight", "hooks"]
BACKENDS: tuple[str, ...] = get_args(BackendName)
T = TypeVar("T")


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

    def run(self, model: nn.Module, inputs: dict[str, Tensor], delta: LayerDelta, fn: Callable[..., T]) -> T:
        """``fn(**inputs)`` with the delta added to every forward of ``model`` that ``fn`` makes.

        ``fn`` drives the model itself (a caller's own forward or generate call, as `latent_hf`
        wraps HFLM's); ``inputs`` are the batch the delta was computed for.
        """
        ...


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

    def run(self, model, inputs, delta, fn):
        handle = self._hook(model, delta)
        try:
            return fn(**inputs)
        finally:
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

    def run(self, model, inputs, delta, fn):
        # nnsight traces any callable that drives the wrapped model: the trace hands it the
        # invoke's inputs and edits every forward of the layer it makes. The body repeats
        # `generate`'s on purpose: nnsight compiles the `with` block at the line that opens the
        # tracer, so a shared helper entered from elsewhere fails (WithBlockNotFoundError).
        wrapped = self.wrap(model)
        envoy = self._envoy(wrapped, delta.module_name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as in `generate`: an open `tracer.all()` loop
            with wrapped.trace(fn=fn) as tracer:
                with tracer.invoke(dict(inputs)):
                    if delta.every_call:
                        for _step in tracer.all():
                            envoy.output = delta.edit(envoy.output)
                    else:
                        envoy.output = delta.edit(envoy.output)
                with tracer.invoke():
                    result = tracer.result.save()
        return result


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
