"""`LayerDelta`: what to change in one module's output, and where.

Some decoder layers return a tensor, others (Falcon, Bloom, MPT) a tuple whose first item is the
hidden state: `hidden_of`, `with_hidden` and `LayerDelta.edit` are the one place that tells them
apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor

Positions = Literal["prompt", "all"]
POSITIONS: tuple[str, ...] = get_args(Positions)


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
