"""`lm-eval-latent dissociate`: unusable output paths exit 2 before any work, nothing overwritten."""

from __future__ import annotations

from lm_eval_latent.commands.dissociate import main


def test_overwrite_replaces_only_a_model_dissociate_wrote(tmp_path, capsys):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    args = ["--base", str(tmp_path / "base"), "--harmful-pole", str(tmp_path / "pole"), "--out", str(other)]
    assert main([*args, "--overwrite"]) == 2
    assert "is not a model written by `dissociate` (no dissociation.json)" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["keep.txt"]
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    args[-1] = str(blocker)
    assert main(args) == 2 and "is a file, not a folder" in capsys.readouterr().err
