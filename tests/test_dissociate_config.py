"""DissociateConfig: the layer and match band a run resolves to, and what it refuses."""

from __future__ import annotations

import pytest

from lm_eval_latent.training.dissociate.config import DissociateConfig, resolve_band


def test_band_defaults_and_range():
    assert resolve_band(6, None, None, "Llama") == (3, [2, 3, 4])
    assert resolve_band(28, None, None, "Llama") == (14, [11, 12, 13, 14, 15, 16, 17])
    with pytest.raises(ValueError, match=r"--band 4-9 is outside Llama with 6 layers \(allowed: .*0..5"):
        resolve_band(6, None, (4, 9), "Llama")
    with pytest.raises(ValueError, match=r"--layer 6 is out of range for Llama with 6 layers"):
        resolve_band(6, 6, None, "Llama")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("frac", 0.0, "`frac` should be positive, got 0.0"),
    ("steps", 0, "`steps` should be a positive integer, got 0"),
    ("holdout", 1.0, r"`holdout` should be in \(0, 1\), got 1.0"),
])
def test_bad_settings_are_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        DissociateConfig(base="b", harmful_pole="h", out="o", **{field: value})
