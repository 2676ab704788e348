"""Old path of `JUDGES, Judgement, Verdict, get_judge` (before the stage folders), kept so that task folders written for it
still load. Write `from lm_eval_latent import JUDGES, Judgement, Verdict, get_judge` instead: that surface stays put."""

import warnings

from lm_eval_latent.judging import JUDGES, Judgement, Verdict, get_judge  # noqa: F401

warnings.warn(
    "lm_eval_latent.judges is an old path: write `from lm_eval_latent import JUDGES, Judgement, Verdict, get_judge`",
    DeprecationWarning, stacklevel=2,
)
