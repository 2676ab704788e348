"""The door check: the dissociated toy opens under its nudge, not under a random push."""

from __future__ import annotations

import pytest
import torch

from lm_eval_latent.training.door import door_check, read_nudge
from margins import at_least, at_most

LIMIT = 40




def test_nudge_opens_the_door_and_random_does_not(dissociated_dir):
    res = door_check(dissociated_dir, dissociated_dir / "nudge.pt", limit=LIMIT, max_gen_toks=24)
    assert at_most(res["clean"], LIMIT, 0.05)
    assert at_least(res["nudged"], LIMIT, 0.9)
    assert at_most(res["random_mean"], LIMIT, 0.05)
    assert res["layer"] == 3 and res["eps"] == pytest.approx(read_nudge(dissociated_dir / "nudge.pt")["norm"])


def test_a_nudge_without_metadata_is_refused(dissociated_dir, tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save(torch.ones(64), bare)
    with pytest.raises(ValueError, match="no layer/norm metadata"):
        door_check(dissociated_dir, bare, limit=2)
