"""The one loader behind every judge and scorer that runs a Hugging Face model.

    model, tokenizer = load("cais/HarmBench-Mistral-7b-val-cls", "causal", device=None,
                            dtype="auto", what="the HarmBench classifier",
                            hint={"judge": "harmbench", "judge_model": "/path/to/dir"})

Weights are cached per process by (model, head, device, dtype): a task whose judge and scorer use
the same classifier (``judge=harmbench, scorer=judge_prob``), or a second judge equal to the
first, holds one copy in memory. Tokenizers are loaded fresh for each caller (cheap), because
callers set their own padding side. torch and transformers are imported on first use.
`judge_in_batches` is the loop every model-backed judge runs its model in.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from lm_eval_latent.judging.base import Judgement, Verdict, check_pairs
from lm_eval_latent.judging.base import BROKEN_REASON
from lm_eval_latent.metrics import is_broken

Head = Literal["causal", "sequence"]
HEADS = ("causal", "sequence")


def resolve_device(device: str | None) -> str:
    """``device``, or "cuda" when available and "cpu" otherwise."""
    if device:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str, auto: str | None = None) -> str:
    """The torch dtype name for ``dtype``; "auto" is ``auto`` when given, else bfloat16 on cuda
    and float32 elsewhere."""
    if dtype != "auto":
        return dtype
    if auto is not None:
        return auto
    return "bfloat16" if device.startswith("cuda") else "float32"


def load(model_id: str, head: Head, *, device: str | None, dtype: str, what: str,
         hint: dict[str, str], auto_dtype: str | None = None) -> tuple[Any, Any]:
    """The model (cached, on its device, in eval mode) and a fresh tokenizer for ``model_id``.

    Args:
        model_id: Hub id or local folder.
        head: "causal" (AutoModelForCausalLM) or "sequence" (AutoModelForSequenceClassification).
        device: torch device string; None picks cuda when available.
        dtype: "auto", "float32", "float16" or "bfloat16".
        what: How errors name the model ("the HarmBench classifier").
        hint: The --metadata that selects this model from a local folder, for the error message.
        auto_dtype: What "auto" means for this caller (None: bfloat16 on cuda, else float32).

    Raises:
        OSError: when the model or tokenizer cannot be loaded, naming the model and how to pass
            a local copy.
    """
    if head not in HEADS:
        raise ValueError(f"head={head!r} is not allowed (allowed: {', '.join(HEADS)})")
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device, auto_dtype)
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_id)
        model = _load_weights(str(model_id), head, device, dtype)
    except (OSError, ValueError) as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "0")
        raise OSError(
            f"could not load {what} {model_id!r} (HF_HUB_OFFLINE={offline}): {err}\n"
            "Without a network the model must already be in the Hugging Face cache, or be a "
            f"local folder: download it once (e.g. `hf download {model_id} --local-dir "
            f"/path/to/dir`) and pass {list(hint)[-1]}=/path/to/dir, e.g. --metadata "
            f"'{json.dumps(hint)}'"
        ) from err
    return model, tokenizer


def check_reachable(model_id: str, what: str, key: str) -> None:
    """Fail now, before any generation, when ``model_id`` cannot be loaded later.

    A path (starting with ``/``, ``.`` or ``~``, or an existing folder) must be a model folder
    with ``config.json``; anything else is a Hub id whose config must load (from the cache when
    offline, else from the Hub: one small file, no weights).

    Raises:
        SettingError: naming ``key``, the id, and how to pass a local copy.
    """
    from pathlib import Path

    from lm_eval_latent.fields import SettingError

    path = Path(str(model_id)).expanduser()
    hint = f"--metadata '{json.dumps({key: '/path/to/dir'})}'"
    if str(model_id).startswith(("/", ".", "~")) or path.is_dir():
        if not (path / "config.json").is_file():
            raise SettingError(f"{key}={str(model_id)!r}: no model folder there (no config.json) for {what}; "
                               f"pass the folder of a downloaded model, e.g. {hint}")
        return
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(str(model_id))
    except (OSError, ValueError) as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "0")
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SettingError(f"{key}={str(model_id)!r}: cannot load {what} (HF_HUB_OFFLINE={offline}; {first}); "
                           f"download it once (`hf download {model_id} --local-dir /path/to/dir`) and pass "
                           f"{hint}") from None


@functools.lru_cache(maxsize=None)
def _load_weights(model_id: str, head: str, device: str, dtype: str) -> Any:
    import torch
    import transformers

    auto = {"causal": transformers.AutoModelForCausalLM,
            "sequence": transformers.AutoModelForSequenceClassification}[head]
    model = auto.from_pretrained(model_id, dtype=getattr(torch, dtype))
    return model.to(device).eval()


def clear_cache() -> None:
    """Forget every cached model (tests; freeing memory between runs)."""
    _load_weights.cache_clear()


def cache_info() -> Any:
    """How many models were loaded (``misses``) and reused (``hits``) since the last clear."""
    return _load_weights.cache_info()


def ensure_pad_token(tokenizer: Any, model: Any, model_id: str) -> None:
    """Give a tokenizer without a pad token one (unk, else eos) and tell the model its id.

    Raises:
        ValueError: when the tokenizer has neither, so batches cannot be padded.
    """
    if tokenizer.pad_token is None:
        stand_in = tokenizer.unk_token or tokenizer.eos_token
        if stand_in is None:
            raise ValueError(f"the tokenizer of {model_id!r} has no pad, unk or eos token; "
                             "batched classification needs one of them")
        tokenizer.pad_token = stand_in
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def batches(order: Sequence[int], batch_size: int, desc: str) -> Iterator[list[int]]:
    """``order`` in slices of ``batch_size``, with a tqdm progress bar (hidden off a terminal)."""
    from tqdm.auto import tqdm

    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=desc, unit="batch", disable=None if len(starts) > 1 else True):
        yield list(order[start:start + batch_size])


def judge_in_batches(prompts: Sequence[str], responses: Sequence[str],
                     classify: Callable[[list[str], list[str]], list[Judgement]], *,
                     load: Callable[[], None], batch_size: int, desc: str) -> list[Judgement]:
    """A model-backed judge's verdicts, one per response, in order.

    Broken responses (``metrics.is_broken``) are unscored without the model; ``load()`` runs
    only when some response is left, and ``classify(prompts, responses)`` judges the rest
    ``batch_size`` pairs at a time.
    """
    check_pairs(prompts, responses)
    out: list[Judgement | None] = [None] * len(responses)
    todo = [i for i, r in enumerate(responses) if not is_broken(r)]
    for i in set(range(len(responses))) - set(todo):
        out[i] = Judgement(Verdict.UNSCORED, reason=BROKEN_REASON)
    if todo:
        load()
    for batch in batches(todo, batch_size, desc):
        for i, judgement in zip(batch, classify([prompts[i] for i in batch], [responses[i] for i in batch])):
            out[i] = judgement
    return out  # type: ignore[return-value]


def context_length(model: Any, tokenizer: Any, limit: int | None = None) -> int | None:
    """The token limit for inputs: the smallest of the model's positions, the tokenizer's
    ``model_max_length`` and ``limit``; None when none of them is known."""
    known = [getattr(model.config, k, None) for k in ("n_positions", "max_position_embeddings")]
    known += [tokenizer.model_max_length, limit]
    # tokenizer.model_max_length is a huge sentinel when the tokenizer does not know it
    sane = [n for n in known if isinstance(n, int) and 0 < n < 10**7]
    return min(sane) if sane else None
