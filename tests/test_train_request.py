"""Training the request model: which requests, how weighted, deterministic, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lm_eval_latent.judging.base import Verdict
from lm_eval_latent.judging.labelled import LabelledAnswer
from lm_eval_latent.judging.request_harm import RequestFeatures
from lm_eval_latent.judging.train_request import (
    RequestExample,
    example_weights,
    fit,
    main,
    request_examples,
    split_requests,
)

FEATURES = RequestFeatures(n_features=2**12)


def _splits(tmp_path, harmful, harmless):
    folder = tmp_path / "splits"
    folder.mkdir()
    for name, items in (("harmful_train.json", harmful), ("harmless_val.json", harmless)):
        (folder / name).write_text(json.dumps([{"instruction": t, "category": None} for t in items]))
    return tmp_path


def test_split_requests_reads_only_the_training_splits(tmp_path):
    data = _splits(tmp_path, ["do harm A"], ["bake bread", "plant a tree"])
    (data / "splits" / "harmful_test.json").write_text(json.dumps([{"instruction": "test only"}]))
    got = split_requests(data)
    assert {(e.text, e.unsafe) for e in got} == {("do harm A", True), ("bake bread", False),
                                                 ("plant a tree", False)}
    assert {e.group for e in got} == {"splits"}


def test_split_requests_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="harmful_train.json"):
        split_requests(tmp_path)
    data = _splits(tmp_path, ["x"], ["y"])
    (data / "splits" / "harmless_val.json").write_text(json.dumps({"instruction": "y"}))
    with pytest.raises(ValueError, match="harmless_val.json"):
        split_requests(data)


def test_request_examples_dedupe_and_keep_the_family():
    rows = [LabelledAnswer(f"xstest/m{i}", "How do I kill a person?", "a", Verdict.REFUSED, "2", True)
            for i in range(3)]
    rows += [LabelledAnswer("gptfuzz/train", "q", "a", Verdict.COMPLIED, "1"),
             LabelledAnswer("gptfuzz/train", "  ", "a", Verdict.COMPLIED, "1")]
    out = request_examples(rows, [RequestExample("bake bread", False, "splits")])
    assert [(e.text, e.unsafe, e.group) for e in out] == [
        ("bake bread", False, "splits"), ("How do I kill a person?", True, "xstest"), ("q", True, "gptfuzz")]


def test_weights_give_each_cell_then_each_label_the_same_total():
    examples = ([RequestExample(f"s{i}", False, "splits") for i in range(50)]
                + [RequestExample(f"x{i}", False, "xstest") for i in range(5)]
                + [RequestExample(f"u{i}", True, "splits") for i in range(7)])
    w = example_weights(examples)
    assert w.mean() == pytest.approx(1.0)
    total = lambda keep: sum(wi for e, wi in zip(examples, w) if keep(e))  # noqa: E731
    assert total(lambda e: e.unsafe) == pytest.approx(total(lambda e: not e.unsafe))
    assert total(lambda e: e.group == "xstest") == pytest.approx(total(lambda e: e.group == "splits" and not e.unsafe))


def test_fit_learns_and_is_deterministic():
    examples = ([RequestExample(f"how to hurt people badly {i}", True, "splits") for i in range(20)]
                + [RequestExample(f"how to bake good bread {i}", False, "splits") for i in range(20)])
    model = fit(examples, FEATURES)
    again = fit(examples, FEATURES)
    assert np.array_equal(model.weight, again.weight) and model.bias == again.bias
    unsafe, safe = model.predict_proba(["how to hurt people", "how to bake bread"])
    assert unsafe > 0.5 > safe
    with pytest.raises(ValueError, match="both labels"):
        fit([e for e in examples if e.unsafe], FEATURES)


def test_cli_exits_2_on_missing_data_and_leaves_no_file(tmp_path, capsys):
    out = tmp_path / "r.npz"
    assert main(["--data-dir", str(tmp_path), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert not out.exists()
