"""The dissociation's prompt reader: prompt sets, files and several sources at once."""

from __future__ import annotations

from lm_eval_latent.training.dissociate.evaluation import read_prompts


def test_several_sources_give_their_prompts_in_turn():
    benign, lookalike = read_prompts("benign"), read_prompts("safe_lookalike")
    assert benign and lookalike and not set(benign) & set(lookalike)
    assert read_prompts("benign,safe_lookalike") == benign + lookalike
    assert read_prompts("benign, safe_lookalike,") == benign + lookalike


def test_a_file_whose_name_holds_a_comma_is_read_as_one_file(tmp_path):
    path = tmp_path / "a,b.jsonl"
    path.write_text('{"prompt": "first request"}\n{"prompt": "second request"}\n')
    assert read_prompts(str(path)) == ["first request", "second request"]
