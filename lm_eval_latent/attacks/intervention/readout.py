"""Reading a module's output without changing it: `capture`, `run_until`, `record_outputs`,
`output_width`; and `position_ids`, the positions ``generate`` gives a left-padded batch.

Reading is done with plain forward hooks on either backend, always removed in ``finally``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from lm_eval_latent.attacks.intervention.delta import hidden_of


def position_ids(attention_mask: Tensor) -> Tensor:
    """Positions that skip left padding, as ``generate`` computes them."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


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
