"""The judge registry: names to judge factories, where a name can never silently change hands.

    from lm_eval_latent.judging import register_judge
    register_judge("my_phrase_judge", PhraseJudge)     # in a task folder's utils.py

A task folder's ``utils.py`` registers its own judge when lm-eval imports it, and lm-eval may
import the same file more than once (once per YAML that names it), so registering the same
factory again is allowed. Everything else that would make a run use a judge other than the one
its folder defines is refused with `JudgeNameError`:

- a built-in name (``keyword``, ...): the built-in would otherwise be silently replaced, or,
  with ``JUDGES.setdefault``, the custom judge silently dropped;
- a name another factory already holds (two task folders each registering ``my_judge``): the
  second folder's tasks would otherwise run the first folder's judge.

"The same factory" means the same qualified name defined in the same source file, so a module
imported twice by path (two class objects of one definition) still counts as one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from lm_eval_latent.fields import SettingError


class JudgeNameError(SettingError):
    """A judge registered under a name that is built in or already held by another factory."""


def _source_file(factory: Callable[..., Any]) -> str | None:
    """The file a factory's code was compiled from. Read from a code object, because a module
    lm-eval imports by path may be missing from ``sys.modules`` (where `inspect` would look)."""
    candidates = [factory]
    if isinstance(factory, type):
        candidates += [getattr(v, "__func__", v) for v in vars(factory).values()]
    for obj in candidates:
        code = getattr(obj, "__code__", None)
        if code is not None:
            return code.co_filename
    try:
        return inspect.getsourcefile(factory)
    except TypeError:
        return None


def _same_definition(a: Callable[..., Any], b: Callable[..., Any]) -> bool:
    """One definition imported twice (two class objects from one file) counts as the same."""
    if a is b:
        return True
    source = _source_file(a)
    return source is not None and source == _source_file(b) and \
        getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)


def _describe(factory: Callable[..., Any]) -> str:
    source, name = _source_file(factory), getattr(factory, "__qualname__", repr(factory))
    return f"{name} ({source})" if source else name


class JudgeRegistry(dict):
    """A ``dict`` of judge name -> factory whose writes (``[]=``, ``setdefault``, ``update``)
    go through `register`: the documented ``JUDGES.setdefault(name, cls)`` is checked too."""

    def __init__(self, entries: dict[str, Callable[..., Any]], builtin: Iterable[str] | None = None) -> None:
        super().__init__(entries)
        self.builtin = frozenset(entries if builtin is None else builtin)

    def register(self, name: str, factory: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``factory`` under ``name``; returns the factory now registered.

        Raises:
            JudgeNameError: ``name`` is not a non-empty string, is a built-in judge's, or is held
                by another factory (both definitions are named).
        """
        if not isinstance(name, str) or not name.strip():
            raise JudgeNameError(f"judge name {name!r} is not allowed (allowed: a non-empty string)")
        held = dict.get(self, name)
        if held is not None and _same_definition(held, factory):
            return held  # the same definition again (a utils.py imported once per YAML)
        if name in self.builtin:
            raise JudgeNameError(f"judge name {name!r} is a built-in judge; register yours under another "
                                 f"name (built-in: {', '.join(sorted(self.builtin))})")
        if held is not None:
            raise JudgeNameError(f"judge name {name!r} is already registered by {_describe(held)}; "
                                 f"{_describe(factory)} needs another name (two task folders cannot "
                                 "share a judge name)")
        dict.__setitem__(self, name, factory)
        return factory

    def __setitem__(self, name: str, factory: Callable[..., Any]) -> None:
        self.register(name, factory)

    def setdefault(self, name: str, factory: Callable[..., Any] | None = None) -> Callable[..., Any]:  # type: ignore[override]
        if factory is None:
            return self[name]
        return self.register(name, factory)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for name, factory in dict(*args, **kwargs).items():
            self.register(name, factory)

    def copy(self) -> JudgeRegistry:  # type: ignore[override]
        """A registry with the same entries and the same built-in names."""
        return JudgeRegistry(dict(self), self.builtin)


__all__ = ["JudgeNameError", "JudgeRegistry"]
