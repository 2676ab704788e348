"""LoRA attack adapters: loading a PEFT adapter onto the evaluated model (peft imported lazily).

lm-eval's own ``peft=`` argument resizes the token embeddings (lm-eval issue #2748); this loader
leaves the base model as it is.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

log = logging.getLogger(__name__)


def same_model(a: str, b: str) -> bool:
    """Whether two model names (local paths or Hub ids) name the same model, as far as names tell.

    Two local paths are the same when they resolve to the same folder; otherwise a Hub id and a
    local copy are taken to be the same when their last path parts match (``org/SmolLM2-135M``
    and ``/models/SmolLM2-135M``).
    """
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return pa.name.lower() == pb.name.lower()


def load_adapter(model: nn.Module, lora: str, merge: bool) -> nn.Module:
    """Wrap ``model`` with a PEFT adapter (a local folder or a Hub id), merged if asked.

    Raises:
        SettingFileNotFoundError: a local path without ``adapter_config.json`` (a FileNotFoundError).
        ValueError: the adapter was trained for another base model whose weights do not fit
            (both names given); one whose weights fit but whose name differs gets a warning.
        OSError: it could not be loaded (e.g. offline with a Hub id).
    """
    from peft import PeftModel

    path = Path(lora).expanduser()
    looks_local = lora.startswith((".", "/", "~")) or path.exists()
    if looks_local and not (path / "adapter_config.json").is_file():
        from lm_eval_latent.fields import SettingFileNotFoundError

        raise SettingFileNotFoundError(
            f"lora={lora!r}: no PEFT adapter there (expected {path / 'adapter_config.json'}); "
            "give the directory written by `save_pretrained` or a Hub id"
        )
    base_name = getattr(model.config, "_name_or_path", type(model).__name__)
    try:
        peft_model = PeftModel.from_pretrained(model, str(path) if looks_local else lora)
    except RuntimeError as err:
        if "size mismatch" in str(err):
            from peft import PeftConfig

            trained_on = PeftConfig.from_pretrained(str(path) if looks_local else lora).base_model_name_or_path
            raise ValueError(
                f"lora={lora!r} was trained for another base model ({trained_on!r}) than "
                f"{base_name!r}: its weights do not fit ({str(err).splitlines()[0]})"
            ) from err
        raise
    except OSError as err:
        raise OSError(
            f"lora={lora!r}: could not load the adapter ({err}). Offline? Download it first and "
            "pass its local directory."
        ) from err
    trained_on = getattr(next(iter(peft_model.peft_config.values()), None), "base_model_name_or_path", None)
    if trained_on and base_name and not same_model(str(trained_on), str(base_name)):
        log.warning(
            "lora=%r names another base model in its adapter_config.json (%r) than the model loaded "
            "(%r); its weights fit, but the outputs are those of an adapter on a model it was not "
            "trained for. Load pretrained=%s to evaluate it as trained.", lora, trained_on, base_name, trained_on,
        )
    peft_model.eval()
    return peft_model.merge_and_unload() if merge else peft_model
