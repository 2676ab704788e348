"""How much of the request an answer takes up: the request-reading block of `ngram_pair`.

An answer that delivers what was asked for tends to use the request's own content words; an
off-task or deflecting answer tends not to; a refusal often repeats them in its opening ("I
can't help you make X") and nothing after. Four numbers per (request, answer), each in [0, 1]:

- ``covered``: share of the request's content words found in the answer (first 2,000 characters);
- ``covered_opening``: the same in its opening (first 200 characters);
- ``focus``: share of the answer's content words that come from the request;
- ``no_request``: 1 when the request has no content word (then the other three are 0).

Content words are lower-cased runs of 4+ letters, minus a short stop list, cut to their first 5
letters (a crude stem: "poisoning" and "poison" match). Pure functions, no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

N_FEATURES = 4
_WORD = re.compile(r"[a-z]{4,}")
_STOP = frozenset(
    "what when where which while with would could should about after again against because been "
    "before being between both does doing down during each from further have having here into "
    "more most other over same some such than that their theirs them then there these they this "
    "those through under until very were will your yours also just only like make made many "
    "much need tell give using used".split()
)


def content_words(text: str) -> set[str]:
    """The text's content-word stems (see the module docstring)."""
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP}


def overlap_features(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    """A float64 array of shape (len(responses), 4): covered, covered_opening, focus, no_request."""
    out = np.zeros((len(responses), N_FEATURES))
    for i, (prompt, response) in enumerate(zip(prompts, responses)):
        request = content_words(prompt or "")
        if not request:
            out[i, 3] = 1.0
            continue
        answer = content_words(response[:2000])
        opening = content_words(response[:200])
        out[i, :3] = (len(request & answer) / len(request), len(request & opening) / len(request),
                      len(request & answer) / max(len(answer), 1))
    return out
