"""Finding a model's decoder layers and naming the one to perturb.

A *layer spec* (`lm_eval_latent.layer_spec`: an int, negative from the end, or ``"embedding"``)
resolves here, against a loaded model, to the dotted name of the module whose output is
perturbed; the same name serves the nnsight and the hook backends.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lm_eval_latent.fields import SettingError
from lm_eval_latent.layer_spec import EMBEDDING, parse_layer_range

# Dotted suffixes of the decoder-layer list in the architectures people audit.
_LAYER_LIST_SUFFIXES = (
    "model.layers",  # Llama, Mistral, Qwen, Gemma, Phi-3
    "model.language_model.layers",  # Gemma-3 / multimodal wrappers
    "transformer.h",  # GPT-2, GPT-J, Falcon
    "gpt_neox.layers",  # Pythia
    "model.decoder.layers",  # OPT
    "transformer.blocks",  # MPT
)


@dataclass(frozen=True)
class ResolvedLayer:
    """A layer spec resolved against one model.

    Attributes:
        spec: what the user asked for (int or "embedding").
        index: the non-negative decoder-layer index, or None for the embedding.
        module_name: dotted name of the module whose output is perturbed.
        num_layers: number of decoder layers in the model.
    """

    spec: int | str
    index: int | None
    module_name: str
    num_layers: int


def decoder_layers_name(model: nn.Module) -> str:
    """Return the dotted name of the model's list of decoder layers.

    Works through PEFT wrappers (``base_model.model.``) because it matches suffixes.

    Raises:
        ValueError: when no known layer list is found; the message says how to help.
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and any(
            name == s or name.endswith("." + s) for s in _LAYER_LIST_SUFFIXES
        ):
            return name
    raise SettingError(
        f"don't know where the decoder layers of {type(model).__name__} are: looked for a "
        f"ModuleList named one of {', '.join(_LAYER_LIST_SUFFIXES)}. Open an issue with the "
        "model's architecture, or load a supported architecture."
    )


def embedding_name(model: nn.Module) -> str:
    """Return the dotted name of the input-embedding module."""
    embed = model.get_input_embeddings()
    for name, module in model.named_modules():
        if module is embed:
            return name
    raise SettingError(f"{type(model).__name__} has no input-embedding module to perturb")


def num_layers(model: nn.Module) -> int:
    """The number of decoder layers of ``model``."""
    return len(model.get_submodule(decoder_layers_name(model)))


def resolve_layer_range(model: nn.Module, text: str, field: str = "layers") -> list[int | str]:
    """The layer specs a layer range (``"all"``, ``"4-20"``, ``"2,5,embedding"``) names in
    ``model``, each once, in the range's order.

    Raises:
        ValueError: for a bad piece, or a layer out of range for the model (naming its count).
    """
    return list(dict.fromkeys(parse_layer_range(text, num_layers(model), field)))


def resolve_layer(model: nn.Module, spec: int | str, field: str = "perturb_layer") -> ResolvedLayer:
    """Resolve a layer spec against ``model``.

    Raises:
        ValueError: when the index is out of range; the message gives the model's layer count.
    """
    layers_name = decoder_layers_name(model)
    num_layers = len(model.get_submodule(layers_name))
    if spec == EMBEDDING:
        return ResolvedLayer(spec, None, embedding_name(model), num_layers)
    if not isinstance(spec, int) or not -num_layers <= spec < num_layers:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT
        arch = type(base).__name__
        raise SettingError(
            f"{field}={spec!r} is out of range for {arch} with {num_layers} layers "
            f'(allowed: {-num_layers}..{num_layers - 1} or "embedding")'
        )
    index = spec % num_layers
    return ResolvedLayer(spec, index, f"{layers_name}.{index}", num_layers)
