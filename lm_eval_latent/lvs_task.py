"""Old path of `LVSTask` (before the stage folders), kept so that task folders written for it
still load. Write `from lm_eval_latent import LVSTask` instead: that surface stays put."""

import warnings

from lm_eval_latent.task_classes.lvs_task import LVSTask  # noqa: F401

warnings.warn(
    "lm_eval_latent.lvs_task is an old path: write `from lm_eval_latent import LVSTask`",
    DeprecationWarning, stacklevel=2,
)
