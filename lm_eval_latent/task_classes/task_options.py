"""What our tasks read from their metadata, checked once when a task is built.

lm-eval hands a task one flat ``metadata`` dict: the YAML's ``metadata``, every ``--metadata``
key and every ``--model_args`` key, merged (plus its own ``config_source``). Nothing there is
checked by lm-eval, so a typo (``judeg``, ``budget``) or a setting the task does not use
(``budgets`` on ``refusal_lvs``) would have no effect at all. Here:

- a key that none of our tasks reads, that is no ``latent_hf``/``hf`` model argument, and that is
  close to one of our keys is refused, with the closest name (`SettingError`); a key far from
  all of ours is left alone, since it may be another lm-eval model's argument;
- a key of ours that this task does not read is warned about, once per task and key;
- the model judges and scorers a task will run are found now (`hf_loader.check_reachable`), not
  after the whole generation;
- ``--predict_only`` (lm-eval swaps every metric for ``bypass``) is recognised, so the tasks
  report lm-eval's ``bypass`` placeholder instead of numbers that look like real metrics.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from lm_eval_latent.fields import SettingError

log = logging.getLogger(__name__)

# Keys every one of our tasks reads (the judge keys also as `judge_<option>`, `judge2_<option>`).
COMMON_KEYS = ("version", "data_file", "prompt_column", "judge", "judge2")
COMMON_PREFIXES = ("judge_", "judge2_")
# Keys only the LVS tasks read; `budgets`/`budget_kind` only a budget sweep, `layers` a layer sweep.
LVS_KEYS = ("scorer", "eta", "lvs_sweep")
LVS_PREFIXES = ("scorer_",)
SWEEP_KEYS: dict[str, tuple[str, ...]] = {"none": (), "budget": ("budgets", "budget_kind"), "layer": ("layers",)}
# lm-eval's own addition to every task's metadata.
LM_EVAL_KEYS = ("config_source",)
# Close enough to one of our names to be its typo (`budget` -> `budgets` is 0.92, `judeg` 0.8).
TYPO_CUTOFF = 0.75
PREDICT_ONLY_METRIC = "bypass"

_warned: set[tuple[str, str]] = set()


def our_keys() -> tuple[str, ...]:
    """Every plain key one of our tasks reads."""
    return (*COMMON_KEYS, *LVS_KEYS, *(k for keys in SWEEP_KEYS.values() for k in keys))


def _model_args() -> frozenset[str]:
    from lm_eval_latent.task_classes.protocol import model_arg_names

    return model_arg_names()


def check_metadata(metadata: Mapping[str, Any] | None, task: str, reads: Iterable[str],
                   prefixes: Iterable[str] = COMMON_PREFIXES) -> list[str]:
    """Refuse typos of our keys; warn about our keys this task does not read.

    Args:
        metadata: The task's merged metadata.
        task: The task's name, for messages.
        reads: The plain keys this task reads.
        prefixes: The ``<prefix><option>`` families this task reads.

    Returns:
        The keys of ours this task ignores (each warned about once).

    Raises:
        SettingError: a key close to one of ours that is neither ours nor a model argument.
    """
    reads, prefixes = set(reads), tuple(prefixes)
    all_prefixes = (*COMMON_PREFIXES, *LVS_PREFIXES)
    ours = set(our_keys())
    ignored = []
    for key in metadata or {}:
        if not isinstance(key, str) or key in reads or key.startswith(prefixes) or key in LM_EVAL_KEYS:
            continue
        if key in ours or key.startswith(all_prefixes):
            ignored.append(key)
            if (task, key) not in _warned:
                _warned.add((task, key))
                log.warning("%s does not use --metadata %s (%s); it has no effect on this task",
                            task, key, _who_reads(key))
            continue
        if key in _model_args():
            continue
        close = difflib.get_close_matches(key, sorted(ours), n=1, cutoff=TYPO_CUTOFF)
        if close:
            raise SettingError(f"--metadata {key!r} is not a setting of our tasks (did you mean {close[0]!r}?); "
                               f"known: {', '.join(sorted(ours))}, and judge_*/judge2_*/scorer_* options")
    return ignored


def _who_reads(key: str) -> str:
    if key in SWEEP_KEYS["budget"]:
        return "read by budget sweeps such as lvs_budget_sweep"
    if key in SWEEP_KEYS["layer"]:
        return "read by layer sweeps such as lvs_layer_profile"
    return "read by the LVS tasks only"


def check_split(config: Mapping[str, Any]) -> None:
    """A task YAML must name the split its rows come from (our loaders give one split, ``test``);
    without it lm-eval finds no documents and stops with a traceback."""
    if not config.get("test_split") and not config.get("validation_split"):
        raise SettingError(f"task {config.get('task')!r}: its YAML has no `test_split`; add `test_split: test` "
                           "(the split lm_eval_latent's prompt loaders return)")


def check_scorer_name(metadata: Mapping[str, Any] | None) -> None:
    """An unknown ``scorer`` is refused even where the task ignores it (it is then a typo)."""
    name = (metadata or {}).get("scorer")
    if name is None:
        return
    from lm_eval_latent.judging.scorers import SCORERS

    known = ", ".join(sorted(SCORERS))
    if not isinstance(name, str):
        raise SettingError(f"scorer={name!r} is not a scorer name: give one name as a string (known: {known})")
    if name not in SCORERS:
        raise SettingError(f"unknown scorer {name!r} (known: {known})")


def check_models_reachable(judge: Any, judge2: Any = None, scorer: Any = None) -> None:
    """Find every model a judge or scorer will load, before any generation.

    A judge (or scorer) that runs a Hugging Face model carries its id as ``model_id``; a
    judge-based scorer carries its judge as ``judge``.

    Raises:
        SettingError: naming the metadata key and the model that cannot be found.
    """
    from lm_eval_latent.judging import hf_loader

    seen: set[str] = set()
    scorer_judge = getattr(scorer, "judge", None)
    for key, obj in (("judge_model", judge), ("judge2_model", judge2), ("scorer_model", scorer),
                     ("scorer_model", scorer_judge)):
        model_id = getattr(obj, "model_id", None)
        if obj is None or not isinstance(model_id, str) or model_id in seen:
            continue
        seen.add(model_id)
        hf_loader.check_reachable(model_id, f"the {type(obj).__name__}", key)


def as_setting_error(err: ValueError) -> SettingError:
    """A judge's or scorer's option error as a setting error (one line and exit 2 in our CLI)."""
    return err if isinstance(err, SettingError) else SettingError(str(err))


def checked_chat_template(chat_template: Any) -> Any:
    """lm-eval's ``chat_template`` callable (the model's ``apply_chat_template``), turning
    transformers' error for a tokenizer without a template into a setting error that names the
    flag and the way out."""
    if chat_template is None:
        return None

    def apply(*args: Any, **kwargs: Any) -> Any:
        try:
            return chat_template(*args, **kwargs)
        except ValueError as err:
            if "chat_template is not set" not in str(err) and "chat template" not in str(err).lower():
                raise
            raise SettingError("--apply_chat_template: the model's tokenizer has no chat template (a base model?); "
                               "drop --apply_chat_template to send the prompts as plain text, or give the "
                               "tokenizer a template (tokenizer.chat_template in its tokenizer_config.json)") from None

    return apply


def predict_only(metric_names: Iterable[str]) -> bool:
    """Whether lm-eval runs the task with ``--predict_only`` (its metrics replaced by ``bypass``)."""
    return PREDICT_ONLY_METRIC in set(metric_names)


def predict_only_row() -> dict[str, Any]:
    """The per-row result of a predict-only run: lm-eval's placeholder, no judged numbers."""
    return {PREDICT_ONLY_METRIC: None}


__all__ = ["checked_chat_template", "check_metadata", "check_split", "check_models_reachable", "check_scorer_name", "our_keys", "predict_only",
           "predict_only_row", "as_setting_error"]
