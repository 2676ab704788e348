"""`latent_hf`: lm-eval's HF model with a latent perturbation, a latent attack or a LoRA adapter.

Built the way lm-eval's ``hf_steered`` is: a subclass of ``HFLM`` whose ``_model_call``
(loglikelihood) and ``_model_generate`` (generation) run ``super()``'s call inside one
intervention (`Backend.run`: nnsight or hooks) that always leaves the model clean afterwards,
also when a call raises. Every ``HFLM`` argument keeps working.

    lm_eval --model latent_hf --model_args pretrained=DIR,perturb_layer=2,eps=4 --tasks refusal_rate

Plain requests run under the configured perturbation (``attack`` at ``perturb_layer`` with the
budget ``eps``/``p``/``frac``). Requests that carry a `protocol.Setting` (the LVS tasks) ask for a
clean, attacked or control generation; `resolve` turns a setting into the attack, budget and layer,
choosing every default in one place. `generate_until` answers each setting's requests with one call
of HFLM's own generate_until; the attack is computed per batch, on the batch HFLM hands
`_model_generate`, and each row's ``||delta||`` reaches its reply through `latent_requests.RowLog`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from lm_eval.api.instance import Instance
from lm_eval.api.model import CacheHook
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from torch import Tensor, nn
from tqdm import tqdm

from lm_eval_latent.attacks import AttackRecipe, AttackResult, Budget, load_recipe, run_attack
from lm_eval_latent.attacks.directions import load_direction
from lm_eval_latent.attacks.intervention import get_backend, output_width
from lm_eval_latent.fields import SettingError
from lm_eval_latent.model.adapters import load_adapter
from lm_eval_latent.model.config import PerturbConfig
from lm_eval_latent.model.latent_requests import RowLog, answer, group_by_setting, join, per_layer, truncation_note
from lm_eval_latent.model.layers import ResolvedLayer, resolve_layer, resolve_layer_range
from lm_eval_latent.model.model_args import check_model_args
from lm_eval_latent.task_classes.protocol import Setting

log = logging.getLogger(__name__)
# Model args that do not change what is computed (so lm-eval's cache may serve a latent_hf run).
_CACHE_NEUTRAL = ("backend",)


@dataclass(frozen=True)
class Resolved:
    """A request's perturbation, resolved against the loaded model (see `LatentHFLM.resolve`)."""

    recipe: AttackRecipe
    budget: Budget
    layer: ResolvedLayer


@register_model("latent_hf")
class LatentHFLM(HFLM):
    """HFLM whose forward and generate calls run under a latent perturbation or a LoRA adapter.

    New model_args (all flat key=value): ``perturb_layer``, ``eps`` / ``p`` / ``frac``,
    ``attack``, ``direction``, ``positions``, ``steps``, ``step_size``, ``target``, ``seed``,
    ``apply_to``, ``lora``, ``merge_lora``, ``backend``. See docs/latent_hf.md.
    """

    def __init__(self, pretrained: str | nn.Module = "", **kwargs: Any) -> None:
        check_model_args(kwargs)
        self.latent_args = {k: kwargs[k] for k in PerturbConfig.field_names() if k in kwargs}
        self.perturb = PerturbConfig.pop_from(kwargs)
        super().__init__(pretrained=pretrained, **kwargs)
        cfg = self.perturb
        if cfg.lora:
            self._model = load_adapter(self._model, cfg.lora, cfg.merge_lora)
        self.intervention_backend = get_backend(cfg.backend, self.tokenizer)
        if cfg.budget is not None:
            cfg.budget.check_dtype(self.model.dtype)
        # Plain requests default to the fixed vector eps * direction; latent requests (the LVS
        # tasks) default to the paper's attack.
        self.recipe = self._recipe(cfg.attack or "direction")
        self.lvs_recipe = self.recipe if cfg.attack else self._recipe("pgd_linf")
        self.layer: ResolvedLayer | None = (
            resolve_layer(self.model, cfg.perturb_layer) if cfg.perturb_layer is not None else None
        )
        if self.layer is not None:
            output_width(self.model, self.layer.module_name)  # probed once now, not mid-request
        # Checked against the configured layer's width now; a layer named by a task later is
        # checked by the attack (widths differ where embeddings are projected, as in OPT-350m).
        self.direction: Tensor | None = (
            load_direction(cfg.direction, self.hidden_size) if cfg.direction else None
        )
        self._warned_truncation = False
        self._attack_batch_sizes: dict[tuple[str, str, int], int] = {}
        # HFLM 0.4.13 adopts accelerate's rank and world size only when it sees more than one GPU;
        # on CPU (torchrun with ACCELERATE_USE_CPU=1, gloo) every process would run every document.
        acc = getattr(self, "accelerator", None)
        if acc is not None and acc.num_processes > 1 and self._world_size == 1:
            self._rank, self._world_size, self._device = acc.process_index, acc.num_processes, acc.device

    # ------------------------------------------------------------------ set-up
    @property
    def hidden_size(self) -> int | None:
        """Width of the perturbed layer's output (None while no ``perturb_layer`` is set)."""
        return output_width(self.model, self.layer.module_name) if self.layer is not None else None

    def _create_model(self, pretrained: str, *, gguf_file: str | None = None, **kwargs: Any) -> None:
        """HFLM's model loading, handing a GGUF model the config HFLM has already read.

        transformers parses a GGUF file whole for each thing it reads from it (2-3 s for a 135M
        model): without the config, ``from_pretrained`` would parse it once more just for that.
        """
        config = getattr(self, "_config", None)
        if gguf_file and config is not None and "config" not in kwargs:
            kwargs["config"] = config
        super()._create_model(pretrained, gguf_file=gguf_file, **kwargs)

    def set_cache_hook(self, cache_hook: CacheHook) -> None:
        """Refuse ``--use_cache`` for a run whose latent settings lm-eval's cache key cannot see.

        lm-eval keys its cache on each request alone: answers computed at ``eps=4`` would be
        served to a later run at ``eps=8``. A setting a task puts in its requests (the LVS tasks)
        is part of the request, hence of the key; the model's own latent arguments are not.

        Raises:
            SettingError: caching is asked for while a latent model argument is given.
        """
        given = {k: v for k, v in self.latent_args.items() if k not in _CACHE_NEUTRAL}
        if getattr(cache_hook, "dbdict", None) is not None and given:
            named = ",".join(f"{k}={v}" for k, v in given.items())
            raise SettingError(
                f"--use_cache cannot be used with latent_hf's latent arguments ({named}): lm-eval keys "
                "its cache on the request only, so answers of another perturbation, attack or adapter "
                "would be served from it. Run without --use_cache (or give each setting its own "
                "cache path and drop the latent arguments)."
            )
        super().set_cache_hook(cache_hook)

    def _recipe(self, name: str) -> AttackRecipe:
        cfg = self.perturb
        recipe = load_recipe(name)
        return recipe.override(
            steps=cfg.steps, step_size=cfg.step_size, target=cfg.target,
            positions=cfg.positions, seed=recipe.seed + cfg.seed,
        )

    # ------------------------------------------------------------ what to apply
    def resolve(self, setting: Setting | None) -> Resolved | None:
        """What a request gets: the attack, budget and layer, with every default chosen here.

        ``setting`` None is a plain request: the configured perturbation (None while it is not
        active). A `Setting` (the LVS tasks) falls back to ``perturb_layer``, then the configured
        budget, then the attack's own default budget; clean gets None.

        Raises:
            SettingError: when no layer is given by the request or by ``perturb_layer``, or when
                a control is asked of an attack without one.
        """
        if setting is None:
            if not self.perturb.active or self.layer is None:
                return None
            return Resolved(self.recipe, self.perturb.budget or self.recipe.default_budget, self.layer)
        if setting.role == "clean":
            return None
        layer = resolve_layer(self.model, setting.layer, "layer") if setting.layer is not None else self.layer
        if layer is None:
            raise SettingError(
                "this task attacks a layer: give perturb_layer=N (or \"embedding\") in --model_args, "
                "e.g. --model_args pretrained=DIR,perturb_layer=2,p=0.05"
            )
        recipe = self._recipe(setting.attack) if setting.attack else self.lvs_recipe
        budget = setting.budget or self.perturb.budget or recipe.default_budget
        budget.check_dtype(self.model.dtype)
        if setting.role == "control":
            if not recipe.control:
                raise SettingError(f"attack {recipe.name!r} has no matched control (set `control:` in its recipe)")
            recipe = self._recipe(recipe.control)
        return Resolved(recipe, budget, layer)

    def target_ids(self, recipe: AttackRecipe) -> Tensor | None:
        """The affirmative target's token ids of a PGD attack (None for the others)."""
        if recipe.kind not in ("pgd_linf", "pgd_l2"):
            return None
        return torch.tensor(self.tokenizer(recipe.target, add_special_tokens=False)["input_ids"])

    def attack(self, resolved: Resolved, input_ids: Tensor, attention_mask: Tensor | None = None) -> AttackResult:
        """The perturbation of one left-padded batch under ``resolved``: delta, norms, finiteness."""
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        with torch.no_grad():  # PGD turns gradients on for its own steps
            return run_attack(
                self.model, self.intervention_backend, resolved.layer.module_name,
                {"input_ids": input_ids, "attention_mask": mask}, resolved.recipe, resolved.budget,
                direction=self.direction, target_ids=self.target_ids(resolved.recipe),
            )

    # ------------------------------------------------------------- answering
    @contextmanager
    def _answering(self, resolved: Resolved | None, setting: Setting | None) -> Iterator[RowLog]:
        """For one group: HFLM's generate calls run under ``resolved``, and rows are logged.

        HFLM calls `_model_generate` and `_detect_batch_size` with no request in hand, so the
        group's `RowLog` stands in for lm-eval's per-row hook for the duration of the block (and
        no longer): it holds what the group runs under and pairs each row with its numbers.
        """
        rows = RowLog(resolved, self.cache_hook, keep_to_self=setting is not None)
        self.cache_hook = rows
        try:
            yield rows
        finally:
            self.cache_hook = rows.forward

    def _group(self) -> RowLog | None:
        return self.cache_hook if isinstance(self.cache_hook, RowLog) else None

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Plain requests under the configured perturbation; LVS requests per their `Setting`.

        Each group is one call of HFLM's own generate_until (its batching and stopping). A
        setting's layer range is resolved here, against this model's layers: one run per layer.
        """
        runs, parts = per_layer(requests, lambda text: resolve_layer_range(self.model, text, "layers"))
        groups = group_by_setting(runs)
        out: list[str] = [""] * len(runs)
        bar = tqdm(groups.items(), desc="latent settings (clean / attack / control)", unit="setting",
                   disable=disable_tqdm or len(groups) < 2 or getattr(self, "rank", 0) != 0)
        for setting, members in bar:
            group = [r for _, r in members]
            resolved = self.resolve(setting)
            if setting is not None:
                self._note_truncation(group)
            with self._answering(resolved, setting) as rows:
                texts = super().generate_until(group, disable_tqdm)
            for (i, r), text in zip(members, texts, strict=True):
                out[i] = answer(text, rows.take(r.arguments[0]) if resolved else None, setting, resolved)
        return join(out, requests, parts)

    def _note_truncation(self, requests: list[Instance]) -> None:
        if self._warned_truncation:
            return
        note = truncation_note(requests, self.max_length, self.max_gen_toks, self.tok_encode)
        if note is not None:
            self._warned_truncation = True
            log.warning(note)

    def _model_generate(self, context: Tensor, max_length: int, stop: list[str], **generation_kwargs: Any) -> Tensor:
        group = self._group()
        resolved = group.resolved if group is not None else self.resolve(None)
        if resolved is None:
            return super()._model_generate(context, max_length, stop, **generation_kwargs)
        mask = generation_kwargs.pop("attention_mask", None)
        result = self.attack(resolved, context, mask)
        if group is not None:
            group.add_batch(result.norms.tolist(), result.ok.tolist())
        if result.delta is None:
            return super()._model_generate(context, max_length, stop, attention_mask=mask, **generation_kwargs)
        inputs = {"input_ids": context, "attention_mask": mask if mask is not None else torch.ones_like(context)}
        # nnsight hands the callable the inputs as it assembled them (with position ids from the
        # left padding); they go on to HF's generate, as they did before the wrapper ran super().
        return self.intervention_backend.run(
            self.model, inputs, result.delta,
            lambda input_ids, **assembled: super(LatentHFLM, self)._model_generate(
                input_ids, max_length, stop, **assembled, **generation_kwargs),
        )

    def _model_call(self, inps: Tensor, attn_mask: Tensor | None = None, labels: Tensor | None = None) -> Tensor:
        resolved = self.resolve(None)
        if resolved is None or labels is not None:
            return super()._model_call(inps, attn_mask=attn_mask, labels=labels)
        # Loglikelihood: the whole input (context and continuation) is the "prompt" here.
        result = self.attack(resolved, inps)
        if result.delta is None:
            return super()._model_call(inps)
        return self.intervention_backend.run(
            self.model, {"input_ids": inps}, result.delta,
            # (nnsight hands the callable the attention mask it builds; HFLM's call takes none)
            lambda input_ids, **_mask: super(LatentHFLM, self)._model_call(input_ids),
        )

    # --------------------------------------------------------------- batch size
    def _detect_batch_size(self, requests: Any = None, pos: int = 0) -> int:
        """``batch_size=auto``: HFLM's size for generation, capped by what one PGD step fits.

        A PGD step keeps every activation above the perturbed layer for its backward pass, far
        more memory than generation needs, so the batch that generation fits can fail in the
        attack. The cap is probed once per layer and attack with a one-step attack on a batch
        of ``max_length`` tokens, halving on out-of-memory as HFLM does.
        """
        size = super()._detect_batch_size(requests, pos)
        group = self._group()
        resolved = group.resolved if group is not None else self.resolve(None)
        if resolved is None or resolved.recipe.kind not in ("pgd_linf", "pgd_l2"):
            return size
        key = (resolved.layer.module_name, resolved.recipe.kind, size)
        if key not in self._attack_batch_sizes:
            self._attack_batch_sizes[key] = self._attack_batch_size(size, resolved)
        return self._attack_batch_sizes[key]

    def _attack_batch_size(self, start: int, resolved: Resolved) -> int:
        from accelerate.utils import find_executable_batch_size

        target_ids = self.target_ids(resolved.recipe)
        length = max(1, self.max_length - len(target_ids))
        one_step = Resolved(resolved.recipe.override(steps=1), resolved.budget, resolved.layer)

        @find_executable_batch_size(starting_batch_size=start)
        def probe(batch_size: int) -> int:
            self.attack(one_step, torch.ones((batch_size, length), dtype=torch.long, device=self.device))
            return batch_size

        try:
            size = probe()
        except RuntimeError as err:
            if "No executable batch size found" not in str(err):
                raise
            size = 1
        log.info("latent_hf: batch_size=auto: %d rows fit a PGD step at %s", size, resolved.layer.module_name)
        return size
