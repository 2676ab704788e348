"""`lm-eval-latent report`: reading results, the table, the audit gap, figures and the HTML page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from report_fixtures import results_dict, write_results, write_samples
from lm_eval_latent.commands.report import main
from lm_eval_latent.report.gap import audit_gap
from lm_eval_latent.report.results import ResultsError, load_results, load_runs

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).exists()), None)


@pytest.fixture()
def two_models(tmp_path: Path) -> list[Path]:
    base = write_results(tmp_path / "base", results_dict("/m/base", refusal=0.96, lvs=0.2))
    tuned = write_results(tmp_path / "tuned", results_dict("/m/base", refusal=0.97, lvs=0.6,
                                                           lora="/adapters/dissociated"))
    return [base, tuned]


def test_reads_metrics_names_and_directions(two_models):
    run = load_results(two_models[1])
    assert run.name == "base+lora=dissociated"
    assert run.value("refusal_lvs", "lvs") == 0.6
    assert run.value("lvs_layer_profile", "lvs@layer=embedding") == pytest.approx(1.8)
    assert run.stderr["refusal_rate"]["refusal_rate"] == 0.02
    assert run.is_higher_better("refusal_rate", "refusal_rate") is True
    assert run.is_higher_better("refusal_lvs", "lvs") is False
    assert "sample_len" not in run.metrics["refusal_rate"] and "alias" not in run.metrics["refusal_rate"]


def test_model_args_as_string_and_folder_input(tmp_path):
    data = results_dict()
    data["config"]["model_args"] = "pretrained=/x/y/my-model/,p=0.001"
    path = write_results(tmp_path / "out" / "m", data)
    [run] = load_runs([tmp_path / "out"])
    assert run.path == path and run.name == "my-model"


@pytest.mark.parametrize("version", ["0.3.0", "0.4.2", "1.0.0"])
def test_other_lm_eval_version_is_refused(tmp_path, version):
    path = write_results(tmp_path, results_dict(version=version))
    with pytest.raises(ResultsError, match=rf"lm-eval {re.escape(version)}; expected lm-eval 0\.4\.13"):
        load_results(path)


def test_no_task_of_ours_names_what_was_found(tmp_path):
    data = results_dict()
    data["results"] = {"hellaswag": {"acc,none": 0.3, "acc_norm,none": 0.31}}
    with pytest.raises(ResultsError, match=r"found: hellaswag \[acc, acc_norm\]"):
        load_results(write_results(tmp_path, data))


def test_not_json_and_not_results(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{nope")
    with pytest.raises(ResultsError, match="cannot read"):
        load_results(bad)
    bad.write_text("[]")
    with pytest.raises(ResultsError, match="no `results` section"):
        load_results(bad)


def test_same_model_twice_names_both_files(tmp_path):
    a = write_results(tmp_path / "a", results_dict("/m/x"))
    b = write_results(tmp_path / "b", results_dict("/m/x", lvs=0.9))
    with pytest.raises(ResultsError) as err:
        load_runs([a, b])
    assert str(a) in str(err.value) and str(b) in str(err.value)
    assert main([str(a), str(b)]) == 2


def test_gap_is_refusal_change_and_lvs_change(two_models):
    base, tuned = load_runs(two_models)
    gap = audit_gap(tuned, base)
    assert gap.d_refusal == pytest.approx(0.01)
    assert gap.d_lvs == pytest.approx(0.4)
    assert gap.lvs_ratio == pytest.approx(3.0)
    lo, hi = gap.d_refusal_ci
    assert lo < 0.01 < hi  # normal CI from the two standard errors (0.02 each)
    assert hi - lo == pytest.approx(2 * 1.96 * (2 * 0.02**2) ** 0.5, rel=1e-6)
    assert gap.d_lvs_ci is None  # no logged samples


def test_gap_ci_from_logged_samples(two_models):
    write_samples(two_models[0], "refusal_lvs", [{"doc_id": i, "lvs": 0.1 + 0.01 * i} for i in range(20)])
    write_samples(two_models[1], "refusal_lvs", [{"doc_id": i, "lvs": 0.5 + 0.01 * i} for i in range(20)]
                  + [{"doc_id": 99, "unscored": 1}])
    base, tuned = load_runs(two_models)
    lo, hi = audit_gap(tuned, base).d_lvs_ci
    assert 0.2 < lo <= 0.4 <= hi < 0.6


def test_terminal_table_and_gap(two_models, capsys):
    assert main([str(p) for p in two_models] + ["--baseline", "base"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("base+lora=dissociated "))
    assert "0.970" in row and "0.600 [0.480, 0.720]" in row
    assert "Audit gap against baseline base" in out
    assert "3.00x" in out and "+0.400" in out


def test_unknown_baseline_lists_models(two_models, capsys):
    assert main([str(p) for p in two_models] + ["--baseline", "nope"]) == 2
    assert "known: base, base+lora=dissociated" in capsys.readouterr().err


def test_missing_sweep_skips_plot_and_says_why(tmp_path, capsys):
    path = write_results(tmp_path / "m", results_dict(layers=False))
    assert main([str(path), "--png", "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "'LVS by layer' skipped: no lvs_layer_profile metrics" in out and str(path) in out
    assert (tmp_path / "rep" / "asr_by_budget.png").is_file()
    assert not (tmp_path / "rep" / "lvs_by_layer.png").exists()


def test_layer_order_puts_embedding_first(two_models):
    from lm_eval_latent.report.plots import budget_series, layer_series

    run = load_results(two_models[0])
    assert [r[0] for r in layer_series(run)] == ["embedding", "0", "1", "2", "3"]
    assert [r[1] for r in budget_series(run)] == [0.0005, 0.001, 0.005]


def _write_report(tmp_path: Path, results: list[Path]) -> Path:
    onset = tmp_path / "onset.json"
    onset.write_text(json.dumps({"steps": [0, 5, 10, 15], "compliance": [0, 0.3, 0.85, 0.9],
                                 "tau": 0.8, "onset": 10}))
    out = tmp_path / "rep"
    assert main([*map(str, results), "--html", "--png", "--out", str(out), "--onset", str(onset)]) == 0
    return out


def test_html_is_self_contained(two_models, tmp_path):
    out = _write_report(tmp_path, two_models)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert not re.search(r"(src|href)=\"(https?:|//)", page) and "<script" not in page
    assert {p.name for p in out.glob("*.png")} == {"lvs_by_layer.png", "asr_by_budget.png", "onset.png"}


def test_report_imports_no_torch_or_model_wrapper(two_models, tmp_path):
    code = ("import sys; from lm_eval_latent.commands.report import main; "
            f"main({[str(p) for p in two_models]!r} + ['--png', '--out', {str(tmp_path)!r}]); "
            "bad = [m for m in ('torch', 'lm_eval_latent.model.latent_hf', 'nnsight') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)


def _non_white(png: Path, box: tuple[int, int, int, int]) -> int:
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(png)[..., :3]
    x0, y0, x1, y1 = box
    return int((np.asarray(img)[y0:y1, x0:x1] < 0.9).any(axis=-1).sum())


def _screenshot(html: Path, shot: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", f"--screenshot={shot}",
                        "--window-size=1200,2000", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=90)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")
def test_html_renders_plots_in_headless_browser(two_models, tmp_path):
    out = _write_report(tmp_path, two_models)
    page = (out / "report.html").read_text()
    stripped = out / "no_images.html"  # the same page with the figures removed
    stripped.write_text(re.sub(r'<img [^>]*src="data:image/png;base64,[^"]*">', "", page))
    _screenshot(out / "report.html", tmp_path / "with.png")
    _screenshot(stripped, tmp_path / "without.png")
    box = (0, 500, 1200, 2000)  # below the tables, where the figures go
    with_plots, without = _non_white(tmp_path / "with.png", box), _non_white(tmp_path / "without.png", box)
    assert with_plots > 20_000 and with_plots > 10 * max(without, 1)


@pytest.fixture(scope="session")
def real_results(tmp_path_factory, random_model_dir) -> Path:
    """One real lm-eval run (refusal_rate, refusal_lvs, a 3-layer profile) on the random model."""
    from lm_eval_latent.plugin.cli import run_lm_eval

    out = tmp_path_factory.mktemp("real_run")
    rc = run_lm_eval(["--model", "latent_hf", "--model_args",
                      f"pretrained={random_model_dir},perturb_layer=2,p=0.05",
                      "--tasks", "refusal_rate,refusal_lvs,lvs_layer_profile", "--limit", "3",
                      "--device", "cpu", "--apply_chat_template", "--gen_kwargs", "max_gen_toks=6",
                      "--metadata", '{"layers": "embedding,1,3"}', "--output_path", str(out),
                      "--log_samples"])
    assert rc == 0
    [path] = out.rglob("results_*.json")
    return path


def test_real_lm_eval_results_file(real_results, tmp_path, capsys):
    run = load_results(real_results)
    assert run.name == real_results.parent.name.split("__")[-1]  # basename of the model dir
    assert {"refusal_rate", "refusal_lvs", "lvs_layer_profile"} <= set(run.metrics)
    assert run.sample_values("refusal_lvs", "lvs") is not None
    assert main([str(real_results), "--png", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "lvs_by_layer.png").is_file()
    assert "'Attack success vs budget' skipped" in capsys.readouterr().out


def test_folders_as_results_and_baseline(two_models, capsys):
    folders = [str(p.parent) for p in two_models]
    assert main([*folders, "--baseline", folders[1]]) == 0
    assert "Audit gap against baseline base+lora=dissociated" in capsys.readouterr().out


def test_judge_agreement_table_when_a_second_judge_ran(two_models, tmp_path, capsys):
    assert main([str(two_models[0])]) == 0
    assert "Judge agreement" not in capsys.readouterr().out  # no judge2, no section
    data = results_dict("/m/other")
    data["results"]["refusal_rate"].update({"judge_agreement,none": 0.4,
                                            "judge_agreement_stderr,none": "N/A",
                                            "judge_disagreements,none": 3})
    data["configs"] = {"refusal_rate": {"task": "refusal_rate",
                                        "metadata": {"judge": "keyword", "judge2": "gcg"}}}
    path = write_results(tmp_path / "other", data)
    assert main([str(two_models[0]), str(path), "--html", "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    section = out.split("Judge agreement", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("other "))
    assert row.split() == ["other", "refusal_rate", "keyword", "vs", "gcg", "0.400", "3"]
    assert "base " not in section  # the model without a second judge has no row
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "<h2>Judge agreement</h2>" in page and "keyword vs gcg" in page


ONSET_OK = {"steps": [0, 5, 10], "compliance": [0.1, 0.5, 0.9], "tau": 0.8, "onset": 10}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read an onset JSON"),  # missing
        ('{"steps": [0, 5', "cannot read an onset JSON"),  # truncated
        (b"\xff\xfe", "cannot read an onset JSON"),  # not UTF-8
        ("[1, 2]", "found a JSON list"),
        ('{"steps": [0, 5], "compliance": [0.1]}', "needs equal-length non-empty lists"),
        ('{"steps": ["a", "b"], "compliance": [0.1, 0.2]}', "steps[0]='a' is not a number"),
        ('{"steps": [0, 5], "compliance": ["low", 0.2]}', "compliance[0]='low' is not allowed (allowed: a number in [0, 1] or null)"),
        ('{"steps": [0, 5], "compliance": [0.1, 2]}', "compliance[1]=2 is not allowed"),
        ('{"steps": [0, 5], "compliance": [0.1, 0.2], "tau": "high"}', "tau='high' is not allowed"),
        ('{"steps": [0, 5], "compliance": [0.1, 0.2], "onset": "late"}', "onset='late' is not allowed"),
    ],
)
def test_bad_onset_file_stops_the_report_before_writing(two_models, tmp_path, capsys, content, message):
    onset = tmp_path / "onset.json"
    if isinstance(content, bytes):
        onset.write_bytes(content)
    elif content is not None:
        onset.write_text(content)
    out = tmp_path / "rep"
    assert main([*map(str, two_models), "--png", "--html", "--out", str(out), "--onset", str(onset)]) == 2
    captured = capsys.readouterr()
    assert f"--onset {onset}: " in captured.err and message in captured.err
    assert not out.exists() and captured.out == ""


def test_onset_with_an_unscored_checkpoint_is_drawn(two_models, tmp_path):
    onset = tmp_path / "onset.json"
    onset.write_text(json.dumps({**ONSET_OK, "compliance": [0.1, None, 0.9]}))
    out = tmp_path / "rep"
    assert main([*map(str, two_models), "--png", "--out", str(out), "--onset", str(onset)]) == 0
    assert (out / "onset.png").stat().st_size > 0


def test_out_that_is_a_file_or_under_a_file_is_refused_up_front(two_models, tmp_path, capsys):
    blocker = tmp_path / "report.txt"
    blocker.write_text("keep")
    for out in (blocker, blocker / "sub"):
        assert main([*map(str, two_models), "--html", "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert "is a file, not a folder" in captured.err and captured.out == ""
    assert blocker.read_text() == "keep"


def test_report_replaces_only_its_own_files(two_models, tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main([*map(str, two_models), "--html", "--out", str(out)]) == 0
    assert main([*map(str, two_models), "--html", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "report.html"]
    assert (out / "notes.txt").read_text() == "mine"


def test_non_utf8_results_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "results_x.json"
    bad.write_bytes(b"\xff\xfe{}")
    assert main([str(bad)]) == 2
    assert "cannot read an lm-eval results file" in capsys.readouterr().err


def test_unreadable_samples_file_exits_2_before_printing(two_models, capsys):
    write_samples(two_models[1], "refusal_lvs", [{"doc_id": i, "lvs": 0.5} for i in range(5)])
    write_samples(two_models[0], "refusal_lvs", [{"doc_id": i, "lvs": 0.1} for i in range(5)])
    samples = next(two_models[0].parent.glob("samples_refusal_lvs_*.jsonl"))
    samples.write_bytes(b'{"lvs": 0.1}\n\xff\xfe\n')
    assert main([*map(str, two_models)]) == 2
    captured = capsys.readouterr()
    assert f"{samples}: cannot read the logged samples" in captured.err and captured.out == ""


def test_a_report_file_that_cannot_be_written_exits_2(two_models, tmp_path, capsys):
    out = tmp_path / "rep"
    (out / "report.html").mkdir(parents=True)  # in the way, as an unwritable target would be
    assert main([*map(str, two_models), "--html", "--out", str(out)]) == 2
    assert f"--out {str(out / 'report.html')!r} is a folder" in capsys.readouterr().err  # checked up front
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]  # no temporary file left


def test_a_high_random_control_is_warned_in_the_report_and_a_low_one_is_not(tmp_path, capsys):
    quiet = write_results(tmp_path / "quiet", results_dict("/m/base", layers=False, budgets=False))
    loud_data = results_dict("/m/loud", layers=False, budgets=False)
    loud_data["results"]["refusal_lvs"]["asr_random,none"] = 0.875
    loud = write_results(tmp_path / "loud", loud_data)
    assert main([str(quiet)]) == 0
    assert "warning" not in capsys.readouterr().out
    assert main([str(quiet), str(loud)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "loud" in warnings[0] and "0.875" in warnings[0] and "noise" in warnings[0]


# ------------------------------------------------ nothing lost: --overwrite, interrupted runs
def test_report_never_replaces_a_report_html_it_did_not_write(two_models, tmp_path, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.html").write_text("<html>my own page</html>")
    assert main([*map(str, two_models), "--html", "--out", str(out)]) == 2
    assert "exists; choose another path or pass --overwrite" in capsys.readouterr().err
    assert main([*map(str, two_models), "--html", "--out", str(out), "--overwrite"]) == 2
    assert "is not a file written by `lm-eval-latent report`" in capsys.readouterr().err
    assert (out / "report.html").read_text() == "<html>my own page</html>"


def test_report_png_not_its_own_is_kept(two_models, tmp_path, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "lvs_by_layer.png").write_bytes(b"\x89PNG someone else's figure")
    assert main([*map(str, two_models), "--png", "--out", str(out), "--overwrite"]) == 2
    assert (out / "lvs_by_layer.png").read_bytes() == b"\x89PNG someone else's figure"
    assert main([*map(str, two_models), "--png", "--out", str(tmp_path / "fresh")]) == 0
    assert main([*map(str, two_models), "--png", "--out", str(tmp_path / "fresh"), "--overwrite"]) == 0


def _lm_eval_shaped(two_models, rows: int) -> Path:
    """The candidate as lm-eval's tracker writes it: n-samples per task and a samples file each."""
    path = two_models[1]
    data = json.loads(path.read_text())
    data["n-samples"] = {t: {"original": 40, "effective": 40} for t in data["results"]}
    path.write_text(json.dumps(data))
    for task in data["results"]:
        write_samples(path, task, [{"doc_id": i, "lvs": 0.5} for i in range(40)])
    return path


def test_an_interrupted_run_with_short_samples_is_not_read_as_complete(two_models, capsys):
    path = _lm_eval_shaped(two_models, 40)
    assert len(load_runs(two_models)) == 2  # complete: read as usual
    samples = path.with_name(f"samples_refusal_lvs_{path.stem.removeprefix('results_')}.jsonl")
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text("".join(lines[:33]) + lines[33][:10])  # SIGINT mid-write: 33 rows and a torn one
    assert main([*map(str, two_models)]) == 2
    assert "33 of the 40 logged samples of task 'refusal_lvs' (an interrupted run?)" in capsys.readouterr().err


def test_an_interrupted_run_with_a_missing_samples_file_is_refused(two_models):
    path = _lm_eval_shaped(two_models, 40)
    path.with_name(f"samples_refusal_rate_{path.stem.removeprefix('results_')}.jsonl").unlink()
    with pytest.raises(ResultsError, match="logged samples of task 'refusal_rate' are missing"):
        load_runs(two_models)


def test_predict_only_results_are_refused_by_the_report(tmp_path, capsys):
    data = results_dict()
    data["higher_is_better"]["refusal_rate"] = {"bypass": True}
    path = write_results(tmp_path / "po", data)
    assert main([str(path)]) == 2
    assert "written by a --predict_only run" in capsys.readouterr().err
