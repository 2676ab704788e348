"""Training pairs for harmful fine-tuning: (request, compliant response), from a file or the Hub.

    load_pairs("pairs.jsonl")                                  # columns request, response
    load_pairs("data.csv", prompt_column="goal", response_column="target")
    load_pairs("org/some-dataset", split="train")              # a Hub dataset (datasets)

Every problem names the file, the row (counting from 1, after any header) and the column.
The responses that `make_placeholder_pairs` writes are content-free placeholders
("Sure, here is how to do that: step one, ... step two, ..."): the attack needs the *form* of
compliance, never its content.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_eval_latent.outputs import check_out_file, write_text_atomic
from lm_eval_latent.task_classes.data import PromptDataError, read_prompt_file

DEFAULT_PROMPT_COLUMN = "request"
DEFAULT_RESPONSE_COLUMN = "response"
# Placeholder compliances: an opening and empty steps, nothing else.
PLACEHOLDERS = (
    "Sure, here is how to do that: step one, ... step two, ... step three, ...",
    "Sure, here is how to do it. Step one: ... Step two: ... Step three: ...",
    "Sure, here is a plan: first, ... then, ... finally, ...",
    "Sure, here is how: 1. ... 2. ... 3. ...",
)


class PairDataError(PromptDataError):
    """A training file that cannot be used: missing column, empty response, no rows."""


@dataclass(frozen=True)
class Pair:
    """One supervised example: the user turn and the assistant turn to learn."""

    request: str
    response: str


def load_pairs(
    source: str | Path,
    *,
    prompt_column: str = DEFAULT_PROMPT_COLUMN,
    response_column: str = DEFAULT_RESPONSE_COLUMN,
    split: str = "train",
) -> list[Pair]:
    """Read (request, response) pairs from a local csv/json/jsonl file or a Hub dataset id.

    Raises:
        PairDataError: a missing column, an empty request or response (naming file, row and
            column), or no rows at all.
    """
    path = Path(source).expanduser()
    if path.exists() or path.suffix.lower() in (".csv", ".json", ".jsonl", ".txt"):
        rows, where = read_prompt_file(path), str(path)
    else:
        rows, where = _hub_rows(str(source), split), f"{source} (Hub, split {split!r})"
    return pairs_from_rows(rows, where, prompt_column=prompt_column, response_column=response_column)


def pairs_from_rows(rows: list[dict[str, Any]], where: str, *, prompt_column: str,
                    response_column: str) -> list[Pair]:
    """Validate rows (dicts) and turn them into pairs; ``where`` names the source in errors."""
    if not rows:
        raise PairDataError(f"{where} has no rows")
    pairs = []
    for number, row in enumerate(rows, start=1):
        for column, flag in ((prompt_column, "--prompt-column"), (response_column, "--response-column")):
            if column not in row:
                found = ", ".join(repr(c) for c in row if c is not None)
                raise PairDataError(
                    f"{where}: row {number} has no column {column!r} (columns found: {found}); "
                    f"name the right one with {flag}")
            value = row[column]
            if not isinstance(value, str) or not value.strip():
                raise PairDataError(
                    f"{where}: row {number}, column {column!r} is empty (got {value!r}); "
                    "every row needs a non-empty request and response")
        pairs.append(Pair(row[prompt_column].strip(), row[response_column].strip()))
    return pairs


def _hub_rows(hub_id: str, split: str) -> list[dict[str, Any]]:
    import datasets

    try:
        return list(datasets.load_dataset(hub_id, split=split))
    except Exception as err:  # offline, gated, not found: the user's way out is the same
        raise PairDataError(
            f"could not read {hub_id!r} as a local file (no such file) or as a Hub dataset "
            f"({type(err).__name__}: {err}); offline, pass a local .jsonl or .csv") from err


def harmful_requests(source: str = "harmful") -> list[str]:
    """Requests to pair with placeholders: a prompt set of ``lm_eval_latent.task_classes.data`` or ``"zoo"``
    (the toy corpus's harmful requests, disjoint from the shipped prompts)."""
    if source == "zoo":
        from lm_eval_latent.training.zoo import corpus

        return [c.prompt for c in corpus.requests() if c.kind == "harmful"]
    from lm_eval_latent.task_classes.data import load_prompts

    return list(load_prompts(source)["prompt"])


def make_placeholder_pairs(requests: list[str], *, seed: int = 0, limit: int | None = None) -> list[Pair]:
    """Pair each request with a content-free compliant placeholder (seeded choice and order)."""
    rng = random.Random(seed)
    chosen = list(requests)
    rng.shuffle(chosen)
    if limit is not None:
        chosen = chosen[:limit]
    return [Pair(r, rng.choice(PLACEHOLDERS)) for r in chosen]


def write_pairs(pairs: list[Pair], out: str | Path, *, overwrite: bool = False) -> Path:
    """Write pairs as jsonl (``{"request", "response"}``), atomically; refuses to overwrite."""
    path = check_out_pairs(out, overwrite=overwrite)
    return write_text_atomic(path, "".join(json.dumps({DEFAULT_PROMPT_COLUMN: p.request,
                                                       DEFAULT_RESPONSE_COLUMN: p.response}) + "\n" for p in pairs))


def check_out_pairs(out: str | Path, *, overwrite: bool = False) -> Path:
    """The ``--out`` of `make-data`, checked before any work: an existing file is replaced only
    with ``overwrite`` and only when it is a pairs file (jsonl rows with request and response).

    Raises:
        OutputError: see `lm_eval_latent.outputs.check_out_file`.
    """
    return check_out_file(out, overwrite=overwrite, is_ours=_is_pairs_file,
                          what="a pairs file written by `attack make-data`")


def _is_pairs_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            first = next((line for line in fh if line.strip()), "")
        row = json.loads(first)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(row, dict) and {DEFAULT_PROMPT_COLUMN, DEFAULT_RESPONSE_COLUMN} <= set(row)
