"""Old home of the ``zoo`` command, now `lm_eval_latent.commands.zoo` (``lm-eval-latent zoo``).

Kept for `cpu_name`, which `training/smollm2/ship.py` imports from here; its home is
`lm_eval_latent.training.zoo.ship`.
"""

from lm_eval_latent.training.zoo.ship import cpu_name  # noqa: F401
