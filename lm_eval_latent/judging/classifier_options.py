"""Options shared by the judges and scorers that run a Hugging Face model, and how task metadata
names them.

Task metadata (`--metadata '{...}'`) carries one flat key per option, prefixed by whom it is for:
``judge_model`` goes to the judge, ``judge2_model`` to the second judge, ``scorer_model`` to the
scorer. `options_from_metadata` is the one place that reads them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DTYPES = ("auto", "float32", "float16", "bfloat16")


def check_classifier_options(model: object, batch_size: int | str, dtype: str) -> tuple[str, int]:
    """Validate a classifier's ``model``, ``batch_size`` and ``dtype`` options.

    Returns:
        The model id as a string and the batch size as an int (``"8"`` from the CLI is accepted).

    Raises:
        ValueError: naming the option, the bad value and what is allowed.
    """
    if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
        raise ValueError(f"`model` should be a Hub id or a local path, got {model!r}")
    batch_size = positive_int("batch_size", batch_size)
    if dtype not in DTYPES:
        raise ValueError(f"`dtype`={dtype!r} is not allowed (allowed: {', '.join(DTYPES)})")
    return str(model), batch_size


def positive_int(field: str, value: object) -> int:
    """``value`` as a positive int (``"8"`` from the CLI is accepted); ValueError naming ``field``."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{field}` should be a positive integer, got {value!r}")
    return value


def options_from_metadata(metadata: Mapping[str, Any] | None, prefix: str) -> dict[str, Any]:
    """Every ``<prefix>_<option>`` key of task metadata, keyed by option.

    ``{"judge_model": "/m", "judge_batch_size": 4}`` with prefix "judge" gives
    ``{"model": "/m", "batch_size": 4}``; keys set to None are left out. All such keys are
    passed on, so a misspelt one (``judge_modle``) fails when the judge is built instead of being
    ignored.
    """
    metadata = metadata or {}
    start = f"{prefix}_"
    return {key[len(start):]: value for key, value in metadata.items()
            if isinstance(key, str) and key.startswith(start) and len(key) > len(start)
            and value is not None}


def freeze(field: str, value: Any) -> Any:
    """A hashable copy of an option value (mappings and lists become tuples), for cache keys.

    Raises:
        ValueError: for a value that is not a string, number, bool, None, list or mapping of them.
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return tuple((str(k), freeze(field, v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return tuple(freeze(field, v) for v in value)
    raise ValueError(f"`{field}`={value!r} is not an option value (allowed: a string, a number, "
                     "a bool, or a list or mapping of them)")
