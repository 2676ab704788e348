"""The commands a user types: the stock `lm_eval` CLI, `lm-eval-latent`, `python -m lm_eval_latent`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lm_eval_latent import shipped

BIN = Path(sys.executable).parent


def run(argv: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_stock_lm_eval_cli_finds_model_and_tasks(random_model_dir, tmp_path):
    """The exact command of the design, with the stock CLI (no --include_path), in a subprocess."""
    proc = run([
        str(BIN / "lm_eval"), "--model", "latent_hf",
        "--model_args", f"pretrained={random_model_dir},perturb_layer=2,eps=4",
        "--tasks", "refusal_rate,refusal_lvs", "--limit", "3", "--device", "cpu",
        "--apply_chat_template", "--gen_kwargs", "max_gen_toks=6", "--output_path", str(tmp_path),
    ], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "refusal_rate" in proc.stdout and "lvs" in proc.stdout
    [results] = tmp_path.rglob("results_*.json")
    data = json.loads(results.read_text())
    assert "eps" in data["config"]["model_args"] or "eps=4" in str(data["config"]["model_args"])
    assert {"refusal_rate,none", "unscored,none"} <= set(data["results"]["refusal_rate"])
    assert {"lvs,none", "asr_attack,none", "asr_random,none", "refusal_clean,none"} <= set(data["results"]["refusal_lvs"])




def test_entry_points_list_subcommands(tmp_path):
    for argv in ([str(BIN / "lm-eval-latent"), "help"], [sys.executable, "-m", "lm_eval_latent", "help"]):
        proc = run(argv, cwd=tmp_path, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "demo" in proc.stdout and "report" in proc.stdout and "gate" in proc.stdout


def test_drop_in_passes_lm_eval_flags_through(tmp_path):
    proc = run([str(BIN / "lm-eval-latent"), "-h"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0 and "--model_args" in proc.stdout


class _Indexed(Exception):
    """Raised by the spy once lm-eval's CLI has built its task index (nothing more to see)."""


def _index_paths_of_cli_run(monkeypatch, argv: list[str]) -> list[list[Path]]:
    """The folders each TaskIndex.build of a drop-in run gets; stops the run at lm-eval's own index."""
    import lm_eval.tasks.manager as manager

    from lm_eval_latent.plugin import cli

    calls: list[list[Path]] = []
    real_build = manager.TaskIndex.build

    def build(paths, **kwargs):  # type: ignore[no-untyped-def]
        calls.append([Path(p).resolve() for p in paths])
        if len(calls) > 1:  # the second index is lm-eval's CLI's own (the first is only_our_tasks')
            raise _Indexed
        return real_build(paths, **kwargs)

    monkeypatch.setattr(manager.TaskIndex, "build", staticmethod(build))
    with pytest.raises(_Indexed):
        cli.main(["--model", "dummy", *argv, "--limit", "1"])
    return calls


def _builtin_tasks() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).resolve().parent


def test_drop_in_skips_lm_eval_index_for_our_tasks_only(monkeypatch):
    ours_only = _index_paths_of_cli_run(monkeypatch, ["--tasks", "refusal_rate,refusal_lvs"])
    assert _builtin_tasks() not in ours_only[-1] and shipped.tasks_dir() in ours_only[-1]


def test_drop_in_indexes_lm_eval_tasks_when_one_is_theirs(monkeypatch):
    mixed = _index_paths_of_cli_run(monkeypatch, ["--tasks", "refusal_rate,hellaswag"])
    assert _builtin_tasks() in mixed[-1] and shipped.tasks_dir() in mixed[-1]


def test_only_our_tasks_decides_conservatively(tmp_path):
    from lm_eval_latent.plugin.cli import only_our_tasks

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "my_task.yaml").write_text(
        "task: my_task\ndataset_path: json\ndataset_kwargs: {data_files: x.jsonl}\ntest_split: train\n"
        "output_type: generate_until\ndoc_to_text: '{{prompt}}'\ndoc_to_target: ''\n"
    )
    assert only_our_tasks(["--model", "latent_hf", "--tasks", "refusal_rate,lvs_budget_sweep"])
    assert only_our_tasks(["run", "--tasks", "refusal_rate", "refusal_lvs"])
    assert only_our_tasks(["--tasks=my_task,refusal_rate", "--include_path", str(mine)])
    assert not only_our_tasks(["--tasks", "my_task"])  # not ours without its --include_path
    assert not only_our_tasks(["--tasks", "refusal_*"])  # a wildcard may match lm-eval's tasks
    assert not only_our_tasks(["--tasks", str(mine / "my_task.yaml")])
    assert not only_our_tasks(["--model", "latent_hf"])  # no --tasks (e.g. a --config file)
    assert not only_our_tasks(["ls", "tasks"])


@pytest.mark.parametrize(
    ("model_args", "metadata", "message"),
    [
        ("perturb_layer=-7,eps=1", None, 'perturb_layer=-7 is out of range for LlamaForCausalLM with 4 layers'),
        ("perturb_layer=1,seed=1.5", None, "seed=1.5 is not an integer"),
        ("perturb_layer=1,eps=1e300", None, "eps=1e+300 is above"),
        ("perturb_layer=1", '{"eta": "inf"}', "eta='inf' is not finite (allowed: a finite number > 0)"),
        # missing files and unknown names: one line and exit 2, not a traceback
        ("perturb_layer=1,direction=/no/such/d.pt", None, "direction='/no/such/d.pt': no such file"),
        ("perturb_layer=1,attack=/no/such/recipe.yaml", None, "attack='/no/such/recipe.yaml': no such file"),
        ("lora=/no/such/adapter", None, "lora='/no/such/adapter': no PEFT adapter there"),
        ("perturb_layer=1,attack=direction_ablate", None, "attack=direction_ablate projects a direction out and needs direction=PATH"),
        ("perturb_layer=1", '{"judge": "nosuch"}', "--metadata judge='nosuch' is not a known judge"),
        ("perturb_layer=1", '{"scorer": "nosuch"}', "unknown scorer 'nosuch' (known: judge, judge_prob, reward)"),
        ("perturb_layer=1", '{"judeg": "keyword"}', "--metadata 'judeg' is not a setting of our tasks (did you mean 'judge'?)"),
        ("perturb_layer=1", '{"judge": "harmbench", "judge_model": "/no/such/cls"}',
         "judge_model='/no/such/cls': no model folder there"),
    ],
)
def test_bad_model_args_and_metadata_exit_2_with_one_line(random_model_dir, capsys, model_args, metadata, message):
    from lm_eval_latent.plugin.cli import main

    argv = ["--model", "latent_hf", "--model_args", f"pretrained={random_model_dir},{model_args}",
            "--tasks", "refusal_lvs", "--limit", "1"]
    assert main([*argv, *(["--metadata", metadata] if metadata else [])]) == 2
    # the last line (lm-eval's own logging may come before it)
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"lm-eval-latent: error: {message}")


def test_layer_minus_one_from_the_command_line_is_the_last_layer(random_model_dir, tmp_path):
    # lm-eval turns "-1" into the float -1.0; it names the last layer
    from lm_eval_latent.plugin.cli import main

    assert main(["--model", "latent_hf", "--model_args", f"pretrained={random_model_dir},perturb_layer=-1,eps=1",
                 "--tasks", "refusal_rate", "--limit", "1", "--gen_kwargs", "max_gen_toks=2",
                 "--output_path", str(tmp_path)]) == 0
    results = next(tmp_path.rglob("results_*.json"))
    assert json.loads(results.read_text())["config"]["model_args"]["perturb_layer"] == -1.0


def test_every_subcommand_is_a_module_of_commands_named_after_it():
    """`lm-eval-latent NAME` is `lm_eval_latent.commands.NAME.main(argv) -> int`, and every module there is one."""
    import importlib
    import inspect

    import lm_eval_latent.commands
    from lm_eval_latent.plugin.cli import SUBCOMMANDS, command_module

    folder = Path(lm_eval_latent.commands.__file__).parent
    assert {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} == set(SUBCOMMANDS)
    for name in SUBCOMMANDS:
        main = importlib.import_module(command_module(name)).main
        assert list(inspect.signature(main).parameters) == ["argv"], name
