"""``python -m lm_eval_latent.zoo build aligned unsafe [--cache-dir D]``."""

import sys

from lm_eval_latent.zoo import main

sys.exit(main())
