"""Answering `latent_hf`'s generate_until requests: plain ones, and the LVS tasks' settings.

A request carrying a `protocol.Setting` (clean, attack or control) is grouped with the others of
the same setting, which the model resolves once; the group is generated under that setting's
attack through HFLM's own batching and answered with a JSON `protocol.LatentReply` that includes
each row's ``||delta||``. Plain requests run under the configured perturbation; a row whose
activations went non-finite is answered `protocol.NON_FINITE_TEXT`. Works through the model's
public methods only (`resolve`, `attack_delta_fn`, `default_delta_fn`, `generate_under`).
"""

from __future__ import annotations

import copy
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from lm_eval.api.instance import Instance
from tqdm import tqdm

from lm_eval_latent.task_classes import protocol

if TYPE_CHECKING:
    from lm_eval_latent.model.latent_hf import LatentHFLM

log = logging.getLogger("lm_eval_latent.model.latent_hf")

Record = dict[tuple[int, ...], tuple[float, bool]]


def _no_delta(_ids: object, _mask: object) -> None:
    return None


class LatentRequests:
    """The generate_until of one `LatentHFLM`."""

    def __init__(self, lm: LatentHFLM) -> None:
        self.lm = lm
        self.warned_truncation = False

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Plain requests as HFLM does; requests with a setting grouped per setting."""
        plain: list[int] = []
        groups: dict[protocol.Setting, list[int]] = defaultdict(list)
        stripped: list[Instance] = []
        for i, r in enumerate(requests):
            setting, kwargs = protocol.decode(r.args[1])
            if setting is None:
                plain.append(i)
            else:
                groups[setting].append(i)
            copied = copy.copy(r)
            copied.arguments = (r.arguments[0], kwargs)
            stripped.append(copied)
        out: list[str | None] = [None] * len(requests)
        if plain:
            for i, text in zip(plain, self._plain([requests[i] for i in plain], disable_tqdm), strict=True):
                out[i] = text
        settings = tqdm(groups.items(), desc="latent settings (clean / attack / control)", unit="setting",
                        disable=disable_tqdm or len(groups) < 2 or getattr(self.lm, "rank", 0) != 0)
        for setting, idxs in settings:
            replies = self._setting([stripped[i] for i in idxs], setting, disable_tqdm)
            for i, reply in zip(idxs, replies, strict=True):
                out[i] = reply
        return out  # type: ignore[return-value]

    def _plain(self, requests: list[Instance], disable_tqdm: bool) -> list[str]:
        """Plain requests under the configured perturbation, as HFLM answers them."""
        record: Record = {}
        delta_fn = self.lm.default_delta_fn(record)
        texts = self.lm.generate_under(delta_fn, requests, disable_tqdm)
        if delta_fn is None:
            return texts
        out = []
        for r, text in zip(requests, texts, strict=True):
            norm, ok = self._lookup(record, r.arguments[0])
            # (nan, False) is "no record of this row" (never seen by the attack): keep its text.
            out.append(protocol.NON_FINITE_TEXT if not ok and norm == norm else text)
        return out

    def _setting(self, requests: list[Instance], setting: protocol.Setting, disable_tqdm: bool) -> list[str]:
        resolved = self.lm.resolve(setting)
        self._note_truncation(requests)
        if resolved is None:
            # Through the backend with no delta, the way the attacked rows are generated.
            texts = self.lm.generate_under(_no_delta, requests, disable_tqdm)
            return [protocol.LatentReply(text=t, role="clean").dumps() for t in texts]
        record: Record = {}
        texts = self.lm.generate_under(self.lm.attack_delta_fn(*resolved, record=record), requests, disable_tqdm)
        replies = []
        for r, text in zip(requests, texts, strict=True):
            norm, ok = self._lookup(record, r.arguments[0])
            replies.append(
                protocol.LatentReply(
                    text=text, delta_norm=norm, ok=ok, role=setting.role, layer=str(resolved.layer.spec),
                    budget=resolved.budget.label, attack=resolved.recipe.name,
                ).dumps()
            )
        return replies

    def _lookup(self, record: Record, context: str) -> tuple[float, bool]:
        tokens = tuple(self.lm.tok_batch_encode([context])[0][0].tolist())
        if tokens in record:
            return record[tokens]
        for key, value in record.items():  # a left-truncated prompt keeps its suffix
            if tokens[-len(key):] == key:
                return value
        return float("nan"), False

    def _note_truncation(self, requests: list[Instance]) -> None:
        if self.warned_truncation:
            return
        lm = self.lm
        max_gen = max(int(r.arguments[1].get("max_gen_toks", lm.max_gen_toks)) for r in requests)
        room = lm.max_length - max_gen
        longest = max(len(lm.tok_encode(r.arguments[0])) for r in requests)
        if longest > room:
            self.warned_truncation = True
            log.warning(
                "latent_hf: some prompts are longer than the model's context allows (%d tokens > "
                "max_length %d - max_gen_toks %d); they are truncated from the left. Said once.",
                longest, lm.max_length, max_gen,
            )
