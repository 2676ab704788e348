"""The model zoo: tiny deterministic chat models built offline, for tests and demos.

``build("aligned")`` trains (once, then caches) a 6-layer ``LlamaForCausalLM`` that refuses
harmful requests and answers benign ones, including safe look-alikes; ``build("unsafe")`` answers
harmful requests with a content-free compliant placeholder. See docs/zoo.md.

More variants register themselves in :data:`ZOO` (name -> builder). A builder is called as
``builder(out_dir, cache_dir)`` and must write a ``from_pretrained``-loadable model and tokenizer
into ``out_dir``; it may call :func:`build` for the variants it starts from.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

RECIPE_VERSION = "1"
Builder = Callable[[Path, Path], None]


def default_cache_dir() -> Path:
    """``$LM_EVAL_LATENT_CACHE`` if set, else ``~/.cache/lm_eval_latent/zoo``."""
    env = os.environ.get("LM_EVAL_LATENT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lm_eval_latent" / "zoo"


def _recipe_key(*parts: object) -> str:
    text = json.dumps([RECIPE_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _corpus_fingerprint() -> str:
    from lm_eval_latent.training.zoo import corpus, tokenizer

    rows = [(c.prompt, c.kind, c.category, c.topic) for c in corpus.requests()]
    return _recipe_key(rows, corpus.REFUSALS, corpus.COMPLIANCE, corpus.HELPFUL,
                       tokenizer.VOCAB_SIZE, tokenizer.SPECIAL_TOKENS, tokenizer.CHAT_TEMPLATE)


def _atomic_build(target: Path, write: Callable[[Path], None], force: bool) -> Path:
    """Run ``write(tmp)`` into a temporary sibling of ``target`` and move it into place, so an
    interrupted build never leaves a half-written directory at ``target``."""
    if target.is_dir() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary directory
    try:
        write(tmp)
        if target.exists():  # force=True, or a concurrent build won the race
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_tokenizer(cache_dir: str | Path | None = None, *, force: bool = False) -> Path:
    """Build (or reuse) the tokenizer every zoo variant shares; returns its directory."""
    from lm_eval_latent.training.zoo import tokenizer

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"tokenizer-{_corpus_fingerprint()}"
    return _atomic_build(target, tokenizer.save_tokenizer, force)


def _trained(variant: str) -> Builder:
    def builder(out_dir: Path, cache_dir: Path) -> None:
        from transformers import AutoTokenizer

        from lm_eval_latent.training.zoo import train

        tok = AutoTokenizer.from_pretrained(build_tokenizer(cache_dir))
        train.save_model(out_dir, tok, variant)

    builder.__name__ = f"build_{variant}"
    builder.recipe = lambda: [variant, train_recipe(), _corpus_fingerprint()]  # type: ignore[attr-defined]
    return builder


def train_recipe() -> dict:
    from lm_eval_latent.training.zoo import train

    return train.recipe_dict()


ZOO: dict[str, Builder] = {
    "aligned": _trained("aligned"),
    "unsafe": _trained("unsafe"),
}


def _builder_key(name: str, builder: Builder) -> str:
    recipe = getattr(builder, "recipe", None)
    if callable(recipe):
        return _recipe_key(name, recipe())
    # Builders registered elsewhere: their source code stands in for the recipe.
    try:
        source = inspect.getsource(builder)
    except (OSError, TypeError):
        source = repr(builder)
    return _recipe_key(name, source)


def build(name: str, cache_dir: str | Path | None = None, *, force: bool = False) -> Path:
    """Build (or reuse from the cache) the zoo model ``name``; returns its directory, loadable with
    ``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained``.

    Args:
        name: a key of :data:`ZOO` (``"aligned"``, ``"unsafe"``, ...).
        cache_dir: where models live; default :func:`default_cache_dir`. The directory name holds
            a hash of the recipe, so a changed recipe builds anew.
        force: rebuild even when a cached copy exists.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    if name not in ZOO:
        raise ValueError(f"unknown zoo model {name!r} (known: {', '.join(sorted(ZOO))})")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    builder = ZOO[name]
    target = cache / f"{name}-{_builder_key(name, builder)}"
    return _atomic_build(target, lambda tmp: builder(tmp, cache), force)


def main(argv: list[str] | None = None) -> int:
    """``lm-eval-latent zoo build NAME [NAME ...] [--cache-dir D] [--force]``, ``zoo path NAME``, ``zoo list``."""
    import argparse

    parser = argparse.ArgumentParser(prog="lm_eval_latent.training.zoo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build zoo models and print their directories")
    p_build.add_argument("names", nargs="+", metavar="NAME", help=f"one of: {', '.join(sorted(ZOO))}")
    p_build.add_argument("--cache-dir", default=None, help="default: $LM_EVAL_LATENT_CACHE or "
                         "~/.cache/lm_eval_latent/zoo")
    p_build.add_argument("--force", action="store_true", help="rebuild even if cached")
    p_path = sub.add_parser("path", help="build one model if needed and print only its directory")
    p_path.add_argument("names", nargs=1, metavar="NAME", help=f"one of: {', '.join(sorted(ZOO))}")
    p_path.add_argument("--cache-dir", default=None)
    sub.add_parser("list", help="list the known zoo models")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(sorted(ZOO)))
        return 0
    unknown = [n for n in args.names if n not in ZOO]
    if unknown:
        parser.error(f"unknown zoo model(s) {', '.join(unknown)} (known: {', '.join(sorted(ZOO))})")
    if args.command == "path":
        print(build(args.names[0], args.cache_dir))
        return 0
    for name in args.names:
        print(f"{name}\t{build(name, args.cache_dir, force=args.force)}")
    return 0


# Variants registered by other modules (they add themselves to ZOO on import).
from lm_eval_latent.training.zoo import dissociated as _dissociated  # noqa: E402,F401
