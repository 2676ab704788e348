"""Layer specs as users write them, read without a model (tasks, configs and commands share them).

A *layer spec* is an int (negative counts from the end, as in Python) or ``"embedding"`` for the
token-embedding output; a *layer range* selects several (``"4-20"``, ``"all"``,
``"2,5,embedding"``). `lm_eval_latent.model.layers` resolves a spec against a loaded model.
"""

from __future__ import annotations

from lm_eval_latent.fields import SettingError, parse_int

EMBEDDING = "embedding"


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


def check_layer_range(text: str, field: str = "layers") -> str:
    """Check a layer range's form without a model (``"all"`` included); return it stripped.

    What `parse_layer_range` can tell without the layer count: a bad piece fails here, before
    any model is loaded; a layer out of range fails when the model resolves the range.

    Raises:
        ValueError: naming the bad piece and the allowed forms.
    """
    text = str(text).strip()
    if text.lower() != "all":
        parse_layer_range(text, None, field)
    return text


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
