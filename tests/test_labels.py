"""report/labels.py: `label` draws a stratified sample; `report`/`gate --labels` correct a rate.

On the shared labelled data: a rule judge with a known error (keyword misses many jailbroken
GPTFuzz answers; gcg misses most of Mistral-Instruct's refusals) is corrected back to the
human-labelled rate within the interval, from 100 labels.
"""

from __future__ import annotations

import csv
import json

import pytest

from lm_eval_latent.judging import get_judge
from lm_eval_latent.judging.labelled import load_source, shared_datasets_dir
from lm_eval_latent.plugin.cli import main as cli
from lm_eval_latent.report import calibrated
from lm_eval_latent.report import labels as labels_mod
from lm_eval_latent.report.results import load_results

needs_data = pytest.mark.skipif(not (shared_datasets_dir() / "gptfuzz" / "evaluate.csv").is_file(),
                                reason="shared labelled datasets not present")
YES = {"harmful_compliance": "complied", "refusal_rate": "refused"}


def write_run(folder, task, source, judge_name, limit=None):
    """A results file and its logged samples: `judge_name`'s verdicts on a labelled source.

    Returns (results path, {doc_id: human label}, true rate of the task's metric)."""
    rows = load_source(source)[:limit]
    verdicts = [j.verdict.value for j in get_judge(judge_name).judge([r.prompt for r in rows],
                                                                     [r.response for r in rows])]
    truth = {i: r.truth.value for i, r in enumerate(rows)}
    yes = YES[task]
    apparent = sum(v == yes for v in verdicts) / len(verdicts)
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / "results_2026-01-01T00-00-00.json"
    results.write_text(json.dumps({
        "results": {task: {f"{task},none": apparent, "broken_rate,none": 0.0, "unscored,none": 0}},
        "higher_is_better": {task: {task: task != "harmful_compliance"}},
        "lm_eval_version": "0.4.13",
        "config": {"model": "latent_hf", "model_args": {"pretrained": f"/models/{folder.name}"}},
        "configs": {task: {"metadata": {"judge": judge_name}}},
    }))
    with (folder / f"samples_{task}_2026-01-01T00-00-00.jsonl").open("w") as fh:
        for i, (r, v) in enumerate(zip(rows, verdicts)):
            fh.write(json.dumps({"doc_id": i, "doc": {"prompt": r.prompt, "judge": {"verdict": v}},
                                 "resps": [[r.response]], "filtered_resps": [r.response]}) + "\n")
    true_rate = sum(t == yes for t in truth.values()) / len(truth)
    return results, truth, true_rate


def load_verdicts(results):
    lines = next(results.parent.glob("samples_*.jsonl")).read_text().splitlines()
    return [json.loads(line)["doc"]["judge"]["verdict"] for line in lines]


def fill(path, truth):
    with path.open(newline="") as fh:
        recs = list(csv.DictReader(fh))
    for rec in recs:
        rec["label"] = truth[int(rec["doc_id"])]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=labels_mod.COLUMNS)
        writer.writeheader()
        writer.writerows(recs)
    return recs


@needs_data
@pytest.mark.parametrize("task, source, judge, large_error", [
    # gcg finds a third of GPTFuzz's jailbroken answers (0.18 apparent against 0.35) and a fifth
    # of Mistral-Instruct's refusals (0.09 against 0.17); keyword's errors on GPTFuzz partly
    # cancel in the rate (0.32 against 0.35), so there only the coverage is checked.
    ("harmful_compliance", "gptfuzz/evaluate", "gcg", True),
    ("refusal_rate", "xstest/mistralinstruct", "gcg", True),
    ("harmful_compliance", "gptfuzz/evaluate", "keyword", False),
])
def test_a_known_judge_error_is_corrected_back_to_the_true_rate(tmp_path, capsys, task, source, judge,
                                                                large_error):
    results, truth, true_rate = write_run(tmp_path / "run", task, source, judge)
    out = tmp_path / "labels.csv"
    assert cli(["label", str(results), "--sample", "100", "--out", str(out)]) == 0
    recs = fill(out, truth)
    assert len(recs) == 100
    verdicts = [r["verdict"] for r in recs]
    smaller = min(sum(v == "refused" for v in load_verdicts(results)), 50)
    # stratified by verdict: half each, unless a verdict has fewer rows (gcg refuses 41 times)
    assert sorted([verdicts.count("refused"), verdicts.count("complied")]) == [smaller, 100 - smaller]
    run = load_results(results)
    [found] = calibrated.calibrate_run(run, labels_mod.read_labels(out))
    low, high = found.corrected_ci
    assert low <= true_rate <= high
    # the judge's own rate is off by more than the interval allows: the correction matters
    assert large_error is (not low <= found.rate <= high)
    capsys.readouterr()
    assert cli(["report", str(results), "--labels", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Judge calibration" in text and f"{found.corrected:.3f}" in text
    assert cli(["report", str(results), "--labels", str(out), "--html", "--out", str(tmp_path / "html")]) == 0
    assert "Judge calibration" in (tmp_path / "html" / "report.html").read_text()
    bound = f"{task}_corrected_ci_{'low' if low <= true_rate else 'high'}"
    assert cli(["gate", str(results), "--labels", str(out), "--require", f"{task}_corrected_ci_low<={true_rate}",
                "--require", f"{task}_corrected_ci_high>={true_rate}"]) == 0, bound
    assert cli(["gate", str(results), "--labels", str(out), "--require", f"{task}_corrected>={high + 0.01}"]) == 1


@needs_data
def test_label_refuses_to_overwrite_and_bad_labels_exit_2(tmp_path, capsys):
    results, truth, _ = write_run(tmp_path / "run", "harmful_compliance", "gptfuzz/evaluate", "keyword", 200)
    out = tmp_path / "labels.csv"
    out.write_text("mine\n")
    assert cli(["label", str(results), "--sample", "10", "--out", str(out)]) == 2
    assert out.read_text() == "mine\n" and "exists" in capsys.readouterr().err
    out.unlink()
    assert cli(["label", str(results), "--sample", "0", "--out", str(out)]) == 2
    assert not out.exists()
    assert cli(["label", str(results), "--sample", "10", "--out", str(out)]) == 0
    recs = fill(out, truth)
    recs[3]["label"] = "maybe"
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=labels_mod.COLUMNS)
        writer.writeheader()
        writer.writerows(recs)
    capsys.readouterr()
    assert cli(["report", str(results), "--labels", str(out)]) == 2
    err = capsys.readouterr().err
    assert ":5: label='maybe'" in err and "refused, complied, deflected" in err


@needs_data
def test_labels_of_another_run_are_refused(tmp_path, capsys):
    results, truth, _ = write_run(tmp_path / "a", "harmful_compliance", "gptfuzz/evaluate", "keyword", 100)
    other, _, _ = write_run(tmp_path / "b", "harmful_compliance", "gptfuzz/evaluate", "gcg", 100)
    out = tmp_path / "labels.csv"
    assert cli(["label", str(results), "--sample", "20", "--out", str(out)]) == 0
    fill(out, truth)
    capsys.readouterr()
    assert cli(["gate", str(other), "--labels", str(out), "--require", "harmful_compliance_corrected<=1"]) == 2
    assert "another run" in capsys.readouterr().err


def test_stratified_sample_spreads_over_strata_and_caps_small_ones():
    rows = {"t": [labels_mod.Row("t", i, "answer", "complied" if i < 3 else "refused", "q", "a")
                  for i in range(50)]}
    picked = labels_mod.stratified_sample(rows, 10, seed=1)
    assert len(picked) == 10
    assert sum(r.verdict == "complied" for r in picked) == 3  # all it has; the rest are refusals
    assert labels_mod.stratified_sample(rows, 10, seed=1) == picked  # seeded
    assert len(labels_mod.stratified_sample(rows, 500)) == 50


def write_lvs_run(folder, judge_name, settings=("@layer=1", "@layer=2"), per=300):
    """An LVS results file whose generations are GPTFuzz evaluate answers judged by `judge_name`.

    Returns (results path, {(doc_id, generation): human label}, {metric: true rate})."""
    rows = load_source("gptfuzz/evaluate")
    judge = get_judge(judge_name)
    kinds = ["clean"] + [k + s for s in settings for k in ("attack", "control")]
    chunks = {k: rows[i * per:(i + 1) * per] for i, k in enumerate(kinds)}
    verdicts = {k: [j.verdict.value for j in judge.judge([r.prompt for r in c], [r.response for r in c])]
                for k, c in chunks.items()}
    truth = {(d, k): chunks[k][d].truth.value for k in kinds for d in range(per)}
    true_rate, metrics = {}, {}
    for k in kinds:
        base, suffix = ("refusal_clean", "") if k == "clean" else (
            "asr_attack" if k.startswith("attack") else "asr_random", k[k.index("@"):])
        yes = "refused" if k == "clean" else "complied"
        metrics[base + suffix] = sum(v == yes for v in verdicts[k]) / per
        true_rate[base + suffix] = sum(truth[(d, k)] == yes for d in range(per)) / per
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / "results_2026-01-01T00-00-00.json"
    results.write_text(json.dumps({
        "results": {"lvs_layer_profile": {f"{m},none": v for m, v in metrics.items()} | {"lvs,none": 0.1}},
        "higher_is_better": {"lvs_layer_profile": {m: m == "refusal_clean" for m in metrics}},
        "lm_eval_version": "0.4.13", "config": {"model_args": {"pretrained": "/models/lvs"}}}))
    with (folder / "samples_lvs_layer_profile_2026-01-01T00-00-00.jsonl").open("w") as fh:
        for d in range(per):
            detail = {"clean": chunks["clean"][d].response, "verdict_clean": verdicts["clean"][d], "settings": [
                {"setting": s, "attacked": chunks["attack" + s][d].response,
                 "verdict_attack": verdicts["attack" + s][d], "control": chunks["control" + s][d].response,
                 "verdict_control": verdicts["control" + s][d]} for s in settings]}
            fh.write(json.dumps({"doc_id": d, "doc": {"prompt": chunks["clean"][d].prompt, "lvs_detail": detail},
                                 "resps": [], "filtered_resps": []}) + "\n")
    return results, truth, true_rate


@needs_data
def test_lvs_rates_are_corrected_per_setting(tmp_path, capsys):
    results, truth, true_rate = write_lvs_run(tmp_path / "lvs", "gcg")
    out = tmp_path / "labels.csv"
    assert cli(["label", str(results), "--sample", "150", "--out", str(out)]) == 0
    with out.open(newline="") as fh:
        recs = list(csv.DictReader(fh))
    for rec in recs:
        rec["label"] = truth[(int(rec["doc_id"]), rec["generation"])]
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=labels_mod.COLUMNS)
        writer.writeheader()
        writer.writerows(recs)
    kinds = {r["generation"].split("@")[0] for r in recs}
    assert kinds == {"clean", "attack", "control"}  # every kind of generation is sampled
    found = {tc.metric: tc for tc in calibrated.calibrate_run(load_results(results), labels_mod.read_labels(out))}
    assert set(found) == set(true_rate)  # refusal_clean and both settings' ASRs
    # five 95% intervals: allow one to miss by chance
    held = [found[m].corrected_ci[0] <= true_rate[m] <= found[m].corrected_ci[1] for m in true_rate]
    assert sum(held) >= 4, {m: (found[m].corrected_ci, true_rate[m]) for m in true_rate}
    capsys.readouterr()
    assert cli(["gate", str(results), "--labels", str(out), "--require",
                "asr_attack_corrected_ci_high@layer=1<=1", "--require",
                "asr_random_judge_sensitivity@layer=2>=0"]) == 0
