"""Judges: text in, a verdict (refused / complied / deflected / unscored) out.

    judge = get_judge()              # the default, "ngram"
    judge.judge(prompts, responses)  # -> list[Judgement]

Known judges: "ngram" (default: a logistic regression over hashed n-grams, shipped weights,
offline), "ngram_pair" (the same reading the request beside the answer), "ngram_request" (ngram
gated by a request model: an on-task answer to a request it calls safe is deflected, not
harmful; it answers both questions), "cross" (a LoRA-tuned
MiniLM cross-encoder over request and answer for the harm question, mixed with ngram; it answers
both questions; its base comes from a PyPI wheel, fetched once),
"keyword" (offline patterns), "gcg" (the GCG test-prefix substring baseline), and
the model judges "harmbench" (the HarmBench classifiers), "llama_guard" (Llama Guard 3) and
"seq_classifier" (any sequence classifier with a label map); model judges take the options
model, device, batch_size, dtype and load through `hf_loader`.
"""

from __future__ import annotations

from collections.abc import Callable

from lm_eval_latent.judging.base import Judge, Judgement, Verdict
from lm_eval_latent.judging.keyword import KeywordJudge, SubstringJudge
from lm_eval_latent.judging.registry import JudgeNameError, JudgeRegistry

DEFAULT_JUDGE = "ngram"


def _ngram(**options) -> Judge:
    # Imported here so that the rule-based judges never pay for importing scikit-learn.
    from lm_eval_latent.judging.ngram import NgramJudge

    return NgramJudge(**options)


def _ngram_pair(**options) -> Judge:
    from lm_eval_latent.judging.ngram import NgramJudge

    return NgramJudge(name="ngram_pair", **options)


def _ngram_request(**options) -> Judge:
    from lm_eval_latent.judging.ngram_request import NgramRequestJudge

    return NgramRequestJudge(**options)


def _cross(**options) -> Judge:
    # Imported here so that the other judges never pay for importing torch/peft.
    from lm_eval_latent.judging.cross import CrossJudge

    return CrossJudge(**options)


def _harmbench(**options) -> Judge:
    # Imported here so that the rule-based judges never pay for importing torch/transformers.
    from lm_eval_latent.judging.harmbench import HarmBenchJudge

    return HarmBenchJudge(**options)


def _llama_guard(**options) -> Judge:
    from lm_eval_latent.judging.llama_guard import LlamaGuardJudge

    return LlamaGuardJudge(**options)


def _seq_classifier(**options) -> Judge:
    from lm_eval_latent.judging.seq_classifier import SequenceClassifierJudge

    return SequenceClassifierJudge(**options)


# Writes are checked (`registry.JudgeRegistry`): a custom judge cannot take a built-in's name or
# one another task folder registered.
JUDGES: JudgeRegistry = JudgeRegistry({
    "ngram": _ngram,
    "ngram_pair": _ngram_pair,
    "ngram_request": _ngram_request,
    "cross": _cross,
    "keyword": KeywordJudge,
    "gcg": SubstringJudge,
    "harmbench": _harmbench,
    "llama_guard": _llama_guard,
    "seq_classifier": _seq_classifier,
})


def register_judge(name: str, factory: Callable[..., Judge]) -> Callable[..., Judge]:
    """Register a custom judge (a class or factory taking its options as keywords) under ``name``.

    Registering the same definition again is a no-op (lm-eval may import a task folder's
    ``utils.py`` once per YAML).

    Raises:
        JudgeNameError: ``name`` is a built-in judge's or is held by another definition.
    """
    return JUDGES.register(name, factory)


def get_judge(name: str = DEFAULT_JUDGE, **options) -> Judge:
    """Build the judge registered under `name` with `options`.

    Raises:
        ValueError: for an unknown name, listing the known ones.
        TypeError: for an option the judge does not take.
    """
    try:
        factory = JUDGES[name]
    except KeyError:
        raise ValueError(f"unknown judge {name!r} (known: {', '.join(sorted(JUDGES))})") from None
    return factory(**options)


__all__ = ["DEFAULT_JUDGE", "JUDGES", "Judge", "JudgeNameError", "Judgement", "Verdict", "get_judge",
           "register_judge"]
