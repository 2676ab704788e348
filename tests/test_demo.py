"""`lm-eval-latent demo`: its input and output are checked before the zoo is built."""

from __future__ import annotations

import pytest

from lm_eval_latent.plugin.demo import main


def test_out_that_is_a_file_stops_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "results.txt"
    blocker.write_text("keep")
    assert main(["--out", str(blocker), "--cache-dir", str(tmp_path / "zoo")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "keep" and not (tmp_path / "zoo").exists()


@pytest.mark.parametrize(("argv", "message"), [(["--limit", "-1"], "--limit='-1' is out of range"),
                                               (["--batch-size", "0"], "--batch-size='0' is out of range")])
def test_counts_are_checked_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
