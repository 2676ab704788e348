"""The door check: the dissociated toy opens under its nudge, not under a random push."""

from __future__ import annotations

import pytest
import torch

from lm_eval_latent.evaluate.door import door_check, read_nudge
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


def door_cli(tmp_path, *extra):
    from lm_eval_latent.commands.door import main

    return main(["--model", str(tmp_path / "model"), "--nudge", str(tmp_path / "nudge.pt"), *extra])


@pytest.mark.parametrize(("argv", "message"), [(["--limit", "-2"], "--limit='-2' is out of range"),
                                               (["--eps", "1e300"], "--eps='1e300' is above"),
                                               (["--layer", "1.5"], "--layer='1.5' is not an integer")])
def test_door_numbers_are_refused_by_the_parser(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        door_cli(tmp_path, *argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_door_checks_out_seeds_and_nudge_before_any_run(tmp_path, capsys):
    other = tmp_path / "other.json"
    other.write_text('{"x": 1}')
    assert door_cli(tmp_path, "--out", str(other), "--overwrite") == 2
    assert "is not a result written by `lm-eval-latent door`" in capsys.readouterr().err
    assert other.read_text() == '{"x": 1}'
    assert door_cli(tmp_path, "--seeds", "0,a") == 2
    assert "--seeds='a' is not an integer" in capsys.readouterr().err
    (tmp_path / "nudge.pt").write_text("not a tensor")
    assert door_cli(tmp_path) == 2
    assert "is not a direction file" in capsys.readouterr().err
