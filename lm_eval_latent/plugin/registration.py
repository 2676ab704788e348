"""Registering `latent_hf` and our task folder with lm-eval.

Called by the start-up hook (`_hook.py`) right after lm-eval imports ``lm_eval.models`` or
``lm_eval.tasks``, and by ``lm-eval-latent`` / ``python -m lm_eval_latent`` directly. Everything
here is idempotent.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

MODEL_NAME = "latent_hf"
MODEL_TARGET = "lm_eval_latent.model.latent_hf:LatentHFLM"


def tasks_dir() -> Path:
    """The folder holding our lm-eval task YAMLs (``tasks/`` in a checkout, shipped in the wheel)."""
    import lm_eval_latent.tasks as tasks_pkg

    return Path(tasks_pkg.__file__).resolve().parent


def interventions_dir() -> Path:
    """The folder holding our intervention and attack recipes (``interventions/``)."""
    import lm_eval_latent.interventions as pkg

    return Path(pkg.__file__).resolve().parent


def on_models_imported(_module: Any = None) -> None:
    """Register ``latent_hf`` as a lazy placeholder (the class is imported on first use)."""
    from lm_eval.api.registry import model_registry

    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME, target=MODEL_TARGET)


def _with_our_tasks(include_path: Any) -> list[str]:
    ours = str(tasks_dir())
    if include_path is None:
        paths: list[str] = []
    elif isinstance(include_path, (list, tuple)):
        paths = [str(p) for p in include_path]
    else:
        paths = [str(include_path)]
    # Ours first: later include paths override earlier ones, so a user's own folder wins.
    return [ours] + [p for p in paths if Path(p).resolve() != Path(ours)]


def on_tasks_imported(module: Any = None) -> None:
    """Make every ``TaskManager`` also index our task folder."""
    if module is None:
        import lm_eval.tasks as module
    manager_cls = module.TaskManager
    if getattr(manager_cls.__init__, "_lm_eval_latent", False):
        return
    original = manager_cls.__init__

    @functools.wraps(original)
    def __init__(self, verbosity=None, include_path=None, include_defaults=True, metadata=None, **kwargs):  # type: ignore[no-untyped-def]
        original(
            self,
            verbosity=verbosity,
            include_path=_with_our_tasks(include_path),
            include_defaults=include_defaults,
            metadata=metadata,
            **kwargs,
        )

    __init__._lm_eval_latent = True  # type: ignore[attr-defined]
    manager_cls.__init__ = __init__


def register() -> None:
    """Register the model and the tasks now (used by our own CLI and by tests)."""
    import lm_eval.models  # noqa: F401  (fills lm-eval's registry first)
    import lm_eval.tasks

    on_models_imported()
    on_tasks_imported(lm_eval.tasks)
