"""Options shared by the judges and scorers that run a Hugging Face classifier model."""

from __future__ import annotations

import os

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
    if isinstance(batch_size, str) and batch_size.strip().isdigit():
        batch_size = int(batch_size)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` should be a positive integer, got {batch_size!r}")
    if dtype not in DTYPES:
        raise ValueError(f"`dtype`={dtype!r} is not allowed (allowed: {', '.join(DTYPES)})")
    return str(model), batch_size
