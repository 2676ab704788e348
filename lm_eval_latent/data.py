"""Old path of `load_task_dataset` (before the stage folders), kept so that task folders written for it
still load. Write `from lm_eval_latent import load_prompts` instead: that surface stays put."""

import warnings

from lm_eval_latent.task_classes.data import load_task_dataset  # noqa: F401

warnings.warn(
    "lm_eval_latent.data is an old path: write `from lm_eval_latent import load_prompts`",
    DeprecationWarning, stacklevel=2,
)
