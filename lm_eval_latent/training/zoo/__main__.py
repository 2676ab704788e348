"""``python -m lm_eval_latent.training.zoo build aligned unsafe [--cache-dir D]``."""

import sys

from lm_eval_latent.training.zoo import main

sys.exit(main())
