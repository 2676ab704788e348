"""`shipped`: the task and recipe folders, found where the layout puts them.

Wheel and editable installs are checked in test_packaging.py (they need a build).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lm_eval_latent import shipped

REPO = Path(__file__).resolve().parents[1]


def test_checkout_reads_the_repository_folders():
    # Tests run from the checkout (PYTHONPATH or editable): the same files the wheel ships.
    assert shipped.tasks_dir() == REPO / "tasks"
    assert shipped.interventions_dir() == REPO / "interventions"


def test_unknown_shipped_folder_is_refused():
    with pytest.raises(ValueError, match="name='prompts' is not a shipped folder"):
        shipped.shipped_dir("prompts")  # type: ignore[arg-type]


def test_a_folder_without_its_marker_is_not_taken(tmp_path, monkeypatch):
    # An unrelated tasks/ folder next to the package (e.g. a user's own) must not be read as ours.
    fake_package = tmp_path / "lm_eval_latent"
    fake_package.mkdir()
    (tmp_path / "tasks").mkdir()
    monkeypatch.setattr(shipped, "_PACKAGE", fake_package)
    monkeypatch.setattr(shipped.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="the tasks/ folder is missing"):
        shipped.tasks_dir()
