"""Registering `latent_hf` and our task folder with lm-eval.

Called by the start-up hook (`_hook.py`) right after lm-eval imports ``lm_eval.models`` or
``lm_eval.tasks``, and by ``lm-eval-latent`` / ``python -m lm_eval_latent`` directly. Everything
here is idempotent. The task folder itself is found by `lm_eval_latent.shipped`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lm_eval_latent.shipped import tasks_dir

MODEL_NAME = "latent_hf"
MODEL_TARGET = "lm_eval_latent.model.latent_hf:LatentHFLM"


def on_models_imported(_module: Any = None) -> None:
    """Make ``latent_hf`` known to lm-eval's model registry.

    Where the installed lm-eval loads plugins itself (``lm_eval.api.registry.load_plugins``, on its
    main branch after 0.4.13), that reads our ``lm_eval.models`` entry point; otherwise, or if it
    did not register us, ``latent_hf`` is registered here as a lazy placeholder (the class is
    imported on first use).
    """
    from lm_eval.api import registry

    load_plugins = getattr(registry, "load_plugins", None)
    if load_plugins is not None and MODEL_NAME not in registry.model_registry:
        load_plugins()
    if MODEL_NAME not in registry.model_registry:
        registry.model_registry.register(MODEL_NAME, target=MODEL_TARGET)


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


# Whether TaskManagers built without an explicit ``include_defaults`` index lm-eval's own task
# YAMLs (about 14k files, most of lm-eval's start-up). `lm-eval-latent` turns it off for runs
# that only name our tasks or tasks under --include_path (see `builtin_tasks_indexed`).
_INDEX_BUILTIN = [True]


@contextlib.contextmanager
def builtin_tasks_indexed(flag: bool) -> Iterator[None]:
    """While inside, TaskManagers index lm-eval's built-in tasks only when ``flag`` is true."""
    saved = _INDEX_BUILTIN[0]
    _INDEX_BUILTIN[0] = flag
    try:
        yield
    finally:
        _INDEX_BUILTIN[0] = saved


def on_tasks_imported(module: Any = None) -> None:
    """Make every ``TaskManager`` also index our task folder."""
    if module is None:
        import lm_eval.tasks as module
    manager_cls = module.TaskManager
    if getattr(manager_cls.__init__, "_lm_eval_latent", False):
        return
    original = manager_cls.__init__

    @functools.wraps(original)
    def __init__(self, verbosity=None, include_path=None, include_defaults=None, metadata=None, **kwargs):  # type: ignore[no-untyped-def]
        original(
            self,
            verbosity=verbosity,
            include_path=_with_our_tasks(include_path),
            include_defaults=_INDEX_BUILTIN[0] if include_defaults is None else include_defaults,
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
