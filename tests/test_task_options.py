"""What our tasks read from their metadata (task_classes/task_options.py): typos refused, ignored
settings warned, model judges found before generation, --predict_only marked."""

from __future__ import annotations

import json
import logging

import pytest
from lm_eval.tasks import TaskManager

from lm_eval_latent.fields import SettingError
from lm_eval_latent.judging import selection
from lm_eval_latent.plugin import registration
from lm_eval_latent.task_classes import task_options

registration.register()


@pytest.fixture(autouse=True)
def fresh():
    selection.clear_cache()
    task_options._warned.clear()
    yield
    selection.clear_cache()


def load(task: str, **metadata):
    return TaskManager(include_defaults=False, metadata=metadata or None).load([task])["tasks"][task]


@pytest.mark.parametrize(("task", "key", "closest"), [
    ("refusal_rate", "judeg", "judge"),
    ("refusal_lvs", "budget", "budgets"),
    ("refusal_lvs", "scorre", "scorer"),
    ("lvs_layer_profile", "layer", "layers"),
])
def test_a_misspelt_metadata_key_is_refused_with_the_closest_name(task, key, closest):
    with pytest.raises(SettingError, match=rf"--metadata '{key}' is not a setting of our tasks \(did you mean '{closest}'\?\)"):
        load(task, **{key: "keyword"})


def test_model_args_and_far_keys_in_metadata_are_left_alone():
    # lm-eval merges --model_args into every task's metadata; another model's argument is no typo
    load("refusal_rate", pretrained="/m", perturb_layer=2, p=0.001, dtype="float32", tensor_parallel_size=2)


@pytest.mark.parametrize(("task", "metadata", "ignored"), [
    ("refusal_lvs", {"budgets": "0.01,0.02"}, "budgets"),
    ("lvs_budget_sweep", {"layers": "0-2"}, "layers"),
    ("refusal_rate", {"scorer": "reward"}, "scorer"),
    ("refusal_rate", {"eta": 0.1}, "eta"),
])
def test_a_setting_the_task_ignores_is_warned_once(task, metadata, ignored, caplog):
    caplog.set_level(logging.WARNING, logger="lm_eval_latent.task_classes.task_options")
    load(task, **metadata)
    load(task, **metadata)
    said = [r.getMessage() for r in caplog.records if f"--metadata {ignored}" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(f"{task} does not use")


def test_a_setting_the_task_reads_is_not_warned(caplog):
    caplog.set_level(logging.WARNING, logger="lm_eval_latent.task_classes.task_options")
    load("lvs_budget_sweep", budgets="0.01", judge="keyword")
    assert not [r for r in caplog.records if "does not use" in r.getMessage()]


def test_an_unknown_scorer_is_refused_even_where_the_task_ignores_scorers():
    with pytest.raises(SettingError, match="unknown scorer 'rewrad'"):
        load("refusal_rate", scorer="rewrad")


@pytest.mark.parametrize("judge", ["harmbench", "llama_guard", "seq_classifier"])
def test_a_model_judge_with_a_missing_local_folder_fails_when_the_task_is_built(judge, tmp_path):
    missing = str(tmp_path / "no_such_model")
    extra = {"judge_labels": {"0": "refused", "1": "complied"}} if judge == "seq_classifier" else {}
    with pytest.raises(SettingError, match=r"judge_model='.*no_such_model': no model folder there"):
        load("refusal_rate", judge=judge, judge_model=missing, **extra)


def test_a_model_judge_not_in_the_offline_cache_fails_when_the_task_is_built(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SettingError, match=r"judge_model='nobody/no-such-classifier': cannot load .*hf download"):
        load("refusal_rate", judge="harmbench", judge_model="nobody/no-such-classifier")


def test_a_model_judge_in_a_local_folder_passes_the_check(random_model_dir):
    task_options.check_models_reachable(type("J", (), {"model_id": str(random_model_dir)})())


def test_unknown_judge_is_a_setting_error_with_the_closest_name():
    with pytest.raises(SettingError, match="judge='keywrod' is not a known judge \\(did you mean 'keyword'\\?\\)"):
        load("refusal_rate", judge="keywrod")


def test_predict_only_rows_carry_no_judged_numbers(random_model_dir, tmp_path):
    """--predict_only: lm-eval's `bypass` placeholder only, never real-looking metrics, and the
    report and gate refuse the file."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker

    from lm_eval_latent.commands import gate, report

    tracker = EvaluationTracker(output_path=str(tmp_path / "out"))
    res = lm_eval.simple_evaluate(
        model="latent_hf", model_args=f"pretrained={random_model_dir},perturb_layer=1,p=0.05",
        tasks=["refusal_rate", "refusal_lvs"], limit=2, device="cpu", predict_only=True,
        gen_kwargs="max_gen_toks=4", apply_chat_template=True, evaluation_tracker=tracker,
        task_manager=TaskManager(include_defaults=False, metadata={"pretrained": str(random_model_dir)}))
    for task in ("refusal_rate", "refusal_lvs"):
        numbers = {k for k in res["results"][task] if "," in k}
        assert numbers <= {"bypass,none", "bypass_stderr,none"}, numbers
    samples = res.pop("samples")
    tracker.save_results_aggregated(results=res, samples=samples)
    [path] = (tmp_path / "out").rglob("results_*.json")
    assert report.main([str(path)]) == 2
    assert gate.main([str(path), "--require", "lvs<=0.3"]) == 2
    assert "bypass" in json.dumps(json.loads(path.read_text())["higher_is_better"])


def test_apply_chat_template_on_a_model_without_a_template_is_our_error(random_model_dir, tmp_path, capsys):
    import shutil

    from transformers import AutoTokenizer

    from lm_eval_latent.plugin.cli import main

    base = tmp_path / "base_model"
    shutil.copytree(random_model_dir, base)
    for f in base.glob("chat_template*"):
        f.unlink()
    tok = AutoTokenizer.from_pretrained(base)
    tok.chat_template = None
    tok.save_pretrained(base)
    argv = ["--model", "latent_hf", "--model_args", f"pretrained={base}", "--tasks", "refusal_rate",
            "--limit", "1", "--gen_kwargs", "max_gen_toks=2", "--device", "cpu"]
    assert main([*argv, "--apply_chat_template"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("lm-eval-latent: error: --apply_chat_template: the model's tokenizer has no chat template")
    assert main(argv) == 0  # without the flag the base model runs


def test_a_task_yaml_without_test_split_is_our_error(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    import lm_eval_latent.judging as judges

    monkeypatch.setattr(judges, "JUDGES", judges.JUDGES.copy())  # the copied folder registers its judge

    folder = tmp_path / "my_tasks"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "custom_task", folder)
    yaml_file = folder / "my_refusal.yaml"
    yaml_file.write_text("".join(line for line in yaml_file.read_text().splitlines(keepends=True)
                                 if not line.startswith("test_split")))
    with pytest.raises(SettingError, match="task 'my_refusal': its YAML has no `test_split`; add `test_split: test`"):
        TaskManager(include_path=str(folder), include_defaults=False).load(["my_refusal"])
