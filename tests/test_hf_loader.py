"""The one model loader: shared weights, one judge for a task's judge and its scorer, errors."""

from __future__ import annotations

import pytest

from lm_eval_latent.judging import Judgement, Verdict, get_judge, hf_loader, scorers, selection
from lm_eval_latent.judging.harmbench import HarmBenchJudge
from lm_eval_latent.task_classes.safety_task import judge_from_metadata
from tiny_models import save_tiny, word_level_tokenizer

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory):
    fast = word_level_tokenizer(["yes no Behavior Generation Sure here is how"], ["[PAD]", "[UNK]", "[EOS]"],
                                unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    config = transformers.LlamaConfig(vocab_size=len(fast), hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=1, num_attention_heads=2,
                                      num_key_value_heads=2, pad_token_id=fast.pad_token_id)
    return save_tiny(tmp_path_factory.mktemp("loader_tiny"), transformers.LlamaForCausalLM, config, fast)


@pytest.fixture(autouse=True)
def _fresh():
    scorers.clear_cache()  # scorers, judges and models
    yield
    scorers.clear_cache()


def test_judge_and_judge_prob_scorer_share_one_judge_and_one_model(tiny_causal):
    meta = {"judge": "harmbench", "judge_model": str(tiny_causal), "judge_device": "cpu",
            "scorer": "judge_prob"}
    judge = judge_from_metadata(meta)
    scorer = scorers.scorer_from_metadata(meta)
    assert scorer.judge is judge  # the scorer follows the task's judge and its options
    scorer.score(["Behavior"], ["Sure here is how"])
    judge.judge(["Behavior"], ["Sure here is how"])
    assert hf_loader.cache_info().misses == 1
    # another batch size is another judge object, on the same weights
    other = HarmBenchJudge(model=str(tiny_causal), device="cpu", batch_size=1)
    other.judge(["Behavior"], ["Sure here is how"])
    assert other._model is judge._model
    assert hf_loader.cache_info().misses == 1


def test_an_explicit_scorer_judge_keeps_its_own_options():
    meta = {"judge": "keyword", "scorer": "judge", "scorer_judge": "gcg"}
    assert scorers.scorer_from_metadata(meta).judge.name == "gcg"
    # judge_prob with a rule-based task judge keeps its default, the HarmBench classifier
    prob = scorers.scorer_from_metadata({"judge": "keyword", "scorer": "judge_prob"})
    assert prob.judge.name == "harmbench"


def test_the_same_spec_is_one_judge():
    a = selection.JudgeSpec("keyword").build()
    assert a is selection.JudgeSpec.from_metadata({"judge": "keyword"}).build()
    assert a is scorers.get_scorer("judge", judge="keyword").judge


def test_load_failure_names_model_and_metadata(tmp_path):
    missing = str(tmp_path / "nothing-here")
    with pytest.raises(OSError) as err:
        hf_loader.load(missing, "sequence", device="cpu", dtype="auto", what="the thing",
                       hint={"scorer": "reward", "scorer_model": "/path/to/dir"})
    message = str(err.value)
    assert message.startswith(f"could not load the thing {missing!r}")
    assert "scorer_model=/path/to/dir" in message and '"scorer": "reward"' in message


def test_dtype_and_device_resolution():
    assert hf_loader.resolve_dtype("auto", "cuda:0") == "bfloat16"
    assert hf_loader.resolve_dtype("auto", "cpu") == "float32"
    assert hf_loader.resolve_dtype("auto", "cuda", auto="float32") == "float32"
    assert hf_loader.resolve_dtype("float16", "cpu") == "float16"
    assert hf_loader.resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="head='encoder'"):
        hf_loader.load("x", "encoder", device="cpu", dtype="auto", what="x", hint={"a": "b"})


def test_batches_cover_every_item_in_order():
    assert list(hf_loader.batches([5, 3, 9, 1, 7], 2, "t")) == [[5, 3], [9, 1], [7]]
    assert list(hf_loader.batches([], 4, "t")) == []


def test_judge_in_batches_keeps_order_and_loads_only_when_needed():
    loads, seen = [], []

    def classify(prompts, responses):
        seen.append(list(responses))
        return [Judgement(Verdict.COMPLIED, reason=p) for p in prompts]

    out = hf_loader.judge_in_batches(["a", "b", "c", "d"], ["Sure one", "", "Sure three", "Sure four"], classify,
                                     load=lambda: loads.append(1), batch_size=2, desc="t")
    assert [j.verdict for j in out] == [Verdict.COMPLIED, Verdict.UNSCORED, Verdict.COMPLIED, Verdict.COMPLIED]
    assert [j.reason for j in out if j.verdict is Verdict.COMPLIED] == ["a", "c", "d"]
    assert seen == [["Sure one", "Sure three"], ["Sure four"]] and loads == [1]
    assert hf_loader.judge_in_batches(["a"], [" "], classify, load=lambda: loads.append(1), batch_size=2,
                                      desc="t")[0].verdict is Verdict.UNSCORED
    assert loads == [1]
    with pytest.raises(ValueError):
        hf_loader.judge_in_batches(["a"], [], classify, load=lambda: None, batch_size=2, desc="t")


MODEL_JUDGES = {"harmbench": {}, "llama_guard": {}, "seq_classifier": {"labels": "0:refused,1:complied"}}


@pytest.mark.parametrize("name", sorted(MODEL_JUDGES))
def test_model_judges_skip_the_model_for_broken_answers_and_name_it_when_it_fails_to_load(name, tmp_path):
    missing = str(tmp_path / f"missing-{name}")
    judge = get_judge(name, model=missing, device="cpu", **MODEL_JUDGES[name])
    # the folder does not exist, so only a call that never loads the model can succeed
    assert [j.verdict for j in judge.judge(["p", "q"], [" ", ""])] == [Verdict.UNSCORED] * 2
    with pytest.raises(OSError) as err:
        judge.judge(["p", "q"], ["", "Sure, here is how to X"])
    message = str(err.value)
    assert missing in message and f'"judge": "{name}"' in message and "judge_model=/path/to/dir" in message
