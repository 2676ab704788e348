"""lm-eval-latent: representation-level safety audits for EleutherAI's lm-evaluation-harness.

The names below are the package's public surface for users' own task folders (a task's
``utils.py``); they stay where they are when modules move inside the package:

    from lm_eval_latent import SafetyTask, LVSTask, load_prompts
    from lm_eval_latent import JUDGES, get_judge, Judgement, Verdict   # the judge registry

Importing this package is cheap: it imports neither torch, nnsight nor lm-eval; each name is
imported on first use. The model class `latent_hf` lives in `lm_eval_latent.model.latent_hf`;
see docs/discovery.md for how the stock `lm_eval` command finds it.
"""

# No import at module level: the start-up hook (`plugin/_hook.py`) imports this package in every
# Python process, and it must cost nothing beyond what Python has loaded already.

__version__ = "0.1.0"

# public name -> (module, attribute): the one table of what users import from us.
PUBLIC: dict[str, tuple[str, str]] = {
    "SafetyTask": ("lm_eval_latent.task_classes.safety_task", "SafetyTask"),
    "LVSTask": ("lm_eval_latent.task_classes.lvs_task", "LVSTask"),
    "load_prompts": ("lm_eval_latent.task_classes.data", "load_task_dataset"),
    "JUDGES": ("lm_eval_latent.judging", "JUDGES"),
    "get_judge": ("lm_eval_latent.judging", "get_judge"),
    "Judgement": ("lm_eval_latent.judging", "Judgement"),
    "Verdict": ("lm_eval_latent.judging", "Verdict"),
}

__all__ = ["__version__", *PUBLIC]


def __getattr__(name: str) -> object:
    if name not in PUBLIC:
        raise AttributeError(f"module 'lm_eval_latent' has no attribute {name!r} (public: {', '.join(PUBLIC)})")
    import importlib

    module, attribute = PUBLIC[name]
    # Looked up each time, not cached here: the registry is the judging module's own dict.
    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted(__all__)
