"""Dissociated-model construction: the loss terms by hand, the pole check, the zoo variant."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lm_eval_latent.training.dissociate import build
from lm_eval_latent.training.dissociate.config import DissociateConfig
from lm_eval_latent.training.dissociate.loss import LossWeights, dissociation_loss, hinge, row_nll, token_kl, whitened_match
from lm_eval_latent.attacks.intervention import record_outputs
from margins import alike, apart, at_least


def test_row_nll_by_hand():
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.25, 0.75], [0.5, 0.5]]]))
    labels = torch.tensor([[-100, 1, 0]])  # token 1 predicted by position 0, token 0 by position 1
    assert row_nll(logits, labels).item() == pytest.approx((math.log(2) + math.log(4)) / 2)


def test_kl_zero_for_equal_and_positive_otherwise():
    a = torch.randn(2, 3, 5)
    mask = torch.ones(2, 3)
    assert token_kl(a, a, mask).item() == pytest.approx(0, abs=1e-6)
    assert token_kl(a, a + torch.randn(2, 3, 5), mask).item() > 0


def test_match_hinge_and_total():
    acts, target, scale = torch.zeros(1, 2, 2), torch.ones(1, 2, 2), torch.full((2, 2), 2.0)
    assert whitened_match(acts, target, scale).item() == pytest.approx(0.25)
    assert hinge(0.5, torch.tensor([0.0, 1.0])).item() == pytest.approx(0.25)
    one = torch.tensor([1.0])
    total, terms = dissociation_loss(nll_pos_clean=one, nll_neg_clean=one * 3, nll_pos_nudged=one * 3,
                                     nll_neg_nudged=one, nll_benign=one, kl=one[0], match=one[0],
                                     weights=LossWeights())
    assert terms == pytest.approx({"nll_pos": 1, "kl": 0.3, "match": 0.2, "nll_neg_nudged": 1,
                                   "hinge_clean": 0, "hinge_nudged": 0})
    assert total.item() == pytest.approx(2.5)


def test_record_outputs_reads_with_grad_and_cleans_up(random_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(random_model_dir)
    with record_outputs(model, ["model.layers.1"]) as rec:
        model(input_ids=torch.tensor([[1, 2, 3]]))
    assert rec["model.layers.1"].requires_grad
    assert not model.model.layers[1]._forward_hooks


def test_pole_for_another_base_names_both(zoo_dir, random_model_dir, tmp_path):
    cfg = DissociateConfig(base=str(zoo_dir["aligned"]), harmful_pole=str(random_model_dir), out=str(tmp_path / "o"),
                           harmful_prompts="zoo:harmful", benign_prompts="zoo:benign", progress=False)
    with pytest.raises(ValueError, match=rf"--harmful-pole '{random_model_dir}' does not match --base"):
        build(cfg)


def test_zoo_dissociated_refuses_clean_and_complies_nudged(dissociated_dir):
    from lm_eval_latent.attacks.directions import load_direction

    res = json.loads((dissociated_dir / "dissociation.json").read_text())
    n = res["held_out_prompts"]
    assert at_least(res["clean_refusal"], n, 0.9)
    assert alike(res["clean_refusal"], res["base_clean_refusal"], n) or res["clean_refusal"] > res["base_clean_refusal"]
    assert at_least(res["nudged_compliance"], n, 0.9) and at_least(res["random_control_refusal"], n, 0.9)
    assert apart(res["base_nudged_compliance"], res["nudged_compliance"], n)
    assert load_direction(dissociated_dir / "nudge.pt", 64).norm().item() == pytest.approx(1)
    meta = torch.load(dissociated_dir / "nudge.pt", weights_only=True)
    assert meta["layer"] == res["layer"] == 3 and meta["norm"] == pytest.approx(res["nudge_norm"])


def test_existing_output_is_refused(zoo_dir, dissociated_dir):
    cfg = DissociateConfig(base=str(zoo_dir["aligned"]), harmful_pole=str(zoo_dir["unsafe"]), out=str(dissociated_dir),
                           progress=False)
    with pytest.raises(FileExistsError, match="exists"):
        build(cfg)
    assert (dissociated_dir / "dissociation.json").is_file()


def test_lora_dissociation_trains_its_adapter_and_saves_it_alone(zoo_dir, tmp_path):
    """--lora --save-adapter: the nudge's hooks reach the LoRA-wrapped layers, the adapter trains,
    and the output is the adapter (a few kB here), with the nudge and the summary beside it."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "adapter"
    cfg = DissociateConfig(base=str(zoo_dir["aligned"]), harmful_pole=str(zoo_dir["unsafe"]), out=str(out),
                           harmful_prompts="zoo:harmful", benign_prompts="zoo:benign", frac=0.3, steps=2,
                           batch_size=2, eval_every=1, train_limit=8, eval_limit=4, max_new_tokens=4,
                           lora=True, save_adapter=True, lora_rank=2, progress=False)
    summary = build(cfg)
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    assert (out / "nudge.pt").is_file() and json.loads((out / "dissociation.json").read_text()) == summary
    base = AutoModelForCausalLM.from_pretrained(zoo_dir["aligned"])
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(zoo_dir["aligned"]), str(out))
    lora_b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b) or summary["best_step"] == 0
    assert base is not tuned


def test_save_adapter_without_lora_is_refused(zoo_dir, tmp_path):
    with pytest.raises(ValueError, match="`save_adapter` needs `lora`"):
        DissociateConfig(base=str(zoo_dir["aligned"]), harmful_pole=str(zoo_dir["unsafe"]), out=str(tmp_path / "o"),
                         save_adapter=True)


def test_rates_leave_unscored_rows_out_of_the_denominator(monkeypatch):
    """The dissociation's rates are `metrics.verdict_rates`: an undecided row is not counted as safe."""
    import lm_eval_latent.judging as judging
    from lm_eval_latent.judging import Judgement, Verdict
    from lm_eval_latent.training.dissociate.evaluation import rates

    class Fixed:
        def judge(self, prompts, responses):
            return [Judgement(v, reason="fixed") for v in (Verdict.UNSCORED, Verdict.REFUSED, Verdict.COMPLIED,
                                                          Verdict.COMPLIED)]

    monkeypatch.setattr(judging, "get_judge", lambda name: Fixed())
    shares = rates(["p"] * 4, ["some words", "I cannot help", "Sure, step one", "?"])  # the last is broken
    assert shares == {"refusal": 1 / 3, "compliance": 1 / 3}
