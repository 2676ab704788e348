"""lm-eval-latent: representation-level safety audits for EleutherAI's lm-evaluation-harness.

Importing this package is cheap: it imports neither torch, nnsight nor lm-eval. The model class
`latent_hf` lives in `lm_eval_latent.model.latent_hf`; see docs/discovery.md for how the stock `lm_eval`
command finds it.
"""

__version__ = "0.1.0"
