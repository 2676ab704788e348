"""`lm-eval-latent demo`: the main job on the embedded default, offline, in a few minutes.

The demo itself (its plans, runs, report and gate) is `lm_eval_latent.plugin.demo`; this is the
subcommand's entry, where every subcommand's is (`lm_eval_latent.commands.<name>.main`).
"""

from lm_eval_latent.plugin.demo import main

__all__ = ["main"]
