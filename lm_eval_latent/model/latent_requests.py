"""What `latent_hf` needs around HFLM's generate_until: groups per setting, each row's ||delta||.

A request carrying a `protocol.Setting` (clean, attack or control) is answered together with the
others of the same setting (`group_by_setting`), in one call of HFLM's own generate_until. HFLM
hands `_model_generate` one batch at a time and then reports that batch's rows, in the batch's
order, to the model's ``cache_hook`` (lm-eval's per-row hook, the one ``--use_cache`` writes
through). `RowLog` sits there for the group: the attack's ``||delta||`` and finiteness of each
batch row are handed to it with the batch, and each reported row takes its own, so every answer
carries the numbers of the row that produced it. `answer` turns a row into what the task reads:
a JSON `protocol.LatentReply` for a setting, the text (or `protocol.NON_FINITE_TEXT`) for a plain
request. A request whose setting names a layer range is run as one request per layer of it
(`per_layer`) and answered with their replies together (`LatentReply.dumps_many`). Nothing here
calls back into the model.
"""

from __future__ import annotations

import copy
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lm_eval.api.instance import Instance
from lm_eval.api.model import CacheHook

from lm_eval_latent.task_classes import protocol


@dataclass(frozen=True)
class Row:
    """What the attack did to one row: its ``||delta||`` and whether it stayed finite."""

    norm: float
    ok: bool


def per_layer(requests: Sequence[Instance], layers_of: Callable[[str], list[int | str]]
              ) -> tuple[list[Instance], list[list[int]]]:
    """Requests with a layer range (`protocol.Setting.layers`) as one request per layer of it.

    Args:
        layers_of: the layer specs a range names in the model (the model resolves it).

    Returns:
        The requests to run, and for each given request the indices of its runs there (one for
        a request without a range); `join` makes its answer of theirs.
    """
    runs: list[Instance] = []
    parts: list[list[int]] = []
    for r in requests:
        setting, kwargs = protocol.decode(r.args[1])
        if setting is None or setting.layers is None:
            parts.append([len(runs)])
            runs.append(r)
            continue
        parts.append([])
        for layer in layers_of(setting.layers):
            one = copy.copy(r)
            one.arguments = (r.arguments[0], protocol.encode(kwargs, setting.at_layer(layer)))
            parts[-1].append(len(runs))
            runs.append(one)
    return runs, parts


def join(answers: Sequence[str], requests: Sequence[Instance], parts: Sequence[Sequence[int]]) -> list[str]:
    """Each request's answer from the answers of its runs (`per_layer`): a range's replies together."""
    out = []
    for r, idx in zip(requests, parts, strict=True):
        setting, _ = protocol.decode(r.args[1])
        ranged = setting is not None and setting.layers is not None
        out.append(protocol.LatentReply.dumps_many([answers[i] for i in idx]) if ranged else answers[idx[0]])
    return out


def group_by_setting(requests: Sequence[Instance]) -> dict[protocol.Setting | None, list[tuple[int, Instance]]]:
    """Requests per setting (None: plain requests, first), each as ``(index, request without it)``.

    The setting is taken out of the generation kwargs: HFLM groups and batches by those, and a
    group is answered under one setting anyway.
    """
    groups: dict[protocol.Setting | None, list[tuple[int, Instance]]] = {None: []}
    for i, r in enumerate(requests):
        setting, kwargs = protocol.decode(r.args[1])
        stripped = copy.copy(r)
        stripped.arguments = (r.arguments[0], kwargs)
        groups.setdefault(setting, []).append((i, stripped))
    if not groups[None]:
        del groups[None]
    return groups


class RowLog(CacheHook):
    """lm-eval's per-row hook for one group: pairs each reported row with its batch row's `Row`.

    Args:
        resolved: what the group runs under (the model's `Resolved`, or None when clean).
        forward: the hook it stands in for; rows are passed on to it unless ``keep_to_self``
            (a setting's rows: their answer is the `LatentReply`, which lm-eval's cache stores
            itself, under the request's own key, once the group is answered).
    """

    def __init__(self, resolved: Any, forward: CacheHook, keep_to_self: bool) -> None:
        self.dbdict = None
        self.resolved = resolved
        self.forward = forward
        self.keep_to_self = keep_to_self
        self._batch: deque[Row] = deque()
        self._rows: defaultdict[str, deque[Row | None]] = defaultdict(deque)

    def add_batch(self, norms: Iterable[float], oks: Iterable[bool]) -> None:
        """The rows of the batch about to be generated, in its order."""
        self._batch.extend(Row(float(n), bool(o)) for n, o in zip(norms, oks, strict=True))

    def add_partial(self, attr: str, req: Any, res: Any) -> None:
        # HFLM reports rows in the order of the batch it just generated.
        self._rows[req[0]].append(self._batch.popleft() if self._batch else None)
        if not self.keep_to_self:
            self.forward.add_partial(attr, req, res)

    def take(self, context: str) -> Row | None:
        """The row generated for ``context`` (None when no attack ran on it)."""
        rows = self._rows.get(context)
        return rows.popleft() if rows else None


def answer(text: str, row: Row | None, setting: protocol.Setting | None, resolved: Any) -> str:
    """What a request is answered: the text of a plain request (`protocol.NON_FINITE_TEXT` when
    its perturbed row went non-finite), or a setting's JSON `protocol.LatentReply`."""
    if setting is None:
        return protocol.NON_FINITE_TEXT if row is not None and not row.ok else text
    if resolved is None:
        return protocol.LatentReply(text=text, role="clean").dumps()
    norm, ok = (row.norm, row.ok) if row is not None else (float("nan"), False)
    return protocol.LatentReply(
        text=text, delta_norm=norm, ok=ok, role=setting.role, layer=str(resolved.layer.spec),
        budget=resolved.budget.label, attack=resolved.recipe.name,
    ).dumps()


def truncation_note(requests: Sequence[Instance], max_length: int, max_gen_toks: int,
                    tok_encode: Callable[[str], list[int]]) -> str | None:
    """A warning when a group's longest prompt leaves no room to generate (None when all fit)."""
    max_gen = max(int(r.arguments[1].get("max_gen_toks", max_gen_toks)) for r in requests)
    longest = max(len(tok_encode(r.arguments[0])) for r in requests)
    if longest <= max_length - max_gen:
        return None
    return (
        f"latent_hf: some prompts are longer than the model's context allows ({longest} tokens > "
        f"max_length {max_length} - max_gen_toks {max_gen}); they are truncated from the left. Said once."
    )
