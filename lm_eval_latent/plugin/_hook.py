"""Start-up hook that lets the stock `lm_eval` command find `latent_hf` and our tasks.

lm-eval 0.4.13 reads no plugin entry points. The installed ``lm_eval_latent.pth`` imports this
module when Python starts. It costs next to nothing in a process that never imports lm-eval: it
imports nothing beyond what Python has loaded already and only puts a finder on
``sys.meta_path`` that ignores every module name but two. When ``lm_eval.models`` or
``lm_eval.tasks`` is imported later, the finder lets the import run and then calls
`lm_eval_latent.plugin.registration`, which uses lm-eval's own plugin loading where the installed
lm-eval has it and otherwise registers ``latent_hf`` lazily and puts our task folder on every
``TaskManager``'s include path. Set ``LM_EVAL_LATENT_DISABLE_HOOK=1`` to turn it off.
See docs/discovery.md.
"""

import os
import sys

_TARGETS = {"lm_eval.models": "on_models_imported", "lm_eval.tasks": "on_tasks_imported"}


class _AfterImport:
    """A loader that runs the real one, then our registration (a Loader by duck typing)."""

    def __init__(self, loader, callback: str) -> None:  # type: ignore[no-untyped-def]
        self._loader = loader
        self._callback = callback

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:  # type: ignore[no-untyped-def]
        self._loader.exec_module(module)
        try:
            from lm_eval_latent.plugin import registration

            getattr(registration, self._callback)(module)
        except Exception as err:  # never break lm-eval because of the plugin
            print(f"lm-eval-latent: could not register with lm-eval ({err!r})", file=sys.stderr)


class _Finder:
    """A meta-path finder (by duck typing: importing importlib.abc would cost ~40 ms at start-up)."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[no-untyped-def]
        if fullname not in _TARGETS:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _AfterImport(spec.loader, _TARGETS[fullname])
        return spec


def install() -> None:
    """Add the finder once (idempotent)."""
    if os.environ.get("LM_EVAL_LATENT_DISABLE_HOOK"):
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
