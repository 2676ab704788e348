"""`latent_hf`: lm-eval's HF model with a latent perturbation, a latent attack or a LoRA adapter.

Built the way lm-eval's ``hf_steered`` is: a subclass of ``HFLM`` that overrides only the calls
that touch the network (``_model_call`` for loglikelihood, ``_model_generate`` for generation)
and always leaves the model clean afterwards, also when a call raises. Every ``HFLM`` argument
keeps working.

    lm_eval --model latent_hf --model_args pretrained=DIR,perturb_layer=2,eps=4 --tasks refusal_rate

Plain requests run under the configured perturbation (``attack`` at ``perturb_layer`` with the
budget ``eps``/``p``/``frac``). Requests that carry a `protocol.Setting` (the LVS tasks) ask for a
clean, attacked or control generation; `resolve` turns a setting into the attack, budget and layer,
choosing every default in one place, and the reply is a JSON `protocol.LatentReply` with
``||delta||`` (see `latent_requests`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from lm_eval.api.instance import Instance
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from torch import Tensor, nn

from lm_eval_latent.model.adapters import load_adapter
from lm_eval_latent.fields import SettingError
from lm_eval_latent.attacks import AttackRecipe, Budget, load_recipe, run_attack
from lm_eval_latent.model.config import PerturbConfig
from lm_eval_latent.model.model_args import check_model_args
from lm_eval_latent.attacks.directions import load_direction
from lm_eval_latent.attacks.intervention import LayerDelta, get_backend, output_width
from lm_eval_latent.model.latent_requests import LatentRequests
from lm_eval_latent.model.layers import ResolvedLayer, resolve_layer
from lm_eval_latent.task_classes.protocol import Setting

log = logging.getLogger(__name__)
DeltaFn = Callable[[Tensor, Tensor | None], LayerDelta | None]


def _unperturbed(_ids: Tensor, _mask: Tensor | None) -> None:
    """Marks a `generate_under` call with no delta: HFLM generates as it would on its own."""
    return None


@dataclass(frozen=True)
class Resolved:
    """A request's perturbation, resolved against the loaded model (see `LatentHFLM.resolve`)."""

    recipe: AttackRecipe
    budget: Budget
    layer: ResolvedLayer

    def __iter__(self) -> Iterator[Any]:
        return iter((self.recipe, self.budget, self.layer))


class _PerturbedModel:
    """Stands in for the HF model inside HFLM's own `_model_generate` while a delta is active."""

    def __init__(self, model: nn.Module, backend: Any, delta_fn: DeltaFn) -> None:
        self._model = model
        self._backend = backend
        self._delta_fn = delta_fn

    def generate(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs: Any) -> Tensor:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        return self._backend.generate(self._model, inputs, self._delta_fn(input_ids, attention_mask), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@register_model("latent_hf")
class LatentHFLM(HFLM):
    """HFLM whose forward and generate calls run under a latent perturbation or a LoRA adapter.

    New model_args (all flat key=value): ``perturb_layer``, ``eps`` / ``p`` / ``frac``,
    ``attack``, ``direction``, ``positions``, ``steps``, ``step_size``, ``target``, ``seed``,
    ``apply_to``, ``lora``, ``merge_lora``, ``backend``. See docs/latent_hf.md.
    """

    def __init__(self, pretrained: str | nn.Module = "", **kwargs: Any) -> None:
        check_model_args(kwargs)
        self.perturb = PerturbConfig.pop_from(kwargs)
        super().__init__(pretrained=pretrained, **kwargs)
        if self.perturb.lora:
            self._model = load_adapter(self._model, self.perturb.lora, self.perturb.merge_lora)
        self.intervention_backend = get_backend(self.perturb.backend, self.tokenizer)
        cfg = self.perturb
        if cfg.budget is not None:
            cfg.budget.check_dtype(self.network.dtype)
        # Plain requests default to the fixed vector eps * direction; latent requests (the LVS
        # tasks) default to the paper's attack.
        self.recipe = self._recipe(cfg.attack or "direction")
        self.lvs_recipe = self.recipe if cfg.attack else self._recipe("pgd_linf")
        self.layer: ResolvedLayer | None = (
            resolve_layer(self.model, cfg.perturb_layer) if cfg.perturb_layer is not None else None
        )
        if self.layer is not None:
            output_width(self.network, self.layer.module_name)  # probed once now, not mid-request
        # Checked against the configured layer's width now; a layer named by a task later is
        # checked by the attack (widths differ where embeddings are projected, as in OPT-350m).
        self.direction: Tensor | None = (
            load_direction(cfg.direction, self.hidden_size) if cfg.direction else None
        )
        self._stand_in: _PerturbedModel | None = None
        self._delta_override: DeltaFn | None = None
        self._answers = LatentRequests(self)
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
        return output_width(self.network, self.layer.module_name) if self.layer is not None else None

    def _create_model(self, pretrained: str, *, gguf_file: str | None = None, **kwargs: Any) -> None:
        """HFLM's model loading, handing a GGUF model the config HFLM has already read.

        transformers parses a GGUF file whole for each thing it reads from it (2-3 s for a 135M
        model): without the config, ``from_pretrained`` would parse it once more just for that.
        """
        config = getattr(self, "_config", None)
        if gguf_file and config is not None and "config" not in kwargs:
            kwargs["config"] = config
        super()._create_model(pretrained, gguf_file=gguf_file, **kwargs)

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
            ValueError: when no layer is given by the request or by ``perturb_layer``, or when
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
        budget.check_dtype(self.network.dtype)
        if setting.role == "control":
            if not recipe.control:
                raise SettingError(f"attack {recipe.name!r} has no matched control (set `control:` in its recipe)")
            recipe = self._recipe(recipe.control)
        return Resolved(recipe, budget, layer)

    # ------------------------------------------------------------- perturbation
    def attack_delta_fn(
        self,
        recipe: AttackRecipe,
        budget: Budget,
        layer: ResolvedLayer,
        record: dict[tuple[int, ...], tuple[float, bool]] | None = None,
    ) -> DeltaFn:
        """A function computing each batch's delta; it records ``(norm, ok)`` per row's tokens."""
        target_ids = None
        if recipe.kind in ("pgd_linf", "pgd_l2"):
            target_ids = torch.tensor(self.tokenizer(recipe.target, add_special_tokens=False)["input_ids"])

        def delta_fn(input_ids: Tensor, attention_mask: Tensor | None) -> LayerDelta | None:
            mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
            result = run_attack(
                self.network, self.intervention_backend, layer.module_name,
                {"input_ids": input_ids, "attention_mask": mask}, recipe, budget,
                direction=self.direction, target_ids=target_ids,
            )
            if record is not None:
                for ids, m, norm, ok in zip(input_ids.tolist(), mask.tolist(), result.norms.tolist(),
                                            result.ok.tolist(), strict=True):
                    record[tuple(t for t, keep in zip(ids, m, strict=True) if keep)] = (norm, ok)
            return result.delta

        delta_fn.setting = (recipe, budget, layer, target_ids)  # type: ignore[attr-defined]  # for auto batch size
        return delta_fn

    def _detect_batch_size(self, requests: Any = None, pos: int = 0) -> int:
        """``batch_size=auto``: HFLM's size for generation, capped by what one PGD step fits.

        A PGD step keeps every activation above the perturbed layer for its backward pass, far
        more memory than generation needs, so the batch that generation fits can fail in the
        attack. The cap is probed once per layer and attack with a one-step attack on a batch
        of ``max_length`` tokens, halving on out-of-memory as HFLM does.
        """
        size = super()._detect_batch_size(requests, pos)
        fn = self._delta_override if self._delta_override is not None else self.default_delta_fn()
        setting = getattr(fn, "setting", None)
        if setting is None or setting[0].kind not in ("pgd_linf", "pgd_l2"):
            return size
        key = (setting[2].module_name, setting[0].kind, size)
        if key not in self._attack_batch_sizes:
            self._attack_batch_sizes[key] = self._attack_batch_size(size, *setting)
        return self._attack_batch_sizes[key]

    def _attack_batch_size(self, start: int, recipe: AttackRecipe, budget: Budget, layer: ResolvedLayer,
                           target_ids: Tensor) -> int:
        from accelerate.utils import find_executable_batch_size

        length = max(1, self.max_length - len(target_ids))
        one_step = recipe.override(steps=1)

        @find_executable_batch_size(starting_batch_size=start)
        def probe(batch_size: int) -> int:
            ids = torch.ones((batch_size, length), dtype=torch.long, device=self.device)
            run_attack(self.network, self.intervention_backend, layer.module_name,
                       {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, one_step, budget,
                       direction=self.direction, target_ids=target_ids)
            return batch_size

        try:
            size = probe()
        except RuntimeError as err:
            if "No executable batch size found" not in str(err):
                raise
            size = 1
        log.info("latent_hf: batch_size=auto: %d rows fit a PGD step at %s", size, layer.module_name)
        return size

    def default_delta_fn(self, record: dict[tuple[int, ...], tuple[float, bool]] | None = None) -> DeltaFn | None:
        """The configured perturbation for plain requests (None when clean); ``record`` as in
        `attack_delta_fn`."""
        resolved = self.resolve(None)
        return None if resolved is None else self.attack_delta_fn(*resolved, record=record)

    @property
    def model(self) -> Any:
        if getattr(self, "_stand_in", None) is not None:
            return self._stand_in
        return super().model

    @property
    def network(self) -> nn.Module:
        """The loaded torch model itself (never the stand-in used while generating)."""
        return HFLM.model.fget(self)  # type: ignore[attr-defined]

    @contextmanager
    def perturbed(self, delta_fn: DeltaFn) -> Iterator[None]:
        """Route HFLM's generate calls through the backend with ``delta_fn``; always undone."""
        self._stand_in = _PerturbedModel(self.network, self.intervention_backend, delta_fn)
        try:
            yield
        finally:
            self._stand_in = None

    def generate_under(self, delta_fn: DeltaFn | None, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """HFLM's own generate_until (its batching and stopping), every batch under ``delta_fn``
        (None: HFLM's own generation, unperturbed whatever the configuration)."""
        self._delta_override = delta_fn if delta_fn is not None else _unperturbed
        try:
            return HFLM.generate_until(self, requests, disable_tqdm)
        finally:
            self._delta_override = None

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Plain requests under the configured perturbation; LVS requests per their `Setting`."""
        return self._answers.generate_until(requests, disable_tqdm)

    def _model_call(self, inps: Tensor, attn_mask: Tensor | None = None, labels: Tensor | None = None) -> Tensor:
        delta_fn = self.default_delta_fn()
        if delta_fn is None or labels is not None:
            return super()._model_call(inps, attn_mask=attn_mask, labels=labels)
        # Loglikelihood: the whole input (context and continuation) is the "prompt" here.
        delta = delta_fn(inps, torch.ones_like(inps))
        with (
            torch.no_grad(),
            torch.autocast(
                device_type=self.device.type,
                dtype=self.mixed_precision_dtype,
                enabled=self.mixed_precision_dtype is not None,
            ),
        ):
            return self.intervention_backend.forward(self.model, {"input_ids": inps}, delta)

    def _model_generate(self, context: Tensor, max_length: int, stop: list[str], **generation_kwargs: Any) -> Tensor:
        delta_fn = self._delta_override if self._delta_override is not None else self.default_delta_fn()
        if delta_fn is None or delta_fn is _unperturbed:
            return super()._model_generate(context, max_length, stop, **generation_kwargs)
        with torch.no_grad(), self.perturbed(delta_fn):
            return super()._model_generate(context, max_length, stop, **generation_kwargs)
