"""`latent_hf lora=`: a PEFT adapter changes the outputs and equals the merged model."""

from __future__ import annotations

import pytest
import torch
from lm_eval.api.instance import Instance

from lm_eval_latent.model.latent_hf import LatentHFLM


@pytest.fixture(scope="module")
def adapter_dir(random_model_dir, tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(random_model_dir)
    # init_lora_weights=False: random A and B, so the adapter is not a no-op.
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, config)
    path = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(path)
    return path


def loglik(lm: LatentHFLM) -> list[tuple[float, bool]]:
    reqs = [Instance("loglikelihood", {}, (p, " step two"), 0) for p in ("How do I bake bread?", "step one")]
    return lm.loglikelihood(reqs)


def test_adapter_changes_outputs_and_equals_merged(random_model_dir, adapter_dir):
    clean = LatentHFLM(pretrained=str(random_model_dir), device="cpu")
    adapted = LatentHFLM(pretrained=str(random_model_dir), device="cpu", lora=str(adapter_dir))
    merged = LatentHFLM(pretrained=str(random_model_dir), device="cpu", lora=str(adapter_dir), merge_lora=True)
    assert type(adapted.model).__name__.startswith("PeftModel")
    assert type(merged.model).__name__ == "LlamaForCausalLM"
    a, m, c = loglik(adapted), loglik(merged), loglik(clean)
    assert [x for x, _ in a] != pytest.approx([x for x, _ in c], abs=1e-3)
    assert [x for x, _ in a] == pytest.approx([x for x, _ in m], abs=1e-4)


def test_adapter_with_perturbation_on_both_backends(random_model_dir, adapter_dir):
    """A layer path resolves through the PEFT wrapper, and both backends agree."""
    kwargs = dict(pretrained=str(random_model_dir), device="cpu", lora=str(adapter_dir), perturb_layer=1, eps=5)
    nn_lm = LatentHFLM(**kwargs, backend="nnsight")
    hook_lm = LatentHFLM(**kwargs, backend="hooks")
    assert nn_lm.layer.module_name.endswith("model.layers.1")
    assert [x for x, _ in loglik(nn_lm)] == pytest.approx([x for x, _ in loglik(hook_lm)], abs=1e-5)


def test_adapter_for_another_base_is_refused(random_model_dir, adapter_dir, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import build_random_model

    other = build_random_model(tmp_path / "wide", hidden=64)
    with pytest.raises(ValueError, match="was trained for another base model"):
        LatentHFLM(pretrained=str(other), device="cpu", lora=str(adapter_dir))


def test_adapter_naming_another_base_warns_with_both_names(random_model_dir, adapter_dir, tmp_path, caplog):
    """Same shapes, another model: the adapter loads, and the log names both models."""
    import logging
    import shutil

    other = tmp_path / "another_llama"
    shutil.copytree(random_model_dir, other)
    with caplog.at_level(logging.WARNING, logger="lm_eval_latent.model.adapters"):
        LatentHFLM(pretrained=str(other), device="cpu", lora=str(adapter_dir))
    warning = " ".join(r.getMessage() for r in caplog.records if r.name == "lm_eval_latent.model.adapters")
    assert str(random_model_dir) in warning and str(other) in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="lm_eval_latent.model.adapters"):
        LatentHFLM(pretrained=str(random_model_dir), device="cpu", lora=str(adapter_dir))
    assert not [r for r in caplog.records if r.name == "lm_eval_latent.model.adapters"]


def test_same_model_names():
    from lm_eval_latent.model.adapters import same_model

    assert same_model("HuggingFaceTB/SmolLM2-135M-Instruct", "/models/smollm2-135m-instruct")
    assert not same_model("HuggingFaceTB/SmolLM2-135M", "HuggingFaceTB/SmolLM2-360M")
