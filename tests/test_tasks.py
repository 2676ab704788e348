"""The behavioural task YAMLs under tasks/ and lm_eval_latent.task_classes.safety_task.SafetyTask."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pytest
from lm_eval.api.model import LM
from lm_eval.tasks import TaskManager

from lm_eval_latent import judging as judges
from lm_eval_latent.judging import selection

from lm_eval_latent.task_classes import protocol, safety_task
from lm_eval_latent.task_classes.data import HubUnavailableError
from lm_eval_latent.judging import Judgement, Verdict
from lm_eval_latent.task_classes.safety_task import METRICS, SafetyTask, row_metrics

TASKS_DIR = Path(__file__).resolve().parents[1] / "tasks"
SHARED = Path(os.environ.get("LM_EVAL_LATENT_SHARED",
                             Path(__file__).resolve().parents[2] / "shared" / "datasets"))

REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANCE = "Sure, here is how to X: step one, ..."
SOURCES = {"advbench": ("advbench.csv", 520), "harmbench": ("harmbench_test.csv", 159),
           "jbb": ("jailbreakbench.csv", 100), "strongreject": ("strongreject.csv", 313)}
SHIPPED_TASKS = ["refusal_rate", "harmful_compliance", "over_refusal"]
PUBLIC_TASKS = [f"{family}_{source}" for family in ("refusal_rate", "harmful_compliance")
                for source in SOURCES] + ["over_refusal_xstest"]
HEADLINE = {"refusal_rate": "refusal_rate", "harmful_compliance": "harmful_compliance",
            "over_refusal": "over_refusal_rate"}


def headline(task_name: str) -> str:
    return HEADLINE[next(f for f in sorted(HEADLINE, key=len, reverse=True)
                         if task_name.startswith(f))]


def manager(**metadata) -> TaskManager:
    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False,
                       metadata=metadata or None)


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared data copy {path} is absent (set LM_EVAL_LATENT_SHARED)")
    return path


def load_task(name: str, **metadata) -> SafetyTask:
    return manager(**metadata).load([name])["tasks"][name]


class FakeJudge:
    """Says the same verdict for every response."""

    name = "fake"

    def __init__(self, verdict: Verdict = Verdict.UNSCORED):
        self.verdict = verdict

    def judge(self, prompts, responses):
        return [Judgement(self.verdict, None, "fake judge") for _ in responses]


@pytest.fixture(autouse=True)
def fresh_judges():
    selection.clear_cache()
    yield
    selection.clear_cache()


def test_every_task_and_the_group_are_indexed():
    tm = manager()
    assert set(SHIPPED_TASKS + PUBLIC_TASKS) <= set(tm.all_subtasks)
    assert "safety_behavioral" in tm.all_groups
    assert not any(name.startswith("_") for name in tm.all_tasks)


def test_group_builds_its_three_tasks_offline():
    loaded = manager().load(["safety_behavioral"])
    assert sorted(loaded["tasks"]) == sorted(SHIPPED_TASKS)
    for name, task in loaded["tasks"].items():
        assert isinstance(task, SafetyTask)
        assert len(task.eval_docs) >= 150
        assert task.config.generation_kwargs == {"until": [], "do_sample": False,
                                                 "max_gen_toks": 128}
        assert headline(name) in task.aggregation()


@pytest.mark.parametrize("name", PUBLIC_TASKS)
def test_public_task_builds_from_its_shared_copy(name):
    source = name.rsplit("_", 1)[1]
    file, rows = SOURCES.get(source, ("xstest_prompts.csv", 250))
    task = load_task(name, data_file=str(shared_file(file)))
    assert len(task.eval_docs) == rows
    assert task.doc_to_text(task.eval_docs[0]) == task.eval_docs[0]["prompt"]


def test_public_task_offline_names_dataset_and_data_file(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach it on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(HubUnavailableError, match="walledai/StrongREJECT") as err:
        load_task("refusal_rate_strongreject")
    assert "data_file" in str(err.value)


@pytest.mark.parametrize("name", SHIPPED_TASKS)
def test_metric_directions_and_aggregations(name):
    task = load_task(name)
    metric = headline(name)
    assert set(task.aggregation()) == {metric, "broken_rate", "unscored"}
    assert task.higher_is_better() == {metric: metric == "refusal_rate", "broken_rate": False,
                                       "unscored": False}
    assert task.aggregation()["unscored"]([1, 0, 1]) == 2
    assert task.aggregation()[metric]([1, 0, 0, 1]) == 0.5


def test_process_results_with_the_default_judge():
    task = load_task("refusal_rate")
    doc = dict(task.eval_docs[0])
    assert task.process_results(doc, [REFUSAL]) == {"refusal_rate": 1, "broken_rate": 0,
                                                    "unscored": 0}
    assert doc["judge"]["verdict"] == "refused" and doc["judge"]["reason"]
    assert task.process_results(dict(doc), [COMPLIANCE])["refusal_rate"] == 0
    assert task.process_results(dict(doc), [""]) == {"refusal_rate": 0, "broken_rate": 1,
                                                     "unscored": 0}
    compliance = load_task("harmful_compliance")
    assert compliance.process_results(dict(doc), [COMPLIANCE])["harmful_compliance"] == 1
    assert compliance.process_results(dict(doc), [REFUSAL])["harmful_compliance"] == 0
    assert load_task("over_refusal").process_results(dict(doc), [REFUSAL])[
        "over_refusal_rate"] == 1


def test_unscored_rows_omit_every_rate(monkeypatch):
    monkeypatch.setitem(judges.JUDGES, "always_unscored", FakeJudge)
    task = load_task("harmful_compliance", judge="always_unscored")
    doc = dict(task.eval_docs[0])
    assert task.process_results(doc, [COMPLIANCE]) == {"unscored": 1}
    assert doc["judge"]["verdict"] == "unscored"
    # a broken output is decided without the judge, so it stays scored
    assert task.process_results(dict(doc), [" "])["broken_rate"] == 1


def test_a_non_finite_row_is_unscored_not_broken():
    from lm_eval_latent.task_classes import protocol

    for name in SHIPPED_TASKS:
        task = load_task(name)
        doc = dict(task.eval_docs[0])
        assert task.process_results(doc, [protocol.NON_FINITE_TEXT]) == {"unscored": 1}
        assert doc["judge"]["verdict"] == "unscored" and "not finite" in doc["judge"]["reason"]


def test_judge_must_be_one_name():
    with pytest.raises(ValueError, match=r"judge=\['keyword'\] is not a judge name: give one name as a string"):
        load_task("refusal_rate", judge=["keyword"])


def test_row_metrics_partition_scored_rows():
    for verdict in ("refused", "complied"):
        for broken in (False, True):
            row = row_metrics(verdict, broken)
            assert row["refusal_rate"] + row["harmful_compliance"] + row["broken_rate"] == 1
            assert set(row) == set(METRICS)
    assert row_metrics(Verdict.UNSCORED, False) == {"unscored": 1}
    with pytest.raises(ValueError, match="maybe"):
        row_metrics("maybe", False)


def test_a_deflected_answer_counts_for_neither_rate():
    row = row_metrics(Verdict.DEFLECTED, False)
    assert row["refusal_rate"] == row["over_refusal_rate"] == row["harmful_compliance"] == 0
    assert row["broken_rate"] == 0 and row["unscored"] == 0


class HarmOnlyJudge(FakeJudge):
    answers = "harm"


def test_a_harm_judge_feeds_only_the_harm_question(monkeypatch):
    monkeypatch.setitem(judges.JUDGES, "harm_only", lambda: HarmOnlyJudge(Verdict.REFUSED))
    task = load_task("harmful_compliance", judge="harm_only")
    assert task.process_results(dict(task.eval_docs[0]), [REFUSAL])["harmful_compliance"] == 0
    for name in ("refusal_rate", "over_refusal"):
        with pytest.raises(ValueError, match="harm_only.*not 'did it refuse\\?'"):
            load_task(name, judge="harm_only")
    assert "refusal_rate" not in row_metrics("refused", False, answers="harm")


class BothJudge(FakeJudge):
    answers = "both"


def test_a_judge_answering_both_feeds_both_questions(monkeypatch):
    monkeypatch.setitem(judges.JUDGES, "both", lambda: BothJudge(Verdict.DEFLECTED))
    for name in ("refusal_rate", "over_refusal", "harmful_compliance"):
        task = load_task(name, judge="both")  # neither question is refused
        out = task.process_results(dict(task.eval_docs[0]), [REFUSAL])
        # a harmless answer to a safe request is deflected: answered, and not harmful
        rates = [m for m in ("refusal_rate", "over_refusal_rate", "harmful_compliance") if m in out]
        assert rates and all(out[m] == 0 for m in rates), (name, out)
    assert row_metrics("refused", False, answers="both")["refusal_rate"] == 1
    assert row_metrics("complied", False, answers="both")["harmful_compliance"] == 1


def test_unknown_judge_lists_the_known_ones():
    with pytest.raises(ValueError, match="nonesuch") as err:
        load_task("refusal_rate", judge="nonesuch")
    assert "keyword" in str(err.value) and "harmbench" in str(err.value)


def test_judge_options_come_from_metadata_and_are_cached(monkeypatch):
    built = []

    def factory(**options):
        built.append(options)
        return FakeJudge(Verdict.REFUSED)

    monkeypatch.setitem(judges.JUDGES, "recording", factory)
    meta = {"judge": "recording", "judge_model": "/models/cls", "judge_batch_size": 4,
            "pretrained": "ignored"}
    task = load_task("refusal_rate", **meta)
    for _ in range(3):
        assert task.process_results(dict(task.eval_docs[0]), [COMPLIANCE])["refusal_rate"] == 1
    assert built == [{"model": "/models/cls", "batch_size": 4}]


def test_metric_list_may_not_contradict_the_definitions():
    with pytest.raises(ValueError, match="higher_is_better"):
        safety_task._metric_names([{"metric": "harmful_compliance", "higher_is_better": True}],
                                  "t")
    with pytest.raises(ValueError, match="allowed"):
        safety_task._metric_names([{"metric": "acc"}], "t")


class ScriptedLM(LM):
    """Answers in turn: a refusal, a compliance, an empty output; wraps chats in <user> tags."""

    tokenizer_name = "scripted"

    def __init__(self):
        super().__init__()
        self.contexts = []

    def generate_until(self, requests, disable_tqdm=False):
        replies = [REFUSAL, COMPLIANCE, ""]
        self.contexts += [r.arguments[0] for r in requests]
        return [replies[i % 3] for i in range(len(requests))]

    def apply_chat_template(self, chat_history, add_generation_prompt=True):
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in chat_history)

    def chat_template(self, chat_template=False):
        return "scripted"

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def test_simple_evaluate_aggregates_over_scored_rows(monkeypatch):
    import lm_eval

    class EveryFourthUnscored(FakeJudge):
        calls = 0

        def judge(self, prompts, responses):
            type(self).calls += 1
            verdict = Verdict.UNSCORED if self.calls % 4 == 0 else Verdict.REFUSED
            return [Judgement(verdict, None, "scripted") for _ in responses]

    monkeypatch.setitem(judges.JUDGES, "scripted", EveryFourthUnscored)
    lm = ScriptedLM()
    out = lm_eval.simple_evaluate(
        model=lm, tasks=["refusal_rate"], task_manager=manager(judge="scripted"), limit=12,
        log_samples=True, apply_chat_template=True)
    res = out["results"]["refusal_rate"]
    # 12 rows: 4 broken (""), 8 judged of which every 4th judge call (2) is unscored
    assert res["unscored,none"] == 2
    assert res["broken_rate,none"] == pytest.approx(4 / 10)
    assert res["refusal_rate,none"] == pytest.approx(6 / 10)
    assert out["higher_is_better"]["refusal_rate"]["refusal_rate"] is True
    assert all(c.startswith("<user>") and c.endswith("</user>") for c in lm.contexts)
    samples = out["samples"]["refusal_rate"]
    assert {s["doc"]["judge"]["verdict"] for s in samples} == {"refused", "unscored", "broken"}


# ---------------------------------------------------------------- a second judge

SYMPATHY = "I'm sorry to hear that. Here's how you can X: first, do A; then do B."


@pytest.mark.parametrize("metadata, message", [
    ({"judge": ["keyword"]}, r"judge=\['keyword'\] is not a judge name"),
    ({"judge2": ["gcg"]}, r"judge2=\['gcg'\] is not a judge name"),
    ({"judge2": "nonesuch"}, "judge2='nonesuch' is not a known judge"),
    ({"judge_model": "/m"}, r"judge 'ngram' does not take the options given \(judge_model\)"),
    ({"judge2": "gcg", "judge2_batch_size": 2}, r"\(judge2_batch_size\)"),
])
def test_judge_option_values_are_validated(metadata, message):
    with pytest.raises(ValueError, match=message):
        load_task("refusal_rate", **metadata)


def test_second_judge_adds_agreement_and_logs_both_verdicts():
    assert "judge_agreement" not in load_task("refusal_rate").aggregation()
    task = load_task("refusal_rate", judge="keyword", judge2="gcg")
    assert task.higher_is_better()["judge_agreement"] is True
    assert task.higher_is_better()["judge_disagreements"] is False
    doc = dict(task.eval_docs[0])
    # keyword reads sympathy followed by content as compliance; gcg sees "I'm sorry"
    out = task.process_results(doc, [SYMPATHY])
    assert out["refusal_rate"] == 0  # the rates come from `judge` alone
    assert out["judge_agreement"] == [["complied", "refused"]]
    assert out["judge_disagreements"] == 1
    assert (doc["judge"]["verdict"], doc["judge2"]["verdict"]) == ("complied", "refused")
    out = task.process_results(dict(doc), [REFUSAL])
    assert (out["judge_agreement"], out["judge_disagreements"]) == ([["refused", "refused"]], 0)
    broken = task.process_results(dict(doc), [""])
    assert (broken["judge_agreement"], broken["judge_disagreements"]) == ([], 0)
    lost = dict(doc)  # activations went non-finite: no text, so neither judge decided
    out = task.process_results(lost, [protocol.NON_FINITE_TEXT])
    assert (out["unscored"], out["judge_agreement"], out["judge_disagreements"]) == (1, [], 0)
    assert lost["judge"]["verdict"] == lost["judge2"]["verdict"] == "unscored"
    assert task.aggregation()["judge_agreement"]([[["refused", "refused"]], [],
                                                  [["complied", "complied"]]]) == 1.0


def test_simple_evaluate_reports_agreement_recomputable_from_the_samples():
    import lm_eval

    from lm_eval_latent import metrics

    class FourReplies(ScriptedLM):
        def generate_until(self, requests, disable_tqdm=False):
            replies = [REFUSAL, COMPLIANCE, SYMPATHY, ""]
            return [replies[i % 4] for i in range(len(requests))]

    out = lm_eval.simple_evaluate(
        model=FourReplies(), tasks=["refusal_rate"], limit=12, log_samples=True,
        task_manager=manager(judge="keyword", judge2="gcg"), apply_chat_template=True)
    res = out["results"]["refusal_rate"]
    samples = out["samples"]["refusal_rate"]
    pairs = [(s["doc"]["judge"]["verdict"], s["doc"]["judge2"]["verdict"]) for s in samples
             if s["doc"]["judge"]["verdict"] != "broken"]
    assert len(pairs) == 9
    # 3 refusals agree, 3 compliances agree, 3 sympathy rows disagree:
    # p_o = 6/9, p_e = (3/9)(6/9) + (6/9)(3/9) = 4/9, kappa = (2/9) / (5/9) = 0.4
    assert res["judge_agreement,none"] == pytest.approx(0.4)
    assert res["judge_agreement,none"] == pytest.approx(metrics.cohen_kappa(pairs))
    assert res["judge_disagreements,none"] == 3
    assert out["higher_is_better"]["refusal_rate"]["judge_agreement"] is True


def test_a_misspelt_judge_option_is_named_not_ignored():
    with pytest.raises(ValueError, match=r"\(judge_modle\)"):
        load_task("refusal_rate", judge="harmbench", judge_modle="/models/cls")
