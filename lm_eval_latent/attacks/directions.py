"""Unit directions in a layer's activation space: random, loaded from a file, saved to a file.

A direction file is a ``.pt`` (a tensor, or a dict with a ``"direction"`` tensor and optional
metadata), a ``.npy`` or a ``.json`` list of floats. Only the direction is used; its norm is
discarded, the budget sets the length.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from lm_eval_latent.fields import SettingError, SettingFileNotFoundError


def random_direction(hidden_size: int, seed: int) -> Tensor:
    """A unit vector drawn from a seeded Gaussian (the same seed gives the same vector)."""
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.randn(hidden_size, generator=gen, dtype=torch.float32)
    return v / v.norm()


def unit(v: Tensor, field: str = "direction") -> Tensor:
    """``v / ||v||``; refuses zero or non-finite vectors."""
    norm = v.float().norm()
    if not torch.isfinite(norm) or norm == 0:
        raise SettingError(f"{field} has norm {float(norm)}; a direction needs a finite, non-zero norm")
    return v.float() / norm


def load_direction(path: str | Path, hidden_size: int | None, field: str = "direction") -> Tensor:
    """Load a direction file and return a unit vector of size ``hidden_size`` (any size if None).

    Raises:
        SettingFileNotFoundError: when the file is missing (a FileNotFoundError too).
        ValueError: when the file holds no vector of the model's hidden size.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise SettingFileNotFoundError(f"{field}={str(path)!r}: no such file (give a .pt, .npy or .json vector)")
    what = "a .pt tensor (or a dict with a 'direction' tensor), a .npy array or a .json list of floats"
    try:
        if p.suffix == ".npy":
            import numpy as np

            v = torch.from_numpy(np.load(p, allow_pickle=False))
        elif p.suffix == ".json":
            v = torch.tensor(json.loads(p.read_text(encoding="utf-8")), dtype=torch.float32)
        else:
            obj = torch.load(p, map_location="cpu", weights_only=True)
            v = obj.get("direction") if isinstance(obj, dict) else obj
    except Exception as err:  # noqa: BLE001 - torch.load, numpy and json each raise their own kinds
        raise SettingError(f"{field}={str(path)!r} is not a direction file ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); expected {what}") from None
    if not isinstance(v, Tensor):
        raise SettingError(f"{field}={str(path)!r} holds no tensor (found {type(v).__name__}); expected {what}")
    v = v.squeeze()
    if v.dim() != 1 and hidden_size is None:
        raise SettingError(f"{field}={str(path)!r} has shape {tuple(v.shape)}; a vector (1-d) is needed")
    if v.dim() != 1 or (hidden_size is not None and v.shape[0] != hidden_size):
        raise SettingError(
            f"{field}={str(path)!r} has shape {tuple(v.shape)}; the perturbed layer's width is "
            f"{hidden_size}, so a vector of shape ({hidden_size},) is needed"
        )
    return unit(v, field)


def is_direction_file(path: str | Path) -> bool:
    """Whether ``path`` is a direction written by `save_direction` (what ``--overwrite`` may replace)."""
    try:
        obj = torch.load(Path(path).expanduser(), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not ours
        return False
    return isinstance(obj, dict) and isinstance(obj.get("direction"), Tensor)


def save_direction(path: str | Path, direction: Tensor, **meta: object) -> Path:
    """Save a direction as ``.pt`` with metadata (layer, source sets, ...), atomically."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save({"direction": direction.detach().float().cpu(), **meta}, tmp)
    tmp.replace(p)
    return p


def last_token_activations(model, tokenizer, prompts: list[str], module_name: str, *,
                           chat_template: bool = True, batch_size: int = 16) -> Tensor:
    """Activations ``[N, H]`` of ``module_name`` at each prompt's last token (float32, CPU).

    Prompts are wrapped in the tokenizer's chat template as a user turn when it has one.
    """
    from lm_eval_latent.attacks.intervention import capture, position_ids
    from lm_eval_latent.chat import left_padded, user_turns

    if chat_template:
        prompts = user_turns(tokenizer, prompts)
    # Batches of similar lengths waste little padding; rows go back to the prompts' order.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    rows = []
    device = next(model.parameters()).device
    for start in range(0, len(prompts), batch_size):
        enc = left_padded(tokenizer, [prompts[i] for i in order[start:start + batch_size]],
                          add_special_tokens=not chat_template)
        inputs = {k: v.to(device) for k, v in enc.items()}
        h = capture(model, {**inputs, "position_ids": position_ids(inputs["attention_mask"])}, module_name)
        rows.append(h[:, -1].float().cpu())  # left padding: the last column is every row's last token
    acts = torch.cat(rows)
    return acts[torch.tensor(order).argsort()]


def difference_of_means(acts_a: Tensor, acts_b: Tensor) -> Tensor:
    """``unit(mean(acts_a) - mean(acts_b))``: harmful minus harmless gives the refusal direction.

    Raises:
        ValueError: when a set is empty or the means coincide.
    """
    if len(acts_a) == 0 or len(acts_b) == 0:
        raise SettingError("difference of means needs two non-empty prompt sets")
    return unit(acts_a.mean(0) - acts_b.mean(0), "difference of means")
