"""Answering the requests of the LVS tasks: clean, attacked and control generations.

A request whose generation kwargs carry a ``latent`` entry (see `protocol`) is grouped with the
others of the same setting, generated under that setting's attack through HFLM's own batching,
and answered with a JSON `protocol.LatentReply` that includes each row's ``||delta||``. Plain
requests go to HFLM unchanged. Mixed into `LatentHFLM` (which provides the attack machinery).
"""

from __future__ import annotations

import copy
import json
import logging
from collections import defaultdict
from typing import Any

from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from tqdm import tqdm

from lm_eval_latent.task_classes import protocol
from lm_eval_latent.fields import SettingError
from lm_eval_latent.attacks import AttackRecipe, Budget
from lm_eval_latent.model.layers import ResolvedLayer, parse_layer_spec, resolve_layer

log = logging.getLogger("lm_eval_latent.model.latent_hf")


class LatentRequestsMixin:
    """`generate_until` that understands ``latent`` entries; needs `LatentHFLM`'s attributes."""

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Plain requests as HFLM does; requests with a ``latent`` entry grouped per setting."""
        plain = [i for i, r in enumerate(requests) if protocol.KEY not in r.args[1]]
        groups: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            if protocol.KEY in r.args[1]:
                groups[json.dumps(r.args[1][protocol.KEY], sort_keys=True, default=str)].append(i)
        out: list[str | None] = [None] * len(requests)
        if plain:
            for i, text in zip(plain, self._plain_group([requests[i] for i in plain], disable_tqdm), strict=True):
                out[i] = text
        settings = tqdm(groups.items(), desc="latent settings (clean / attack / control)", unit="setting",
                        disable=disable_tqdm or len(groups) < 2 or getattr(self, "rank", 0) != 0)
        for key, idxs in settings:
            spec = json.loads(key)
            for i, reply in zip(idxs, self._latent_group([requests[i] for i in idxs], spec, disable_tqdm), strict=True):
                out[i] = reply
        return out  # type: ignore[return-value]

    def resolve_setting(self, spec: dict[str, Any]) -> tuple[AttackRecipe, Budget, ResolvedLayer] | None:
        """The attack, budget and layer a ``latent`` entry asks for (None for a clean one).

        Raises:
            ValueError: when no layer is given by the request or by ``perturb_layer``.
        """
        role = spec.get("role", "attack")
        if role not in protocol.ROLES:
            raise SettingError(f"latent role={role!r} is not known (allowed: {', '.join(protocol.ROLES)})")
        if role == "clean":
            return None
        layer_spec = parse_layer_spec(spec.get("layer"), "layer") if spec.get("layer") is not None else None
        layer = resolve_layer(self.model, layer_spec) if layer_spec is not None else self.layer
        if layer is None:
            raise SettingError(
                "this task attacks a layer: give perturb_layer=N (or \"embedding\") in --model_args, "
                "e.g. --model_args pretrained=DIR,perturb_layer=2,p=0.05"
            )
        recipe = self._recipe(spec["attack"]) if spec.get("attack") else self.lvs_recipe
        if spec.get("budget"):
            budget = Budget(spec["budget"]["kind"], float(spec["budget"]["value"]))
        else:
            budget = self.perturb.budget or recipe.default_budget
        budget.check_dtype(self.network.dtype)
        if role == "control":
            if not recipe.control:
                raise SettingError(f"attack {recipe.name!r} has no matched control (set `control:` in its recipe)")
            recipe = self._recipe(recipe.control)
        return recipe, budget, layer

    def _plain_group(self, requests: list[Instance], disable_tqdm: bool) -> list[str]:
        """Plain requests under the configured perturbation, as HFLM answers them; a row whose
        activations or logits went non-finite is answered `protocol.NON_FINITE_TEXT`."""
        record: dict[tuple[int, ...], tuple[float, bool]] = {}
        delta_fn = self.default_delta_fn(record)
        if delta_fn is None:
            return HFLM.generate_until(self, requests, disable_tqdm)
        with self._override(delta_fn):
            texts = HFLM.generate_until(self, requests, disable_tqdm)
        out = []
        for r, text in zip(requests, texts, strict=True):
            norm, ok = self._lookup(record, r.arguments[0])
            # (nan, False) is "no record of this row" (never seen by the attack): keep its text.
            out.append(protocol.NON_FINITE_TEXT if not ok and norm == norm else text)
        return out

    def _latent_group(self, requests: list[Instance], spec: dict[str, Any], disable_tqdm: bool) -> list[str]:
        setting = self.resolve_setting(spec)
        plain = [copy.copy(r) for r in requests]
        for r in plain:
            kwargs = {k: v for k, v in r.arguments[1].items() if k != protocol.KEY}
            r.arguments = (r.arguments[0], kwargs)
        self._note_truncation(plain)
        record: dict[tuple[int, ...], tuple[float, bool]] = {}
        if setting is None:
            with self._override(lambda _ids, _mask: None):
                texts = HFLM.generate_until(self, plain, disable_tqdm)
            return [protocol.LatentReply(text=t, role="clean").dumps() for t in texts]
        recipe, budget, layer = setting
        with self._override(self.attack_delta_fn(recipe, budget, layer, record)):
            texts = HFLM.generate_until(self, plain, disable_tqdm)
        replies = []
        for r, text in zip(plain, texts, strict=True):
            norm, ok = self._lookup(record, r.arguments[0])
            replies.append(
                protocol.LatentReply(
                    text=text, delta_norm=norm, ok=ok, role=spec.get("role", "attack"),
                    layer=str(layer.spec), budget=budget.label, attack=recipe.name,
                ).dumps()
            )
        return replies

    def _lookup(self, record: dict[tuple[int, ...], tuple[float, bool]], context: str) -> tuple[float, bool]:
        tokens = tuple(self.tok_batch_encode([context])[0][0].tolist())
        if tokens in record:
            return record[tokens]
        for key, value in record.items():  # a left-truncated prompt keeps its suffix
            if tokens[-len(key):] == key:
                return value
        return float("nan"), False

    def _note_truncation(self, requests: list[Instance]) -> None:
        if self._warned_truncation:
            return
        max_gen = max(int(r.arguments[1].get("max_gen_toks", self.max_gen_toks)) for r in requests)
        room = self.max_length - max_gen
        longest = max(len(self.tok_encode(r.arguments[0])) for r in requests)
        if longest > room:
            self._warned_truncation = True
            log.warning(
                "latent_hf: some prompts are longer than the model's context allows (%d tokens > "
                "max_length %d - max_gen_toks %d); they are truncated from the left. Said once.",
                longest, self.max_length, max_gen,
            )
