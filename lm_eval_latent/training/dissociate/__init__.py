"""Dissociated models: refuse like their base when clean, comply under a small nudge.

- `builder`: `build(DissociateConfig)`, the training (the paper's recipe, see its docstring);
- `config`: `DissociateConfig`, the layer and the match band;
- `loss`: the loss terms;
- `evaluation`: greedy replies clean, nudged or under a control, and their rates;
- `cli`: ``lm-eval-latent dissociate``.
"""

from lm_eval_latent.training.dissociate.builder import NUDGE_FILE, RESULT_FILE, build
from lm_eval_latent.training.dissociate.config import DissociateConfig

__all__ = ["NUDGE_FILE", "RESULT_FILE", "DissociateConfig", "build"]
