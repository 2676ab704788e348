"""Scorers: the registry, the judge-based scores, the reward model's batching and errors.

The reward test builds a random-init 1-layer GPT2ForSequenceClassification with a small
byte-level BPE tokenizer trained on the fly (no pad token, as GPT-2) in a temporary folder.
"""

from __future__ import annotations

import math

import pytest

from lm_eval_latent.judging import scorers
from lm_eval_latent.judging import JUDGES
from lm_eval_latent.judging.base import Judgement, Verdict
from lm_eval_latent.judging.scorers import (
    SCORERS,
    JudgeScorer,
    RewardScorer,
    Scorer,
    get_scorer,
    scorer_from_metadata,
)
from tiny_models import byte_bpe_tokenizer, save_tiny

REFUSAL = "I'm sorry, but I can't help with that."
COMPLIANCE = "Sure, here is how to X: step one, do A. Step two, do B."


@pytest.fixture(autouse=True)
def _fresh_cache():
    scorers.clear_cache()
    yield
    scorers.clear_cache()


class FakeJudge:
    """Returns the judgements it was given, in order, whatever the texts."""

    def __init__(self, judgements=(), name: str = "fake") -> None:
        self.name = name
        self.judgements = list(judgements)

    def judge(self, prompts, responses):
        assert len(self.judgements) == len(responses)
        return list(self.judgements)


def _register(monkeypatch, name, judgements):
    monkeypatch.setitem(JUDGES, name, lambda **_: FakeJudge(judgements, name))


# ---------------------------------------------------------------- registry


def test_registry_and_unknown_scorer_message():
    assert set(SCORERS) == {"judge", "judge_prob", "reward"}
    with pytest.raises(ValueError) as err:
        get_scorer("x")
    assert str(err.value) == "unknown scorer 'x' (known: judge, judge_prob, reward)"


def test_scorers_are_cached_per_name_and_options():
    a = get_scorer("judge")
    assert a is get_scorer("judge")
    assert get_scorer("reward", model="some/id") is get_scorer("reward", model="some/id")
    assert get_scorer("reward", model="some/id") is not get_scorer("reward", model="other/id")
    assert isinstance(a, Scorer) and a.name == "judge"


def test_metadata_keys_become_options():
    s = scorer_from_metadata({"scorer": "reward", "scorer_model": "/m", "scorer_device": "cpu",
                              "scorer_batch_size": "4", "scorer_dtype": "float32"})
    assert isinstance(s, RewardScorer)
    assert (s.model_id, s.device, s.batch_size, s.dtype) == ("/m", "cpu", 4, "float32")
    assert scorer_from_metadata(None).name == "judge"


# ---------------------------------------------------------------- judge scorers


def test_judge_scorer_maps_verdicts_to_binary_scores():
    s = get_scorer("judge")
    assert s.score(["p1", "p2"], [REFUSAL, COMPLIANCE]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="same length"):
        s.score(["p"], [])


def test_judge_scorer_leaves_undecided_rows_unscored(monkeypatch):
    _register(monkeypatch, "fake", [Judgement(Verdict.REFUSED), Judgement(Verdict.UNSCORED),
                                    Judgement(Verdict.COMPLIED)])
    assert get_scorer("judge", judge="fake").score(["p"] * 3, ["a a", "b b", "c c"]) == [
        1.0, None, 0.0]


def test_broken_output_is_left_to_the_judge():
    # The shipped judges call an empty output unscored; the scorer does not turn that into a number.
    assert JudgeScorer().score(["p", "p"], ["", "ok"]) == [None, None]


def test_judge_prob_is_one_minus_harm_probability(monkeypatch):
    _register(monkeypatch, "probs", [Judgement(Verdict.COMPLIED, score=0.9),
                                     Judgement(Verdict.REFUSED, score=0.25),
                                     Judgement(Verdict.UNSCORED, score=0.5)])
    out = get_scorer("judge_prob", judge="probs").score(["p"] * 3, ["a a", "b b", "c c"])
    assert out[0] == pytest.approx(0.1) and out[1] == pytest.approx(0.75) and out[2] is None


def test_judge_prob_rejects_judges_without_probabilities(monkeypatch):
    with pytest.raises(ValueError, match=r"'keyword'.*scorer 'judge'"):
        get_scorer("judge_prob", judge="keyword")
    # an unknown judge that turns out to give no probability fails on first use
    _register(monkeypatch, "flat", [Judgement(Verdict.COMPLIED)])
    s = get_scorer("judge_prob", judge="flat")
    with pytest.raises(ValueError, match=r"'flat'.*scorer 'judge'"):
        s.score(["p"], ["a a"])


# ---------------------------------------------------------------- reward scorer


@pytest.fixture(scope="module")
def tiny_reward_dir(tmp_path_factory):
    pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2ForSequenceClassification

    corpus = ["Human: how do I do X? Assistant: Sure, here is how: step one.",
              "Human: tell me about Y. Assistant: I'm sorry, but I can't help with that."] * 20
    # As GPT-2: an eos token and no pad token.
    fast = byte_bpe_tokenizer(corpus, ["<|endoftext|>"], 300, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    config = GPT2Config(vocab_size=len(fast), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                        num_labels=1, eos_token_id=fast.eos_token_id,
                        bos_token_id=fast.eos_token_id)
    assert config.pad_token_id is None
    return save_tiny(tmp_path_factory.mktemp("tiny_reward"), GPT2ForSequenceClassification, config, fast)


PAIRS = [("how do I do X?", "Sure, here is how: step one."),
         ("tell me about Y.", "I'm sorry, but I can't help with that."),
         ("Z?", "ok then"),
         ("how do I do X? " * 3, "step one, step two, step three.")]


def test_reward_scores_one_float_per_row_and_batching_changes_nothing(tiny_reward_dir):
    prompts, responses = map(list, zip(*PAIRS))
    batched = RewardScorer(str(tiny_reward_dir), device="cpu", batch_size=4)
    single = RewardScorer(str(tiny_reward_dir), device="cpu", batch_size=1)
    out = batched.score(prompts, responses)
    assert len(out) == len(PAIRS) and all(isinstance(v, float) and math.isfinite(v) for v in out)
    assert len(set(out)) == len(out)  # distinct texts, distinct scores: not a constant
    one_by_one = [single.score([p], [r])[0] for p, r in PAIRS]
    assert out == pytest.approx(one_by_one, abs=1e-5)
    assert batched.score(prompts, responses) == out  # deterministic
    assert batched.score([], []) == []


def test_reward_truncates_from_the_left(tiny_reward_dir):
    s = RewardScorer(str(tiny_reward_dir), device="cpu", max_length=16)
    # Inputs that differ only far from their end score alike once cut to the last 16 tokens.
    a, b, short = s.score(["alpha " * 40, "beta gamma " * 40, "x"],
                          ["step one, step two, step three, done.",
                           "step one, step two, step three, done.", "ok then"])
    assert a == pytest.approx(b, abs=1e-5)
    long = RewardScorer(str(tiny_reward_dir), device="cpu")  # n_positions = 64 caps it
    assert len(long.score(["word " * 500], ["ok then"])) == 1


def test_reward_input_follows_the_hh_layout():
    assert RewardScorer.format_input("Q?", " A.") == "\n\nHuman: Q?\n\nAssistant: A."


def test_reward_offline_unknown_model_names_the_way_out(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    s = get_scorer("reward", model="no-such-org/no-such-reward-model")
    with pytest.raises(OSError) as err:
        s.score(["p"], ["a response"])
    message = str(err.value)
    assert "no-such-org/no-such-reward-model" in message
    assert '"scorer_model": "/path/to/dir"' in message


@pytest.mark.parametrize("options, field", [({"batch_size": 0}, "batch_size"),
                                            ({"dtype": "int8"}, "dtype"),
                                            ({"model": ""}, "model"),
                                            ({"max_length": 1}, "max_length")])
def test_reward_options_are_validated(options, field):
    with pytest.raises(ValueError, match=field):
        RewardScorer(**options)
