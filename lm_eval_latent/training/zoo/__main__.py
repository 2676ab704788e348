"""``python -m lm_eval_latent.training.zoo {list,path,build,ship} ...`` (same as ``lm-eval-latent zoo``)."""

import sys

from lm_eval_latent.commands.zoo import main

sys.exit(main())
