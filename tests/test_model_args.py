"""`check_model_args`: an unknown ``--model_args`` key is refused before anything loads."""

from __future__ import annotations

import pytest

from lm_eval_latent.model.model_args import check_model_args


def test_known_keys_pass():
    check_model_args({"perturb_layer": 2, "eps": 4, "batch_size": 8, "device_map": "cpu", "attn_implementation": "eager"})


def test_a_typo_is_refused_with_the_closest_name():
    with pytest.raises(ValueError, match=r"unknown model arg 'perturb_layr' \(did you mean 'perturb_layer'\?\)"):
        check_model_args({"perturb_layr": 2})


def test_the_protocols_list_of_latent_args_is_perturb_configs_fields():
    from lm_eval_latent.model.config import PerturbConfig
    from lm_eval_latent.task_classes.protocol import LATENT_MODEL_ARGS

    assert LATENT_MODEL_ARGS == set(PerturbConfig.field_names())
