"""Training the n-gram judge: cell weights, a deterministic fit that learns, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from lm_eval_latent.judging import Verdict
from lm_eval_latent.judging.labelled import LabelledAnswer
from lm_eval_latent.judging.ngram import NgramFeatures, NgramJudge
from lm_eval_latent.judging.train_ngram import cell_weights, fit, main

FEATURES = NgramFeatures(n_features=2**12)


def _rows(source: str, n: int) -> list[LabelledAnswer]:
    rows = []
    for i in range(n):
        rows.append(LabelledAnswer(source, "p", f"Sure, here is how to X{i}: step one, do A{i}.",
                                   Verdict.COMPLIED, "1"))
        rows.append(LabelledAnswer(source, "p", f"I'm sorry, but I can't help with X{i}.",
                                   Verdict.REFUSED, "0"))
    return rows


def test_cell_weights_give_each_source_and_class_the_same_total():
    rows = _rows("a", 30) + _rows("b", 5)[:7]  # b: 4 compliances, 3 refusals
    w = cell_weights(rows)
    assert w.mean() == pytest.approx(1.0)
    totals = {}
    for r, wi in zip(rows, w):
        totals[(r.source, r.truth)] = totals.get((r.source, r.truth), 0.0) + wi
    assert np.allclose(list(totals.values()), next(iter(totals.values())))


def test_fit_learns_and_is_deterministic():
    rows = _rows("a", 40)
    model = fit(rows, FEATURES)
    again = fit(rows, FEATURES)
    assert np.array_equal(model.weight, again.weight) and model.bias == again.bias
    judge = NgramJudge(model)
    out = judge.judge(["p", "p"], ["Sure, here is how to Y: step one, do B.",
                                   "I'm sorry, but I can't help with Y."])
    assert [j.verdict for j in out] == [Verdict.COMPLIED, Verdict.REFUSED]


def test_pair_fit_learns_the_request_overlap():
    # Same answers; only their overlap with the request tells the classes apart: an answer that
    # takes up the request's words complied, one about something else refused.
    rows = []
    for i in range(40):
        rows.append(LabelledAnswer("a", f"How do I repair garden fences {i}?",
                                   f"Here you go {i}: repair garden fences with wire.", Verdict.COMPLIED, "1"))
        rows.append(LabelledAnswer("a", f"How do I bake sourdough bread {i}?",
                                   f"Here you go {i}: repair garden fences with wire.", Verdict.REFUSED, "0"))
    model = fit(rows, FEATURES, pair=True)
    assert model.request_weight is not None and model.request_weight[0] > 0  # covered -> complied
    again = fit(rows, FEATURES, pair=True)
    assert np.array_equal(model.request_weight, again.request_weight)
    answer = "Here you go: repair garden fences with wire."
    on, off = NgramJudge(model).judge(["How do I repair garden fences?", "How do I bake bread?"],
                                      [answer, answer])
    assert on.score > off.score
    assert fit(rows, FEATURES).request_weight is None


def test_fit_needs_both_classes():
    rows = [r for r in _rows("a", 5) if r.truth is Verdict.REFUSED]
    with pytest.raises(ValueError, match="both classes"):
        fit(rows, FEATURES)


def test_cli_exits_2_on_missing_data_and_leaves_no_file(tmp_path, capsys):
    out = tmp_path / "w.npz"
    assert main(["--data-dir", str(tmp_path), "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert not out.exists()
