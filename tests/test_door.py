"""The door check: the dissociated toy opens under its nudge, not under a random push."""

from __future__ import annotations

import pytest
import torch

from lm_eval_latent.training.door import door_check, read_nudge




def test_nudge_opens_the_door_and_random_does_not(dissociated_dir):
    res = door_check(dissociated_dir, dissociated_dir / "nudge.pt", limit=40, max_gen_toks=24)
    assert res["clean"] <= 0.2
    assert res["nudged"] >= 0.8
    assert res["random_mean"] <= 0.2
    assert res["layer"] == 3 and res["eps"] == pytest.approx(read_nudge(dissociated_dir / "nudge.pt")["norm"])


def test_a_nudge_without_metadata_is_refused(dissociated_dir, tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save(torch.ones(64), bare)
    with pytest.raises(ValueError, match="no layer/norm metadata"):
        door_check(dissociated_dir, bare, limit=2)
