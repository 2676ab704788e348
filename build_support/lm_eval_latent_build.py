"""The build backend: setuptools' own, plus our start-up ``.pth`` at the root of every wheel.

PEP 517 lets a project wrap its backend in-tree (``backend-path`` in pyproject.toml). Everything
is setuptools' (``pyproject.toml`` declares the package, and maps ``tasks/`` and
``interventions/`` into it with ``package-dir``) except one step setuptools has no setting for:
putting a file at the top of site-packages, in regular *and* editable wheels. The hooks below let
setuptools build the wheel, then add ``lm_eval_latent.pth`` to it and to its ``RECORD``.
The ``.pth`` starts the import hook that lets lm-eval versions without plugin loading find
``latent_hf`` (see docs/discovery.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every hook not overridden below stays setuptools')

PTH = Path(__file__).resolve().parents[1] / "lm_eval_latent.pth"


def _record_line(name: str, data: bytes) -> str:
    # The RECORD format of the wheel spec: urlsafe base64 sha256 without padding, then the size.
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def add_pth(wheel: Path, pth: Path = PTH) -> None:
    """Add ``pth`` at the root of ``wheel`` and list it in the wheel's RECORD (written anew, atomically)."""
    data = pth.read_bytes()
    fd, tmp_name = tempfile.mkstemp(suffix=".whl", dir=wheel.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tmp_name, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                content = src.read(item)
                if item.filename.endswith(".dist-info/RECORD"):
                    content = content.decode().rstrip("\n") + "\n" + _record_line(pth.name, data)
                    content = content.encode()
                dst.writestr(item, content)
            dst.writestr(pth.name, data)
        shutil.move(tmp_name, wheel)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # noqa: D103
    name = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    add_pth(Path(wheel_directory) / name)
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):  # noqa: D103
    name = _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
    add_pth(Path(wheel_directory) / name)
    return name
