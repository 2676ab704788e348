"""Checking `latent_hf`'s ``--model_args`` before anything loads: every key must be known.

latent_hf takes its own perturbation settings (`config.PerturbConfig`), every argument of lm-eval's
``hf`` model, and the ``from_pretrained`` keywords HFLM forwards; a typo anywhere else would be
silently ignored by ``from_pretrained``, so it is refused here with the closest known name.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from lm_eval.models.huggingface import HFLM

from lm_eval_latent.fields import SettingError
from lm_eval_latent.model.config import PerturbConfig
from lm_eval_latent.task_classes.protocol import HF_LOAD_KWARGS, model_arg_names

_HFLM_ARGS = frozenset(p for p in inspect.signature(HFLM.__init__).parameters if p not in ("self", "kwargs"))


def known_model_args() -> frozenset[str]:
    """Every ``--model_args`` key `latent_hf` accepts (lm-eval merges them into task metadata,
    where the tasks tell them from their own settings)."""
    return model_arg_names()


def check_model_args(kwargs: dict[str, Any]) -> None:
    """Refuse model_args that neither HFLM, from_pretrained nor latent_hf know.

    Raises:
        ValueError: naming the unknown argument, the closest known one and the lists.
    """
    ours = set(PerturbConfig.field_names())
    known = known_model_args()
    for key in kwargs:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingError(
                f"unknown model arg {key!r}{hint}. latent_hf takes: {', '.join(sorted(ours))}; "
                f"plus every lm-eval `hf` argument ({', '.join(sorted(_HFLM_ARGS))}) and these "
                f"from_pretrained keywords: {', '.join(sorted(HF_LOAD_KWARGS))}"
            )
