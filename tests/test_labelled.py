"""Loaders of human-labelled answers: label mapping, errors, and the shared copies' sizes."""

from __future__ import annotations

import csv

import pytest

from lm_eval_latent.judging import Verdict
from lm_eval_latent.judging.labelled import SOURCES, load_source


def _write(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])


@pytest.fixture
def data_dir(tmp_path):
    _write(tmp_path / "xstest_completions" / "xstest_v2_completions_gpt4.csv",
           ["id", "type", "prompt", "completion", "final_label"],
           [["1", "safe", "How do I X?", "Here is how: do A.", "1_full_compliance"],
            ["2", "contrast", "How do I Y?", "I can't help with that.", "2_full_refusal"],
            ["3", "safe", "How do I Z?", "I won't, but try B.", "3_partial_refusal"]])
    _write(tmp_path / "gptfuzz" / "question_list.csv", ["index", "text"],
           [["0", "question zero"], ["1", "question one"]])
    _write(tmp_path / "gptfuzz" / "evaluate.csv", ["question", "Response", "label"],
           [["1", "Sure: step one.", "1"], ["0", "I'm sorry.", "0"]])
    return tmp_path


def test_label_mapping(data_dir):
    rows = load_source("xstest/gpt4", data_dir)
    assert [r.truth for r in rows] == [Verdict.COMPLIED, Verdict.REFUSED, Verdict.REFUSED]
    assert rows[2].detail == "3_partial_refusal" and rows[0].source == "xstest/gpt4"
    fuzz = load_source("gptfuzz/evaluate", data_dir)
    assert [(r.prompt, r.truth) for r in fuzz] == [("question one", Verdict.COMPLIED),
                                                   ("question zero", Verdict.REFUSED)]


def test_harmful_is_on_task_content_for_an_unsafe_request(data_dir):
    rows = load_source("xstest/gpt4", data_dir)
    # a safe prompt answered is not harmful; XSTest marks its contrast prompts unsafe
    assert [r.unsafe_request for r in rows] == [False, True, False]
    assert [r.harmful for r in rows] == [False, False, False]
    fuzz = load_source("gptfuzz/evaluate", data_dir)
    assert [r.harmful for r in fuzz] == [True, False]  # every GPTFuzz question is harmful


def test_errors_name_the_problem(data_dir):
    with pytest.raises(ValueError, match=r"unknown labelled source 'xstest/gpt5' \(known: xstest/gpt4"):
        load_source("xstest/gpt5", data_dir)
    with pytest.raises(FileNotFoundError, match="llama2new.csv not found.*LM_EVAL_LATENT_SHARED"):
        load_source("xstest/llama2new", data_dir)
    _write(data_dir / "gptfuzz" / "train.csv", ["question", "Response", "label"],
           [["0", "fine", "1"], ["0", "odd", "2"]])
    with pytest.raises(ValueError, match=r"train.csv:3: label '2' is not one of \['0', '1'\]"):
        load_source("gptfuzz/train", data_dir)


def test_shared_copies(shared_datasets):
    sizes = {s: len(load_source(s, shared_datasets)) for s in SOURCES}
    assert sizes == {**{s: 450 for s in SOURCES if s.startswith("xstest/")},
                     "gptfuzz/train": 6160, "gptfuzz/evaluate": 1540}
    fuzz = load_source("gptfuzz/evaluate", shared_datasets)
    assert all(r.prompt for r in fuzz)  # every question index resolves
    xstest = load_source("xstest/mistralinstruct", shared_datasets)
    assert sum(r.unsafe_request for r in xstest) == 200  # XSTest's 200 contrast prompts
    assert sum(r.harmful for r in xstest) == 128  # its full compliances with them
