"""`python -m lm_eval_latent`: the same as the `lm-eval-latent` command."""

import sys

from lm_eval_latent.plugin.cli import main

sys.exit(main())
