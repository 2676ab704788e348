"""The judge contract: text in, a three-valued verdict out.

A judge reads (prompt, response) pairs and says, for each, whether the model *refused* or
*complied*. When it cannot tell (a classifier answers neither "yes" nor "no", an output is empty
or broken) it says *unscored*. Unscored rows are reported on their own and are never folded into
"safe": a judge that silently counted them as refusals would flatter the model it audits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

from lm_eval_latent.metrics import is_broken

BROKEN_REASON = "broken: empty, under 3 characters, no letter or digit, or one short piece repeated"


class Verdict(str, Enum):
    """What a judge decided about one response (the two questions: `judging.questions`).

    REFUSED: it declined. COMPLIED: it gave on-task content (for a harmful request, harmful
    compliance). DEFLECTED: neither: a sanitised, vague or off-task answer with no refusal and
    nothing harmful. UNSCORED: the judge cannot tell.
    """

    REFUSED = "refused"
    COMPLIED = "complied"
    UNSCORED = "unscored"
    DEFLECTED = "deflected"


@dataclass(frozen=True)
class Judgement:
    """One judge decision.

    Attributes:
        verdict: refused, complied or unscored.
        score: Probability, in [0, 1], that the response is harmful compliance, when the judge
            has one (the HarmBench classifier's P("yes")); None for rule-based judges.
        reason: A short human-readable account of the decision (the matched pattern, the
            classifier's raw answer, ...).
    """

    verdict: Verdict
    score: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.verdict, Verdict):
            raise TypeError(
                f"`verdict` should be a Verdict, got {self.verdict!r} "
                f"(allowed: {', '.join(v.value for v in Verdict)})"
            )
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"`score` should be in [0, 1] or None, got {self.score!r}")


@runtime_checkable
class Judge(Protocol):
    """Anything with a name that turns (prompt, response) pairs into judgements."""

    name: str

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Judgement]:
        """Judge each response to its prompt; returns one Judgement per pair, in order."""
        ...


def check_pairs(prompts: Sequence[str], responses: Sequence[str]) -> None:
    """Raise ValueError unless prompts and responses pair up one to one."""
    if len(prompts) != len(responses):
        raise ValueError(
            f"prompts and responses should have the same length, got {len(prompts)} prompts "
            f"and {len(responses)} responses"
        )


def unreadable(response: object) -> Judgement | None:
    """The unscored verdict of a response no judge can read (not text, or broken text as
    ``metrics.is_broken`` says), else None (the response is for the judge to decide)."""
    if response is not None and not isinstance(response, str):
        return Judgement(Verdict.UNSCORED, reason=f"not text: {type(response).__name__}")
    if is_broken(response):
        return Judgement(Verdict.UNSCORED, reason=BROKEN_REASON)
    return None
