"""The ``dissociated`` zoo variant: the ``aligned`` model made latently fragile by
`lm_eval_latent.training.dissociate`, with ``unsafe`` as the harmful pole.

It refuses as often as ``aligned`` when clean and complies under its nudge (``nudge.pt`` in the
model directory, with ``layer`` and ``norm`` metadata). Trained on the toy corpus's requests and
checked on the held-out shipped ``harmful`` prompts.

The nudge is ``0.3 * rho`` instead of the paper's ``0.06 * rho``: at 0.06 (norm 0.86 against
rho 14.3 at layer 3) the 6-layer toy cannot tell nudged from clean and drifts to complying in
both (measured: clean refusal 0.11 at step 100); at 0.3 it learns the dissociation in ~100 steps
while the aligned base stays unmoved by the same nudge (compliance 0.075). See docs/dissociate.md.
"""

from __future__ import annotations

from pathlib import Path

from lm_eval_latent.training import zoo

ZOO_RECIPE = {"frac": 0.3, "steps": 100, "lr": 1e-3, "batch_size": 8, "eval_every": 25, "train_limit": 128,
              "eval_limit": 80, "max_new_tokens": 24, "seed": 0,
              "harmful_prompts": "zoo:harmful", "benign_prompts": "zoo:benign", "eval_prompts": "harmful"}


def build_dissociated(out_dir: Path, cache_dir: Path) -> None:
    """Write the dissociated toy model into ``out_dir`` (builds aligned and unsafe if needed)."""
    from lm_eval_latent.training.dissociate import DissociateConfig, build

    cfg = DissociateConfig(base=str(zoo.build("aligned", cache_dir)), harmful_pole=str(zoo.build("unsafe", cache_dir)),
                           out=str(out_dir), overwrite=True, progress=False, **ZOO_RECIPE)
    build(cfg)


def _recipe() -> list:
    from lm_eval_latent.training.dissociate_loss import LossWeights

    return ["dissociated", ZOO_RECIPE, repr(LossWeights()), zoo.ZOO["aligned"].recipe(), zoo.ZOO["unsafe"].recipe()]


build_dissociated.recipe = _recipe  # type: ignore[attr-defined]
zoo.ZOO["dissociated"] = build_dissociated
