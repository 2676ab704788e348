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


def test_public_surface_is_what_task_folders_import():
    import lm_eval_latent
    from lm_eval_latent import JUDGES, LVSTask, SafetyTask, Verdict, get_judge, load_prompts
    from lm_eval_latent.judging import JUDGES as registry
    from lm_eval_latent.task_classes.data import load_task_dataset
    from lm_eval_latent.task_classes.lvs_task import LVSTask as lvs
    from lm_eval_latent.task_classes.safety_task import SafetyTask as safety

    assert (SafetyTask, LVSTask, load_prompts, JUDGES) == (safety, lvs, load_task_dataset, registry)
    assert get_judge("keyword").judge(["q"], [""])[0].verdict is Verdict.UNSCORED
    assert set(lm_eval_latent.PUBLIC) <= set(dir(lm_eval_latent))
    with pytest.raises(AttributeError, match="public: SafetyTask, LVSTask, load_prompts"):
        lm_eval_latent.SafteyTask  # noqa: B018


@pytest.mark.parametrize(("old", "name", "new"), [
    ("lm_eval_latent.safety_task", "SafetyTask", "from lm_eval_latent import SafetyTask"),
    ("lm_eval_latent.lvs_task", "LVSTask", "from lm_eval_latent import LVSTask"),
    ("lm_eval_latent.data", "load_task_dataset", "from lm_eval_latent import load_prompts"),
    ("lm_eval_latent.judges", "JUDGES", "from lm_eval_latent import JUDGES"),
])
def test_paths_documented_before_the_stage_folders_still_load_and_name_the_new_import(old, name, new):
    import importlib
    import sys

    import lm_eval_latent

    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=re.escape(new)):
        module = importlib.import_module(old)
    public = {"load_task_dataset": "load_prompts"}.get(name, name)
    assert getattr(module, name) is getattr(lm_eval_latent, public)


def test_importing_the_package_imports_no_torch_or_lm_eval():
    import subprocess
    import sys

    code = "import sys, lm_eval_latent; print(sorted({'torch', 'lm_eval', 'nnsight'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
