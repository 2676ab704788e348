"""Old path of `SafetyTask` (before the stage folders), kept so that task folders written for it
still load. Write `from lm_eval_latent import SafetyTask` instead: that surface stays put."""

import warnings

from lm_eval_latent.task_classes.safety_task import SafetyTask  # noqa: F401

warnings.warn(
    "lm_eval_latent.safety_task is an old path: write `from lm_eval_latent import SafetyTask`",
    DeprecationWarning, stacklevel=2,
)
