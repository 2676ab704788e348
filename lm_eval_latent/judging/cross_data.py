"""What the `cross` judge trains on: labelled answers drawn into (request, answer, label) pairs.

`training_examples(rows, recipe)` reads a `train_cross.Recipe` (its ``target``, ``cell_cap``,
``offtask`` and ``seed``):
- ``"harm"``: the label is `LabelledAnswer.harmful`; at most ``cell_cap`` answers of each
  (family, harmful) cell ("xstest", "gptfuzz"), then ``offtask`` off-task pairs
  (`offtask_pairs`): a harmful answer beside another request, not harmful;
- ``"refusal"``: the label is "complied"; at most ``cell_cap`` answers of each (source, class).

`example_weights` gives the loss weights: each label the same total (harm), each cell the same
total (refusal).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lm_eval_latent.judging.base import Verdict
from lm_eval_latent.judging.labelled import LabelledAnswer


@dataclass(frozen=True)
class Example:
    """One training pair: the request, the answer, its label (True = complied for the refusal
    target, harmful for the harm target) and the cell it was drawn from."""

    prompt: str
    response: str
    label: bool
    cell: tuple


def training_examples(rows: Sequence[LabelledAnswer], recipe: Recipe) -> list[Example]:
    """The pairs `fit` trains on, drawn from `rows` with `recipe.seed` (see the module docstring).

    Raises:
        ValueError: when the examples would not hold both labels.
    """
    if recipe.target == "refusal":
        drawn = [Example(r.prompt, r.response, r.truth is Verdict.COMPLIED,
                         (r.source, r.truth is Verdict.COMPLIED)) for r in rows]
    else:
        drawn = [Example(r.prompt, r.response, r.harmful, (r.source.split("/")[0], r.harmful))
                 for r in rows]
    out = [drawn[i] for i in capped(drawn, recipe.cell_cap, recipe.seed, key=lambda e: e.cell)]
    if recipe.target == "harm" and recipe.offtask:
        out += offtask_pairs(out, recipe.offtask, recipe.seed)
    labels = {e.label for e in out}
    if len(labels) < 2:
        raise ValueError(f"training rows should hold both classes, got {len(rows)} rows of one")
    return out


def offtask_pairs(examples: Sequence[Example], n: int, seed: int) -> list[Example]:
    """Up to `n` harmful answers of `examples`, each beside another of their requests: not harmful.

    The request is drawn from the examples' other requests (never the answer's own, nor one with
    the same text), so the answer is on-task for a different question; a pair that is already an
    example (the same answer given to that request too) is skipped.
    """
    rng = random.Random(seed + 1)
    harmful = [e for e in examples if e.label]
    requests = sorted({e.prompt for e in examples if e.prompt})
    if not harmful or len(requests) < 2:
        return []
    seen = {(e.prompt, e.response) for e in examples}
    out = []
    for e in rng.sample(harmful, min(n, len(harmful))):
        other = rng.choice(requests)
        while other == e.prompt:
            other = rng.choice(requests)
        if (other, e.response) not in seen:  # a repeated answer may be on-task for it too
            out.append(Example(other, e.response, False, ("offtask", False)))
    return out


def example_weights(examples: Sequence[Example], target: str) -> list[float]:
    """Loss weights, mean 1: each cell the same total (refusal), each label the same (harm)."""
    group = (lambda e: e.cell) if target == "refusal" else (lambda e: e.label)
    counts = Counter(group(e) for e in examples)
    w = [1.0 / counts[group(e)] for e in examples]
    scale = len(w) / sum(w)
    return [x * scale for x in w]


def capped(rows: Sequence[Any], cap: int, seed: int, key=None) -> list[int]:
    """Indices of at most `cap` rows of each cell, drawn with `seed`, in order; a row's cell is
    `key(row)` (default: its (source, truth))."""
    key = (lambda r: (r.source, r.truth)) if key is None else key
    cells = defaultdict(list)
    for i, r in enumerate(rows):
        cells[key(r)].append(i)
    rng = random.Random(seed)
    keep = [i for key in sorted(cells, key=str) for i in
            (cells[key] if len(cells[key]) <= cap else rng.sample(cells[key], cap))]
    return sorted(keep)
