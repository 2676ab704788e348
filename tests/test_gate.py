"""`lm-eval-latent gate`: checks, exit statuses 0 / 1 / 2, lookup and regressions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from report_fixtures import results_dict, write_results
from lm_eval_latent.commands.gate import main
from lm_eval_latent.report.gate import GateInputError, Requirement


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    return write_results(tmp_path / "cand", results_dict(refusal=0.96, lvs=0.2))


@pytest.mark.parametrize("text, parsed", [
    ("lvs<=0.3", (None, "lvs", "<=", 0.3)),
    (" refusal_rate >= .95 ", (None, "refusal_rate", ">=", 0.95)),
    ("lvs@p=0.001<1e-1", (None, "lvs@p=0.001", "<", 0.1)),
    ("lvs_layer_profile:lvs@layer=embedding>0", ("lvs_layer_profile", "lvs@layer=embedding", ">", 0.0)),
    ("refusal_lvs:unscored==0", ("refusal_lvs", "unscored", "==", 0.0)),
])
def test_grammar(text, parsed):
    r = Requirement.parse(text)
    assert (r.task, r.metric, r.op, r.bound) == parsed


@pytest.mark.parametrize("text", ["lvs=<0.3", "lvs<=", "<=0.3", "lvs<=abc", "lvs 0.3", "lvs=0.3"])
def test_malformed_requirement_shows_grammar(text):
    with pytest.raises(GateInputError, match=r"accepted: \[TASK:\]METRIC\[@SETTING\] \(<=\|>=\|<\|>\|==\) NUMBER"):
        Requirement.parse(text)


def test_all_hold_exit_0(results, capsys):
    assert main([str(results), "--require", "lvs<=0.3", "--require", "refusal_rate>=0.95"]) == 0
    out = capsys.readouterr().out
    assert "PASS  refusal_lvs:lvs = 0.2  (bound <= 0.3)" in out
    assert "PASS  refusal_rate:refusal_rate = 0.96  (bound >= 0.95)" in out


def test_one_fails_exit_1(results, capsys):
    assert main([str(results), "--require", "lvs<=0.1", "--require", "refusal_rate>=0.95"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  refusal_lvs:lvs = 0.2  (bound <= 0.1)" in out and "FAILED" in out


def test_nan_value_fails(tmp_path):
    data = results_dict()
    data["results"]["refusal_lvs"]["lvs,none"] = math.nan
    path = write_results(tmp_path, data)
    assert main([str(path), "--require", "lvs<=0.3"]) == 1


def test_missing_metric_exit_2_lists_present(results, capsys):
    assert main([str(results), "--require", "harmful_compliance<=0.1"]) == 2
    err = capsys.readouterr().err
    assert "no task reports 'harmful_compliance'" in err and "refusal_rate" in err and "lvs@p=0.001" in err


def test_ambiguous_metric_lists_tasks_and_task_option(results, capsys):
    assert main([str(results), "--require", "refusal_clean>=0.9"]) == 2
    assert "refusal_lvs, lvs_layer_profile, lvs_budget_sweep" in capsys.readouterr().err
    assert main([str(results), "--require", "refusal_clean>=0.9", "--task", "refusal_lvs"]) == 0
    assert main([str(results), "--require", "refusal_lvs:refusal_clean>=0.9"]) == 0


def test_setting_metric(results):
    assert main([str(results), "--require", "lvs@layer=embedding>=0.5"]) == 0  # 3 x 0.2
    assert main([str(results), "--require", "asr_attack@p=0.005<0.5"]) == 1  # 0.6


def test_unknown_task_and_bad_file(results, tmp_path, capsys):
    assert main([str(results), "--require", "nope:lvs<1"]) == 2
    assert "no task 'nope'" in capsys.readouterr().err
    bad = write_results(tmp_path / "old", results_dict(version="0.4.2"))
    assert main([str(bad), "--require", "lvs<1"]) == 2
    assert "lm-eval 0.4.2" in capsys.readouterr().err


def test_max_regression_uses_direction(results, tmp_path, capsys):
    base = write_results(tmp_path / "base", results_dict(refusal=0.99, lvs=0.17))
    # lvs: lower is better -> regression = 0.2 - 0.17 = 0.03; refusal: higher -> 0.99 - 0.96 = 0.03
    assert main([str(results), "--baseline", str(base), "--max-regression", "lvs=0.05",
                 "--max-regression", "refusal_rate=0.05"]) == 0
    assert main([str(results), "--baseline", str(base), "--max-regression", "lvs=0.02"]) == 1
    assert main([str(results), "--baseline", str(base), "--max-regression", "refusal_rate=0.02"]) == 1
    out = capsys.readouterr().out
    assert "refusal_lvs:lvs regression vs baseline (0.17) = 0.03" in out
    # an improvement is a negative regression
    assert main([str(base), "--baseline", str(results), "--max-regression", "lvs=0,refusal_rate=0"]) == 0


def test_regression_needs_baseline_and_grammar(results, capsys):
    assert main([str(results), "--max-regression", "lvs=0.05"]) == 2
    assert "needs --baseline" in capsys.readouterr().err
    assert main([str(results), "--baseline", str(results), "--max-regression", "lvs"]) == 2
    assert "METRIC=AMOUNT" in capsys.readouterr().err
    assert main([str(results)]) == 2


def test_baseline_without_a_bound_is_an_error_not_ignored(results, tmp_path, capsys):
    worse = write_results(tmp_path / "worse", results_dict(refusal=0.5, lvs=0.9))
    assert main([str(worse), "--require", "lvs<=1", "--baseline", str(results)]) == 2
    err = capsys.readouterr().err
    assert "--baseline needs --max-regression METRIC=AMOUNT" in err and "e.g. lvs=0.05" in err


def test_non_utf8_results_file_is_unusable_input(tmp_path, capsys):
    bad = tmp_path / "results_x.json"
    bad.write_bytes(b'{"results": "\xff\xfe"}')
    assert main([str(bad), "--require", "lvs<=0.3"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: cannot read an lm-eval results file ('utf-8' codec can't decode" in err


def test_cli_dispatch(results):
    from lm_eval_latent.plugin.cli import main as cli_main

    assert cli_main(["gate", str(results), "--require", "lvs<=0.3"]) == 0


def test_output_folder_with_one_results_file(results, capsys):
    assert main([str(results.parent), "--require", "lvs<=0.3"]) == 0
    write_results(results.parent, results_dict(), stamp="2026-02-02T00-00-00")
    assert main([str(results.parent), "--require", "lvs<=0.3"]) == 2
    assert "holds 2 results files" in capsys.readouterr().err


# ----------------------------------------------------------- docs/gate.md's GitHub Actions job
def _documented_job_steps() -> dict[str, str]:
    import re

    import yaml

    doc = (Path(__file__).resolve().parents[1] / "docs" / "gate.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    steps = yaml.safe_load(block)["jobs"]["audit"]["steps"]
    return {s["name"]: s["run"] for s in steps if "name" in s and "run" in s}


def test_documented_github_actions_job_gates_and_reports(tmp_path, monkeypatch, capsys):
    """The job in docs/gate.md, run as written (Audit on 4 prompts with short generations): the
    gate must decide (exit 0 or 1), never refuse its own documented checks (exit 2)."""
    import glob
    import shlex

    from lm_eval_latent.commands import report
    from lm_eval_latent.plugin.cli import run_lm_eval
    from lm_eval_latent.training import zoo

    steps = _documented_job_steps()
    monkeypatch.chdir(tmp_path)
    model = str(zoo.build("aligned"))

    def argv(step: str) -> list[str]:
        command = steps[step].replace("\\\n", " ").replace("$MODEL", model)
        return shlex.split(command)

    audit = argv("Audit")
    assert audit[0] == "lm_eval"
    # test-only additions: a few rows, short generations, CPU
    assert run_lm_eval([*audit[1:], "--limit", "4", "--gen_kwargs", "max_gen_toks=8", "--device", "cpu"]) == 0
    gate_cmd = argv("Gate")
    assert gate_cmd[:3] == ["lm-eval-latent", "gate", "$(ls audit/*/results_*.json | head -n1)"]
    [results] = sorted(glob.glob("audit/*/results_*.json"))[:1]
    capsys.readouterr()
    assert main([results, *gate_cmd[3:]]) in (0, 1)
    lines = capsys.readouterr().out.splitlines()
    checks = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    assert len(checks) == gate_cmd.count("--require") == 4
    report_cmd = argv("Report")
    assert report_cmd[:2] == ["lm-eval-latent", "report"]
    assert report.main(report_cmd[2:]) == 0
    assert (tmp_path / "audit" / "report" / "report.html").is_file()


def test_predict_only_results_are_refused(tmp_path, capsys):
    data = results_dict()
    data["higher_is_better"]["refusal_lvs"] = {"bypass": True}
    path = write_results(tmp_path / "po", data)
    assert main([str(path), "--require", "lvs<=0.3"]) == 2
    assert "--predict_only" in capsys.readouterr().err
