"""The ``dissociated`` zoo variant: the ``aligned`` model made latently fragile by
`lm_eval_latent.training.dissociate`, with ``unsafe`` as the harmful pole.

It refuses as often as ``aligned`` when clean and complies under its nudge (``nudge.pt`` in the
model directory, with ``layer`` and ``norm`` metadata). Trained on the toy corpus's requests and
checked on the held-out shipped ``harmful`` prompts.

The nudge is ``0.3 * rho`` instead of the paper's ``0.06 * rho``: at 0.06 (norm 0.86 against
rho 14.3 at layer 3) the 6-layer toy cannot tell nudged from clean and drifts to complying in
both (measured: clean refusal 0.11 at step 100); at 0.3 it learns the dissociation in ~100 steps
while the aligned base stays unmoved by the same nudge (compliance 0.075). See docs/dissociate.md.

250 steps, not 100: on the machine that built the shipped models (its ``aligned`` has rho 20.7 at
layer 3, not 14.3) the model first drifts to complying both ways (clean refusal 0.00 at step 25,
0.55 at step 100) and only separates the two later (0.84 at 175, 0.96 at 225, kept).

This module only describes the build; the zoo (``lm_eval_latent.training.zoo``) registers it and
hands it the folders of ``aligned`` and ``unsafe``, so nothing here imports the zoo back.
"""

from __future__ import annotations

import json
from pathlib import Path

ZOO_RECIPE = {"frac": 0.3, "steps": 250, "lr": 1e-3, "batch_size": 8, "eval_every": 25, "train_limit": 128,
              "eval_limit": 80, "max_new_tokens": 24, "seed": 0,
              "harmful_prompts": "zoo:harmful", "benign_prompts": "zoo:benign", "eval_prompts": "harmful"}
# Modules whose code decides the dissociated weights (their source goes into the cache key).
DISSOCIATED_SOURCES = (
    "lm_eval_latent.training.zoo.dissociated", "lm_eval_latent.training.dissociate.builder",
    "lm_eval_latent.training.dissociate.config", "lm_eval_latent.training.dissociate.loss",
    "lm_eval_latent.training.dissociate.evaluation",
    "lm_eval_latent.training.finetune.sft", "lm_eval_latent.training.finetune.data",
    "lm_eval_latent.attacks.intervention.delta",
    "lm_eval_latent.attacks.intervention.backends", "lm_eval_latent.attacks.intervention.readout",
    "lm_eval_latent.attacks.directions", "lm_eval_latent.attacks.budget",
    "lm_eval_latent.judging.keyword", "lm_eval_latent.chat", "lm_eval_latent.model.layers",
    "lm_eval_latent.layer_spec",
)


def write_dissociated(out_dir: Path, cache_dir: Path, needs: dict[str, Path]) -> None:
    """Write the dissociated toy model into ``out_dir`` from ``needs["aligned"]`` and ``needs["unsafe"]``."""
    from lm_eval_latent.training.dissociate import RESULT_FILE, build
    from lm_eval_latent.training.dissociate.config import DissociateConfig

    cfg = DissociateConfig(base=str(needs["aligned"]), harmful_pole=str(needs["unsafe"]), out=str(out_dir),
                           overwrite=True, progress=False, **ZOO_RECIPE)
    build(cfg)
    # The summary names the zoo variants, not this machine's cache folders.
    result = out_dir / RESULT_FILE
    summary = json.loads(result.read_text())
    summary.update(base="zoo:aligned", harmful_pole="zoo:unsafe")
    result.write_text(json.dumps(summary, indent=2))


def dissociated_recipe() -> list:
    """The settings that decide the dissociated weights (for the cache key)."""
    from lm_eval_latent.training.dissociate.loss import LossWeights

    return ["dissociated", ZOO_RECIPE, repr(LossWeights())]
