"""`PerturbConfig`: latent_hf's own model_args, validated on construction."""

from __future__ import annotations

import pytest

from lm_eval_latent.attacks.budget import Budget
from lm_eval_latent.model.config import PerturbConfig


def test_defaults_are_clean():
    cfg = PerturbConfig()
    assert cfg.budget is None and not cfg.active
    assert (cfg.apply_to, cfg.backend, cfg.positions) == ("all", "nnsight", None)


@pytest.mark.parametrize(("given", "layer"), [(-1.0, -1), ("-1", -1), (2, 2), ("embedding", "embedding")])
def test_layer_as_lm_eval_hands_it_over(given, layer):
    # lm-eval turns "-1" in --model_args into the float -1.0.
    assert PerturbConfig(perturb_layer=given).perturb_layer == layer


def test_one_budget_read_as_a_number():
    cfg = PerturbConfig(perturb_layer=1, p="0.001")
    assert cfg.budget == Budget("p", 0.001) and cfg.active
    assert not PerturbConfig(perturb_layer=1, eps=0).active  # eps=0 is the clean model
    assert not PerturbConfig(perturb_layer=1, eps=4, apply_to="latent").active  # only the LVS requests
    assert PerturbConfig(perturb_layer=1, attack="pgd_linf").active  # the attack's own default budget


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"perturb_layer": 1, "eps": 4, "p": 0.1}, "give one budget, not 2"),
        ({"perturb_layer": 1, "eps": -1}, "eps=-1 is below 0"),
        ({"perturb_layer": 1.5}, "perturb_layer=1.5 is not a layer"),
        ({"eps": 4}, 'eps=4 needs perturb_layer (an int or "embedding")'),
        ({"apply_to": "some"}, "apply_to='some' is not allowed (allowed: all, latent)"),
        ({"positions": "middle"}, "positions='middle' is not allowed (allowed: prompt, all)"),
        ({"backend": "torch"}, "backend='torch' is not known (allowed: nnsight, hooks)"),
        ({"merge_lora": True}, "merge_lora=true needs lora="),
        ({"steps": 2.5}, "steps=2.5"),
    ],
)
def test_bad_values_are_named(kwargs, message):
    with pytest.raises(ValueError) as err:
        PerturbConfig(**kwargs)
    assert message in str(err.value)


def test_direction_ablation_without_a_direction_is_refused():
    # it would ablate a seeded random direction: a number that measures nothing meant
    with pytest.raises(ValueError, match="attack=direction_ablate projects a direction out and needs direction=PATH"):
        PerturbConfig(perturb_layer=1, attack="direction_ablate")


def test_direction_ablation_with_a_direction_is_accepted(tmp_path):
    import torch

    from lm_eval_latent.attacks.directions import save_direction

    path = save_direction(tmp_path / "d.pt", torch.ones(4))
    assert PerturbConfig(perturb_layer=1, attack="direction_ablate", direction=str(path)).attack == "direction_ablate"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"perturb_layer": 1, "direction": "/no/such/d.pt"}, "direction='/no/such/d.pt': no such file"),
    ({"perturb_layer": 1, "attack": "/no/such/r.yaml"}, "attack='/no/such/r.yaml': no such file"),
    ({"perturb_layer": 1, "attack": "pgd"}, "attack='pgd' is not known"),
    ({"lora": "/no/such/adapter"}, "lora='/no/such/adapter': no PEFT adapter there"),
])
def test_missing_files_are_setting_errors_before_the_model_loads(kwargs, message):
    from lm_eval_latent.fields import SettingError

    with pytest.raises(SettingError, match=message) as err:
        PerturbConfig(**kwargs)
    if "no such file" in message or "no PEFT adapter" in message:
        assert isinstance(err.value, FileNotFoundError)  # still one for callers that catch it


def test_pop_from_takes_only_its_own_keys():
    kwargs = {"pretrained": "DIR", "perturb_layer": 2, "eps": 4, "batch_size": 8}
    cfg = PerturbConfig.pop_from(kwargs)
    assert kwargs == {"pretrained": "DIR", "batch_size": 8}
    assert (cfg.perturb_layer, cfg.eps) == (2, 4.0)
    assert set(PerturbConfig.field_names()) >= {"perturb_layer", "eps", "p", "frac", "attack", "apply_to", "backend"}
