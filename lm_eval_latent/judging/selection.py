"""Which judge a task runs, read from its metadata, and the one cache of built judges.

    spec = JudgeSpec.from_metadata({"judge": "harmbench", "judge_model": "/m"})
    spec.build()      # the same object for every task, second judge or scorer naming it

Metadata keys: ``judge`` (a name from `JUDGES`) with ``judge_<option>`` keys, and the same with
``judge2`` for a second judge run beside the first (judge agreement). The judge-based scorers
build their judge through here too, so ``judge=harmbench, scorer=judge_prob`` holds one judge;
model weights are shared further down, in `hf_loader`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lm_eval_latent.fields import SettingError
from lm_eval_latent.judging.base import Judge
from lm_eval_latent.judging.classifier_options import freeze, options_from_metadata


@dataclass(frozen=True)
class JudgeSpec:
    """A judge name and its options (hashable), validated on construction.

    Attributes:
        name: A key of `lm_eval_latent.judging.JUDGES`.
        options: (option, value) pairs passed to the judge; mappings and lists frozen to tuples.
        key: The metadata key the name came from ("judge", "judge2", "scorer_judge"), for errors.
    """

    name: str
    options: tuple[tuple[str, Any], ...] = ()
    key: str = "judge"

    def __post_init__(self) -> None:
        from lm_eval_latent.judging import JUDGES

        known = ", ".join(sorted(JUDGES))
        if not isinstance(self.name, str):
            raise SettingError(f"--metadata {self.key}={self.name!r} is not a judge name: give one "
                             f"name as a string (known: {known})")
        if self.name not in JUDGES:
            import difflib

            close = difflib.get_close_matches(self.name, sorted(JUDGES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingError(f"--metadata {self.key}={self.name!r} is not a known judge{hint} "
                               f"(known: {known})")
        frozen = tuple(sorted((str(k), freeze(f"{self.key}_{k}", v)) for k, v in self.options))
        object.__setattr__(self, "options", frozen)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None, key: str = "judge",
                      default: str | None = None) -> JudgeSpec | None:
        """The judge named by ``metadata[key]`` with its ``<key>_<option>`` options.

        Args:
            metadata: Task metadata (YAML ``metadata`` merged with ``--metadata``).
            key: "judge" for the task's judge, "judge2" for the second one.
            default: The name when ``key`` is absent; None returns None then.

        Raises:
            ValueError: naming the key, the bad value and what is allowed.
        """
        from lm_eval_latent.judging import DEFAULT_JUDGE

        metadata = metadata or {}
        if key == "judge" and default is None:
            default = DEFAULT_JUDGE
        name = metadata.get(key)
        if name is None or name == "":
            if default is None:
                return None
            name = default
        return cls(name, tuple(options_from_metadata(metadata, key).items()), key)

    def build(self) -> Judge:
        """The judge, built once per process for each (name, options).

        Raises:
            ValueError: for an option the judge does not take or a bad option value.
        """
        try:
            return _build(self.name, self.options)
        except TypeError as err:
            given = ", ".join(f"{self.key}_{k}" for k, _ in self.options) or "none"
            raise SettingError(f"--metadata: judge {self.name!r} does not take the options given "
                             f"({given}): {err}") from None


@functools.lru_cache(maxsize=None)
def _build(name: str, options: tuple[tuple[str, Any], ...]) -> Judge:
    from lm_eval_latent.judging import get_judge

    return get_judge(name, **dict(options))


def clear_cache() -> None:
    """Forget every built judge (tests; a judge registered under a reused name)."""
    _build.cache_clear()
