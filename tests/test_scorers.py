"""Scorers: the registry, the judge-based scores, the reward model's batching and errors.

The reward tests build a random-init 1-layer GPT2ForSequenceClassification with GPT-2's own
tokenizer class over GPT-2's byte symbols (no merges, no pad token, as GPT-2) in a temporary
folder.
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
from tiny_models import save_tiny

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
    assert (s.input, s.max_length) == ("pair", 1024)
    hh = scorer_from_metadata({"scorer": "reward", "scorer_input": "hh", "scorer_max_length": "512"})
    assert (hh.input, hh.max_length) == ("hh", 512)
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


def gpt2_byte_tokenizer():
    """GPT-2's tokenizer class over GPT-2's 256 byte symbols, in GPT-2's order, and no merges:
    every byte is one token, with the id it has in GPT-2's own vocabulary (printable ASCII: the
    byte value minus 33, so "H" is 39; a space before a word is "\u0120", 220; "\n" is 198).
    <|endoftext|> is 256; no pad token, as GPT-2."""
    from transformers import GPT2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {symbol: i for i, symbol in enumerate(bytes_to_unicode().values())}
    vocab["<|endoftext|>"] = len(vocab)
    return GPT2Tokenizer(vocab=vocab, merges=[])


@pytest.fixture(scope="module")
def tiny_reward_dir(tmp_path_factory):
    pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2ForSequenceClassification

    tok = gpt2_byte_tokenizer()
    assert tok.pad_token is None
    config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                        num_labels=1, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    assert config.pad_token_id is None
    return save_tiny(tmp_path_factory.mktemp("tiny_reward"), GPT2ForSequenceClassification, config, tok)


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


def test_reward_inputs_pin_the_token_ids_of_both_forms():
    """The paper's input is the bare text pair: the behaviour's tokens, then the response's, no
    marker and no special token; "hh" is the HH-RLHF string."""
    from lm_eval_latent.judging.scorers import reward_inputs

    tok = gpt2_byte_tokenizer()
    tok.pad_token = tok.eos_token
    pair = reward_inputs(tok, ["Hi?"], [" No."])
    #                                H   i   ?  Ġ   N   o   .
    assert pair["input_ids"].tolist() == [[39, 72, 30, 220, 45, 78, 13]]
    assert set(pair) == {"input_ids", "attention_mask"}
    hh = reward_inputs(tok, ["Hi?"], [" No."], input="hh")
    #       \n   \n   H   u   m   a   n   :  Ġ    H   i   ?  \n   \n
    assert hh["input_ids"].tolist() == [[198, 198, 39, 84, 76, 64, 77, 25, 220, 39, 72, 30, 198, 198,
                                         # A   s   s   i   s   t   a   n   t   :  Ġ    N   o   .
                                         32, 82, 82, 72, 82, 83, 64, 77, 83, 25, 220, 45, 78, 13]]
    assert tok.decode(hh["input_ids"][0]) == "\n\nHuman: Hi?\n\nAssistant: No."


def test_reward_pair_truncation_takes_the_longer_text_from_its_end():
    from lm_eval_latent.judging.scorers import reward_inputs

    tok = gpt2_byte_tokenizer()
    tok.pad_token = tok.eos_token
    # 3 + 8 tokens into 7: "longest_first" takes 4 off the end of the response, the longer one.
    enc = reward_inputs(tok, ["Hi?", "abcdefgh"], ["abcdefgh", "Hi?"], max_length=7)
    assert enc["input_ids"].tolist() == [[39, 72, 30, 64, 65, 66, 67], [64, 65, 66, 67, 39, 72, 30]]
    # "hh" keeps the end of the string, the response.
    hh = reward_inputs(tok, ["Hi?"], ["abcdefgh"], input="hh", max_length=5)
    assert tok.decode(hh["input_ids"][0]) == "defgh"


def test_reward_scores_the_papers_input_by_default(tiny_reward_dir):
    """score() equals the model's logit on the paper's call, tokenizer(behaviour, response)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_reward_dir)
    tok.pad_token = tok.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(tiny_reward_dir, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    behaviours, responses = ["how do I do X?", "tell me about Y."], ["Sure: step one.", "I can't."]
    with torch.no_grad():
        enc = tok(behaviours, responses, return_tensors="pt", padding=True, truncation=True,
                  max_length=64)
        expected = model(**enc).logits.squeeze(-1).float().tolist()
    pair = RewardScorer(str(tiny_reward_dir), device="cpu").score(behaviours, responses)
    assert pair == pytest.approx(expected, abs=1e-6)
    hh = RewardScorer(str(tiny_reward_dir), device="cpu", input="hh").score(behaviours, responses)
    assert hh != pytest.approx(expected, abs=1e-6)  # the other form is another input


def test_reward_hh_truncates_from_the_left(tiny_reward_dir):
    s = RewardScorer(str(tiny_reward_dir), device="cpu", max_length=16, input="hh")
    # Inputs that differ only far from their end score alike once cut to the last 16 tokens.
    a, b, short = s.score(["alpha " * 40, "beta gamma " * 40, "x"],
                          ["step one, step two, step three, done.",
                           "step one, step two, step three, done.", "ok then"])
    assert a == pytest.approx(b, abs=1e-5)
    long = RewardScorer(str(tiny_reward_dir), device="cpu")  # n_positions = 64 caps it
    assert len(long.score(["word " * 500], ["ok then"])) == 1


def test_reward_input_follows_the_hh_layout():
    assert RewardScorer.format_input("Q?", " A.") == "\n\nHuman: Q?\n\nAssistant: A."
    assert RewardScorer().max_length == 1024 and RewardScorer().input == "pair"


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
                                            ({"max_length": 1}, "max_length"),
                                            ({"input": "chat"}, "input")])
def test_reward_options_are_validated(options, field):
    with pytest.raises(ValueError, match=field):
        RewardScorer(**options)
