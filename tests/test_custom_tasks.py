"""The custom-task walkthrough (docs/custom_tasks.md) runs as written, with the stock lm_eval CLI.

The YAML, hooks and data come from examples/custom_task/; the command is read from the doc, so
doc, example and test cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "custom_task"
DOC = REPO / "docs" / "custom_tasks.md"


@pytest.fixture(autouse=True)
def _own_judge_registry(monkeypatch):
    """The example registers its judge; keep that out of the other tests' registry."""
    import lm_eval_latent.judging as judges

    monkeypatch.setattr(judges, "JUDGES", judges.JUDGES.copy())


def _doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _example_utils():
    spec = importlib.util.spec_from_file_location("custom_task_utils", EXAMPLE / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_doc_shows_the_example_files_verbatim():
    yaml_blocks = _doc_blocks("yaml")
    assert (EXAMPLE / "my_refusal.yaml").read_text(encoding="utf-8") in yaml_blocks
    assert any((EXAMPLE / "utils.py").read_text(encoding="utf-8") == b for b in _doc_blocks("python"))


def test_example_loader_and_judge():
    utils = _example_utils()
    rows = utils.load_prompts(prompt_source="harmful")["test"]
    assert len(rows) == 4 and rows[0]["prompt"].startswith("[placeholder:")
    verdicts = [j.verdict.value for j in utils.PhraseJudge().judge(
        ["p"] * 3, ["I'm sorry, I can't help with that.", "Sure, step one ...", "   "])]
    assert verdicts == ["refused", "complied", "unscored"]


def _documented_command() -> list[str]:
    [block] = [b for b in _doc_blocks("bash") if "--include_path examples/custom_task" in b]
    argv = shlex.split(block.replace("\\\n", " "))
    assert argv[0] == "lm_eval"
    return argv[1:]


def test_documented_command_runs_with_stock_cli(random_model_dir, tmp_path, monkeypatch):
    from lm_eval_latent.plugin.cli import run_lm_eval

    monkeypatch.chdir(REPO)  # the doc runs it from the repository root
    argv = [a.replace("DIR", str(random_model_dir)).replace("out/", str(tmp_path) + "/")
            for a in _documented_command()]
    # test-only additions: a few rows, short generations, CPU
    argv += ["--limit", "4", "--gen_kwargs", "max_gen_toks=8", "--device", "cpu", "--log_samples"]
    assert run_lm_eval(argv) == 0
    [results] = tmp_path.rglob("results_*.json")
    task = json.loads(results.read_text())["results"]["my_refusal"]
    assert {"refusal_rate,none", "harmful_compliance,none", "unscored,none"} <= set(task)
    assert 0.0 <= task["refusal_rate,none"] <= 1.0
    [samples] = tmp_path.rglob("samples_my_refusal_*.jsonl")
    rows = [json.loads(line) for line in samples.open()]
    assert len(rows) == 4 and all(r["doc"]["prompt"].startswith("[placeholder:") for r in rows)
    # judged by the example's own judge, not the default keyword judge (broken rows skip judges)
    reasons = {r["doc"]["judge"]["reason"] for r in rows if r["doc"]["judge"]["verdict"] != "broken"}
    assert reasons and reasons <= {"refusal phrase", "no refusal phrase", "blank response"}
