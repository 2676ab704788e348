"""Output paths checked before work (`lm_eval_latent.outputs`)."""

from __future__ import annotations

import json

import pytest

from lm_eval_latent.outputs import OutputError, check_out_dir, check_out_file, is_json_with, write_text_atomic


def test_a_new_file_path_is_fine_and_nothing_is_created(tmp_path):
    out = check_out_file(tmp_path / "a" / "b.json")
    assert out == tmp_path / "a" / "b.json" and not (tmp_path / "a").exists()


def test_existing_files_need_overwrite_and_overwrite_only_replaces_ours(tmp_path):
    ours, other = tmp_path / "ours.json", tmp_path / "other.json"
    ours.write_text(json.dumps({"steps": [], "tau": 0.8}))
    other.write_text("plain text")
    mine = is_json_with(["steps", "tau"])
    with pytest.raises(OutputError, match="exists; choose another path or pass --overwrite"):
        check_out_file(ours, is_ours=mine)
    assert check_out_file(ours, overwrite=True, is_ours=mine) == ours
    with pytest.raises(OutputError, match="exists and is not an onset file; --overwrite only replaces an onset file"):
        check_out_file(other, overwrite=True, is_ours=mine, what="an onset file")
    assert other.read_text() == "plain text"


def test_folders_files_and_blocked_parents_are_named(tmp_path):
    blocker = tmp_path / "f.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="is a folder; give a file path"):
        check_out_file(tmp_path)
    with pytest.raises(OutputError, match=f"{str(blocker)!r} is a file, not a folder"):
        check_out_file(blocker / "out.json")
    with pytest.raises(OutputError, match="is a file, not a folder; give a folder path"):
        check_out_dir(blocker)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_out_dir(blocker / "sub" / "dir")
    assert check_out_dir(tmp_path / "new") == tmp_path / "new"


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    path = write_text_atomic(tmp_path / "d" / "x.txt", "één")
    assert path.read_text(encoding="utf-8") == "één"
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["x.txt"]


def test_write_dir_atomic_replaces_a_folder_only_once_the_new_one_is_complete(tmp_path):
    from lm_eval_latent.outputs import write_dir_atomic

    target = tmp_path / "model"
    write_dir_atomic(target, lambda d: (d / "weights").write_text("old"))

    def broken(d):
        (d / "weights").write_text("half")
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_dir_atomic(target, broken)
    assert (target / "weights").read_text() == "old"
    write_dir_atomic(target, lambda d: (d / "weights").write_text("new"))
    assert (target / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary or old folder left
