"""Where our commands write: the output path is checked before any work starts.

Every command that writes follows the same rules (see docs/errors.md):

- an existing output is refused unless ``--overwrite``;
- ``--overwrite`` replaces only what that same command wrote (its ``is_ours`` test says so),
  never another file or folder;
- a path whose folder cannot be created or written is refused up front, not after an hour;
- files are written atomically (a temporary sibling, then a rename), so a crash leaves the old
  file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


class OutputError(ValueError):
    """An output path a command cannot use (exit status 2)."""


def _check_parent(path: Path, flag: str) -> None:
    """The nearest existing folder above ``path`` must be a folder we may write in."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{flag} {str(path)!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{flag} {str(path)!r}: cannot write in {str(parent)!r} (permission denied)")


def check_out_file(path: str | Path, flag: str = "--out", *, overwrite: bool = False,
                   is_ours: Callable[[Path], bool] | None = None, what: str = "file") -> Path:
    """Check a file output before the work: returns the path to write.

    Raises:
        OutputError: a folder at ``path``; an existing file without ``overwrite``; with
            ``overwrite``, an existing file that ``is_ours`` does not recognise; a parent that
            is a file or not writable.
    """
    out = Path(path).expanduser()
    if out.is_dir():
        raise OutputError(f"{flag} {str(out)!r} is a folder; give a file path")
    if out.exists():
        if not overwrite:
            raise OutputError(f"{flag} {str(out)!r} exists; choose another path or pass --overwrite to replace it")
        if is_ours is not None and not is_ours(out):
            raise OutputError(f"{flag} {str(out)!r} exists and is not {what}; --overwrite only replaces "
                              f"{what}, so choose another path")
    _check_parent(out, flag)
    return out


def check_out_dir(path: str | Path, flag: str = "--out") -> Path:
    """Check a folder output (created when needed) before the work: returns its path.

    Raises:
        OutputError: a file at ``path``, or a parent that is a file or not writable.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {str(out)!r} is a file, not a folder; give a folder path")
    if out.is_dir():
        if not os.access(out, os.W_OK | os.X_OK):
            raise OutputError(f"{flag} {str(out)!r}: cannot write in it (permission denied)")
    else:
        _check_parent(out, flag)
    return out


def is_json_with(keys: Iterable[str]) -> Callable[[Path], bool]:
    """An ``is_ours`` test: the file is a JSON object holding every one of ``keys``."""
    wanted = tuple(keys)

    def test(path: Path) -> bool:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return isinstance(data, dict) and all(k in data for k in wanted)

    return test


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) through a temporary sibling and a rename."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` through a temporary sibling and a rename."""
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def replace_dir(src: Path, target: Path) -> Path:
    """Move the complete folder ``src`` to ``target``; an existing ``target`` is swapped out only
    now, then deleted, so a crash leaves the old folder or the new one."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(src, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, target)
    return target


def write_dir_atomic(target: str | Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` into a temporary sibling folder of ``target``, then `replace_dir` it into place."""
    target = Path(target).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        write(tmp)
        replace_dir(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
