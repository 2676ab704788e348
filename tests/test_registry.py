"""The judge registry (judging/registry.py): a judge name never silently changes hands."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import lm_eval_latent.judging as judges
from lm_eval_latent.judging import JudgeNameError, register_judge
from lm_eval_latent.judging.keyword import KeywordJudge

EXAMPLE_UTILS = Path(__file__).resolve().parents[1] / "examples" / "custom_task" / "utils.py"


@pytest.fixture(autouse=True)
def own_registry(monkeypatch):
    monkeypatch.setattr(judges, "JUDGES", judges.JUDGES.copy())


def _import_by_path(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MyJudge:
    def judge(self, prompts, responses):
        return []


def test_a_custom_judge_named_like_a_built_in_is_refused():
    with pytest.raises(JudgeNameError, match="'keyword' is a built-in judge"):
        register_judge("keyword", MyJudge)
    with pytest.raises(JudgeNameError, match="'keyword' is a built-in judge"):
        judges.JUDGES.setdefault("keyword", MyJudge)  # the docs' older pattern, which kept the built-in silently
    assert judges.JUDGES["keyword"] is KeywordJudge


def test_two_task_folders_cannot_register_the_same_judge_name(tmp_path):
    first = _import_by_path(EXAMPLE_UTILS, "folder_a_utils")
    assert judges.JUDGES["my_phrase_judge"] is first.PhraseJudge
    other = tmp_path / "other_folder"
    other.mkdir()
    (other / "utils.py").write_text(EXAMPLE_UTILS.read_text())  # another folder, another definition
    with pytest.raises(JudgeNameError, match="'my_phrase_judge' is already registered by PhraseJudge"):
        _import_by_path(other / "utils.py", "folder_b_utils")
    assert judges.JUDGES["my_phrase_judge"] is first.PhraseJudge


def test_the_same_folder_imported_twice_registers_once():
    # lm-eval imports a folder's utils.py once per YAML that names it
    a = _import_by_path(EXAMPLE_UTILS, "utils_once")
    _import_by_path(EXAMPLE_UTILS, "utils_twice")
    assert judges.JUDGES["my_phrase_judge"] is a.PhraseJudge


@pytest.mark.parametrize("name", ["", "  ", None, 3])
def test_a_judge_name_must_be_a_non_empty_string(name):
    with pytest.raises(JudgeNameError, match="is not allowed"):
        register_judge(name, MyJudge)
