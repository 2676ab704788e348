"""Finding a model's decoder layers and naming the one to perturb.

A *layer spec* is what users write: an int (negative counts from the end, as in Python) or
``"embedding"`` for the token-embedding output. It resolves to the dotted module name of the
module whose output is perturbed; the same name serves the nnsight and the hook backends.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from lm_eval_latent.fields import SettingError, parse_int

EMBEDDING = "embedding"

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


def parse_layer_spec(value: int | float | str | None, field: str = "perturb_layer") -> int | str | None:
    """Turn a command-line value into an int, "embedding" or None.

    lm-eval's ``--model_args`` hands ``perturb_layer=-1`` over as the float -1.0: a whole float is
    the layer it names; 1.5 is refused.

    Raises:
        ValueError: for anything else, naming the field, the value and what is allowed.
    """
    if value is None or value == "":
        return None
    allowed = 'allowed: an int, negative from the end, or "embedding"'
    if isinstance(value, bool):
        raise SettingError(f"{field}={value!r} is not a layer ({allowed})")
    if isinstance(value, str) and value.strip().lower() in (EMBEDDING, "embed", "embeddings"):
        return EMBEDDING
    try:
        return parse_int(value, field)
    except ValueError:
        raise SettingError(f"{field}={value!r} is not a layer ({allowed})") from None


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


def parse_layer_range(text: str, num_layers: int | None, field: str = "layers") -> list[int | str]:
    """Parse a layer selection such as ``"4-20"``, ``"all"``, ``"2,5,embedding"``.

    Ranges are inclusive. ``all`` means every decoder layer plus the embedding. With
    ``num_layers`` None (model unknown yet) ranges are not checked and ``all`` is refused.

    Raises:
        ValueError: naming the bad piece and the allowed forms.
    """
    allowed = '"all", "A-B" (inclusive), a comma list of ints, or "embedding"'
    text = str(text).strip()
    if not text:
        raise SettingError(f"{field}={text!r} is empty (allowed: {allowed})")
    if text.lower() == "all":
        if num_layers is None:
            raise SettingError(f'{field}="all" needs the model\'s layer count; give a range such as "0-5"')
        return [EMBEDDING, *range(num_layers)]
    out: list[int | str] = []
    for piece in text.split(","):
        piece = piece.strip()
        if piece.lower() == EMBEDDING:
            out.append(EMBEDDING)
            continue
        try:
            if "-" in piece[1:]:
                lo, hi = piece.split("-", 1) if not piece.startswith("-") else (None, None)
                lo_i, hi_i = int(lo), int(hi)  # type: ignore[arg-type]
                if lo_i > hi_i:
                    raise ValueError
                out.extend(range(lo_i, hi_i + 1))
            else:
                out.append(int(piece))
        except (TypeError, ValueError):
            raise SettingError(f"{field}: cannot read {piece!r} (allowed: {allowed})") from None
    for item in out:
        if num_layers is not None and isinstance(item, int) and not -num_layers <= item < num_layers:
            raise SettingError(
                f"{field}: layer {item} is out of range for a model with {num_layers} layers "
                f'(allowed: {-num_layers}..{num_layers - 1} or "embedding")'
            )
    return out
