"""One warning per model: a chat model run without ``--apply_chat_template``.

A chat model asked a bare prompt answers outside the format it was tuned on: it refuses less and
its latent attack aims at the wrong positions, so refusal and LVS numbers change silently (on the
real pair, see docs/lvs.md). lm-eval tells a task whether the template was applied; the model's
folder tells whether it has one. Only local folders are read (a Hub id is not fetched for this).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_WARNED: set[str] = set()  # models already looked at (warned or not): one look per model


def has_chat_template(model_dir: str | Path) -> bool:
    """Whether a local model folder ships a chat template (``chat_template.jinja`` or the
    ``chat_template`` entry of ``tokenizer_config.json``); False for anything else."""
    folder = Path(model_dir).expanduser()
    if (folder / "chat_template.jinja").is_file():
        return True
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(config.get("chat_template")) if isinstance(config, dict) else False


def warn_without_template(metadata: Mapping[str, Any] | None, applied: bool | None, task: str) -> None:
    """Log once per model when ``applied`` is False but the model (``pretrained`` in the task
    metadata, where lm-eval puts the model arguments) has a chat template."""
    model = (metadata or {}).get("pretrained")
    if applied or applied is None or not isinstance(model, str) or model in _WARNED:
        return
    _WARNED.add(model)  # requests are built per document: read the folder once, not per row
    if has_chat_template(model):
        log.warning("%s: %s is a chat model but the run did not pass --apply_chat_template: it sees bare "
                    "prompts, so refusal and LVS measure it out of its format (add --apply_chat_template)",
                    task, model)
