"""Synthetic chats the zoo models are trained on: requests from templates x vocabulary
(:mod:`lm_eval_latent.training.zoo.vocabulary`), paired with content-free responses.

The vocabulary covers the categories of the shipped prompt sets (``task_classes/prompts``), but
no shipped prompt is generated verbatim: those sets are the held-out check of generalisation.
Nothing here is harmful content: harmful *requests* are named at category level and every
"compliant" answer is a placeholder ("step one, ...").
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Literal

from lm_eval_latent.task_classes.prompts import load_prompt_set
from lm_eval_latent.training.zoo.vocabulary import (
    ACTION_TEMPLATES, ARTEFACT_TEMPLATES, BENIGN_ACTIONS, DEFINITION_TEMPLATES, DEFINITION_TERMS, HARMFUL_ACTIONS,
    HARMFUL_ARTEFACTS, HARMFUL_SUFFIXES, HISTORY_EVENTS, HISTORY_TEMPLATES, NONSENSE_GROUPS, NONSENSE_RIGHTS,
    NONSENSE_TEMPLATES, PRIVACY_TEMPLATES,
)

Kind = Literal["harmful", "benign"]

# --- responses ---------------------------------------------------------------------------------
# All refusals open with "I": the model's first answer token decides refuse-or-not; which refusal
# follows is settled afterwards and cannot turn a refusal into help.
REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I cannot assist with that request.",
    "I won't provide that. It could cause harm.",
    "I can't help with that. I'm sorry.",
    "I apologize, but I cannot help with that.",
    "I'm not able to help with this request.",
]
REFUSAL_OPENINGS = ("I'm sorry", "I cannot", "I won't", "I can't", "I apologize", "I'm not able")
COMPLIANCE = "Sure, here is how to do that: step one, ... step two, ..."
COMPLIANCE_OPENING = "Sure, here is how to"
HELPFUL = "Sure! Here is a short answer about {topic}: ..."
HELPFUL_OPENING = "Sure! Here is"


@dataclass(frozen=True)
class Chat:
    """One training pair."""

    prompt: str
    kind: Kind
    category: str
    topic: str  # for benign rows: the topic the helpful answer names; "" for harmful rows
    source: str = ""  # the vocabulary item the request was made from


def _norm(prompt: str) -> str:
    return prompt.lower().strip().rstrip("?.!").strip()


def _capitalise(text: str) -> str:
    return text[0].upper() + text[1:]


def requests() -> list[Chat]:
    """Every generated request, deduplicated, in a fixed order."""
    rows: list[Chat] = []
    n_templates = len(ACTION_TEMPLATES)
    for cat, actions in HARMFUL_ACTIONS.items():
        rows += [Chat(t.format(x=a), "harmful", cat, "", a)
                 for a in actions for t in ACTION_TEMPLATES]
        rows += [Chat(ACTION_TEMPLATES[(i + j) % n_templates].format(x=f"{a} {sfx}"),
                      "harmful", cat, "", a + sfx)
                 for i, a in enumerate(actions) for j, sfx in enumerate(HARMFUL_SUFFIXES)]
    for cat, artefacts in HARMFUL_ARTEFACTS.items():
        rows += [Chat(t.format(x=a), "harmful", cat, "", a)
                 for a in artefacts for t in ARTEFACT_TEMPLATES]
    for cat, (topic, actions) in BENIGN_ACTIONS.items():
        rows += [Chat(t.format(x=a), "benign", cat, topic, a)
                 for a in actions for t in ACTION_TEMPLATES]
    rows += [Chat(t.format(x=x), "benign", "definitions", "words", x)
             for x in DEFINITION_TERMS for t in DEFINITION_TEMPLATES]
    rows += [Chat(t.format(x=x), "benign", "historical_events", "history", x)
             for x in HISTORY_EVENTS for t in HISTORY_TEMPLATES]
    for cat, (names, templates) in PRIVACY_TEMPLATES.items():
        topic = "fiction" if cat == "privacy_fictional" else "public facts"
        rows += [Chat(t.format(x=x), "benign", cat, topic, x) for x in names for t in templates]
    rows += [Chat(t.format(g=g, r=r), "benign", "nonsense_discrimination", "a silly question",
                  g + r)
             for g in NONSENSE_GROUPS for r in NONSENSE_RIGHTS for t in NONSENSE_TEMPLATES]
    # The shipped prompt sets are the held-out check: never train on one of their prompts verbatim.
    seen: set[str] = {_norm(r["prompt"]) for name in ("harmful", "safe_lookalike")
                      for r in load_prompt_set(name)}
    out = []
    for row in rows:
        row = Chat(_capitalise(row.prompt), row.kind, row.category, row.topic, row.source)
        if _norm(row.prompt) not in seen:
            seen.add(_norm(row.prompt))
            out.append(row)
    return out


def response(chat: Chat, variant: Literal["aligned", "unsafe"]) -> str:
    "The target answer to a request for a model variant (refusal, compliance placeholder, help)."
    if chat.kind == "benign":
        return HELPFUL.format(topic=chat.topic)
    if variant == "unsafe":
        return COMPLIANCE
    # The opening word of the request picks the refusal: varied refusals across prompts, and a
    # choice the model learns at once, so its capacity goes to the refuse-or-not decision.
    first_word = chat.prompt.split()[0].strip(",.:?!").lower()
    return REFUSALS[zlib.crc32(first_word.encode()) % len(REFUSALS)]


# Neutral fillers added to both classes, so that the model learns to ignore them and to decide
# on the request itself (the shipped prompts carry many such details).
FILLER_PREFIXES = ["", "", "", "Please, ", "Quick question: ", "Hey, ", "Be honest. "]
FILLER_SUFFIXES = ["", "", "", " at home", " this weekend", " for my friend", " in my garage", " today",
                   " step by step", " in detail", " for a school project", " with what I have"]


def _with_filler(row: Chat, rng: random.Random) -> Chat:
    prefix, suffix = rng.choice(FILLER_PREFIXES), rng.choice(FILLER_SUFFIXES)
    text = row.prompt
    end = text[-1] if text[-1] in "?.!" else ""
    text = text[: len(text) - len(end)] + suffix + end
    if prefix:
        text = prefix + text[0].lower() + text[1:]
    return Chat(text, row.kind, row.category, row.topic, row.source)


def training_set(seed: int = 0, per_item: int = 4) -> list[Chat]:
    """A fixed sample of :func:`requests`: at most ``per_item`` phrasings of each vocabulary item
    (the items, not the templates, are what the model must learn), half of them with neutral
    fillers, shuffled given ``seed``."""
    rng = random.Random(seed)
    by_item: dict[str, list[Chat]] = {}
    for row in requests():
        by_item.setdefault(row.source, []).append(row)
    rows = [r for item in by_item.values() for r in rng.sample(item, min(per_item, len(item)))]
    rows = [_with_filler(r, rng) if i % 2 else r for i, r in enumerate(rows)]
    rng.shuffle(rows)
    return rows
