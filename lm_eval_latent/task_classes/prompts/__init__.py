"""The shipped offline prompt sets: JSONL rows ``{"prompt": ..., "category": ...}``.

- ``harmful``: harmful requests at category level only (no harmful content, no instructions).
- ``safe_lookalike``: safe prompts that look unsafe (XSTest-style types as the category).

Richer loading (Hub data sets, local files, validation) lives in ``lm_eval_latent.task_classes.data``.
"""

from __future__ import annotations

import json
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent


def shipped_sets() -> list[str]:
    """Names of the shipped prompt sets, sorted."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.jsonl"))


def prompt_set_path(name: str) -> Path:
    """Path of a shipped prompt set.

    Args:
        name: set name without extension, e.g. ``"harmful"``.

    Raises:
        ValueError: if no such set ships; the message lists the known ones.
    """
    path = PROMPTS_DIR / f"{name}.jsonl"
    if not path.is_file():
        raise ValueError(f"unknown prompt set {name!r} (known: {', '.join(shipped_sets())})")
    return path


def load_prompt_set(name: str) -> list[dict[str, str]]:
    """Rows of a shipped prompt set, in file order: ``[{"prompt": ..., "category": ...}, ...]``."""
    path = prompt_set_path(name)
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
