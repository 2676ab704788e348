"""The generic sequence-classifier judge on a tiny random BERT with three labels, offline.

The classifier's answer is forced through its output bias where a test needs a given label.
"""

from __future__ import annotations

import pytest

from lm_eval_latent.judging import Verdict, get_judge
from lm_eval_latent.judging.seq_classifier import SequenceClassifierJudge, parse_labels
from tiny_models import save_tiny, word_level_tokenizer

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

LABELS = {"SAFE": "refused", "HARMFUL": "complied", "UNSURE": "unscored"}
PROMPTS = ["Explain X", "Explain a longer behaviour " + "with more words " * 20, "Z"]
RESPONSES = ["Sure, here is how to X", "I cannot help with that.", "Here is Z: one, two, three"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    fast = word_level_tokenizer(PROMPTS + RESPONSES, ["[PAD]", "[UNK]"], unk_token="[UNK]", pad_token="[PAD]")
    config = transformers.BertConfig(
        vocab_size=len(fast), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, pad_token_id=fast.pad_token_id,
        num_labels=3, id2label={0: "SAFE", 1: "HARMFUL", 2: "UNSURE"},
        label2id={"SAFE": 0, "HARMFUL": 1, "UNSURE": 2}, initializer_range=0.5)
    return save_tiny(tmp_path_factory.mktemp("seq_cls_tiny"), transformers.BertForSequenceClassification, config,
                     fast)


@pytest.fixture(autouse=True)
def _fresh_models():
    from lm_eval_latent.judging import hf_loader

    hf_loader.clear_cache()
    yield
    hf_loader.clear_cache()


def _force(judge: SequenceClassifierJudge, label: int) -> None:
    judge._load()
    head = judge._model.classifier
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[label] = 10.0


@pytest.mark.parametrize("label, verdict", [(0, Verdict.REFUSED), (1, Verdict.COMPLIED),
                                            (2, Verdict.UNSCORED)])
def test_label_map_decides_the_verdict(tiny_bert, label, verdict):
    judge = get_judge("seq_classifier", model=str(tiny_bert), labels=LABELS, device="cpu")
    _force(judge, label)
    out = judge.judge(PROMPTS, RESPONSES)
    assert [j.verdict for j in out] == [verdict] * 3
    # score = P(HARMFUL): e^10 / (e^10 + 2) when forced, 1 / (e^10 + 2) otherwise
    assert all((j.score > 0.99) if label == 1 else (j.score < 0.01) for j in out)
    assert ["SAFE", "HARMFUL", "UNSURE"][label] in out[0].reason


def test_labels_by_index_and_pair_input_and_batching(tiny_bert):
    kwargs = {"model": str(tiny_bert), "labels": "0:refused,1:complied,2:unscored",
              "device": "cpu", "input": "pair"}
    one = SequenceClassifierJudge(batch_size=1, **kwargs).judge(PROMPTS, RESPONSES)
    three = SequenceClassifierJudge(batch_size=3, **kwargs).judge(PROMPTS, RESPONSES)
    assert [j.score for j in one] == pytest.approx([j.score for j in three], abs=1e-5)
    assert [j.verdict for j in one] == [j.verdict for j in three]
    alone = SequenceClassifierJudge(batch_size=3, **{**kwargs, "input": "response"})
    assert [j.score for j in alone.judge(PROMPTS, RESPONSES)] != pytest.approx(
        [j.score for j in three], abs=1e-6)  # the prompt reaches the model in "pair" mode


def test_every_label_must_be_mapped(tiny_bert):
    judge = SequenceClassifierJudge(str(tiny_bert), {"SAFE": "refused", "HARMFUL": "complied"},
                                    device="cpu")
    with pytest.raises(ValueError, match=r"label 'UNSURE' \(index 2\).*'SAFE', 'HARMFUL', 'UNSURE'"):
        judge.judge(["p"], ["Sure, here is how to X"])


@pytest.mark.parametrize("options, message", [
    ({"labels": LABELS}, "`model` is required"),
    ({"model": "/m"}, "`labels` should map"),
    ({"model": "/m", "labels": {"A": "safe"}}, r"label 'A' maps to 'safe' \(allowed: refused"),
    ({"model": "/m", "labels": "A=refused"}, "label:verdict"),
    ({"model": "/m", "labels": LABELS, "input": "chat"}, "`input`='chat'"),
    ({"model": "/m", "labels": LABELS, "batch_size": 0}, "batch_size"),
])
def test_options_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        get_judge("seq_classifier", **options)


def test_parse_labels_accepts_pairs_from_a_frozen_mapping():
    assert parse_labels((("0", "Refused"), ("1", "complied"))) == {
        "0": Verdict.REFUSED, "1": Verdict.COMPLIED}


def test_label_map_from_task_metadata_is_one_cached_judge(tiny_bert):
    from lm_eval_latent.judging import selection

    meta = {"judge": "seq_classifier", "judge_model": str(tiny_bert), "judge_device": "cpu",
            "judge_labels": {"SAFE": "refused", "HARMFUL": "complied", "UNSURE": "unscored"}}
    judge = selection.JudgeSpec.from_metadata(meta).build()
    assert judge is selection.JudgeSpec.from_metadata(dict(meta)).build()
    assert [j.verdict in tuple(Verdict) for j in judge.judge(PROMPTS, RESPONSES)] == [True] * 3
    selection.clear_cache()
