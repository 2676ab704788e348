"""Where the shipped YAML folders are: ``tasks/`` (lm-eval tasks) and ``interventions/`` (recipes).

In the repository they sit at the top, next to the package. The build maps them into the package
(setuptools ``package-dir``), so a wheel installs them as ``lm_eval_latent/tasks`` and
``lm_eval_latent/interventions``; an editable install and a source checkout on ``PYTHONPATH``
read them where they are. This module imports nothing of ours, so any stage may use it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

_PACKAGE = Path(__file__).resolve().parent

ShippedFolder = Literal["tasks", "interventions"]
# A file each folder always holds, so that an unrelated folder of the same name is not taken.
_MARKER: dict[str, str] = {"tasks": "latent_vulnerability/_lvs_template.yaml", "interventions": "pgd_linf.yaml"}


def shipped_dir(name: ShippedFolder) -> Path:
    """The folder ``name`` as installed (wheel), mapped (editable install) or checked out.

    Raises:
        FileNotFoundError: when none of the three places holds it (a broken install).
    """
    if name not in _MARKER:
        raise ValueError(f"name={name!r} is not a shipped folder (allowed: {', '.join(_MARKER)})")
    candidates = [_PACKAGE / name, _PACKAGE.parent / name]  # wheel; checkout or lenient editable
    spec = importlib.util.find_spec(f"{__package__}.{name}")  # any other mapping the installer made
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) for p in spec.submodule_search_locations]
    for folder in candidates:
        if (folder / _MARKER[name]).is_file():
            return folder.resolve()
    raise FileNotFoundError(
        f"lm-eval-latent: the {name}/ folder is missing (looked in {', '.join(map(str, candidates))}); "
        "reinstall the package"
    )


def tasks_dir() -> Path:
    """The folder holding our lm-eval task YAMLs."""
    return shipped_dir("tasks")


def interventions_dir() -> Path:
    """The folder holding our attack and intervention recipes."""
    return shipped_dir("interventions")
