"""`latent_hf`: lm-eval's HF model with a latent perturbation or a LoRA attack adapter.

Built the way lm-eval's ``hf_steered`` is: a subclass of ``HFLM`` that overrides only the two
calls that touch the network (``_model_call`` for loglikelihood, ``_model_generate`` for
generation) and always leaves the model clean afterwards, also when a call raises. Every ``HFLM``
argument keeps working.

    lm_eval --model latent_hf --model_args pretrained=DIR,perturb_layer=2,eps=4 --tasks refusal_rate
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from torch import Tensor, nn

from .config import PerturbConfig
from .directions import load_direction, random_direction
from .intervention import LayerDelta, get_backend
from .layers import ResolvedLayer, resolve_layer

# Keyword arguments that HFLM forwards to `from_pretrained`; accepted as they are.
HF_LOAD_KWARGS = frozenset(
    {
        "device_map", "attn_implementation", "torch_dtype", "low_cpu_mem_usage", "load_in_8bit",
        "load_in_4bit", "bnb_4bit_quant_type", "bnb_4bit_compute_dtype", "bnb_4bit_use_double_quant",
        "quantization_config", "use_safetensors", "cache_dir", "local_files_only", "token",
        "offload_state_dict", "variant", "use_cache", "gradient_checkpointing",
    }
)
_HFLM_ARGS = frozenset(p for p in inspect.signature(HFLM.__init__).parameters if p not in ("self", "kwargs"))

DeltaFn = Callable[[Tensor, Tensor | None], LayerDelta | None]


def check_model_args(kwargs: dict[str, Any]) -> None:
    """Refuse model_args that neither HFLM, from_pretrained nor latent_hf know.

    Raises:
        ValueError: naming the unknown argument, the closest known one and the lists.
    """
    ours = set(PerturbConfig.field_names())
    known = _HFLM_ARGS | ours | HF_LOAD_KWARGS
    for key in kwargs:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown model arg {key!r}{hint}. latent_hf takes: {', '.join(sorted(ours))}; "
                f"plus every lm-eval `hf` argument ({', '.join(sorted(_HFLM_ARGS))}) and these "
                f"from_pretrained keywords: {', '.join(sorted(HF_LOAD_KWARGS))}"
            )


class _PerturbedModel:
    """Stands in for the HF model inside HFLM's own `_model_generate` while a delta is active."""

    def __init__(self, model: nn.Module, backend: Any, delta_fn: DeltaFn) -> None:
        self._model = model
        self._backend = backend
        self._delta_fn = delta_fn

    def generate(self, input_ids: Tensor, attention_mask: Tensor | None = None, **kwargs: Any) -> Tensor:
        inputs = {"input_ids": input_ids}
        if attention_mask is not None:
            inputs["attention_mask"] = attention_mask
        return self._backend.generate(self._model, inputs, self._delta_fn(input_ids, attention_mask), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@register_model("latent_hf")
class LatentHFLM(HFLM):
    """HFLM whose forward and generate calls run under a latent perturbation or a LoRA adapter.

    New model_args (all flat key=value): ``perturb_layer``, ``eps``, ``direction``, ``positions``,
    ``seed``, ``lora``, ``merge_lora``, ``backend``. See docs/latent_hf.md.
    """

    def __init__(self, pretrained: str | nn.Module = "", **kwargs: Any) -> None:
        check_model_args(kwargs)
        self.perturb = PerturbConfig.pop_from(kwargs)
        super().__init__(pretrained=pretrained, **kwargs)
        if self.perturb.lora:
            self._model = self._load_adapter(self._model, self.perturb.lora, self.perturb.merge_lora)
        self.intervention_backend = get_backend(self.perturb.backend)
        if hasattr(self.intervention_backend, "tokenizer"):
            self.intervention_backend.tokenizer = self.tokenizer
        self.layer: ResolvedLayer | None = None
        self.vector: Tensor | None = None
        if self.perturb.perturb_layer is not None:
            self.layer = resolve_layer(self.model, self.perturb.perturb_layer)
            self.vector = self._direction() * self.perturb.eps
        self._stand_in: _PerturbedModel | None = None

    # ------------------------------------------------------------------ set-up
    @property
    def hidden_size(self) -> int:
        """Width of the residual stream."""
        return int(self.model.get_input_embeddings().weight.shape[-1])

    def _direction(self) -> Tensor:
        if self.perturb.direction:
            return load_direction(self.perturb.direction, self.hidden_size)
        return random_direction(self.hidden_size, self.perturb.seed)

    @staticmethod
    def _load_adapter(model: nn.Module, lora: str, merge: bool) -> nn.Module:
        from peft import PeftModel

        looks_local = lora.startswith((".", "/", "~")) or Path(lora).expanduser().exists()
        path = Path(lora).expanduser()
        if looks_local and not (path / "adapter_config.json").is_file():
            raise FileNotFoundError(
                f"lora={lora!r}: no PEFT adapter there (expected {path / 'adapter_config.json'}); "
                "give the directory written by `save_pretrained` or a Hub id"
            )
        base_name = getattr(model.config, "_name_or_path", type(model).__name__)
        try:
            peft_model = PeftModel.from_pretrained(model, str(path) if looks_local else lora)
        except RuntimeError as err:
            if "size mismatch" in str(err):
                raise ValueError(
                    f"lora={lora!r} was trained for another base model than {base_name!r}: "
                    f"its weights do not fit ({str(err).splitlines()[0]})"
                ) from err
            raise
        except OSError as err:
            raise OSError(
                f"lora={lora!r}: could not load the adapter ({err}). Offline? Download it first and "
                "pass its local directory."
            ) from err
        peft_model.eval()
        return peft_model.merge_and_unload() if merge else peft_model

    # ------------------------------------------------------------- perturbation
    def fixed_delta(self, input_ids: Tensor, attention_mask: Tensor | None) -> LayerDelta | None:
        """The configured vector at the configured layer (None when clean)."""
        if not self.perturb.active or self.layer is None or self.vector is None:
            return None
        return LayerDelta(self.layer.module_name, self.vector, self.perturb.positions)  # type: ignore[arg-type]

    @property
    def model(self) -> Any:
        if getattr(self, "_stand_in", None) is not None:
            return self._stand_in
        return super().model

    @contextmanager
    def perturbed(self, delta_fn: DeltaFn) -> Iterator[None]:
        """Route HFLM's generate calls through the backend with ``delta_fn``; always undone."""
        self._stand_in = _PerturbedModel(super().model, self.intervention_backend, delta_fn)
        try:
            yield
        finally:
            self._stand_in = None

    def _model_call(self, inps: Tensor, attn_mask: Tensor | None = None, labels: Tensor | None = None) -> Tensor:
        delta = self.fixed_delta(inps, attn_mask)
        if delta is None or labels is not None:
            return super()._model_call(inps, attn_mask=attn_mask, labels=labels)
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
        if not self.perturb.active:
            return super()._model_generate(context, max_length, stop, **generation_kwargs)
        with torch.no_grad(), self.perturbed(self.fixed_delta):
            return super()._model_generate(context, max_length, stop, **generation_kwargs)
